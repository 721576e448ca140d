//! Scheduled EC2 events as data: which event codes end an instance and which only take it away for
//! a while (reboot, maintenance), one pending event of one instance, when it leaves its services,
//! which descriptions mean the event is over, and the put-back of a registration removed for an
//! event the instance comes back from: what to register again, and when.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::model::domain::{Account, InstanceState};
use crate::model::plan::ObservedInstance;

/// The scheduled event codes DescribeInstanceStatus reports (`event.code`, API InstanceStatusEvent).
pub const CODES: [&str; 5] = [
    "instance-retirement",
    "instance-stop",
    "instance-reboot",
    "system-reboot",
    "system-maintenance",
];

/// What a scheduled event does to its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The instance stops or is retired (terminated): it leaves its services for good.
    Ends,
    /// EC2 reboots the instance or its host, or maintains its host, in place: it keeps its
    /// addresses and comes back (`instance-reboot`, `system-reboot`, `system-maintenance`).
    Returns,
}

/// The effect of an event code; any code not known to come back (retirement, stop, a terminate
/// kind, a code EC2 adds later) ends the instance, as before.
pub fn effect(code: &str) -> Effect {
    match code {
        "instance-reboot" | "system-reboot" | "system-maintenance" => Effect::Returns,
        _ => Effect::Ends,
    }
}

/// One scheduled event of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pending {
    pub instance_id: String,
    /// EC2's InstanceEventId: the same event keeps it when its owner reschedules it
    /// (ModifyInstanceEventStartTime). `None` from AWS Health's notice.
    pub event_id: Option<String>,
    pub code: String,
    pub not_before: SystemTime,
    pub account: Account,
    pub region: String,
}

impl Pending {
    /// When the instance leaves its services.
    pub fn due(&self, lead: Duration) -> SystemTime {
        self.not_before
            .checked_sub(lead)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// Whether DescribeInstanceStatus's description marks an event as no longer pending (EC2 keeps
/// describing a completed event for up to a week, its description starting `[Completed]`; a
/// canceled one starts `[Canceled]`).
pub fn cancelled(description: &str) -> bool {
    description.starts_with("[Canceled]") || description.starts_with("[Completed]")
}

/// How long a put-back waits for its event to be over and its instance to run again before it is
/// dropped: EC2 describes a completed event for up to a week.
pub const PUT_BACK_PATIENCE: Duration = Duration::from_secs(7 * 86_400);

/// A registration removed for an event its instance comes back from, to register again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutBack {
    pub service_id: String,
    /// The registration's id in Cloud Map.
    pub registration_id: String,
    /// Every attribute it had, as Cloud Map returned them right before the removal.
    pub attributes: BTreeMap<String, String>,
    /// The EC2 instance it stands for.
    pub instance_id: String,
    /// EC2's InstanceEventId of the event (absent in put-backs kept before it was recorded: those
    /// are matched by code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub code: String,
    /// The event's NotBefore when it fired, Unix seconds.
    pub not_before: u64,
    /// `home`, or a member account id.
    pub account: String,
    pub region: String,
}

/// What EC2 describes now of a put-back's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Described {
    /// `[Completed]` or `[Canceled]`.
    pub over: bool,
    /// Its current NotBefore (moved when its owner rescheduled it).
    pub not_before: SystemTime,
}

/// What to do with a put-back now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Register it again.
    Register,
    /// Not yet: the event is not over, or the instance does not run again yet.
    Wait,
    /// Never: the instance is gone, or runs at another address (its owner registers it anew).
    Drop(&'static str),
}

impl PutBack {
    /// The account of its instance.
    pub fn account(&self) -> Account {
        match self.account.as_str() {
            "home" => Account::Home,
            id => Account::Member(id.to_string()),
        }
    }

    pub fn key(&self) -> String {
        format!("{}#{}", self.service_id, self.registration_id)
    }

    /// The attributes RegisterInstance accepts for it again: with `AWS_EC2_INSTANCE_ID`, Cloud Map
    /// accepts only `AWS_INIT_HEALTH_STATUS` beside it and fills `AWS_INSTANCE_IPV4` (the primary
    /// private address) itself (API RegisterInstance, InstanceSummary); any other registration
    /// gets every attribute it had.
    pub fn attributes_to_register(&self) -> BTreeMap<String, String> {
        if !self.attributes.contains_key("AWS_EC2_INSTANCE_ID") {
            return self.attributes.clone();
        }
        self.attributes
            .iter()
            .filter(|(k, _)| *k == "AWS_EC2_INSTANCE_ID" || *k == "AWS_INIT_HEALTH_STATUS")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Its event as EC2 describes it in `events` (each with whether it is over): the same
    /// InstanceEventId (its NotBefore may have moved), or, for a put-back without one, the same code;
    /// a pending one first. `None`: EC2 describes it no more.
    pub fn described(&self, events: &[(Pending, bool)]) -> Option<Described> {
        let same = events.iter().filter(|(e, _)| {
            e.instance_id == self.instance_id
                && match (&self.event_id, &e.event_id) {
                    (Some(mine), Some(theirs)) => mine == theirs,
                    _ => e.code == self.code,
                }
        });
        let (pending, over): (Vec<_>, Vec<_>) = same.partition(|(_, over)| !over);
        let soonest = pending.iter().map(|(e, _)| e.not_before).min();
        let latest = over.iter().map(|(e, _)| e.not_before).max();
        match (soonest, latest) {
            (Some(not_before), _) => Some(Described {
                over: false,
                not_before,
            }),
            (None, Some(not_before)) => Some(Described {
                over: true,
                not_before,
            }),
            (None, None) => None,
        }
    }

    /// Judges the put-back from its event as EC2 describes it now (`None`: EC2 does not describe
    /// it any more) and what EC2 shows of the instance now. An event still pending but no longer
    /// due within `horizon` (its owner rescheduled it later) lets the registration back now: the
    /// sweep arms the event again for its new start. The patience counts from the event's current
    /// NotBefore.
    pub fn judge(
        &self,
        event: Option<Described>,
        seen: &[ObservedInstance],
        now: SystemTime,
        horizon: Duration,
    ) -> Verdict {
        let fired = SystemTime::UNIX_EPOCH + Duration::from_secs(self.not_before);
        let started = event.map_or(fired, |e| e.not_before);
        let gone = |o: &ObservedInstance| {
            matches!(
                o.state,
                InstanceState::ShuttingDown | InstanceState::Terminated
            )
        };
        if seen.iter().any(gone) {
            return Verdict::Drop("the instance is terminated");
        }
        let expired = now > started + PUT_BACK_PATIENCE;
        // An event EC2 no longer describes is no longer scheduled (completed more than a week ago,
        // or withdrawn); one rescheduled beyond the horizon is not due any more.
        let due = event.is_some_and(|e| !e.over && e.not_before <= now + horizon);
        if due {
            return if expired {
                Verdict::Drop("the event is still not over after a week")
            } else {
                Verdict::Wait
            };
        }
        let running = seen.iter().find(|o| o.state == InstanceState::Running);
        let Some(running) = running else {
            return if expired {
                Verdict::Drop("the instance did not run again within a week")
            } else {
                Verdict::Wait
            };
        };
        match self.attributes.get("AWS_INSTANCE_IPV4") {
            // Cloud Map fills the address of an AWS_EC2_INSTANCE_ID registration itself.
            _ if self.attributes.contains_key("AWS_EC2_INSTANCE_ID") => Verdict::Register,
            Some(ip) if !running.ipv4.contains(ip) => {
                Verdict::Drop("the instance runs at another address")
            }
            _ => Verdict::Register,
        }
    }
}

#[cfg(test)]
mod tests;
