//! Decommission's dry run: the steps that would run for one instance, each checked with EC2's
//! DryRun permission checks where EC2 has them. Changes nothing.

use super::steps::{report, Run};
use super::{Candidate, InstanceReport, Outcome};
use crate::aws::ec2::retire::{self, Mode};
use crate::error::Error;
use crate::model::domain::InstanceState;
use crate::telemetry::progress::Line;

/// Outcome of an EC2 DryRun call.
fn dry_result<T>(r: Result<T, Error>) -> Result<&'static str, String> {
    let r = r.map(drop);
    match retire::permitted(&r) {
        true => Ok("permitted"),
        false => Err(r.err().map(|e| e.reason()).unwrap_or_default()),
    }
}

impl Run<'_> {
    /// Dry run: the plan, with EC2's permission checks.
    pub(super) async fn plan(&self, c: &Candidate, line: &Line) -> InstanceReport {
        let ec2 = &c.target.ec2;
        let mut steps = Vec::new();
        let mut denied = Vec::new();
        let mut check = |what: String, r: Result<&'static str, String>| match r {
            Ok(ok) => steps.push(format!("{what} ({ok})")),
            Err(e) => {
                steps.push(format!("{what} (DENIED: {e})"));
                denied.push(what);
            }
        };
        if let Some(group) = &c.group {
            check(
                format!(
                    "detach from Auto Scaling group {group}, decrementing its desired capacity, \
                     and wait until the group no longer lists it"
                ),
                Ok("no dry run in Auto Scaling"),
            );
        }
        if !c.registrations.is_empty() {
            let regs: Vec<String> = c
                .registrations
                .iter()
                .map(|(svc, id)| format!("{id} from {svc}"))
                .collect();
            check(
                format!(
                    "deregister {} (each undo record on stderr), then wait {} s",
                    regs.join(", "),
                    self.s.drain.as_secs()
                ),
                Ok("no dry run in Cloud Map"),
            );
        }
        match c.state {
            InstanceState::Pending | InstanceState::Running => {
                line.set("checking StopInstances");
                let r = retire::stop(ec2, &c.instance_id, Mode::DryRun).await;
                check("stop and wait until stopped".into(), dry_result(r));
            }
            InstanceState::Stopping => check("wait until stopped".into(), Ok("no call")),
            _ => {}
        }
        if self.s.snapshot {
            line.set("checking CreateSnapshots");
            let r = retire::create_snapshots(ec2, &c.instance_id, Mode::DryRun).await;
            check(
                format!("snapshot {} and wait until complete", c.volumes.join(", ")),
                dry_result(r),
            );
        } else {
            check("no snapshot (--no-snapshot)".into(), Ok("skipped"));
            let kept = match c.kept_volumes.is_empty() {
                true => "none".to_string(),
                false => c.kept_volumes.join(", "),
            };
            check(
                format!("leave DeleteOnTermination as set; surviving termination: {kept}"),
                Ok("no call"),
            );
        }
        if self.s.snapshot && !c.devices.is_empty() {
            line.set("checking ModifyInstanceAttribute");
            let r =
                retire::delete_on_termination(ec2, &c.instance_id, &c.devices, Mode::DryRun).await;
            check(
                format!("set DeleteOnTermination on {}", c.devices.join(", ")),
                dry_result(r),
            );
        }
        line.set("checking TerminateInstances");
        let r = retire::terminate(ec2, &c.instance_id, Mode::DryRun).await;
        check("terminate".into(), dry_result(r));
        let mut rep = if denied.is_empty() {
            report(c, Outcome::Planned, None, Vec::new())
        } else {
            let why = format!("permission missing for: {}", denied.join("; "));
            report(c, Outcome::Failed, Some(why), Vec::new())
        };
        rep.steps = steps;
        rep.surviving_volumes = self.surviving(c);
        rep
    }
}
