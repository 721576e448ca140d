//! The event loop's own tuning (the worker's, not `check`'s; its queue is in `watch`): how many
//! batches are worked at once, and how many services one revision sweep may read (`engine::sweep`).

use clap::Args;

/// Default of `--event-batches`.
pub const EVENT_BATCHES: usize = 4;
/// Default of `--revision-sweep-size`.
pub const REVISION_SWEEP_SIZE: usize = 20;

/// Flags of the event loop (flattened into the worker's `RunArgs`).
#[derive(Debug, Args)]
pub struct EventArgs {
    /// Batches of queue messages worked at once: the next long poll is in flight while a batch is
    /// worked, so an event never waits for an unrelated batch; up to N more are received ahead of a
    /// free slot, kept invisible. A batch waiting for the revision sweep gives its slot back
    /// meanwhile (at most 16 x N batches in hand).
    #[arg(long, value_name = "N", env = "CLOUD_UNMAP_EVENT_BATCHES", default_value_t = EVENT_BATCHES)]
    pub event_batches: usize,
    /// Most services one revision sweep of the event path reads (DiscoverInstancesRevision, at most
    /// one sweep a second); stale services beyond it are left to the next reconcile.
    #[arg(long, value_name = "N", env = "CLOUD_UNMAP_REVISION_SWEEP_SIZE", default_value_t = REVISION_SWEEP_SIZE)]
    pub revision_sweep_size: usize,
}

impl Default for EventArgs {
    fn default() -> EventArgs {
        EventArgs {
            event_batches: EVENT_BATCHES,
            revision_sweep_size: REVISION_SWEEP_SIZE,
        }
    }
}
