//! The event path's rules as pure code: an event becomes a claim (which instance, in which watched
//! account and region, with which hint and lifecycle action, whose hook), the claims of a batch
//! merge into one scope per instance, and each message gets its disposition from its instance's
//! result.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::model::domain::{Account, InstanceState};
use crate::model::drain::Drain;
use crate::model::event::{Event, EventType, Kind, LifecycleAction, SpotAction};
use crate::model::plan::{Claimed, Hint};

/// How the event loop disposed of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventOutcome {
    /// Changed Cloud Map or completed a lifecycle action.
    Acted,
    /// Nothing to do: irrelevant, unconfirmed by EC2, not registered, unknown account or region.
    Ignored,
    /// Unreadable: left for the dead-letter queue.
    Invalid,
    /// Work failed: left for redelivery.
    Failed,
    /// Out of every service; the lifecycle action's CONTINUE is queued for after the drain.
    Draining,
    /// Another team's lifecycle hook: the instance was deregistered (or already out), the action
    /// left to its owner.
    OtherHook,
    /// A Spot interruption notice past its two-minute window: nothing changed.
    Expired,
    /// A terminate lifecycle action for an instance Auto Scaling does not show terminating.
    NotTerminating,
    /// A scheduled EC2 event (AWS Health): its instances' timers armed for the start minus the lead.
    Scheduled,
    /// Settled for every service that synced; the ones that kept failing are left to the reconcile.
    LeftToReconcile,
    /// From an organization account that cannot be reached yet: put back on the queue, delayed.
    Waiting,
}

impl EventOutcome {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Acted => "acted",
            EventOutcome::Ignored => "ignored",
            EventOutcome::Invalid => "invalid",
            EventOutcome::Failed => "failed",
            EventOutcome::Draining => "draining",
            EventOutcome::OtherHook => "other_hook",
            EventOutcome::Expired => "expired",
            EventOutcome::NotTerminating => "not_terminating",
            EventOutcome::Scheduled => "scheduled",
            EventOutcome::LeftToReconcile => "left_to_reconcile",
            EventOutcome::Waiting => "waiting",
        }
    }
}

/// A Spot interruption notice is true for two minutes after its event time.
pub const SPOT_WINDOW: Duration = Duration::from_secs(120);
/// Clock skew tolerated between EC2's event time and ours.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// What becomes of a message once its batch is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Work done (or none needed): delete.
    Delete,
    /// Work failed: leave it for redelivery after its visibility timeout.
    Retry,
    /// Unreadable: make it visible again at once, so the redrive policy moves it to the DLQ soon.
    Invalid,
    /// Its account cannot be reached yet: a delayed copy goes back on the queue and this one is
    /// deleted, so waiting never counts towards the dead-letter queue.
    Wait,
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
    /// `--lifecycle-hook-name`: the hooks whose actions cloud-unmap completes.
    pub hook_names: Vec<String>,
    /// `--on-rebalance deregister`: rebalance recommendations deregister Spot instances.
    pub on_rebalance: bool,
}

/// When and how a message arrived.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// Index of the message in its batch.
    pub message: usize,
    pub received_at: Instant,
    /// The wall clock at receipt.
    pub now: SystemTime,
    /// SQS's SentTimestamp: the event's time when its body has none.
    pub sent_at: Option<SystemTime>,
    /// How many times SQS has handed the message out, this time included.
    pub receive_count: u32,
}

/// A terminate lifecycle action, and whether cloud-unmap may complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// A hook of ours: CONTINUE once the instance is out of every service and the drain is over.
    Own(LifecycleAction),
    /// A hook of ours whose drain is under way (the record cloud-unmap queued).
    Draining(Drain),
    /// Another hook's action: the instance is leaving, but the action belongs to its owner and is
    /// never completed or heart-beaten.
    Foreign(LifecycleAction),
}

impl Lifecycle {
    pub fn action(&self) -> &LifecycleAction {
        match self {
            Lifecycle::Own(a) | Lifecycle::Foreign(a) => a,
            Lifecycle::Draining(d) => &d.action,
        }
    }
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
    /// A terminate lifecycle action behind the claim.
    pub lifecycle: Option<Lifecycle>,
    pub event_time: Option<SystemTime>,
    /// When SQS received the event (SentTimestamp): after it happened, to the millisecond.
    pub sent_at: Option<SystemTime>,
    pub received_at: Instant,
    /// How many times SQS has handed its message out, this time included.
    pub receive_count: u32,
}

/// Why a well-formed event claims nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unclaimed {
    /// Nothing cloud-unmap acts on (another detail-type, a running instance, a stop without
    /// `--deregister-stopped`…).
    NothingToDo,
    /// From an account or region cloud-unmap does not look in.
    Unwatched { account: Account, region: String },
    /// A Spot interruption notice past its two-minute window (e.g. redriven from the DLQ): what it
    /// announced has happened or was cancelled, and the instance may be running again.
    Expired,
}

impl Rules {
    fn lifecycle(&self, action: &LifecycleAction, own: Lifecycle) -> Lifecycle {
        if self.hook_names.contains(&action.hook) {
            own
        } else {
            Lifecycle::Foreign(action.clone())
        }
    }

    /// The account and region an event concerns, if cloud-unmap watches them (an event without them,
    /// as moto sends, is the home account's in the default region).
    pub fn origin(&self, event: &Event) -> Result<(Account, String), Unclaimed> {
        let account = Account::from_event(
            event.account.as_deref().unwrap_or(&self.home_account),
            &self.home_account,
        );
        let region = event
            .region
            .clone()
            .unwrap_or_else(|| self.default_region.clone());
        if self
            .watched
            .iter()
            .any(|(a, r)| *a == account && *r == region)
        {
            Ok((account, region))
        } else {
            Err(Unclaimed::Unwatched { account, region })
        }
    }

    /// What `event` asks for.
    pub fn claim(&self, arrival: Arrival, event: &Event) -> Result<Claim, Unclaimed> {
        let Some(instance_id) = event.instance_id() else {
            return Err(Unclaimed::NothingToDo);
        };
        let (account, region) = self.origin(event)?;
        let stopped_counts = self.deregister_stopped;
        let (hint, lifecycle) = match &event.kind {
            Kind::StateChange { state, .. } => match state {
                InstanceState::ShuttingDown | InstanceState::Terminated => (Hint::Judge, None),
                InstanceState::Stopping | InstanceState::Stopped if stopped_counts => {
                    (Hint::Judge, None)
                }
                _ => return Err(Unclaimed::NothingToDo),
            },
            Kind::SpotInterruption { .. }
                if event
                    .time
                    .or(arrival.sent_at)
                    .is_some_and(|t| arrival.now > t + SPOT_WINDOW + CLOCK_SKEW) =>
            {
                return Err(Unclaimed::Expired)
            }
            Kind::SpotInterruption { action, .. } => match action {
                SpotAction::Terminate => (Hint::Spot, None),
                SpotAction::Stop | SpotAction::Hibernate if stopped_counts => (Hint::Spot, None),
                _ => return Err(Unclaimed::NothingToDo),
            },
            Kind::TerminateLifecycle(action) => (
                Hint::AsgTerminate {
                    group: action.group.clone(),
                },
                Some(self.lifecycle(action, Lifecycle::Own(action.clone()))),
            ),
            Kind::Drain(d) => (
                Hint::AsgTerminate {
                    group: d.action.group.clone(),
                },
                Some(self.lifecycle(&d.action, Lifecycle::Draining(d.clone()))),
            ),
            Kind::Rebalance { .. } if self.on_rebalance => (Hint::Rebalance, None),
            // Scheduled changes are armed by the worker (`scheduled`), not claimed now.
            Kind::Rebalance { .. } | Kind::Scheduled { .. } | Kind::Other => {
                return Err(Unclaimed::NothingToDo)
            }
        };
        Ok(Claim {
            message: arrival.message,
            instance_id: instance_id.to_string(),
            hint,
            account,
            region,
            lifecycle,
            event_time: event.time,
            sent_at: arrival.sent_at,
            received_at: arrival.received_at,
            receive_count: arrival.receive_count,
        })
    }
}

/// The claims of a batch as one scope: every distinct hint per instance, so a weaker (forged) claim
/// never masks a stronger one (the plan believes whichever EC2 confirms).
pub fn merge<'a>(claims: impl IntoIterator<Item = &'a Claim>) -> Claimed {
    let mut claimed = Claimed::new();
    for c in claims {
        let hints = claimed.entry(c.instance_id.clone()).or_default();
        if !hints.contains(&c.hint) {
            hints.push(c.hint.clone());
        }
    }
    claimed
}

/// The claimed instance ids of each account×region, each id once: one lookup per target.
pub fn by_target<'a>(
    claims: impl IntoIterator<Item = &'a Claim>,
) -> HashMap<(&'a Account, &'a str), Vec<String>> {
    let mut grouped: HashMap<(&Account, &str), Vec<String>> = HashMap::new();
    for c in claims {
        let ids = grouped.entry((&c.account, c.region.as_str())).or_default();
        if !ids.contains(&c.instance_id) {
            ids.push(c.instance_id.clone());
        }
    }
    grouped
}

/// What the work for one instance came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InstanceResult {
    /// A deregistration or a lifecycle completion succeeded.
    pub acted: bool,
    /// Some of its work failed: its messages must come back.
    pub failed: bool,
    /// A selected service failed to sync: the instance's work is done only in the others.
    pub blocked: bool,
    /// Every service that failed to sync is left to the reconcile (it kept failing).
    pub left: bool,
}

impl InstanceResult {
    /// A service failed to sync; `left`: that service is left to the reconcile.
    pub fn block(&mut self, left: bool) {
        self.left = (!self.blocked || self.left) && left;
        self.blocked = true;
    }
}

impl Claim {
    /// Whether the claim comes back for a service that failed to sync, rather than being settled
    /// for the services that synced: until its message was received `patience` times (so it never
    /// reaches the dead-letter queue for another service's failure), and not once every failing
    /// service is left to the reconcile.
    pub fn waits(&self, r: &InstanceResult, patience: u32) -> bool {
        r.blocked && !r.left && self.receive_count < patience
    }
}

/// How many receives a claim waits for a failing service: 3, or fewer when the queue's redrive
/// policy moves a message to the dead-letter queue sooner (`max_receives`).
pub fn patience(max_receives: Option<u32>) -> u32 {
    max_receives.map_or(3, |m| m.clamp(1, 3))
}

/// What the first reading of a message found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The body is not an event cloud-unmap can read.
    Invalid,
    /// A well-formed event that claims nothing, counted under this outcome.
    Ignored(EventType, EventOutcome),
    /// A well-formed event of this type with a claim (see the batch's claims).
    Claimed(EventType),
}

/// Each message's disposition and the outcome it is counted under: unreadable ones go to the
/// dead-letter queue, failed work (and a claim that waits for a failing service, see
/// `Claim::waits`) comes back, everything else is deleted. A failure is never hidden by another
/// claim of the same message; short of one, a message's `notes` entry (what its lifecycle action
/// came to) names its outcome.
pub fn dispose(
    readings: &[Reading],
    claims: &[Claim],
    results: &HashMap<String, InstanceResult>,
    notes: &HashMap<usize, EventOutcome>,
    patience: u32,
) -> Vec<(Disposition, EventType, EventOutcome)> {
    let mut out: Vec<(Disposition, EventType, EventOutcome)> = readings
        .iter()
        .map(|r| match r {
            Reading::Invalid => (
                Disposition::Invalid,
                EventType::Invalid,
                EventOutcome::Invalid,
            ),
            Reading::Ignored(t, outcome) => (Disposition::Delete, *t, *outcome),
            // A claim is settled below from its instance's result.
            Reading::Claimed(t) => (Disposition::Delete, *t, EventOutcome::Ignored),
        })
        .collect();
    for c in claims {
        let r = results.get(&c.instance_id).copied().unwrap_or_default();
        let slot = &mut out[c.message];
        if slot.2 == EventOutcome::Failed {
            continue;
        }
        (slot.0, slot.2) = if r.failed || c.waits(&r, patience) {
            (Disposition::Retry, EventOutcome::Failed)
        } else if let Some(note) = notes.get(&c.message) {
            (Disposition::Delete, *note)
        } else if r.blocked {
            (Disposition::Delete, EventOutcome::LeftToReconcile)
        } else if r.acted {
            (Disposition::Delete, EventOutcome::Acted)
        } else {
            (Disposition::Delete, EventOutcome::Ignored)
        };
    }
    out
}

#[cfg(test)]
mod tests;
