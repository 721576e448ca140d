//! `WatchArgs`: the worker's flags that `check` uses too — which services, where their instances
//! are, how a registration is judged, the event path — flattened into both. The worker's own flags
//! (its loop, HTTP server, logs, shutdown) stay in `RunArgs`.

use clap::Args;

use super::groups::{InstancesArgs, ServiceArgs};
use super::organization::OrganizationArgs;

/// What the worker watches and how it judges it: everything `check` reads.
#[derive(Debug, Clone, Args, Default)]
pub struct WatchArgs {
    #[command(flatten)]
    pub services: ServiceArgs,
    /// Every service of the home account and --service-region carrying this tag (KEY=VALUE), re-resolved
    /// each cycle; repeatable, all must match.
    #[arg(long = "service-tag", value_name = "KEY=VALUE", env = "CLOUD_UNMAP_SERVICE_TAG", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub service_tags: Vec<String>,
    #[command(flatten)]
    pub instances: InstancesArgs,
    /// [seed] Minimum log level: TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL (any case).
    #[arg(
        long,
        value_name = "LEVEL",
        env = "CLOUD_UNMAP_LOG_LEVEL",
        default_value = "INFO"
    )]
    pub log_level: String,
    /// Count stopping/stopped instances as gone (default: kept, as the seed does).
    #[arg(long, env = "CLOUD_UNMAP_DEREGISTER_STOPPED")]
    pub deregister_stopped: bool,
    /// Turn the never-empty guard off: allow a reconcile to remove every registration of a service.
    #[arg(long, env = "CLOUD_UNMAP_ALLOW_EMPTY_SERVICE")]
    pub allow_empty_service: bool,
    /// SQS queue fed by the EventBridge rules: turns the event loop on, beside the periodic
    /// reconcile. The queue belongs to the home account (its URL names it).
    #[arg(long, value_name = "URL", env = "CLOUD_UNMAP_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// DynamoDB table (name or ARN) the replicas on the queue share: the queue's scheduled reconcile
    /// message then runs one cycle among all of them, every replica's metrics and readiness follow
    /// each service's last success by any of them, and a replica runs the cycle itself when none ran
    /// for 2 x the period (the backstop). Needs --queue-url. Without it, each replica reconciles on
    /// its own timer.
    #[arg(long, value_name = "NAME|ARN", env = "CLOUD_UNMAP_STATE_TABLE")]
    pub state_table: Option<String>,
    /// How many AWS calls of one kind (deregistrations, lookups, messages of a batch) run at once.
    #[arg(
        long,
        value_name = "N",
        env = "CLOUD_UNMAP_CONCURRENCY",
        default_value_t = 16
    )]
    pub concurrency: usize,
    /// Auto Scaling lifecycle hook names cloud-unmap owns: only their terminate actions are completed
    /// (CONTINUE, after the drain). Another hook's action still deregisters the instance but is left
    /// to its owner. Repeatable.
    #[arg(long = "lifecycle-hook-name", value_name = "NAME", env = "CLOUD_UNMAP_LIFECYCLE_HOOK_NAME", value_delimiter = ',', action = clap::ArgAction::Append, default_value = "cloud-unmap")]
    pub lifecycle_hook_names: Vec<String>,
    /// Seconds between an instance leaving every service and its lifecycle action's CONTINUE
    /// (default, or empty: the largest DNS record TTL of the services it left; 0 without DNS records).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CLOUD_UNMAP_LIFECYCLE_DRAIN_SECONDS"
    )]
    pub lifecycle_drain_seconds: Option<String>,
    /// Hold every `not-found` deregistration of a service when more than this many of its registrations
    /// are not found at once (N% of its IPv4 registrations and more than 2, or a COUNT): the sign of a
    /// forgotten account or region. `100%` turns the hold off (a first clean-up of an old namespace).
    #[arg(
        long,
        value_name = "N%|COUNT",
        env = "CLOUD_UNMAP_MAX_NOT_FOUND",
        default_value = "10%"
    )]
    pub max_not_found: String,
    #[command(flatten)]
    pub organization: OrganizationArgs,
}
