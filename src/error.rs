//! The library's error type: every AWS failure keeps its SDK error as `#[source]`, shows as one line
//! (operation, AWS code, message, request id; the SDK's whole chain stays in `detail` for DEBUG), and
//! every error has a bounded `kind()` and `class()` for metric labels.

use std::fmt;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::model::domain::{Account, SelectionKind};

mod class;
pub use class::ErrorClass;

/// An AWS API operation the program calls; a label value of the error metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    ListServices,
    ListInstances,
    DeregisterInstance,
    GetOperation,
    DescribeInstances,
    ReceiveMessage,
    DeleteMessageBatch,
    ChangeMessageVisibilityBatch,
    GetQueueAttributes,
    CompleteLifecycleAction,
    GetNamespace,
    GetService,
    GetInstance,
    ListTagsForResource,
    SendMessage,
    DescribeAutoScalingInstances,
    DescribeLifecycleHooks,
    DescribeAutoScalingGroups,
    DetachInstances,
    RecordLifecycleActionHeartbeat,
    RegisterInstance,
    PutEvents,
    DescribeInstanceStatus,
    DiscoverInstancesRevision,
    UpdateItem,
    Scan,
    DeleteMessage,
    ChangeMessageVisibility,
    StopInstances,
    TerminateInstances,
    CreateSnapshots,
    ModifyInstanceAttribute,
    DescribeInstanceAttribute,
    GetCallerIdentity,
    ListAccounts,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ListServices => "ListServices",
            Operation::ListInstances => "ListInstances",
            Operation::DeregisterInstance => "DeregisterInstance",
            Operation::GetOperation => "GetOperation",
            Operation::DescribeInstances => "DescribeInstances",
            Operation::ReceiveMessage => "ReceiveMessage",
            Operation::DeleteMessageBatch => "DeleteMessageBatch",
            Operation::ChangeMessageVisibilityBatch => "ChangeMessageVisibilityBatch",
            Operation::GetQueueAttributes => "GetQueueAttributes",
            Operation::CompleteLifecycleAction => "CompleteLifecycleAction",
            Operation::GetNamespace => "GetNamespace",
            Operation::GetService => "GetService",
            Operation::GetInstance => "GetInstance",
            Operation::DiscoverInstancesRevision => "DiscoverInstancesRevision",
            Operation::ListTagsForResource => "ListTagsForResource",
            Operation::SendMessage => "SendMessage",
            Operation::DescribeAutoScalingInstances => "DescribeAutoScalingInstances",
            Operation::DescribeLifecycleHooks => "DescribeLifecycleHooks",
            Operation::DescribeAutoScalingGroups => "DescribeAutoScalingGroups",
            Operation::DetachInstances => "DetachInstances",
            Operation::RegisterInstance => "RegisterInstance",
            Operation::PutEvents => "PutEvents",
            Operation::DescribeInstanceStatus => "DescribeInstanceStatus",
            Operation::RecordLifecycleActionHeartbeat => "RecordLifecycleActionHeartbeat",
            Operation::UpdateItem => "UpdateItem",
            Operation::Scan => "Scan",
            Operation::DeleteMessage => "DeleteMessage",
            Operation::ChangeMessageVisibility => "ChangeMessageVisibility",
            Operation::StopInstances => "StopInstances",
            Operation::TerminateInstances => "TerminateInstances",
            Operation::CreateSnapshots => "CreateSnapshots",
            Operation::ModifyInstanceAttribute => "ModifyInstanceAttribute",
            Operation::DescribeInstanceAttribute => "DescribeInstanceAttribute",
            Operation::GetCallerIdentity => "GetCallerIdentity",
            Operation::ListAccounts => "ListAccounts",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The parts of an AWS error only some readers need.
#[derive(Debug, Default)]
pub struct AwsMore {
    /// AWS's request id, when AWS answered: what AWS Support asks for.
    pub request_id: Option<String>,
    /// The account and region called, when not the home account's service region.
    pub at: Option<(Account, String)>,
    /// The SDK's full error chain (its `Debug` included), for DEBUG lines only.
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS call failed (after the SDK's own retries).
    #[error("{operation} failed: {reason}{}", more.request_id.as_deref().map(|id| format!(" (request id {id})")).unwrap_or_default())]
    Aws {
        operation: Operation,
        /// What kind of failure it is, for metrics, `/readyz` and fail-fast decisions.
        class: ErrorClass,
        /// AWS's error code (`AccessDenied`, `ThrottlingException`…), when AWS answered.
        code: Option<String>,
        /// One line for people: `code: AWS's message`, or the chain of causes when AWS did not
        /// answer (a network failure, no credentials).
        reason: String,
        /// The request id, where the call went, the SDK's full chain (boxed: errors stay small).
        more: Box<AwsMore>,
        #[source]
        source: BoxError,
    },
    /// A selected service or namespace does not exist (deleted, or a wrong id).
    #[error("the selected {kind} {id} does not exist (deleted, or a wrong id)")]
    Missing { kind: SelectionKind, id: String },
    /// EC2 answered something cloud-unmap cannot read (an instance without id or known state).
    #[error("unreadable EC2 answer: {what}")]
    Unreadable { what: String },
    /// No client for an account and region (a claim outside the watched targets).
    #[error("no client for account {account} in {region}")]
    NoTarget { account: String, region: String },
    /// AWS accepted the call but refused what it carried (a PutEvents entry).
    #[error("{operation} refused the request: {reason}")]
    Refused {
        operation: Operation,
        reason: String,
    },
    /// The organization role lists another organization's accounts than `--organization-id`.
    #[error(
        "the organization role lists the accounts of {found}, not of --organization-id {expected}"
    )]
    OtherOrganization { expected: String, found: String },
    /// Not asked: the account's role was refused moments ago (its circuit breaker, `aws::breaker`).
    #[error(
        "not asked: account {account}'s role was refused ({reason}); asked again in {again_s} s"
    )]
    Resting {
        account: String,
        class: ErrorClass,
        reason: String,
        again_s: u64,
    },
    /// A Cloud Map operation reported FAIL.
    #[error("Cloud Map operation {operation_id} failed: {reason}")]
    OperationFailed {
        operation_id: String,
        reason: String,
    },
    /// A Cloud Map operation did not finish in time.
    #[error("Cloud Map operation {operation_id} still pending after {seconds} s")]
    OperationTimeout { operation_id: String, seconds: u64 },
    /// The HTTP server could not start.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an SDK error, rendering its whole chain (the SDK's own Display says only "service error").
    pub fn aws<E>(operation: Operation, source: E) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let detail = aws_sdk_ec2::error::DisplayErrorContext(&source).to_string();
        let request_id = source
            .meta()
            .extra("aws_request_id")
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        Error::Aws {
            operation,
            class: ErrorClass::of(source.code(), &source),
            code: source.code().map(str::to_string),
            reason: explain(&source),
            more: Box::new(AwsMore {
                request_id,
                at: None,
                detail,
            }),
            source: Box::new(source),
        }
    }

    /// Where the call went (an EC2 target's account and region), for the error metric's labels.
    pub fn at(mut self, account: &Account, region: &str) -> Error {
        if let Error::Aws { more, .. } = &mut self {
            more.at = Some((account.clone(), region.to_string()));
        }
        self
    }

    /// AWS's error code, when AWS answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// One line for people: an AWS failure as `code: message` (or its chain of causes), anything
    /// else as its Display.
    pub fn reason(&self) -> String {
        match self {
            Error::Aws { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }

    /// What kind of failure this is (a selected service or namespace that does not exist is
    /// `not_found`; anything not from AWS is `other`).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Aws { class, .. } => *class,
            Error::Missing { .. } => ErrorClass::NotFound,
            Error::Resting { class, .. } => *class,
            _ => ErrorClass::Other,
        }
    }

    /// The SDK's full error chain, for a DEBUG line (`None` for errors that are one line already).
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Aws { more, .. } => Some(&more.detail),
            _ => None,
        }
    }

    /// A bounded name for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Aws { .. } => "aws",
            Error::OperationFailed { .. } => "operation_failed",
            Error::OperationTimeout { .. } => "operation_timeout",
            Error::Listen { .. } => "listen",
            Error::Missing { .. } => "missing",
            Error::NoTarget { .. } => "no_target",
            Error::Resting { .. } => "resting",
            Error::Unreadable { .. } => "unreadable",
            Error::Refused { .. } => "refused",
            Error::OtherOrganization { .. } => "other_organization",
        }
    }
}

/// One line for an SDK error: `code: message` when AWS answered, else the chain of causes, each
/// once and on one line ("dispatch failure: io error: … Connection refused"), at most 300 characters.
pub fn explain<E>(e: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => {
            // Each cause's first line: the credentials chain lists every provider it tried on
            // lines of their own, which belong in the DEBUG detail.
            let first_line = |text: String| -> String {
                let line = text.lines().next().unwrap_or_default().trim_end();
                line.strip_suffix(" Attempted:").unwrap_or(line).to_string()
            };
            let mut parts: Vec<String> = vec![first_line(e.to_string())];
            let mut source = e.source();
            while let Some(cause) = source {
                let text = first_line(cause.to_string());
                if !parts.iter().any(|p| p.contains(&text)) {
                    parts.push(text);
                }
                source = cause.source();
            }
            let full = parts.join(": ").replace('\n', " ");
            let mut short: String = full.chars().take(300).collect();
            if short.len() < full.len() {
                short.push('…');
            }
            short
        }
    }
}

#[cfg(test)]
mod tests;
