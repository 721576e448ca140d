//! Decommission's dry run: the steps that would run for one instance, each checked with EC2's
//! DryRun permission checks where EC2 has them. Changes nothing.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use super::steps::{err_text, report, Run};
use super::{Candidate, InstanceReport, Outcome};
use crate::model::domain::InstanceState;
use crate::telemetry::progress::Line;

/// Outcome of an EC2 DryRun call.
fn dry_result<T, E: std::error::Error + ProvideErrorMetadata + 'static>(
    r: Result<T, SdkError<E>>,
) -> Result<&'static str, String> {
    match r {
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("DryRunOperation") => {
            Ok("permitted")
        }
        Err(e) => Err(err_text(&e)),
        Ok(_) => Ok("permitted"),
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
        if !c.services.is_empty() {
            check(
                format!(
                    "deregister from {}, then wait {} s",
                    c.services.join(", "),
                    self.s.drain.as_secs()
                ),
                Ok("no dry run in Cloud Map"),
            );
        }
        match c.state {
            InstanceState::Pending | InstanceState::Running => {
                line.set("checking StopInstances");
                let r = ec2
                    .stop_instances()
                    .instance_ids(&c.instance_id)
                    .dry_run(true)
                    .send()
                    .await;
                check("stop and wait until stopped".into(), dry_result(r));
            }
            InstanceState::Stopping => check("wait until stopped".into(), Ok("no call")),
            _ => {}
        }
        if self.s.snapshot {
            line.set("checking CreateSnapshots");
            let r = self.create_snapshots(c, true).send().await;
            check(
                format!("snapshot {} and wait until complete", c.volumes.join(", ")),
                dry_result(r),
            );
        } else {
            check("no snapshot (--no-snapshot)".into(), Ok("skipped"));
        }
        if !c.devices.is_empty() {
            line.set("checking ModifyInstanceAttribute");
            let r = self.delete_on_termination(c, true).send().await;
            check(
                format!("set DeleteOnTermination on {}", c.devices.join(", ")),
                dry_result(r),
            );
        }
        line.set("checking TerminateInstances");
        let r = ec2
            .terminate_instances()
            .instance_ids(&c.instance_id)
            .dry_run(true)
            .send()
            .await;
        check("terminate".into(), dry_result(r));
        let mut rep = if denied.is_empty() {
            report(c, Outcome::Planned, None, Vec::new())
        } else {
            let why = format!("permission missing for: {}", denied.join("; "));
            report(c, Outcome::Failed, Some(why), Vec::new())
        };
        rep.steps = steps;
        rep
    }
}
