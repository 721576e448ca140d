//! Scheduled events' rules: when an event is due, which codes come back, and when a put-back
//! registers again, waits or is dropped.

use super::*;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn an_event_is_due_its_lead_before_its_start_and_cancelled_ones_are_not_pending() {
    let start = at(1_000_000);
    let p = Pending {
        instance_id: "i-0123456789abcdef0".into(),
        event_id: None,
        code: "instance-retirement".into(),
        not_before: start,
        account: Account::Home,
        region: "eu-west-1".into(),
    };
    assert_eq!(
        p.due(Duration::from_secs(300)),
        start - Duration::from_secs(300)
    );
    assert!(p.due(Duration::from_secs(2_000_000)) <= SystemTime::UNIX_EPOCH);
    assert!(cancelled(
        "[Canceled] The instance is running on degraded hardware"
    ));
    assert!(cancelled("[Completed] Scheduled reboot"));
    assert!(!cancelled("The instance is running on degraded hardware"));
}

#[test]
fn reboots_and_maintenance_come_back_everything_else_ends_the_instance() {
    for code in ["instance-reboot", "system-reboot", "system-maintenance"] {
        assert_eq!(effect(code), Effect::Returns, "{code}");
    }
    for code in [
        "instance-retirement",
        "instance-stop",
        "instance-terminate",
        "new-kind",
    ] {
        assert_eq!(effect(code), Effect::Ends, "{code}");
    }
}

fn put_back(attributes: &[(&str, &str)]) -> PutBack {
    PutBack {
        service_id: "srv-abcdef0123456789".into(),
        registration_id: "web-1".into(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        instance_id: "i-0123456789abcdef0".into(),
        event_id: Some("instance-event-0d59937288b749b32".into()),
        code: "system-reboot".into(),
        not_before: 1_000_000,
        account: "home".into(),
        region: "eu-west-1".into(),
    }
}

/// The sweep's horizon in these tests: lead 300 s, frequency 60 s, margin 60 s.
const HORIZON: Duration = Duration::from_secs(420);

fn pending(not_before: u64) -> Option<Described> {
    Some(Described {
        over: false,
        not_before: at(not_before),
    })
}

fn over(not_before: u64) -> Option<Described> {
    Some(Described {
        over: true,
        not_before: at(not_before),
    })
}

fn seen(state: InstanceState, ipv4: &[&str]) -> Vec<ObservedInstance> {
    vec![ObservedInstance {
        instance_id: "i-0123456789abcdef0".into(),
        state,
        ipv4: ipv4.iter().map(|s| s.to_string()).collect(),
        ipv6: vec![],
        spot: false,
        asg_group: None,
        account: "home".into(),
        region: "eu-west-1".into(),
        ended: None,
    }]
}

#[test]
fn an_ec2_id_registration_is_registered_again_as_cloud_map_accepts_it() {
    let p = put_back(&[
        ("AWS_EC2_INSTANCE_ID", "i-0123456789abcdef0"),
        ("AWS_INSTANCE_IPV4", "10.0.0.1"),
        ("AWS_INIT_HEALTH_STATUS", "HEALTHY"),
    ]);
    let kept: Vec<&str> = p
        .attributes_to_register()
        .into_keys()
        .map(|k| {
            if k == "AWS_EC2_INSTANCE_ID" {
                "id"
            } else {
                "health"
            }
        })
        .collect();
    assert_eq!(kept, ["id", "health"]);
    let plain = put_back(&[("AWS_INSTANCE_IPV4", "10.0.0.1"), ("team", "web")]);
    assert_eq!(plain.attributes_to_register(), plain.attributes);
    assert_eq!(p.account(), Account::Home);
}

#[test]
fn a_put_back_waits_for_the_event_to_be_over_and_the_instance_to_run_at_its_address() {
    let p = put_back(&[("AWS_INSTANCE_IPV4", "10.0.0.1")]);
    let now = at(1_000_600);
    let running = seen(InstanceState::Running, &["10.0.0.1"]);
    assert_eq!(
        p.judge(pending(1_000_000), &running, now, HORIZON),
        Verdict::Wait
    );
    assert_eq!(
        p.judge(over(1_000_000), &running, now, HORIZON),
        Verdict::Register
    );
    // No longer described by EC2: no longer scheduled.
    assert_eq!(p.judge(None, &running, now, HORIZON), Verdict::Register);
    let rebooting = seen(InstanceState::Pending, &["10.0.0.1"]);
    assert_eq!(
        p.judge(over(1_000_000), &rebooting, now, HORIZON),
        Verdict::Wait
    );
    // Not found (EC2's eventual consistency) is no reason to give up before a week.
    assert_eq!(p.judge(over(1_000_000), &[], now, HORIZON), Verdict::Wait);
    let moved = seen(InstanceState::Running, &["10.0.0.9"]);
    assert!(matches!(
        p.judge(over(1_000_000), &moved, now, HORIZON),
        Verdict::Drop(_)
    ));
    let gone = seen(InstanceState::Terminated, &[]);
    assert!(matches!(
        p.judge(pending(1_000_000), &gone, now, HORIZON),
        Verdict::Drop(_)
    ));
    let week_later = at(1_000_000) + PUT_BACK_PATIENCE + Duration::from_secs(1);
    assert!(matches!(
        p.judge(pending(1_000_000), &running, week_later, HORIZON),
        Verdict::Drop(_)
    ));
    // Cloud Map fills an AWS_EC2_INSTANCE_ID registration's address itself.
    let by_id = put_back(&[
        ("AWS_EC2_INSTANCE_ID", "i-0123456789abcdef0"),
        ("AWS_INSTANCE_IPV4", "10.0.0.1"),
    ]);
    assert_eq!(
        by_id.judge(over(1_000_000), &moved, now, HORIZON),
        Verdict::Register
    );
}

#[test]
fn a_reboot_rescheduled_later_lets_the_registration_back_now_and_patience_counts_from_its_new_start(
) {
    let p = put_back(&[("AWS_INSTANCE_IPV4", "10.0.0.1")]);
    let running = seen(InstanceState::Running, &["10.0.0.1"]);
    let now = at(1_000_100);
    // Moved two days later (ModifyInstanceEventStartTime keeps the InstanceEventId): not due.
    let moved = pending(1_000_000 + 2 * 86_400);
    assert_eq!(p.judge(moved, &running, now, HORIZON), Verdict::Register);
    // Moved only within the horizon: the sweep fires it again soon, the registration stays out.
    let soon = pending(1_000_100 + 400);
    assert_eq!(p.judge(soon, &running, now, HORIZON), Verdict::Wait);
    // Started later than it first said and still running a week after the first start: waits.
    let late = pending(1_000_000 + 3 * 86_400);
    let week_later = at(1_000_000) + PUT_BACK_PATIENCE + Duration::from_secs(1);
    assert_eq!(p.judge(late, &running, week_later, HORIZON), Verdict::Wait);
    assert!(matches!(
        p.judge(
            late,
            &running,
            week_later + 3 * Duration::from_secs(86_400),
            HORIZON
        ),
        Verdict::Drop(_)
    ));
}

#[test]
fn a_put_back_follows_its_event_by_id_or_else_by_code() {
    let p = put_back(&[]);
    let event = |id: Option<&str>, code: &str, start: u64| Pending {
        instance_id: "i-0123456789abcdef0".into(),
        event_id: id.map(str::to_string),
        code: code.into(),
        not_before: at(start),
        account: Account::Home,
        region: "eu-west-1".into(),
    };
    let mine = Some("instance-event-0d59937288b749b32");
    let other = Some("instance-event-0aaaaaaaaaaaaaaaa");
    // Its own event, moved; another event of the same code is not its own.
    let events = vec![
        (event(mine, "system-reboot", 1_200_000), false),
        (event(other, "system-reboot", 1_000_500), false),
    ];
    assert_eq!(p.described(&events), pending(1_200_000));
    assert_eq!(
        p.described(&[(event(mine, "system-reboot", 1_000_000), true)]),
        over(1_000_000)
    );
    assert_eq!(p.described(&events[1..]), None);
    // Kept before event ids were recorded: the same code.
    let old = PutBack {
        event_id: None,
        ..p.clone()
    };
    assert_eq!(old.described(&events[1..]), pending(1_000_500));
    // A record without the field reads as such.
    let json = serde_json::to_string(&old).unwrap();
    assert!(!json.contains("event_id"));
    assert_eq!(serde_json::from_str::<PutBack>(&json).unwrap(), old);
}
