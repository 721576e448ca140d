//! `decommission`'s validated `Settings`: which instances (tags, ids, regions, accounts), which
//! services to drain them from, and the waits, checked before any AWS call.

use std::time::Duration;

use crate::config::cli::{DecommissionArgs, OutputFormat};
use crate::config::{dedup, log_level, member_roles, ConfigError, MemberRole};
use crate::model::domain::{is_ec2_instance_id, valid_prefixed_id, valid_region};

/// Validated arguments of `cloud-unmap decommission`.
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
    /// `--detach`: Auto Scaling members are detached first instead of refused.
    pub detach: bool,
    /// `--allow-empty-service`: a drain may empty a service.
    pub allow_empty_service: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub concurrency: usize,
    pub output: OutputFormat,
    /// `--log-level`, for the diagnostics on stderr.
    pub log_level: tracing::Level,
}

/// The longest `--drain-seconds` and `--wait-timeout` (a day): no deadline arithmetic can overflow.
pub const MAX_WAIT: u64 = 86_400;

impl Settings {
    /// Validates the parsed flags. Nothing here touches the network.
    pub fn from_args(a: &DecommissionArgs) -> Result<Settings, ConfigError> {
        let log_level = log_level(&a.log_level)?;
        let tags = dedup(&a.tags)
            .iter()
            .map(|t| match t.split_once('=') {
                Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                    Ok((k.to_string(), v.to_string()))
                }
                _ => Err(ConfigError::Tag(t.clone())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let instance_ids = dedup(&a.instance_ids);
        if let Some(bad) = instance_ids.iter().find(|i| !is_ec2_instance_id(i)) {
            return Err(ConfigError::InstanceId(bad.clone()));
        }
        if tags.is_empty() && instance_ids.is_empty() {
            return Err(ConfigError::NoInstanceSelected);
        }
        let services = &a.services;
        let service_region = services.region();
        if let Some((r, flag)) = &service_region {
            if !valid_region(r) {
                return Err(ConfigError::Region {
                    flag,
                    value: r.clone(),
                });
            }
        }
        // The instances are where their services are, unless told otherwise (as for `restore`).
        let regions = match dedup(&a.instances.instances_regions) {
            given if !given.is_empty() => given,
            _ => match &service_region {
                Some((r, _)) => vec![r.clone()],
                None => return Err(ConfigError::NoRegion),
            },
        };
        if let Some(bad) = regions.iter().find(|r| !valid_region(r)) {
            return Err(ConfigError::Region {
                flag: "--instances-region",
                value: bad.clone(),
            });
        }
        let roles = member_roles(
            "--instances-role-arn",
            &dedup(&a.instances.instances_role_arns),
        )?;
        if a.skip_home_account && roles.is_empty() {
            return Err(ConfigError::NoAccount);
        }
        // Empty values (a template's unset parameter in a worker's environment) are no selection.
        let (service_ids, namespace_ids) =
            (dedup(&services.service_ids), dedup(&services.namespace_ids));
        if let Some(bad) = service_ids.iter().find(|s| !valid_prefixed_id(s, "srv-")) {
            return Err(ConfigError::ServiceId(bad.clone()));
        }
        if let Some(bad) = namespace_ids.iter().find(|s| !valid_prefixed_id(s, "ns-")) {
            return Err(ConfigError::NamespaceId(bad.clone()));
        }
        let draining = !service_ids.is_empty() || !namespace_ids.is_empty();
        if draining && service_region.is_none() {
            return Err(ConfigError::DrainWithoutServiceRegion);
        }
        if a.concurrency == 0 {
            return Err(ConfigError::Zero("--concurrency"));
        }
        if a.wait_timeout == 0 {
            return Err(ConfigError::Zero("--wait-timeout"));
        }
        for (flag, value) in [
            ("--drain-seconds", a.drain_seconds),
            ("--wait-timeout", a.wait_timeout),
        ] {
            if value > MAX_WAIT {
                return Err(ConfigError::TooLong {
                    flag,
                    value,
                    max: MAX_WAIT,
                });
            }
        }
        Ok(Settings {
            tags,
            regions,
            roles,
            include_home: !a.skip_home_account,
            instance_ids,
            service_ids,
            namespace_ids,
            service_region: service_region.map(|(r, _)| r),
            drain: Duration::from_secs(a.drain_seconds),
            wait_timeout: Duration::from_secs(a.wait_timeout),
            snapshot: !a.no_snapshot,
            detach: a.detach,
            allow_empty_service: a.allow_empty_service,
            dry_run: a.confirm.dry_run,
            yes: a.confirm.yes,
            concurrency: a.concurrency,
            output: a.report.output,
            log_level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cli::InstancesArgs;

    fn args() -> DecommissionArgs {
        DecommissionArgs {
            tags: vec!["Name=dtest*".into()],
            instances: InstancesArgs {
                instances_regions: vec!["eu-west-1".into()],
                ..Default::default()
            },
            concurrency: 8,
            wait_timeout: 900,
            drain_seconds: 30,
            log_level: "WARNING".into(),
            ..Default::default()
        }
    }

    #[test]
    fn refuses_bad_or_empty_selection() {
        assert!(Settings::from_args(&args()).is_ok());
        type Case = (fn(&mut DecommissionArgs), &'static str);
        let cases: Vec<Case> = vec![
            (|a| a.tags = vec![], "nothing selected"),
            (|a| a.tags = vec!["Name".into()], "KEY=VALUE"),
            (|a| a.tags = vec!["=x".into()], "KEY=VALUE"),
            (
                |a| a.instances.instances_regions = vec![],
                "missing --instances-region",
            ),
            (
                |a| a.instances.instances_regions = vec!["mars-1".into()],
                "invalid --instances-region",
            ),
            (
                |a| a.instance_ids = vec!["web-1".into()],
                "invalid --instance-id",
            ),
            (
                |a| a.instances.instances_role_arns = vec!["arn:aws:iam::1:role/x".into()],
                "invalid --instances-role-arn",
            ),
            (|a| a.skip_home_account = true, "no account"),
            (
                |a| a.services.service_ids = vec!["srv-1".into()],
                "need --service-region",
            ),
            (
                |a| {
                    a.services.service_ids = vec!["srv_1".into()];
                    a.services.service_region = Some("us-east-1".into())
                },
                "invalid --service-id",
            ),
            (|a| a.concurrency = 0, "at least 1"),
            (|a| a.wait_timeout = 0, "invalid --wait-timeout 0"),
            (|a| a.drain_seconds = 86_401, "at most 86400 seconds"),
            (|a| a.log_level = "LOUD".into(), "invalid --log-level"),
        ];
        for (mutate, message) in cases {
            let mut a = args();
            mutate(&mut a);
            let e = Settings::from_args(&a).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn regions_default_to_the_service_region_then_aws_region() {
        let mut a = args();
        a.instances.instances_regions = vec![];
        a.services.aws_region = Some("ap-south-1".into());
        let s = Settings::from_args(&a).unwrap();
        assert_eq!(
            (s.regions, s.service_region.as_deref()),
            (vec!["ap-south-1".to_string()], Some("ap-south-1"))
        );
        a.services.service_region = Some("eu-west-1".into());
        assert_eq!(Settings::from_args(&a).unwrap().regions, vec!["eu-west-1"]);
        a.instances.instances_regions = vec!["us-east-1".into(), "us-east-1".into()];
        assert_eq!(Settings::from_args(&a).unwrap().regions, vec!["us-east-1"]);
    }

    #[test]
    fn instance_ids_alone_select() {
        let mut a = args();
        a.tags = vec![];
        a.instance_ids = vec!["i-0123456789abcdef0".into()];
        let s = Settings::from_args(&a).unwrap();
        assert_eq!(s.log_level, tracing::Level::WARN);
    }
}
