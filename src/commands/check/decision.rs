//! `check --instance-id ID`: the worker's decision for one registration and why, in words: its rule
//! and what each account and region says about the instance (the reconcile's DEBUG `judged` line,
//! asked for on purpose).

use crate::aws::ec2::Observed;
use crate::model::explain;
use crate::model::plan::{self, Action, Judging, PlanOptions, Registration};

use super::report::{Finding, Level};

/// One `decision` finding per registration of `service_id` named by `ids` (its Cloud Map instance
/// id or its EC2 instance id). `asked`: how many accounts and regions were asked; `home`: the home
/// account's id.
pub fn explain(
    service_id: &str,
    registrations: &[Registration],
    observed: &Observed,
    opts: PlanOptions,
    ids: &[String],
    asked: usize,
    home: Option<&str>,
) -> Vec<Finding> {
    if ids.is_empty() {
        return Vec::new();
    }
    // Judged as the reconcile judges (check counts every absence as confirmed).
    let plan = plan::plan(registrations, observed, opts, Judging::All);
    registrations
        .iter()
        .zip(&plan.decisions)
        .filter(|(r, _)| {
            ids.iter()
                .any(|id| *id == r.instance_id || id == r.target())
        })
        .map(|(r, d)| {
            let sightings = observed
                .get(r.target())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let evidence = explain::evidence(sightings, asked, home.unwrap_or("home"));
            let mut decision = explain::decision(d.action);
            if plan.held && matches!(d.action, Action::Deregister(_)) {
                decision.push_str("; held back by the never-empty guard (--allow-empty-service)");
            }
            Finding::new(
                "decision",
                format!("{service_id}/{}", r.instance_id),
                Level::Note,
                format!(
                    "{decision}. Registered: {}. EC2: {}",
                    explain::registered(r),
                    evidence.join("; ")
                ),
            )
        })
        .collect()
}

/// A warning for each of `ids` that no `decision` finding names: not registered in any selected service.
pub fn unmatched(ids: &[String], findings: &[Finding]) -> Vec<Finding> {
    ids.iter()
        .filter(|id| {
            !findings.iter().any(|f| {
                f.check == "decision"
                    && (f.subject.ends_with(&format!("/{id}"))
                        || f.detail.contains(&format!("instance {id} at")))
            })
        })
        .map(|id| {
            Finding::new(
                "decision",
                id.as_str(),
                Level::Warn,
                "not registered in any selected service: nothing for the worker to decide",
            )
        })
        .collect()
}
