//! The organization mode's flags (`--organization-id` and its companions), flattened into the
//! worker's flags. Empty values, as templates pass them, mean unset; `config::organization` checks
//! them.

use clap::Args;

/// Organization mode: every ACTIVE account of the organization is covered, its role derived from
/// the account id and `--instances-role-name`.
#[derive(Debug, Clone, Args, Default)]
pub struct OrganizationArgs {
    /// Organization mode: cover every ACTIVE account of this organization (o-…), listed through
    /// --organization-role-arn; needs --instances-role-name and --organization-role-arn.
    #[arg(long, value_name = "ID", env = "CLOUD_UNMAP_ORGANIZATION_ID")]
    pub organization_id: Option<String>,
    /// The member role's name in every account of the organization: its ARN is derived as
    /// arn:<partition>:iam::<account>:role/<name>. Needs --organization-id.
    #[arg(long, value_name = "NAME", env = "CLOUD_UNMAP_INSTANCES_ROLE_NAME")]
    pub instances_role_name: Option<String>,
    /// Role assumed to call Organizations' ListAccounts, in the management account or a delegated
    /// administrator. Needs --organization-id.
    #[arg(long, value_name = "ARN", env = "CLOUD_UNMAP_ORGANIZATION_ROLE_ARN")]
    pub organization_role_arn: Option<String>,
    /// Seconds between two listings of the organization's accounts (5 to 3600; default 900). A
    /// failed listing keeps the last good one.
    #[arg(long, value_name = "SECONDS", env = "CLOUD_UNMAP_ORGANIZATION_REFRESH")]
    pub organization_refresh: Option<String>,
    /// An account left out of organization mode on purpose (repeatable, or a comma list): never
    /// assumed into, its events ignored, its absence from nobody's not-found (e.g. the management
    /// account, which service-managed StackSets skip). Needs --organization-id.
    #[arg(long = "organization-exclude-account", value_name = "ID", env = "CLOUD_UNMAP_ORGANIZATION_EXCLUDE_ACCOUNT", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub organization_exclude_accounts: Vec<String>,
}
