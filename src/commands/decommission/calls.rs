//! The EC2 requests of decommission that both the steps and the dry run send (the dry run with
//! EC2's DryRun flag): CreateSnapshots of every volume, and DeleteOnTermination on every device.

use std::time::SystemTime;

use aws_sdk_ec2::operation::create_snapshots::builders::CreateSnapshotsFluentBuilder;
use aws_sdk_ec2::operation::modify_instance_attribute::builders::ModifyInstanceAttributeFluentBuilder;
use aws_sdk_ec2::types::{
    CopyTagsFromSource, EbsInstanceBlockDeviceSpecification,
    InstanceBlockDeviceMappingSpecification, InstanceSpecification, ResourceType, Tag,
    TagSpecification,
};

use super::steps::Run;
use super::Candidate;

fn today() -> String {
    aws_sdk_ec2::primitives::DateTime::from(SystemTime::now())
        .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
        .map(|s| s[..10].to_string())
        .unwrap_or_default()
}

impl Run<'_> {
    pub(super) fn delete_on_termination(
        &self,
        c: &Candidate,
        dry: bool,
    ) -> ModifyInstanceAttributeFluentBuilder {
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
        c.target
            .ec2
            .modify_instance_attribute()
            .instance_id(&c.instance_id)
            .set_block_device_mappings(Some(mappings))
            .dry_run(dry)
    }

    pub(super) fn create_snapshots(
        &self,
        c: &Candidate,
        dry: bool,
    ) -> CreateSnapshotsFluentBuilder {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        c.target
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
                    .tags(tag("cloud-unmap:instance-id", &c.instance_id))
                    .tags(tag("cloud-unmap:purpose", "pre-termination"))
                    .build(),
            )
            .dry_run(dry)
    }
}
