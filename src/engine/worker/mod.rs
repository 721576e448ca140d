//! The event loop: long-polls the SQS queue (the next poll in flight while up to `--event-batches`
//! batches are worked), hands each batch to `act` (claims verified with EC2, in calls the batches
//! share,
//! the shared per-service sync) and `lifecycle` (Auto Scaling's view, drains, completions), and
//! settles the messages: deleted only when
//! their work is done, unreadable ones left for the dead-letter queue, visibility extended while
//! work takes long. The rules that decide are pure, in `claims`.

mod accounts;
mod act;
mod failing;
mod hooks;

mod sync;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::OptionFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::aws::sqs::{self, Received};
use crate::config::Queue;
use crate::engine::context::Context;
use crate::engine::lookups::Lookups;
use crate::engine::queue::{EventQueue, ReconcileRequest};
use crate::engine::sweep::Sweeper;
use crate::error::Error;
use crate::model::backoff::Backoff;
use crate::model::claims::{Disposition, Rules};
use crate::telemetry::emit::Failure;
use crate::telemetry::health::{LoopName, CURRENT_LOOP};
use crate::telemetry::metrics::MessageResult;

/// Completes at `at` (the caller enables it only when there is one).
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// Used when the queue's own visibility timeout cannot be read.
const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);
/// The pause between receives that waiting does not fix (the backoff's cap): the loop keeps asking,
/// so a queue created or a policy fixed later is picked up without a restart.
const BLOCKED_PAUSE: Duration = Duration::from_secs(30);
/// How much of an unreadable body is logged.
const LOGGED_BODY: usize = 256;

pub struct Worker {
    ctx: Arc<Context>,
    events: EventQueue,
    queue: Queue,
    rules: Rules,
    /// Where reconcile messages go (the shared reconcile's driver), when replicas share it.
    triggers: Option<mpsc::Sender<ReconcileRequest>>,
    /// A reconcile message without a state table was already reported.
    told_unshared: AtomicBool,
    /// Services failing to sync on the event path.
    failing: failing::Failing,
    /// How many receives a claim waits for a failing service (`claims::patience`).
    patience: AtomicU32,
    /// The revision sweep the batches in flight share.
    sweeper: Sweeper,
    /// The EC2 lookups the batches in flight share.
    lookups: Lookups,
    /// Batches received and waiting for a slot (at most `--event-batches`), and a wake-up for the
    /// receive loop when one takes its slot.
    queued: AtomicUsize,
    slot_taken: Notify,
    /// One permit per batch being worked (`--event-batches`); a batch waiting for a sweep gives
    /// its permit back meanwhile.
    slots: Semaphore,
}

/// Batches in hand (worked, waiting for a slot, or waiting for a sweep) per `--event-batches`.
const IN_HAND_PER_SLOT: usize = 16;

fn truncate(body: &str) -> &str {
    let mut end = body.len().min(LOGGED_BODY);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

impl Worker {
    pub fn new(ctx: Arc<Context>, sqs: aws_sdk_sqs::Client, queue: Queue) -> Worker {
        let rules = Rules {
            home_account: queue.account_id.clone(),
            default_region: ctx.config.service_region.clone(),
            watched: ctx
                .targets
                .current()
                .iter()
                .map(|t| (t.account.clone(), t.region.clone()))
                .collect(),
            deregister_stopped: ctx.config.deregister_stopped,
            hook_names: ctx.config.lifecycle_hook_names.clone(),
            on_rebalance: ctx.config.on_rebalance,
        };
        let ctx_batches = ctx.config.event_batches.max(1);
        Worker {
            ctx,
            events: EventQueue::new(sqs, queue.url.clone()),
            queue,
            rules,
            triggers: None,
            told_unshared: AtomicBool::new(false),
            failing: Default::default(),
            patience: AtomicU32::new(crate::model::claims::patience(None)),
            sweeper: Sweeper::default(),
            lookups: Lookups::default(),
            queued: AtomicUsize::new(0),
            slot_taken: Notify::new(),
            slots: Semaphore::new(ctx_batches),
        }
    }

    /// Hands reconcile messages to the shared reconcile's driver (`fleet`).
    pub fn with_triggers(mut self, triggers: Option<mpsc::Sender<ReconcileRequest>>) -> Worker {
        self.triggers = triggers;
        self
    }

    /// Takes the reconcile messages out of a batch: to the driver when replicas share the
    /// reconcile (it deletes them once their cycle is done), else deleted (each replica runs its
    /// own timer). Returns the rest.
    async fn take_triggers(&self, messages: Vec<Received>) -> Vec<Received> {
        let mut rest = Vec::with_capacity(messages.len());
        let mut unshared = Vec::new();
        let mut back = Vec::new();
        for m in messages {
            let Some(every) = crate::model::request::parse(&m.body) else {
                rest.push(m);
                continue;
            };
            match &self.triggers {
                Some(tx) => {
                    if let Err(e) = tx.try_send(ReconcileRequest { message: m, every }) {
                        back.push(e.into_inner().message);
                    }
                }
                None => unshared.push(m),
            }
        }
        if !unshared.is_empty() {
            if !self.told_unshared.swap(true, Ordering::Relaxed) {
                warn!("a reconcile message arrived, but without --state-table each replica reconciles on its own timer: deleted (give --state-table to share the cycle)");
            }
            let done = vec![Disposition::Delete; unshared.len()];
            self.settle(&unshared, &done).await;
        }
        let back: Vec<&Received> = back.iter().collect();
        self.events
            .set_visibility(&self.ctx, &back, Duration::ZERO)
            .await;
        rest
    }

    /// Reads the queue's visibility timeout and its redrive policy's receive count (a claim waits
    /// for a failing service fewer receives than that), and warns when it has no redrive policy
    /// (unreadable messages would then come back forever instead of reaching a dead-letter queue).
    async fn inspect_queue(&self) -> Duration {
        match sqs::attributes(&self.events.sqs, &self.queue.url).await {
            Ok(attrs) => {
                if attrs.redrive_policy.is_none() {
                    warn!(queue_url = %self.queue.url, "the event queue has no redrive policy: unreadable messages will never reach a dead-letter queue");
                }
                let max_receives = attrs
                    .redrive_policy
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                    .and_then(|p| match &p["maxReceiveCount"] {
                        serde_json::Value::String(s) => s.parse().ok(),
                        n => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                    });
                let patience = crate::model::claims::patience(max_receives);
                self.patience.store(patience, Ordering::Relaxed);
                attrs
                    .visibility
                    .filter(|d| !d.is_zero())
                    .unwrap_or(DEFAULT_VISIBILITY)
            }
            Err(e) => {
                self.ctx.failed(Failure::InspectQueue, &e);
                DEFAULT_VISIBILITY
            }
        }
    }

    /// One long poll. The loop retries with its own backoff; fewer SDK attempts surface an outage
    /// in /readyz sooner.
    async fn receive(&self) -> Result<Vec<Received>, Error> {
        sqs::receive(&self.events.sqs, &self.queue.url, 2).await
    }

    /// Receives and handles batches until `stop` is cancelled, up to `--event-batches` at once: the
    /// next long poll is in flight while batches are worked, so an event never waits for an
    /// unrelated batch. Only the long poll itself is cancelled: a batch being handled always runs to
    /// its end (shutdown waits for every batch in hand). Every AWS request attempt (a long poll
    /// completes at least every 20 s) counts as the loop's progress.
    pub async fn run(self, stop: CancellationToken) {
        CURRENT_LOOP
            .scope(LoopName::Events, self.receive_and_handle(stop))
            .await
    }

    async fn receive_and_handle(self, stop: CancellationToken) {
        self.ctx.health.progress(LoopName::Events, Instant::now());
        self.ctx.health.expect_receives(Instant::now());
        let visibility = self.inspect_queue().await;
        let most = self.ctx.config.event_batches.max(1);
        info!(queue_url = %self.queue.url, visibility_s = visibility.as_secs(), batches = most, "event loop started");
        let mut backoff = Backoff::new(Duration::from_millis(200), BLOCKED_PAUSE);
        // The cause of a permanent receive failure already logged (logged again only when it changes).
        let mut blocked: Option<String> = None;
        let mut working = FuturesUnordered::new();
        let mut poll = None;
        let mut resume_at: Option<tokio::time::Instant> = None;
        let in_hand = most * IN_HAND_PER_SLOT;
        loop {
            // Received ahead of a free slot, up to `--event-batches` batches waiting for one (kept
            // invisible meanwhile): a burst is received at once, so one sweep serves it, and no
            // more is held than the slots are about to work (the rest stays for other replicas).
            let room = resume_at.is_none() && working.len() < in_hand;
            let ahead = self.queued.load(Ordering::Relaxed) < most;
            if poll.is_none() && room && ahead {
                poll = Some(Box::pin(self.receive()));
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(()) = working.next(), if !working.is_empty() => {
                    self.ctx.health.progress(LoopName::Events, Instant::now());
                }
                // Wakes when a waiting batch takes its slot.
                _ = self.slot_taken.notified(), if poll.is_none() && room && !ahead => {}
                _ = sleep_until_some(resume_at), if resume_at.is_some() => resume_at = None,
                Some(received) = OptionFuture::from(poll.as_mut()), if poll.is_some() => {
                    poll = None;
                    match received {
                        Err(e) => {
                            self.ctx.health.received(false, Instant::now());
                            let pause = self.receive_failed(&e, &mut backoff, &mut blocked);
                            resume_at = Some(tokio::time::Instant::now() + pause);
                        }
                        Ok(messages) => {
                            self.ctx.health.received(true, Instant::now());
                            backoff.reset();
                            if blocked.take().is_some() {
                                info!(queue_url = %self.queue.url, "the event queue is readable again");
                            }
                            if messages.is_empty() {
                                continue;
                            }
                            self.sweeper.received(std::time::SystemTime::now());
                            if stop.is_cancelled() {
                                self.release(&messages).await;
                                break;
                            }
                            self.queued.fetch_add(1, Ordering::Relaxed);
                            working.push(self.work(messages, visibility));
                        }
                    }
                }
            }
        }
        drop(poll);
        if !working.is_empty() {
            info!(batches = working.len(), "finishing the batches in hand");
            while working.next().await.is_some() {}
        }
        info!("event loop stopped");
    }

    /// How long to wait after a failed receive: backoff for a transient failure; for a permanent one
    /// (AccessDenied, a deleted queue) `BLOCKED_PAUSE`, logged once per cause.
    fn receive_failed(
        &self,
        e: &Error,
        backoff: &mut Backoff,
        blocked: &mut Option<String>,
    ) -> Duration {
        if !e.class().is_permanent() {
            let pause = backoff.next_delay();
            self.ctx.failed(Failure::Receive { retry_in: pause }, e);
            pause
        } else if blocked.as_deref() != Some(e.reason().as_str()) {
            *blocked = Some(e.reason());
            let retry_in = BLOCKED_PAUSE;
            self.ctx.failed(Failure::ReceiveBlocked { retry_in }, e);
            retry_in
        } else {
            self.ctx.counted(e);
            self.ctx.metrics.receive_errors.inc();
            debug!(error = %e, "the event queue still cannot be read");
            BLOCKED_PAUSE
        }
    }

    /// One received batch, in a slot (kept invisible while it waits for one; at shutdown too, so
    /// that a deploy spends none of its receives): reconcile messages to their driver, the rest
    /// handled and settled.
    async fn work(&self, messages: Vec<Received>, visibility: Duration) {
        tokio::select! {
            _ = self.take_slot() => {}
            never = self.keep_invisible(&messages, visibility) => never,
        }
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.slot_taken.notify_one();
        let messages = self.take_triggers(messages).await;
        if !messages.is_empty() {
            self.handle_batch(&messages, visibility).await;
        }
        self.slots.add_permits(1);
    }

    /// Waits for a slot (held until `slots.add_permits(1)`; the semaphore is never closed).
    async fn take_slot(&self) {
        if let Ok(p) = self.slots.acquire().await {
            p.forget();
        }
    }

    /// Handles one batch, extending the messages' visibility while the work outlasts half of it.
    /// The extender runs beside the work (never instead of it: an extension slowed by retries must
    /// not starve the work) and is dropped once the work is done.
    pub async fn handle_batch(&self, messages: &[Received], visibility: Duration) {
        let dispositions = tokio::select! {
            d = self.process(messages) => d,
            never = self.keep_invisible(messages, visibility) => never,
        };
        self.settle(messages, &dispositions).await;
    }

    /// Extends the messages' visibility every half of it, counted from their receipt; never ends.
    async fn keep_invisible(&self, messages: &[Received], visibility: Duration) -> ! {
        let half = visibility / 2;
        let oldest = messages.iter().map(|m| m.received_at).min();
        let first = oldest.map_or(half, |t| half.saturating_sub(t.elapsed()));
        tokio::time::sleep(first).await;
        loop {
            self.set_visibility(messages, visibility).await;
            tokio::time::sleep(half).await;
        }
    }

    /// Deletes finished messages, makes unreadable ones visible again, leaves failed ones.
    async fn settle(&self, messages: &[Received], dispositions: &[Disposition]) {
        let with = |d: Disposition| -> Vec<&Received> {
            messages
                .iter()
                .zip(dispositions)
                .filter(|(_, x)| **x == d)
                .map(|(m, _)| m)
                .collect()
        };
        let deleted = self
            .events
            .delete(&self.ctx, &with(Disposition::Delete))
            .await;
        self.events
            .set_visibility(&self.ctx, &with(Disposition::Invalid), Duration::ZERO)
            .await;
        // Waiting ones are deleted once their delayed copy is on the queue (counted as left).
        let copied = self.requeue(&with(Disposition::Wait)).await;
        self.events.delete(&self.ctx, &copied).await;
        self.ctx.metrics.message(MessageResult::deleted, deleted);
        self.ctx
            .metrics
            .message(MessageResult::left, messages.len() - deleted);
    }

    /// Hands received messages back at once (shutdown).
    async fn release(&self, messages: &[Received]) {
        self.set_visibility(messages, Duration::ZERO).await;
        self.ctx
            .metrics
            .message(MessageResult::released, messages.len());
        info!(
            messages = messages.len(),
            "released received messages at shutdown"
        );
    }

    async fn set_visibility(&self, messages: &[Received], visibility: Duration) {
        let messages: Vec<&Received> = messages.iter().collect();
        self.events
            .set_visibility(&self.ctx, &messages, visibility)
            .await;
    }
}
