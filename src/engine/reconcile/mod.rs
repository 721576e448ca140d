//! One service's sync, called by every trigger (kube-rs style): resolve the selected services, list
//! a service's registrations, look their instances up in EC2 (or take the event path's lookup),
//! plan, hold or apply, and report. The reconcile syncs everything; an event narrows the scope to
//! the instances it names and adds its hints.

use std::collections::HashSet;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};

use tracing::{debug, info, instrument, warn};

use crate::aws::cloudmap;
use crate::aws::ec2::{self, Lookup, Observed};
use crate::engine::context::Context;
use crate::engine::index;
use crate::engine::state::Listing;
use crate::error::Error;
use crate::model::domain::is_ec2_instance_id;
use crate::model::domain::SelectionKind;
use crate::model::plan::{self, Action, Claimed, Hold, Plan, Reason, Registration};
use crate::telemetry::metrics::{Guard, Metrics, Trigger};

mod apply;
mod explain;
mod selection;
pub use apply::Applied;
pub use selection::{note_missing, resolve_services};

/// What one sync looks at.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    /// Every registration of the service; their instances are looked up here (the reconcile).
    All,
    /// Only the claimed instances, already looked up by the caller once for every service (the
    /// event path: one DescribeInstances per account×region per batch). The registrations come from
    /// the index (`index::complete_as_of`): every one made before `needed`, the latest event time.
    Instances {
        claimed: &'a Claimed,
        observed: &'a Observed,
        needed: std::time::SystemTime,
        /// Called with each removal's record (the attributes just read) right before its
        /// DeregisterInstance is sent: what must be saved before the registration is gone.
        before: Option<BeforeRemoval<'a>>,
    },
}

/// A hook run with a removal's record right before its DeregisterInstance is sent.
pub type BeforeRemoval<'a> = &'a (dyn Fn(&crate::model::record::Removal) -> futures::future::BoxFuture<'static, ()>
         + Send
         + Sync);

/// What one service's sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServiceReport {
    pub registrations: usize,
    pub kept: usize,
    pub skipped: usize,
    /// Deregistrations the never-empty guard held back.
    pub held: usize,
    /// `not-found` registrations the surge guard held back.
    pub not_found_held: usize,
    /// `not-found` registrations kept until a second lookup confirms them.
    pub unconfirmed: usize,
    /// `not-found` registrations kept because some account×region did not answer.
    pub unanswered: usize,
    /// The accounts×regions that did not answer this sync's lookup.
    pub targets_unanswered: usize,
    /// Each attempted deregistration's EC2 instance (`Registration::target`) and what it came to (in a dry run: `Removed`
    /// for what would have been removed).
    pub results: Vec<(String, Applied)>,
    /// The undo records of the removals made (none in a dry run), and of those sent but found
    /// already gone (`already_gone`).
    pub removals: Vec<crate::model::record::Removal>,
}

impl ServiceReport {
    /// Removed (or, in a dry run, that would have been removed).
    pub fn deregistered(&self) -> usize {
        self.count(Applied::Removed)
    }

    /// Registrations already gone when removed (someone else removed them).
    pub fn already_gone(&self) -> usize {
        self.count(Applied::AlreadyGone)
    }

    /// Deregistrations that failed.
    pub fn failed(&self) -> usize {
        self.count(Applied::Failed)
    }

    /// Whether something failed: a deregistration, or a target's lookup.
    pub fn incomplete(&self) -> bool {
        self.failed() > 0 || self.targets_unanswered > 0
    }

    /// Registrations that changed between the plan and their removal, and were kept.
    pub fn changed(&self) -> usize {
        self.count(Applied::Changed)
    }

    fn count(&self, what: Applied) -> usize {
        self.results.iter().filter(|(_, a)| *a == what).count()
    }
}

/// The distinct EC2 instances the registrations that pass `keep` stand for.
fn targets(registrations: &[Registration], keep: impl Fn(&Registration) -> bool) -> Vec<String> {
    registrations
        .iter()
        .filter(|r| keep(r))
        .map(|r| r.target().to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect()
}

/// Syncs one service: list, look up (scope `All`), plan, then hold or apply, alone (no other
/// trigger of this process plans the service meanwhile). An `Err` means nothing was decided (the
/// listing or the lookup failed, or the service is missing); failed deregistrations are counted in
/// the report.
#[instrument(skip(ctx, scope), fields(service_id = %service_id, ?trigger))]
pub async fn reconcile_service(
    ctx: &Context,
    service_id: &str,
    scope: Scope<'_>,
    trigger: Trigger,
) -> Result<ServiceReport, Error> {
    let _alone = ctx.state.plan_alone(service_id).await;
    let mut looked_up = Lookup::default();
    let listing = match scope {
        Scope::All => {
            let (listing, lookup) = list_and_look_up(ctx, service_id).await?;
            ctx.failing
                .note(&ctx.metrics, &ctx.targets.current(), &lookup);
            ctx.note_silent();
            looked_up = lookup;
            listing
        }
        Scope::Instances { needed, .. } => {
            let (listing, source) = index::complete_as_of(ctx, service_id, needed).await?;
            debug!(service_id, ?source, "registrations for the event path");
            listing
        }
    };
    let registrations: &[Registration] = &listing.registrations;
    ctx.set_missing(SelectionKind::Service, service_id, false);
    let labels = Metrics::service(service_id);
    let (given, plan_scope) = match scope {
        Scope::All => {
            ctx.metrics
                .registered
                .get_or_create(&labels)
                .set(registrations.len() as i64);
            (None, plan::Judging::All)
        }
        Scope::Instances {
            claimed, observed, ..
        } => (Some(observed), plan::Judging::Only(claimed)),
    };
    let complete = given.is_none();
    // A target that did not answer holds back only `not-found` (see `plan::PlanOptions`).
    let judge = |observed: &Observed, unanswered: bool| {
        let confirmed = ctx
            .state
            .confirmed_absent(service_id, ctx.config.not_found_grace);
        let opts = plan::PlanOptions {
            unanswered,
            ..ctx.plan_options()
        };
        let plan = plan::plan_with(registrations, observed, opts, plan_scope, Some(&confirmed));
        ctx.state.note_absent(service_id, &plan, complete);
        plan
    };
    // Organization mode before a first good listing: its accounts were not asked.
    let unlisted = complete && ctx.targets.unlisted();
    let mut plan = match given {
        Some(observed) => judge(observed, false),
        None => judge(
            &looked_up.observed,
            unlisted || !looked_up.unanswered.is_empty(),
        ),
    };
    if ctx.config.single_run && complete && !plan.surge && plan.unconfirmed().next().is_some() {
        // A single run cannot wait for its next cycle: it looks again after the grace period.
        let unconfirmed: HashSet<&str> = plan.unconfirmed().collect();
        let ids = targets(registrations, |r| {
            unconfirmed.contains(r.instance_id.as_str())
        });
        let grace = ctx.config.not_found_grace;
        info!(
            service_id,
            not_found = ids.len(),
            grace_s = grace.as_secs(),
            "not found in EC2; looking again after the grace period"
        );
        tokio::time::sleep(grace).await;
        let targets = ctx.targets.current();
        let again = ec2::describe_each(&targets, &ids, ctx.config.concurrency).await;
        ctx.failing.note(&ctx.metrics, &targets, &again);
        ctx.note_silent();
        for id in &ids {
            looked_up.observed.remove(id);
        }
        looked_up.extend(again);
        plan = judge(
            &looked_up.observed,
            unlisted || !looked_up.unanswered.is_empty(),
        );
    }

    let mut report = ServiceReport {
        registrations: registrations.len(),
        kept: plan.count(|a| *a == Action::Keep),
        skipped: plan.count(|a| matches!(a, Action::Skip(_))),
        not_found_held: plan.count(|a| *a == Action::Hold(Hold::Surge)),
        unconfirmed: plan.count(|a| *a == Action::Hold(Hold::Unconfirmed)),
        unanswered: plan.unanswered().count(),
        targets_unanswered: looked_up.unanswered.len() + usize::from(unlisted),
        ..Default::default()
    };
    let observed = given.unwrap_or(&looked_up.observed);
    let home = ctx
        .metrics
        .account_label(&crate::model::domain::Account::Home);
    let asked = ctx.targets.current().len();
    explain::log(
        service_id,
        registrations,
        &plan,
        observed,
        asked,
        &home,
        trigger,
    );
    if plan.surge {
        ctx.metrics.guard_hold(service_id, Guard::not_found_surge);
        warn_surge(ctx, service_id, &plan, trigger);
    }
    if plan.held {
        report.held = plan.wanted().count();
        ctx.metrics.guard_hold(service_id, Guard::never_empty);
        warn_held(service_id, &plan, trigger);
        return Ok(report);
    }
    let (event_time, before) = match scope {
        Scope::Instances { needed, before, .. } => (Some(needed), before),
        Scope::All => (None, None),
    };
    (report.results, report.removals) = apply::apply(
        ctx,
        service_id,
        registrations,
        &plan,
        observed,
        apply::When {
            trigger,
            event_time,
            before,
        },
    )
    .await;
    if matches!(scope, Scope::All) && !ctx.config.dry_run {
        let gone = report.deregistered() + report.already_gone();
        let remaining = registrations.len().saturating_sub(gone);
        ctx.metrics
            .registered
            .get_or_create(&labels)
            .set(remaining as i64);
    }
    Ok(report)
}

/// Lists a service and looks its instances up as a pipeline: as soon as the pages listed so far hold a
/// full DescribeInstances call's worth of instances (200), they are looked up while the next pages are
/// listed (Cloud Map pages come one after the other, 100 at a time); the rest when the listing ends.
/// As many DescribeInstances calls as looking everything up at the end would make. A target that
/// fails is named in the lookup; only the listing failing fails the sync.
async fn list_and_look_up(
    ctx: &Context,
    service_id: &str,
) -> Result<(Arc<Listing>, Lookup), Error> {
    let start = index::begin(ctx, service_id).await;
    let mut pages = std::pin::pin!(cloudmap::registration_pages(&ctx.cloudmap, service_id));
    let mut lookups = FuturesUnordered::new();
    let (mut registrations, mut observed, mut listed) = (Vec::new(), Lookup::default(), false);
    let (mut asked, mut pending): (HashSet<String>, Vec<String>) = (HashSet::new(), Vec::new());
    let look_up = |ids: Vec<String>| {
        let (targets, concurrency) = (ctx.targets.current(), ctx.config.concurrency);
        async move { ec2::describe_each(&targets, &ids, concurrency).await }
    };
    loop {
        tokio::select! {
            page = pages.next(), if !listed => match page {
                Some(page) => {
                    let page = page?;
                    pending.extend(
                        targets(&page, |r| r.has_address() && is_ec2_instance_id(r.target()))
                            .into_iter()
                            .filter(|id| asked.insert(id.clone())),
                    );
                    while pending.len() >= ec2::MAX_IDS_PER_CALL {
                        let rest = pending.split_off(ec2::MAX_IDS_PER_CALL);
                        lookups.push(look_up(std::mem::replace(&mut pending, rest)));
                    }
                    registrations.extend(page);
                }
                None => {
                    listed = true;
                    if !pending.is_empty() {
                        lookups.push(look_up(std::mem::take(&mut pending)));
                    }
                }
            },
            Some(found) = lookups.next(), if !lookups.is_empty() => observed.extend(found),
            else => break,
        }
    }
    Ok((
        index::record(ctx, service_id, start, registrations),
        observed,
    ))
}

/// Logs a not-found surge once, with the accounts and regions that were asked.
fn warn_surge(ctx: &Context, service_id: &str, plan: &Plan, trigger: Trigger) {
    let asked: Vec<String> = ctx
        .targets
        .current()
        .iter()
        .map(|t| format!("{}/{}", t.account, t.region))
        .collect();
    let ids: Vec<&str> = plan.not_found().collect();
    warn!(
        service_id,
        ?trigger,
        not_found = ids.len(),
        instance_ids = ?ids,
        asked = ?asked,
        "not-found surge: too many registrations have no instance in any account and region asked; \
         keeping them (a forgotten --instances-role-arn or --instances-region? --max-not-found sets the bound)"
    );
}

/// Logs a held plan once, with what it would have removed.
fn warn_held(service_id: &str, plan: &Plan, trigger: Trigger) {
    let wanted: Vec<(&str, Reason)> = plan.wanted().collect();
    warn!(
        service_id,
        ?trigger,
        would_deregister = wanted.len(),
        instance_ids = ?wanted.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        "never-empty guard: every registration with an address in the service looks gone; deregistering none \
         (--allow-empty-service turns this off)"
    );
}
