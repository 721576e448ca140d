//! Configuration: `cli` (the clap flags and their `CLOUD_UNMAP_*` variables) and the validated
//! `Config` the rest of the program trusts, rejecting bad input before any AWS call (exit 2).
//! Imports only the model and the error type.

pub mod cli;

use std::time::Duration;

use crate::config::cli::{LogFormat, RunArgs};
use crate::model::domain::{cloudmap_arn, role_account, valid_prefixed_id, valid_region};
use crate::model::plan::NotFoundBound;

/// A configuration problem, reported as one line on stderr with exit code 2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "invalid --service-id {0:?}: expected a Cloud Map service id like srv-abcdef0123456789, or its ARN"
    )]
    ServiceId(String),
    #[error(
        "invalid --namespace-id {0:?}: expected a Cloud Map namespace id like ns-abcdef0123456789, or its ARN"
    )]
    NamespaceId(String),
    #[error("invalid {flag} {value:?}: expected an AWS region like eu-west-1")]
    Region { flag: &'static str, value: String },
    #[error(
        "invalid --instances-role-arn {0:?}: expected arn:aws:iam::<12-digit account>:role/<name>"
    )]
    RoleArn(String),
    #[error("{flag} {value:?} names region {region}, not --service-region {service_region}: Cloud Map is regional")]
    ArnRegion {
        flag: &'static str,
        value: String,
        region: String,
        service_region: String,
    },
    #[error("missing --service-region: the region of the Cloud Map services")]
    NoServiceRegion,
    #[error("missing --instances-region: at least one region where EC2 instances live")]
    NoInstancesRegion,
    #[error("nothing selected: give at least one --service-id, --namespace-id or --service-tag")]
    NothingSelected,
    #[error("invalid --service-tag {0:?}: expected KEY=VALUE (a key of 1 to 128 characters, a value of at most 256)")]
    ServiceTag(String),
    #[error("invalid --frequency {0}: the reconcile period must be 1 to 86400 seconds")]
    Frequency(u64),
    #[error("invalid --max-not-found {0:?}: expected a percentage like 10% (0% to 100%) or a count like 5")]
    MaxNotFound(String),
    #[error("invalid --not-found-grace {0}: at most 3600 seconds")]
    NotFoundGrace(u64),
    #[error("invalid --shutdown-timeout {0}: at most 3600 seconds")]
    ShutdownTimeout(u64),
    #[error("invalid --stall-timeout {0}: 1 to 3600 seconds")]
    StallTimeout(u64),
    #[error("invalid --scheduled-lead-seconds {0}: at most 86400 (a day)")]
    ScheduledLead(u64),
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
    #[error("invalid --lifecycle-hook-name {0:?}: expected 1 to 255 characters of A-Z, a-z, 0-9, -, _ and /")]
    HookName(String),
    #[error("invalid --lifecycle-drain-seconds {0:?}: expected whole seconds from 0 to 172800 (48 h, the longest a lifecycle action can wait)")]
    DrainSeconds(String),
    #[error("invalid --audit-event-bus {0:?}: expected an event bus name (1 to 256 of A-Z, a-z, 0-9, ., -, _, /) or its ARN")]
    AuditBus(String),
    #[error("invalid --state-table {0:?}: expected a DynamoDB table name (3 to 255 of A-Z, a-z, 0-9, _, -, .) or its ARN")]
    StateTable(String),
    #[error("--state-table needs --queue-url: the table coordinates replicas that share the queue's reconcile")]
    StateTableWithoutQueue,
    #[error("--single-run cannot be combined with --queue-url: the event loop only runs in long-running mode")]
    SingleRunQueue,
}

pub use crate::model::domain::MemberRole;

/// The validated worker configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub service_ids: Vec<String>,
    pub namespace_ids: Vec<String>,
    /// `--service-tag`: every service carrying all of these tags.
    pub service_tags: Vec<(String, String)>,
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
    /// `--state-table`: the replicas on the queue share the reconcile.
    pub state_table: Option<String>,
    /// Lifecycle hooks whose actions cloud-unmap completes.
    pub lifecycle_hook_names: Vec<String>,
    /// `--lifecycle-drain-seconds`; `None`: the largest DNS TTL of the services left.
    pub lifecycle_drain: Option<Duration>,
    pub max_not_found: NotFoundBound,
    pub not_found_grace: Duration,
    pub stall_timeout: Duration,
    /// `--audit-event-bus`: name or ARN, and the region of its client.
    pub audit_event_bus: Option<(String, String)>,
    /// `--scheduled-lead-seconds`.
    pub scheduled_lead: Duration,
    /// `--on-rebalance deregister`.
    pub on_rebalance: bool,
}

/// The longest reconcile period (a day): every duration the program adds up stays far from overflow.
pub const MAX_FREQUENCY: u64 = 86_400;
/// The longest `--not-found-grace`, `--shutdown-timeout` and `--stall-timeout`.
pub const MAX_GRACE: u64 = 3_600;

/// Auto Scaling's longest wait for a lifecycle action (its global timeout's ceiling).
pub const MAX_LIFECYCLE_WAIT: Duration = Duration::from_secs(172_800);

/// The SQS queue of the event loop and the (home) account that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub url: String,
    pub account_id: String,
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
        let namespace_ids = dedup(&args.namespace_ids);
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
        for (values, flag, kind, prefix) in [
            (&service_ids, "--service-id", "service", "srv-"),
            (&namespace_ids, "--namespace-id", "namespace", "ns-"),
        ] {
            for value in values {
                if valid_prefixed_id(value, prefix) {
                    continue;
                }
                let Some(arn) = cloudmap_arn(value, kind, prefix) else {
                    return Err(if kind == "service" {
                        ConfigError::ServiceId(value.clone())
                    } else {
                        ConfigError::NamespaceId(value.clone())
                    });
                };
                if arn.region != service_region {
                    return Err(ConfigError::ArnRegion {
                        flag,
                        value: value.clone(),
                        region: arn.region.to_string(),
                        service_region,
                    });
                }
            }
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
        let service_tags = dedup(&args.service_tags)
            .into_iter()
            .map(|t| parse_tag(&t).ok_or(ConfigError::ServiceTag(t)))
            .collect::<Result<Vec<_>, _>>()?;
        if service_ids.is_empty() && namespace_ids.is_empty() && service_tags.is_empty() {
            return Err(ConfigError::NothingSelected);
        }
        if !(1..=MAX_FREQUENCY).contains(&args.frequency) {
            return Err(ConfigError::Frequency(args.frequency));
        }
        let max_not_found = parse_not_found_bound(&args.max_not_found)
            .ok_or_else(|| ConfigError::MaxNotFound(args.max_not_found.clone()))?;
        if args.not_found_grace > MAX_GRACE {
            return Err(ConfigError::NotFoundGrace(args.not_found_grace));
        }
        if args.shutdown_timeout > MAX_GRACE {
            return Err(ConfigError::ShutdownTimeout(args.shutdown_timeout));
        }
        if !(1..=MAX_GRACE).contains(&args.stall_timeout) {
            return Err(ConfigError::StallTimeout(args.stall_timeout));
        }
        if args.scheduled_lead_seconds > MAX_FREQUENCY {
            return Err(ConfigError::ScheduledLead(args.scheduled_lead_seconds));
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
        let state_table = match args.state_table.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) if !valid_table(t) => return Err(ConfigError::StateTable(t.to_string())),
            Some(_) if queue.is_none() => return Err(ConfigError::StateTableWithoutQueue),
            Some(t) => Some(t.to_string()),
        };
        let lifecycle_hook_names = dedup(&args.lifecycle_hook_names);
        if let Some(bad) = lifecycle_hook_names.iter().find(|n| !valid_hook_name(n)) {
            return Err(ConfigError::HookName(bad.clone()));
        }
        let lifecycle_drain = match args.lifecycle_drain_seconds.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .ok()
                    .map(Duration::from_secs)
                    .filter(|d| *d <= MAX_LIFECYCLE_WAIT)
                    .ok_or_else(|| ConfigError::DrainSeconds(s.to_string()))?,
            ),
        };
        let audit_event_bus = match args
            .audit_event_bus
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            None => None,
            Some(bus) => Some((
                bus.to_string(),
                audit_bus_region(bus, &service_region)
                    .ok_or_else(|| ConfigError::AuditBus(bus.to_string()))?,
            )),
        };
        Ok(Config {
            service_ids,
            namespace_ids,
            service_tags,
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
            state_table,
            lifecycle_hook_names,
            lifecycle_drain,
            max_not_found,
            not_found_grace: Duration::from_secs(args.not_found_grace),
            stall_timeout: Duration::from_secs(args.stall_timeout),
            audit_event_bus,
            scheduled_lead: Duration::from_secs(args.scheduled_lead_seconds),
            on_rebalance: args.on_rebalance == crate::config::cli::OnRebalance::Deregister,
        })
    }
}

mod parse;
pub use parse::*;

#[cfg(test)]
mod tests;
