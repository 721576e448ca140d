//! Doing what a batch asks: read each message into a claim (rules in `claims`), verify the claims
//! with EC2 (one DescribeInstances per account×region of the batch's claims; a failing one fails
//! only its own claims), drop lifecycle actions Auto Scaling does not show terminating, sync the
//! selected services holding a claimed instance (`sync`), then settle lifecycle actions
//! (`lifecycle`) after the drain of those that synced.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use futures::stream::{self, StreamExt};
use tracing::{debug, info, warn};

use super::{truncate, Received, Worker};
use crate::aws::ec2::Observed;
use crate::model::claims::EventOutcome;
use crate::model::claims::{
    self, Arrival, Claim, Disposition, InstanceResult, Reading, Rules, Unclaimed,
};
use crate::model::event;
use crate::model::plan::{Claimed, Hint};
use crate::telemetry::emit::Failure;
use crate::telemetry::metrics::{LatencyFrom, LatencyLabels};

/// What a batch's work came to: per instance, and per message where a lifecycle action says more.
#[derive(Debug, Default)]
pub(super) struct Outcomes {
    pub results: HashMap<String, InstanceResult>,
    pub notes: HashMap<usize, EventOutcome>,
    /// The services each instance was removed from by this batch.
    pub removed_from: HashMap<String, Vec<String>>,
    /// How many receives a claim waits for a failing service (`claims::patience`).
    pub patience: u32,
}

impl Outcomes {
    pub fn fail(&mut self, instance_id: &str) {
        self.results
            .entry(instance_id.to_string())
            .or_default()
            .failed = true;
    }

    pub fn failed(&self, instance_id: &str) -> bool {
        self.results.get(instance_id).is_some_and(|r| r.failed)
    }

    /// Whether the claim comes back: its work failed, or it waits for a failing service.
    pub fn holds(&self, c: &Claim) -> bool {
        self.results
            .get(&c.instance_id)
            .is_some_and(|r| r.failed || c.waits(r, self.patience))
    }
}

impl Worker {
    /// Decides and does the work of a batch; returns each message's disposition.
    pub(super) async fn process(&self, messages: &[Received]) -> Vec<Disposition> {
        let now = SystemTime::now();
        let rules = self.rules_now(messages).await;
        let mut readings = Vec::with_capacity(messages.len());
        let mut claims = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let ev = match event::parse(&m.body) {
                Ok(ev) => ev,
                Err(why) => {
                    if m.receive_count <= 1 {
                        warn!(message_id = %m.message_id, reason = %why, body = truncate(&m.body), "unreadable message left for the dead-letter queue");
                    } else {
                        debug!(message_id = %m.message_id, receive_count = m.receive_count, "unreadable message seen again");
                    }
                    readings.push(Reading::Invalid);
                    continue;
                }
            };
            if let event::Kind::Scheduled { .. } = &ev.kind {
                readings.push(self.schedule(&rules, &ev));
                continue;
            }
            let arrival = Arrival {
                message: i,
                received_at: m.received_at,
                now,
                sent_at: m.sent_at,
                receive_count: m.receive_count,
            };
            let t = ev.event_type();
            readings.push(match rules.claim(arrival, &ev) {
                Ok(c) => {
                    claims.push(c);
                    Reading::Claimed(t)
                }
                Err(Unclaimed::Unwatched { account, region }) => {
                    warn!(event_id = ev.id.as_deref(), %account, %region, instance_id = ev.instance_id(),
                        "event from an account or region cloud-unmap does not watch; ignored");
                    Reading::Ignored(t, EventOutcome::Ignored)
                }
                Err(Unclaimed::Expired) => {
                    info!(event_id = ev.id.as_deref(), instance_id = ev.instance_id(),
                        "Spot interruption notice past its two-minute window; nothing changed");
                    Reading::Ignored(t, EventOutcome::Expired)
                }
                Err(Unclaimed::NothingToDo) => Reading::Ignored(t, EventOutcome::Ignored),
            });
        }
        let patience = self.patience.load(std::sync::atomic::Ordering::Relaxed);
        let waiting = self.waiting(&claims).await;
        let enough = self.waited_enough(&claims, &waiting, now);
        claims.retain(|c| !waiting.contains(&c.message));
        let out = if claims.is_empty() {
            Outcomes::default()
        } else {
            self.act(&claims, patience).await
        };
        claims::dispose(&readings, &claims, &out.results, &out.notes, patience)
            .into_iter()
            .zip(messages)
            .enumerate()
            .map(|(i, ((disposition, event_type, outcome), m))| {
                let (disposition, outcome) = if enough.contains(&i) {
                    (Disposition::Delete, EventOutcome::LeftToReconcile)
                } else if waiting.contains(&i) {
                    (Disposition::Wait, EventOutcome::Waiting)
                } else {
                    (disposition, outcome)
                };
                // An unreadable message comes back until the redrive policy moves it: counted at
                // its first receipt only (a count of 0 is SQS not saying: counted then too).
                if outcome != EventOutcome::Invalid || m.receive_count <= 1 {
                    self.ctx.metrics.event(event_type, outcome);
                }
                disposition
            })
            .collect()
    }

    /// An AWS Health scheduled change: arms each instance's timer (the reconcile reads the same
    /// events from EC2 each cycle, so nothing is lost if this worker stops before the timer).
    fn schedule(&self, rules: &Rules, ev: &event::Event) -> Reading {
        let t = ev.event_type();
        let event::Kind::Scheduled {
            instance_ids,
            code,
            start,
        } = &ev.kind
        else {
            return Reading::Ignored(t, EventOutcome::Ignored);
        };
        let (account, region) = match rules.origin(ev) {
            Ok(origin) => origin,
            Err(_) => {
                warn!(
                    event_id = ev.id.as_deref(),
                    "scheduled change in an account or region cloud-unmap does not watch; ignored"
                );
                return Reading::Ignored(t, EventOutcome::Ignored);
            }
        };
        for id in instance_ids {
            let p = crate::model::scheduled::Pending {
                instance_id: id.clone(),
                event_id: None,
                code: code.clone(),
                not_before: *start,
                account: account.clone(),
                region: region.clone(),
            };
            crate::engine::scheduled::arm(&self.ctx, p);
        }
        Reading::Ignored(t, EventOutcome::Scheduled)
    }

    /// Verifies the claims, syncs every selected service within them, settles lifecycle actions.
    async fn act(&self, claims: &[Claim], patience: u32) -> Outcomes {
        let mut out = Outcomes {
            patience,
            ..Default::default()
        };
        // Drains not yet over only heartbeat or wait on: nothing to verify or sync.
        let now = SystemTime::now();
        let (waiting, active): (Vec<&Claim>, Vec<&Claim>) =
            claims.iter().partition(|c| super::hooks::waiting(c, now));
        for c in waiting {
            self.wait_on(c, now, &mut out).await;
        }
        let observed = self.verify(&active, &mut out).await;
        let active = self.terminating(active, &mut out).await;
        let claimed: Claimed = claims::merge(
            active
                .iter()
                .copied()
                .filter(|c| !out.failed(&c.instance_id)),
        );
        if claimed.is_empty() {
            return out;
        }
        // Every service's registrations as of the latest claimed termination (see `index`). Only a
        // state change reports an instance already gone; one that still runs (a lifecycle action's
        // wait, a Spot notice's two minutes) may still register: then as of now.
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let receipt = |c: &Claim| {
            let ago = mono.saturating_duration_since(c.received_at);
            wall.checked_sub(ago).unwrap_or(wall)
        };
        let needed = active
            .iter()
            .map(|c| match c.hint {
                Hint::Judge => crate::engine::index::needed(c.event_time, c.sent_at, receipt(c)),
                _ => now,
            })
            .max()
            .unwrap_or(now);
        // When the batch was received, not now: a batch that waited for a slot (or for EC2) is
        // served by a sweep begun since its receipt, as every other batch received then.
        let received = active.iter().map(|c| receipt(c)).max().unwrap_or(now);
        let services = self
            .sync_all(&claimed, &observed, (received, needed), &mut out)
            .await;
        self.observe_latencies(&active, &out);
        if let Some(services) = services {
            self.settle_lifecycles(&active, &observed, &services, &mut out)
                .await;
        }
        out
    }

    /// Looks the claimed instances up, each in its claim's account and region only, so one failing
    /// account×region fails only its own claims; the batches in flight share each target's calls
    /// (`lookups`).
    async fn verify(&self, claims: &[&Claim], out: &mut Outcomes) -> Observed {
        let ctx = &self.ctx;
        let jobs: Vec<_> = claims::by_target(claims.iter().copied())
            .into_iter()
            .filter_map(|((account, region), ids)| {
                let target = ctx.target(account, region)?;
                Some(async move {
                    let (found, error) = self.lookups.look_up(&target, &ids).await;
                    // Reported once, by the batch whose request sent the failing call.
                    if let Some(e) = error {
                        ctx.failed(Failure::VerifyEvents, &e);
                    }
                    (ids, found)
                })
            })
            .collect();
        let looked_up: Vec<_> = stream::iter(jobs)
            .buffer_unordered(ctx.config.concurrency)
            .collect()
            .await;
        let mut observed = Observed::new();
        for (ids, found) in looked_up {
            match found {
                Ok(found) => {
                    for (id, seen) in found {
                        observed.entry(id).or_default().extend(seen);
                    }
                }
                Err(()) => {
                    for id in &ids {
                        out.fail(id);
                    }
                }
            }
        }
        observed
    }

    /// Latencies of this batch's confirmed deregistrations, from receipt and from the event's time.
    fn observe_latencies(&self, claims: &[&Claim], out: &Outcomes) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        for c in claims {
            // Removed by this batch (`acted`), not found already gone: a replica's duplicate.
            let acted = out.results.get(&c.instance_id).is_some_and(|r| r.acted);
            if !acted || out.failed(&c.instance_id) {
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
}
