//! Doing what a batch asks: read each message into a claim (rules in `claims`), verify the claims
//! with EC2 (one DescribeInstances per account×region per batch), sync every selected service within
//! the claimed instances (through `sync`), complete Auto Scaling lifecycle actions, and give each
//! message its disposition.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use futures::future::join_all;
use tracing::{debug, info, warn};

use super::claims::{self, Claim, Disposition, InstanceResult, Reading, Unclaimed};
use super::{truncate, Received, Worker};
use crate::emit::Failure;
use crate::error::{Error, Operation};
use crate::event::{self, LifecycleAction};
use crate::inventory::{self, Observed};
use crate::metrics::{LatencyFrom, LatencyLabels, Trigger};
use crate::plan::{self, Claimed};
use crate::sync::{self, Scope};

impl Worker {
    /// Decides and does the work of a batch; returns each message's disposition.
    pub(super) async fn process(&self, messages: &[Received]) -> Vec<Disposition> {
        let mut readings = Vec::with_capacity(messages.len());
        let mut claims = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let reading = match event::parse(&m.body) {
                Err(why) => {
                    if m.receive_count <= 1 {
                        warn!(message_id = %m.message_id, reason = %why, body = truncate(&m.body), "unreadable message left for the dead-letter queue");
                    } else {
                        debug!(message_id = %m.message_id, receive_count = m.receive_count, "unreadable message seen again");
                    }
                    Reading::Invalid
                }
                Ok(ev) => match self.rules.claim(i, m.received_at, &ev) {
                    Ok(c) => {
                        claims.push(c);
                        Reading::Claimed(ev.event_type())
                    }
                    Err(Unclaimed::Unwatched { account, region }) => {
                        warn!(
                            event_id = ev.id.as_deref(),
                            %account,
                            %region,
                            instance_id = ev.instance_id(),
                            "event from an account or region cloud-unmap does not watch; ignored"
                        );
                        Reading::Ignored(ev.event_type())
                    }
                    Err(Unclaimed::NothingToDo) => Reading::Ignored(ev.event_type()),
                },
            };
            readings.push(reading);
        }
        let results = if claims.is_empty() {
            HashMap::new()
        } else {
            self.act(&claims).await
        };
        claims::dispose(&readings, &claims, &results)
            .into_iter()
            .map(|(disposition, event_type, outcome)| {
                self.ctx.metrics.event(event_type, outcome);
                disposition
            })
            .collect()
    }

    /// Verifies the claims with EC2, syncs every selected service within them, completes lifecycle
    /// actions. Returns what the work came to, per instance.
    async fn act(&self, claims: &[Claim]) -> HashMap<String, InstanceResult> {
        let ctx = &self.ctx;
        let mut results: HashMap<String, InstanceResult> = HashMap::new();
        let fail_all = |results: &mut HashMap<String, InstanceResult>| {
            for c in claims {
                results.entry(c.instance_id.clone()).or_default().failed = true;
            }
        };
        let claimed: Claimed = claims::merge(claims);
        let ids: Vec<String> = claimed.keys().cloned().collect();
        let observed: Observed =
            match inventory::describe(&ctx.targets, &ids, ctx.config.concurrency).await {
                Ok(o) => o,
                Err(e) => {
                    ctx.failed(Failure::VerifyEvents, &e);
                    fail_all(&mut results);
                    return results;
                }
            };
        let (services, selection_errors) = sync::resolve_services(ctx).await;
        if !selection_errors.is_empty() {
            fail_all(&mut results);
            return results;
        }
        let scope = Scope::Instances {
            claimed: &claimed,
            observed: &observed,
        };
        let per_service = join_all(
            services
                .iter()
                .map(|s| sync::sync_service(ctx, s, scope, Trigger::event)),
        )
        .await;
        for (service_id, outcome) in services.iter().zip(per_service) {
            match outcome {
                Ok(report) => {
                    for (id, ok) in report.results {
                        let r = results.entry(id).or_default();
                        r.acted |= ok;
                        r.failed |= !ok;
                    }
                }
                Err(e) => {
                    let what = Failure::Sync {
                        service_id,
                        trigger: Trigger::event,
                    };
                    ctx.failed(what, &e);
                    fail_all(&mut results);
                }
            }
        }
        self.observe_latencies(claims, &results);
        self.complete_lifecycles(claims, &observed, &mut results)
            .await;
        results
    }

    /// Latencies of confirmed deregistrations, from receipt and from the event's own time.
    fn observe_latencies(&self, claims: &[Claim], results: &HashMap<String, InstanceResult>) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        for c in claims {
            if !results
                .get(&c.instance_id)
                .is_some_and(|r| r.acted && !r.failed)
            {
                continue;
            }
            let observe = |from: LatencyFrom, d: Duration| {
                self.ctx
                    .metrics
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
    }

    /// Lifecycle actions: completed once the instance is out of every service and EC2 shows it in
    /// the action's group.
    async fn complete_lifecycles(
        &self,
        claims: &[Claim],
        observed: &Observed,
        results: &mut HashMap<String, InstanceResult>,
    ) {
        for c in claims {
            let Some(action) = &c.lifecycle else {
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
            match self.complete_lifecycle(c, action).await {
                Ok(()) => r.acted = true,
                Err(e) => {
                    let what = Failure::CompleteLifecycle {
                        instance_id: &c.instance_id,
                    };
                    self.ctx.failed(what, &e);
                    r.failed = true;
                }
            }
        }
    }

    /// CompleteLifecycleAction(CONTINUE) in the claim's account and region.
    async fn complete_lifecycle(&self, c: &Claim, action: &LifecycleAction) -> Result<(), Error> {
        let Some(target) = self.ctx.target(&c.account, &c.region) else {
            // Claims are only made for watched targets (`Rules::watched` is built from them).
            warn!(account = %c.account, region = %c.region, "no client for the lifecycle action's account and region");
            return Ok(());
        };
        let out = target
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
