//! `cloud-unmap restore`'s flags: each also reads `CLOUD_UNMAP_<FLAG>`, as the worker's do, and the
//! region falls back to the standard `AWS_REGION`. Parsing only: `config::restore` validates.

use clap::Args;

use super::examples::RESTORE_EXAMPLES;
use super::OutputFormat;

/// Arguments of `cloud-unmap restore`. Every flag also reads `CLOUD_UNMAP_<FLAG>`, as the worker's
/// do, so the deployment's own settings carry over.
#[derive(Debug, Args, Default)]
#[command(after_help = RESTORE_EXAMPLES)]
pub struct RestoreArgs {
    /// File of undo records (`-`: standard input): the worker's log (JSON or text, coloured or not),
    /// audit events or records, one per line.
    #[arg(long, value_name = "FILE", env = "CLOUD_UNMAP_FROM")]
    pub from: String,
    /// Only records of this service; repeatable.
    #[arg(long = "service-id", value_name = "ID", env = "CLOUD_UNMAP_SERVICE_ID", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub service_ids: Vec<String>,
    /// Only records of this Cloud Map instance id (or EC2 instance id); repeatable.
    #[arg(long = "instance-id", value_name = "ID", env = "CLOUD_UNMAP_INSTANCE_ID", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instance_ids: Vec<String>,
    /// Only records since this time: RFC 3339 (2026-11-24T02:00:00Z) or an age (90s, 30m, 2h, 7d).
    #[arg(long, value_name = "TIME|AGE", env = "CLOUD_UNMAP_SINCE")]
    pub since: Option<String>,
    /// Region of the Cloud Map services (default: AWS_REGION).
    #[arg(long, value_name = "REGION", env = "CLOUD_UNMAP_SERVICE_REGION")]
    pub service_region: Option<String>,
    /// Regions where EC2 instances are looked up, one or more (default: the service region).
    #[arg(long = "instances-region", value_name = "REGION", num_args = 1.., env = "CLOUD_UNMAP_INSTANCES_REGION", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instances_regions: Vec<String>,
    /// Also look instances up in this role's account; repeatable.
    #[arg(long = "instances-role-arn", value_name = "ARN", env = "CLOUD_UNMAP_INSTANCES_ROLE_ARN", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instances_role_arns: Vec<String>,
    /// Restore even when EC2 does not show the instance alive at its address.
    #[arg(long, env = "CLOUD_UNMAP_FORCE")]
    pub force: bool,
    /// Show what would be restored; change nothing.
    #[arg(long, env = "CLOUD_UNMAP_DRY_RUN")]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal on stdin).
    #[arg(long, env = "CLOUD_UNMAP_YES")]
    pub yes: bool,
    /// Report format on stdout.
    #[arg(long, value_enum, env = "CLOUD_UNMAP_OUTPUT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Registrations restored at once.
    #[arg(
        long,
        value_name = "N",
        env = "CLOUD_UNMAP_CONCURRENCY",
        default_value_t = 8
    )]
    pub concurrency: usize,
    /// Minimum log level for diagnostics on stderr.
    #[arg(
        long,
        value_name = "LEVEL",
        env = "CLOUD_UNMAP_LOG_LEVEL",
        default_value = "WARNING"
    )]
    pub log_level: String,
    /// The standard `AWS_REGION`: the service region when neither --service-region nor
    /// CLOUD_UNMAP_SERVICE_REGION gives one.
    #[arg(skip = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))]
    pub aws_region: Option<String>,
}
