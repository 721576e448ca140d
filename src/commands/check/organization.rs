//! `check` in organization mode: the listing's own status (ListAccounts through the reader role),
//! then every ACTIVE account it names (but the home account, those of explicit roles and the excluded
//! ones): covered (its derived role used for a DescribeInstances in every instance region) or not
//! reachable, with AWS's error.

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};

use super::report::{Finding, Level};
use crate::aws::{self, ec2, organizations, Target};
use crate::config::organization::Organization;
use crate::config::Config;
use crate::model::organization::{derived_roles, OrgAccount};

/// The listing's finding, and the targets of the listed accounts with each account's name.
pub async fn listing(
    home_config: &SdkConfig,
    config: &Config,
    org: &Organization,
    home: Option<&str>,
) -> (Finding, Vec<(OrgAccount, Vec<Target>)>) {
    let client = organizations::client(home_config, &org.reader).await;
    let listed = match organizations::active_accounts(&client, &org.id).await {
        Ok(listed) => listed,
        Err(e) => {
            let detail = format!(
                "cannot list the accounts through {} (only the explicit roles would be covered): {}",
                org.reader.arn,
                e.reason()
            );
            return (
                Finding::new("organization", &org.id, Level::Fail, detail),
                Vec::new(),
            );
        }
    };
    let finding = Finding::new(
        "organization",
        &org.id,
        Level::Ok,
        format!(
            "{} ACTIVE accounts listed through {}; member role {}{}",
            listed.len(),
            org.reader.arn,
            org.role_name,
            if org.exclude.is_empty() {
                String::new()
            } else {
                format!("; excluded: {}", org.exclude.join(", "))
            }
        ),
    );
    let mut roles = derived_roles(
        &listed,
        home.unwrap_or_default(),
        &config.member_roles,
        &org.partition,
        &org.role_name,
    );
    // Accounts left out on purpose (`--organization-exclude-account`) are not checked.
    roles.retain(|r| !org.exclude.contains(&r.account_id));
    let mut out = Vec::with_capacity(roles.len());
    for role in roles {
        let targets = aws::targets(
            home_config,
            &config.instances_regions,
            std::slice::from_ref(&role),
            false,
            None,
        )
        .await;
        let account = listed
            .iter()
            .find(|a| a.id == role.account_id)
            .cloned()
            .unwrap_or(OrgAccount {
                id: role.account_id.clone(),
                name: String::new(),
            });
        out.push((account, targets));
    }
    (finding, out)
}

/// One finding per listed account: covered in every instance region, or not reachable (the
/// regions that failed, with the error).
pub async fn members(accounts: &[(OrgAccount, Vec<Target>)], concurrency: usize) -> Vec<Finding> {
    let probes = accounts.iter().map(|(account, targets)| async move {
        let mut failed = Vec::new();
        for t in targets {
            if let Err(e) = ec2::probe(t).await {
                failed.push(format!("{}: {}", t.region, e.reason()));
            }
        }
        let name = if account.name.is_empty() {
            "(no name)"
        } else {
            account.name.as_str()
        };
        if failed.is_empty() {
            Finding::new(
                "member",
                &account.id,
                Level::Ok,
                format!("{name}: covered, role assumed in {} regions", targets.len()),
            )
        } else {
            Finding::new(
                "member",
                &account.id,
                Level::Fail,
                format!("{name}: cannot be reached ({})", failed.join("; ")),
            )
        }
    });
    stream::iter(probes)
        .buffered(concurrency.max(1))
        .collect()
        .await
}
