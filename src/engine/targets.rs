//! The targets of a running worker: every (account, region) where instances are looked up. Fixed
//! ones (the home account, `--instances-role-arn`) never change; in organization mode, every ACTIVE
//! account of the last good listing is added with its derived role, and so is an account whose
//! event arrived before a listing named it. Readers take one snapshot (`current`) and keep it for
//! their unit of work; a listing or an admission swaps it. A failed listing changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Instant, SystemTime};

use aws_config::SdkConfig;

use crate::aws::{self, Reachability, Target};
use crate::config::organization::Organization;
use crate::model::domain::{valid_account_id, Account, MemberRole};
use crate::model::organization::{derived_roles, member_role, OrgAccount};

/// The last good listing of the organization.
#[derive(Debug, Clone)]
pub struct Listing {
    pub accounts: Vec<OrgAccount>,
    /// When the listing was taken (it started).
    pub at: SystemTime,
}

/// What a listing changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// A derived account's targets, and since when they are there (an admitted account leaves again
/// when a later listing does not name it).
struct Derived {
    targets: Vec<Target>,
    since: SystemTime,
    listed: bool,
}

/// Whether a derived account could be reached at its last probe.
#[derive(Debug, Clone)]
pub struct Reach {
    pub ok: bool,
    pub at: Instant,
    pub reason: String,
}

#[derive(Default)]
struct Inner {
    current: Arc<Vec<Target>>,
    derived: BTreeMap<String, Derived>,
    listing: Option<Listing>,
    reach: HashMap<String, Reach>,
}

/// Every target, refreshable.
pub struct Targets {
    home: SdkConfig,
    regions: Vec<String>,
    watch: Option<Reachability>,
    fixed: Vec<Target>,
    explicit: Vec<MemberRole>,
    inner: RwLock<Inner>,
}

impl Targets {
    /// The fixed targets (no AWS call: roles are assumed lazily).
    pub async fn new(
        home: &SdkConfig,
        regions: &[String],
        explicit: &[MemberRole],
        watch: Option<&Reachability>,
    ) -> Targets {
        let fixed = aws::targets(home, regions, explicit, true, watch).await;
        Targets {
            home: home.clone(),
            regions: regions.to_vec(),
            watch: watch.cloned(),
            inner: RwLock::new(Inner {
                current: Arc::new(fixed.clone()),
                ..Inner::default()
            }),
            fixed,
            explicit: explicit.to_vec(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Every target now: one snapshot for a unit of work.
    pub fn current(&self) -> Arc<Vec<Target>> {
        self.read().current.clone()
    }

    /// The target of one account in one region, if cloud-unmap looks there now.
    pub fn find(&self, account: &Account, region: &str) -> Option<Target> {
        self.read()
            .current
            .iter()
            .find(|t| &t.account == account && t.region == region)
            .cloned()
    }

    /// The last good listing, if any.
    pub fn listing(&self) -> Option<Listing> {
        self.read().listing.clone()
    }

    /// Whether `account` came from the organization (listed or admitted), not from a fixed role.
    pub fn is_derived(&self, account: &str) -> bool {
        self.read().derived.contains_key(account)
    }

    /// Whether the last good listing, taken after `time`, does not name `account`: an event of that
    /// time cannot come from an account of the organization.
    pub fn unlisted_since(&self, account: &str, time: SystemTime) -> bool {
        self.read()
            .listing
            .as_ref()
            .is_some_and(|l| l.at > time && !l.accounts.iter().any(|a| a.id == account))
    }

    fn rebuild(&self, inner: &mut Inner) {
        let mut all = self.fixed.clone();
        for d in inner.derived.values() {
            all.extend(d.targets.iter().cloned());
        }
        inner.current = Arc::new(all);
    }

    async fn build(&self, role: &MemberRole) -> Vec<Target> {
        aws::targets(
            &self.home,
            &self.regions,
            std::slice::from_ref(role),
            false,
            self.watch.as_ref(),
        )
        .await
    }

    /// Applies a good listing: every listed account but `home` and the explicit ones gets its
    /// derived role's targets (kept as they were when already there, with their cached
    /// credentials); a derived account the listing no longer names leaves, unless it was admitted
    /// after the listing started.
    pub async fn apply(&self, org: &Organization, home: &str, listing: Listing) -> Changes {
        let roles = derived_roles(
            &listing.accounts,
            home,
            &self.explicit,
            &org.partition,
            &org.role_name,
        );
        let known: Vec<String> = self.read().derived.keys().cloned().collect();
        let mut built = Vec::new();
        for role in roles.iter().filter(|r| !known.contains(&r.account_id)) {
            built.push((role.account_id.clone(), self.build(role).await));
        }
        let mut inner = self.write();
        let mut changes = Changes::default();
        let at = listing.at;
        inner.derived.retain(|id, d| {
            let keep = roles.iter().any(|r| &r.account_id == id) || (!d.listed && d.since > at);
            if !keep {
                changes.removed.push(id.clone());
            }
            keep
        });
        for (id, targets) in built {
            if !inner.derived.contains_key(&id) {
                changes.added.push(id.clone());
            }
            inner.derived.entry(id).or_insert(Derived {
                targets,
                since: at,
                listed: true,
            });
        }
        for role in &roles {
            if let Some(d) = inner.derived.get_mut(&role.account_id) {
                d.listed = true;
            }
        }
        for id in &changes.removed {
            inner.reach.remove(id);
        }
        inner.listing = Some(listing);
        self.rebuild(&mut inner);
        changes
    }

    /// Adds an account an event came from before a listing named it (its derived role, in every
    /// instance region). Returns whether it was added now.
    pub async fn admit(&self, org: &Organization, account: &str) -> bool {
        let fixed = self.explicit.iter().any(|r| r.account_id == account);
        if fixed || !valid_account_id(account) || self.is_derived(account) {
            return false;
        }
        let role = member_role(&org.partition, account, &org.role_name);
        let targets = self.build(&role).await;
        let mut inner = self.write();
        if inner.derived.contains_key(account) {
            return false;
        }
        inner.derived.insert(
            account.to_string(),
            Derived {
                targets,
                since: SystemTime::now(),
                listed: false,
            },
        );
        self.rebuild(&mut inner);
        true
    }

    /// The last probe of a derived account.
    pub fn reach(&self, account: &str) -> Option<Reach> {
        self.read().reach.get(account).cloned()
    }

    /// Records a probe; returns whether the account's reachability changed (or was first known).
    pub fn set_reach(&self, account: &str, reach: Reach) -> bool {
        let mut inner = self.write();
        if !inner.derived.contains_key(account) {
            return false;
        }
        let before = inner.reach.insert(account.to_string(), reach.clone());
        before.is_none_or(|b| b.ok != reach.ok)
    }
}
