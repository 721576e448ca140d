//! The parser against AWS-documented samples and hostile bodies.

use super::*;

fn sample(name: &str) -> &'static str {
    match name {
        "terminated" => {
            include_str!("../../../tests/fixtures/events/ec2-state-change-terminated.json")
        }
        "no-version" => {
            include_str!("../../../tests/fixtures/events/ec2-state-change-no-version.json")
        }
        "spot" => include_str!("../../../tests/fixtures/events/ec2-spot-interruption-warning.json"),
        "rebalance" => {
            include_str!("../../../tests/fixtures/events/ec2-rebalance-recommendation.json")
        }
        "asg-terminate" => {
            include_str!("../../../tests/fixtures/events/asg-terminate-lifecycle-action.json")
        }
        "asg-launch" => {
            include_str!("../../../tests/fixtures/events/asg-launch-lifecycle-action.json")
        }
        "asg-test" => include_str!("../../../tests/fixtures/events/asg-test-notification.json"),
        _ => unreachable!(),
    }
}

#[test]
fn aws_samples() {
    let e = parse(sample("terminated")).unwrap();
    assert_eq!(
        e.kind,
        Kind::StateChange {
            instance_id: "i-1234567890abcdef0".into(),
            state: InstanceState::Terminated
        }
    );
    assert_eq!(e.account.as_deref(), Some("123456789012"));
    assert_eq!(e.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        e.time
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1636666194
    );

    let e = parse(sample("no-version")).unwrap();
    assert!(matches!(
        e.kind,
        Kind::StateChange {
            state: InstanceState::ShuttingDown,
            ..
        }
    ));

    let e = parse(sample("spot")).unwrap();
    assert_eq!(
        e.kind,
        Kind::SpotInterruption {
            instance_id: "i-0b662ef9931388ba0".into(),
            action: SpotAction::Terminate
        }
    );

    let e = parse(sample("asg-terminate")).unwrap();
    assert_eq!(
        e.kind,
        Kind::TerminateLifecycle(LifecycleAction {
            instance_id: "i-0633ac2b0d9769723".into(),
            token: "0befcbdb-6ecd-498a-9ff7-ae9b54447cd6".into(),
            hook: "drain-cloud-map".into(),
            group: "app-asg".into(),
        })
    );
    for other in ["asg-launch", "asg-test"] {
        assert_eq!(parse(sample(other)).unwrap().kind, Kind::Other, "{other}");
    }
    assert_eq!(
        parse(sample("rebalance")).unwrap().kind,
        Kind::Rebalance {
            instance_id: "i-0b662ef9931388ba0".into()
        }
    );
}

#[test]
fn an_aws_health_scheduled_change_names_its_instances_start_and_region() {
    let e = parse(include_str!(
        "../../../tests/fixtures/events/health-ec2-retirement-scheduled.json"
    ))
    .unwrap();
    // The region the event concerns, not the one it was delivered to.
    assert_eq!(e.region.as_deref(), Some("us-west-2"));
    let start = crate::model::domain::parse_rfc3339("2023-02-09T19:05:00Z").unwrap();
    assert_eq!(
        e.kind,
        Kind::Scheduled {
            instance_ids: vec!["i-abcd1111".into()],
            code: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
            start,
        }
    );
    // Other Health events (another service, an issue rather than a scheduled change) are nothing.
    let other = include_str!("../../../tests/fixtures/events/health-ec2-retirement-scheduled.json")
        .replace("scheduledChange", "issue");
    assert_eq!(parse(&other).unwrap().kind, Kind::Other);
}

#[test]
fn moto_shape_without_account_and_resources() {
    let body = r#"{"version":"0","id":"x","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","time":"2024-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{"instance-id":"i-0123456789abcdef0","state":"stopped"}}"#;
    let e = parse(body).unwrap();
    assert_eq!(e.account, None);
    assert_eq!(e.region.as_deref(), Some("eu-west-1"));
    assert!(matches!(
        e.kind,
        Kind::StateChange {
            state: InstanceState::Stopped,
            ..
        }
    ));
}

#[test]
fn malformed_bodies_are_invalid() {
    let base = sample("terminated");
    let cases = [
        "",
        "not json",
        "[]",
        "42",
        &base[..base.len() / 2],
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification"}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":"x"}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"state":"terminated"}}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"instance-id":"i-xyz","state":"terminated"}}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"instance-id":"i-0123456789abcdef0","state":"exploded"}}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"instance-id":42,"state":"terminated"}}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","account":"12","detail":{"instance-id":"i-0123456789abcdef0","state":"terminated"}}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","region":"mars","detail":{"instance-id":"i-0123456789abcdef0","state":"terminated"}}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","time":"yesterday","detail":{"instance-id":"i-0123456789abcdef0","state":"terminated"}}"#,
        r#"{"source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","detail":{"instance-id":"i-0123456789abcdef0","instance-action":"explode"}}"#,
        r#"{"source":"aws.autoscaling","detail-type":"EC2 Instance-terminate Lifecycle Action","detail":{"EC2InstanceId":"i-0123456789abcdef0"}}"#,
        r#"{"source":7,"detail-type":"x","detail":{}}"#,
    ];
    for body in cases {
        assert!(parse(body).is_err(), "{body}");
    }
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert!(parse(&deep).is_err());
}

#[test]
fn a_drain_record_reads_back_as_a_drain_event() {
    use crate::model::domain::LifecycleAction;
    use crate::model::drain::Drain;
    use std::time::{Duration, UNIX_EPOCH};
    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s);
    let d = Drain {
        action: LifecycleAction {
            instance_id: "i-0123456789abcdef0".into(),
            token: "tok".into(),
            hook: "cloud-unmap".into(),
            group: "web".into(),
        },
        not_before: at(60),
        last_beat: at(0),
        heartbeat_timeout: Duration::from_secs(300),
    };
    let body = d.to_body("123456789012", "eu-west-1");
    let e = parse(&body).unwrap();
    assert_eq!(e.account.as_deref(), Some("123456789012"));
    assert_eq!(e.region.as_deref(), Some("eu-west-1"));
    assert_eq!(e.kind, Kind::Drain(d));
}
