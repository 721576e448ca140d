//! The shared context of a running worker: validated configuration, the Cloud Map client, the EC2
//! and Auto Scaling clients of every (account, region) target, metrics and health, and what the
//! triggers must share to stay consistent: one planner per service at a time, the last known
//! services of each namespace (and of `--service-tag`), which selections are missing, services' DNS TTLs, and when each
//! registration was first found missing from EC2. Built once by
//! `app`, shared by the reconcile and the event path.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;

use crate::aws::cloudmap;
use crate::aws::Target;
use crate::config::Config;
use crate::error::Error;
use crate::model::domain::Account;
use crate::model::domain::SelectionKind;
use crate::model::plan::{Action, Plan, PlanOptions, SkipReason};
use crate::telemetry::emit::{self, Failure};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::{Metrics, MissingLabels};

/// How long a service's DNS TTL is trusted before GetService is asked again.
const TTL_FRESH: Duration = Duration::from_secs(300);

/// Everything the reconcile and event paths share.
pub struct Context {
    pub config: Config,
    pub cloudmap: aws_sdk_servicediscovery::Client,
    pub targets: Vec<Target>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Where removals' undo records also go (`--audit-event-bus`).
    pub audit: Option<crate::aws::eventbridge::AuditBus>,
    /// The last listing of each service, for the event path.
    pub index: crate::engine::index::Index,
    /// The state table the replicas share (`--state-table`): each service's success goes there.
    pub ledger: Option<crate::aws::dynamodb::Ledger>,
    shared: Shared,
}

#[derive(Default)]
struct Shared {
    planners: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    selections: Mutex<HashMap<String, Vec<String>>>,
    ttls: Mutex<HashMap<String, (Duration, Instant)>>,
    /// Per service, when each registration was first judged `not-found` (and still is).
    absent: Mutex<HashMap<String, HashMap<String, Instant>>>,
    /// Scheduled EC2 events with a timer armed: (instance id, start).
    armed: Mutex<HashSet<(String, std::time::SystemTime)>>,
}

/// A std mutex's guard, also after a panic elsewhere poisoned it (the data stays consistent: every
/// critical section is a single map operation).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Context {
    pub fn new(
        config: Config,
        cloudmap: aws_sdk_servicediscovery::Client,
        targets: Vec<Target>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Context {
        Context {
            config,
            cloudmap,
            targets,
            metrics,
            health,
            audit: None,
            index: crate::engine::index::Index::default(),
            ledger: None,
            shared: Shared::default(),
        }
    }

    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            deregister_stopped: self.config.deregister_stopped,
            allow_empty_service: self.config.allow_empty_service,
            max_not_found: self.config.max_not_found,
        }
    }

    /// The target of one account in one region, if cloud-unmap looks there.
    pub fn target(&self, account: &Account, region: &str) -> Option<&Target> {
        self.targets
            .iter()
            .find(|t| &t.account == account && t.region == region)
    }

    /// Logs and counts a failure (see `emit`).
    pub fn failed(&self, what: Failure<'_>, error: &Error) {
        emit::failure(&self.metrics, what, error);
    }

    /// Counts a failure without logging it again (see `emit::count`).
    pub fn counted(&self, error: &Error) {
        emit::count(&self.metrics, error);
    }

    /// Waits until no other trigger plans or applies `service_id` in this process: the never-empty
    /// guard must judge one consistent listing, so list → plan → apply runs under this guard.
    pub async fn plan_alone(&self, service_id: &str) -> OwnedMutexGuard<()> {
        let planner = lock(&self.shared.planners)
            .entry(service_id.to_string())
            .or_default()
            .clone();
        planner.lock_owned().await
    }

    /// Records the services a selection (a namespace id, or `--service-tag`) resolved to now.
    pub fn remember_selection(&self, selection: &str, services: &[String]) {
        lock(&self.shared.selections).insert(selection.to_string(), services.to_vec());
    }

    /// The services a selection resolved to at its last successful listing.
    pub fn last_known_services(&self, selection: &str) -> Option<Vec<String>> {
        lock(&self.shared.selections).get(selection).cloned()
    }

    /// Marks a selected service or namespace as missing (or found again), in metrics and health.
    /// Returns whether it just became missing (so callers log a new problem once).
    pub fn set_missing(&self, kind: SelectionKind, id: &str, missing: bool) -> bool {
        let changed = self.health.missing(id, missing);
        if changed {
            self.metrics
                .missing
                .get_or_create(&MissingLabels {
                    kind,
                    id: id.to_string(),
                })
                .set(i64::from(missing));
        }
        changed && missing
    }

    /// The registrations of `service_id` first judged `not-found` at least `grace` ago: a second
    /// lookup now confirms their absence.
    pub fn confirmed_absent(&self, service_id: &str, grace: Duration) -> HashSet<String> {
        lock(&self.shared.absent)
            .get(service_id)
            .map(|seen| {
                seen.iter()
                    .filter(|(_, first)| first.elapsed() >= grace)
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Remembers what `plan` judged: the first sighting of each `not-found` registration is kept,
    /// a registration judged anything else is forgotten. A whole-service plan (`complete`) also
    /// forgets registrations that are gone from the listing.
    pub fn note_absent(&self, service_id: &str, plan: &Plan, complete: bool) {
        let now = Instant::now();
        let mut ledger = lock(&self.shared.absent);
        let seen = ledger.entry(service_id.to_string()).or_default();
        if complete {
            let listed: HashSet<&str> = plan
                .decisions
                .iter()
                .map(|d| d.instance_id.as_str())
                .collect();
            seen.retain(|id, _| listed.contains(id.as_str()));
        }
        let absent: HashSet<&str> = plan.not_found().collect();
        for d in &plan.decisions {
            if absent.contains(d.instance_id.as_str()) {
                seen.entry(d.instance_id.clone()).or_insert(now);
            } else if d.action != Action::Skip(SkipReason::OutOfScope) {
                seen.remove(&d.instance_id);
            }
        }
    }

    /// Marks a scheduled event's timer as armed; false when it already was.
    pub fn arm_scheduled(&self, instance_id: &str, start: std::time::SystemTime) -> bool {
        lock(&self.shared.armed).insert((instance_id.to_string(), start))
    }

    /// Forgets a fired timer.
    pub fn disarm_scheduled(&self, instance_id: &str, start: std::time::SystemTime) {
        lock(&self.shared.armed).remove(&(instance_id.to_string(), start));
    }

    /// The largest DNS TTL of `service_id`, from a cache refreshed every five minutes.
    pub async fn dns_ttl(&self, service_id: &str) -> Result<Duration, Error> {
        if let Some((ttl, at)) = lock(&self.shared.ttls).get(service_id) {
            if at.elapsed() < TTL_FRESH {
                return Ok(*ttl);
            }
        }
        let ttl = cloudmap::dns_ttl(&self.cloudmap, service_id).await?;
        lock(&self.shared.ttls).insert(service_id.to_string(), (ttl, Instant::now()));
        Ok(ttl)
    }
}
