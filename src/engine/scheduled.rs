//! Scheduled EC2 events (retirement, stop, reboot, maintenance): an instance leaves its services at
//! the event's start minus `--scheduled-lead-seconds`, not when the notice arrives weeks before.
//! EC2's DescribeInstanceStatus is the source of truth, read each reconcile cycle: an event due
//! within the next cycle is armed as an in-process timer (holding no worker slot); one already due
//! is acted on at once. AWS Health's event only arms the timer sooner. A restart loses timers, not
//! retirements: the first cycle after it reads them again. At the timer, EC2 is asked again (a
//! cancelled event is dropped) and the instance is deregistered from every selected service.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};
use tracing::{info, warn};

use crate::aws::ec2::{self, pending};
use crate::engine::context::Context;
use crate::engine::reconcile::{self, Scope};
use crate::error::Operation;
use crate::model::plan::{Claimed, Hint};
use crate::model::scheduled::Pending;
use crate::telemetry::metrics::Trigger;

/// How far beyond the next cycle events are armed, so a late cycle cannot miss one.
const MARGIN: Duration = Duration::from_secs(60);
/// Tolerated difference between EC2's clock and ours when a timer fires.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// Reads every target's scheduled events: those due act now, those due before the next cycle
/// (and a margin) are armed when `arm` (long-running mode).
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
    for (target, answer) in answers {
        let found = match answer {
            Ok(found) => found,
            Err(e) => {
                ctx.metrics.aws_error(Operation::DescribeInstanceStatus);
                warn!(account = %target.account, region = %target.region, error = %e,
                    "cannot read scheduled EC2 events; the next cycle tries again");
                continue;
            }
        };
        for p in found {
            let due = p.due(ctx.config.scheduled_lead);
            if due <= SystemTime::now() {
                fire(ctx, p).await;
            } else if arm && due <= horizon {
                self::arm(ctx, p);
            }
        }
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
    let ctx = ctx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        ctx.state.disarm(&p.instance_id, p.not_before);
        fire(&ctx, p).await;
    });
}

/// The event is due: if EC2 still schedules it, the instance leaves every selected service.
async fn fire(ctx: &Context, p: Pending) {
    let Some(target) = ctx.target(&p.account, &p.region) else {
        return;
    };
    let ids = [p.instance_id.clone()];
    // EC2 must still schedule an event of this instance that is due (AWS Health names events by
    // its own codes; DescribeInstanceStatus is the one truth both are checked against).
    let due_by = SystemTime::now() + CLOCK_SKEW;
    match pending(&target, &ids).await {
        Ok(still)
            if still
                .iter()
                .any(|s| s.due(ctx.config.scheduled_lead) <= due_by) => {}
        Ok(_) => {
            info!(instance_id = %p.instance_id, code = %p.code, "scheduled EC2 event no longer pending; nothing done");
            return;
        }
        Err(e) => {
            warn!(instance_id = %p.instance_id, error = %e, "cannot confirm a due scheduled event; the next cycle tries again");
            return;
        }
    }
    let observed = match ec2::describe(std::slice::from_ref(&target), &ids, 1).await {
        Ok(o) => o,
        Err(e) => {
            warn!(instance_id = %p.instance_id, error = %e, "cannot look up an instance with a due scheduled event");
            return;
        }
    };
    let claimed: Claimed = HashMap::from([(p.instance_id.clone(), vec![Hint::Scheduled])]);
    let (services, _) = reconcile::resolve_services(ctx, false).await;
    // The instance still runs and may still register: every registration made until now.
    let scope = Scope::Instances {
        claimed: &claimed,
        observed: &observed,
        needed: std::time::SystemTime::now(),
    };
    for service in &services {
        if let Err(e) = reconcile::reconcile_service(ctx, service, scope, Trigger::reconcile).await
        {
            if !reconcile::note_missing(ctx, service, &e, false) {
                warn!(service_id = %service, instance_id = %p.instance_id, error = %e,
                    "cannot act on a due scheduled event; the next cycle tries again");
            }
        }
    }
}
