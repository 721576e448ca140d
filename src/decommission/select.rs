//! Selection for `decommission`: validated arguments, and the instances they match (by tag and id,
//! in every account and region), with the Cloud Map services each one is registered in.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use futures::stream::{self, StreamExt};

use super::Candidate;
use crate::aws::Target;
use crate::cli::{DecommissionArgs, OutputFormat};
use crate::config::{role_account, valid_region, MemberRole};
use crate::plan::{is_ec2_instance_id, InstanceState};
use crate::registry;

/// Validated arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tags: Vec<(String, String)>,
    pub regions: Vec<String>,
    pub roles: Vec<MemberRole>,
    pub include_home: bool,
    pub instance_ids: Vec<String>,
    pub service_ids: Vec<String>,
    pub namespace_ids: Vec<String>,
    pub service_region: Option<String>,
    pub drain: Duration,
    pub wait_timeout: Duration,
    pub snapshot: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub concurrency: usize,
    pub output: OutputFormat,
}

/// Checks the arguments; the error is one line for stderr (exit 2).
pub fn settings(a: &DecommissionArgs) -> Result<Settings, String> {
    let tags = a
        .tags
        .iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("invalid --tag {t:?}: expected KEY=VALUE")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(bad) = a.instance_ids.iter().find(|i| !is_ec2_instance_id(i)) {
        return Err(format!(
            "invalid --instance-id {bad:?}: expected an EC2 instance id like i-0123456789abcdef0"
        ));
    }
    if tags.is_empty() && a.instance_ids.is_empty() {
        return Err("nothing selected: give at least one --tag KEY=VALUE or --instance-id".into());
    }
    if a.regions.is_empty() {
        return Err("missing --region: at least one region to look in".into());
    }
    if let Some(bad) = a.regions.iter().find(|r| !valid_region(r)) {
        return Err(format!(
            "invalid --region {bad:?}: expected an AWS region like eu-west-1"
        ));
    }
    let roles = a
        .role_arns
        .iter()
        .map(|arn| match role_account(arn) {
            Some(account_id) => Ok(MemberRole {
                arn: arn.clone(),
                account_id,
            }),
            None => Err(format!(
                "invalid --role-arn {arn:?}: expected arn:aws:iam::<account>:role/<name>"
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if a.skip_home_account && roles.is_empty() {
        return Err("--skip-home-account leaves no account to look in: add --role-arn".into());
    }
    if let Some(bad) = a.service_ids.iter().find(|s| !s.starts_with("srv-")) {
        return Err(format!("invalid --service-id {bad:?}: expected srv-…"));
    }
    if let Some(bad) = a.namespace_ids.iter().find(|s| !s.starts_with("ns-")) {
        return Err(format!("invalid --namespace-id {bad:?}: expected ns-…"));
    }
    let draining = !a.service_ids.is_empty() || !a.namespace_ids.is_empty();
    match &a.service_region {
        None if draining => return Err("--service-id/--namespace-id need --service-region".into()),
        Some(r) if !valid_region(r) => return Err(format!("invalid --service-region {r:?}")),
        _ => {}
    }
    if a.concurrency == 0 || a.wait_timeout == 0 {
        return Err("--concurrency and --wait-timeout must be at least 1".into());
    }
    Ok(Settings {
        tags,
        regions: a.regions.clone(),
        roles,
        include_home: !a.skip_home_account,
        instance_ids: a.instance_ids.clone(),
        service_ids: a.service_ids.clone(),
        namespace_ids: a.namespace_ids.clone(),
        service_region: a.service_region.clone(),
        drain: Duration::from_secs(a.drain_seconds),
        wait_timeout: Duration::from_secs(a.wait_timeout),
        snapshot: !a.no_snapshot,
        dry_run: a.dry_run,
        yes: a.yes,
        concurrency: a.concurrency,
        output: a.output,
    })
}

pub async fn discover(targets: &[Target], s: &Settings) -> Result<Vec<Candidate>, String> {
    let mut filters: Vec<Filter> = s
        .tags
        .iter()
        .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
        .collect();
    if !s.instance_ids.is_empty() {
        filters.push(
            Filter::builder()
                .name("instance-id")
                .set_values(Some(s.instance_ids.clone()))
                .build(),
        );
    }
    let jobs: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let filters = filters.clone();
            async move {
                let mut pages = t
                    .ec2
                    .describe_instances()
                    .set_filters(Some(filters))
                    .into_paginator()
                    .send();
                let mut out = Vec::new();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| {
                        format!(
                            "DescribeInstances in {}/{} failed: {}",
                            t.account,
                            t.region,
                            aws_sdk_ec2::error::DisplayErrorContext(&e)
                        )
                    })?;
                    for inst in page.reservations().iter().flat_map(|r| r.instances()) {
                        let (Some(id), Some(state)) = (
                            inst.instance_id(),
                            inst.state()
                                .and_then(|s| s.name())
                                .and_then(|n| InstanceState::parse(n.as_str())),
                        ) else {
                            continue;
                        };
                        let ebs: Vec<(String, String)> = inst
                            .block_device_mappings()
                            .iter()
                            .filter_map(|m| {
                                Some((
                                    m.device_name()?.to_string(),
                                    m.ebs()?.volume_id()?.to_string(),
                                ))
                            })
                            .collect();
                        out.push(Candidate {
                            target: i,
                            account: t.account.clone(),
                            region: t.region.clone(),
                            instance_id: id.to_string(),
                            name: inst
                                .tags()
                                .iter()
                                .find(|t| t.key() == Some("Name"))
                                .and_then(|t| t.value())
                                .map(str::to_string),
                            state,
                            devices: ebs.iter().map(|(d, _)| d.clone()).collect(),
                            volumes: ebs.into_iter().map(|(_, v)| v).collect(),
                            services: Vec::new(),
                        });
                    }
                }
                Ok::<_, String>(out)
            }
        })
        .collect();
    let found: Vec<Result<Vec<Candidate>, String>> =
        stream::iter(jobs).buffer_unordered(8).collect().await;
    let mut all = Vec::new();
    for f in found {
        all.extend(f?);
    }
    all.sort_by(|a, b| {
        (&a.account, &a.region, &a.instance_id).cmp(&(&b.account, &b.region, &b.instance_id))
    });
    Ok(all)
}

/// Marks, for each candidate, the selected services it is registered in.
pub async fn find_registrations(
    client: &aws_sdk_servicediscovery::Client,
    s: &Settings,
    found: &mut [Candidate],
) -> Result<(), String> {
    let mut services = s.service_ids.clone();
    for ns in &s.namespace_ids {
        services.extend(
            registry::list_services(client, ns)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    for svc in services {
        let ids: HashSet<String> = registry::list_registrations(client, &svc)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| r.instance_id)
            .collect();
        for c in found.iter_mut().filter(|c| ids.contains(&c.instance_id)) {
            c.services.push(svc.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> DecommissionArgs {
        DecommissionArgs {
            tags: vec!["Name=dtest*".into()],
            regions: vec!["eu-west-1".into()],
            concurrency: 8,
            wait_timeout: 900,
            drain_seconds: 30,
            log_level: "WARNING".into(),
            ..Default::default()
        }
    }

    #[test]
    fn refuses_bad_or_empty_selection() {
        assert!(settings(&args()).is_ok());
        type Case = (fn(&mut DecommissionArgs), &'static str);
        let cases: Vec<Case> = vec![
            (|a| a.tags = vec![], "nothing selected"),
            (|a| a.tags = vec!["Name".into()], "KEY=VALUE"),
            (|a| a.tags = vec!["=x".into()], "KEY=VALUE"),
            (|a| a.regions = vec![], "missing --region"),
            (|a| a.regions = vec!["mars-1".into()], "invalid --region"),
            (
                |a| a.instance_ids = vec!["web-1".into()],
                "invalid --instance-id",
            ),
            (
                |a| a.role_arns = vec!["arn:aws:iam::1:role/x".into()],
                "invalid --role-arn",
            ),
            (|a| a.skip_home_account = true, "no account"),
            (
                |a| a.service_ids = vec!["srv-1".into()],
                "need --service-region",
            ),
            (|a| a.concurrency = 0, "at least 1"),
        ];
        for (mutate, message) in cases {
            let mut a = args();
            mutate(&mut a);
            let e = settings(&a).unwrap_err();
            assert!(e.contains(message), "{e}");
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn instance_ids_alone_select() {
        let mut a = args();
        a.tags = vec![];
        a.instance_ids = vec!["i-0123456789abcdef0".into()];
        assert!(settings(&a).is_ok());
    }
}
