//! Services that fail to sync on the event path (AccessDenied, an outage past the SDK's retries):
//! counted in a row per service; after `patience` failures in a row a service is left to the
//! reconcile (claims stop waiting for it), named in `/readyz` and 1 in
//! `cloud_unmap_left_to_reconcile`, until it syncs again. Each change of state is logged once.

use std::collections::HashMap;
use std::sync::Mutex;

use tracing::{info, warn};

use crate::engine::context::Context;
use crate::error::Error;
use crate::telemetry::metrics::Metrics;

/// Failures in a row, per service failing now.
#[derive(Debug, Default)]
pub(super) struct Failing(Mutex<HashMap<String, u32>>);

impl Failing {
    /// A failed sync of `service_id`. Returns whether the service is left to the reconcile.
    pub fn failed(&self, ctx: &Context, service_id: &str, error: &Error, patience: u32) -> bool {
        ctx.counted(error);
        let streak = {
            let mut streaks = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let n = streaks.entry(service_id.to_string()).or_default();
            *n += 1;
            *n
        };
        if streak == 1 && patience > 1 {
            warn!(service_id, error = %error, patience,
                "a selected service fails on the event path; its events come back for it up to `patience` receives");
        }
        if streak == patience {
            warn!(service_id, error = %error, failures = streak,
                "a selected service keeps failing on the event path; left to the reconcile (events are settled for the other services)");
            self.mark(ctx, service_id, true);
        }
        streak >= patience
    }

    /// A successful sync of `service_id`: served by the event path again, if it was failing.
    pub fn synced(&self, ctx: &Context, service_id: &str) {
        let was = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(service_id);
        if was.is_some() {
            info!(
                service_id,
                "a selected service syncs again on the event path"
            );
            self.mark(ctx, service_id, false);
        }
    }

    fn mark(&self, ctx: &Context, service_id: &str, left: bool) {
        if ctx.health.left_to_reconcile(service_id, left) {
            ctx.metrics
                .left_to_reconcile
                .get_or_create(&Metrics::service(service_id))
                .set(i64::from(left));
        }
    }
}
