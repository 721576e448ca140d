//! What the engine remembers between triggers, in one place: each service's state (its planner
//! lock, last listing, discovery names, whether its revision reads fail, the registrations first
//! judged `not-found`, its DNS TTL), which services hold each instance as those listings say
//! (`holders`), what each selection last resolved to, which scheduled
//! timers are armed (and the slots their firings share), the registrations waiting to be put back
//! after a scheduled reboot or maintenance (in memory; `scheduled` also keeps them in the state
//! table when there is one), and each lifecycle hook's timeouts. No I/O here: the modules that ask
//! AWS (`index`, `reconcile`, `scheduled`, `worker`) keep their answers in it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{OwnedMutexGuard, Semaphore};
use tokio_util::task::TaskTracker;

use crate::engine::holders::Holders;
use crate::model::plan::{Action, Hold, Plan, Registration, SkipReason};
use crate::model::scheduled::PutBack;

/// How long a service's DNS TTL is trusted before GetService is asked again.
const TTL_FRESH: Duration = Duration::from_secs(300);

/// A std mutex's guard, also after a panic elsewhere poisoned it (the data stays consistent: every
/// critical section is a single map operation).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One listing of a service's registrations.
#[derive(Debug, Clone)]
pub struct Listing {
    /// When the listing (and the revision read before it) began.
    pub began: SystemTime,
    /// Cloud Map's instances revision read just before the listing, if it could be read.
    pub revision: Option<i64>,
    /// The latest time the revision was read unchanged (the listing was complete then too).
    pub vouched: SystemTime,
    pub registrations: Arc<Vec<Registration>>,
}

impl Listing {
    /// Whether every registration made before `needed` is in the listing.
    pub fn covers(&self, needed: SystemTime) -> bool {
        needed <= self.began.max(self.vouched)
    }
}

/// The namespace and service names DiscoverInstancesRevision asks by, with the owner account of a
/// shared namespace.
#[derive(Debug, Clone)]
pub struct Names {
    pub namespace: String,
    pub service: String,
    pub owner: Option<String>,
}

/// Everything remembered of one service.
#[derive(Default)]
struct Service {
    planner: Arc<tokio::sync::Mutex<()>>,
    listing: Option<Arc<Listing>>,
    names: Option<Names>,
    revision_unreadable: bool,
    /// When each registration was first judged `not-found` (and still is).
    absent: HashMap<String, Instant>,
    ttl: Option<(Duration, Instant)>,
    /// When this process last removed one of the service's registrations.
    changed: Option<SystemTime>,
}

/// The engine's memory (see the module's doc).
#[derive(Default)]
pub struct State {
    services: Mutex<HashMap<String, Service>>,
    /// Which services hold each instance, as their last listings (`Service::listing`) say.
    holders: Mutex<Holders>,
    selections: Mutex<HashMap<String, Vec<String>>>,
    armed: Mutex<HashSet<(String, SystemTime)>>,
    /// Scheduled events fired (instance, NotBefore) with their target (account, region): not fired
    /// again while EC2 lists them pending.
    fired: Mutex<HashMap<(String, SystemTime), (String, String)>>,
    firing: OnceLock<Arc<Semaphore>>,
    /// Scheduled firings and put-backs at work (not their timers): shutdown waits for them.
    pub busy: TaskTracker,
    put_backs: Mutex<HashMap<String, PutBack>>,
    /// The put-backs being checked now (one check at a time each).
    checking: Mutex<HashSet<String>>,
    /// Each lifecycle hook's HeartbeatTimeout and GlobalTimeout, by (account, region, group, hook).
    hooks: Mutex<HashMap<HookKey, HookTimeouts>>,
    /// When this process last saw each EC2 instance's registrations leave (removed, or already gone).
    removed: Mutex<HashMap<String, Instant>>,
}

/// How long a removal is remembered: past Auto Scaling's longest lifecycle action, no drain needs it.
const REMEMBER_REMOVALS: Duration = Duration::from_secs(172_800);

/// A lifecycle hook: account, region, group, hook name.
pub type HookKey = (String, String, String, String);

/// A lifecycle hook's timeouts, as DescribeLifecycleHooks gave them (`None`: not said).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookTimeouts {
    pub heartbeat: Option<Duration>,
    pub global: Option<Duration>,
}

impl State {
    fn with<R>(&self, service_id: &str, f: impl FnOnce(&mut Service) -> R) -> R {
        f(lock(&self.services)
            .entry(service_id.to_string())
            .or_default())
    }

    /// Waits until no other trigger plans or applies `service_id` in this process: the never-empty
    /// guard must judge one consistent listing, so list → plan → apply runs under this guard.
    pub async fn plan_alone(&self, service_id: &str) -> OwnedMutexGuard<()> {
        let planner = self.with(service_id, |s| s.planner.clone());
        planner.lock_owned().await
    }

    /// The last listing of a service.
    pub fn listing(&self, service_id: &str) -> Option<Arc<Listing>> {
        self.with(service_id, |s| s.listing.clone())
    }

    /// Keeps a listing (and the instances it holds); a slower one that began earlier never
    /// replaces a newer one.
    pub fn store_listing(&self, service_id: &str, listing: Listing) -> Arc<Listing> {
        let listing = Arc::new(listing);
        self.with(service_id, |s| {
            if s.listing.as_ref().is_none_or(|l| l.began <= listing.began) {
                s.listing = Some(listing.clone());
                // Within the services' lock, so two listings of one service land in their order.
                lock(&self.holders).replace(service_id, &listing.registrations);
            }
        });
        listing
    }

    /// The services whose last listing holds a registration of the EC2 instance `instance_id`.
    pub fn holders(&self, instance_id: &str) -> Vec<String> {
        lock(&self.holders).of(instance_id)
    }

    /// The revision read unchanged at `at` extends the listing read with that revision to `at`.
    pub fn vouch(&self, service_id: &str, revision: i64, at: SystemTime) {
        self.with(service_id, |s| {
            if let Some(l) = &mut s.listing {
                if l.revision == Some(revision) && l.vouched < at {
                    let mut newer = (**l).clone();
                    newer.vouched = at;
                    *l = Arc::new(newer);
                }
            }
        });
    }

    pub fn names(&self, service_id: &str) -> Option<Names> {
        self.with(service_id, |s| s.names.clone())
    }

    pub fn set_names(&self, service_id: &str, names: Names) {
        self.with(service_id, |s| s.names = Some(names));
    }

    /// Records whether the service's revision could be read; true when it just started failing.
    pub fn revision_read(&self, service_id: &str, ok: bool) -> bool {
        self.with(service_id, |s| {
            let newly = !ok && !s.revision_unreadable;
            s.revision_unreadable = !ok;
            newly
        })
    }

    /// The service's DNS TTL, when read within the last five minutes.
    pub fn fresh_ttl(&self, service_id: &str) -> Option<Duration> {
        self.with(service_id, |s| {
            s.ttl
                .filter(|(_, at)| at.elapsed() < TTL_FRESH)
                .map(|(t, _)| t)
        })
    }

    pub fn set_ttl(&self, service_id: &str, ttl: Duration) {
        self.with(service_id, |s| s.ttl = Some((ttl, Instant::now())));
    }

    /// The registrations of `service_id` first judged `not-found` at least `grace` ago: a second
    /// lookup now confirms their absence.
    pub fn confirmed_absent(&self, service_id: &str, grace: Duration) -> HashSet<String> {
        self.with(service_id, |s| {
            s.absent
                .iter()
                .filter(|(_, first)| first.elapsed() >= grace)
                .map(|(id, _)| id.clone())
                .collect()
        })
    }

    /// Remembers what `plan` judged: the first sighting of each `not-found` registration is kept,
    /// a registration judged anything else is forgotten. A whole-service plan (`complete`) also
    /// forgets registrations that are gone from the listing.
    pub fn note_absent(&self, service_id: &str, plan: &Plan, complete: bool) {
        let now = Instant::now();
        self.with(service_id, |s| {
            if complete {
                let listed: HashSet<&str> = plan
                    .decisions
                    .iter()
                    .map(|d| d.instance_id.as_str())
                    .collect();
                s.absent.retain(|id, _| listed.contains(id.as_str()));
            }
            let absent: HashSet<&str> = plan.not_found().collect();
            for d in &plan.decisions {
                if absent.contains(d.instance_id.as_str()) {
                    s.absent.entry(d.instance_id.clone()).or_insert(now);
                } else if !matches!(
                    // Not found while a target did not answer is no sighting either way: the
                    // first sighting of an absence stays as it was.
                    d.action,
                    Action::Skip(SkipReason::OutOfScope) | Action::Hold(Hold::Unanswered)
                ) {
                    s.absent.remove(&d.instance_id);
                }
            }
        });
    }

    /// Records the services a selection (a namespace id, or `--service-tag`) resolved to now.
    pub fn remember_selection(&self, selection: &str, services: &[String]) {
        lock(&self.selections).insert(selection.to_string(), services.to_vec());
    }

    /// The services a selection resolved to at its last successful listing.
    pub fn last_known_services(&self, selection: &str) -> Option<Vec<String>> {
        lock(&self.selections).get(selection).cloned()
    }

    /// Marks a scheduled event's timer as armed; false when it already was, or when the event has
    /// fired already.
    pub fn arm(&self, instance_id: &str, start: SystemTime) -> bool {
        let key = (instance_id.to_string(), start);
        !lock(&self.fired).contains_key(&key) && lock(&self.armed).insert(key)
    }

    /// Forgets a fired timer.
    pub fn disarm(&self, instance_id: &str, start: SystemTime) {
        lock(&self.armed).remove(&(instance_id.to_string(), start));
    }

    /// Remembers a scheduled event as fired (in `account`, `region`).
    pub fn note_fired(&self, instance_id: &str, start: SystemTime, account: &str, region: &str) {
        let target = (account.to_string(), region.to_string());
        lock(&self.fired).insert((instance_id.to_string(), start), target);
    }

    /// Forgets the fired events that a target which answered (`answered`) no longer lists pending
    /// (`pending`: instance and NotBefore): completed, cancelled or rescheduled.
    pub fn prune_fired(
        &self,
        answered: &HashSet<(String, String)>,
        pending: &HashSet<(String, SystemTime)>,
    ) {
        lock(&self.fired).retain(|key, target| !answered.contains(target) || pending.contains(key));
    }

    /// The slots scheduled firings share: at most `n` (`--concurrency`) run at once.
    pub fn firing_slots(&self, n: usize) -> Arc<Semaphore> {
        self.firing
            .get_or_init(|| Arc::new(Semaphore::new(n.max(1))))
            .clone()
    }

    /// Remembers a registration to put back (replacing an earlier one of the same registration).
    pub fn keep_put_back(&self, p: PutBack) {
        lock(&self.put_backs).insert(p.key(), p);
    }

    pub fn forget_put_back(&self, p: &PutBack) {
        lock(&self.put_backs).remove(&p.key());
    }

    /// Marks a put-back as being checked; false when another check has it.
    pub fn check_put_back(&self, key: &str) -> bool {
        lock(&self.checking).insert(key.to_string())
    }

    pub fn checked_put_back(&self, key: &str) {
        lock(&self.checking).remove(key);
    }

    /// The registrations waiting to be put back in this process.
    pub fn put_backs(&self) -> Vec<PutBack> {
        lock(&self.put_backs).values().cloned().collect()
    }

    /// Notes that an EC2 instance's registration just left a selected service.
    /// This process just removed one of `service_id`'s registrations: a listing begun before is
    /// stale (the cycle lists every service before it judges any).
    pub fn note_changed(&self, service_id: &str) {
        self.with(service_id, |s| s.changed = Some(SystemTime::now()));
    }

    /// Whether this process removed one of `service_id`'s registrations since `began`.
    pub fn changed_since(&self, service_id: &str, began: SystemTime) -> bool {
        self.with(service_id, |s| s.changed.is_some_and(|c| c >= began))
    }

    pub fn note_removed(&self, instance_id: &str) {
        let mut removed = lock(&self.removed);
        removed.retain(|_, at| at.elapsed() < REMEMBER_REMOVALS);
        removed.insert(instance_id.to_string(), Instant::now());
    }

    /// How long ago this process last saw a registration of `instance_id` leave, if it did.
    pub fn removed_since(&self, instance_id: &str) -> Option<Duration> {
        lock(&self.removed).get(instance_id).map(Instant::elapsed)
    }

    /// A hook's timeouts, when read before (they change only when someone edits the hook).
    pub fn hook_timeouts(&self, key: &HookKey) -> Option<HookTimeouts> {
        lock(&self.hooks).get(key).copied()
    }

    pub fn set_hook_timeouts(&self, key: HookKey, timeouts: HookTimeouts) {
        lock(&self.hooks).insert(key, timeouts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(began: u64, vouched: u64) -> Listing {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        Listing {
            began: at(began),
            revision: Some(7),
            vouched: at(vouched),
            registrations: Arc::default(),
        }
    }

    #[test]
    fn a_listing_covers_what_was_made_before_it_began_or_was_vouched_for() {
        let at = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let l = listing(100, 100);
        assert!(l.covers(at(99_000)) && l.covers(at(100_000)));
        assert!(!l.covers(at(100_001)));
        // The revision read unchanged at 130 s stands for a listing made then.
        assert!(listing(100, 130).covers(at(129_000)));
        assert!(!listing(100, 130).covers(at(131_000)));
    }

    #[test]
    fn an_older_listing_never_replaces_a_newer_one_and_vouching_needs_the_same_revision() {
        let state = State::default();
        state.store_listing("srv-1", listing(200, 200));
        state.store_listing("srv-1", listing(100, 100));
        let began = |s: &State| s.listing("srv-1").unwrap().began;
        assert_eq!(began(&state), listing(200, 200).began);
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(300);
        state.vouch("srv-1", 8, later);
        assert_eq!(
            state.listing("srv-1").unwrap().vouched,
            listing(200, 200).vouched
        );
        state.vouch("srv-1", 7, later);
        assert_eq!(state.listing("srv-1").unwrap().vouched, later);
    }

    #[test]
    fn a_revision_failure_is_new_once_until_a_read_succeeds() {
        let state = State::default();
        assert!(state.revision_read("srv-1", false));
        assert!(!state.revision_read("srv-1", false));
        assert!(!state.revision_read("srv-1", true));
        assert!(state.revision_read("srv-1", false));
    }
}
