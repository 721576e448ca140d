//! Configuration: `cli` (the clap flags and their `CLOUD_UNMAP_*` variables), and what the rest of
//! the program trusts instead: the worker's validated `Config` (here), `decommission::Settings` and
//! `restore::Settings`. Bad input is a `ConfigError` before any AWS call (one line, exit 2).
//! Imports only the model and the error type.

pub mod cli;
pub mod decommission;
mod error;
pub mod organization;
pub mod restore;

pub use error::ConfigError;

use std::time::Duration;

use crate::config::cli::{LogFormat, RunArgs};
use crate::model::domain::{cloudmap_arn, role_account, valid_prefixed_id, valid_region};
use crate::model::plan::NotFoundBound;

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
    /// `--event-batches`: batches worked at once.
    pub event_batches: usize,
    /// `--revision-sweep-size`: most services one revision sweep reads.
    pub revision_sweep_size: usize,
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
    /// `--budget-*`: requests per second of each API family, per account and region.
    pub budgets: crate::model::budget::Limits,
    /// `--on-scheduled-reboot ignore`: reboot and maintenance events change nothing.
    pub ignore_scheduled_reboots: bool,
    /// `--organization-id` and its companions: organization mode.
    pub organization: Option<organization::Organization>,
}

/// The longest reconcile period (a day): every duration the program adds up stays far from overflow.
pub const MAX_FREQUENCY: u64 = crate::model::request::MAX_PERIOD;
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
pub(crate) fn dedup(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let v = v.trim().to_string();
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// `--log-level` (any subcommand's).
pub(crate) fn log_level(value: &str) -> Result<tracing::Level, ConfigError> {
    parse_log_level(value).ok_or_else(|| ConfigError::LogLevel(value.to_string()))
}

/// The roles of `flag` (`--instances-role-arn`, `--role-arn`), each with the account its ARN names.
pub(crate) fn member_roles(
    flag: &'static str,
    arns: &[String],
) -> Result<Vec<MemberRole>, ConfigError> {
    arns.iter()
        .map(|arn| match role_account(arn) {
            Some(account_id) => Ok(MemberRole {
                arn: arn.clone(),
                account_id,
            }),
            None => Err(ConfigError::RoleArn {
                flag,
                value: arn.clone(),
            }),
        })
        .collect()
}

impl Config {
    /// Validates the parsed flags. Nothing here touches the network.
    pub fn from_args(args: &RunArgs) -> Result<Config, ConfigError> {
        let watch = &args.watch;
        let log_level = log_level(&watch.log_level)?;
        let service_ids = dedup(&watch.services.service_ids);
        let namespace_ids = dedup(&watch.services.namespace_ids);
        let (service_region, flag) = watch
            .services
            .region()
            .ok_or(ConfigError::NoServiceRegion)?;
        if !valid_region(&service_region) {
            return Err(ConfigError::Region {
                flag,
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
        let instances_regions = dedup(&watch.instances.instances_regions);
        if instances_regions.is_empty() {
            return Err(ConfigError::NoInstancesRegion);
        }
        if let Some(bad) = instances_regions.iter().find(|r| !valid_region(r)) {
            return Err(ConfigError::Region {
                flag: "--instances-region",
                value: bad.clone(),
            });
        }
        let member_roles = member_roles(
            "--instances-role-arn",
            &dedup(&watch.instances.instances_role_arns),
        )?;
        let service_tags = dedup(&watch.service_tags)
            .into_iter()
            .map(|t| parse_tag(&t).ok_or(ConfigError::ServiceTag(t)))
            .collect::<Result<Vec<_>, _>>()?;
        if service_ids.is_empty() && namespace_ids.is_empty() && service_tags.is_empty() {
            return Err(ConfigError::NothingSelected);
        }
        if !(1..=MAX_FREQUENCY).contains(&args.frequency) {
            return Err(ConfigError::Frequency(args.frequency));
        }
        let max_not_found = parse_not_found_bound(&watch.max_not_found)
            .ok_or_else(|| ConfigError::MaxNotFound(watch.max_not_found.clone()))?;
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
        if watch.concurrency == 0 {
            return Err(ConfigError::Zero("--concurrency"));
        }
        if args.events.event_batches == 0 {
            return Err(ConfigError::Zero("--event-batches"));
        }
        if !valid_host(&args.prometheus_host) {
            return Err(ConfigError::Host(args.prometheus_host.clone()));
        }
        let queue = match watch
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
        let state_table = match watch.state_table.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) if !valid_table(t) => return Err(ConfigError::StateTable(t.to_string())),
            Some(_) if queue.is_none() => return Err(ConfigError::StateTableWithoutQueue),
            Some(t) => Some(t.to_string()),
        };
        let lifecycle_hook_names = dedup(&watch.lifecycle_hook_names);
        if let Some(bad) = lifecycle_hook_names.iter().find(|n| !valid_hook_name(n)) {
            return Err(ConfigError::HookName(bad.clone()));
        }
        let lifecycle_drain = match watch.lifecycle_drain_seconds.as_deref().map(str::trim) {
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
        let organization = organization::from_args(&watch.organization)?;
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
            deregister_stopped: watch.deregister_stopped,
            allow_empty_service: watch.allow_empty_service,
            dry_run: args.dry_run,
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            concurrency: watch.concurrency,
            event_batches: args.events.event_batches,
            revision_sweep_size: args.events.revision_sweep_size,
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
            budgets: budget_limits(&args.budget)?,
            ignore_scheduled_reboots: args.on_scheduled_reboot
                == crate::config::cli::choices::OnScheduledReboot::Ignore,
            organization,
        })
    }
}

mod parse;
pub use parse::*;

#[cfg(test)]
mod tests;
