//! The steps of retiring one instance (and, in a dry run, their plan with EC2's permission checks).
//! Every early return leaves the instance unterminated.

use std::time::SystemTime;

use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, CopyTagsFromSource, EbsInstanceBlockDeviceSpecification,
    InstanceAttributeName, InstanceBlockDeviceMappingSpecification, InstanceSpecification,
    ResourceType, Tag, TagSpecification,
};

use super::select::Settings;
use super::{Candidate, InstanceReport};
use crate::aws::Target;
use crate::plan::InstanceState;
use crate::progress::Line;
use crate::registry;

/// The steps and the context one instance needs.
pub struct Run<'a> {
    pub s: &'a Settings,
    pub targets: &'a [Target],
    pub cloudmap: Option<&'a aws_sdk_servicediscovery::Client>,
}

fn report(
    c: &Candidate,
    outcome: &'static str,
    reason: Option<String>,
    snapshots: Vec<String>,
) -> InstanceReport {
    InstanceReport {
        account: c.account.clone(),
        region: c.region.clone(),
        instance_id: c.instance_id.clone(),
        name: c.name.clone(),
        outcome,
        reason,
        snapshots,
        steps: Vec::new(),
    }
}

fn err_text<E>(e: &aws_sdk_ec2::error::SdkError<E>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    match e.as_service_error() {
        Some(se) => format!(
            "{}: {}",
            se.code().unwrap_or("error"),
            se.message().unwrap_or("")
        ),
        None => aws_sdk_ec2::error::DisplayErrorContext(e).to_string(),
    }
}

/// Outcome of an EC2 DryRun call.
fn dry_result<T, E: std::error::Error + ProvideErrorMetadata + 'static>(
    r: Result<T, aws_sdk_ec2::error::SdkError<E>>,
) -> Result<&'static str, String> {
    match r {
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("DryRunOperation") => {
            Ok("permitted")
        }
        Err(e) => Err(err_text(&e)),
        Ok(_) => Ok("permitted"),
    }
}

fn today() -> String {
    aws_sdk_ec2::primitives::DateTime::from(SystemTime::now())
        .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
        .map(|s| s[..10].to_string())
        .unwrap_or_default()
}

impl Run<'_> {
    async fn protected(&self, c: &Candidate) -> Result<bool, String> {
        let out = self.targets[c.target]
            .ec2
            .describe_instance_attribute()
            .instance_id(&c.instance_id)
            .attribute(InstanceAttributeName::DisableApiTermination)
            .send()
            .await
            .map_err(|e| err_text(&e))?;
        Ok(out
            .disable_api_termination()
            .and_then(AttributeBooleanValue::value)
            .unwrap_or(false))
    }

    fn delete_on_termination(&self, c: &Candidate, dry: bool) -> aws_sdk_ec2::operation::modify_instance_attribute::builders::ModifyInstanceAttributeFluentBuilder{
        let mappings = c
            .devices
            .iter()
            .map(|d| {
                InstanceBlockDeviceMappingSpecification::builder()
                    .device_name(d)
                    .ebs(
                        EbsInstanceBlockDeviceSpecification::builder()
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build()
            })
            .collect();
        self.targets[c.target]
            .ec2
            .modify_instance_attribute()
            .instance_id(&c.instance_id)
            .set_block_device_mappings(Some(mappings))
            .dry_run(dry)
    }

    fn create_snapshots(
        &self,
        c: &Candidate,
        dry: bool,
    ) -> aws_sdk_ec2::operation::create_snapshots::builders::CreateSnapshotsFluentBuilder {
        self.targets[c.target]
            .ec2
            .create_snapshots()
            .instance_specification(
                InstanceSpecification::builder()
                    .instance_id(&c.instance_id)
                    .exclude_boot_volume(false)
                    .build(),
            )
            .copy_tags_from_source(CopyTagsFromSource::Volume)
            .description(format!(
                "{}-pre-termination-snapshot {}",
                today(),
                c.instance_id
            ))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Snapshot)
                    .tags(
                        Tag::builder()
                            .key("cloud-unmap:instance-id")
                            .value(&c.instance_id)
                            .build(),
                    )
                    .tags(
                        Tag::builder()
                            .key("cloud-unmap:purpose")
                            .value("pre-termination")
                            .build(),
                    )
                    .build(),
            )
            .dry_run(dry)
    }

    /// Dry run: the plan, with EC2's permission checks.
    async fn plan(&self, c: &Candidate, line: &Line) -> InstanceReport {
        let ec2 = &self.targets[c.target].ec2;
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
            report(c, "planned", None, Vec::new())
        } else {
            report(
                c,
                "failed",
                Some(format!("permission missing for: {}", denied.join("; "))),
                Vec::new(),
            )
        };
        rep.steps = steps;
        rep
    }

    /// Retires one instance; every early return leaves it unterminated.
    pub async fn retire(&self, c: &Candidate, line: &Line) -> InstanceReport {
        let failed = |reason: String, snaps: Vec<String>| report(c, "failed", Some(reason), snaps);
        if c.state == InstanceState::Terminated {
            return report(c, "skipped", Some("already terminated".into()), Vec::new());
        }
        line.set("checking termination protection");
        match self.protected(c).await {
            Ok(true) => {
                return failed(
                    "termination protection is on; left untouched".into(),
                    Vec::new(),
                )
            }
            Ok(false) => {}
            Err(e) => {
                return failed(
                    format!("cannot read termination protection: {e}"),
                    Vec::new(),
                )
            }
        }
        if self.s.dry_run {
            return self.plan(c, line).await;
        }
        let ec2 = &self.targets[c.target].ec2;
        let timeout = self.s.wait_timeout;

        if let (Some(cloudmap), false) = (self.cloudmap, c.services.is_empty()) {
            for svc in &c.services {
                line.set(format!("deregistering from {svc}"));
                if let Err(e) = registry::deregister(cloudmap, svc, &c.instance_id).await {
                    return failed(format!("drain from {svc} failed: {e}"), Vec::new());
                }
            }
            line.set(format!("draining for {} s", self.s.drain.as_secs()));
            tokio::time::sleep(self.s.drain).await;
        }

        let mut state = c.state;
        if state == InstanceState::Pending {
            line.set("waiting until running");
            if let Err(e) = ec2
                .wait_until_instance_running()
                .instance_ids(&c.instance_id)
                .wait(timeout)
                .await
            {
                return failed(
                    format!(
                        "did not reach running: {}",
                        aws_sdk_ec2::error::DisplayErrorContext(&e)
                    ),
                    Vec::new(),
                );
            }
            state = InstanceState::Running;
        }
        if state == InstanceState::ShuttingDown {
            line.set("already shutting down; waiting");
            let _ = ec2
                .wait_until_instance_terminated()
                .instance_ids(&c.instance_id)
                .wait(timeout)
                .await;
            return report(
                c,
                "skipped",
                Some("was already shutting down".into()),
                Vec::new(),
            );
        }
        if state == InstanceState::Running {
            line.set("stopping");
            if let Err(e) = ec2
                .stop_instances()
                .instance_ids(&c.instance_id)
                .send()
                .await
            {
                return failed(
                    format!("StopInstances failed: {}", err_text(&e)),
                    Vec::new(),
                );
            }
        }
        if matches!(state, InstanceState::Running | InstanceState::Stopping) {
            line.set("waiting until stopped");
            if let Err(e) = ec2
                .wait_until_instance_stopped()
                .instance_ids(&c.instance_id)
                .wait(timeout)
                .await
            {
                return failed(
                    format!(
                        "did not stop: {}",
                        aws_sdk_ec2::error::DisplayErrorContext(&e)
                    ),
                    Vec::new(),
                );
            }
        }

        let mut snapshots = Vec::new();
        if self.s.snapshot && !c.volumes.is_empty() {
            line.set(format!("snapshotting {} volume(s)", c.volumes.len()));
            match self.create_snapshots(c, false).send().await {
                Ok(out) => {
                    snapshots = out
                        .snapshots()
                        .iter()
                        .filter_map(|s| s.snapshot_id().map(str::to_string))
                        .collect()
                }
                Err(e) => {
                    return failed(
                        format!("CreateSnapshots failed: {}; not terminated", err_text(&e)),
                        Vec::new(),
                    )
                }
            }
            if snapshots.len() < c.volumes.len() {
                return failed(
                    format!(
                        "{} snapshot(s) for {} volume(s); not terminated",
                        snapshots.len(),
                        c.volumes.len()
                    ),
                    snapshots,
                );
            }
            line.set(format!("waiting for {} snapshot(s)", snapshots.len()));
            if let Err(e) = ec2
                .wait_until_snapshot_completed()
                .set_snapshot_ids(Some(snapshots.clone()))
                .wait(timeout)
                .await
            {
                let why = aws_sdk_ec2::error::DisplayErrorContext(&e);
                return failed(
                    format!("snapshots did not complete: {why}; not terminated"),
                    snapshots,
                );
            }
        }

        if !c.devices.is_empty() {
            line.set("setting DeleteOnTermination");
            if let Err(e) = self.delete_on_termination(c, false).send().await {
                return failed(
                    format!(
                        "setting DeleteOnTermination failed: {}; not terminated",
                        err_text(&e)
                    ),
                    snapshots,
                );
            }
        }
        line.set("terminating");
        match ec2
            .terminate_instances()
            .instance_ids(&c.instance_id)
            .send()
            .await
        {
            Ok(_) => report(c, "terminated", None, snapshots),
            Err(e)
                if e.as_service_error().and_then(|s| s.code()) == Some("OperationNotPermitted") =>
            {
                failed(
                    format!("termination refused (protection?): {}", err_text(&e)),
                    snapshots,
                )
            }
            Err(e) => failed(
                format!("TerminateInstances failed: {}", err_text(&e)),
                snapshots,
            ),
        }
    }
}
