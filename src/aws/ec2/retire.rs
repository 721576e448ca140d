//! EC2's calls for retiring an instance (`decommission`): its state and termination protection,
//! stop, CreateSnapshots of every volume, DeleteOnTermination on every device, terminate, and the
//! SDK's waiters between them. Every changing call also runs as EC2's DryRun permission check.
//! Each call spends its budget first (a waiter's polls, 15 s apart at least, are the SDK's own).

use std::time::{Duration, SystemTime};

use crate::aws::Ec2 as Client;
use crate::model::budget::Family;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, CopyTagsFromSource, EbsInstanceBlockDeviceSpecification,
    InstanceAttributeName, InstanceBlockDeviceMappingSpecification, InstanceSpecification,
    ResourceType, Tag, TagSpecification,
};

use crate::error::{Error, Operation};

/// Whether a call changes anything or only asks EC2 whether it would be permitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    DryRun,
}

impl Mode {
    fn dry(self) -> bool {
        self == Mode::DryRun
    }
}

/// Whether a DryRun call was permitted: EC2 answers `DryRunOperation` when it would have been.
pub fn permitted(answer: &Result<(), Error>) -> bool {
    match answer {
        Ok(()) => true,
        Err(e) => e.code() == Some("DryRunOperation"),
    }
}

/// The instance's state name as DescribeInstances gives it now.
pub async fn state(ec2: &Client, instance_id: &str) -> Result<Option<String>, Error> {
    ec2.spend(Family::Ec2Describe).await;
    let out = ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::DescribeInstances, e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find_map(|i| i.state().and_then(|s| s.name()))
        .map(|n| n.as_str().to_string()))
}

/// Whether termination protection (DisableApiTermination) is on.
pub async fn protected(ec2: &Client, instance_id: &str) -> Result<bool, Error> {
    ec2.spend(Family::Ec2Describe).await;
    let out = ec2
        .describe_instance_attribute()
        .instance_id(instance_id)
        .attribute(InstanceAttributeName::DisableApiTermination)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::DescribeInstanceAttribute, e))?;
    Ok(out
        .disable_api_termination()
        .and_then(AttributeBooleanValue::value)
        .unwrap_or(false))
}

pub async fn stop(ec2: &Client, instance_id: &str, mode: Mode) -> Result<(), Error> {
    ec2.spend(Family::Ec2Mutate).await;
    ec2.stop_instances()
        .instance_ids(instance_id)
        .dry_run(mode.dry())
        .send()
        .await
        .map_err(|e| Error::aws(Operation::StopInstances, e))?;
    Ok(())
}

/// TerminateInstances; refused with `OperationNotPermitted` under termination protection.
pub async fn terminate(ec2: &Client, instance_id: &str, mode: Mode) -> Result<(), Error> {
    ec2.spend(Family::Ec2Mutate).await;
    ec2.terminate_instances()
        .instance_ids(instance_id)
        .dry_run(mode.dry())
        .send()
        .await
        .map_err(|e| Error::aws(Operation::TerminateInstances, e))?;
    Ok(())
}

fn today() -> String {
    aws_sdk_ec2::primitives::DateTime::from(SystemTime::now())
        .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
        .map(|s| s[..10].to_string())
        .unwrap_or_default()
}

/// CreateSnapshots of every volume of the instance (boot volume included), tagged as cloud-unmap's
/// pre-termination snapshots with the volumes' own tags copied; returns the snapshot ids.
pub async fn create_snapshots(
    ec2: &Client,
    instance_id: &str,
    mode: Mode,
) -> Result<Vec<String>, Error> {
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    ec2.spend(Family::Ec2Mutate).await;
    let out = ec2
        .create_snapshots()
        .instance_specification(
            InstanceSpecification::builder()
                .instance_id(instance_id)
                .exclude_boot_volume(false)
                .build(),
        )
        .copy_tags_from_source(CopyTagsFromSource::Volume)
        .description(format!(
            "{}-pre-termination-snapshot {instance_id}",
            today()
        ))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Snapshot)
                .tags(tag("cloud-unmap:instance-id", instance_id))
                .tags(tag("cloud-unmap:purpose", "pre-termination"))
                .build(),
        )
        .dry_run(mode.dry())
        .send()
        .await
        .map_err(|e| Error::aws(Operation::CreateSnapshots, e))?;
    Ok(out
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect())
}

/// Sets DeleteOnTermination on each of `devices`.
pub async fn delete_on_termination(
    ec2: &Client,
    instance_id: &str,
    devices: &[String],
    mode: Mode,
) -> Result<(), Error> {
    let mappings = devices
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
    ec2.spend(Family::Ec2Mutate).await;
    ec2.modify_instance_attribute()
        .instance_id(instance_id)
        .set_block_device_mappings(Some(mappings))
        .dry_run(mode.dry())
        .send()
        .await
        .map_err(|e| Error::aws(Operation::ModifyInstanceAttribute, e))?;
    Ok(())
}

/// What a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Running,
    Stopped,
    Terminated,
}

/// Waits (the SDK's waiter) until the instance is in `until`, at most `timeout`. The error is the
/// waiter's whole chain in one line.
pub async fn wait(
    ec2: &Client,
    instance_id: &str,
    until: Until,
    timeout: Duration,
) -> Result<(), String> {
    let chain = |e: &dyn std::error::Error| DisplayErrorContext(e).to_string();
    match until {
        Until::Running => ec2
            .wait_until_instance_running()
            .instance_ids(instance_id)
            .wait(timeout)
            .await
            .map(drop)
            .map_err(|e| chain(&e)),
        Until::Stopped => ec2
            .wait_until_instance_stopped()
            .instance_ids(instance_id)
            .wait(timeout)
            .await
            .map(drop)
            .map_err(|e| chain(&e)),
        Until::Terminated => ec2
            .wait_until_instance_terminated()
            .instance_ids(instance_id)
            .wait(timeout)
            .await
            .map(drop)
            .map_err(|e| chain(&e)),
    }
}

/// Waits until every snapshot of `ids` is complete, at most `timeout`.
pub async fn wait_snapshots(ec2: &Client, ids: &[String], timeout: Duration) -> Result<(), String> {
    ec2.wait_until_snapshot_completed()
        .set_snapshot_ids(Some(ids.to_vec()))
        .wait(timeout)
        .await
        .map(drop)
        .map_err(|e| DisplayErrorContext(&e).to_string())
}
