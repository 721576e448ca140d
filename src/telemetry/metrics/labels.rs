//! The metrics' label types: bounded enums and label sets (service ids come from configuration).

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::error::{ErrorClass, Operation};
use crate::model::claims::EventOutcome;
use crate::model::domain::SelectionKind;
use crate::model::plan::Reason;

/// What made a deregistration happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Trigger {
    reconcile,
    event,
    /// A scheduled EC2 event's timer (its start minus `--scheduled-lead-seconds`).
    scheduled,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::reconcile => "reconcile",
            Trigger::event => "event",
            Trigger::scheduled => "scheduled",
        }
    }
}

/// How one service's reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ReconcileResult {
    success,
    held,
    failure,
}

impl EncodeLabelValue for Reason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for SelectionKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for EventOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for ErrorClass {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Operation {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// Which guard held deregistrations back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Guard {
    /// Every IPv4 registration of the service would have gone.
    never_empty,
    /// Too many registrations of the service were not found at once.
    not_found_surge,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardLabels {
    pub service_id: String,
    pub guard: Guard,
}

/// One step of a lifecycle action cloud-unmap owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum LifecycleStep {
    /// The drain started: the record is in the queue.
    drain_started,
    /// RecordLifecycleActionHeartbeat sent during a long drain.
    heartbeat,
    /// CompleteLifecycleAction(CONTINUE) succeeded.
    completed,
    /// Auto Scaling had no such action any more (completed elsewhere, or timed out).
    gone,
}

/// What happened to a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum MessageResult {
    deleted,
    left,
    released,
}

/// What the event path's revision sweep did with one stale service (see `engine::sweep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SweepResult {
    /// Its revision was unchanged: the listing serves.
    unchanged,
    /// Listed again (its revision changed or could not be read).
    listed,
    /// Not reached within the sweep's bound: left to the next reconcile.
    left,
    /// Could not be listed: the claims waiting on the sweep fail and come back.
    failed,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SweepLabels {
    pub result: SweepResult,
}

/// Where an event-to-deregistration latency is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum LatencyFrom {
    event_time,
    receipt,
}

impl EncodeLabelValue for crate::model::event::EventType {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub r#type: crate::model::event::EventType,
    pub outcome: EventOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LifecycleLabels {
    pub step: LifecycleStep,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MissingLabels {
    pub kind: SelectionKind,
    pub id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    pub result: MessageResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub from: LatencyFrom,
}

/// One lookup target: `home` or a member account id, and a region (both from configuration).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub account: String,
    pub region: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    pub trigger: Trigger,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub service_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeregistrationLabels {
    pub service_id: String,
    pub trigger: Trigger,
    pub reason: Reason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceTriggerLabels {
    pub service_id: String,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub service_id: String,
    pub result: ReconcileResult,
}

/// An AWS failure: the operation, where it went (the home account's 12-digit id or a member's, and
/// the region: both bounded by the configured targets) and its class.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsErrorLabels {
    pub operation: Operation,
    pub account: String,
    pub region: String,
    pub class: ErrorClass,
}

/// The build: the crate's version and the source revision it was built from.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub revision: String,
}

/// Why a reconcile cycle was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CycleCause {
    /// The in-process timer (no queue, or no state table).
    timer,
    /// A scheduled reconcile message from the queue.
    schedule,
    /// The replica's start, when no cycle ran for a period.
    start,
    /// No cycle ran anywhere for 2 × the period: this replica ran one itself.
    backstop,
}

/// What came of a cycle asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CycleOutcome {
    /// This replica ran it.
    ran,
    /// Another replica runs or ran it (the state table's lease said so).
    covered,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CycleLabels {
    pub cause: CycleCause,
    pub outcome: CycleOutcome,
}

/// A request budget: its API family (`model::budget::Family::name`), account (`home` or a member
/// id from configuration) and region (from configuration): bounded.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    pub family: String,
    pub account: String,
    pub region: String,
}

/// What came of a registration waiting to be put back after a scheduled reboot or maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PutBackResult {
    /// Registered again: the event is over and the instance runs at its address.
    registered,
    /// Given up: the instance is gone, runs at another address, or never came back within a week.
    dropped,
    /// RegisterInstance failed: tried again at the next check.
    failed,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PutBackLabels {
    pub result: PutBackResult,
}
