//! The event path's revision sweep: whether a service not known to hold a claimed instance
//! registered it since its last listing. One sweep reads the instances revision of every selected
//! service whose listing does not cover the claims waiting on it (`index::complete_as_of`: unchanged,
//! the listing is vouched for; changed or unreadable, the service is listed again), so that its
//! holders are known again. Sweeps are coalesced: one runs at a time, and it serves every batch
//! received before it began (it covers the latest receipt; a batch received while one runs waits
//! for the next), so the reads a burst costs are per sweep, not per batch. A sweep is bounded: it reads at most
//! `--revision-sweep-size` services, the least recently vouched first, and starts at most once per
//! `SWEEP_PERIOD`; the stale services beyond that are left to the next reconcile (counted `left`)
//! and come first in the next sweep.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::engine::context::Context;
use crate::engine::index::{self, Source};
use crate::engine::reconcile::note_missing;
use crate::error::Error;
use crate::telemetry::metrics::SweepResult;

/// The shortest time between two sweeps' starts: with `--revision-sweep-size` at 20, sweeps read at
/// most 40 revisions in any second (4 % of Cloud Map's DiscoverInstances bucket refill, 1,000/s).
pub const SWEEP_PERIOD: Duration = Duration::from_secs(1);

/// What one sweep came to.
#[derive(Debug, Default)]
pub struct Swept {
    /// When it began: it serves every batch received before.
    pub began: Option<SystemTime>,
    /// Every listing it vouched for or made covers this moment.
    pub covers: Option<SystemTime>,
    /// Services that could not be listed, each with whether it is left to the reconcile (the
    /// caller's `on_failure` said so): the claims waiting on the sweep are blocked by them.
    pub failed: Vec<(String, bool)>,
}

/// One sweep at a time, shared by the batches in flight.
#[derive(Default)]
pub struct Sweeper {
    /// Held while a sweep runs (and while it waits for its turn): the last sweep, and its start.
    running: tokio::sync::Mutex<Option<(Arc<Swept>, Instant)>>,
    /// The latest moment a batch waiting for the next sweep needs covered.
    pending: Mutex<Option<SystemTime>>,
    /// The latest receipt of a batch (`received`): no claim received by then needs a later moment.
    latest_receipt: Mutex<Option<SystemTime>>,
}

impl Sweeper {
    /// A batch was received at `at`: the next sweep covers that moment, so that it serves every
    /// batch received before it began, also one whose claims reach it only later (after waiting for
    /// a slot, EC2 or the write budget; a Judge claim needs no moment after its receipt).
    pub fn received(&self, at: SystemTime) {
        let mut r = self
            .latest_receipt
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *r = Some(r.map_or(at, |t| t.max(at)));
    }

    /// The result of a sweep that began after `received` and covers `needed`, among `services`:
    /// the last one if it does, else the next one (run by whichever batch gets there first, whose
    /// `on_failure` then judges each service that could not be listed, once for every batch served).
    pub async fn serve(
        &self,
        ctx: &Context,
        services: &[String],
        (received, needed): (SystemTime, SystemTime),
        on_failure: &(dyn Fn(&str, &Error) -> bool + Sync),
    ) -> Arc<Swept> {
        let stale = |s: &String| ctx.state.listing(s).is_none_or(|l| !l.covers(needed));
        if !services.iter().any(stale) {
            // Every listing already covers the batch: nothing to read.
            return Arc::new(Swept {
                began: Some(received),
                covers: Some(needed),
                failed: Vec::new(),
            });
        }
        {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            *p = Some(p.map_or(needed, |t| t.max(needed)));
        }
        loop {
            let mut last = self.running.lock().await;
            if let Some((swept, _)) = last.as_ref() {
                let serves = swept.began.is_some_and(|b| b >= received)
                    && swept.covers.is_some_and(|c| c >= needed);
                if serves {
                    return swept.clone();
                }
            }
            if let Some((_, started)) = last.as_ref() {
                tokio::time::sleep_until(*started + SWEEP_PERIOD).await;
            }
            let started = Instant::now();
            let began = SystemTime::now();
            let target = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map_or(needed, |t| t.max(needed));
            let receipt = *self
                .latest_receipt
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let target = receipt.map_or(target, |r| r.max(target));
            let swept = Arc::new(sweep(ctx, services, (began, target), on_failure).await);
            *last = Some((swept.clone(), started));
            if swept.covers.is_some_and(|c| c >= needed) {
                return swept;
            }
        }
    }
}

/// Reads the stale services' revisions (listing again the changed ones), up to the bound.
async fn sweep(
    ctx: &Context,
    services: &[String],
    (began, target): (SystemTime, SystemTime),
    on_failure: &(dyn Fn(&str, &Error) -> bool + Sync),
) -> Swept {
    // Stale: no listing, or one that does not cover `target`; the least recently vouched first.
    let mut stale: Vec<(Option<SystemTime>, &String)> = services
        .iter()
        .filter_map(|s| match ctx.state.listing(s) {
            Some(l) if l.covers(target) => None,
            Some(l) => Some((Some(l.began.max(l.vouched)), s)),
            None => Some((None, s)),
        })
        .collect();
    stale.sort();
    let size = ctx.config.revision_sweep_size.min(stale.len());
    let left = stale.len() - size;
    let jobs: Vec<_> = stale
        .into_iter()
        .take(size)
        .map(|(_, s)| async move {
            let _alone = ctx.state.plan_alone(s).await;
            (s, index::complete_as_of(ctx, s, target).await)
        })
        .collect();
    let read: Vec<_> = stream::iter(jobs)
        .buffer_unordered(ctx.config.concurrency)
        .collect()
        .await;
    let mut swept = Swept {
        began: Some(began),
        covers: Some(target),
        failed: Vec::new(),
    };
    let (mut unchanged, mut listed) = (0, 0);
    for (service_id, r) in read {
        match r {
            Ok((_, Source::Listed)) => listed += 1,
            Ok(_) => unchanged += 1,
            Err(e) if note_missing(ctx, service_id, &e, false) => {}
            Err(e) => {
                let left = on_failure(service_id, &e);
                swept.failed.push((service_id.clone(), left));
            }
        }
    }
    let m = &ctx.metrics;
    m.sweep(SweepResult::unchanged, unchanged);
    m.sweep(SweepResult::listed, listed);
    m.sweep(SweepResult::left, left);
    m.sweep(SweepResult::failed, swept.failed.len());
    swept
}
