//! `cloud-unmap restore`'s flags: each also reads `CLOUD_UNMAP_<FLAG>`, as the worker's do, and the
//! region falls back to the standard `AWS_REGION`. The shared groups give it the worker's names for
//! the instances' regions and accounts, and `--output`/`--dry-run`/`--yes` as the other commands
//! spell them. Parsing only: `config::restore` validates.

use clap::Args;

use super::examples::RESTORE_EXAMPLES;
use super::groups::{aws_region, ConfirmArgs, InstancesArgs, ReportArgs};

/// Arguments of `cloud-unmap restore`. Every flag also reads `CLOUD_UNMAP_<FLAG>`, as the worker's
/// do, so the deployment's own settings carry over.
#[derive(Debug, Args, Default)]
#[command(
    after_help = RESTORE_EXAMPLES,
    mut_arg("instances_regions", |a| a.help(
        "Regions where EC2 instances are looked up, one or more (default: the service region)")),
    mut_arg("instances_role_arns", |a| a.help(
        "Also look instances up in this role's account; repeatable")),
    mut_arg("dry_run", |a| a.help("Show what would be restored; change nothing")),
)]
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
    #[command(flatten)]
    pub instances: InstancesArgs,
    /// Restore even when EC2 does not show the instance alive at its address.
    #[arg(long, env = "CLOUD_UNMAP_FORCE")]
    pub force: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    #[command(flatten)]
    pub report: ReportArgs,
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
    #[arg(skip = aws_region())]
    pub aws_region: Option<String>,
}
