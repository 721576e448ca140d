//! `restore`'s validated `Settings`: where the undo records come from, which of them (`Filter`), the
//! regions and accounts that vouch for their instances, checked before any AWS call.

use std::time::{Duration, SystemTime};

use crate::config::cli::{OutputFormat, RestoreArgs};
use crate::config::{dedup, log_level, member_roles, ConfigError, MemberRole};
use crate::model::domain::{cloudmap_arn, parse_rfc3339, valid_prefixed_id, valid_region};

/// Which records to restore.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub service_ids: Vec<String>,
    /// Cloud Map instance ids or EC2 instance ids.
    pub instance_ids: Vec<String>,
    pub since: Option<SystemTime>,
}

/// Validated arguments of `cloud-unmap restore`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--from`: a file, or `-` for standard input.
    pub from: String,
    pub filter: Filter,
    pub service_region: String,
    pub instances_regions: Vec<String>,
    pub roles: Vec<MemberRole>,
    pub force: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub output: OutputFormat,
    pub concurrency: usize,
    /// `--log-level`, for the diagnostics on stderr.
    pub log_level: tracing::Level,
}

impl Settings {
    /// Validates the parsed flags (`--since` ages count back from `now`). Nothing here touches the
    /// network or reads `--from`.
    pub fn from_args(a: &RestoreArgs, now: SystemTime) -> Result<Settings, ConfigError> {
        let log_level = log_level(&a.log_level)?;
        if a.from.trim().is_empty() {
            return Err(ConfigError::NoFrom);
        }
        let (service_region, flag) = match (&a.service_region, &a.aws_region) {
            (Some(r), _) => (r.clone(), "--service-region"),
            (None, Some(r)) => (r.clone(), "AWS_REGION"),
            (None, None) => return Err(ConfigError::NoServiceRegion),
        };
        if !valid_region(&service_region) {
            return Err(ConfigError::Region {
                flag,
                value: service_region,
            });
        }
        // The instances live where their services are, unless told otherwise.
        let instances_regions = match dedup(&a.instances.instances_regions) {
            given if given.is_empty() => vec![service_region.clone()],
            given => given,
        };
        if let Some(bad) = instances_regions.iter().find(|r| !valid_region(r)) {
            return Err(ConfigError::Region {
                flag: "--instances-region",
                value: bad.clone(),
            });
        }
        // Empty values (a template's unset parameter in a worker's environment) filter nothing.
        let service_ids = dedup(&a.service_ids);
        if let Some(bad) = service_ids
            .iter()
            .find(|s| !valid_prefixed_id(s, "srv-") && cloudmap_arn(s, "service", "srv-").is_none())
        {
            return Err(ConfigError::ServiceId(bad.clone()));
        }
        if a.concurrency == 0 {
            return Err(ConfigError::Zero("--concurrency"));
        }
        let roles = member_roles(
            "--instances-role-arn",
            &dedup(&a.instances.instances_role_arns),
        )?;
        let since = match &a.since {
            None => None,
            Some(s) => Some(parse_since(s, now).ok_or_else(|| ConfigError::Since(s.clone()))?),
        };
        Ok(Settings {
            from: a.from.clone(),
            filter: Filter {
                service_ids,
                instance_ids: dedup(&a.instance_ids),
                since,
            },
            service_region,
            instances_regions,
            roles,
            force: a.force,
            dry_run: a.confirm.dry_run,
            yes: a.confirm.yes,
            output: a.report.output,
            concurrency: a.concurrency,
            log_level,
        })
    }
}

/// `2026-11-24T02:00:00Z`, or an age before `now`: `90s`, `30m`, `2h`, `7d`.
pub fn parse_since(value: &str, now: SystemTime) -> Option<SystemTime> {
    if let Some(t) = parse_rfc3339(value) {
        return Some(t);
    }
    let value = value.trim();
    let unit = match value.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    let n: u64 = value[..value.len() - 1].parse().ok()?;
    now.checked_sub(Duration::from_secs(n.checked_mul(unit)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cli::InstancesArgs;

    fn args() -> RestoreArgs {
        RestoreArgs {
            from: "-".into(),
            service_region: Some("eu-west-1".into()),
            instances: InstancesArgs {
                instances_regions: vec!["eu-west-1".into()],
                ..Default::default()
            },
            concurrency: 8,
            log_level: "WARNING".into(),
            ..Default::default()
        }
    }

    #[test]
    fn refuses_bad_flags_with_the_offending_value() {
        let now = SystemTime::now();
        let s = Settings::from_args(&args(), now).unwrap();
        assert_eq!(
            (s.service_region.as_str(), s.log_level),
            ("eu-west-1", tracing::Level::WARN)
        );
        type Case = (fn(&mut RestoreArgs), ConfigError);
        let cases: Vec<Case> = vec![
            (|a| a.from = " ".into(), ConfigError::NoFrom),
            (|a| a.service_region = None, ConfigError::NoServiceRegion),
            (
                |a| {
                    a.service_region = None;
                    a.aws_region = Some("mars".into())
                },
                ConfigError::Region {
                    flag: "AWS_REGION",
                    value: "mars".into(),
                },
            ),
            (
                |a| a.service_region = Some("mars".into()),
                ConfigError::Region {
                    flag: "--service-region",
                    value: "mars".into(),
                },
            ),
            (
                |a| a.instances.instances_regions = vec!["x".into()],
                ConfigError::Region {
                    flag: "--instances-region",
                    value: "x".into(),
                },
            ),
            (
                |a| a.service_ids = vec!["svc-1".into()],
                ConfigError::ServiceId("svc-1".into()),
            ),
            (|a| a.concurrency = 0, ConfigError::Zero("--concurrency")),
            (
                |a| a.instances.instances_role_arns = vec!["arn:aws:iam::1:role/x".into()],
                ConfigError::RoleArn {
                    flag: "--instances-role-arn",
                    value: "arn:aws:iam::1:role/x".into(),
                },
            ),
            (
                |a| a.since = Some("yesterday".into()),
                ConfigError::Since("yesterday".into()),
            ),
            (
                |a| a.log_level = "LOUD".into(),
                ConfigError::LogLevel("LOUD".into()),
            ),
        ];
        for (mutate, expected) in cases {
            let mut a = args();
            mutate(&mut a);
            assert_eq!(Settings::from_args(&a, now).unwrap_err(), expected);
        }
    }

    #[test]
    fn regions_default_to_aws_region() {
        let now = SystemTime::now();
        let a = RestoreArgs {
            service_region: None,
            instances: InstancesArgs::default(),
            aws_region: Some("ap-south-1".into()),
            ..args()
        };
        let s = Settings::from_args(&a, now).unwrap();
        assert_eq!(
            (s.service_region.as_str(), s.instances_regions),
            ("ap-south-1", vec!["ap-south-1".to_string()])
        );
        let flag_wins = RestoreArgs {
            aws_region: Some("ap-south-1".into()),
            ..args()
        };
        let s = Settings::from_args(&flag_wins, now).unwrap();
        assert_eq!(s.service_region, "eu-west-1");
    }

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_since("2h", now),
            Some(now - Duration::from_secs(7_200))
        );
        assert_eq!(parse_since("90s", now), Some(now - Duration::from_secs(90)));
        assert_eq!(
            parse_since("7d", now),
            Some(now - Duration::from_secs(604_800))
        );
        for bad in ["", "h", "2w", "-1h", "yesterday"] {
            assert_eq!(parse_since(bad, now), None, "{bad}");
        }
        let mut a = args();
        a.since = Some("2h".into());
        let s = Settings::from_args(&a, now).unwrap();
        assert_eq!(s.filter.since, Some(now - Duration::from_secs(7_200)));
    }
}
