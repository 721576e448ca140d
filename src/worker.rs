//! The event loop: long-polls the SQS queue, verifies what each event claims with EC2 (one
//! DescribeInstances per account×region per batch), deregisters through the shared plan, completes
//! Auto Scaling lifecycle actions, and deletes a message only when its work is done.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};
use futures::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::config::Queue;
use crate::error::{Error, Operation};
use crate::event::{self, Event, EventType, Kind, LifecycleAction, SpotAction};
use crate::inventory::{self, Observed};
use crate::metrics::{EventOutcome, LatencyFrom, LatencyLabels, MessageResult, Metrics, Trigger};
use crate::plan::{self, Hint, InstanceState, Scope};
use crate::reconcile::{self, Context};
use crate::registry;

/// SQS's longest long poll, and its largest batch.
const WAIT_SECONDS: i32 = 20;
const BATCH_SIZE: i32 = 10;
/// Used when the queue's own visibility timeout cannot be read.
const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);
/// How much of an unreadable body is logged.
const LOGGED_BODY: usize = 256;

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
    pub received_at: Instant,
}

/// What becomes of a message once its batch is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Work done (or none needed): delete.
    Delete,
    /// Work failed: leave it for redelivery after its visibility timeout.
    Retry,
    /// Unreadable: make it visible again at once, so the redrive policy moves it to the DLQ soon.
    Invalid,
}

/// What an event asks of cloud-unmap, once it passed the account and region checks.
#[derive(Debug, Clone)]
struct Claim {
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
struct InstanceResult {
    acted: bool,
    failed: bool,
}

pub struct Worker {
    ctx: Arc<Context>,
    sqs: aws_sdk_sqs::Client,
    queue: Queue,
}

fn truncate(body: &str) -> &str {
    let mut end = body.len().min(LOGGED_BODY);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

impl Worker {
    pub fn new(ctx: Arc<Context>, sqs: aws_sdk_sqs::Client, queue: Queue) -> Worker {
        Worker { ctx, sqs, queue }
    }

    fn count_error(&self, e: &Error) {
        if let Error::Aws { operation, .. } = e {
            self.ctx.metrics.aws_error(*operation);
        }
    }

    /// Reads the queue's visibility timeout, and warns when it has no redrive policy (unreadable
    /// messages would then come back forever instead of reaching a dead-letter queue).
    async fn inspect_queue(&self) -> Duration {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue.url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await;
        match out {
            Ok(out) => {
                let attrs = out.attributes().cloned().unwrap_or_default();
                if !attrs.contains_key(&QueueAttributeName::RedrivePolicy) {
                    warn!(queue_url = %self.queue.url, "the event queue has no redrive policy: unreadable messages will never reach a dead-letter queue");
                }
                attrs
                    .get(&QueueAttributeName::VisibilityTimeout)
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .filter(|d| !d.is_zero())
                    .unwrap_or(DEFAULT_VISIBILITY)
            }
            Err(e) => {
                let e = Error::aws(Operation::GetQueueAttributes, e);
                self.count_error(&e);
                warn!(error = %e, "cannot read the event queue's attributes");
                DEFAULT_VISIBILITY
            }
        }
    }

    async fn receive(&self) -> Result<Vec<Received>, Error> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue.url)
            .max_number_of_messages(BATCH_SIZE)
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            // The loop retries with its own backoff; fewer SDK attempts surface an outage in
            // /readyz sooner.
            .customize()
            .config_override(aws_sdk_sqs::config::Builder::default().retry_config(
                aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(2),
            ))
            .send()
            .await
            .map_err(|e| Error::aws(Operation::ReceiveMessage, e))?;
        let now = Instant::now();
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Received {
                    message_id: m.message_id().unwrap_or_default().to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receive_count: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1),
                    received_at: now,
                })
            })
            .collect())
    }

    /// Receives and handles batches until `stop` is cancelled. Only the long poll itself is
    /// cancelled: a batch being handled always runs to its end.
    pub async fn run(self, stop: CancellationToken) {
        self.ctx.health.expect_receives(Instant::now());
        let visibility = self.inspect_queue().await;
        info!(queue_url = %self.queue.url, visibility_s = visibility.as_secs(), "event loop started");
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        loop {
            let received = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                r = self.receive() => r,
            };
            match received {
                Err(e) => {
                    self.ctx.health.received(false, Instant::now());
                    self.ctx.metrics.receive_errors.inc();
                    self.count_error(&e);
                    let pause = backoff.next_delay();
                    warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "receive from the event queue failed");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
                Ok(messages) => {
                    self.ctx.health.received(true, Instant::now());
                    backoff.reset();
                    if messages.is_empty() {
                        continue;
                    }
                    if stop.is_cancelled() {
                        self.release(&messages).await;
                        break;
                    }
                    self.handle_batch(&messages, visibility).await;
                }
            }
        }
        info!("event loop stopped");
    }

    /// Handles one batch, extending the messages' visibility while the work outlasts half of it.
    /// The extender runs beside the work (never instead of it: an extension slowed by retries must
    /// not starve the work) and is dropped once the work is done.
    pub async fn handle_batch(&self, messages: &[Received], visibility: Duration) {
        let half = visibility / 2;
        let extend = async {
            loop {
                tokio::time::sleep(half).await;
                self.set_visibility(messages, visibility).await;
            }
        };
        let dispositions = tokio::select! {
            d = self.process(messages) => d,
            never = extend => never,
        };
        self.settle(messages, &dispositions).await;
    }

    /// Deletes finished messages, makes unreadable ones visible again, leaves failed ones.
    async fn settle(&self, messages: &[Received], dispositions: &[Disposition]) {
        let done: Vec<usize> = (0..messages.len())
            .filter(|i| dispositions[*i] == Disposition::Delete)
            .collect();
        let mut deleted = 0;
        if !done.is_empty() {
            let entries: Vec<DeleteMessageBatchRequestEntry> = done
                .iter()
                .map(|i| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&messages[*i].receipt)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            match self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for f in out.failed() {
                        warn!(
                            entry = f.id(),
                            code = f.code(),
                            message = f.message(),
                            "a message could not be deleted; it will be redelivered (harmless)"
                        );
                    }
                    deleted = done.len() - out.failed().len();
                }
                Err(e) => {
                    let e = Error::aws(Operation::DeleteMessageBatch, e);
                    self.count_error(&e);
                    warn!(error = %e, "deleting handled messages failed; they will be redelivered (harmless)");
                }
            }
        }
        let invalid: Vec<&Received> = messages
            .iter()
            .zip(dispositions)
            .filter(|(_, d)| **d == Disposition::Invalid)
            .map(|(m, _)| m)
            .collect();
        if !invalid.is_empty() {
            let owned: Vec<Received> = invalid.into_iter().cloned().collect();
            self.set_visibility(&owned, Duration::ZERO).await;
        }
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
        let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt)
                    .visibility_timeout(visibility.as_secs() as i32)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        if let Err(e) = self
            .sqs
            .change_message_visibility_batch()
            .queue_url(&self.queue.url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            let e = Error::aws(Operation::ChangeMessageVisibilityBatch, e);
            self.count_error(&e);
            warn!(error = %e, "changing message visibility failed");
        }
    }

    /// Index into `ctx.targets` of the event's account and region, if cloud-unmap looks there.
    fn target_of(&self, event: &Event) -> Option<usize> {
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
    fn claim(&self, message: usize, received_at: Instant, event: &Event) -> Option<Claim> {
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
    async fn process(&self, messages: &[Received]) -> Vec<Disposition> {
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
    async fn act(&self, claims: &[Claim]) -> HashMap<String, InstanceResult> {
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
    async fn act_on_service(
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

    async fn complete_lifecycle(
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
