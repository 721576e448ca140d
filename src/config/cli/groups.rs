//! The flag groups several commands share, so that a flag has one name, one variable and one meaning
//! everywhere: which Cloud Map services (`ServiceArgs`), where the instances are (`InstancesArgs`),
//! the report's format (`ReportArgs`) and the confirmation switches (`ConfirmArgs`). A command adapts
//! a shared flag's help (or adds an old name as an alias) with `mut_arg`, never by redefining it.

use clap::{Args, ValueEnum};

/// Report format of `check`, `decommission` and `restore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// The standard `AWS_REGION` (empty counts as unset): where `--service-region` falls back to.
pub fn aws_region() -> Option<String> {
    std::env::var("AWS_REGION")
        .ok()
        .filter(|r| !r.trim().is_empty())
}

/// Which Cloud Map services: the worker's and `check`'s selection, `decommission`'s drain.
#[derive(Debug, Clone, Args, Default)]
pub struct ServiceArgs {
    /// [seed] Cloud Map service id (srv-…); repeatable.
    #[arg(long = "service-id", value_name = "ID", env = "CLOUD_UNMAP_SERVICE_ID", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub service_ids: Vec<String>,
    /// [seed] Region of the Cloud Map services and namespaces (default: AWS_REGION).
    #[arg(long, value_name = "REGION", env = "CLOUD_UNMAP_SERVICE_REGION")]
    pub service_region: Option<String>,
    /// Every service of this Cloud Map namespace (ns-…), re-listed each cycle; repeatable.
    #[arg(long = "namespace-id", value_name = "NS", env = "CLOUD_UNMAP_NAMESPACE_ID", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub namespace_ids: Vec<String>,
    /// The standard `AWS_REGION`: the service region when neither --service-region nor
    /// CLOUD_UNMAP_SERVICE_REGION gives one.
    #[arg(skip = aws_region())]
    pub aws_region: Option<String>,
}

impl ServiceArgs {
    /// `--service-region`, else `AWS_REGION`, with the name of where it came from.
    pub fn region(&self) -> Option<(String, &'static str)> {
        match (&self.service_region, &self.aws_region) {
            (Some(r), _) => Some((r.clone(), "--service-region")),
            (None, Some(r)) => Some((r.clone(), "AWS_REGION")),
            (None, None) => None,
        }
    }
}

/// Where EC2 instances are looked up: regions, and the accounts beside the home one.
#[derive(Debug, Clone, Args, Default)]
pub struct InstancesArgs {
    /// [seed] Regions where EC2 instances are looked up (one or more; repeatable).
    #[arg(long = "instances-region", value_name = "REGION", num_args = 1.., env = "CLOUD_UNMAP_INSTANCES_REGION", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instances_regions: Vec<String>,
    /// Also look instances up in this role's account, through sts:AssumeRole; repeatable. The home
    /// account is always looked at.
    #[arg(long = "instances-role-arn", value_name = "ARN", env = "CLOUD_UNMAP_INSTANCES_ROLE_ARN", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instances_role_arns: Vec<String>,
}

/// The report on stdout.
#[derive(Debug, Clone, Args, Default)]
pub struct ReportArgs {
    /// Report format on stdout.
    #[arg(short, long, value_enum, env = "CLOUD_UNMAP_OUTPUT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// The switches of a command that changes things on request: look first, or do it without asking.
#[derive(Debug, Clone, Args, Default)]
pub struct ConfirmArgs {
    /// Show what would be done; change nothing.
    #[arg(short = 'n', long, env = "CLOUD_UNMAP_DRY_RUN")]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal on stdin).
    #[arg(short = 'y', long, env = "CLOUD_UNMAP_YES")]
    pub yes: bool,
}
