//! Auto Scaling fixtures on moto: a group with running members, a lifecycle hook, and terminate
//! lifecycle action events shaped as EventBridge delivers them (for `send_raw`, so a test controls
//! the hook name and the event's time).

use std::time::SystemTime;

use super::fixtures::Instance;
use super::moto::{config, ec2, unique, HOME_REGION};

/// An Auto Scaling group of `count` running instances; returns its name and members.
pub async fn group(count: i32) -> (String, Vec<Instance>) {
    let asg = aws_sdk_autoscaling::Client::new(&config(HOME_REGION).await);
    let group = unique("web-asg");
    let lc = unique("lc");
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
        .min_size(count)
        .max_size(count)
        .desired_capacity(count)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();
    let members: Vec<String> = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&group)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    let described = ec2(HOME_REGION)
        .await
        .describe_instances()
        .set_instance_ids(Some(members))
        .send()
        .await
        .unwrap();
    let instances: Vec<Instance> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| Instance {
            id: i.instance_id().unwrap().into(),
            ip: i.private_ip_address().unwrap().into(),
        })
        .collect();
    assert_eq!(instances.len(), count as usize);
    (group, instances)
}

/// Adds a terminate lifecycle hook to `group`.
pub async fn put_hook(group: &str, name: &str, heartbeat_timeout_s: i32) {
    aws_sdk_autoscaling::Client::new(&config(HOME_REGION).await)
        .put_lifecycle_hook()
        .auto_scaling_group_name(group)
        .lifecycle_hook_name(name)
        .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
        .heartbeat_timeout(heartbeat_timeout_s)
        .send()
        .await
        .unwrap();
}

/// A terminate lifecycle action event of `hook` for `instance_id` (token `token`), at `time`.
pub fn lifecycle_event(
    group: &str,
    hook: &str,
    instance_id: &str,
    token: &str,
    time: SystemTime,
) -> String {
    let time = aws_sdk_sqs::primitives::DateTime::from(time)
        .fmt(aws_sdk_sqs::primitives::DateTimeFormat::DateTime)
        .unwrap();
    serde_json::json!({
        "version": "0", "id": unique("ev"), "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling", "time": time, "region": HOME_REGION, "resources": [],
        "detail": {"LifecycleActionToken": token, "AutoScalingGroupName": group, "LifecycleHookName": hook,
            "EC2InstanceId": instance_id, "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"}
    })
    .to_string()
}

/// Seconds since the epoch of an RFC 3339 log timestamp.
pub fn epoch_seconds(rfc3339: &str) -> f64 {
    let t = aws_sdk_sqs::primitives::DateTime::from_str(
        rfc3339,
        aws_sdk_sqs::primitives::DateTimeFormat::DateTimeWithOffset,
    )
    .unwrap();
    t.as_secs_f64()
}
