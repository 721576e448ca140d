//! `cloud-unmap decommission`'s flags. The shared groups give it the worker's names and variables:
//! `--instances-region`/`--instances-role-arn` (its old `--region`/`--role-arn` kept as aliases),
//! `--service-id`/`--namespace-id`/`--service-region` for the drain, `--output`, `--dry-run`, `--yes`.
//! Every flag also reads `CLOUD_UNMAP_<FLAG>`.

use clap::Args;

use super::examples::DECOMMISSION_EXAMPLES;
use super::groups::{ConfirmArgs, InstancesArgs, ReportArgs, ServiceArgs};

/// Arguments of `cloud-unmap decommission`.
#[derive(Debug, Args, Default)]
#[command(
    after_help = DECOMMISSION_EXAMPLES,
    mut_arg("instances_regions", |a| a.visible_alias("region").help(
        "Regions to look in, one or more (default: the service region, itself AWS_REGION by default)")),
    mut_arg("instances_role_arns", |a| a.visible_alias("role-arn").help(
        "Also look in this role's account (sts:AssumeRole); repeatable")),
    mut_arg("service_ids", |a| a.help(
        "Drain: remove each target from this Cloud Map service first; repeatable")),
    mut_arg("namespace_ids", |a| a.help(
        "Drain: remove each target from every service of this namespace first; repeatable")),
    mut_arg("service_region", |a| a.help(
        "Region of the Cloud Map services to drain from (default: AWS_REGION)")),
    mut_arg("dry_run", |a| a.help(
        "List every planned step and check permissions with EC2's DryRun flag; change nothing")),
)]
pub struct DecommissionArgs {
    /// Select instances with this tag (KEY=VALUE, EC2 filter wildcards * and ? allowed); repeatable, all must match.
    #[arg(long = "tag", value_name = "KEY=VALUE", env = "CLOUD_UNMAP_TAG", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub tags: Vec<String>,
    /// Only these instances (still subject to --tag); repeatable.
    #[arg(long = "instance-id", value_name = "ID", env = "CLOUD_UNMAP_INSTANCE_ID", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instance_ids: Vec<String>,
    #[command(flatten)]
    pub instances: InstancesArgs,
    /// Do not look in the account of the current credentials (only in --instances-role-arn accounts).
    #[arg(long, env = "CLOUD_UNMAP_SKIP_HOME_ACCOUNT")]
    pub skip_home_account: bool,
    #[command(flatten)]
    pub services: ServiceArgs,
    /// Seconds to wait after draining, before stopping (clients stop resolving the instance).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CLOUD_UNMAP_DRAIN_SECONDS",
        default_value_t = 30
    )]
    pub drain_seconds: u64,
    /// Longest wait for a state change or for snapshots, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CLOUD_UNMAP_WAIT_TIMEOUT",
        default_value_t = 900
    )]
    pub wait_timeout: u64,
    /// Terminate without snapshots; DeleteOnTermination stays as the volumes' owner set it (the
    /// report lists the volumes that survive termination).
    #[arg(long, env = "CLOUD_UNMAP_NO_SNAPSHOT")]
    pub no_snapshot: bool,
    /// Retire Auto Scaling members too: DetachInstances (decrementing the desired capacity, so no
    /// replacement is launched) before the usual steps. Without it a member is refused.
    #[arg(long, env = "CLOUD_UNMAP_DETACH")]
    pub detach: bool,
    /// Drain even when it would leave a service without any registration (refused by default).
    #[arg(long, env = "CLOUD_UNMAP_ALLOW_EMPTY_SERVICE")]
    pub allow_empty_service: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    /// Instances retired at once.
    #[arg(
        long,
        value_name = "N",
        env = "CLOUD_UNMAP_CONCURRENCY",
        default_value_t = 8
    )]
    pub concurrency: usize,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Minimum log level for diagnostics on stderr.
    #[arg(
        long,
        value_name = "LEVEL",
        env = "CLOUD_UNMAP_LOG_LEVEL",
        default_value = "WARNING"
    )]
    pub log_level: String,
}
