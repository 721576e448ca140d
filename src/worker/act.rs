//! What a batch asks of cloud-unmap and doing it: events → claims (account and region checked),
//! claims verified with EC2 (one DescribeInstances per account×region per batch), deregistration
//! through the shared plan, Auto Scaling lifecycle actions completed, a disposition per message.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use futures::future::join_all;
use tracing::{debug, error, info, warn};

use super::{truncate, Disposition, Received, Worker};
use crate::error::{Error, Operation};
use crate::event::{self, Event, EventType, Kind, LifecycleAction, SpotAction};
use crate::inventory::{self, Observed};
use crate::metrics::{EventOutcome, LatencyFrom, LatencyLabels, Metrics, Trigger};
use crate::plan::{self, Hint, InstanceState, Scope};
use crate::reconcile;
use crate::registry;

/// What an event asks of cloud-unmap, once it passed the account and region checks.
#[derive(Debug, Clone)]
pub(super) struct Claim {
    message: usize,
    instance_id: String,
    hint: Hint,
    /// (index into `ctx.targets`, action) for terminate lifecycle actions.
    lifecycle: Option<(usize, LifecycleAction)>,
    event_type: EventType,
    event_time: Option<SystemTime>,
    received_at: Instant,
}

/// Per instance: whether any deregistration succeeded, and whether any work failed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct InstanceResult {
    acted: bool,
    failed: bool,
}

impl Worker {
    /// Index into `ctx.targets` of the event's account and region, if cloud-unmap looks there.
    pub(super) fn target_of(&self, event: &Event) -> Option<usize> {
        let account = event.account.as_deref().unwrap_or(&self.queue.account_id);
        let label = if account == self.queue.account_id {
            "home"
        } else {
            account
        };
        let region = event
            .region
            .as_deref()
            .unwrap_or(&self.ctx.config.service_region);
        self.ctx
            .targets
            .iter()
            .position(|t| t.account == label && t.region == region)
    }

    /// What an event asks for, or `None` when there is nothing to do.
    pub(super) fn claim(
        &self,
        message: usize,
        received_at: Instant,
        event: &Event,
    ) -> Option<Claim> {
        let instance_id = event.instance_id()?.to_string();
        let Some(target) = self.target_of(event) else {
            warn!(
                event_id = event.id.as_deref(),
                account = event.account.as_deref(),
                region = event.region.as_deref(),
                instance_id,
                "event from an account or region cloud-unmap does not watch; ignored"
            );
            return None;
        };
        let stopped_counts = self.ctx.config.deregister_stopped;
        let (hint, lifecycle) = match &event.kind {
            Kind::StateChange { state, .. } => match state {
                InstanceState::ShuttingDown | InstanceState::Terminated => (Hint::Judge, None),
                InstanceState::Stopping | InstanceState::Stopped if stopped_counts => {
                    (Hint::Judge, None)
                }
                _ => return None,
            },
            Kind::SpotInterruption { action, .. } => match action {
                SpotAction::Terminate => (Hint::Spot, None),
                SpotAction::Stop | SpotAction::Hibernate if stopped_counts => (Hint::Spot, None),
                _ => return None,
            },
            Kind::TerminateLifecycle(action) => (
                Hint::AsgTerminate {
                    group: action.group.clone(),
                },
                Some((target, action.clone())),
            ),
            Kind::Other => return None,
        };
        Some(Claim {
            message,
            instance_id,
            hint,
            lifecycle,
            event_type: event.event_type(),
            event_time: event.time,
            received_at,
        })
    }

    /// Decides and does the work of a batch; returns each message's disposition.
    pub(super) async fn process(&self, messages: &[Received]) -> Vec<Disposition> {
        let mut dispositions = vec![Disposition::Delete; messages.len()];
        let mut outcomes: Vec<Option<(EventType, EventOutcome)>> = vec![None; messages.len()];
        let mut claims = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match event::parse(&m.body) {
                Err(why) => {
                    dispositions[i] = Disposition::Invalid;
                    outcomes[i] = Some((EventType::Invalid, EventOutcome::invalid));
                    if m.receive_count <= 1 {
                        warn!(message_id = %m.message_id, reason = %why, body = truncate(&m.body), "unreadable message left for the dead-letter queue");
                    } else {
                        debug!(message_id = %m.message_id, receive_count = m.receive_count, "unreadable message seen again");
                    }
                }
                Ok(ev) => match self.claim(i, m.received_at, &ev) {
                    Some(c) => claims.push(c),
                    None => outcomes[i] = Some((ev.event_type(), EventOutcome::ignored)),
                },
            }
        }
        if !claims.is_empty() {
            let results = self.act(&claims).await;
            for c in &claims {
                let r = results.get(&c.instance_id).copied().unwrap_or_default();
                let outcome = if r.failed {
                    dispositions[c.message] = Disposition::Retry;
                    EventOutcome::failed
                } else if r.acted {
                    EventOutcome::acted
                } else {
                    EventOutcome::ignored
                };
                // A message names one instance; a later claim cannot downgrade a failure.
                if outcomes[c.message].is_none_or(|(_, o)| o != EventOutcome::failed) {
                    outcomes[c.message] = Some((c.event_type, outcome));
                }
            }
        }
        for (t, o) in outcomes.into_iter().flatten() {
            self.ctx.metrics.event(t, o);
        }
        dispositions
    }

    /// Verifies the claims with EC2, deregisters through the plan, completes lifecycle actions.
    pub(super) async fn act(&self, claims: &[Claim]) -> HashMap<String, InstanceResult> {
        let ctx = &self.ctx;
        let mut results: HashMap<String, InstanceResult> = HashMap::new();
        let fail_all = |results: &mut HashMap<String, InstanceResult>| {
            for c in claims {
                results.entry(c.instance_id.clone()).or_default().failed = true;
            }
        };
        // What the events claim, per instance; a confirmed-departure hint outranks a plain judge.
        let mut hints: HashMap<String, Hint> = HashMap::new();
        for c in claims {
            let slot = hints.entry(c.instance_id.clone()).or_insert(Hint::Judge);
            if c.hint != Hint::Judge {
                *slot = c.hint.clone();
            }
        }
        let ids: Vec<String> = hints.keys().cloned().collect();
        let observed: Observed = match inventory::describe(
            &ctx.targets,
            &ids,
            ctx.config.concurrency,
        )
        .await
        {
            Ok(o) => o,
            Err(e) => {
                self.count_error(&e);
                error!(error = %e, "cannot verify events with EC2; leaving them for redelivery");
                fail_all(&mut results);
                return results;
            }
        };
        let (services, selection_errors) = reconcile::resolve_services(ctx).await;
        if !selection_errors.is_empty() {
            fail_all(&mut results);
            return results;
        }
        let per_service = join_all(
            services
                .iter()
                .map(|s| self.act_on_service(s, &hints, &observed)),
        )
        .await;
        for outcome in per_service {
            match outcome {
                Ok(done) => {
                    for (id, ok) in done {
                        let r = results.entry(id).or_default();
                        r.acted |= ok;
                        r.failed |= !ok;
                    }
                }
                Err(()) => fail_all(&mut results),
            }
        }
        // Latencies of confirmed deregistrations.
        let (now, wall) = (Instant::now(), SystemTime::now());
        for c in claims {
            if !results
                .get(&c.instance_id)
                .is_some_and(|r| r.acted && !r.failed)
            {
                continue;
            }
            let observe = |from: LatencyFrom, d: Duration| {
                ctx.metrics
                    .event_latency
                    .get_or_create(&LatencyLabels { from })
                    .observe(d.as_secs_f64())
            };
            observe(
                LatencyFrom::receipt,
                now.saturating_duration_since(c.received_at),
            );
            if let Some(d) = c.event_time.and_then(|t| wall.duration_since(t).ok()) {
                observe(LatencyFrom::event_time, d);
            }
        }
        // Lifecycle actions: completed once the instance is out of every service.
        for c in claims {
            let Some((target, action)) = &c.lifecycle else {
                continue;
            };
            let r = results.entry(c.instance_id.clone()).or_default();
            if r.failed {
                continue;
            }
            let seen = observed
                .get(&c.instance_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if plan::confirmed(&c.hint, seen).is_none() {
                warn!(instance_id = %c.instance_id, group = %action.group, "terminate lifecycle action for an instance EC2 does not show in that group; ignored");
                continue;
            }
            match self.complete_lifecycle(*target, action).await {
                Ok(()) => r.acted = true,
                Err(e) => {
                    self.count_error(&e);
                    error!(error = %e, instance_id = %c.instance_id, "CompleteLifecycleAction failed; the event will be retried");
                    r.failed = true;
                }
            }
        }
        results
    }

    /// Lists one service's registrations now (no cache: an instance registered a second ago is
    /// found), plans for the claimed instances, and applies. Err when the listing failed.
    pub(super) async fn act_on_service(
        &self,
        service_id: &str,
        hints: &HashMap<String, Hint>,
        observed: &Observed,
    ) -> Result<Vec<(String, bool)>, ()> {
        let ctx = &self.ctx;
        let registrations = match registry::list_registrations(&ctx.cloudmap, service_id).await {
            Ok(r) => r,
            Err(e) => {
                self.count_error(&e);
                error!(service_id, error = %e, "cannot list registrations for the event path");
                return Err(());
            }
        };
        let plan = plan::plan(
            &registrations,
            observed,
            ctx.plan_options(),
            Scope::Only(hints),
        );
        if plan.held {
            ctx.metrics
                .guard_holds
                .get_or_create(&Metrics::service(service_id))
                .inc();
            reconcile::warn_held(service_id, &plan, Trigger::event);
            return Ok(Vec::new());
        }
        Ok(reconcile::apply(ctx, service_id, &plan, Trigger::event).await)
    }

    pub(super) async fn complete_lifecycle(
        &self,
        target: usize,
        action: &LifecycleAction,
    ) -> Result<(), Error> {
        let out = self.ctx.targets[target]
            .autoscaling
            .complete_lifecycle_action()
            .auto_scaling_group_name(&action.group)
            .lifecycle_hook_name(&action.hook)
            .lifecycle_action_token(&action.token)
            .instance_id(&action.instance_id)
            .lifecycle_action_result("CONTINUE")
            .send()
            .await;
        match out {
            Ok(_) => {
                info!(instance_id = %action.instance_id, group = %action.group, hook = %action.hook, "completed lifecycle action (CONTINUE)");
                Ok(())
            }
            // Already completed, or timed out: nothing is waiting any more.
            Err(e)
                if e.code() == Some("ValidationError")
                    && e.message()
                        .is_some_and(|m| m.contains("No active Lifecycle Action")) =>
            {
                info!(instance_id = %action.instance_id, "lifecycle action already completed");
                Ok(())
            }
            Err(e) => Err(Error::aws(Operation::CompleteLifecycleAction, e)),
        }
    }
}
