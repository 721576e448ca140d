//! `check`'s probes of the setup around the registrations: the credentials' account, each selected
//! service and namespace (and its type), each account and region's DescribeInstances.

use futures::stream::{self, StreamExt};

use super::report::{Finding, Level};
use crate::aws::{cloudmap, ec2, sts, Target};
use crate::config::Config;
use crate::error::Error;

/// The credentials and the account they act in (sts:GetCallerIdentity needs no permission).
pub async fn credentials(client: &aws_sdk_sts::Client) -> (Finding, Option<String>) {
    match sts::caller(client).await {
        Ok(caller) => {
            let finding = Finding::new(
                "credentials",
                or_unknown(&caller.arn),
                Level::Ok,
                format!("acting in account {} (the home account)", caller.account),
            );
            (finding, Some(caller.account))
        }
        Err(e) => (
            Finding::new(
                "credentials",
                "-",
                Level::Fail,
                format!(
                    "GetCallerIdentity failed (no usable credentials, or STS unreachable): {}",
                    e.reason()
                ),
            ),
            None,
        ),
    }
}

/// A namespace's name and type (HTTP, DNS_PRIVATE, DNS_PUBLIC), or why not.
async fn namespace(client: &aws_sdk_servicediscovery::Client, id: &str) -> Result<String, String> {
    match cloudmap::namespace(client, id).await {
        Ok(ns) => Ok(format!("{} ({})", or_unknown(&ns.name), ns.kind)),
        Err(Error::Missing { .. }) => {
            Err("does not exist in this region (deleted, a wrong id, or another region?)".into())
        }
        Err(e) => Err(format!("cannot be read: {}", e.reason())),
    }
}

/// A name AWS left out, as `?`.
fn or_unknown(name: &str) -> &str {
    if name.is_empty() {
        "?"
    } else {
        name
    }
}

/// Each selected service and namespace exists (and its type), each `--service-tag` selects
/// something. Returns the findings and every service the worker would watch.
pub async fn selection(
    client: &aws_sdk_servicediscovery::Client,
    config: &Config,
) -> (Vec<Finding>, Vec<String>) {
    let (mut findings, mut services) = (Vec::new(), Vec::new());
    let region = &config.service_region;
    for id in &config.service_ids {
        let finding = match cloudmap::service(client, id).await {
            Ok(service) => {
                services.push(id.clone());
                let ns_id = or_unknown(&service.namespace_id);
                let ns = match namespace(client, &cloudmap::namespace_ref(id, ns_id)).await {
                    Ok(ns) => ns,
                    Err(why) => format!("that {why}"),
                };
                let detail = format!(
                    "\"{}\" in namespace {ns_id} {ns}",
                    or_unknown(&service.name)
                );
                Finding::new("service", id, Level::Ok, detail)
            }
            Err(Error::Missing { .. }) => {
                let detail =
                    format!("does not exist in {region} (deleted, a wrong id, or another region?)");
                Finding::new("service", id, Level::Fail, detail)
            }
            Err(e) => Finding::new(
                "service",
                id,
                Level::Fail,
                format!("cannot be read: {}", e.reason()),
            ),
        };
        findings.push(finding);
    }
    for id in &config.namespace_ids {
        let finding = match namespace(client, id).await {
            Err(why) => Finding::new("namespace", id, Level::Fail, why),
            Ok(ns) => match cloudmap::list_services(client, id).await {
                Ok(ids) if ids.is_empty() => Finding::new(
                    "namespace",
                    id,
                    Level::Warn,
                    format!("{ns}: no service in it yet, nothing to watch"),
                ),
                Ok(ids) => {
                    let detail = format!("{ns}: {} service(s)", ids.len());
                    services.extend(ids);
                    Finding::new("namespace", id, Level::Ok, detail)
                }
                Err(e) => Finding::new(
                    "namespace",
                    id,
                    Level::Fail,
                    format!("{ns}: its services cannot be listed: {}", e.reason()),
                ),
            },
        };
        findings.push(finding);
    }
    if !config.service_tags.is_empty() {
        let label: Vec<String> = config
            .service_tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let label = label.join(",");
        let finding =
            match cloudmap::list_tagged_services(client, &config.service_tags, config.concurrency)
                .await
            {
                Ok(ids) if ids.is_empty() => Finding::new(
                    "service-tag",
                    label,
                    Level::Warn,
                    format!("no service of this account in {region} carries these tags"),
                ),
                Ok(ids) => {
                    let detail = format!("{} service(s): {}", ids.len(), ids.join(", "));
                    services.extend(ids);
                    Finding::new("service-tag", label, Level::Ok, detail)
                }
                Err(e) => Finding::new(
                    "service-tag",
                    label,
                    Level::Fail,
                    format!("cannot be resolved: {}", e.reason()),
                ),
            };
        findings.push(finding);
    }
    let mut seen = std::collections::HashSet::new();
    services.retain(|s| seen.insert(s.clone()));
    (findings, services)
}

/// How reports name a target: `account/region`, the home account by its id when STS told it.
pub fn target_label(target: &Target, home: Option<&str>) -> String {
    let account = match &target.account {
        crate::model::domain::Account::Home => home.unwrap_or("home"),
        crate::model::domain::Account::Member(id) => id,
    };
    format!("{account}/{}", target.region)
}

/// Each account (its role assumed) may DescribeInstances in each region.
pub async fn accounts(targets: &[Target], home: Option<&str>, concurrency: usize) -> Vec<Finding> {
    let probes = targets.iter().map(|t| async move {
        let label = target_label(t, home);
        let how = match &t.account {
            crate::model::domain::Account::Home => "",
            crate::model::domain::Account::Member(_) => "role assumed, ",
        };
        match ec2::probe(t).await {
            Ok(()) => Finding::new(
                "account",
                label,
                Level::Ok,
                format!("{how}DescribeInstances allowed"),
            ),
            Err(e) => Finding::new(
                "account",
                label,
                Level::Fail,
                format!("instances cannot be looked up here: {}", e.reason()),
            ),
        }
    });
    stream::iter(probes)
        .buffered(concurrency.max(1))
        .collect()
        .await
}
