//! The request-budget flags (`--budget-*`): requests per second each API family may make in one
//! account and region, flattened into the worker's flags (and so `check`'s). Empty: the family's
//! default (`model::budget::Family::default_rate`).

use clap::Args;

/// Requests per second per account and region, by API family (bursts of two seconds' worth; five
/// for EC2 describes, as AWS's own bucket holds).
#[derive(Debug, Args, Default, Clone)]
pub struct BudgetArgs {
    /// Cloud Map DiscoverInstances and DiscoverInstancesRevision calls per second per account and
    /// region (default 100: 10 % of AWS's 1,000/s refill, the quota production's discovery shares).
    #[arg(
        long,
        value_name = "PER_SECOND",
        env = "CLOUD_UNMAP_BUDGET_CLOUDMAP_DISCOVERY"
    )]
    pub budget_cloudmap_discovery: Option<String>,
    /// Cloud Map reads per second (ListServices, ListInstances, GetInstance, GetService,
    /// GetNamespace, GetOperation, ListTagsForResource; default 20).
    #[arg(
        long,
        value_name = "PER_SECOND",
        env = "CLOUD_UNMAP_BUDGET_CLOUDMAP_READ"
    )]
    pub budget_cloudmap_read: Option<String>,
    /// Cloud Map RegisterInstance and DeregisterInstance calls per second (default 10).
    #[arg(
        long,
        value_name = "PER_SECOND",
        env = "CLOUD_UNMAP_BUDGET_CLOUDMAP_WRITE"
    )]
    pub budget_cloudmap_write: Option<String>,
    /// EC2 describe calls per second per account and region (default 5, burst 25: a quarter of the
    /// non-mutating bucket's 20/s refill and 100 tokens; one DescribeInstances covers 200
    /// instances).
    #[arg(
        long,
        value_name = "PER_SECOND",
        env = "CLOUD_UNMAP_BUDGET_EC2_DESCRIBE"
    )]
    pub budget_ec2_describe: Option<String>,
    /// EC2 mutating calls per second per account and region (decommission; default 5).
    #[arg(long, value_name = "PER_SECOND", env = "CLOUD_UNMAP_BUDGET_EC2_MUTATE")]
    pub budget_ec2_mutate: Option<String>,
    /// Auto Scaling calls per second per account and region (default 5).
    #[arg(
        long,
        value_name = "PER_SECOND",
        env = "CLOUD_UNMAP_BUDGET_AUTOSCALING"
    )]
    pub budget_autoscaling: Option<String>,
}
