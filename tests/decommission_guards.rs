//! `decommission` a careful operator trusts, end to end on moto: an Auto Scaling member is refused
//! naming its group unless `--detach` (then the group lets it go without a replacement); the drain
//! removes every registration whose target is the instance, `AWS_EC2_INSTANCE_ID` ones included;
//! the never-empty rule refuses a drain that would empty a service unless `--allow-empty-service`;
//! `--no-snapshot` leaves DeleteOnTermination as the owner set it and reports the surviving volumes.

mod common;

use common::*;
use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, Value) {
    let out = decommission(
        &moto().endpoint,
        &[args, &["--drain-seconds", "0", "--output", "json"]].concat(),
    );
    let r = report(&out);
    (out.status.code(), r)
}

async fn autoscaling() -> aws_sdk_autoscaling::Client {
    aws_sdk_autoscaling::Client::new(&config(HOME_REGION).await)
}

/// A group of 2 running members whose minimum is 0 (so one can be detached with its desired
/// capacity decremented, as Auto Scaling requires); its name and members.
async fn group_of_two() -> (String, Vec<String>) {
    let asg = autoscaling().await;
    let (group, lc) = (unique("retire-asg"), unique("lc"));
    asg.create_launch_configuration()
        .launch_configuration_name(&lc)
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .launch_configuration_name(&lc)
        .min_size(0)
        .max_size(2)
        .desired_capacity(2)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();
    let members = group_members(&group).await.1;
    assert_eq!(members.len(), 2);
    (group, members)
}

/// The group's desired capacity and members.
async fn group_members(group: &str) -> (i32, Vec<String>) {
    let out = autoscaling()
        .await
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .unwrap();
    let g = &out.auto_scaling_groups()[0];
    let mut ids: Vec<String> = g
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    ids.sort();
    (g.desired_capacity().unwrap(), ids)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auto_scaling_member_is_refused_naming_its_group_unless_detached() {
    let east = ec2(HOME_REGION).await;
    let (group, members) = group_of_two().await;
    let target = ["--instance-id", &members[0], "--region", HOME_REGION];

    let (code, r) = run(&[&target[..], &["--yes"]].concat());
    assert_eq!(code, Some(3), "{r:#}");
    let refused = outcome_of(&r, &members[0]);
    assert_eq!(refused["outcome"], "refused", "{r:#}");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.contains(&group) && reason.contains("--detach"),
        "{reason}"
    );
    assert_eq!(state_of(&east, &members[0]).await, "running");
    assert_eq!(group_members(&group).await, (2, members.clone()));

    // The dry run with --detach says what would happen, and changes nothing.
    let (code, r) = run(&[&target[..], &["--detach", "--dry-run"]].concat());
    assert_eq!(code, Some(0), "{r:#}");
    let steps = outcome_of(&r, &members[0])["steps"].to_string();
    assert!(
        steps.contains(&format!("detach from Auto Scaling group {group}")),
        "{steps}"
    );
    assert_eq!(group_members(&group).await, (2, members.clone()));

    // Detached first (desired capacity 2 -> 1, so no replacement), then retired as usual.
    let (code, r) = run(&[&target[..], &["--detach", "--yes"]].concat());
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(outcome_of(&r, &members[0])["outcome"], "terminated");
    assert_eq!(state_of(&east, &members[0]).await, "terminated");
    assert_eq!(group_members(&group).await, (1, vec![members[1].clone()]));
    assert_eq!(state_of(&east, &members[1]).await, "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_member_is_refused_and_a_detached_one_is_stopped_only_once_it_left() {
    let proxy = Proxy::start();
    let east = ec2(HOME_REGION).await;
    let (group, members) = group_of_two().await;
    // Standby: DetachInstances with the desired capacity decremented can terminate other
    // instances (Auto Scaling user guide, "Detach or attach instances"). Refused, untouched.
    autoscaling()
        .await
        .enter_standby()
        .auto_scaling_group_name(&group)
        .instance_ids(&members[1])
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .unwrap();
    // (moto launches a replacement for the Standby member; whatever the group holds now stays.)
    let before = group_members(&group).await;
    let (code, r) = run(&[
        "--instance-id",
        &members[1],
        "--region",
        HOME_REGION,
        "--detach",
        "--yes",
    ]);
    assert_eq!(code, Some(3), "{r:#}");
    let refused = outcome_of(&r, &members[1]);
    assert_eq!(refused["outcome"], "refused", "{r:#}");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.contains("Standby") && reason.contains(&group),
        "{reason}"
    );
    assert_eq!(state_of(&east, &members[1]).await, "running");
    assert_eq!(group_members(&group).await, before);

    // DetachInstances is asynchronous on AWS (moto detaches at once): the proxy lists the instance
    // "Detaching" for two more answers, and the retirement waits them out before it goes on.
    proxy.state(&format!("detaching/{}/2", members[0])).await;
    let out = decommission(
        &proxy.endpoint,
        &[
            "--instance-id",
            &members[0],
            "--region",
            HOME_REGION,
            "--detach",
            "--yes",
            "--drain-seconds",
            "0",
            "--output",
            "json",
        ],
    );
    let r = report(&out);
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(outcome_of(&r, &members[0])["outcome"], "terminated");
    assert_eq!(proxy.state("state").await["detaching_shown"], 2);
    let (desired, left) = group_members(&group).await;
    assert_eq!(desired, before.0 - 1);
    assert!(
        !left.contains(&members[0]) && left.contains(&members[1]),
        "{left:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_drain_covers_registrations_by_ec2_id_and_never_empties_a_service() {
    let east = ec2(HOME_REGION).await;
    let team = unique("drain");
    let target = launch_tagged(&east, 1, &team, Some("web"), false).await;
    let bystander = launch_tagged(&east, 1, &unique("other"), Some("web"), false).await;
    let ns = namespace().await;
    let (shared, alone) = (service(&ns).await, service(&ns).await);
    let web = unique("web");
    register(&shared, &target[0], Some("10.0.0.1")).await;
    register_named(&shared, &web, &[("AWS_EC2_INSTANCE_ID", &target[0])]).await;
    register(&shared, &bystander[0], Some("10.0.0.2")).await;
    register_named(&alone, "api-1", &[("AWS_EC2_INSTANCE_ID", &target[0])]).await;
    let tag = format!("team={team}");
    let select = [
        "--tag",
        &tag,
        "--region",
        HOME_REGION,
        "--namespace-id",
        &ns,
        "--service-region",
        HOME_REGION,
    ];

    // Its drain would empty `alone`: refused, said in the dry run as in the run; nothing changed.
    for extra in [&["--dry-run"][..], &["--yes"]] {
        let (code, r) = run(&[&select[..], extra].concat());
        assert_eq!(code, Some(3), "{extra:?}: {r:#}");
        let held = outcome_of(&r, &target[0]);
        assert_eq!(held["outcome"], "refused", "{r:#}");
        let reason = held["reason"].as_str().unwrap();
        assert!(
            reason.contains(&alone) && reason.contains("--allow-empty-service"),
            "{reason}"
        );
    }
    assert_eq!(state_of(&east, &target[0]).await, "running");
    assert_eq!(registered(&alone).await, vec!["api-1".to_string()]);

    let (code, r) = run(&[&select[..], &["--allow-empty-service", "--dry-run"]].concat());
    assert_eq!(code, Some(0), "{r:#}");
    let steps = outcome_of(&r, &target[0])["steps"].to_string();
    assert!(steps.contains(&format!("{web} from {shared}")), "{steps}");

    let (code, r) = run(&[&select[..], &["--allow-empty-service", "--yes"]].concat());
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(state_of(&east, &target[0]).await, "terminated");
    // Every registration whose target it was is gone, by EC2 id or by name; the bystander stays.
    assert_eq!(registered(&shared).await, vec![bystander[0].clone()]);
    assert_eq!(registered(&alone).await, Vec::<String>::new());
}

/// Each EBS volume of the instance and whether it goes with it (DeleteOnTermination).
async fn volumes(client: &aws_sdk_ec2::Client, id: &str) -> Vec<(String, String, bool)> {
    let out = client
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    out.reservations()[0].instances()[0]
        .block_device_mappings()
        .iter()
        .map(|m| {
            let ebs = m.ebs().unwrap();
            (
                m.device_name().unwrap().to_string(),
                ebs.volume_id().unwrap().to_string(),
                ebs.delete_on_termination().unwrap_or(false),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_snapshot_leaves_delete_on_termination_as_set_and_reports_surviving_volumes() {
    let east = ec2(HOME_REGION).await;
    let team = unique("keep");
    let ids = launch_tagged(&east, 1, &team, Some("db"), false).await;
    let vols = volumes(&east, &ids[0]).await;
    assert!(!vols.is_empty(), "moto gives the instance a root volume");
    // The owner keeps the data volume on purpose.
    let (device, kept, _) = vols[0].clone();
    east.modify_instance_attribute()
        .instance_id(&ids[0])
        .block_device_mappings(
            aws_sdk_ec2::types::InstanceBlockDeviceMappingSpecification::builder()
                .device_name(&device)
                .ebs(
                    aws_sdk_ec2::types::EbsInstanceBlockDeviceSpecification::builder()
                        .delete_on_termination(false)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        !volumes(&east, &ids[0]).await[0].2,
        "DeleteOnTermination off"
    );
    let tag = format!("team={team}");
    let select = ["--tag", &tag, "--region", HOME_REGION, "--no-snapshot"];

    let (code, r) = run(&[&select[..], &["--dry-run"]].concat());
    assert_eq!(code, Some(0), "{r:#}");
    let steps = outcome_of(&r, &ids[0])["steps"].to_string();
    assert!(!steps.contains("set DeleteOnTermination"), "{steps}");
    assert_eq!(
        outcome_of(&r, &ids[0])["surviving_volumes"],
        serde_json::json!([kept])
    );

    // The flag stays as the owner set it right up to termination, and the volume outlives it.
    let (code, r) = run(&[&select[..], &["--yes"]].concat());
    assert_eq!(code, Some(0), "{r:#}");
    let done = outcome_of(&r, &ids[0]);
    assert_eq!(done["outcome"], "terminated");
    assert_eq!(done["surviving_volumes"], serde_json::json!([kept]));
    assert_eq!(snapshots_of(&east, &ids[0]).await, vec![]);
    let left = east
        .describe_volumes()
        .volume_ids(&kept)
        .send()
        .await
        .unwrap();
    assert_eq!(left.volumes().len(), 1, "{kept} outlives the instance");
}
