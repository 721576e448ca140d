//! Cloud Map access: services of a namespace, registrations of a service (every page), a service's
//! DNS TTL; registering and deregistering, confirmed by waiting for the operation, are in
//! `operations`. A selected service or namespace that does not exist is `Error::Missing`.

mod operations;
pub use operations::{deregister, register, Deregistered};

use std::time::Duration;

use futures::stream::{StreamExt, TryStreamExt};

use aws_sdk_servicediscovery::operation::get_instance::GetInstanceError;
use aws_sdk_servicediscovery::operation::get_namespace::GetNamespaceError;
use aws_sdk_servicediscovery::operation::get_service::GetServiceError;
use aws_sdk_servicediscovery::operation::list_instances::ListInstancesError;
use aws_sdk_servicediscovery::types::{FilterCondition, ServiceFilter, ServiceFilterName};
use aws_sdk_servicediscovery::Client;

use crate::error::{Error, Operation};
use crate::model::domain::SelectionKind;
use crate::model::plan::Registration;

/// How long a deregistration's operation may stay pending before it is reported as failed.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Lists every service in `namespace_id` (an id, or the ARN of a namespace shared through AWS RAM,
/// whose services are then named by their ARNs, as the API requires).
pub async fn list_services(client: &Client, namespace_id: &str) -> Result<Vec<String>, Error> {
    let shared = namespace_id.starts_with("arn:");
    let filter = ServiceFilter::builder()
        .name(ServiceFilterName::NamespaceId)
        .values(namespace_id)
        .condition(FilterCondition::Eq)
        .build()
        .expect("name and values are set");
    let ids: Vec<String> = all_services(client, filter)
        .await?
        .into_iter()
        .map(|(id, arn)| if shared { arn } else { id })
        .collect();
    if ids.is_empty() {
        // A filter on a namespace that does not exist lists nothing: tell the two apart.
        namespace(client, namespace_id).await?;
    }
    Ok(ids)
}

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

/// Every service of one listing, as (id, ARN).
async fn all_services(
    client: &Client,
    filter: ServiceFilter,
) -> Result<Vec<(String, String)>, Error> {
    let mut pages = client
        .list_services()
        .filters(filter)
        .max_results(100)
        .into_paginator()
        .send();
    let mut services = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Error::aws(Operation::ListServices, e))?;
        services.extend(
            page.services()
                .iter()
                .filter_map(|s| Some((s.id()?.to_string(), s.arn()?.to_string()))),
        );
    }
    Ok(services)
}

/// The services of the account's own namespaces (by id) and of namespaces shared with it through
/// AWS RAM (by ARN): ListServices' `RESOURCE_OWNER` filter, `SELF` then `OTHER_ACCOUNTS`.
async fn own_and_shared_services(client: &Client) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for owner in ["SELF", "OTHER_ACCOUNTS"] {
        let filter = ServiceFilter::builder()
            .name(ServiceFilterName::ResourceOwner)
            .values(owner)
            .condition(FilterCondition::Eq)
            .build()
            .expect("name and values are set");
        for (id, arn) in all_services(client, filter).await? {
            out.push((if owner == "SELF" { id } else { arn.clone() }, arn));
        }
    }
    Ok(out)
}

/// Every service of the account and region carrying all of `tags` (own namespaces' by id, shared
/// ones' by ARN), checked with ListTagsForResource on each ARN, `concurrency` at a time.
pub async fn list_tagged_services(
    client: &Client,
    tags: &[(String, String)],
    concurrency: usize,
) -> Result<Vec<String>, Error> {
    let services = own_and_shared_services(client).await?;
    let checks: Vec<_> = services
        .into_iter()
        .map(|(id, arn)| async move {
            let out = client
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(|e| Error::aws(Operation::ListTagsForResource, e))?;
            let has = |(k, v): &(String, String)| {
                out.tags().iter().any(|t| t.key() == k && t.value() == v)
            };
            Ok::<_, Error>(tags.iter().all(has).then_some(id))
        })
        .collect();
    let matched: Vec<Option<String>> = futures::stream::iter(checks)
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut ids: Vec<String> = matched.into_iter().flatten().collect();
    ids.sort();
    Ok(ids)
}

/// A registration from its id and attributes (the ones cloud-unmap judges by).
fn registration(
    instance_id: &str,
    attributes: Option<&std::collections::HashMap<String, String>>,
) -> Registration {
    Registration {
        attributes: attributes
            .map(|a| std::sync::Arc::new(a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())),
        ..Registration::new(instance_id, |name| {
            attributes.and_then(|a| a.get(name)).cloned()
        })
    }
}

/// Lists every registration of `service_id` (Cloud Map pages hold at most 100).
pub async fn list_registrations(
    client: &Client,
    service_id: &str,
) -> Result<Vec<Registration>, Error> {
    let pages: Vec<Vec<Registration>> =
        registration_pages(client, service_id).try_collect().await?;
    Ok(pages.into_iter().flatten().collect())
}

/// The registrations of `service_id`, page by page as Cloud Map answers them (at most 100 each), so a
/// caller can act on a page while the next is asked for.
pub fn registration_pages<'a>(
    client: &'a Client,
    service_id: &'a str,
) -> impl futures::Stream<Item = Result<Vec<Registration>, Error>> + 'a {
    let pages = client
        .list_instances()
        .service_id(service_id)
        .max_results(100)
        .into_paginator()
        .send();
    futures::stream::unfold(pages, move |mut pages| async move {
        let page = pages.next().await?;
        let page = page
            .map_err(|e| match e.as_service_error() {
                Some(ListInstancesError::ServiceNotFound(_)) => Error::Missing {
                    kind: SelectionKind::Service,
                    id: service_id.to_string(),
                },
                _ => Error::aws(Operation::ListInstances, e),
            })
            .map(|page| {
                page.instances()
                    .iter()
                    .filter_map(|i| Some(registration(i.id()?, i.attributes())))
                    .collect()
            });
        Some((page, pages))
    })
}

/// A registration as Cloud Map holds it now (GetInstance), with all its attributes, or `None` when
/// it is gone.
pub async fn current(
    client: &Client,
    service_id: &str,
    instance_id: &str,
) -> Result<Option<(Registration, Attributes)>, Error> {
    match client
        .get_instance()
        .service_id(service_id)
        .instance_id(instance_id)
        .send()
        .await
    {
        Ok(out) => Ok(out.instance().map(|i| {
            let attributes: Attributes = i
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            (registration(instance_id, i.attributes()), attributes)
        })),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(GetInstanceError::InstanceNotFound(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::aws(Operation::GetInstance, e)),
    }
}

/// A registration's attributes, sorted by name.
pub type Attributes = std::collections::BTreeMap<String, String>;
