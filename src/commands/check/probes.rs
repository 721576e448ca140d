//! `check`'s probes of the setup around the registrations: the credentials' account, each selected
//! service and namespace (and its type), each account and region's DescribeInstances.

use aws_sdk_servicediscovery::operation::get_namespace::GetNamespaceError;
use aws_sdk_servicediscovery::operation::get_service::GetServiceError;
use futures::stream::{self, StreamExt};

use super::report::{Finding, Level};
use crate::aws::cloudmap;
use crate::aws::Target;
use crate::config::Config;

use aws_sdk_ec2::error::ProvideErrorMetadata;

/// One line for an SDK error: `Code: message` when AWS answered, else the shortened error chain.
pub fn explain<E>(e: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => {
            // The chain of causes, each once ("dispatch failure: io error: … Connection refused").
            let mut parts: Vec<String> = vec![e.to_string()];
            let mut source = e.source();
            while let Some(cause) = source {
                let text = cause.to_string();
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

/// The credentials and the account they act in (sts:GetCallerIdentity needs no permission).
pub async fn credentials(sts: &aws_sdk_sts::Client) -> (Finding, Option<String>) {
    match sts.get_caller_identity().send().await {
        Ok(out) => {
            let account = out.account().unwrap_or_default().to_string();
            let finding = Finding::new(
                "credentials",
                out.arn().unwrap_or("?"),
                Level::Ok,
                format!("acting in account {account} (the home account)"),
            );
            (finding, Some(account))
        }
        Err(e) => (
            Finding::new(
                "credentials",
                "-",
                Level::Fail,
                format!(
                    "GetCallerIdentity failed (no usable credentials, or STS unreachable): {}",
                    explain(&e)
                ),
            ),
            None,
        ),
    }
}

/// A namespace's name and type (HTTP, DNS_PRIVATE, DNS_PUBLIC), or a finding saying why not.
async fn namespace(
    client: &aws_sdk_servicediscovery::Client,
    id: &str,
) -> Result<String, (Level, String)> {
    match client.get_namespace().id(id).send().await {
        Ok(out) => {
            let ns = out.namespace();
            Ok(format!(
                "{} ({})",
                ns.and_then(|n| n.name()).unwrap_or("?"),
                ns.and_then(|n| n.r#type()).map_or("?", |t| t.as_str()),
            ))
        }
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(GetNamespaceError::NamespaceNotFound(_))
            ) =>
        {
            Err((
                Level::Fail,
                "does not exist in this region (deleted, a wrong id, or another region?)".into(),
            ))
        }
        Err(e) => Err((Level::Fail, format!("cannot be read: {}", explain(&e)))),
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
        let finding = match client.get_service().id(id).send().await {
            Ok(out) => {
                services.push(id.clone());
                let s = out.service();
                let ns_id = s.and_then(|s| s.namespace_id()).unwrap_or("?");
                // A shared namespace is named by its ARN, built from the service's.
                let ns_key = match id.split_once(":service/") {
                    Some((prefix, _)) => format!("{prefix}:namespace/{ns_id}"),
                    None => ns_id.to_string(),
                };
                let ns = match namespace(client, &ns_key).await {
                    Ok(ns) => ns,
                    Err((_, why)) => format!("that {why}"),
                };
                let detail = format!(
                    "\"{}\" in namespace {ns_id} {ns}",
                    s.and_then(|s| s.name()).unwrap_or("?")
                );
                Finding::new("service", id, Level::Ok, detail)
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(GetServiceError::ServiceNotFound(_))
                ) =>
            {
                let detail =
                    format!("does not exist in {region} (deleted, a wrong id, or another region?)");
                Finding::new("service", id, Level::Fail, detail)
            }
            Err(e) => Finding::new(
                "service",
                id,
                Level::Fail,
                format!("cannot be read: {}", explain(&e)),
            ),
        };
        findings.push(finding);
    }
    for id in &config.namespace_ids {
        let finding = match namespace(client, id).await {
            Err((level, why)) => Finding::new("namespace", id, level, why),
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
                    format!("{ns}: its services cannot be listed: {e}"),
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
                    format!("cannot be resolved: {e}"),
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
        match t.ec2.describe_instances().max_results(5).send().await {
            Ok(_) => Finding::new(
                "account",
                label,
                Level::Ok,
                format!("{how}DescribeInstances allowed"),
            ),
            Err(e) => Finding::new(
                "account",
                label,
                Level::Fail,
                format!("instances cannot be looked up here: {}", explain(&e)),
            ),
        }
    });
    stream::iter(probes)
        .buffered(concurrency.max(1))
        .collect()
        .await
}
