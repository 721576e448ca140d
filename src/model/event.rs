//! EventBridge envelopes and the EC2 / Auto Scaling events cloud-unmap understands: message body →
//! "instance X in account A, region R is …". Pure parsing; real events and moto's (no `account`,
//! empty `resources`) alike. The instance id is read from `detail`, never from `resources`.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::model::domain::{is_ec2_instance_id, valid_region, InstanceState};
use crate::model::drain::{self, Drain};

/// What the Spot service will do at the end of its two-minute notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpotAction {
    Terminate,
    Stop,
    Hibernate,
}

pub use crate::model::domain::LifecycleAction;

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
    /// "EC2 Instance Rebalance Recommendation".
    Rebalance { instance_id: String },
    /// An AWS Health scheduled change for EC2 instances (retirement, stop, reboot, maintenance),
    /// starting at `start`.
    Scheduled {
        instance_ids: Vec<String>,
        code: String,
        start: SystemTime,
    },
    /// Well-formed, but nothing cloud-unmap acts on (other detail-types, Auto Scaling test
    /// notifications, launch lifecycle actions, other Health events…).
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
    Rebalance,
    Scheduled,
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
            EventType::Rebalance => "rebalance",
            EventType::Scheduled => "scheduled_change",
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
            Kind::Rebalance { .. } => EventType::Rebalance,
            Kind::Scheduled { .. } => EventType::Scheduled,
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
            Kind::Rebalance { instance_id } => Some(instance_id),
            Kind::Scheduled { .. } | Kind::Other => None,
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
    aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| Invalid("`time` is not an RFC 3339 date-time".into()))
}

/// AWS Health's times: `Thu, 26 Jan 2023 19:05:00 GMT` (or RFC 3339).
fn health_time(s: &str) -> Option<SystemTime> {
    use aws_smithy_types::{date_time::Format as DateTimeFormat, DateTime};
    DateTime::from_str(s, DateTimeFormat::HttpDate)
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .or_else(|| crate::model::domain::parse_rfc3339(s))
}

/// An AWS Health event: EC2 scheduled changes naming instances are `Scheduled`, the rest `Other`.
fn health(detail: &Map<String, Value>) -> Result<Kind, Invalid> {
    let text = |k: &str| detail.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("service") != "EC2" || text("eventTypeCategory") != "scheduledChange" {
        return Ok(Kind::Other);
    }
    let instance_ids: Vec<String> = detail
        .get("affectedEntities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("entityValue")?.as_str())
        .filter(|id| is_ec2_instance_id(id))
        .map(str::to_string)
        .collect();
    if instance_ids.is_empty() {
        return Ok(Kind::Other);
    }
    let start = health_time(string_field(detail, "startTime")?)
        .ok_or_else(|| Invalid("`startTime` is not a date".into()))?;
    Ok(Kind::Scheduled {
        instance_ids,
        code: string_field(detail, "eventTypeCode")?.to_string(),
        start,
    })
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
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => Kind::Rebalance {
            instance_id: instance_id(detail, "instance-id")?,
        },
        ("aws.health", "AWS Health Event") => health(detail)?,
        (drain::SOURCE, drain::DETAIL_TYPE) => Kind::Drain(
            Drain::from_detail(lifecycle_action(detail)?, detail)
                .ok_or_else(|| Invalid("a drain record without its times".into()))?,
        ),
        _ => Kind::Other,
    };
    // A Health event is delivered where it was raised; `eventRegion` is the region it concerns.
    let region = match detail.get("eventRegion").and_then(Value::as_str) {
        Some(r) if source == "aws.health" && valid_region(r) => Some(r),
        _ => region,
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
mod tests;
