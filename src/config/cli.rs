//! Command-line surface: the seed-compatible flags of aws-cloud-unmap 2.0.0, the new ones, and the
//! subcommands. Every flag also reads `CLOUD_UNMAP_<FLAG>` from the environment. Parsing only: the
//! semantic checks live in `config`.

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod choices;
pub mod events;
mod examples;
use examples::{CHECK_EXAMPLES, DECOMMISSION_EXAMPLES, RESTORE_EXAMPLES};

const EXAMPLES: &str = "\
Examples:
  # Seed-compatible: one service, instances in two regions, every 300 s, metrics on :9100
  cloud-unmap --service-id srv-abcdef0123456789 --service-region eu-west-1 \\
              --instances-region eu-west-1 us-east-1 --enable-prometheus

  # Every service of a namespace, plus instances of a second account, once, without changing anything
  cloud-unmap --namespace-id ns-abcdef0123456789 --service-region eu-west-1 --instances-region eu-west-1 \\
              --instances-role-arn arn:aws:iam::222222222222:role/cloud-unmap-reader --single-run --dry-run

  # The same through the environment (ECS task definitions)
  CLOUD_UNMAP_SERVICE_ID=srv-abcdef0123456789 CLOUD_UNMAP_SERVICE_REGION=eu-west-1 \\
  CLOUD_UNMAP_INSTANCES_REGION=eu-west-1,us-east-1 cloud-unmap

  # Event-driven: react to EC2 / Auto Scaling events within milliseconds, reconcile every 5 min as backstop
  cloud-unmap --namespace-id ns-abcdef0123456789 --service-region eu-west-1 --instances-region eu-west-1 \\
              --queue-url https://sqs.eu-west-1.amazonaws.com/111111111111/cloud-unmap-events

  # Replicas sharing one reconcile: the queue's scheduled {\"cloud-unmap\":\"reconcile\"} message and a table
  cloud-unmap --namespace-id ns-abcdef0123456789 --service-region eu-west-1 --instances-region eu-west-1 \\
              --queue-url https://sqs.eu-west-1.amazonaws.com/111111111111/cloud-unmap-events \\
              --state-table cloud-unmap-state

  # Own the Auto Scaling hook `cloud-unmap` (default) and `web-drain`; wait 60 s after deregistering
  cloud-unmap --service-id srv-abcdef0123456789 --service-region eu-west-1 --instances-region eu-west-1 \\
              --queue-url https://sqs.eu-west-1.amazonaws.com/111111111111/cloud-unmap-events \\
              --lifecycle-hook-name cloud-unmap --lifecycle-hook-name web-drain --lifecycle-drain-seconds 60

  # Preflight with the same flags: what would fail, and where the registrations' instances are
  cloud-unmap check --namespace-id ns-abcdef0123456789 --service-region eu-west-1 --instances-region eu-west-1

  # Container health check (exit 0 when /healthz answers 200)
  cloud-unmap healthcheck --port 9100

Exit codes (one-shot runs): 0 done, 1 AWS/runtime failure, 2 bad usage, 3 a guard held deregistrations
back (never-empty, or a not-found surge: see --max-not-found).";

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "cloud-unmap",
    version,
    about = "Removes AWS Cloud Map registrations whose EC2 instance is gone.",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands beside the default (the reconcile worker).
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Exit 0 when the local /healthz answers 200, else 1 (for container health checks without curl).
    Healthcheck(HealthcheckArgs),
    /// Retire EC2 instances selected by tag: drain from Cloud Map, stop, snapshot, terminate.
    Decommission(DecommissionArgs),
    /// Preflight: with the worker's flags, check credentials, selections, accounts, queue, hooks and
    /// where the registrations' instances are, changing nothing.
    Check(CheckArgs),
    /// Put back registrations cloud-unmap removed, from their undo records (log lines or audit events).
    Restore(RestoreArgs),
}

/// Arguments of `cloud-unmap restore`.
#[derive(Debug, Args, Default)]
#[command(after_help = RESTORE_EXAMPLES)]
pub struct RestoreArgs {
    /// File of undo records (`-`: standard input): log lines, audit events or records, one per line.
    #[arg(long, value_name = "FILE")]
    pub from: String,
    /// Only records of this service; repeatable.
    #[arg(long = "service-id", value_name = "ID")]
    pub service_ids: Vec<String>,
    /// Only records of this Cloud Map instance id (or EC2 instance id); repeatable.
    #[arg(long = "instance-id", value_name = "ID")]
    pub instance_ids: Vec<String>,
    /// Only records since this time: RFC 3339 (2026-11-24T02:00:00Z) or an age (90s, 30m, 2h, 7d).
    #[arg(long, value_name = "TIME|AGE")]
    pub since: Option<String>,
    /// Region of the Cloud Map services.
    #[arg(long, value_name = "REGION")]
    pub service_region: Option<String>,
    /// Regions where EC2 instances are looked up (one or more).
    #[arg(long = "instances-region", value_name = "REGION", num_args = 1.., value_delimiter = ',')]
    pub instances_regions: Vec<String>,
    /// Also look instances up in this role's account; repeatable.
    #[arg(long = "instances-role-arn", value_name = "ARN")]
    pub instances_role_arns: Vec<String>,
    /// Restore even when EC2 does not show the instance alive at its address.
    #[arg(long)]
    pub force: bool,
    /// Show what would be restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal on stdin).
    #[arg(long)]
    pub yes: bool,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Registrations restored at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Minimum log level for diagnostics on stderr.
    #[arg(long, value_name = "LEVEL", default_value = "WARNING")]
    pub log_level: String,
}

/// Arguments of `cloud-unmap check`: the worker's own flags, and the report's format.
#[derive(Debug, Args)]
#[command(after_help = CHECK_EXAMPLES)]
pub struct CheckArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Report format of `decommission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// Arguments of `cloud-unmap decommission`.
#[derive(Debug, Args, Default)]
#[command(after_help = DECOMMISSION_EXAMPLES)]
pub struct DecommissionArgs {
    /// Select instances with this tag (KEY=VALUE, EC2 filter wildcards * and ? allowed); repeatable, all must match.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Region to look in; repeatable.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Also look in this role's account (sts:AssumeRole); repeatable.
    #[arg(long = "role-arn", value_name = "ARN")]
    pub role_arns: Vec<String>,
    /// Do not look in the account of the current credentials (only in --role-arn accounts).
    #[arg(long)]
    pub skip_home_account: bool,
    /// Only these instances (still subject to --tag); repeatable.
    #[arg(long = "instance-id", value_name = "ID")]
    pub instance_ids: Vec<String>,
    /// Drain: remove each target from this Cloud Map service first; repeatable.
    #[arg(long = "service-id", value_name = "ID")]
    pub service_ids: Vec<String>,
    /// Drain: remove each target from every service of this namespace first; repeatable.
    #[arg(long = "namespace-id", value_name = "NS")]
    pub namespace_ids: Vec<String>,
    /// Region of the Cloud Map services to drain from.
    #[arg(long, value_name = "REGION")]
    pub service_region: Option<String>,
    /// Seconds to wait after draining, before stopping (clients stop resolving the instance).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub drain_seconds: u64,
    /// Longest wait for a state change or for snapshots, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub wait_timeout: u64,
    /// Terminate without snapshots (explicitly giving up the volumes' data).
    #[arg(long)]
    pub no_snapshot: bool,
    /// List every planned step and check permissions with EC2's DryRun flag; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal on stdin).
    #[arg(long)]
    pub yes: bool,
    /// Instances retired at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Minimum log level for diagnostics on stderr.
    #[arg(long, value_name = "LEVEL", default_value = "WARNING")]
    pub log_level: String,
}

/// Arguments of `cloud-unmap healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Port of the running worker's HTTP server.
    #[arg(long, env = "CLOUD_UNMAP_PROMETHEUS_PORT", default_value_t = 9100)]
    pub port: u16,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

/// What an EC2 rebalance recommendation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OnRebalance {
    #[default]
    Ignore,
    Deregister,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// The worker's flags. Seed flags first, with the seed's names and defaults (but for
/// `--prometheus-host`, see its help).
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// [seed] Cloud Map service id (srv-…); repeatable.
    #[arg(long = "service-id", value_name = "ID", env = "CLOUD_UNMAP_SERVICE_ID", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub service_ids: Vec<String>,
    /// [seed] Region of the Cloud Map services and namespaces.
    #[arg(long, value_name = "REGION", env = "CLOUD_UNMAP_SERVICE_REGION")]
    pub service_region: Option<String>,
    /// [seed] Regions where EC2 instances are looked up (one or more).
    #[arg(long = "instances-region", value_name = "REGION", num_args = 1.., env = "CLOUD_UNMAP_INSTANCES_REGION", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instances_regions: Vec<String>,
    /// [seed] Seconds between two reconciles.
    #[arg(
        long,
        value_name = "N",
        env = "CLOUD_UNMAP_FREQUENCY",
        default_value_t = 300
    )]
    pub frequency: u64,
    /// [seed] Reconcile every selected service once, then exit (0 done, 1 failure, 3 a guard held).
    #[arg(long, env = "CLOUD_UNMAP_SINGLE_RUN")]
    pub single_run: bool,
    /// [seed] Accepted for compatibility: the HTTP server (/metrics, /healthz, /readyz) always runs in
    /// long-running mode, since health checks need it.
    #[arg(long, env = "CLOUD_UNMAP_ENABLE_PROMETHEUS")]
    pub enable_prometheus: bool,
    /// [seed] Address the HTTP server listens on (the seed's default was 127.0.0.1, which a container
    /// cannot be scraped on).
    #[arg(
        long,
        value_name = "HOST",
        env = "CLOUD_UNMAP_PROMETHEUS_HOST",
        default_value = "0.0.0.0"
    )]
    pub prometheus_host: String,
    /// [seed] Port the HTTP server listens on.
    #[arg(
        long,
        value_name = "PORT",
        env = "CLOUD_UNMAP_PROMETHEUS_PORT",
        default_value_t = 9100
    )]
    pub prometheus_port: u16,
    /// [seed] Minimum log level: TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL (any case).
    #[arg(
        long,
        value_name = "LEVEL",
        env = "CLOUD_UNMAP_LOG_LEVEL",
        default_value = "INFO"
    )]
    pub log_level: String,

    /// Every service of the home account and --service-region carrying this tag (KEY=VALUE), re-resolved
    /// each cycle; repeatable, all must match.
    #[arg(long = "service-tag", value_name = "KEY=VALUE", env = "CLOUD_UNMAP_SERVICE_TAG", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub service_tags: Vec<String>,
    /// Every service of this Cloud Map namespace (ns-…), re-listed each cycle; repeatable.
    #[arg(long = "namespace-id", value_name = "NS", env = "CLOUD_UNMAP_NAMESPACE_ID", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub namespace_ids: Vec<String>,
    /// Also look instances up in this role's account, through sts:AssumeRole; repeatable. The home
    /// account is always looked at.
    #[arg(long = "instances-role-arn", value_name = "ARN", env = "CLOUD_UNMAP_INSTANCES_ROLE_ARN", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instances_role_arns: Vec<String>,
    /// Count stopping/stopped instances as gone (default: kept, as the seed does).
    #[arg(long, env = "CLOUD_UNMAP_DEREGISTER_STOPPED")]
    pub deregister_stopped: bool,
    /// Turn the never-empty guard off: allow a reconcile to remove every registration of a service.
    #[arg(long, env = "CLOUD_UNMAP_ALLOW_EMPTY_SERVICE")]
    pub allow_empty_service: bool,
    /// Decide and log everything, change nothing.
    #[arg(long, env = "CLOUD_UNMAP_DRY_RUN")]
    pub dry_run: bool,
    /// Log format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "CLOUD_UNMAP_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Seconds a SIGTERM/SIGINT waits for work in progress before the process exits anyway.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CLOUD_UNMAP_SHUTDOWN_TIMEOUT",
        default_value_t = 25
    )]
    pub shutdown_timeout: u64,
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
    #[command(flatten)]
    pub events: events::EventArgs,
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
    /// A registration is removed as `not-found` only if a second lookup at least this many seconds
    /// after the first still finds no instance.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CLOUD_UNMAP_NOT_FOUND_GRACE",
        default_value_t = 30
    )]
    pub not_found_grace: u64,
    /// Deregister an instance this many seconds before a scheduled EC2 event (retirement, stop,
    /// reboot, maintenance) starts, as AWS Health and DescribeInstanceStatus announce it.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CLOUD_UNMAP_SCHEDULED_LEAD_SECONDS",
        default_value_t = 300
    )]
    pub scheduled_lead_seconds: u64,
    /// What an EC2 rebalance recommendation does: `ignore` (default) or `deregister` (Spot
    /// instances EC2 confirms, like interruption notices).
    #[arg(
        long,
        value_enum,
        value_name = "ACTION",
        env = "CLOUD_UNMAP_ON_REBALANCE",
        default_value_t = OnRebalance::Ignore
    )]
    pub on_rebalance: OnRebalance,
    /// Scheduled EC2 reboot or maintenance: `out-and-back` (out, then back once over) or `ignore`.
    #[arg(
        long,
        value_enum,
        env = "CLOUD_UNMAP_ON_SCHEDULED_REBOOT",
        default_value = "out-and-back"
    )]
    pub on_scheduled_reboot: choices::OnScheduledReboot,
    /// Also send every removal's undo record to this EventBridge bus (name or ARN) as a `Registration
    /// Removed` event from source `cloud-unmap` (the record is always in the `deregistered` log line).
    #[arg(long, value_name = "NAME|ARN", env = "CLOUD_UNMAP_AUDIT_EVENT_BUS")]
    pub audit_event_bus: Option<String>,
    /// Liveness (/healthz) fails when a working loop completes no unit of work (no AWS request, no
    /// cycle, no batch) for this many seconds. A sleeping loop is judged by its planned wake instead.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CLOUD_UNMAP_STALL_TIMEOUT",
        default_value_t = 300
    )]
    pub stall_timeout: u64,
}
