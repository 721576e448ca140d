//! The event path's rules as pure code: an event becomes a claim (which instance, in which watched
//! account and region, with which hint and lifecycle action), the claims of a batch merge into one
//! scope per instance, and each message gets its disposition from its instance's result.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use crate::domain::{Account, InstanceState};
use crate::event::{Event, EventType, Kind, LifecycleAction, SpotAction};
use crate::metrics::EventOutcome;
use crate::plan::{Claimed, Hint};

/// What becomes of a message once its batch is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Work done (or none needed): delete.
    Delete,
    /// Work failed: leave it for redelivery after its visibility timeout.
    Retry,
    /// Unreadable: make it visible again at once, so the redrive policy moves it to the DLQ soon.
    Invalid,
}

/// What the event path knows before it reads an event: whom it works for and where it looks.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The account of the queue: events naming it are the home account's.
    pub home_account: String,
    /// The region assumed for an event without one (moto's EventBridge drops it).
    pub default_region: String,
    /// Every (account, region) cloud-unmap looks instances up in.
    pub watched: Vec<(Account, String)>,
    /// `--deregister-stopped`.
    pub deregister_stopped: bool,
}

/// What one event asks of cloud-unmap, once it passed the account and region checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Index of the message in its batch.
    pub message: usize,
    pub instance_id: String,
    pub hint: Hint,
    pub account: Account,
    pub region: String,
    /// A terminate lifecycle action to complete once the instance is out of every service.
    pub lifecycle: Option<LifecycleAction>,
    pub event_time: Option<SystemTime>,
    pub received_at: Instant,
}

/// Why a well-formed event claims nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unclaimed {
    /// Nothing cloud-unmap acts on (another detail-type, a running instance, a stop without
    /// `--deregister-stopped`…).
    NothingToDo,
    /// From an account or region cloud-unmap does not look in.
    Unwatched { account: Account, region: String },
}

impl Rules {
    /// What `event` (message `message` of its batch) asks for.
    pub fn claim(
        &self,
        message: usize,
        received_at: Instant,
        event: &Event,
    ) -> Result<Claim, Unclaimed> {
        let Some(instance_id) = event.instance_id() else {
            return Err(Unclaimed::NothingToDo);
        };
        let account = Account::from_event(
            event.account.as_deref().unwrap_or(&self.home_account),
            &self.home_account,
        );
        let region = event
            .region
            .clone()
            .unwrap_or_else(|| self.default_region.clone());
        if !self
            .watched
            .iter()
            .any(|(a, r)| *a == account && *r == region)
        {
            return Err(Unclaimed::Unwatched { account, region });
        }
        let stopped_counts = self.deregister_stopped;
        let (hint, lifecycle) = match &event.kind {
            Kind::StateChange { state, .. } => match state {
                InstanceState::ShuttingDown | InstanceState::Terminated => (Hint::Judge, None),
                InstanceState::Stopping | InstanceState::Stopped if stopped_counts => {
                    (Hint::Judge, None)
                }
                _ => return Err(Unclaimed::NothingToDo),
            },
            Kind::SpotInterruption { action, .. } => match action {
                SpotAction::Terminate => (Hint::Spot, None),
                SpotAction::Stop | SpotAction::Hibernate if stopped_counts => (Hint::Spot, None),
                _ => return Err(Unclaimed::NothingToDo),
            },
            Kind::TerminateLifecycle(action) => (
                Hint::AsgTerminate {
                    group: action.group.clone(),
                },
                Some(action.clone()),
            ),
            Kind::Other => return Err(Unclaimed::NothingToDo),
        };
        Ok(Claim {
            message,
            instance_id: instance_id.to_string(),
            hint,
            account,
            region,
            lifecycle,
            event_time: event.time,
            received_at,
        })
    }
}

/// The claims of a batch as one scope: every distinct hint per instance, so a weaker (forged) claim
/// never masks a stronger one (the plan believes whichever EC2 confirms).
pub fn merge(claims: &[Claim]) -> Claimed {
    let mut claimed = Claimed::new();
    for c in claims {
        let hints = claimed.entry(c.instance_id.clone()).or_default();
        if !hints.contains(&c.hint) {
            hints.push(c.hint.clone());
        }
    }
    claimed
}

/// What the work for one instance came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InstanceResult {
    /// A deregistration or a lifecycle completion succeeded.
    pub acted: bool,
    /// Some of its work failed: its messages must come back.
    pub failed: bool,
}

/// What the first reading of a message found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The body is not an event cloud-unmap can read.
    Invalid,
    /// A well-formed event that claims nothing.
    Ignored(EventType),
    /// A well-formed event of this type with a claim (see the batch's claims).
    Claimed(EventType),
}

/// Each message's disposition and the outcome it is counted under: unreadable ones go to the
/// dead-letter queue, failed work comes back, everything else is deleted. A failure is never hidden
/// by another claim of the same message.
pub fn dispose(
    readings: &[Reading],
    claims: &[Claim],
    results: &HashMap<String, InstanceResult>,
) -> Vec<(Disposition, EventType, EventOutcome)> {
    let mut out: Vec<(Disposition, EventType, EventOutcome)> = readings
        .iter()
        .map(|r| match r {
            Reading::Invalid => (
                Disposition::Invalid,
                EventType::Invalid,
                EventOutcome::invalid,
            ),
            // A claim is settled below from its instance's result; without one it did nothing.
            Reading::Ignored(t) | Reading::Claimed(t) => {
                (Disposition::Delete, *t, EventOutcome::ignored)
            }
        })
        .collect();
    for c in claims {
        let r = results.get(&c.instance_id).copied().unwrap_or_default();
        let slot = &mut out[c.message];
        if slot.2 == EventOutcome::failed {
            continue;
        }
        (slot.0, slot.2) = if r.failed {
            (Disposition::Retry, EventOutcome::failed)
        } else if r.acted {
            (Disposition::Delete, EventOutcome::acted)
        } else {
            (Disposition::Delete, EventOutcome::ignored)
        };
    }
    out
}

#[cfg(test)]
mod tests;
