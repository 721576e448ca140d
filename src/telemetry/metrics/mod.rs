//! Prometheus metrics: the seed's two gauges under their exact names and labels, and
//! cloud-unmap's own. Label values are bounded: service ids come from configuration, the rest are
//! enums.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use std::sync::Mutex;

use crate::error::Error;
use crate::model::claims::EventOutcome;
use crate::model::domain::Account;

mod labels;
pub use labels::*;

fn latency_histogram() -> Histogram {
    // 1 ms … ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 10 ms … ~80 s
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

fn age_histogram() -> Histogram {
    // 0.25 s … ~36 h: an event's removal within a second, a reconcile's within its period, a
    // registration left for days by a broken setup.
    Histogram::new(exponential_buckets(0.25, 2.0, 20))
}

/// Every metric the process exports.
#[derive(Debug)]
pub struct Metrics {
    /// Seed: `aws_cloud_unmap_up{service_id}`, always 1 while running.
    pub up: Family<ServiceLabels, Gauge>,
    /// Seed: `aws_cloud_unmap_last_reconcile_success_timestamp_seconds{service_id}`.
    pub last_success: Family<ServiceLabels, Gauge>,
    pub deregistrations: Family<DeregistrationLabels, Counter>,
    /// Planned removals Cloud Map answered InstanceNotFound to: someone else removed them first.
    pub already_gone: Family<ServiceTriggerLabels, Counter>,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: HistogramFamily<ServiceLabels>,
    pub guard_holds: Family<GuardLabels, Counter>,
    pub aws_errors: Family<AwsErrorLabels, Counter>,
    /// `cloud_unmap_build_info{version,revision}`, always 1.
    pub build_info: Family<BuildLabels, Gauge>,
    /// The home account's label (its 12-digit id once known) and the service region: where an AWS
    /// error without a target of its own went.
    home: Mutex<(String, String)>,
    pub registered: Family<ServiceLabels, Gauge>,
    pub events: Family<EventLabels, Counter>,
    pub messages: Family<MessageLabels, Counter>,
    pub event_latency: HistogramFamily<LatencyLabels>,
    pub receive_errors: Counter,
    pub lifecycle: Family<LifecycleLabels, Counter>,
    pub changed: Family<ServiceLabels, Counter>,
    pub missing: Family<MissingLabels, Gauge>,
    /// 1 while /readyz would answer 200 (set at each scrape).
    pub ready: Gauge,
    pub cycles: Family<CycleLabels, Counter>,
    pub put_backs: Family<PutBackLabels, Counter>,
    pub target_failures: Family<TargetLabels, Counter>,
    pub left_to_reconcile: Family<ServiceLabels, Gauge>,
    pub sweeps: Family<SweepLabels, Counter>,
    /// How long each removed registration pointed at a dead instance, by trigger.
    pub dead_age: HistogramFamily<TriggerLabels>,
    /// Seconds AWS calls waited for their request budget, by family, account and region.
    pub budget_wait: Family<BudgetLabels, Counter<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            up: Family::default(),
            last_success: Family::default(),
            deregistrations: Family::default(),
            already_gone: Family::default(),
            reconciles: Family::default(),
            reconcile_duration: Family::new_with_constructor(duration_histogram),
            guard_holds: Family::default(),
            aws_errors: Family::default(),
            build_info: Family::default(),
            home: Mutex::new(("home".to_string(), String::new())),
            registered: Family::default(),
            events: Family::default(),
            messages: Family::default(),
            event_latency: Family::new_with_constructor(latency_histogram),
            receive_errors: Counter::default(),
            lifecycle: Family::default(),
            changed: Family::default(),
            missing: Family::default(),
            ready: Gauge::default(),
            cycles: Family::default(),
            put_backs: Family::default(),
            target_failures: Family::default(),
            left_to_reconcile: Family::default(),
            sweeps: Family::default(),
            dead_age: Family::new_with_constructor(age_histogram),
            budget_wait: Family::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under its public name.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "aws_cloud_unmap_up",
            "Always 1 - can by used to check if it's running",
            self.up.clone(),
        );
        registry.register(
            "aws_cloud_unmap_last_reconcile_success_timestamp_seconds",
            "The timestamp (in seconds) of the last successful reconciliation",
            self.last_success.clone(),
        );
        registry.register(
            "cloud_unmap_deregistrations",
            "Registrations removed from Cloud Map, by service, trigger and reason",
            self.deregistrations.clone(),
        );
        registry.register(
            "cloud_unmap_already_gone",
            "Planned removals already gone from Cloud Map (removed by another replica, a duplicate event or a person): not counted as deregistrations",
            self.already_gone.clone(),
        );
        registry.register(
            "cloud_unmap_reconciles",
            "Reconciles of one service, by result (success, held by the never-empty guard, failure)",
            self.reconciles.clone(),
        );
        registry.register(
            "cloud_unmap_reconcile_duration_seconds",
            "Wall time of one service's reconcile",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "cloud_unmap_guard_holds",
            "Times a guard held a service's deregistrations back (never_empty, not_found_surge)",
            self.guard_holds.clone(),
        );
        registry.register(
            "cloud_unmap_aws_errors",
            "AWS API calls that failed after the SDK's retries, by operation, account, region and class (throttling, permission, credentials, network, not_found, other)",
            self.aws_errors.clone(),
        );
        registry.register(
            "cloud_unmap_build_info",
            "Always 1: the version and the source revision (REVISION at build time, else unknown) running",
            self.build_info.clone(),
        );
        self.build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                revision: option_env!("REVISION")
                    .filter(|r| !r.is_empty())
                    .unwrap_or("unknown")
                    .to_string(),
            })
            .set(1);
        registry.register(
            "cloud_unmap_registered_instances",
            "Registrations of the service after its latest reconcile",
            self.registered.clone(),
        );
        registry.register(
            "cloud_unmap_events",
            "Events read from the queue, by type and outcome (acted, draining, other_hook, expired, not_terminating, left_to_reconcile, ignored, invalid, failed)",
            self.events.clone(),
        );
        registry.register(
            "cloud_unmap_messages",
            "Queue messages deleted (work done), left for redelivery or the DLQ, or released at shutdown",
            self.messages.clone(),
        );
        registry.register(
            "cloud_unmap_event_latency_seconds",
            "From the event's time, or from its receipt, to its deregistration being confirmed",
            self.event_latency.clone(),
        );
        registry.register(
            "cloud_unmap_receive_errors",
            "Failed ReceiveMessage calls (each followed by a backoff)",
            self.receive_errors.clone(),
        );
        registry.register(
            "cloud_unmap_lifecycle_actions",
            "Steps of the lifecycle actions cloud-unmap owns (drain started, heartbeat, completed, gone)",
            self.lifecycle.clone(),
        );
        registry.register(
            "cloud_unmap_changed",
            "Registrations registered again with other attributes between their judgment and their removal, kept",
            self.changed.clone(),
        );
        registry.register(
            "cloud_unmap_selection_missing",
            "1 while a selected service or namespace does not exist (deleted, or a wrong id)",
            self.missing.clone(),
        );
        registry.register(
            "cloud_unmap_ready",
            "1 while the worker is ready (/readyz answers 200), read at each scrape",
            self.ready.clone(),
        );
        registry.register(
            "cloud_unmap_dead_registration_age_seconds",
            "How long each removed registration pointed at a dead instance (removal time minus the instance's end as EC2 or its event reports it), by trigger",
            self.dead_age.clone(),
        );
        registry.register(
            "cloud_unmap_reconcile_cycles",
            "Reconcile cycles asked for, by cause (timer, schedule, start, backstop) and outcome (ran here, or covered by another replica)",
            self.cycles.clone(),
        );
        registry.register(
            "cloud_unmap_scheduled_put_backs",
            "Registrations removed for a scheduled reboot or maintenance, by what came of putting them back (registered, dropped, failed)",
            self.put_backs.clone(),
        );
        registry.register(
            "cloud_unmap_target_failures",
            "Instance lookups an account and region did not answer (its not-found registrations wait)",
            self.target_failures.clone(),
        );
        registry.register(
            "cloud_unmap_left_to_reconcile",
            "1 while the event path leaves a selected service to the reconcile (it kept failing to sync)",
            self.left_to_reconcile.clone(),
        );
        registry.register(
            "cloud_unmap_budget_wait_seconds",
            "Seconds AWS calls waited for their client-side request budget (--budget-*), by API family, account and region",
            self.budget_wait.clone(),
        );
        registry.register(
            "cloud_unmap_revision_sweep_services",
            "Services the event path's revision sweep looked at, by result (unchanged, listed, left to the reconcile, failed)",
            self.sweeps.clone(),
        );
    }

    /// A call of `family` in `account` and `region` waited `waited` for its budget.
    pub fn budget_waited(
        &self,
        family: crate::model::budget::Family,
        account: &crate::model::domain::Account,
        region: &str,
        waited: std::time::Duration,
    ) {
        self.budget_wait
            .get_or_create(&BudgetLabels {
                family: family.name().to_string(),
                account: account.to_string(),
                region: region.to_string(),
            })
            .inc_by(waited.as_secs_f64());
    }

    pub fn sweep(&self, result: SweepResult, n: usize) {
        self.sweeps
            .get_or_create(&SweepLabels { result })
            .inc_by(n as u64);
    }

    pub fn put_back(&self, result: PutBackResult) {
        self.put_backs
            .get_or_create(&PutBackLabels { result })
            .inc();
    }

    pub fn guard_hold(&self, service_id: &str, guard: Guard) {
        self.guard_holds
            .get_or_create(&GuardLabels {
                service_id: service_id.to_string(),
                guard,
            })
            .inc();
    }

    pub fn lifecycle_step(&self, step: LifecycleStep) {
        self.lifecycle
            .get_or_create(&LifecycleLabels { step })
            .inc();
    }

    pub fn event(&self, r#type: crate::model::event::EventType, outcome: EventOutcome) {
        self.events
            .get_or_create(&EventLabels { r#type, outcome })
            .inc();
    }

    pub fn cycle(&self, cause: CycleCause, outcome: CycleOutcome) {
        self.cycles
            .get_or_create(&CycleLabels { cause, outcome })
            .inc();
    }

    pub fn message(&self, result: MessageResult, n: usize) {
        self.messages
            .get_or_create(&MessageLabels { result })
            .inc_by(n as u64);
    }

    pub fn service(service_id: &str) -> ServiceLabels {
        ServiceLabels {
            service_id: service_id.to_string(),
        }
    }

    /// A registration removed `age` after its instance ended.
    pub fn dead_registration(&self, trigger: Trigger, age: std::time::Duration) {
        self.dead_age
            .get_or_create(&TriggerLabels { trigger })
            .observe(age.as_secs_f64());
    }

    /// The home account (its 12-digit id, once GetCallerIdentity told it) and the service region,
    /// for AWS errors of calls made there.
    pub fn set_home(&self, account: &str, region: &str) {
        *self.home.lock().unwrap_or_else(|p| p.into_inner()) =
            (account.to_string(), region.to_string());
    }

    /// The label of `account`: a member's id, or the home account's.
    pub fn account_label(&self, account: &Account) -> String {
        match account {
            Account::Member(id) => id.clone(),
            Account::Home => self
                .home
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .0
                .clone(),
        }
    }

    /// Counts an AWS failure (anything else is not counted here).
    pub fn aws_error(&self, error: &Error) {
        let Error::Aws {
            operation, more, ..
        } = error
        else {
            return;
        };
        let (account, region) = match &more.at {
            Some((account, region)) => (self.account_label(account), region.clone()),
            None => self.home.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        };
        let labels = AwsErrorLabels {
            operation: *operation,
            account,
            region,
            class: error.class(),
        };
        self.aws_errors.get_or_create(&labels).inc();
    }
}

/// Renders a registry in the OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests;
