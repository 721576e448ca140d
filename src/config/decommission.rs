//! `decommission`'s validated `Settings`: which instances (tags, ids, regions, accounts), which
//! services to drain them from, and the waits, checked before any AWS call.

use std::time::Duration;

use crate::config::cli::{DecommissionArgs, OutputFormat};
use crate::config::{log_level, member_roles, ConfigError, MemberRole};
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
        let tags = a
            .tags
            .iter()
            .map(|t| match t.split_once('=') {
                Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                    Ok((k.to_string(), v.to_string()))
                }
                _ => Err(ConfigError::Tag(t.clone())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(bad) = a.instance_ids.iter().find(|i| !is_ec2_instance_id(i)) {
            return Err(ConfigError::InstanceId(bad.clone()));
        }
        if tags.is_empty() && a.instance_ids.is_empty() {
            return Err(ConfigError::NoInstanceSelected);
        }
        if a.regions.is_empty() {
            return Err(ConfigError::NoRegion);
        }
        if let Some(bad) = a.regions.iter().find(|r| !valid_region(r)) {
            return Err(ConfigError::Region {
                flag: "--region",
                value: bad.clone(),
            });
        }
        let roles = member_roles("--role-arn", &a.role_arns)?;
        if a.skip_home_account && roles.is_empty() {
            return Err(ConfigError::NoAccount);
        }
        if let Some(bad) = a.service_ids.iter().find(|s| !valid_prefixed_id(s, "srv-")) {
            return Err(ConfigError::ServiceId(bad.clone()));
        }
        if let Some(bad) = a
            .namespace_ids
            .iter()
            .find(|s| !valid_prefixed_id(s, "ns-"))
        {
            return Err(ConfigError::NamespaceId(bad.clone()));
        }
        let draining = !a.service_ids.is_empty() || !a.namespace_ids.is_empty();
        match &a.service_region {
            None if draining => return Err(ConfigError::DrainWithoutServiceRegion),
            Some(r) if !valid_region(r) => {
                return Err(ConfigError::Region {
                    flag: "--service-region",
                    value: r.clone(),
                })
            }
            _ => {}
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
            detach: a.detach,
            allow_empty_service: a.allow_empty_service,
            dry_run: a.dry_run,
            yes: a.yes,
            concurrency: a.concurrency,
            output: a.output,
            log_level,
        })
    }
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
        assert!(Settings::from_args(&args()).is_ok());
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
    fn instance_ids_alone_select() {
        let mut a = args();
        a.tags = vec![];
        a.instance_ids = vec!["i-0123456789abcdef0".into()];
        let s = Settings::from_args(&a).unwrap();
        assert_eq!(s.log_level, tracing::Level::WARN);
    }
}
