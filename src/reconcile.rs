//! The periodic / single-run backstop: resolve the selected services, and for each one list its
//! registrations, look their instances up in EC2, plan, and apply the plan.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, instrument, warn};

use crate::aws::Target;
use crate::config::Config;
use crate::error::Error;
use crate::health::Health;
use crate::inventory;
use crate::metrics::{DeregistrationLabels, Metrics, ReconcileLabels, ReconcileResult, Trigger};
use crate::plan::{self, Action, Plan, PlanOptions, Reason, Scope};
use crate::registry::{self, Deregistered};

/// How many services are reconciled at once.
const SERVICE_CONCURRENCY: usize = 4;

/// Everything the reconcile and event paths share: configuration, clients, metrics, health.
pub struct Context {
    pub config: Config,
    pub cloudmap: aws_sdk_servicediscovery::Client,
    pub targets: Vec<Target>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl Context {
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            deregister_stopped: self.config.deregister_stopped,
            allow_empty_service: self.config.allow_empty_service,
        }
    }

    fn count_error(&self, error: &Error) {
        if let Error::Aws { operation, .. } = error {
            self.metrics.aws_error(*operation);
        }
    }
}

/// What one service's reconcile did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServiceReport {
    pub registrations: usize,
    pub kept: usize,
    pub skipped: usize,
    /// Removed (or, in a dry run, that would have been removed).
    pub deregistered: usize,
    /// Deregistrations the guard held back.
    pub held: usize,
    /// Deregistrations that failed.
    pub failed: usize,
}

/// The outcome of one cycle over every selected service.
#[derive(Debug, Default)]
pub struct CycleReport {
    pub services: Vec<(String, Result<ServiceReport, Error>)>,
    /// Failures to resolve namespaces into services.
    pub selection_errors: Vec<Error>,
}

impl CycleReport {
    /// Exit code of a single run: 1 on any failure, else 3 if the guard held anything, else 0.
    pub fn exit_code(&self) -> i32 {
        let failed = !self.selection_errors.is_empty()
            || self
                .services
                .iter()
                .any(|(_, r)| r.as_ref().map_or(true, |r| r.failed > 0));
        let held = self
            .services
            .iter()
            .any(|(_, r)| r.as_ref().is_ok_and(|r| r.held > 0));
        if failed {
            1
        } else if held {
            3
        } else {
            0
        }
    }
}

/// The explicit service ids, then every service of every namespace (listed anew on each call).
pub async fn resolve_services(ctx: &Context) -> (Vec<String>, Vec<Error>) {
    let mut services = ctx.config.service_ids.clone();
    let mut errors = Vec::new();
    for ns in &ctx.config.namespace_ids {
        match registry::list_services(&ctx.cloudmap, ns).await {
            Ok(found) => {
                for s in found {
                    if !services.contains(&s) {
                        services.push(s);
                    }
                }
            }
            Err(e) => {
                error!(error = %e, namespace_id = %ns, "cannot list the services of the namespace");
                ctx.count_error(&e);
                errors.push(e);
            }
        }
    }
    (services, errors)
}

/// Applies a plan's deregistrations (none in a dry run), `concurrency` at a time; one failure does
/// not stop the others. Returns each instance id with whether its deregistration succeeded.
pub async fn apply(
    ctx: &Context,
    service_id: &str,
    plan: &Plan,
    trigger: Trigger,
) -> Vec<(String, bool)> {
    let dry_run = ctx.config.dry_run;
    let jobs: Vec<_> = plan
        .deregistrations()
        .map(|(instance_id, reason)| async move {
            if dry_run {
                info!(service_id, instance_id, %reason, ?trigger, dry_run, "would deregister");
                return (instance_id.to_string(), true);
            }
            match registry::deregister(&ctx.cloudmap, service_id, instance_id).await {
                Ok(outcome) => {
                    let already_gone = outcome == Deregistered::AlreadyGone;
                    info!(service_id, instance_id, %reason, ?trigger, already_gone, "deregistered");
                    ctx.metrics
                        .deregistrations
                        .get_or_create(&DeregistrationLabels {
                            service_id: service_id.to_string(),
                            trigger,
                            reason,
                        })
                        .inc();
                    (instance_id.to_string(), true)
                }
                Err(e) => {
                    ctx.count_error(&e);
                    error!(service_id, instance_id, %reason, ?trigger, error = %e, "deregistration failed");
                    (instance_id.to_string(), false)
                }
            }
        })
        .collect();
    stream::iter(jobs)
        .buffer_unordered(ctx.config.concurrency)
        .collect()
        .await
}

/// Logs a held plan once, with what it would have removed.
pub fn warn_held(service_id: &str, plan: &Plan, trigger: Trigger) {
    let wanted: Vec<(&str, Reason)> = plan.wanted().collect();
    warn!(
        service_id,
        ?trigger,
        would_deregister = wanted.len(),
        instance_ids = ?wanted.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        "never-empty guard: every IPv4 registration of the service looks gone; deregistering none \
         (--allow-empty-service turns this off)"
    );
}

/// Reconciles one service: list, look up, plan, apply.
#[instrument(skip(ctx), fields(service_id = %service_id))]
pub async fn reconcile_service(ctx: &Context, service_id: &str) -> Result<ServiceReport, Error> {
    let registrations = registry::list_registrations(&ctx.cloudmap, service_id).await?;
    let labels = Metrics::service(service_id);
    ctx.metrics
        .registered
        .get_or_create(&labels)
        .set(registrations.len() as i64);

    let ids: Vec<String> = registrations
        .iter()
        .filter(|r| r.ipv4.is_some() && plan::is_ec2_instance_id(&r.instance_id))
        .map(|r| r.instance_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let observed = inventory::describe(&ctx.targets, &ids, ctx.config.concurrency).await?;
    let plan = plan::plan(&registrations, &observed, ctx.plan_options(), Scope::All);

    let mut report = ServiceReport {
        registrations: registrations.len(),
        kept: plan.count(|a| *a == Action::Keep),
        skipped: plan.count(|a| matches!(a, Action::Skip(_))),
        ..Default::default()
    };
    if plan.held {
        report.held = plan.wanted().count();
        ctx.metrics.guard_holds.get_or_create(&labels).inc();
        warn_held(service_id, &plan, Trigger::reconcile);
    } else {
        let results = apply(ctx, service_id, &plan, Trigger::reconcile).await;
        let done = results.iter().filter(|(_, ok)| *ok).count();
        let failed = results.len() - done;
        report.deregistered = done;
        report.failed = failed;
        if !ctx.config.dry_run {
            let remaining = registrations.len().saturating_sub(done);
            ctx.metrics
                .registered
                .get_or_create(&labels)
                .set(remaining as i64);
        }
    }
    Ok(report)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Reconciles one service and records its outcome in metrics, health and logs.
async fn reconcile_and_record(ctx: &Context, service_id: &str) -> Result<ServiceReport, Error> {
    let started = Instant::now();
    let labels = Metrics::service(service_id);
    ctx.metrics.up.get_or_create(&labels).set(1);
    let result = reconcile_service(ctx, service_id).await;
    let elapsed = started.elapsed();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    let outcome = match &result {
        Ok(r) if r.failed > 0 => ReconcileResult::failure,
        Ok(r) if r.held > 0 => ReconcileResult::held,
        Ok(_) => ReconcileResult::success,
        Err(_) => ReconcileResult::failure,
    };
    ctx.metrics
        .reconciles
        .get_or_create(&ReconcileLabels {
            service_id: service_id.to_string(),
            result: outcome,
        })
        .inc();
    match &result {
        Ok(r) if outcome == ReconcileResult::success => {
            ctx.metrics
                .last_success
                .get_or_create(&labels)
                .set(unix_now());
            ctx.health.success(service_id, Instant::now());
            info!(
                service_id,
                registrations = r.registrations,
                kept = r.kept,
                skipped = r.skipped,
                deregistered = r.deregistered,
                dry_run = ctx.config.dry_run,
                elapsed_ms = elapsed.as_millis() as u64,
                "reconciled"
            );
        }
        Ok(r) => warn!(
            service_id,
            registrations = r.registrations,
            deregistered = r.deregistered,
            held = r.held,
            failed = r.failed,
            elapsed_ms = elapsed.as_millis() as u64,
            "reconcile incomplete"
        ),
        Err(e) => {
            ctx.count_error(e);
            error!(service_id, error = %e, "reconcile failed");
        }
    }
    ctx.health.beat(Instant::now());
    result
}

/// One cycle over every selected service, `SERVICE_CONCURRENCY` at a time.
pub async fn run_cycle(ctx: &Context) -> CycleReport {
    let (services, selection_errors) = resolve_services(ctx).await;
    if selection_errors.is_empty() {
        ctx.health.select(&services);
    }
    let jobs: Vec<_> = services
        .iter()
        .map(|s| async move { (s.clone(), reconcile_and_record(ctx, s).await) })
        .collect();
    let results: HashMap<String, Result<ServiceReport, Error>> = stream::iter(jobs)
        .buffer_unordered(SERVICE_CONCURRENCY)
        .collect()
        .await;
    let mut results = results;
    CycleReport {
        services: services
            .iter()
            .filter_map(|s| results.remove(s).map(|r| (s.clone(), r)))
            .collect(),
        selection_errors,
    }
}

/// A pause of `frequency` plus up to 10 % jitter, so replicas spread their API calls.
pub fn jittered(frequency: Duration) -> Duration {
    let extra_ms = (frequency.as_millis() as u64 / 10).max(1);
    frequency + Duration::from_millis(fastrand::u64(0..extra_ms))
}

/// Reconciles at start and then every `frequency` (+ jitter) until `stop` is cancelled. A cycle in
/// progress is never cancelled: shutdown waits for it (bounded by the caller's grace period).
pub async fn run_forever(ctx: Arc<Context>, stop: CancellationToken) {
    loop {
        ctx.health.beat(Instant::now());
        let report = run_cycle(&ctx).await;
        ctx.health.beat(Instant::now());
        let failed = report.exit_code() != 0;
        if failed {
            warn!(
                services = report.services.len(),
                "cycle finished with failures or holds"
            );
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(jittered(ctx.config.frequency)) => {}
        }
    }
    info!("reconcile loop stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(failed: usize, held: usize) -> Result<ServiceReport, Error> {
        Ok(ServiceReport {
            failed,
            held,
            ..Default::default()
        })
    }

    #[test]
    fn exit_codes() {
        let mut c = CycleReport::default();
        assert_eq!(c.exit_code(), 0);
        c.services.push(("a".into(), report(0, 0)));
        assert_eq!(c.exit_code(), 0);
        c.services.push(("b".into(), report(0, 2)));
        assert_eq!(c.exit_code(), 3);
        c.services.push(("c".into(), report(1, 0)));
        assert_eq!(c.exit_code(), 1);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(d >= Duration::from_secs(10) && d < Duration::from_secs(11));
        }
    }
}
