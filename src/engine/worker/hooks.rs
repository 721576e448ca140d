//! Auto Scaling lifecycle actions on AWS: which claimed instances Auto Scaling shows terminating,
//! the drain before CONTINUE (its length, the delayed record in the queue, heartbeats while it
//! lasts; none for an instance that was in no selected service; never past the hook's global
//! timeout, read once per hook) and the completion. Only hooks named by `--lifecycle-hook-name` are
//! ever heart-beaten or completed; the timing rules are pure, in `crate::model::drain`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt, TryStreamExt};
use tracing::{info, warn};

use super::act::Outcomes;
use super::Worker;
use crate::aws::autoscaling::{self, Answer};
use crate::aws::ec2::Observed;
use crate::aws::sqs;
use crate::aws::Target;
use crate::engine::state::HookTimeouts;
use crate::error::Error;
use crate::model::claims::EventOutcome;
use crate::model::claims::{self, Claim, Lifecycle};
use crate::model::domain::Account;
use crate::model::domain::LifecycleAction;
use crate::model::drain::{self, Drain, Step, MIN_HEARTBEAT_TIMEOUT};
use crate::model::plan;
use crate::telemetry::emit::Failure;
use crate::telemetry::metrics::LifecycleStep;

/// A drain record whose drain is not over: it only heartbeats or waits on.
pub(super) fn waiting(c: &Claim, now: SystemTime) -> bool {
    matches!(&c.lifecycle, Some(Lifecycle::Draining(d)) if d.step(now) != Step::Complete)
}

impl Worker {
    fn target_of(&self, c: &Claim) -> Result<Target, Error> {
        // Claims are only made for watched targets (`Rules::watched` is built from them).
        self.ctx
            .target(&c.account, &c.region)
            .ok_or_else(|| Error::NoTarget {
                account: c.account.to_string(),
                region: c.region.clone(),
            })
    }

    fn lifecycle_failed(&self, c: &Claim, e: &Error, out: &mut Outcomes) {
        let what = Failure::CompleteLifecycle {
            instance_id: &c.instance_id,
        };
        self.ctx.failed(what, e);
        out.fail(&c.instance_id);
    }

    /// Drops the lifecycle claims of instances Auto Scaling shows in a state other than
    /// terminating (a stale or replayed action): they change nothing. Instances it does not know
    /// any more are left to EC2's word.
    pub(super) async fn terminating<'c>(
        &self,
        claims: Vec<&'c Claim>,
        out: &mut Outcomes,
    ) -> Vec<&'c Claim> {
        let lifecycle_claims = claims.iter().copied().filter(|c| c.lifecycle.is_some());
        let mut states: HashMap<String, String> = HashMap::new();
        for ((account, region), ids) in claims::by_target(lifecycle_claims) {
            let Some(target) = self.ctx.target(account, region) else {
                continue;
            };
            match autoscaling::lifecycle_states(&target.autoscaling, &ids).await {
                Ok(found) => states.extend(found),
                Err(e) => {
                    self.ctx.failed(Failure::VerifyEvents, &e);
                    for id in &ids {
                        out.fail(id);
                    }
                }
            }
        }
        claims
            .into_iter()
            .filter(|c| {
                let state = c.lifecycle.as_ref().and(states.get(&c.instance_id));
                match state {
                    Some(s) if !s.contains("Terminat") => {
                        info!(instance_id = %c.instance_id, lifecycle_state = %s,
                            "terminate lifecycle action for an instance Auto Scaling does not show terminating; nothing changed");
                        out.notes.insert(c.message, EventOutcome::NotTerminating);
                        false
                    }
                    _ => true,
                }
            })
            .collect()
    }

    /// A drain record before its end: a heartbeat when one is due, then back into the queue until
    /// its next wake.
    pub(super) async fn wait_on(&self, c: &Claim, now: SystemTime, out: &mut Outcomes) {
        let Some(Lifecycle::Draining(d)) = &c.lifecycle else {
            return;
        };
        let mut next = d.clone();
        if d.step(now) == Step::Heartbeat {
            match self.heartbeat(c, &d.action).await {
                Ok(true) => {
                    next.last_beat = now;
                    self.ctx.metrics.lifecycle_step(LifecycleStep::heartbeat);
                    info!(instance_id = %c.instance_id, hook = %d.action.hook, "lifecycle action heartbeat sent during the drain");
                }
                Ok(false) => {
                    self.ctx.metrics.lifecycle_step(LifecycleStep::gone);
                    info!(instance_id = %c.instance_id, "lifecycle action no longer active; drain dropped");
                    return;
                }
                Err(e) => return self.lifecycle_failed(c, &e, out),
            }
        }
        match self.queue_drain(c, &next, now).await {
            Ok(()) => {
                out.notes.insert(c.message, EventOutcome::Draining);
            }
            Err(e) => self.lifecycle_failed(c, &e, out),
        }
    }

    /// Lifecycle actions of claims EC2 confirmed, once their instance is out of every service:
    /// another hook's is left to its owner; ours drains, then CONTINUE.
    pub(super) async fn settle_lifecycles(
        &self,
        claims: &[&Claim],
        observed: &Observed,
        services: &[String],
        out: &mut Outcomes,
    ) {
        for c in claims {
            let Some(lifecycle) = &c.lifecycle else {
                continue;
            };
            if out.holds(c) {
                continue;
            }
            let seen = observed
                .get(&c.instance_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let action = lifecycle.action();
            if plan::confirmed(&c.hint, seen).is_none() {
                warn!(instance_id = %c.instance_id, group = %action.group, "terminate lifecycle action for an instance EC2 does not show in that group; ignored");
                continue;
            }
            match lifecycle {
                Lifecycle::Foreign(a) => {
                    info!(instance_id = %c.instance_id, hook = %a.hook, group = %a.group,
                        "out of every service; the lifecycle action of a hook cloud-unmap does not own is left to its owner");
                    out.notes.insert(c.message, EventOutcome::OtherHook);
                }
                Lifecycle::Own(a) => self.start_drain(c, a, None, services, out).await,
                Lifecycle::Draining(d) if out.removed_from.contains_key(&c.instance_id) => {
                    // Registered again during the drain: it starts over from this removal.
                    self.start_drain(c, &d.action, Some(d), services, out).await
                }
                Lifecycle::Draining(d) => self.complete(c, &d.action, Some(d), out).await,
            }
        }
    }

    /// Starts (or restarts) the drain of an action of ours; without one, completes it at once. A
    /// first drain never runs past the hook's global timeout (less `GLOBAL_MARGIN`), counted from
    /// the action's start (the event's time): Auto Scaling would end the action itself then.
    async fn start_drain(
        &self,
        c: &Claim,
        action: &LifecycleAction,
        earlier: Option<&Drain>,
        services: &[String],
        out: &mut Outcomes,
    ) {
        let removed = out.removed_from.get(&c.instance_id).cloned();
        let drain = match self
            .drain_for(&c.instance_id, removed.as_deref(), services)
            .await
        {
            Ok(d) => d,
            Err(e) => return self.lifecycle_failed(c, &e, out),
        };
        if drain.is_zero() {
            return self.complete(c, action, None, out).await;
        }
        let now = SystemTime::now();
        let (heartbeat, global) = match self.hook_timeouts(c, action).await {
            Ok(t) => t,
            Err(e) => return self.lifecycle_failed(c, &e, out),
        };
        let (last_beat, heartbeat_timeout) = match earlier {
            Some(d) => (d.last_beat, d.heartbeat_timeout),
            // The action's timer started with it: the event's time, if not in the future.
            None => (c.event_time.unwrap_or(now).min(now), heartbeat),
        };
        let mut not_before = now + drain;
        if earlier.is_none() {
            let latest = drain::latest_continue(last_beat, global);
            if latest < not_before {
                warn!(instance_id = %c.instance_id, hook = %action.hook, group = %action.group,
                    drain_s = drain.as_secs(), global_timeout_s = global.as_secs(),
                    "drain cut short to end before the hook's global timeout");
                not_before = latest;
            }
            if not_before <= now {
                return self.complete(c, action, None, out).await;
            }
        }
        let d = Drain {
            action: action.clone(),
            not_before,
            last_beat,
            heartbeat_timeout,
        };
        match self.queue_drain(c, &d, now).await {
            Ok(()) => {
                self.ctx
                    .metrics
                    .lifecycle_step(LifecycleStep::drain_started);
                let drain_s = not_before.duration_since(now).unwrap_or_default().as_secs();
                info!(instance_id = %c.instance_id, hook = %action.hook, group = %action.group,
                    drain_s, "out of every service; CONTINUE after the drain");
                out.notes.insert(c.message, EventOutcome::Draining);
            }
            Err(e) => self.lifecycle_failed(c, &e, out),
        }
    }

    /// No drain when the instance was registered in no selected service (neither this batch nor,
    /// as far as this process saw, earlier removed it). Else `--lifecycle-drain-seconds`, or the
    /// largest DNS TTL of the services it was just removed from (of every selected service when
    /// it left earlier: where is unknown), less the time since it left.
    async fn drain_for(
        &self,
        instance_id: &str,
        removed_from: Option<&[String]>,
        services: &[String],
    ) -> Result<Duration, Error> {
        let just = removed_from.filter(|r| !r.is_empty());
        let since = match (just, self.ctx.state.removed_since(instance_id)) {
            (Some(_), _) => Duration::ZERO,
            (None, Some(since)) => since,
            (None, None) => return Ok(Duration::ZERO),
        };
        if let Some(d) = self.ctx.config.lifecycle_drain {
            return Ok(d.saturating_sub(since));
        }
        let from = just.unwrap_or(services);
        // Collected first: a lazily mapped stream of borrowing futures is not provably `Send`.
        let lookups: Vec<_> = from
            .iter()
            .map(|s| crate::engine::index::dns_ttl(&self.ctx, s))
            .collect();
        let ttls: Vec<Duration> = stream::iter(lookups)
            .buffer_unordered(self.ctx.config.concurrency)
            .try_collect()
            .await?;
        let ttl = ttls.into_iter().max().unwrap_or(Duration::ZERO);
        Ok(ttl.saturating_sub(since))
    }

    /// The hook's HeartbeatTimeout and GlobalTimeout (Auto Scaling's shortest heartbeat and its
    /// rule for the global timeout when the hook is not found), read once per hook with
    /// DescribeLifecycleHooks and kept in `state`.
    async fn hook_timeouts(
        &self,
        c: &Claim,
        action: &LifecycleAction,
    ) -> Result<(Duration, Duration), Error> {
        let key = (
            c.account.to_string(),
            c.region.clone(),
            action.group.clone(),
            action.hook.clone(),
        );
        let known = match self.ctx.state.hook_timeouts(&key) {
            Some(t) => t,
            None => {
                let target = self.target_of(c)?;
                let names = std::slice::from_ref(&action.hook);
                let hooks = autoscaling::hooks(&target.autoscaling, &action.group, names).await?;
                let found = hooks.first().map(|h| HookTimeouts {
                    heartbeat: h.heartbeat_timeout,
                    global: h.global_timeout,
                });
                // A hook not found is asked again next time (it may be created meanwhile).
                if let Some(t) = found {
                    self.ctx.state.set_hook_timeouts(key, t);
                }
                found.unwrap_or(HookTimeouts {
                    heartbeat: None,
                    global: None,
                })
            }
        };
        let heartbeat = known.heartbeat.unwrap_or(MIN_HEARTBEAT_TIMEOUT);
        Ok((heartbeat, drain::global_timeout(heartbeat, known.global)))
    }

    /// Puts a drain record into the event queue, delayed until its next wake.
    async fn queue_drain(&self, c: &Claim, d: &Drain, now: SystemTime) -> Result<(), Error> {
        let account = match &c.account {
            Account::Home => self.rules.home_account.as_str(),
            Account::Member(id) => id.as_str(),
        };
        let body = d.to_body(account, &c.region);
        sqs::send(&self.events.sqs, &self.events.url, body, d.delay(now)).await
    }

    /// RecordLifecycleActionHeartbeat; `Ok(false)` when the action no longer exists.
    async fn heartbeat(&self, c: &Claim, action: &LifecycleAction) -> Result<bool, Error> {
        let answer = autoscaling::heartbeat(&self.target_of(c)?.autoscaling, action).await?;
        Ok(answer == Answer::Done)
    }

    /// CompleteLifecycleAction(CONTINUE) in the claim's account and region.
    async fn complete(
        &self,
        c: &Claim,
        action: &LifecycleAction,
        drained: Option<&Drain>,
        out: &mut Outcomes,
    ) {
        let target = match self.target_of(c) {
            Ok(t) => t,
            Err(e) => return self.lifecycle_failed(c, &e, out),
        };
        let sent = autoscaling::complete(&target.autoscaling, action).await;
        let late_ms = drained.map(|d| {
            SystemTime::now()
                .duration_since(d.not_before)
                .unwrap_or_default()
                .as_millis() as u64
        });
        match sent {
            Ok(Answer::Done) => {
                self.ctx.metrics.lifecycle_step(LifecycleStep::completed);
                info!(instance_id = %action.instance_id, group = %action.group, hook = %action.hook,
                    drained = drained.is_some(), late_ms, "completed lifecycle action (CONTINUE)");
                out.results.entry(c.instance_id.clone()).or_default().acted = true;
            }
            // Already completed, or timed out: nothing is waiting any more.
            Ok(Answer::Gone) => {
                self.ctx.metrics.lifecycle_step(LifecycleStep::gone);
                info!(instance_id = %action.instance_id, "lifecycle action already completed");
            }
            Err(e) => self.lifecycle_failed(c, &e, out),
        }
    }
}
