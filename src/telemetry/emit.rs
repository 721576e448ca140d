//! Failures, logged and counted in one call: each kind of failure names its log line, its level and
//! its fields once, and every AWS error is counted by operation at the same place (vector's
//! `emit!` style), so a metric and its log line can never drift apart. The line is one line (an AWS
//! error's operation, code, message and request id); the SDK's whole chain follows at DEBUG.

use std::time::Duration;

use tracing::{debug, error, warn};

use crate::error::Error;
use crate::model::plan::Reason;
use crate::telemetry::metrics::{Metrics, Trigger};

/// What failed, with the fields its log line carries.
#[derive(Debug, Clone, Copy)]
pub enum Failure<'a> {
    /// Resolving a namespace into its services.
    ListServices { namespace_id: &'a str },
    /// Resolving `--service-tag` into the services carrying the tags.
    ListTaggedServices,
    /// One service's sync as a whole (listing its registrations, or looking its instances up).
    Sync {
        service_id: &'a str,
        trigger: Trigger,
    },
    /// One deregistration.
    Deregister {
        service_id: &'a str,
        instance_id: &'a str,
        reason: Reason,
        trigger: Trigger,
    },
    /// Verifying a batch's claims with EC2.
    VerifyEvents,
    /// Completing an Auto Scaling lifecycle action.
    CompleteLifecycle { instance_id: &'a str },
    /// Reading the event queue's attributes at start.
    InspectQueue,
    /// One receive from the event queue; the loop retries after `retry_in`.
    Receive { retry_in: Duration },
    /// A receive that waiting does not fix (no queue, no credentials, no permission): logged once
    /// per cause at ERROR; the loop keeps asking at its longest pause.
    ReceiveBlocked { retry_in: Duration },
    /// Deleting handled messages (they come back, harmlessly).
    DeleteMessages,
    /// Changing messages' visibility.
    ChangeVisibility,
    /// Reading a service's instances revision (the event path then lists the service instead).
    Revision { service_id: &'a str },
    /// Reading or writing the state table replicas share (`--state-table`).
    StateTable { doing: &'static str },
}

/// Counts `error` without logging it (a failure already logged when it started): AWS errors by
/// operation, account, region and class.
pub fn count(metrics: &Metrics, error: &Error) {
    metrics.aws_error(error);
}

/// Logs `error` as `what` says and counts it: AWS errors by operation, receive errors also on
/// their own counter.
pub fn failure(metrics: &Metrics, what: Failure<'_>, error: &Error) {
    count(metrics, error);
    match what {
        Failure::ListServices { namespace_id } => {
            error!(error = %error, namespace_id, "cannot list the services of the namespace")
        }
        Failure::ListTaggedServices => {
            error!(error = %error, "cannot list the services carrying the --service-tag tags")
        }
        Failure::Sync {
            service_id,
            trigger: Trigger::reconcile,
        } => error!(service_id, error = %error, "reconcile failed"),
        Failure::Sync {
            service_id,
            trigger: Trigger::event,
        } => error!(service_id, error = %error, "cannot list registrations for the event path"),
        Failure::Sync {
            service_id,
            trigger: Trigger::scheduled,
        } => {
            warn!(service_id, error = %error, "cannot act on a due scheduled event; the next cycle tries again")
        }
        Failure::Deregister {
            service_id,
            instance_id,
            reason,
            trigger,
        } => {
            error!(service_id, instance_id, %reason, ?trigger, error = %error, "deregistration failed")
        }
        Failure::VerifyEvents => {
            error!(error = %error, "cannot verify events with EC2; leaving them for redelivery")
        }
        Failure::CompleteLifecycle { instance_id } => error!(
            error = %error,
            instance_id,
            "CompleteLifecycleAction failed; the event will be retried"
        ),
        Failure::InspectQueue => warn!(error = %error, "cannot read the event queue's attributes"),
        Failure::Receive { retry_in } => {
            metrics.receive_errors.inc();
            warn!(error = %error, retry_in_ms = retry_in.as_millis() as u64, "receive from the event queue failed")
        }
        Failure::ReceiveBlocked { retry_in } => {
            metrics.receive_errors.inc();
            error!(error = %error, cause = error.class().words(), retry_in_ms = retry_in.as_millis() as u64,
                "the event queue cannot be read, and waiting will not fix it; events wait in the queue (see /readyz)")
        }
        Failure::DeleteMessages => warn!(
            error = %error,
            "deleting handled messages failed; they will be redelivered (harmless)"
        ),
        Failure::ChangeVisibility => warn!(error = %error, "changing message visibility failed"),
        Failure::Revision { service_id } => warn!(
            service_id,
            error = %error,
            "cannot read the service's instances revision; listing it instead"
        ),
        Failure::StateTable { doing } => warn!(error = %error, doing, "the state table failed"),
    }
    if let Some(detail) = error.detail() {
        debug!(detail, "the AWS error in full");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Operation;

    #[test]
    fn aws_errors_are_counted_by_operation_and_receives_on_their_own() {
        let metrics = Metrics::default();
        metrics.set_home("123456789012", "eu-west-1");
        let e = Error::Aws {
            operation: Operation::ReceiveMessage,
            class: crate::error::ErrorClass::Network,
            code: None,
            reason: "down".into(),
            more: Default::default(),
            source: Box::new(std::io::Error::other("down")),
        };
        failure(
            &metrics,
            Failure::Receive {
                retry_in: Duration::from_millis(200),
            },
            &e,
        );
        let timeout = Error::OperationTimeout {
            operation_id: "op".into(),
            seconds: 60,
        };
        failure(
            &metrics,
            Failure::Deregister {
                service_id: "srv-1",
                instance_id: "i-12345678",
                reason: Reason::Terminated,
                trigger: Trigger::event,
            },
            &timeout,
        );
        assert_eq!(metrics.receive_errors.get(), 1);
        let counted = |op| {
            let labels = crate::telemetry::metrics::AwsErrorLabels {
                operation: op,
                account: "123456789012".into(),
                region: "eu-west-1".into(),
                class: crate::error::ErrorClass::Network,
            };
            metrics.aws_errors.get_or_create(&labels).get()
        };
        assert_eq!(counted(Operation::ReceiveMessage), 1);
        assert_eq!(counted(Operation::DeregisterInstance), 0);
    }
}
