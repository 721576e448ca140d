//! Command-line surface: the seed-compatible flags of aws-cloud-unmap 2.0.0, the new ones, and the
//! subcommands, built from shared flag groups (`groups`, `watch`) so that a flag has one name, one
//! `CLOUD_UNMAP_<FLAG>` variable and one meaning in every command, and each `--help` lists what that
//! command uses. Parsing only: the semantic checks live in `config`.

use clap::{Args, Parser, Subcommand, ValueEnum};

mod budget;
mod check;
pub mod choices;
mod decommission;
pub mod events;
mod examples;
mod groups;
mod organization;
mod restore;
mod watch;
pub use budget::BudgetArgs;
pub use check::CheckArgs;
pub use decommission::DecommissionArgs;
pub use groups::{aws_region, ConfirmArgs, InstancesArgs, OutputFormat, ReportArgs, ServiceArgs};
pub use organization::OrganizationArgs;
pub use restore::RestoreArgs;
pub use watch::WatchArgs;

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

  # Organization mode: every ACTIVE account of the organization (listed every 900 s), no role ARN per account
  cloud-unmap --namespace-id ns-abcdef0123456789 --service-region eu-west-1 --instances-region eu-west-1 \\
              --organization-id o-a1b2c3d4e5 --instances-role-name cloud-unmap-reader \\
              --organization-role-arn arn:aws:iam::444444444444:role/cloud-unmap-organization-reader

  # Preflight with the same flags: what would fail, and where the registrations' instances are
  cloud-unmap check --namespace-id ns-abcdef0123456789 --service-region eu-west-1 --instances-region eu-west-1

  # Container health check (exit 0 when /healthz answers 200)
  cloud-unmap healthcheck --prometheus-port 9100

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

/// Arguments of `cloud-unmap healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Port of the running worker's HTTP server (its --prometheus-port).
    #[arg(
        long = "prometheus-port",
        visible_alias = "port",
        value_name = "PORT",
        env = "CLOUD_UNMAP_PROMETHEUS_PORT",
        default_value_t = 9100
    )]
    pub port: u16,
    /// Seconds to wait for the answer.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CLOUD_UNMAP_TIMEOUT",
        default_value_t = 3
    )]
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

/// The worker's flags: those `check` shares (`watch`), then the worker's own, with the seed's names
/// and defaults (but for `--prometheus-host`, see its help). `check` accepts the worker's own flags
/// too but hides them: see `check::worker_only`.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub watch: WatchArgs,
    #[command(flatten)]
    pub events: events::EventArgs,
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
    /// Decide and log everything, change nothing.
    #[arg(short = 'n', long, env = "CLOUD_UNMAP_DRY_RUN")]
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
    #[command(flatten)]
    pub budget: BudgetArgs,
}
