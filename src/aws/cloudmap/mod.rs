//! Cloud Map access: services of a namespace, registrations of a service (every page); what one
//! service or namespace says of itself is in `service`, registering and deregistering (confirmed by
//! following the operation) in `operations`. "Already gone" counts as done; a selected service or
//! namespace that does not exist is `Error::Missing`.

mod operations;
mod service;
pub use operations::{deregister, register, Deregistered};
pub use service::{namespace, namespace_ref, revision, service, NamespaceInfo, ServiceInfo};

use std::time::Duration;

use futures::stream::{StreamExt, TryStreamExt};

use aws_sdk_servicediscovery::operation::get_instance::GetInstanceError;
use aws_sdk_servicediscovery::operation::list_instances::ListInstancesError;
use aws_sdk_servicediscovery::types::{FilterCondition, ServiceFilter, ServiceFilterName};
use aws_sdk_servicediscovery::Client;

use crate::aws::budget::spend_cloudmap;
use crate::error::{Error, Operation};
use crate::model::budget::Family;
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
    // Spend only for a page that will be asked for: none after the last (no next token).
    let mut more = true;
    while more {
        spend_cloudmap(Family::CloudMapRead, client).await;
        let Some(page) = pages.next().await else {
            break;
        };
        let page = page.map_err(|e| Error::aws(Operation::ListServices, e))?;
        more = page.next_token().is_some_and(|t| !t.is_empty());
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
            spend_cloudmap(Family::CloudMapRead, client).await;
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
    // Spend only for a page that will be asked for: none after the last (no next token).
    futures::stream::unfold((pages, true), move |(mut pages, more)| async move {
        if !more {
            return None;
        }
        spend_cloudmap(Family::CloudMapRead, client).await;
        let page = pages.next().await?;
        let more = page
            .as_ref()
            .is_ok_and(|p| p.next_token().is_some_and(|t| !t.is_empty()));
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
        Some((page, (pages, more)))
    })
}

/// A registration as Cloud Map holds it now (GetInstance), with all its attributes, or `None` when
/// it is gone.
pub async fn current(
    client: &Client,
    service_id: &str,
    instance_id: &str,
) -> Result<Option<(Registration, Attributes)>, Error> {
    spend_cloudmap(Family::CloudMapRead, client).await;
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
