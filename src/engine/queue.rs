//! The event queue as the engine uses it: one settle path for the event worker and the shared
//! reconcile alike (delete, change visibility; batched by `aws::sqs`, each entry's failure logged
//! on its own), and the reconcile request the worker hands to the fleet.

use std::time::Duration;

use tracing::warn;

use crate::aws::sqs::{self, Received, Settled};
use crate::engine::context::Context;
use crate::telemetry::emit::Failure;

/// A reconcile message taken from the queue (`{"cloud-unmap":"reconcile"}`), for the fleet.
#[derive(Debug)]
pub struct ReconcileRequest {
    pub message: Received,
    /// The schedule's period, as the message says (`every`), or the schedule's floor.
    pub every: Duration,
}

/// The event queue: its client and URL.
#[derive(Clone)]
pub struct EventQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl EventQueue {
    pub fn new(sqs: aws_sdk_sqs::Client, url: String) -> EventQueue {
        EventQueue { sqs, url }
    }

    /// Deletes finished messages; returns how many are gone. One that could not be deleted is
    /// redelivered later (harmless: every action is idempotent).
    pub async fn delete(&self, ctx: &Context, messages: &[&Received]) -> usize {
        if messages.is_empty() {
            return 0;
        }
        let receipts: Vec<&str> = messages.iter().map(|m| m.receipt.as_str()).collect();
        match sqs::delete(&self.sqs, &self.url, &receipts).await {
            Ok(settled) => report(settled, "deleted; it will be redelivered (harmless)"),
            Err(e) => {
                ctx.failed(Failure::DeleteMessages, &e);
                0
            }
        }
    }

    /// Sets the messages' visibility (zero: visible again at once, for another receive).
    pub async fn set_visibility(&self, ctx: &Context, messages: &[&Received], to: Duration) {
        if messages.is_empty() {
            return;
        }
        let receipts: Vec<&str> = messages.iter().map(|m| m.receipt.as_str()).collect();
        match sqs::set_visibility(&self.sqs, &self.url, &receipts, to).await {
            Ok(settled) => {
                report(settled, "given its new visibility");
            }
            Err(e) => ctx.failed(Failure::ChangeVisibility, &e),
        }
    }
}

/// Logs each entry that was not settled; returns how many were.
fn report(settled: Settled, what: &str) -> usize {
    for f in &settled.failed {
        // `detail`, not `message`: the JSON log's own `message` is the line's text.
        warn!(code = %f.code, detail = %f.message, "a message could not be {what}");
    }
    settled.done
}
