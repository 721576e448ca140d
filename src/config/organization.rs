//! The organization mode's settings, validated: the organization, the member role's name, the role
//! ListAccounts is called through (its partition is the organization's), and the refresh period.
//! The three flags go together; empty values mean unset. Accounts may be excluded on purpose.

use std::time::Duration;

use crate::config::cli::OrganizationArgs;
use crate::config::{member_roles, ConfigError};
use crate::model::domain::{valid_account_id, MemberRole};
use crate::model::organization::{partition, valid_organization_id, valid_role_name};

/// `--organization-refresh` when not given: a new account is covered within 15 minutes (plus the
/// StackSet's own deployment), at a few ListAccounts calls per refresh.
pub const DEFAULT_REFRESH: u64 = 900;
/// The shortest refresh: meant for tests and demos; production keeps 60 s or more.
pub const MIN_REFRESH: u64 = 5;
/// The longest refresh: the goal is an account covered within an hour.
pub const MAX_REFRESH: u64 = 3_600;

/// Organization mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// `o-…`: every listed account must belong to it.
    pub id: String,
    /// The member role's name in every account.
    pub role_name: String,
    /// The role ListAccounts is called through.
    pub reader: MemberRole,
    /// The partition of the reader role's ARN, used for every derived role.
    pub partition: String,
    pub refresh: Duration,
    /// Accounts left out on purpose (`--organization-exclude-account`).
    pub exclude: Vec<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Validates the organization flags: `None` without `--organization-id` (and then none of the
/// others may be given).
pub fn from_args(args: &OrganizationArgs) -> Result<Option<Organization>, ConfigError> {
    let id = given(&args.organization_id);
    let name = given(&args.instances_role_name);
    let reader = given(&args.organization_role_arn);
    let refresh = given(&args.organization_refresh);
    let exclude: Vec<&str> = args
        .organization_exclude_accounts
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    let Some(id) = id else {
        if !exclude.is_empty() {
            return Err(ConfigError::OrganizationIncomplete {
                given: "--organization-exclude-account",
                missing: "--organization-id",
            });
        }
        for (value, flag) in [
            (name, "--instances-role-name"),
            (reader, "--organization-role-arn"),
            (refresh, "--organization-refresh"),
        ] {
            if value.is_some() {
                return Err(ConfigError::OrganizationIncomplete {
                    given: flag,
                    missing: "--organization-id",
                });
            }
        }
        return Ok(None);
    };
    if !valid_organization_id(id) {
        return Err(ConfigError::OrganizationId(id.to_string()));
    }
    let incomplete = |missing| ConfigError::OrganizationIncomplete {
        given: "--organization-id",
        missing,
    };
    let name = name.ok_or_else(|| incomplete("--instances-role-name"))?;
    let reader = reader.ok_or_else(|| incomplete("--organization-role-arn"))?;
    if !valid_role_name(name) {
        return Err(ConfigError::RoleName(name.to_string()));
    }
    let reader = member_roles("--organization-role-arn", &[reader.to_string()])?.remove(0);
    let refresh = match refresh {
        None => DEFAULT_REFRESH,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| (MIN_REFRESH..=MAX_REFRESH).contains(n))
            .ok_or_else(|| ConfigError::OrganizationRefresh(s.to_string()))?,
    };
    Ok(Some(Organization {
        id: id.to_string(),
        role_name: name.to_string(),
        partition: partition(&reader.arn).unwrap_or("aws").to_string(),
        reader,
        refresh: Duration::from_secs(refresh),
        exclude: exclude
            .into_iter()
            .map(|a| {
                valid_account_id(a)
                    .then(|| a.to_string())
                    .ok_or_else(|| ConfigError::ExcludeAccount(a.to_string()))
            })
            .collect::<Result<_, _>>()?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrganizationArgs {
        OrganizationArgs {
            organization_id: Some("o-a1b2c3d4e5".into()),
            instances_role_name: Some("cloud-unmap-reader".into()),
            organization_role_arn: Some("arn:aws-cn:iam::444444444444:role/org-reader".into()),
            organization_refresh: None,
            organization_exclude_accounts: vec![],
        }
    }

    #[test]
    fn excluded_accounts_are_account_ids_and_need_organization_mode() {
        let mut args = org();
        args.organization_exclude_accounts = vec!["111111111111".into(), " ".into()];
        assert_eq!(
            from_args(&args).unwrap().unwrap().exclude,
            vec!["111111111111"]
        );
        args.organization_exclude_accounts = vec!["1111".into()];
        assert!(matches!(
            from_args(&args),
            Err(ConfigError::ExcludeAccount(_))
        ));
        let alone = OrganizationArgs {
            organization_exclude_accounts: vec!["111111111111".into()],
            ..OrganizationArgs::default()
        };
        assert!(matches!(
            from_args(&alone),
            Err(ConfigError::OrganizationIncomplete { .. })
        ));
    }

    #[test]
    fn organization_mode_takes_the_three_flags_and_defaults_the_refresh() {
        let o = from_args(&org()).unwrap().unwrap();
        assert_eq!(o.id, "o-a1b2c3d4e5");
        assert_eq!(o.role_name, "cloud-unmap-reader");
        assert_eq!(o.reader.account_id, "444444444444");
        assert_eq!(o.partition, "aws-cn");
        assert_eq!(o.refresh, Duration::from_secs(900));
    }

    #[test]
    fn empty_values_mean_unset_as_templates_pass_them() {
        let empty = OrganizationArgs {
            organization_id: Some(String::new()),
            instances_role_name: Some(" ".into()),
            organization_role_arn: Some(String::new()),
            organization_refresh: Some(String::new()),
            organization_exclude_accounts: vec![String::new()],
        };
        assert_eq!(from_args(&empty), Ok(None));
        let mut a = org();
        a.organization_refresh = Some(String::new());
        assert_eq!(
            from_args(&a).unwrap().unwrap().refresh,
            Duration::from_secs(900)
        );
    }

    #[test]
    fn rejects_incomplete_or_bad_organization_flags() {
        type Mutation = Box<dyn Fn(&mut OrganizationArgs)>;
        let incomplete = |given, missing| ConfigError::OrganizationIncomplete { given, missing };
        let cases: Vec<(Mutation, ConfigError)> = vec![
            (
                Box::new(|a| a.organization_id = None),
                incomplete("--instances-role-name", "--organization-id"),
            ),
            (
                Box::new(|a| {
                    a.organization_id = None;
                    a.instances_role_name = None;
                }),
                incomplete("--organization-role-arn", "--organization-id"),
            ),
            (
                Box::new(|a| a.instances_role_name = None),
                incomplete("--organization-id", "--instances-role-name"),
            ),
            (
                Box::new(|a| a.organization_role_arn = None),
                incomplete("--organization-id", "--organization-role-arn"),
            ),
            (
                Box::new(|a| a.organization_id = Some("o-short".into())),
                ConfigError::OrganizationId("o-short".into()),
            ),
            (
                Box::new(|a| a.instances_role_name = Some("path/reader".into())),
                ConfigError::RoleName("path/reader".into()),
            ),
            (
                Box::new(|a| a.organization_role_arn = Some("org-reader".into())),
                ConfigError::RoleArn {
                    flag: "--organization-role-arn",
                    value: "org-reader".into(),
                },
            ),
            (
                Box::new(|a| a.organization_refresh = Some("4".into())),
                ConfigError::OrganizationRefresh("4".into()),
            ),
            (
                Box::new(|a| a.organization_refresh = Some("3601".into())),
                ConfigError::OrganizationRefresh("3601".into()),
            ),
            (
                Box::new(|a| a.organization_refresh = Some("15m".into())),
                ConfigError::OrganizationRefresh("15m".into()),
            ),
        ];
        for (mutate, expected) in cases {
            let mut a = org();
            mutate(&mut a);
            assert_eq!(from_args(&a), Err(expected));
        }
    }
}
