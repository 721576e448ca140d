//! The periodic / single-run backstop: one cycle syncs every selected service (through `sync`),
//! records each service's outcome in metrics, health and logs, and the loop repeats it every
//! `--frequency` (+ jitter).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::engine::context::Context;
use crate::engine::reconcile::{self, ServiceReport};
use crate::error::Error;
use crate::telemetry::emit::Failure;
use crate::telemetry::health::{LoopName, CURRENT_LOOP};
use crate::telemetry::metrics::{
    CycleCause, CycleOutcome, Metrics, ReconcileLabels, ReconcileResult, Trigger,
};

/// How many services are reconciled at once.
const SERVICE_CONCURRENCY: usize = 4;

/// The outcome of one cycle over every selected service.
#[derive(Debug, Default)]
pub struct CycleReport {
    pub services: Vec<(String, Result<ServiceReport, Error>)>,
    /// Failures to resolve namespaces into services.
    pub selection_errors: Vec<Error>,
}

impl CycleReport {
    /// Exit code of a single run: 1 on any failure, else 3 if a guard held anything, else 0.
    pub fn exit_code(&self) -> i32 {
        let failed = !self.selection_errors.is_empty()
            || self
                .services
                .iter()
                .any(|(_, r)| r.as_ref().map_or(true, |r| r.incomplete()));
        let held = self
            .services
            .iter()
            .any(|(_, r)| r.as_ref().is_ok_and(|r| r.held + r.not_found_held > 0));
        if failed {
            1
        } else if held {
            3
        } else {
            0
        }
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Reconciles one service and records its outcome in metrics, health and logs.
async fn reconcile_and_record(ctx: &Context, service_id: &str) -> Result<ServiceReport, Error> {
    let started = Instant::now();
    let labels = Metrics::service(service_id);
    ctx.metrics.up.get_or_create(&labels).set(1);
    let result =
        reconcile::reconcile_service(ctx, service_id, reconcile::Scope::All, Trigger::reconcile)
            .await;
    let elapsed = started.elapsed();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    let outcome = match &result {
        Ok(r) if r.incomplete() => ReconcileResult::failure,
        Ok(r) if r.held + r.not_found_held > 0 => ReconcileResult::held,
        Ok(_) => ReconcileResult::success,
        Err(_) => ReconcileResult::failure,
    };
    let missing = result
        .as_ref()
        .err()
        .is_some_and(|e| reconcile::note_missing(ctx, service_id, e, true));
    ctx.metrics
        .reconciles
        .get_or_create(&ReconcileLabels {
            service_id: service_id.to_string(),
            result: outcome,
        })
        .inc();
    // Readiness: a service reconciled as far as the targets that answer allow (nothing failed or
    // held, some account did not answer: its not-found waits) counts as reconciled; the targets
    // that do not answer are named in `/readyz` instead (and counted as a failure above).
    let reached = matches!(&result, Ok(r) if r.failed() == 0 && r.held + r.not_found_held == 0);
    match &result {
        Ok(r) if reached => {
            let now = SystemTime::now();
            if outcome == ReconcileResult::success {
                ctx.metrics
                    .last_success
                    .get_or_create(&labels)
                    .set(unix_seconds(now));
            }
            ctx.health.success(service_id, Instant::now());
            // The other replicas learn it from the state table.
            if let Some(ledger) = &ctx.ledger {
                if let Err(e) = ledger.succeeded(service_id, now).await {
                    ctx.failed(
                        Failure::StateTable {
                            doing: "record a service's success",
                        },
                        &e,
                    );
                }
            }
            log_report(ctx, service_id, r, elapsed);
        }
        Ok(r) => log_report(ctx, service_id, r, elapsed),
        Err(_) if missing => {}
        Err(e) => ctx.failed(
            Failure::Sync {
                service_id,
                trigger: Trigger::reconcile,
            },
            e,
        ),
    }
    ctx.health.progress(LoopName::Reconcile, Instant::now());
    result
}

/// One service's reconcile, in one line.
fn log_report(ctx: &Context, service_id: &str, r: &ServiceReport, elapsed: Duration) {
    if r.incomplete() || r.held + r.not_found_held > 0 {
        warn!(
            service_id,
            registrations = r.registrations,
            deregistered = r.deregistered(),
            held = r.held,
            not_found_held = r.not_found_held,
            not_found_unanswered = r.unanswered,
            targets_unanswered = r.targets_unanswered,
            failed = r.failed(),
            elapsed_ms = elapsed.as_millis() as u64,
            "reconcile incomplete"
        );
    } else {
        info!(
            service_id,
            registrations = r.registrations,
            kept = r.kept,
            skipped = r.skipped,
            deregistered = r.deregistered(),
            not_found_unconfirmed = r.unconfirmed,
            dry_run = ctx.config.dry_run,
            elapsed_ms = elapsed.as_millis() as u64,
            "reconciled"
        );
    }
}

/// One cycle over every selected service, `SERVICE_CONCURRENCY` at a time.
pub async fn run_cycle(ctx: &Context) -> CycleReport {
    let (services, selection_errors) = reconcile::resolve_services(ctx, true).await;
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
    let report = CycleReport {
        services: services
            .iter()
            .filter_map(|s| results.remove(s).map(|r| (s.clone(), r)))
            .collect(),
        selection_errors,
    };
    log_readiness(ctx);
    report
}

/// One `readiness` line (`ready` 1 or 0, as `/readyz` judges now, and its reason): the log metric
/// filter of the deployment's NotReady alarm reads it, so every replica logs it once per cycle,
/// whether it ran the cycle or another replica did.
pub fn log_readiness(ctx: &Context) {
    let r = ctx.health.readiness(Instant::now());
    info!(ready = u8::from(r.ready), reason = %r.reason, "readiness");
}

/// A pause of `frequency` plus up to 10 % jitter, so replicas spread their API calls.
pub fn jittered(frequency: Duration) -> Duration {
    let extra_ms = (frequency.as_millis() as u64 / 10).max(1);
    frequency + Duration::from_millis(fastrand::u64(0..extra_ms))
}

/// Reconciles at start and then every `frequency` (+ jitter) until `stop` is cancelled. A cycle in
/// progress is never cancelled: shutdown waits for it (bounded by the caller's grace period). Every
/// AWS request attempt of a cycle counts as the loop's progress (`CURRENT_LOOP`); between cycles it
/// sleeps until a known wake.
pub async fn run_forever(ctx: Arc<Context>, stop: CancellationToken) {
    CURRENT_LOOP
        .scope(LoopName::Reconcile, cycles(ctx, stop))
        .await
}

async fn cycles(ctx: Arc<Context>, stop: CancellationToken) {
    loop {
        ctx.health.progress(LoopName::Reconcile, Instant::now());
        ctx.metrics.cycle(CycleCause::timer, CycleOutcome::ran);
        // The scheduled-events sweep asks EC2's DescribeInstanceStatus while the cycle runs.
        let (report, ()) =
            tokio::join!(run_cycle(&ctx), crate::engine::scheduled::sweep(&ctx, true));
        let failed = report.exit_code() != 0;
        if failed {
            warn!(
                services = report.services.len(),
                "cycle finished with failures or holds"
            );
        }
        let pause = jittered(ctx.config.frequency);
        let now = Instant::now();
        ctx.health.sleeping(LoopName::Reconcile, now, now + pause);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    info!("reconcile loop stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(failed: usize, held: usize) -> Result<ServiceReport, Error> {
        Ok(ServiceReport {
            held,
            results: vec![("i-0123456789abcdef0".into(), reconcile::Applied::Failed); failed],
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
