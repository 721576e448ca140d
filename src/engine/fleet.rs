//! The reconcile the replicas on one queue share (`--queue-url` with `--state-table`): a scheduled
//! `{"cloud-unmap":"reconcile"}` message starts a cycle on the replica that receives it; the state
//! table (`ledger`) makes that one cycle among all replicas (a lease), tells every replica each
//! service's last success (its metrics and readiness follow the fleet, not only its own cycles),
//! and when no cycle started anywhere for 2 × the period (a deleted schedule, a queue without
//! one), a replica runs one itself: the backstop, in the log and in
//! `cloud_unmap_reconcile_cycles{cause="backstop"}`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::aws::dynamodb::{Snapshot, StateTable};
use crate::engine::context::Context;
use crate::engine::queue::{EventQueue, ReconcileRequest};
use crate::telemetry::emit::Failure;
use crate::telemetry::health::{LoopName, CURRENT_LOOP};
use crate::telemetry::metrics::{CycleCause, CycleOutcome, MessageResult, Metrics};

/// How long a cycle's lease lasts without renewal (a crashed holder frees it after this).
pub const LEASE: Duration = Duration::from_secs(60);
/// How often a running cycle renews its lease and hides its reconcile message again.
const KEEP_EVERY: Duration = Duration::from_secs(20);
/// The period a replica holds cycles to: `--frequency`, or the schedule's when it is longer.
pub fn period(frequency: Duration, every: Option<Duration>) -> Duration {
    frequency.max(every.unwrap_or(Duration::ZERO))
}

/// How often a replica reads the table: half the frequency, from 5 s to 60 s.
pub fn refresh_every(frequency: Duration) -> Duration {
    (frequency / 2).clamp(Duration::from_secs(5), Duration::from_secs(60))
}

/// Whether the backstop is due: no cycle started anywhere (as far as known) for 2 × the period,
/// counted from this replica's start at the earliest (it ran or saw a start cycle then).
pub fn backstop_due(
    now: SystemTime,
    last_started: Option<SystemTime>,
    up_since: SystemTime,
    period: Duration,
) -> bool {
    let since = last_started.map_or(up_since, |t| t.max(up_since));
    now.duration_since(since).unwrap_or_default() > period * 2
}

/// What this replica knows of the fleet's cycles.
#[derive(Debug, Default)]
struct Known {
    last_started: Option<SystemTime>,
    every: Option<Duration>,
    /// The table could not be read last time (logged once per outage).
    unreadable: bool,
}

/// The shared reconcile's driver: takes reconcile messages from the event loop, reads the table,
/// runs cycles under the lease.
pub struct Fleet {
    ctx: Arc<Context>,
    ledger: StateTable,
    queue: EventQueue,
}

impl Fleet {
    pub fn new(ctx: Arc<Context>, ledger: StateTable, queue: EventQueue) -> Fleet {
        Fleet { ctx, ledger, queue }
    }

    /// Runs until `stop`; a cycle in progress is never cancelled (shutdown waits for it, bounded by
    /// the caller's grace period).
    pub async fn run(self, triggers: mpsc::Receiver<ReconcileRequest>, stop: CancellationToken) {
        CURRENT_LOOP
            .scope(LoopName::Reconcile, Arc::new(self).drive(triggers, stop))
            .await
    }

    async fn drive(
        self: Arc<Self>,
        mut triggers: mpsc::Receiver<ReconcileRequest>,
        stop: CancellationToken,
    ) {
        let f = self.ctx.config.frequency;
        let up_since = SystemTime::now();
        let mut known = Known::default();
        self.refresh(&mut known).await;
        info!(
            table = self.ledger.table(),
            "shared reconcile: cycles come from the queue's reconcile messages"
        );
        let mut running: Option<JoinHandle<Option<SystemTime>>> = None;
        let now = SystemTime::now();
        if known
            .last_started
            .is_none_or(|t| now.duration_since(t).unwrap_or_default() >= f)
        {
            running = Some(self.spawn(CycleCause::start, now - f, None));
        }
        let mut next = Instant::now() + refresh_every(f);
        loop {
            if running.is_none() {
                self.ctx
                    .health
                    .sleeping(LoopName::Reconcile, Instant::now(), next);
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(trigger) = triggers.recv() => {
                    if running.is_some() {
                        info!("a reconcile message arrived while this replica runs a cycle; that cycle covers it");
                        self.ctx.metrics.cycle(CycleCause::schedule, CycleOutcome::covered);
                        self.delete(&trigger).await;
                    } else {
                        let cutoff = trigger.message.sent_at.unwrap_or_else(SystemTime::now);
                        running = Some(self.spawn(CycleCause::schedule, cutoff, Some(trigger)));
                    }
                }
                done = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                    running = None;
                    match done {
                        Ok(Some(started)) => known.last_started = known.last_started.max(Some(started)),
                        Ok(None) => {}
                        // A bug in a cycle crashes the loop, as the timer's would (the process then stops).
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(_) => {}
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {
                    next = Instant::now() + refresh_every(f);
                    self.refresh(&mut known).await;
                    let now = SystemTime::now();
                    let p = period(f, known.every);
                    if running.is_none() && backstop_due(now, known.last_started, up_since, p) {
                        warn!(period_s = p.as_secs(), "no reconcile cycle started on any replica for 2 x the period (is the schedule deleted?): running one here");
                        running = Some(self.spawn(CycleCause::backstop, now - p * 2, None));
                    }
                }
            }
        }
        // Reconcile messages handed over but not started go back to the queue at once, for a
        // replica that keeps running.
        triggers.close();
        while let Ok(t) = triggers.try_recv() {
            self.hide(&t, Duration::ZERO).await;
        }
        if let Some(cycle) = running {
            let _ = cycle.await;
        }
        info!("reconcile loop stopped");
    }

    fn spawn(
        self: &Arc<Self>,
        cause: CycleCause,
        cutoff: SystemTime,
        trigger: Option<ReconcileRequest>,
    ) -> JoinHandle<Option<SystemTime>> {
        self.ctx
            .health
            .progress(LoopName::Reconcile, Instant::now());
        let me = self.clone();
        tokio::spawn(CURRENT_LOOP.scope(LoopName::Reconcile, async move {
            me.cycle(cause, cutoff, trigger).await
        }))
    }

    /// One cycle if the lease is free and nothing started since `cutoff`; returns its start.
    async fn cycle(
        &self,
        cause: CycleCause,
        cutoff: SystemTime,
        trigger: Option<ReconcileRequest>,
    ) -> Option<SystemTime> {
        let started = SystemTime::now();
        let every = trigger.as_ref().map(|t| t.every);
        match self.ledger.begin(started, cutoff, LEASE, every).await {
            Ok(true) => {}
            Ok(false) => {
                info!(cause = ?cause, "another replica runs or ran this reconcile cycle");
                self.ctx.metrics.cycle(cause, CycleOutcome::covered);
                crate::engine::cycle::log_readiness(&self.ctx);
                if let Some(t) = &trigger {
                    self.delete(t).await;
                }
                return None;
            }
            Err(e) => {
                self.ctx.failed(
                    Failure::StateTable {
                        doing: "take the reconcile lease",
                    },
                    &e,
                );
                warn!("running the cycle without the lease: another replica may run one too");
            }
        }
        self.ctx.metrics.cycle(cause, CycleOutcome::ran);
        info!(cause = ?cause, "reconcile cycle starting");
        let work = async {
            let (report, ()) = tokio::join!(
                crate::engine::cycle::run_cycle(&self.ctx),
                crate::engine::scheduled::sweep(&self.ctx, true)
            );
            report
        };
        // The message stays hidden from the other replicas while the cycle runs, from its start (the
        // queue's own visibility timeout may be shorter than a renewal period).
        let keep = async {
            loop {
                if let Some(t) = &trigger {
                    self.hide(t, KEEP_EVERY * 3).await;
                }
                tokio::time::sleep(KEEP_EVERY).await;
                if let Err(e) = self.ledger.renew(SystemTime::now(), LEASE).await {
                    self.ctx.failed(
                        Failure::StateTable {
                            doing: "renew the reconcile lease",
                        },
                        &e,
                    );
                }
            }
        };
        let report = tokio::select! {
            r = work => r,
            never = keep => never,
        };
        let services: Vec<String> = report.services.iter().map(|(s, _)| s.clone()).collect();
        if let Err(e) = self.ledger.finish(SystemTime::now(), &services).await {
            self.ctx.failed(
                Failure::StateTable {
                    doing: "record the cycle's end",
                },
                &e,
            );
        }
        if let Some(t) = &trigger {
            self.delete(t).await;
        }
        Some(started)
    }

    /// Reads the table: the latest cycle, the fleet's selection, each service's last success.
    async fn refresh(&self, known: &mut Known) {
        match self.ledger.read().await {
            Ok(snapshot) => {
                if known.unreadable {
                    info!("the state table is readable again");
                }
                known.unreadable = false;
                self.apply(known, &snapshot);
            }
            Err(e) if known.unreadable => self.ctx.counted(&e),
            Err(e) => {
                known.unreadable = true;
                self.ctx.failed(
                    Failure::StateTable {
                        doing: "read the fleet's reconcile state",
                    },
                    &e,
                );
            }
        }
    }

    fn apply(&self, known: &mut Known, snapshot: &Snapshot) {
        if let Some(c) = &snapshot.cycle {
            known.last_started = known.last_started.max(Some(c.started));
            known.every = c.every.or(known.every);
            if let Some(every) = known.every {
                self.ctx.health.schedule_period(every);
            }
            if c.finished.is_some_and(|f| f >= c.started) && !c.services.is_empty() {
                self.ctx.health.select(&c.services);
            }
        }
        let (now, instant) = (SystemTime::now(), Instant::now());
        for (service, at) in &snapshot.succeeded {
            let age = now.duration_since(*at).unwrap_or_default();
            let Some(seen) = instant.checked_sub(age) else {
                continue;
            };
            if !self.ctx.health.succeeded_at(service, seen) {
                continue;
            }
            let secs = at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let labels = Metrics::service(service);
            self.ctx.metrics.up.get_or_create(&labels).set(1);
            let gauge = self.ctx.metrics.last_success.get_or_create(&labels);
            if gauge.get() < secs {
                gauge.set(secs);
            }
        }
    }

    async fn delete(&self, trigger: &ReconcileRequest) {
        let deleted = self.queue.delete(&self.ctx, &[&trigger.message]).await;
        self.ctx.metrics.message(MessageResult::deleted, deleted);
        self.ctx.metrics.message(MessageResult::left, 1 - deleted);
    }

    async fn hide(&self, trigger: &ReconcileRequest, visibility: Duration) {
        self.queue
            .set_visibility(&self.ctx, &[&trigger.message], visibility)
            .await;
    }
}

#[cfg(test)]
mod tests;
