//! Selection for `decommission`: validated arguments, and the instances they match (by tag and id,
//! in every account and region), with the Cloud Map services each one is registered in.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, Instance};
use futures::stream::{self, StreamExt};

use super::{Candidate, DecommissionError};
use crate::aws::Target;
use crate::aws::{cloudmap, ec2};
use crate::config::cli::{DecommissionArgs, OutputFormat};
use crate::config::{ConfigError, MemberRole};
use crate::model::domain::{
    is_ec2_instance_id, role_account, valid_prefixed_id, valid_region, InstanceState,
};

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

/// Bad arguments: one line on stderr, exit 2, nothing changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("invalid --tag {0:?}: expected KEY=VALUE")]
    Tag(String),
    #[error("invalid --instance-id {0:?}: expected an EC2 instance id like i-0123456789abcdef0")]
    InstanceId(String),
    #[error("nothing selected: give at least one --tag KEY=VALUE or --instance-id")]
    NothingSelected,
    #[error("missing --region: at least one region to look in")]
    NoRegion,
    #[error("invalid --role-arn {0:?}: expected arn:aws:iam::<account>:role/<name>")]
    RoleArn(String),
    #[error("--skip-home-account leaves no account to look in: add --role-arn")]
    NoAccount,
    /// A value the worker's configuration rejects in the same words (ids, regions).
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("--service-id/--namespace-id need --service-region")]
    NoServiceRegion,
    #[error("--concurrency and --wait-timeout must be at least 1")]
    Zero,
    #[error("{flag} {value} is too long: at most 86400 seconds")]
    TooLong { flag: &'static str, value: u64 },
}

/// The longest `--drain-seconds` and `--wait-timeout` (a day): no deadline arithmetic can overflow.
pub const MAX_WAIT: u64 = 86_400;

/// Checks the arguments.
pub fn settings(a: &DecommissionArgs) -> Result<Settings, SettingsError> {
    let tags = a
        .tags
        .iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(SettingsError::Tag(t.clone())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(bad) = a.instance_ids.iter().find(|i| !is_ec2_instance_id(i)) {
        return Err(SettingsError::InstanceId(bad.clone()));
    }
    if tags.is_empty() && a.instance_ids.is_empty() {
        return Err(SettingsError::NothingSelected);
    }
    if a.regions.is_empty() {
        return Err(SettingsError::NoRegion);
    }
    if let Some(bad) = a.regions.iter().find(|r| !valid_region(r)) {
        return Err(ConfigError::Region {
            flag: "--region",
            value: bad.clone(),
        }
        .into());
    }
    let roles = a
        .role_arns
        .iter()
        .map(|arn| match role_account(arn) {
            Some(account_id) => Ok(MemberRole {
                arn: arn.clone(),
                account_id,
            }),
            None => Err(SettingsError::RoleArn(arn.clone())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if a.skip_home_account && roles.is_empty() {
        return Err(SettingsError::NoAccount);
    }
    if let Some(bad) = a.service_ids.iter().find(|s| !valid_prefixed_id(s, "srv-")) {
        return Err(ConfigError::ServiceId(bad.clone()).into());
    }
    if let Some(bad) = a
        .namespace_ids
        .iter()
        .find(|s| !valid_prefixed_id(s, "ns-"))
    {
        return Err(ConfigError::NamespaceId(bad.clone()).into());
    }
    let draining = !a.service_ids.is_empty() || !a.namespace_ids.is_empty();
    match &a.service_region {
        None if draining => return Err(SettingsError::NoServiceRegion),
        Some(r) if !valid_region(r) => {
            return Err(ConfigError::Region {
                flag: "--service-region",
                value: r.clone(),
            }
            .into())
        }
        _ => {}
    }
    if a.concurrency == 0 || a.wait_timeout == 0 {
        return Err(SettingsError::Zero);
    }
    for (flag, value) in [
        ("--drain-seconds", a.drain_seconds),
        ("--wait-timeout", a.wait_timeout),
    ] {
        if value > MAX_WAIT {
            return Err(SettingsError::TooLong { flag, value });
        }
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

/// The candidate an instance of `target` makes, or `None` without an id or a known state.
fn candidate(target: &Target, inst: &Instance) -> Option<Candidate> {
    let id = inst.instance_id()?;
    let state = InstanceState::parse(inst.state()?.name()?.as_str())?;
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
    Some(Candidate {
        target: target.clone(),
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
    })
}

/// Every instance matching the selection in every target, `--concurrency` targets at a time.
pub async fn discover(
    targets: &[Target],
    s: &Settings,
) -> Result<Vec<Candidate>, DecommissionError> {
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
        .map(|t| {
            let filters = filters.clone();
            async move {
                let found = ec2::describe_where(t, filters).await.map_err(|source| {
                    DecommissionError::Discover {
                        account: t.account.clone(),
                        region: t.region.clone(),
                        source,
                    }
                })?;
                Ok::<_, DecommissionError>(
                    found
                        .iter()
                        .filter_map(|i| candidate(t, i))
                        .collect::<Vec<_>>(),
                )
            }
        })
        .collect();
    let found: Vec<Result<Vec<Candidate>, DecommissionError>> = stream::iter(jobs)
        .buffer_unordered(s.concurrency)
        .collect()
        .await;
    let mut all = Vec::new();
    for f in found {
        all.extend(f?);
    }
    all.sort_by(|a, b| {
        (a.target.account.as_str(), &a.target.region, &a.instance_id).cmp(&(
            b.target.account.as_str(),
            &b.target.region,
            &b.instance_id,
        ))
    });
    Ok(all)
}

/// Marks, for each candidate, the selected services it is registered in.
pub async fn find_registrations(
    client: &aws_sdk_servicediscovery::Client,
    s: &Settings,
    found: &mut [Candidate],
) -> Result<(), DecommissionError> {
    let mut services = s.service_ids.clone();
    for ns in &s.namespace_ids {
        services.extend(
            cloudmap::list_services(client, ns)
                .await
                .map_err(DecommissionError::Registrations)?,
        );
    }
    for svc in services {
        let ids: HashSet<String> = cloudmap::list_registrations(client, &svc)
            .await
            .map_err(DecommissionError::Registrations)?
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
            (
                |a| {
                    a.service_ids = vec!["srv_1".into()];
                    a.service_region = Some("us-east-1".into())
                },
                "invalid --service-id",
            ),
            (|a| a.concurrency = 0, "at least 1"),
        ];
        for (mutate, message) in cases {
            let mut a = args();
            mutate(&mut a);
            let e = settings(&a).unwrap_err().to_string();
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
