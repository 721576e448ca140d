//! Scheduled EC2 events: an instance leaves its services at the event's start minus
//! `--scheduled-lead-seconds`, not when the notice arrives weeks before. Retirements and stops end
//! the instance: it leaves for good. Reboots and maintenance (`instance-reboot`, `system-reboot`,
//! `system-maintenance`) bring it back: it leaves, and `back` registers it again once EC2 reports
//! the event over (unless `--on-scheduled-reboot ignore`).
//!
//! EC2's DescribeInstanceStatus is the source of truth, read each reconcile cycle: an event due
//! within the next cycle is armed as an in-process timer (holding no worker slot); one already due
//! fires at once. Firings run beside the cycle, never inside it, `--concurrency` at a time (the
//! slots in `state`), and their removals carry `trigger="scheduled"`. AWS Health's event only arms
//! the timer sooner. A restart loses timers, not retirements: the first cycle after it reads them
//! again. At the timer, EC2 is asked again (a cancelled event is dropped) and the instance is
//! deregistered from every selected service.

mod back;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::aws::ec2::{self, pending};
use crate::engine::context::Context;
use crate::engine::reconcile::{self, Scope};
use crate::model::plan::{Claimed, Hint};
use crate::model::record::Removal;
use crate::model::scheduled::{effect, Effect, Pending};
use crate::telemetry::emit::Failure;
use crate::telemetry::metrics::Trigger;

/// How far beyond the next cycle events are armed, so a late cycle cannot miss one.
const MARGIN: Duration = Duration::from_secs(60);
/// Tolerated difference between EC2's clock and ours when a timer fires.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// Whether an event of `code` is left alone: a reboot or maintenance with
/// `--on-scheduled-reboot ignore`, or in a single run (`once`), which cannot stay to put the
/// registration back afterwards.
fn left_alone(ctx: &Context, code: &str, once: bool) -> bool {
    effect(code) == Effect::Returns && (ctx.config.ignore_scheduled_reboots || once)
}

/// Reads every target's scheduled events: those due fire now, those due before the next cycle
/// (and a margin) are armed when `arm` (long-running mode), and the registrations waiting to be put
/// back are checked. Long-running, the firings and checks run in the background (the cycle does
/// not wait for them); a single run waits for its firings before it ends.
pub async fn sweep(ctx: &Arc<Context>, arm: bool) {
    let horizon = SystemTime::now() + ctx.config.frequency + MARGIN;
    // Every account and region at once (`--concurrency` at a time): an organization's hundreds of
    // targets must not make the sweep a sequence of round trips.
    let targets = ctx.targets.current();
    let reads: Vec<_> = targets
        .iter()
        .map(|target| async move { (target, pending(target, &[]).await) })
        .collect();
    let answers: Vec<_> = stream::iter(reads)
        .buffer_unordered(ctx.config.concurrency)
        .collect()
        .await;
    let mut due_now = Vec::new();
    let (mut answered, mut listed) = (HashSet::new(), HashSet::new());
    for (target, answer) in answers {
        let found = match answer {
            Ok(found) => found,
            Err(e) => {
                ctx.counted(&e);
                warn!(account = %target.account, region = %target.region, error = %e,
                    "cannot read scheduled EC2 events; the next cycle tries again");
                continue;
            }
        };
        answered.insert((target.account.to_string(), target.region.clone()));
        listed.extend(found.iter().map(|p| (p.instance_id.clone(), p.not_before)));
        for p in found {
            if left_alone(ctx, &p.code, !arm) {
                debug!(instance_id = %p.instance_id, code = %p.code, single_run = !arm,
                    "scheduled reboot or maintenance left alone");
                continue;
            }
            let due = p.due(ctx.config.scheduled_lead);
            if due <= SystemTime::now() {
                // Once per event: a firing still running from an earlier sweep holds it, and one
                // done is remembered while EC2 lists the event pending (a maintenance window lasts
                // hours: firing at every sweep would remove again what its owner registers).
                if ctx.state.arm(&p.instance_id, p.not_before) {
                    due_now.push(p);
                }
            } else if arm && due <= horizon {
                self::arm(ctx, p);
            }
        }
    }
    ctx.state.prune_fired(&answered, &listed);
    if arm {
        for p in due_now {
            tokio::spawn(fire_once(ctx.clone(), p, Duration::ZERO));
        }
        let ctx = ctx.clone();
        tokio::spawn(async move { ctx.state.busy.track_future(back::check_kept(&ctx)).await });
    } else {
        let firings = due_now
            .into_iter()
            .map(|p| fire_once(ctx.clone(), p, Duration::ZERO));
        futures::future::join_all(firings).await;
    }
}

/// Arms a timer for `p` (once per event); it fires at the event's start minus the lead.
pub fn arm(ctx: &Arc<Context>, p: Pending) {
    if !ctx.state.arm(&p.instance_id, p.not_before) {
        return;
    }
    let delay = p
        .due(ctx.config.scheduled_lead)
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    info!(instance_id = %p.instance_id, code = %p.code, account = %p.account, region = %p.region,
        in_s = delay.as_secs(), "scheduled EC2 event armed");
    tokio::spawn(fire_once(ctx.clone(), p, delay));
}

/// Waits `delay`, then fires in one of the shared slots; the event is disarmed once done, and
/// remembered as fired when every selected service was synced (a failure lets the next sweep fire
/// it again). The firing (not the wait) is tracked: shutdown lets it finish (`finish`).
async fn fire_once(ctx: Arc<Context>, p: Pending, delay: Duration) {
    tokio::time::sleep(delay).await;
    let work = async {
        let slots = ctx.state.firing_slots(ctx.config.concurrency);
        let _slot = slots.acquire_owned().await;
        fire(&ctx, &p).await
    };
    // Remembered by EC2's NotBefore (AWS Health's notice may name another start).
    if let Some(start) = ctx.state.busy.track_future(work).await {
        let account = p.account.to_string();
        ctx.state
            .note_fired(&p.instance_id, start, &account, &p.region);
        debug!(instance_id = %p.instance_id, code = %p.code,
            "scheduled EC2 event fired; not fired again while EC2 lists it pending");
    }
    ctx.state.disarm(&p.instance_id, p.not_before);
}

/// After `stop`, waits for the firings and put-backs at work: a registration removed for a reboot
/// is kept to be put back before the process ends (bounded by the caller's grace period).
pub async fn finish(ctx: Arc<Context>, stop: CancellationToken) {
    stop.cancelled().await;
    ctx.state.busy.close();
    ctx.state.busy.wait().await;
}

/// The event is due: if EC2 still schedules it, the instance leaves every selected service; for a
/// reboot or maintenance, each removal is kept to be put back. The event's NotBefore (as EC2
/// lists it) when every selected service was synced.
async fn fire(ctx: &Arc<Context>, p: &Pending) -> Option<SystemTime> {
    let target = ctx.target(&p.account, &p.region)?;
    let ids = [p.instance_id.clone()];
    // EC2 must still schedule an event of this instance that is due (AWS Health names events by
    // its own codes; DescribeInstanceStatus is the one truth both are checked against). Its code
    // says whether the instance comes back.
    let due_by = SystemTime::now() + CLOCK_SKEW;
    let once = ctx.config.single_run;
    let event = match pending(&target, &ids).await {
        Ok(still) => still.into_iter().find(|s| {
            s.due(ctx.config.scheduled_lead) <= due_by && !left_alone(ctx, &s.code, once)
        }),
        Err(e) => {
            warn!(instance_id = %p.instance_id, error = %e, "cannot confirm a due scheduled event; the next cycle tries again");
            return None;
        }
    };
    let Some(event) = event else {
        info!(instance_id = %p.instance_id, code = %p.code, "scheduled EC2 event no longer pending; nothing done");
        return None;
    };
    let observed = match ec2::describe(std::slice::from_ref(&target), &ids, 1).await {
        Ok(o) => o,
        Err(e) => {
            warn!(instance_id = %p.instance_id, error = %e, "cannot look up an instance with a due scheduled event");
            return None;
        }
    };
    let claimed: Claimed = HashMap::from([(p.instance_id.clone(), vec![Hint::Scheduled])]);
    let (services, _) = reconcile::resolve_services(ctx, false).await;
    // The instance still runs and may still register: every registration made until now.
    // A reboot's put-back is saved (memory, state table) before its DeregisterInstance is sent: a
    // worker stopped between the call and its answer, or an answer lost, leaves it kept.
    let returns = effect(&event.code) == Effect::Returns;
    let kept = AtomicBool::new(false);
    let keep = |removal: &Removal| -> BoxFuture<'static, ()> {
        kept.store(true, Ordering::Relaxed);
        let (ctx, p) = (ctx.clone(), back::put_back(removal.clone(), &event));
        Box::pin(async move { back::keep(&ctx, p).await })
    };
    let scope = Scope::Instances {
        claimed: &claimed,
        observed: &observed,
        needed: SystemTime::now(),
        before: returns.then_some(&keep as reconcile::BeforeRemoval<'_>),
    };
    let jobs: Vec<_> = services
        .iter()
        .map(|s| async move {
            let r = reconcile::reconcile_service(ctx, s, scope, Trigger::scheduled).await;
            (s, r)
        })
        .collect();
    let done: Vec<_> = stream::iter(jobs)
        .buffer_unordered(ctx.config.concurrency)
        .collect()
        .await;
    let mut synced = true;
    for (service, result) in done {
        match result {
            Ok(report) => synced &= report.failed() == 0,
            Err(e) if reconcile::note_missing(ctx, service, &e, false) => {}
            Err(e) => {
                synced = false;
                ctx.failed(
                    Failure::Sync {
                        service_id: service,
                        trigger: Trigger::scheduled,
                    },
                    &e,
                )
            }
        }
    }
    // Kept even when the removal failed or found the registration gone: a DeregisterInstance sent
    // may have been applied; a registration still there is found at the check and forgotten.
    if kept.load(Ordering::Relaxed) {
        tokio::spawn(back::watch(ctx.clone(), event.instance_id.clone()));
    }
    synced.then_some(event.not_before)
}
