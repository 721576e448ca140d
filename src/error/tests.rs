//! One-line AWS errors and their classes.
use super::*;
use aws_smithy_types::error::ErrorMetadata;

fn service_error(code: &str, message: &str) -> Error {
    let meta = ErrorMetadata::builder()
        .code(code)
        .message(message)
        .custom("aws_request_id", "0a1b2c3d-request")
        .build();
    Error::aws(Operation::ReceiveMessage, meta)
}

#[test]
fn an_aws_error_is_one_line_with_its_code_message_and_request_id() {
    let e = service_error(
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
    );
    assert_eq!(
        e.to_string(),
        "ReceiveMessage failed: AWS.SimpleQueueService.NonExistentQueue: The specified queue \
         does not exist. (request id 0a1b2c3d-request)"
    );
    assert_eq!(e.class(), ErrorClass::NotFound);
    assert!(e.class().is_permanent());
}

#[test]
fn classes_follow_the_documented_aws_codes() {
    for (code, class) in [
        ("RequestLimitExceeded", ErrorClass::Throttling),
        ("ThrottlingException", ErrorClass::Throttling),
        ("AccessDenied", ErrorClass::Permission),
        ("UnauthorizedOperation", ErrorClass::Permission),
        ("ExpiredToken", ErrorClass::Credentials),
        ("AuthFailure", ErrorClass::Credentials),
        ("QueueDoesNotExist", ErrorClass::NotFound),
        ("InvalidInstanceID.NotFound", ErrorClass::NotFound),
        ("InternalError", ErrorClass::Other),
    ] {
        assert_eq!(service_error(code, "m").class(), class, "{code}");
    }
    assert!(!ErrorClass::Throttling.is_permanent() && !ErrorClass::Network.is_permanent());
}

#[test]
fn without_an_answer_a_credentials_error_is_told_from_the_network() {
    let none = aws_credential_types::provider::error::CredentialsError::not_loaded("no chain");
    assert_eq!(ErrorClass::of(None, &none), ErrorClass::Credentials);
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(ErrorClass::of(None, &refused), ErrorClass::Network);
}
