//! The targets of a running worker: every (account, region) where instances are looked up. Fixed
//! ones (the home account, `--instances-role-arn`) never change; in organization mode, every ACTIVE
//! account of the last good listing is added with its derived role, and so is an account whose
//! event arrived before a listing named it. An account that was listed and leaves the organization
//! (no longer listed at all) stays asked for the process lifetime: its instances may still run and
//! its role still work; if it stops answering, only not-found waits. Suspended or closing accounts
//! leave. Until a first good listing, the organization counts as a target that did not answer
//! (`unlisted`). Readers take one snapshot (`current`) and keep it for their unit of work; a listing
//! or an admission swaps it. A failed listing changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;

use crate::aws::{self, Reachability, Target};
use crate::config::organization::Organization;
use crate::model::domain::{valid_account_id, Account, MemberRole};
use crate::model::organization::{derived_roles, member_role, OrgAccount};

/// The last good listing of the organization.
#[derive(Debug, Clone)]
pub struct Listing {
    pub accounts: Vec<OrgAccount>,
    /// The ids listed but not ACTIVE (suspended, closing): their targets leave.
    pub inactive: Vec<String>,
    /// When the listing was taken (it started).
    pub at: SystemTime,
}

/// What a listing changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Listed before, not listed at all now (left the organization): still asked.
    pub departed: Vec<String>,
}

/// A derived account's targets, and since when they are there (an admitted account leaves again
/// when a later listing does not name it).
struct Derived {
    targets: Vec<Target>,
    since: SystemTime,
    listed: bool,
    /// Listed before, not listed now: kept, asked, for the process lifetime.
    departed: bool,
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
    /// Organization mode: the organization's accounts are targets once listed.
    organization: bool,
    /// The longest pause of a member account's circuit breaker (the reconcile period).
    rest_max: Duration,
    inner: RwLock<Inner>,
}

impl Targets {
    /// The fixed targets (no AWS call: roles are assumed lazily); `organization`: organization mode;
    /// each member account gets a circuit breaker whose pause grows up to `rest_max`.
    pub async fn new(
        home: &SdkConfig,
        regions: &[String],
        explicit: &[MemberRole],
        watch: Option<&Reachability>,
        organization: bool,
        rest_max: Duration,
    ) -> Targets {
        let fixed = aws::targets(home, regions, explicit, true, watch).await;
        let fixed = aws::with_breakers(fixed, rest_max);
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
            organization,
            rest_max,
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

    /// Organization mode before any good listing: the organization's accounts are not asked yet, so
    /// the organization counts as a target that did not answer (only not-found waits).
    pub fn unlisted(&self) -> bool {
        self.organization && self.read().listing.is_none()
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
        let targets = aws::targets(
            &self.home,
            &self.regions,
            std::slice::from_ref(role),
            false,
            self.watch.as_ref(),
        )
        .await;
        aws::with_breakers(targets, self.rest_max)
    }

    /// Applies a good listing: every listed account but `home` and the explicit ones gets its
    /// derived role's targets (kept as they were when already there, with their cached
    /// credentials). A derived account the listing shows suspended or closing leaves; one it no
    /// longer names at all stays (departed) if it was listed before, and leaves if it was only
    /// admitted from an event before the listing started.
    pub async fn apply(&self, org: &Organization, home: &str, listing: Listing) -> Changes {
        let mut roles = derived_roles(
            &listing.accounts,
            home,
            &self.explicit,
            &org.partition,
            &org.role_name,
        );
        roles.retain(|r| !org.exclude.contains(&r.account_id));
        let known: Vec<String> = self.read().derived.keys().cloned().collect();
        let mut built = Vec::new();
        for role in roles.iter().filter(|r| !known.contains(&r.account_id)) {
            built.push((role.account_id.clone(), self.build(role).await));
        }
        let mut inner = self.write();
        let mut changes = Changes::default();
        let at = listing.at;
        inner.derived.retain(|id, d| {
            if roles.iter().any(|r| &r.account_id == id) {
                d.departed = false;
                return true;
            }
            let inactive = listing.inactive.contains(id) || org.exclude.contains(id);
            let departed = d.listed && !inactive;
            if departed && !d.departed {
                changes.departed.push(id.clone());
            }
            d.departed = departed;
            let keep = departed || (!d.listed && d.since > at);
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
                departed: false,
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
        let excluded = org.exclude.iter().any(|a| a == account);
        if fixed || excluded || !valid_account_id(account) || self.is_derived(account) {
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
                departed: false,
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
