//! The class of an AWS failure (throttling, permission, credentials, network, not found, other):
//! what an operator does about it, for metric labels, `/readyz` and the event loop's fail-fast.

use std::fmt;

/// What kind of failure an AWS error is: what an operator does about it differs (wait, fix the
/// IAM policy, fix the credentials, fix the network, fix the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// AWS asked to slow down (a quota shared with the account's other users): transient.
    Throttling,
    /// AWS refused the call: an IAM or resource policy does not allow it. Permanent until fixed.
    Permission,
    /// No credentials, or AWS rejected them (expired, wrong key, bad signature). Permanent until fixed.
    Credentials,
    /// AWS did not answer (connection refused or dropped, DNS, timeout): usually transient.
    Network,
    /// What was named does not exist (a queue, a service, a namespace). Permanent until fixed.
    NotFound,
    /// Anything else (AWS's own 5xx, a validation error…).
    Other,
}

/// AWS's throttling codes across the services cloud-unmap calls (EC2's `RequestLimitExceeded`, the
/// JSON protocols' `ThrottlingException`, DynamoDB's throughput errors…).
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceededException",
    "SlowDown",
    "EC2ThrottledException",
];
/// Refused by a policy (EC2 says `UnauthorizedOperation`; SQS's JSON protocol `AccessDenied`).
const PERMISSION: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "Forbidden",
    "OptInRequired",
];
/// Credentials AWS did not accept.
const CREDENTIALS: &[&str] = &[
    "AuthFailure",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
    "InvalidToken",
];
/// Named things that do not exist (SQS's query code and its JSON code; Cloud Map's; DynamoDB's).
const NOT_FOUND: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NamespaceNotFound",
    "ServiceNotFound",
    "InstanceNotFound",
    "OperationNotFound",
    "ResourceNotFoundException",
    "NotFoundException",
];

impl ErrorClass {
    /// Classifies an SDK error by AWS's code, or, when AWS did not answer, by its chain of causes:
    /// a credentials provider's error is `Credentials`, anything else `Network`.
    pub fn of(code: Option<&str>, error: &(dyn std::error::Error + 'static)) -> ErrorClass {
        if let Some(code) = code {
            let is = |list: &[&str]| list.contains(&code);
            return if is(THROTTLING) {
                ErrorClass::Throttling
            } else if is(PERMISSION) {
                ErrorClass::Permission
            } else if is(CREDENTIALS) {
                ErrorClass::Credentials
            } else if is(NOT_FOUND) || code.ends_with(".NotFound") {
                ErrorClass::NotFound
            } else {
                ErrorClass::Other
            };
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = cause {
            if e.is::<aws_credential_types::provider::error::CredentialsError>() {
                return ErrorClass::Credentials;
            }
            cause = e.source();
        }
        ErrorClass::Network
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Throttling => "throttling",
            ErrorClass::Permission => "permission",
            ErrorClass::Credentials => "credentials",
            ErrorClass::Network => "network",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Other => "other",
        }
    }

    /// Waiting does not fix it: a person must (credentials, a policy, a name).
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            ErrorClass::Permission | ErrorClass::Credentials | ErrorClass::NotFound
        )
    }

    /// The cause in words, for `/readyz` and log lines.
    pub fn words(self) -> &'static str {
        match self {
            ErrorClass::Throttling => {
                "throttled by AWS (a request quota shared with the account's other users)"
            }
            ErrorClass::Permission => {
                "permission denied (an IAM or resource policy does not allow the call)"
            }
            ErrorClass::Credentials => {
                "no valid AWS credentials (none found, expired, or rejected)"
            }
            ErrorClass::Network => "AWS did not answer (network, DNS, endpoint or timeout)",
            ErrorClass::NotFound => {
                "it does not exist (deleted, or a wrong name, account or region)"
            }
            ErrorClass::Other => "AWS answered with an error",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
