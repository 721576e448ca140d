//! Applying a plan's deregistrations, `--concurrency` at a time, each re-checked right before its
//! removal: Cloud Map is read again (GetInstance) and the registration is removed only if it is
//! still the one the plan judged. One that was registered again meanwhile (an instance restarted
//! with a new address) is kept as `changed`, for the next cycle to judge. A terminated instance's
//! registration named by its own id is not read again: nothing can make it right again. Each removal leaves its
//! undo record (`audit`) in its log line, and on the audit bus when one is configured, and how long
//! the registration pointed at a dead instance in `cloud_unmap_dead_registration_age_seconds`.

use std::collections::HashMap;
use std::time::SystemTime;

use futures::stream::{self, StreamExt};
use tracing::{error, info};

use crate::aws::cloudmap::{self, Deregistered};
use crate::aws::ec2::Observed;
use crate::engine::context::Context;
use crate::model::plan::{Plan, Reason, Registration};
use crate::model::record::{Removal, Sighting};
use crate::telemetry::emit::Failure;
use crate::telemetry::metrics::{DeregistrationLabels, Metrics, ServiceTriggerLabels, Trigger};

/// What one planned deregistration came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Removed by this call (in a dry run: would have been removed).
    Removed,
    /// Already gone when read again or deregistered (Cloud Map's InstanceNotFound): removed by
    /// someone else (another replica, a duplicate event, a person). Success, but not a removal of
    /// ours: counted apart, with no undo record.
    AlreadyGone,
    /// Registered again with other attributes since the plan: kept.
    Changed,
    /// The removal failed.
    Failed,
}

/// When the instance behind a `reason` removal ended: EC2's StateTransitionReason time of a sighting
/// in a matching state, else the event's time (the event path). Only a terminated or stopped
/// instance is dead; other reasons have no end.
fn ended(
    reason: Reason,
    sightings: &[crate::model::plan::ObservedInstance],
    event_time: Option<SystemTime>,
) -> Option<SystemTime> {
    use crate::model::domain::InstanceState as S;
    let dead = |s: S| match reason {
        Reason::Terminated => matches!(s, S::ShuttingDown | S::Terminated),
        Reason::Stopped => matches!(s, S::Stopping | S::Stopped),
        _ => false,
    };
    if !matches!(reason, Reason::Terminated | Reason::Stopped) {
        return None;
    }
    sightings
        .iter()
        .filter(|o| dead(o.state))
        .filter_map(|o| o.ended)
        .min()
        .or(event_time)
}

/// What the removals are made for.
#[derive(Clone, Copy)]
pub(super) struct When<'a> {
    pub trigger: Trigger,
    /// The batch's latest event time, on the event path.
    pub event_time: Option<SystemTime>,
    /// Run with each record right before its DeregisterInstance is sent.
    pub before: Option<super::BeforeRemoval<'a>>,
}

/// Applies `plan`'s deregistrations (none in a dry run); one failure does not stop the others.
/// Returns what each came to, by EC2 instance, and the undo records of the removals made (and of
/// those sent but found already gone).
pub(super) async fn apply(
    ctx: &Context,
    service_id: &str,
    registrations: &[Registration],
    plan: &Plan,
    observed: &Observed,
    when: When<'_>,
) -> (Vec<(String, Applied)>, Vec<Removal>) {
    let When {
        trigger,
        event_time,
        before,
    } = when;
    let judged: HashMap<&str, &Registration> = registrations
        .iter()
        .map(|r| (r.instance_id.as_str(), r))
        .collect();
    let jobs: Vec<_> = plan
        .deregistrations()
        .map(|(instance_id, reason)| {
            let judged = judged.get(instance_id).copied();
            let target = judged.map_or(instance_id, Registration::target).to_string();
            let sightings = observed.get(&target).map(Vec::as_slice).unwrap_or_default();
            let ended = ended(reason, sightings, event_time);
            let evidence: Vec<Sighting> = sightings
                .iter()
                .map(|o| Sighting {
                    // The home account by its 12-digit id: archived records stay unambiguous.
                    account: match o.account.as_str() {
                        "home" => ctx
                            .metrics
                            .account_label(&crate::model::domain::Account::Home),
                        member => member.to_string(),
                    },
                    region: o.region.clone(),
                    state: o.state.to_string(),
                })
                .collect();
            let removal = Removal {
                service_id: service_id.to_string(),
                instance_id: instance_id.to_string(),
                attributes: Default::default(),
                reason: reason.to_string(),
                trigger: trigger.as_str().to_string(),
                evidence,
                time: String::new(),
                already_gone: false,
            };
            async move {
                let (applied, record) =
                    remove(ctx, removal, judged, reason, (trigger, before), ended).await;
                if matches!(applied, Applied::Removed | Applied::AlreadyGone) && !ctx.config.dry_run
                {
                    // A lifecycle drain later asks when the instance left (`worker::hooks`).
                    ctx.state.note_removed(&target);
                }
                ((target, applied), record)
            }
        })
        .collect();
    let done: Vec<_> = stream::iter(jobs)
        .buffer_unordered(ctx.config.concurrency)
        .collect()
        .await;
    let (results, records): (Vec<_>, Vec<_>) = done.into_iter().unzip();
    (results, records.into_iter().flatten().collect())
}

async fn remove(
    ctx: &Context,
    mut removal: Removal,
    judged: Option<&Registration>,
    reason: Reason,
    (trigger, before): (Trigger, Option<super::BeforeRemoval<'_>>),
    ended: Option<SystemTime>,
) -> (Applied, Option<Removal>) {
    let record_of = |removal: &Removal, attributes: &std::collections::BTreeMap<String, String>| {
        let mut r = removal.clone();
        r.attributes = attributes.clone();
        r.time = crate::model::domain::rfc3339(SystemTime::now());
        r
    };
    let (service_id, instance_id) = (removal.service_id.as_str(), removal.instance_id.as_str());
    if ctx.config.dry_run {
        info!(service_id, instance_id, %reason, ?trigger, dry_run = true, "would deregister");
        return (Applied::Removed, None);
    }
    let failed = |e| {
        let what = Failure::Deregister {
            service_id,
            instance_id,
            reason,
            trigger,
        };
        ctx.failed(what, &e);
        (Applied::Failed, None)
    };
    // A terminated instance registers nothing again, and a registration named by its instance id
    // can only ever stand for that instance: the listing's attributes are the ones to remove and
    // record. Any other (a live instance's, or a name whose AWS_EC2_INSTANCE_ID could now point
    // elsewhere) is read again first and kept if it changed since the plan judged it.
    let listed = judged
        .filter(|r| reason == Reason::Terminated && r.ec2_id.is_none())
        .and_then(|r| r.attributes.as_deref());
    let now = match listed {
        Some(attributes) => Some((None, attributes.clone())),
        None => match cloudmap::current(&ctx.cloudmap, service_id, instance_id).await {
            Ok(now) => now.map(|(r, a)| (Some(r), a)),
            Err(e) => return failed(e),
        },
    };
    let (outcome, attributes) = match now {
        None => (Deregistered::AlreadyGone, None),
        Some((Some(now), _)) if Some(&now) != judged => {
            info!(service_id, instance_id, %reason, ?trigger, judged_ipv4 = ?judged.and_then(|r| r.ipv4.as_deref()),
                now_ipv4 = ?now.ipv4, "registration changed since it was judged; kept for the next cycle");
            ctx.metrics
                .changed
                .get_or_create(&Metrics::service(service_id))
                .inc();
            return (Applied::Changed, None);
        }
        Some((_, attributes)) => {
            if let Some(before) = before {
                before(&record_of(&removal, &attributes)).await;
            }
            match cloudmap::deregister(&ctx.cloudmap, service_id, instance_id).await {
                Ok(outcome) => (outcome, Some(attributes)),
                Err(e) => return failed(e),
            }
        }
    };
    if outcome == Deregistered::AlreadyGone {
        ctx.metrics
            .already_gone
            .get_or_create(&ServiceTriggerLabels {
                service_id: service_id.to_string(),
                trigger,
            })
            .inc();
        let Some(attributes) = attributes else {
            info!(service_id, instance_id, %reason, ?trigger, "already deregistered by someone else; nothing to undo");
            return (Applied::AlreadyGone, None);
        };
        // Sent, and found gone: someone else's removal, or our own call applied and retried by the
        // SDK after its answer was lost (DeregisterInstance takes no idempotency token). Its record
        // is kept either way, marked: `restore` checks EC2 and Cloud Map before acting on it.
        let mut record = record_of(&removal, &attributes);
        record.already_gone = true;
        let json = record.json();
        info!(service_id, instance_id, %reason, ?trigger, record = json,
            "already gone when deregistered (maybe our own call, retried); its record kept");
        return (Applied::AlreadyGone, Some(record));
    }
    ctx.metrics
        .deregistrations
        .get_or_create(&DeregistrationLabels {
            service_id: service_id.to_string(),
            trigger,
            reason,
        })
        .inc();
    if let Some(ended) = ended {
        let age = crate::model::age::dead_for(ended, SystemTime::now());
        ctx.metrics.dead_registration(trigger, age);
    }
    let Some(attributes) = attributes else {
        info!(service_id, instance_id, %reason, ?trigger, "deregistered");
        return (Applied::Removed, None);
    };
    // Removed by this call: the undo record goes with the log line (and to the audit bus).
    removal.attributes = attributes;
    removal.time = crate::model::domain::rfc3339(SystemTime::now());
    let record = removal.json();
    info!(service_id, instance_id, %reason, ?trigger, record, "deregistered");
    if let Some(bus) = &ctx.audit {
        if let Err(e) = bus.publish(&removal).await {
            ctx.counted(&e);
            error!(service_id, instance_id, error = %e, record, "cannot send the removal's record to the audit bus (it is in the log line above)");
        }
    }
    (Applied::Removed, Some(removal))
}
