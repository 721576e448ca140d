//! Cloud Map's asynchronous writes: RegisterInstance and DeregisterInstance, each confirmed by
//! following its operation (GetOperation) to the end. For a deregistration, InstanceNotFound means
//! done already, and DuplicateRequest means another operation on the instance is in progress: it is
//! followed, and the registration read again.

use std::time::Duration;

use aws_sdk_servicediscovery::operation::deregister_instance::DeregisterInstanceError;
use aws_sdk_servicediscovery::types::OperationStatus;
use aws_sdk_servicediscovery::Client;

use super::{current, Attributes, OPERATION_TIMEOUT};
use crate::aws::budget::spend_cloudmap;
use crate::error::{Error, Operation};
use crate::model::budget::Family;

/// Registers `instance_id` in `service_id` with `attributes` and waits (bounded) until Cloud Map
/// reports the operation done.
pub async fn register(
    client: &Client,
    service_id: &str,
    instance_id: &str,
    attributes: &Attributes,
) -> Result<(), Error> {
    spend_cloudmap(Family::CloudMapWrite, client).await;
    let out = client
        .register_instance()
        .service_id(service_id)
        .instance_id(instance_id)
        .set_attributes(Some(attributes.clone().into_iter().collect()))
        .send()
        .await
        .map_err(|e| Error::aws(Operation::RegisterInstance, e))?;
    match out.operation_id() {
        Some(id) => {
            wait_for_operation(client, id, crate::model::domain::cloudmap_owner(service_id)).await
        }
        None => Ok(()),
    }
}

/// What a deregistration came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deregistered {
    /// Cloud Map confirmed the operation.
    Done,
    /// The registration was already gone: success.
    AlreadyGone,
}

/// Deregisters one instance and waits (bounded) until Cloud Map reports the operation done.
/// InstanceNotFound means done already; DuplicateRequest means another operation on the instance
/// is in progress (another replica, a racing trigger, a retry after a timeout): see `in_progress`.
pub async fn deregister(
    client: &Client,
    service_id: &str,
    instance_id: &str,
) -> Result<Deregistered, Error> {
    spend_cloudmap(Family::CloudMapWrite, client).await;
    let out = client
        .deregister_instance()
        .service_id(service_id)
        .instance_id(instance_id)
        .send()
        .await;
    let owner = crate::model::domain::cloudmap_owner(service_id);
    let operation_id = match out {
        Ok(out) => out.operation_id().map(str::to_string),
        Err(e) => match e.as_service_error() {
            Some(DeregisterInstanceError::InstanceNotFound(_)) => {
                return Ok(Deregistered::AlreadyGone)
            }
            Some(DeregisterInstanceError::DuplicateRequest(d)) => {
                let other = d.duplicate_operation_id().map(str::to_string);
                return in_progress(client, service_id, instance_id, other, owner)
                    .await
                    .map_err(|again| {
                        again.unwrap_or(Error::aws(Operation::DeregisterInstance, e))
                    });
            }
            _ => return Err(Error::aws(Operation::DeregisterInstance, e)),
        },
    };
    match operation_id {
        Some(id) => wait_for_operation(client, &id, owner)
            .await
            .map(|()| Deregistered::Done),
        None => Ok(Deregistered::Done),
    }
}

/// DuplicateRequest: follows the operation in progress (the error's DuplicateOperationId; without
/// one, a short pause), then reads the registration again. Gone: someone else's operation removed
/// it (`AlreadyGone`; its undo record is that caller's). Still there (the other operation was a
/// registration, or failed): `Err(None)`, the DuplicateRequest itself is the failure, and the
/// registration is judged again by the next pass rather than removed on an old judgment.
async fn in_progress(
    client: &Client,
    service_id: &str,
    instance_id: &str,
    other: Option<String>,
    owner: Option<&str>,
) -> Result<Deregistered, Option<Error>> {
    match other {
        // Its outcome does not matter: the registration is read again either way.
        Some(id) => {
            let _ = wait_for_operation(client, &id, owner).await;
        }
        None => tokio::time::sleep(Duration::from_secs(1)).await,
    }
    match current(client, service_id, instance_id).await {
        Ok(None) => Ok(Deregistered::AlreadyGone),
        Ok(Some(_)) => Err(None),
        Err(e) => Err(Some(e)),
    }
}

/// Polls GetOperation with a growing pause (50 ms doubling to 2 s) until SUCCESS, FAIL or timeout.
/// An operation in a namespace shared with this account is read with its owner's account.
async fn wait_for_operation(
    client: &Client,
    operation_id: &str,
    owner: Option<&str>,
) -> Result<(), Error> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        spend_cloudmap(Family::CloudMapRead, client).await;
        let out = client
            .get_operation()
            .operation_id(operation_id)
            .set_owner_account(owner.map(str::to_string))
            .send()
            .await
            .map_err(|e| Error::aws(Operation::GetOperation, e))?;
        let op = out.operation();
        match op.and_then(|o| o.status()) {
            Some(OperationStatus::Success) => return Ok(()),
            Some(OperationStatus::Fail) => {
                return Err(Error::OperationFailed {
                    operation_id: operation_id.to_string(),
                    reason: op
                        .and_then(|o| o.error_message())
                        .unwrap_or("no reason given")
                        .to_string(),
                })
            }
            _ => {}
        }
        if started.elapsed() + pause > OPERATION_TIMEOUT {
            return Err(Error::OperationTimeout {
                operation_id: operation_id.to_string(),
                seconds: OPERATION_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
