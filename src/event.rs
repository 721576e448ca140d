//! EventBridge envelopes and the EC2 / Auto Scaling events cloud-unmap understands: message body →
//! "instance X in account A, region R is …". Pure parsing; real events and moto's (no `account`,
//! empty `resources`) alike. The instance id is read from `detail`, never from `resources`.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::domain::{is_ec2_instance_id, valid_region, InstanceState};
use crate::lifecycle::{self, Drain};

/// What the Spot service will do at the end of its two-minute notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpotAction {
    Terminate,
    Stop,
    Hibernate,
}

/// An Auto Scaling lifecycle action waiting for cloud-unmap to complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleAction {
    pub instance_id: String,
    pub token: String,
    pub hook: String,
    pub group: String,
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// "EC2 Instance State-change Notification".
    StateChange {
        instance_id: String,
        state: InstanceState,
    },
    /// "EC2 Spot Instance Interruption Warning".
    SpotInterruption {
        instance_id: String,
        action: SpotAction,
    },
    /// "EC2 Instance-terminate Lifecycle Action".
    TerminateLifecycle(LifecycleAction),
    /// cloud-unmap's own record of a lifecycle action whose drain is under way (see `lifecycle`).
    Drain(Drain),
    /// Well-formed, but nothing cloud-unmap acts on (other detail-types, Auto Scaling test
    /// notifications, launch lifecycle actions, rebalance recommendations…).
    Other,
}

/// A parsed event. `account` and `region` are absent when the body lacks them (moto).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<SystemTime>,
    pub kind: Kind,
}

/// A label value for the events metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    StateChange,
    SpotInterruption,
    TerminateLifecycle,
    LifecycleDrain,
    Other,
    Invalid,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StateChange => "state_change",
            EventType::SpotInterruption => "spot_interruption",
            EventType::TerminateLifecycle => "terminate_lifecycle",
            EventType::LifecycleDrain => "lifecycle_drain",
            EventType::Other => "other",
            EventType::Invalid => "invalid",
        }
    }
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self.kind {
            Kind::StateChange { .. } => EventType::StateChange,
            Kind::SpotInterruption { .. } => EventType::SpotInterruption,
            Kind::TerminateLifecycle(_) => EventType::TerminateLifecycle,
            Kind::Drain(_) => EventType::LifecycleDrain,
            Kind::Other => EventType::Other,
        }
    }

    /// The instance the event is about, for the kinds that name one.
    pub fn instance_id(&self) -> Option<&str> {
        match &self.kind {
            Kind::StateChange { instance_id, .. } | Kind::SpotInterruption { instance_id, .. } => {
                Some(instance_id)
            }
            Kind::TerminateLifecycle(a) => Some(&a.instance_id),
            Kind::Drain(d) => Some(&d.action.instance_id),
            Kind::Other => None,
        }
    }
}

/// Why a body is not an event cloud-unmap can read (it goes to the dead-letter queue).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(why: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(why.into()))
}

fn string_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, Invalid> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 1024 => Ok(s),
        Some(Value::String(_)) => invalid(format!("`{key}` is empty or too long")),
        Some(_) => invalid(format!("`{key}` is not a string")),
        None => invalid(format!("`{key}` is missing")),
    }
}

fn optional_string<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Invalid> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string_field(obj, key).map(Some),
    }
}

fn instance_id(detail: &Map<String, Value>, key: &str) -> Result<String, Invalid> {
    let id = string_field(detail, key)?;
    if !is_ec2_instance_id(id) {
        return invalid(format!("`{key}` is not an EC2 instance id"));
    }
    Ok(id.to_string())
}

fn parse_time(s: &str) -> Result<SystemTime, Invalid> {
    aws_sdk_sqs::primitives::DateTime::from_str(
        s,
        aws_sdk_sqs::primitives::DateTimeFormat::DateTime,
    )
    .ok()
    .and_then(|t| SystemTime::try_from(t).ok())
    .ok_or_else(|| Invalid("`time` is not an RFC 3339 date-time".into()))
}

fn lifecycle_action(detail: &Map<String, Value>) -> Result<LifecycleAction, Invalid> {
    Ok(LifecycleAction {
        instance_id: instance_id(detail, "EC2InstanceId")?,
        token: string_field(detail, "LifecycleActionToken")?.to_string(),
        hook: string_field(detail, "LifecycleHookName")?.to_string(),
        group: string_field(detail, "AutoScalingGroupName")?.to_string(),
    })
}

/// Parses one SQS message body.
pub fn parse(body: &str) -> Result<Event, Invalid> {
    let value: Value = serde_json::from_str(body).map_err(|e| Invalid(format!("not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return invalid("not a JSON object");
    };
    // Auto Scaling's test notification is not an EventBridge envelope.
    if obj.get("Event").and_then(Value::as_str) == Some("autoscaling:TEST_NOTIFICATION") {
        return Ok(Event {
            id: None,
            account: None,
            region: None,
            time: None,
            kind: Kind::Other,
        });
    }
    let source = string_field(&obj, "source")?;
    let detail_type = string_field(&obj, "detail-type")?;
    let Some(Value::Object(detail)) = obj.get("detail") else {
        return invalid("`detail` is missing or not an object");
    };
    let account = optional_string(&obj, "account")?;
    if let Some(a) = account {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("`account` is not a 12-digit account id");
        }
    }
    let region = optional_string(&obj, "region")?;
    if let Some(r) = region {
        if !valid_region(r) {
            return invalid("`region` is not an AWS region");
        }
    }
    let time = optional_string(&obj, "time")?.map(parse_time).transpose()?;
    let id = optional_string(&obj, "id")?.map(str::to_string);

    let kind = match (source, detail_type) {
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            let state = string_field(detail, "state")?;
            Kind::StateChange {
                instance_id: instance_id(detail, "instance-id")?,
                state: InstanceState::parse(state)
                    .ok_or_else(|| Invalid("`state` is not an EC2 state".into()))?,
            }
        }
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => Kind::SpotInterruption {
            instance_id: instance_id(detail, "instance-id")?,
            action: match string_field(detail, "instance-action")? {
                "terminate" => SpotAction::Terminate,
                "stop" => SpotAction::Stop,
                "hibernate" => SpotAction::Hibernate,
                _ => return invalid("`instance-action` is not terminate, stop or hibernate"),
            },
        },
        ("aws.autoscaling", "EC2 Instance-terminate Lifecycle Action") => {
            Kind::TerminateLifecycle(lifecycle_action(detail)?)
        }
        (lifecycle::SOURCE, lifecycle::DETAIL_TYPE) => Kind::Drain(
            Drain::from_detail(lifecycle_action(detail)?, detail)
                .ok_or_else(|| Invalid("a drain record without its times".into()))?,
        ),
        _ => Kind::Other,
    };
    Ok(Event {
        id,
        account: account.map(str::to_string),
        region: region.map(str::to_string),
        time,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> &'static str {
        match name {
            "terminated" => {
                include_str!("../tests/fixtures/events/ec2-state-change-terminated.json")
            }
            "no-version" => {
                include_str!("../tests/fixtures/events/ec2-state-change-no-version.json")
            }
            "spot" => include_str!("../tests/fixtures/events/ec2-spot-interruption-warning.json"),
            "rebalance" => {
                include_str!("../tests/fixtures/events/ec2-rebalance-recommendation.json")
            }
            "asg-terminate" => {
                include_str!("../tests/fixtures/events/asg-terminate-lifecycle-action.json")
            }
            "asg-launch" => {
                include_str!("../tests/fixtures/events/asg-launch-lifecycle-action.json")
            }
            "asg-test" => include_str!("../tests/fixtures/events/asg-test-notification.json"),
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
        for other in ["rebalance", "asg-launch", "asg-test"] {
            assert_eq!(parse(sample(other)).unwrap().kind, Kind::Other, "{other}");
        }
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
}
