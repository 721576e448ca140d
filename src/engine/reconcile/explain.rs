//! The reconcile's DEBUG line per judged registration: the decision with its rule, and the evidence
//! (which account and region said what), so `--log-level debug` answers "why was this kept?".

use tracing::debug;

use crate::aws::ec2::Observed;
use crate::model::explain;
use crate::model::plan::{Action, Plan, Registration, SkipReason};
use crate::telemetry::metrics::Trigger;

/// Logs one DEBUG line per registration the plan judged (none for those outside an event's scope).
/// Costs nothing unless DEBUG is on for this module.
pub(super) fn log(
    service_id: &str,
    registrations: &[Registration],
    plan: &Plan,
    observed: &Observed,
    asked: usize,
    home: &str,
    trigger: Trigger,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    for (r, d) in registrations.iter().zip(&plan.decisions) {
        if d.action == Action::Skip(SkipReason::OutOfScope) || r.instance_id != d.instance_id {
            continue;
        }
        let sightings = observed
            .get(r.target())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let evidence = explain::evidence(sightings, asked, home);
        let mut decision = explain::decision(d.action);
        if plan.held && matches!(d.action, Action::Deregister(_)) {
            decision.push_str("; held back by the never-empty guard (--allow-empty-service)");
        }
        debug!(
            service_id,
            instance_id = %r.instance_id,
            ec2_instance_id = r.target(),
            registered = %explain::registered(r),
            decision,
            evidence = ?evidence,
            ?trigger,
            "judged"
        );
    }
}
