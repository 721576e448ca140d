//! Decommission's fixtures and readings: tagged instances, their state and snapshots, the run and
//! its JSON report.

use std::process::Output;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde_json::Value;

use super::process::{stdout, Cli};

/// Launches `count` instances tagged `team=<team>` (and `Name`, unless `name` is None).
pub async fn launch_tagged(
    client: &aws_sdk_ec2::Client,
    count: i32,
    team: &str,
    name: Option<&str>,
    protected: bool,
) -> Vec<String> {
    let mut tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key("team").value(team).build());
    if let Some(n) = name {
        tags = tags.tags(Tag::builder().key("Name").value(n).build());
    }
    let out = client
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(count)
        .max_count(count)
        .tag_specifications(tags.build())
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = out
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    if protected {
        // moto honours termination protection set this way, not through RunInstances' flag.
        for id in &ids {
            client
                .modify_instance_attribute()
                .instance_id(id)
                .attribute(aws_sdk_ec2::types::InstanceAttributeName::DisableApiTermination)
                .value("true")
                .send()
                .await
                .unwrap();
        }
    }
    ids
}

pub async fn state_of(client: &aws_sdk_ec2::Client, id: &str) -> String {
    let out = client
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    out.reservations()[0].instances()[0]
        .state()
        .unwrap()
        .name()
        .unwrap()
        .as_str()
        .to_string()
}

/// Snapshots cloud-unmap made for `id` (tagged with it), as (description, snapshot id).
pub async fn snapshots_of(client: &aws_sdk_ec2::Client, id: &str) -> Vec<(String, String)> {
    let out = client
        .describe_snapshots()
        .filters(
            Filter::builder()
                .name("tag:cloud-unmap:instance-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.snapshots()
        .iter()
        .map(|s| {
            (
                s.description().unwrap_or_default().to_string(),
                s.snapshot_id().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn decommission(endpoint: &str, args: &[&str]) -> Output {
    Cli::subcommand("decommission")
        .endpoint(endpoint)
        .args(args)
        .output(Duration::from_secs(120))
}

pub fn report(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}\n{}",
            stdout(o),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

pub fn outcome_of<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {r}"))
}
