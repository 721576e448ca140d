//! The README's event table, rule by rule.

use super::*;
use crate::event;

const HOME: &str = "123456789012";
const MEMBER: &str = "222222222222";

fn rules(deregister_stopped: bool) -> Rules {
    Rules {
        home_account: HOME.into(),
        default_region: "us-east-1".into(),
        watched: vec![
            (Account::Home, "us-east-1".into()),
            (Account::Member(MEMBER.into()), "us-east-1".into()),
        ],
        deregister_stopped,
    }
}

fn body(account: &str, region: &str, source: &str, detail_type: &str, detail: &str) -> String {
    format!(
        r#"{{"version":"0","id":"e-1","detail-type":"{detail_type}","source":"{source}","account":"{account}","time":"2026-11-23T10:00:00Z","region":"{region}","resources":[],"detail":{detail}}}"#
    )
}

fn state(account: &str, region: &str, state: &str) -> Event {
    let detail = format!(r#"{{"instance-id":"i-0123456789abcdef0","state":"{state}"}}"#);
    let b = body(
        account,
        region,
        "aws.ec2",
        "EC2 Instance State-change Notification",
        &detail,
    );
    event::parse(&b).unwrap()
}

fn spot(action: &str) -> Event {
    let detail = format!(r#"{{"instance-id":"i-0123456789abcdef0","instance-action":"{action}"}}"#);
    let b = body(
        HOME,
        "us-east-1",
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        &detail,
    );
    event::parse(&b).unwrap()
}

fn lifecycle(account: &str) -> Event {
    let detail = r#"{"LifecycleActionToken":"tok","AutoScalingGroupName":"web","LifecycleHookName":"cloud-unmap","EC2InstanceId":"i-0123456789abcdef0","LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}"#;
    let b = body(
        account,
        "us-east-1",
        "aws.autoscaling",
        "EC2 Instance-terminate Lifecycle Action",
        detail,
    );
    event::parse(&b).unwrap()
}

fn claim(r: &Rules, e: &Event) -> Result<Claim, Unclaimed> {
    r.claim(0, Instant::now(), e)
}

fn hint_of(r: &Rules, e: &Event) -> Option<Hint> {
    claim(r, e).ok().map(|c| c.hint)
}

#[test]
fn shutting_down_or_terminated_is_judged_by_ec2() {
    for s in ["shutting-down", "terminated"] {
        assert_eq!(
            hint_of(&rules(false), &state(HOME, "us-east-1", s)),
            Some(Hint::Judge)
        );
    }
}

#[test]
fn stopping_or_stopped_counts_only_with_deregister_stopped() {
    for s in ["stopping", "stopped"] {
        let e = state(HOME, "us-east-1", s);
        assert_eq!(claim(&rules(false), &e), Err(Unclaimed::NothingToDo));
        assert_eq!(hint_of(&rules(true), &e), Some(Hint::Judge));
    }
}

#[test]
fn pending_or_running_is_ignored() {
    for s in ["pending", "running"] {
        let e = state(HOME, "us-east-1", s);
        assert_eq!(claim(&rules(true), &e), Err(Unclaimed::NothingToDo));
    }
}

#[test]
fn spot_terminate_claims_a_spot_instance_stop_and_hibernate_only_with_the_flag() {
    assert_eq!(hint_of(&rules(false), &spot("terminate")), Some(Hint::Spot));
    for a in ["stop", "hibernate"] {
        assert_eq!(claim(&rules(false), &spot(a)), Err(Unclaimed::NothingToDo));
        assert_eq!(hint_of(&rules(true), &spot(a)), Some(Hint::Spot));
    }
}

#[test]
fn terminate_lifecycle_claims_group_membership_and_carries_the_action() {
    let c = claim(&rules(false), &lifecycle(MEMBER)).unwrap();
    assert_eq!(
        c.hint,
        Hint::AsgTerminate {
            group: "web".into()
        }
    );
    assert_eq!(c.account, Account::Member(MEMBER.into()));
    let action = c.lifecycle.unwrap();
    assert_eq!(
        (action.token.as_str(), action.hook.as_str()),
        ("tok", "cloud-unmap")
    );
}

#[test]
fn unwatched_accounts_and_regions_are_ignored() {
    assert_eq!(
        claim(
            &rules(false),
            &state("333333333333", "us-east-1", "terminated")
        ),
        Err(Unclaimed::Unwatched {
            account: Account::Member("333333333333".into()),
            region: "us-east-1".into()
        })
    );
    assert_eq!(
        claim(&rules(false), &state(HOME, "eu-west-1", "terminated")),
        Err(Unclaimed::Unwatched {
            account: Account::Home,
            region: "eu-west-1".into()
        })
    );
}

#[test]
fn events_without_account_or_region_are_the_home_accounts() {
    // moto's EventBridge delivers bodies without `account` (and forwards rewrite `region`).
    let b = r#"{"version":"0","id":"e","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","time":"2026-11-23T10:00:00Z","resources":[],"detail":{"instance-id":"i-0123456789abcdef0","state":"terminated"}}"#;
    let c = claim(&rules(false), &event::parse(b).unwrap()).unwrap();
    assert_eq!((c.account, c.region.as_str()), (Account::Home, "us-east-1"));
}

#[test]
fn other_events_claim_nothing() {
    let b = body(
        HOME,
        "us-east-1",
        "aws.autoscaling",
        "EC2 Instance Launch Successful",
        "{}",
    );
    let e = event::parse(&b).unwrap();
    assert_eq!(claim(&rules(false), &e), Err(Unclaimed::NothingToDo));
}

#[test]
fn merging_keeps_every_distinct_hint_so_a_forged_one_masks_nothing() {
    let r = rules(false);
    let mut forged = claim(&r, &spot("terminate")).unwrap();
    forged.message = 1;
    let genuine = claim(&r, &lifecycle(HOME)).unwrap();
    let judge = claim(&r, &state(HOME, "us-east-1", "terminated")).unwrap();
    for order in [
        vec![genuine.clone(), forged.clone(), judge.clone()],
        vec![
            forged.clone(),
            judge.clone(),
            genuine.clone(),
            forged.clone(),
        ],
    ] {
        let merged = merge(&order);
        let hints = &merged["i-0123456789abcdef0"];
        assert_eq!(hints.len(), 3, "{hints:?}");
        assert!(hints.contains(&genuine.hint) && hints.contains(&Hint::Spot));
    }
}

fn claimed(message: usize, instance: &str) -> Claim {
    let mut c = claim(&rules(false), &state(HOME, "us-east-1", "terminated")).unwrap();
    c.message = message;
    c.instance_id = instance.into();
    c
}

#[test]
fn dispositions_follow_the_work() {
    let readings = [
        Reading::Invalid,
        Reading::Ignored(EventType::Other),
        Reading::Claimed(EventType::StateChange),
        Reading::Claimed(EventType::StateChange),
        Reading::Claimed(EventType::StateChange),
    ];
    let claims = [
        claimed(2, "i-0aaaaaaaaaaaaaaa1"),
        claimed(3, "i-0bbbbbbbbbbbbbbb2"),
        claimed(4, "i-0ccccccccccccccc3"),
    ];
    let results: HashMap<String, InstanceResult> = [
        (
            "i-0aaaaaaaaaaaaaaa1".to_string(),
            InstanceResult {
                acted: true,
                failed: false,
            },
        ),
        (
            "i-0bbbbbbbbbbbbbbb2".to_string(),
            InstanceResult {
                acted: true,
                failed: true,
            },
        ),
    ]
    .into();
    let d = dispose(&readings, &claims, &results);
    let st = EventType::StateChange;
    assert_eq!(
        d,
        vec![
            // unreadable: back to the queue at once, for the dead-letter queue
            (
                Disposition::Invalid,
                EventType::Invalid,
                EventOutcome::invalid
            ),
            // well-formed, nothing to do: deleted
            (Disposition::Delete, EventType::Other, EventOutcome::ignored),
            // deregistered: deleted
            (Disposition::Delete, st, EventOutcome::acted),
            // any failure: left for redelivery, even if something else succeeded
            (Disposition::Retry, st, EventOutcome::failed),
            // nothing registered or confirmed: deleted
            (Disposition::Delete, st, EventOutcome::ignored),
        ]
    );
}

#[test]
fn a_failure_is_not_hidden_by_a_later_claim_of_the_same_message() {
    let claims = [
        claimed(0, "i-0aaaaaaaaaaaaaaa1"),
        claimed(0, "i-0bbbbbbbbbbbbbbb2"),
    ];
    let results: HashMap<String, InstanceResult> = [
        (
            "i-0aaaaaaaaaaaaaaa1".to_string(),
            InstanceResult {
                acted: false,
                failed: true,
            },
        ),
        (
            "i-0bbbbbbbbbbbbbbb2".to_string(),
            InstanceResult {
                acted: true,
                failed: false,
            },
        ),
    ]
    .into();
    let d = dispose(
        &[Reading::Claimed(EventType::StateChange)],
        &claims,
        &results,
    );
    assert_eq!(d[0].0, Disposition::Retry);
}
