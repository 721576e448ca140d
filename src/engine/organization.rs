//! Organization mode's listing: the organization's ACTIVE accounts through the reader role, applied
//! to the targets (`targets::apply`); `app` runs it once before the first cycle and then every
//! `--organization-refresh`. A failed listing keeps the last good list (never shrinks on an error),
//! is logged once per state change, counted by operation, and retried sooner with backoff.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use tracing::{debug, info, warn};

use crate::aws::{organizations, sts};
use crate::config::organization::Organization;
use crate::engine::targets::{Changes, Listing, Targets};
use crate::error::Error;
use crate::telemetry::emit;
use crate::telemetry::metrics::Metrics;

/// The first retry after a failed listing; later ones double up to the refresh period.
pub const RETRY: Duration = Duration::from_secs(30);

/// The clients of the listing and what it remembers between refreshes.
pub struct Lister {
    pub organization: Organization,
    client: aws_sdk_organizations::Client,
    sts: aws_sdk_sts::Client,
    /// The home credentials' account (its own targets are the home ones).
    home: Mutex<Option<String>>,
    failing: AtomicBool,
}

impl Lister {
    /// The clients (no AWS call: the reader role is assumed at the first listing).
    pub async fn new(home: &SdkConfig, organization: Organization) -> Lister {
        Lister {
            client: organizations::client(home, &organization.reader).await,
            sts: sts::client(home),
            organization,
            home: Mutex::new(None),
            failing: AtomicBool::new(false),
        }
    }

    async fn home_account(&self) -> Result<String, Error> {
        if let Some(id) = self.home.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(id);
        }
        let id = sts::caller(&self.sts).await?.account;
        *self.home.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.clone());
        Ok(id)
    }

    async fn list(&self) -> Result<(String, Listing), Error> {
        let at = SystemTime::now();
        let home = self.home_account().await?;
        let roster = organizations::roster(&self.client, &self.organization.id).await?;
        Ok((
            home,
            Listing {
                accounts: roster.active,
                inactive: roster.inactive,
                at,
            },
        ))
    }
}

/// One listing, applied to `targets` when it succeeds.
pub async fn refresh(
    lister: &Lister,
    targets: &Targets,
    metrics: &Metrics,
) -> Result<Changes, Error> {
    let org = &lister.organization;
    match lister.list().await {
        Ok((home, listing)) => {
            let accounts = listing.accounts.len();
            let changes = targets.apply(org, &home, listing).await;
            let recovered = lister.failing.swap(false, Ordering::Relaxed);
            if !changes.departed.is_empty() {
                warn!(organization = %org.id, departed = ?changes.departed,
                    "accounts left the organization; still asked until a restart (their instances may still run; if their role stops working, not-found waits)");
            }
            if recovered || !changes.added.is_empty() || !changes.removed.is_empty() {
                info!(organization = %org.id, accounts, added = ?changes.added, removed = ?changes.removed,
                    "organization accounts listed");
            } else {
                debug!(organization = %org.id, accounts, "organization accounts listed; no change");
            }
            Ok(changes)
        }
        Err(e) => {
            emit::count(metrics, &e);
            if !lister.failing.swap(true, Ordering::Relaxed) {
                let kept = targets.listing().map_or(0, |l| l.accounts.len());
                warn!(organization = %org.id, error = %e, accounts_kept = kept,
                    "cannot list the organization's accounts; the last good list is kept");
            } else {
                debug!(organization = %org.id, error = %e, "organization listing still failing");
            }
            Err(e)
        }
    }
}
