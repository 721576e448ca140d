//! Syncing the selected services that hold a batch's claimed instances (`reconcile`, within the
//! claimed instances, `--concurrency` at a time): at once those the index knows to hold one
//! (`holders`), then those the revision sweep finds (`sweep`), the batch's slot given back while it
//! waits for the sweep. A missing service blocks nothing; a failing one (to sync, or to be listed by
//! the sweep) blocks every claim a bounded number of receives (`failing`).

use std::collections::HashSet;
use std::time::SystemTime;

use futures::stream::{self, StreamExt};

use super::act::Outcomes;
use super::Worker;
use crate::aws::ec2::Observed;
use crate::engine::reconcile::{self, Applied, Scope};
use crate::model::plan::Claimed;
use crate::telemetry::metrics::Trigger;

/// Fails every claimed instance: its messages come back after their visibility timeout.
fn fail_all(claimed: &Claimed, out: &mut Outcomes) {
    for id in claimed.keys() {
        out.fail(id);
    }
}

/// A service failed: every claim is blocked by it (`left`: that service is left to the reconcile).
fn block(claimed: &Claimed, out: &mut Outcomes, left: bool) {
    for id in claimed.keys() {
        out.results.entry(id.clone()).or_default().block(left);
    }
}

impl Worker {
    /// Syncs the selected services holding a claimed instance: at once those whose last listing
    /// holds it, then those a sweep begun after `received` finds (what its bound leaves out is left
    /// to the reconcile). Returns the selected services but those that failed (each blocks every
    /// claim a bounded number of receives), or `None`: the selection could not be resolved.
    pub(super) async fn sync_all(
        &self,
        claimed: &Claimed,
        observed: &Observed,
        (received, needed): (SystemTime, SystemTime),
        out: &mut Outcomes,
    ) -> Option<Vec<String>> {
        let ctx = &self.ctx;
        let (services, selection_errors) = reconcile::resolve_services(ctx, false).await;
        if !selection_errors.is_empty() {
            fail_all(claimed, out);
            return None;
        }
        let scope = Scope::Instances {
            claimed,
            observed,
            needed,
            before: None,
        };
        let (mut synced, mut failed) = (HashSet::new(), HashSet::new());
        let known = self.holding(claimed, &services, &mut synced);
        self.sync_each(&known, scope, out, &mut failed).await;
        let patience = out.patience;
        let on_failure =
            |s: &str, e: &crate::error::Error| self.failing.failed(ctx, s, e, patience);
        // Waiting for the sweep makes no call: the batch's slot serves another meanwhile.
        let (sweeper, window) = (&self.sweeper, (received, needed));
        self.slots.add_permits(1);
        let swept = sweeper.serve(ctx, &services, window, &on_failure).await;
        self.take_slot().await;
        for (service_id, left) in &swept.failed {
            // A service that could not be listed may hold any of them.
            failed.insert(service_id.clone());
            block(claimed, out, *left);
        }
        let found = self.holding(claimed, &services, &mut synced);
        self.sync_each(&found, scope, out, &mut failed).await;
        Some(
            services
                .into_iter()
                .filter(|s| !failed.contains(s))
                .collect(),
        )
    }

    /// The selected services whose last listing holds a claimed instance, but those in `synced`.
    fn holding(
        &self,
        claimed: &Claimed,
        services: &[String],
        synced: &mut HashSet<String>,
    ) -> Vec<String> {
        let selected: HashSet<&String> = services.iter().collect();
        let mut out = Vec::new();
        for id in claimed.keys() {
            for s in self.ctx.state.holders(id) {
                if selected.contains(&s) && synced.insert(s.clone()) {
                    out.push(s);
                }
            }
        }
        out
    }

    /// Syncs `services` within the claims, `--concurrency` at a time; those that fail join `failed`.
    async fn sync_each(
        &self,
        services: &[String],
        scope: Scope<'_>,
        out: &mut Outcomes,
        failed: &mut HashSet<String>,
    ) {
        let ctx = &self.ctx;
        let Scope::Instances { claimed, .. } = scope else {
            return;
        };
        let jobs: Vec<_> = services
            .iter()
            .map(|s| async move {
                let r = reconcile::reconcile_service(ctx, s, scope, Trigger::event).await;
                (s, r)
            })
            .collect();
        let per_service: Vec<_> = stream::iter(jobs)
            .buffer_unordered(ctx.config.concurrency)
            .collect()
            .await;
        for (service_id, outcome) in per_service {
            match outcome {
                Ok(report) => {
                    self.failing.synced(ctx, service_id);
                    for (id, applied) in report.results {
                        let ok = applied != Applied::Failed;
                        // Already gone still drains: a duplicate's replica removed it moments ago.
                        if matches!(applied, Applied::Removed | Applied::AlreadyGone) {
                            out.removed_from
                                .entry(id.clone())
                                .or_default()
                                .push(service_id.clone());
                        }
                        let r = out.results.entry(id).or_default();
                        r.acted |= applied == Applied::Removed;
                        r.failed |= !ok;
                    }
                }
                Err(e) if reconcile::note_missing(ctx, service_id, &e, false) => {}
                Err(e) => {
                    let left = self.failing.failed(ctx, service_id, &e, out.patience);
                    failed.insert(service_id.clone());
                    block(claimed, out, left);
                }
            }
        }
    }
}
