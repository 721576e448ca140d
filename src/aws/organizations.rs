//! Organizations: the accounts of the organization, ACTIVE or not (ListAccounts, paginated by the SDK),
//! through the reader role in the management account or a delegated administrator. One refresh
//! costs one call per 20 accounts; Organizations' throttling (TooManyRequestsException) is retried
//! by the SDK's standard retry with backoff.

use aws_config::SdkConfig;
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};
use aws_sdk_organizations::Client;

use crate::error::{Error, Operation};
use crate::model::domain::MemberRole;
use crate::model::organization::OrgAccount;

/// ListAccounts' largest page.
const PAGE: i32 = 20;

/// The Organizations client, acting as `reader` (sts:AssumeRole from the home credentials, cached
/// and refreshed by the SDK).
pub async fn client(home: &SdkConfig, reader: &MemberRole) -> Client {
    let creds = crate::aws::assume_role(home, reader).await;
    Client::new(&crate::aws::derive(
        home,
        home.region().map_or("us-east-1", |r| r.as_ref()),
        Some(&creds),
    ))
}

/// Whether ListAccounts shows the account ACTIVE: its `State`, or the older `Status` that AWS
/// retired in 2026 when `State` is absent.
fn active(a: &Account) -> bool {
    match (a.state(), a.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

/// The organization an account's ARN names: `arn:<p>:organizations::<mgmt>:account/o-…/<id>`.
fn organization_of(arn: &str) -> Option<&str> {
    arn.split_once(":account/")?.1.split('/').next()
}

/// The accounts of an organization as ListAccounts shows them.
#[derive(Debug, Default, Clone)]
pub struct Roster {
    /// The ACTIVE ones, in ListAccounts' order.
    pub active: Vec<OrgAccount>,
    /// The ids of those listed but not ACTIVE (suspended, closing).
    pub inactive: Vec<String>,
}

/// Every account of the organization `organization_id`, ACTIVE or not. Fails when the role lists
/// another organization (a wrong role or id), so that no listing is half-trusted.
pub async fn roster(client: &Client, organization_id: &str) -> Result<Roster, Error> {
    let mut pages = client
        .list_accounts()
        .max_results(PAGE)
        .into_paginator()
        .send();
    let mut out = Roster::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Error::aws(Operation::ListAccounts, e))?;
        for a in page.accounts() {
            if let Some(found) = a.arn().and_then(organization_of) {
                if found != organization_id {
                    return Err(Error::OtherOrganization {
                        expected: organization_id.to_string(),
                        found: found.to_string(),
                    });
                }
            }
            match (a.id(), active(a)) {
                (Some(id), true) => out.active.push(OrgAccount {
                    id: id.to_string(),
                    name: a.name().unwrap_or_default().to_string(),
                }),
                (Some(id), false) => out.inactive.push(id.to_string()),
                (None, _) => {}
            }
        }
    }
    Ok(out)
}

/// Every ACTIVE account of the organization `organization_id`, in ListAccounts' order (`roster`).
pub async fn active_accounts(
    client: &Client,
    organization_id: &str,
) -> Result<Vec<OrgAccount>, Error> {
    Ok(roster(client, organization_id).await?.active)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organization_is_read_from_the_account_arn() {
        assert_eq!(
            organization_of(
                "arn:aws:organizations::111111111111:account/o-a1b2c3d4e5/222222222222"
            ),
            Some("o-a1b2c3d4e5")
        );
        assert_eq!(organization_of("arn:aws:iam::1:role/x"), None);
    }

    #[test]
    fn only_active_accounts_count_state_first() {
        let with = |state: Option<AccountState>, status: Option<AccountStatus>| {
            let mut b = Account::builder().id("222222222222");
            if let Some(s) = state {
                b = b.state(s);
            }
            if let Some(s) = status {
                b = b.status(s);
            }
            active(&b.build())
        };
        assert!(with(Some(AccountState::Active), None));
        assert!(with(None, Some(AccountStatus::Active)));
        assert!(!with(
            Some(AccountState::Suspended),
            Some(AccountStatus::Active)
        ));
        assert!(!with(Some(AccountState::PendingClosure), None));
        assert!(!with(None, None));
    }
}
