//! What Cloud Map says of one service or namespace: GetService (names, namespace, DNS TTL) and
//! GetNamespace, each with one meaning of "not found" (`Error::Missing`), and the instances revision
//! of the data plane (DiscoverInstancesRevision).

use std::time::Duration;

use aws_sdk_servicediscovery::operation::get_namespace::GetNamespaceError;
use aws_sdk_servicediscovery::operation::get_service::GetServiceError;
use aws_sdk_servicediscovery::Client;

use crate::error::{Error, Operation};
use crate::model::domain::SelectionKind;

/// What GetService says of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: String,
    pub namespace_id: String,
    /// The largest TTL of its DNS records (zero without DNS records): how long a client may keep
    /// resolving an instance after its deregistration.
    pub dns_ttl: Duration,
}

/// What GetNamespace says of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub name: String,
    /// `HTTP`, `DNS_PRIVATE` or `DNS_PUBLIC`.
    pub kind: String,
}

/// GetService. A service that does not exist is `Error::Missing` (its one meaning everywhere:
/// deleted, or a wrong id); every other failure is `Error::Aws`.
pub async fn service(client: &Client, service_id: &str) -> Result<ServiceInfo, Error> {
    let missing = || Error::Missing {
        kind: SelectionKind::Service,
        id: service_id.to_string(),
    };
    let out = match client.get_service().id(service_id).send().await {
        Ok(out) => out,
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(GetServiceError::ServiceNotFound(_))
            ) =>
        {
            return Err(missing())
        }
        Err(e) => return Err(Error::aws(Operation::GetService, e)),
    };
    let service = out.service().ok_or_else(missing)?;
    Ok(ServiceInfo {
        name: service.name().unwrap_or_default().to_string(),
        namespace_id: service.namespace_id().unwrap_or_default().to_string(),
        dns_ttl: Duration::from_secs(
            service
                .dns_config()
                .map(|d| d.dns_records().iter().map(|r| r.ttl().max(0) as u64))
                .and_then(Iterator::max)
                .unwrap_or(0),
        ),
    })
}

/// The reference GetNamespace takes for a service's namespace: its id, or for a service named by
/// ARN (a namespace shared through AWS RAM) the namespace's ARN, built from the service's.
pub fn namespace_ref(service_id: &str, namespace_id: &str) -> String {
    match service_id.split_once(":service/") {
        Some((prefix, _)) => format!("{prefix}:namespace/{namespace_id}"),
        None => namespace_id.to_string(),
    }
}

/// GetNamespace (by id, or by ARN for a shared one). One that does not exist is `Error::Missing`.
pub async fn namespace(client: &Client, namespace: &str) -> Result<NamespaceInfo, Error> {
    match client.get_namespace().id(namespace).send().await {
        Ok(out) => {
            let ns = out.namespace();
            Ok(NamespaceInfo {
                name: ns.and_then(|n| n.name()).unwrap_or_default().to_string(),
                kind: ns
                    .and_then(|n| n.r#type())
                    .map_or("?", |t| t.as_str())
                    .to_string(),
            })
        }
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(GetNamespaceError::NamespaceNotFound(_))
            ) =>
        {
            Err(Error::Missing {
                kind: SelectionKind::Namespace,
                id: namespace.to_string(),
            })
        }
        Err(e) => Err(Error::aws(Operation::GetNamespace, e)),
    }
}

/// The instances revision of a service (DiscoverInstancesRevision, a data-plane call), asked by
/// namespace and service name, in the owner's account for a shared namespace.
pub async fn revision(
    client: &Client,
    namespace: &str,
    service: &str,
    owner: Option<String>,
) -> Result<Option<i64>, Error> {
    client
        .discover_instances_revision()
        .namespace_name(namespace)
        .service_name(service)
        .set_owner_account(owner)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::DiscoverInstancesRevision, e))
        .map(|out| out.instances_revision())
}
