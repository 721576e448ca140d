//! Validated configuration: turns the parsed command line into a `Config` the rest of the program
//! trusts, rejecting bad input before any AWS call (exit 2).

use std::time::Duration;

use crate::cli::{LogFormat, RunArgs};
use crate::domain::{role_account, valid_account_id, valid_prefixed_id, valid_region};

/// A configuration problem, reported as one line on stderr with exit code 2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "invalid --service-id {0:?}: expected a Cloud Map service id like srv-abcdef0123456789"
    )]
    ServiceId(String),
    #[error(
        "invalid --namespace-id {0:?}: expected a Cloud Map namespace id like ns-abcdef0123456789"
    )]
    NamespaceId(String),
    #[error("invalid {flag} {value:?}: expected an AWS region like eu-west-1")]
    Region { flag: &'static str, value: String },
    #[error(
        "invalid --instances-role-arn {0:?}: expected arn:aws:iam::<12-digit account>:role/<name>"
    )]
    RoleArn(String),
    #[error("missing --service-region: the region of the Cloud Map services")]
    NoServiceRegion,
    #[error("missing --instances-region: at least one region where EC2 instances live")]
    NoInstancesRegion,
    #[error("nothing selected: give at least one --service-id or --namespace-id")]
    NothingSelected,
    #[error("invalid --frequency 0: the reconcile period must be at least 1 second")]
    Frequency,
    #[error("invalid --concurrency 0: must be at least 1")]
    Concurrency,
    #[error("invalid --log-level {0:?}: expected TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL")]
    LogLevel(String),
    #[error("invalid --prometheus-host {0:?}: expected an IP address or a host name")]
    Host(String),
    #[error("invalid --queue-url {0:?}: expected an SQS queue URL like https://sqs.eu-west-1.amazonaws.com/111111111111/name")]
    QueueUrl(String),
    #[error("--dry-run cannot be combined with --queue-url: a dry replica would consume events the real one needs")]
    DryRunQueue,
    #[error("--single-run cannot be combined with --queue-url: the event loop only runs in long-running mode")]
    SingleRunQueue,
}

/// An IAM role in a member account whose EC2 instances are also looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRole {
    pub arn: String,
    pub account_id: String,
}

/// The validated worker configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub service_ids: Vec<String>,
    pub namespace_ids: Vec<String>,
    pub service_region: String,
    pub instances_regions: Vec<String>,
    pub member_roles: Vec<MemberRole>,
    pub frequency: Duration,
    pub single_run: bool,
    pub http_host: String,
    pub http_port: u16,
    pub log_level: tracing::Level,
    pub log_format: Option<LogFormat>,
    pub deregister_stopped: bool,
    pub allow_empty_service: bool,
    pub dry_run: bool,
    pub shutdown_timeout: Duration,
    pub concurrency: usize,
    /// The event queue, if the event loop is on.
    pub queue: Option<Queue>,
}

/// The SQS queue of the event loop and the (home) account that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub url: String,
    pub account_id: String,
}

/// Parses `http(s)://host/<12-digit account>/<name>` and returns the account id.
pub fn queue_account(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let mut parts = rest.split('/');
    let (host, account, name) = (parts.next()?, parts.next()?, parts.next()?);
    let name_ok = !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    (parts.next().is_none() && !host.is_empty() && valid_account_id(account) && name_ok)
        .then(|| account.to_string())
}

/// Maps the seed's level names (Python logging) and Rust's onto a tracing level.
pub fn parse_log_level(value: &str) -> Option<tracing::Level> {
    match value.to_ascii_uppercase().as_str() {
        "TRACE" => Some(tracing::Level::TRACE),
        "DEBUG" => Some(tracing::Level::DEBUG),
        "INFO" => Some(tracing::Level::INFO),
        "WARN" | "WARNING" => Some(tracing::Level::WARN),
        "ERROR" | "CRITICAL" => Some(tracing::Level::ERROR),
        _ => None,
    }
}

fn valid_host(value: &str) -> bool {
    value.parse::<std::net::IpAddr>().is_ok()
        || (!value.is_empty()
            && value.len() <= 253
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
}

/// Removes repeats while keeping the first occurrence's order.
fn dedup(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let v = v.trim().to_string();
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

impl Config {
    /// Validates the parsed flags. Nothing here touches the network.
    pub fn from_args(args: &RunArgs) -> Result<Config, ConfigError> {
        let log_level = parse_log_level(&args.log_level)
            .ok_or_else(|| ConfigError::LogLevel(args.log_level.clone()))?;
        let service_ids = dedup(&args.service_ids);
        if let Some(bad) = service_ids.iter().find(|s| !valid_prefixed_id(s, "srv-")) {
            return Err(ConfigError::ServiceId(bad.clone()));
        }
        let namespace_ids = dedup(&args.namespace_ids);
        if let Some(bad) = namespace_ids.iter().find(|s| !valid_prefixed_id(s, "ns-")) {
            return Err(ConfigError::NamespaceId(bad.clone()));
        }
        let service_region = args
            .service_region
            .clone()
            .ok_or(ConfigError::NoServiceRegion)?;
        if !valid_region(&service_region) {
            return Err(ConfigError::Region {
                flag: "--service-region",
                value: service_region,
            });
        }
        let instances_regions = dedup(&args.instances_regions);
        if instances_regions.is_empty() {
            return Err(ConfigError::NoInstancesRegion);
        }
        if let Some(bad) = instances_regions.iter().find(|r| !valid_region(r)) {
            return Err(ConfigError::Region {
                flag: "--instances-region",
                value: bad.clone(),
            });
        }
        let member_roles = dedup(&args.instances_role_arns)
            .into_iter()
            .map(|arn| match role_account(&arn) {
                Some(account_id) => Ok(MemberRole { arn, account_id }),
                None => Err(ConfigError::RoleArn(arn)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if service_ids.is_empty() && namespace_ids.is_empty() {
            return Err(ConfigError::NothingSelected);
        }
        if args.frequency == 0 {
            return Err(ConfigError::Frequency);
        }
        if args.concurrency == 0 {
            return Err(ConfigError::Concurrency);
        }
        if !valid_host(&args.prometheus_host) {
            return Err(ConfigError::Host(args.prometheus_host.clone()));
        }
        let queue = match args
            .queue_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => None,
            Some(url) => Some(Queue {
                url: url.to_string(),
                account_id: queue_account(url)
                    .ok_or_else(|| ConfigError::QueueUrl(url.to_string()))?,
            }),
        };
        if queue.is_some() && args.dry_run {
            return Err(ConfigError::DryRunQueue);
        }
        if queue.is_some() && args.single_run {
            return Err(ConfigError::SingleRunQueue);
        }
        Ok(Config {
            service_ids,
            namespace_ids,
            service_region,
            instances_regions,
            member_roles,
            frequency: Duration::from_secs(args.frequency),
            single_run: args.single_run,
            http_host: args.prometheus_host.clone(),
            http_port: args.prometheus_port,
            log_level,
            log_format: args.log_format,
            deregister_stopped: args.deregister_stopped,
            allow_empty_service: args.allow_empty_service,
            dry_run: args.dry_run,
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            concurrency: args.concurrency,
            queue,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RunArgs {
        RunArgs {
            service_ids: vec!["srv-abcdef0123456789".into()],
            service_region: Some("eu-west-1".into()),
            instances_regions: vec!["eu-west-1".into(), "us-east-1".into()],
            frequency: 300,
            prometheus_host: "0.0.0.0".into(),
            prometheus_port: 9100,
            log_level: "INFO".into(),
            shutdown_timeout: 25,
            concurrency: 10,
            ..RunArgs::default()
        }
    }

    #[test]
    fn accepts_seed_invocation() {
        let c = Config::from_args(&args()).unwrap();
        assert_eq!(c.service_ids, vec!["srv-abcdef0123456789"]);
        assert_eq!(c.instances_regions, vec!["eu-west-1", "us-east-1"]);
        assert_eq!(c.frequency, Duration::from_secs(300));
    }

    #[test]
    fn rejects_bad_input_with_the_offending_value() {
        type Mutation = Box<dyn Fn(&mut RunArgs)>;
        let cases: Vec<(Mutation, ConfigError)> = vec![
            (
                Box::new(|a| a.service_ids = vec!["svc-1".into()]),
                ConfigError::ServiceId("svc-1".into()),
            ),
            (
                Box::new(|a| a.namespace_ids = vec!["ns_1".into()]),
                ConfigError::NamespaceId("ns_1".into()),
            ),
            (
                Box::new(|a| a.service_region = Some("europe".into())),
                ConfigError::Region {
                    flag: "--service-region",
                    value: "europe".into(),
                },
            ),
            (
                Box::new(|a| a.instances_regions = vec!["us-east-01".into()]),
                ConfigError::Region {
                    flag: "--instances-region",
                    value: "us-east-01".into(),
                },
            ),
            (
                Box::new(|a| a.instances_regions = vec![]),
                ConfigError::NoInstancesRegion,
            ),
            (
                Box::new(|a| a.service_region = None),
                ConfigError::NoServiceRegion,
            ),
            (
                Box::new(|a| a.service_ids = vec![]),
                ConfigError::NothingSelected,
            ),
            (Box::new(|a| a.frequency = 0), ConfigError::Frequency),
            (Box::new(|a| a.concurrency = 0), ConfigError::Concurrency),
            (
                Box::new(|a| a.log_level = "LOUD".into()),
                ConfigError::LogLevel("LOUD".into()),
            ),
            (
                Box::new(|a| a.instances_role_arns = vec!["arn:aws:iam::12:role/x".into()]),
                ConfigError::RoleArn("arn:aws:iam::12:role/x".into()),
            ),
        ];
        for (mutate, expected) in cases {
            let mut a = args();
            mutate(&mut a);
            assert_eq!(Config::from_args(&a).unwrap_err(), expected);
        }
    }

    #[test]
    fn queue_urls() {
        assert_eq!(
            queue_account("https://sqs.eu-west-1.amazonaws.com/111111111111/cloud-unmap-events")
                .as_deref(),
            Some("111111111111")
        );
        assert_eq!(
            queue_account("http://127.0.0.1:5000/123456789012/q.fifo").as_deref(),
            Some("123456789012")
        );
        for bad in [
            "sqs/q",
            "https://h/12/q",
            "https://h/123456789012/",
            "https://h/123456789012/a/b",
            "ftp://h/123456789012/q",
        ] {
            assert_eq!(queue_account(bad), None, "{bad}");
        }
        let mut a = args();
        a.queue_url = Some("https://sqs.eu-west-1.amazonaws.com/111111111111/q".into());
        a.dry_run = true;
        assert_eq!(Config::from_args(&a).unwrap_err(), ConfigError::DryRunQueue);
        a.queue_url = Some("queue".into());
        a.dry_run = false;
        assert_eq!(
            Config::from_args(&a).unwrap_err(),
            ConfigError::QueueUrl("queue".into())
        );
    }

    #[test]
    fn seed_log_levels() {
        assert_eq!(parse_log_level("warning"), Some(tracing::Level::WARN));
        assert_eq!(parse_log_level("CRITICAL"), Some(tracing::Level::ERROR));
        assert_eq!(parse_log_level("verbose"), None);
    }

    #[test]
    fn repeats_are_folded() {
        let mut a = args();
        a.service_ids = vec!["srv-a1".into(), "srv-a1".into(), "srv-b2".into()];
        assert_eq!(
            Config::from_args(&a).unwrap().service_ids,
            vec!["srv-a1", "srv-b2"]
        );
    }
}
