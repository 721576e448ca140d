//! Putting back the registrations removed for a scheduled reboot or maintenance: each is kept (in
//! memory, and in the state table with `--state-table`, so a restart or another replica finishes
//! it), checked every `--frequency` (at most every 30 s) while its firing's process runs and at
//! every cycle's sweep, and registered again (same id, the attributes RegisterInstance accepts,
//! see `PutBack::attributes_to_register`) once EC2 reports the event `[Completed]` or `[Canceled]`
//! and the instance runs at its registered address. Without a state table a restart forgets it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{debug, error, info, warn};

use crate::aws::{cloudmap, ec2};
use crate::engine::context::Context;
use crate::model::record::Removal;
use crate::model::scheduled::{Pending, PutBack, Verdict};
use crate::telemetry::emit::Failure;
use crate::telemetry::metrics::PutBackResult;

/// The longest pause between two checks of a firing's put-backs.
const POLL: Duration = Duration::from_secs(30);

/// The put-back of a registration `removal` took away for `event`.
pub(super) fn put_back(removal: Removal, event: &Pending) -> PutBack {
    PutBack {
        service_id: removal.service_id,
        registration_id: removal.instance_id,
        attributes: removal.attributes,
        instance_id: event.instance_id.clone(),
        event_id: event.event_id.clone(),
        code: event.code.clone(),
        not_before: event
            .not_before
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        account: event.account.to_string(),
        region: event.region.clone(),
    }
}

/// Keeps a put-back in memory and, with a state table, there too.
pub(super) async fn keep(ctx: &Context, p: PutBack) {
    info!(service_id = %p.service_id, instance_id = %p.registration_id, code = %p.code,
        durable = ctx.ledger.is_some(), "registration kept to be put back once the scheduled event is over");
    if let Some(table) = &ctx.ledger {
        if let Err(e) = table.keep_put_back(&p).await {
            let doing = "keep a registration to put back (it is kept in memory only)";
            ctx.failed(Failure::StateTable { doing }, &e);
        }
    }
    ctx.state.keep_put_back(p);
}

async fn forget(ctx: &Context, p: &PutBack) {
    ctx.state.forget_put_back(p);
    if let Some(table) = &ctx.ledger {
        if let Err(e) = table.forget_put_back(p).await {
            let doing = "forget a registration put back (the next check finds it registered)";
            ctx.failed(Failure::StateTable { doing }, &e);
        }
    }
}

/// Checks the put-backs of `instance_id` until none is left in this process.
pub(super) async fn watch(ctx: Arc<Context>, instance_id: String) {
    let pause = ctx.config.frequency.clamp(Duration::from_secs(1), POLL);
    loop {
        tokio::time::sleep(pause).await;
        let mine: Vec<PutBack> = ctx
            .state
            .put_backs()
            .into_iter()
            .filter(|p| p.instance_id == instance_id)
            .collect();
        if mine.is_empty() {
            return;
        }
        ctx.state.busy.track_future(check(&ctx, mine)).await;
    }
}

/// Checks every put-back kept: this process's, and the state table's (another process's, or one
/// from before a restart).
pub(super) async fn check_kept(ctx: &Context) {
    let mut all: BTreeMap<String, PutBack> = ctx
        .state
        .put_backs()
        .into_iter()
        .map(|p| (p.key(), p))
        .collect();
    if let Some(table) = &ctx.ledger {
        match table.put_backs().await {
            Ok(kept) => all.extend(kept.into_iter().map(|p| (p.key(), p))),
            Err(e) => {
                let doing = "read the registrations to put back";
                ctx.failed(Failure::StateTable { doing }, &e)
            }
        }
    }
    if !all.is_empty() {
        check(ctx, all.into_values().collect()).await;
    }
}

/// Asks EC2 about each put-back's event and instance (one DescribeInstanceStatus and one
/// DescribeInstances per account and region) and registers again, waits, or drops each.
async fn check(ctx: &Context, put_backs: Vec<PutBack>) {
    let keys = check_each(ctx, put_backs).await;
    for key in keys {
        ctx.state.checked_put_back(&key);
    }
}

/// `check` for the put-backs no other check has; returns the keys it took.
async fn check_each(ctx: &Context, put_backs: Vec<PutBack>) -> Vec<String> {
    let mut by_target: HashMap<(String, String), Vec<PutBack>> = HashMap::new();
    let mine: Vec<PutBack> = put_backs
        .into_iter()
        .filter(|p| ctx.state.check_put_back(&p.key()))
        .collect();
    let keys: Vec<String> = mine.iter().map(PutBack::key).collect();
    for p in mine {
        by_target
            .entry((p.account.clone(), p.region.clone()))
            .or_default()
            .push(p);
    }
    for ((_, region), group) in by_target {
        let Some(target) = ctx.target(&group[0].account(), &region) else {
            continue;
        };
        let mut ids: Vec<String> = group.iter().map(|p| p.instance_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let events = ec2::scheduled_events(&target, &ids).await;
        let observed = ec2::describe(std::slice::from_ref(&target), &ids, 1).await;
        let (events, observed) = match (events, observed) {
            (Ok(e), Ok(o)) => (e, o),
            (Err(e), _) | (_, Err(e)) => {
                warn!(region, error = %e, "cannot check the registrations waiting to be put back; tried again later");
                continue;
            }
        };
        // An event due within this horizon is the sweep's to fire: the registration stays out.
        let horizon = ctx.config.scheduled_lead + ctx.config.frequency + super::MARGIN;
        for p in group {
            let seen = observed.get(&p.instance_id).map_or(&[][..], Vec::as_slice);
            let event = p.described(&events);
            let verdict = p.judge(event, seen, SystemTime::now(), horizon);
            debug!(service_id = %p.service_id, instance_id = %p.registration_id, ?event, ?verdict,
                sightings = seen.len(), "registration to put back judged");
            match verdict {
                Verdict::Wait => {}
                Verdict::Drop(why) => {
                    warn!(service_id = %p.service_id, instance_id = %p.registration_id, reason = why,
                        "registration removed for a scheduled event not put back");
                    ctx.metrics.put_back(PutBackResult::dropped);
                    forget(ctx, &p).await;
                }
                Verdict::Register => {
                    // Still pending: its owner moved it later (same InstanceEventId).
                    let moved = event.is_some_and(|e| !e.over);
                    register(ctx, &p, moved).await
                }
            }
        }
    }
    keys
}

/// Registers `p` again; `moved`: its event is still pending, rescheduled beyond the horizon.
async fn register(ctx: &Context, p: &PutBack, moved: bool) {
    let attributes = p.attributes_to_register();
    let (service_id, id) = (p.service_id.as_str(), p.registration_id.as_str());
    // Registered again meanwhile (an instance that registers itself at boot): its own registration
    // is the newer truth, never overwritten with the old attributes.
    match cloudmap::current(&ctx.cloudmap, service_id, id).await {
        Ok(Some(_)) => {
            info!(
                service_id,
                instance_id = id,
                "registered in Cloud Map (by its owner since the event, or never removed); nothing to put back"
            );
            return forget(ctx, p).await;
        }
        Ok(None) => {}
        Err(e) => {
            ctx.counted(&e);
            return warn!(service_id, instance_id = id, error = %e, "cannot read a registration to put back; tried again later");
        }
    }
    match cloudmap::register(&ctx.cloudmap, service_id, id, &attributes).await {
        Ok(()) if moved => {
            info!(service_id, instance_id = id, code = %p.code, ec2_instance_id = %p.instance_id,
                "scheduled event rescheduled later; registered again until it is due");
            ctx.metrics.put_back(PutBackResult::registered);
            forget(ctx, p).await;
        }
        Ok(()) => {
            info!(service_id, instance_id = id, code = %p.code, ec2_instance_id = %p.instance_id,
                "registered again: the scheduled event is over and the instance runs at its address");
            ctx.metrics.put_back(PutBackResult::registered);
            forget(ctx, p).await;
        }
        Err(e) => {
            ctx.metrics.put_back(PutBackResult::failed);
            ctx.counted(&e);
            error!(service_id, instance_id = id, error = %e,
                "cannot register again a registration removed for a scheduled event; tried again later");
        }
    }
}
