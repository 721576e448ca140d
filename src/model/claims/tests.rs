//! The README's event table, rule by rule (how batches merge and settle: `dispose`).

mod dispose;

use std::time::Duration;

use super::*;
use crate::model::event;

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
        hook_names: vec!["cloud-unmap".into(), "web-drain".into()],
        on_rebalance: false,
    }
}

/// The sample events' time.
fn event_time() -> SystemTime {
    state(HOME, "us-east-1", "terminated").time.unwrap()
}

fn arrival_at(now: SystemTime, sent_at: Option<SystemTime>) -> Arrival {
    Arrival {
        message: 0,
        received_at: Instant::now(),
        now,
        sent_at,
        receive_count: 1,
    }
}

fn body(account: &str, region: &str, source: &str, detail_type: &str, detail: &str) -> String {
    format!(
        r#"{{"version":"0","id":"e-1","detail-type":"{detail_type}","source":"{source}","account":"{account}","time":"2026-11-23T10:00:00Z","region":"{region}","resources":[],"detail":{detail}}}"#
    )
}

fn state_body(account: &str, region: &str, state: &str) -> String {
    let detail = format!(r#"{{"instance-id":"i-0123456789abcdef0","state":"{state}"}}"#);
    body(
        account,
        region,
        "aws.ec2",
        "EC2 Instance State-change Notification",
        &detail,
    )
}

fn state(account: &str, region: &str, state: &str) -> Event {
    event::parse(&state_body(account, region, state)).unwrap()
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

fn lifecycle_of(account: &str, hook: &str) -> Event {
    let detail = format!(
        r#"{{"LifecycleActionToken":"tok","AutoScalingGroupName":"web","LifecycleHookName":"{hook}","EC2InstanceId":"i-0123456789abcdef0","LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}}"#
    );
    let b = body(
        account,
        "us-east-1",
        "aws.autoscaling",
        "EC2 Instance-terminate Lifecycle Action",
        &detail,
    );
    event::parse(&b).unwrap()
}

fn lifecycle(account: &str) -> Event {
    lifecycle_of(account, "cloud-unmap")
}

/// Claims `e` ten seconds after its time.
fn claim(r: &Rules, e: &Event) -> Result<Claim, Unclaimed> {
    r.claim(arrival_at(event_time() + Duration::from_secs(10), None), e)
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
    let Some(Lifecycle::Own(action)) = c.lifecycle else {
        panic!("{:?}", c.lifecycle)
    };
    assert_eq!(
        (action.token.as_str(), action.hook.as_str()),
        ("tok", "cloud-unmap")
    );
}

#[test]
fn another_teams_hook_still_claims_the_instance_but_is_never_ours_to_complete() {
    let c = claim(&rules(false), &lifecycle_of(HOME, "ecs-managed-draining")).unwrap();
    assert_eq!(
        c.hint,
        Hint::AsgTerminate {
            group: "web".into()
        }
    );
    assert!(
        matches!(c.lifecycle, Some(Lifecycle::Foreign(ref a)) if a.hook == "ecs-managed-draining")
    );
    // Every configured name is ours.
    let c = claim(&rules(false), &lifecycle_of(HOME, "web-drain")).unwrap();
    assert!(matches!(c.lifecycle, Some(Lifecycle::Own(_))));
}

#[test]
fn a_drain_record_claims_group_membership_and_carries_its_drain() {
    let action = crate::model::domain::LifecycleAction {
        instance_id: "i-0123456789abcdef0".into(),
        token: "tok".into(),
        hook: "cloud-unmap".into(),
        group: "web".into(),
    };
    let d = crate::model::drain::Drain {
        action: action.clone(),
        not_before: event_time() + Duration::from_secs(60),
        last_beat: event_time(),
        heartbeat_timeout: Duration::from_secs(3600),
    };
    let e = event::parse(&d.to_body(MEMBER, "us-east-1")).unwrap();
    let c = claim(&rules(false), &e).unwrap();
    assert_eq!(c.account, Account::Member(MEMBER.into()));
    assert_eq!(
        c.hint,
        Hint::AsgTerminate {
            group: "web".into()
        }
    );
    assert_eq!(c.lifecycle, Some(Lifecycle::Draining(d.clone())));
    // A record naming a hook that is not (or no longer) ours is never completed.
    let foreign = crate::model::drain::Drain {
        action: crate::model::domain::LifecycleAction {
            hook: "backup".into(),
            ..action
        },
        ..d
    };
    let e = event::parse(&foreign.to_body(HOME, "us-east-1")).unwrap();
    assert!(matches!(
        claim(&rules(false), &e).unwrap().lifecycle,
        Some(Lifecycle::Foreign(_))
    ));
}

#[test]
fn a_spot_notice_counts_only_within_its_two_minute_window_and_clock_skew() {
    let r = rules(false);
    let e = spot("terminate");
    let at = |secs: u64| arrival_at(event_time() + Duration::from_secs(secs), None);
    assert_eq!(r.claim(at(0), &e).unwrap().hint, Hint::Spot);
    assert_eq!(r.claim(at(150), &e).unwrap().hint, Hint::Spot);
    assert_eq!(r.claim(at(151), &e), Err(Unclaimed::Expired));
    assert_eq!(r.claim(at(3600), &e), Err(Unclaimed::Expired));
    // Without a time in the body, SQS's SentTimestamp stands for it; without either, it counts.
    let mut untimed = e.clone();
    untimed.time = None;
    let now = event_time() + Duration::from_secs(600);
    assert_eq!(
        r.claim(arrival_at(now, Some(event_time())), &untimed),
        Err(Unclaimed::Expired)
    );
    assert!(r.claim(arrival_at(now, None), &untimed).is_ok());
    // Other events have no window: a late state change still counts.
    assert!(r
        .claim(at(3600), &state(HOME, "us-east-1", "terminated"))
        .is_ok());
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
