//! Auto Scaling: instances' lifecycle states and groups, lifecycle hooks (their HeartbeatTimeout, the
//! groups that carry them), the lifecycle action calls cloud-unmap makes for its own hooks
//! (heartbeat, CONTINUE), and `decommission --detach`'s DetachInstances. An action that no longer
//! exists (completed elsewhere, or timed out) is `Answer::Gone`, not an error.

use std::collections::HashMap;
use std::time::Duration;

use crate::aws::AutoScaling as Client;
use crate::model::budget::Family;
use aws_sdk_autoscaling::error::ProvideErrorMetadata;

use crate::error::{Error, Operation};
use crate::model::domain::LifecycleAction;

/// DescribeAutoScalingInstances takes at most 50 ids.
const MAX_ASG_IDS: usize = 50;

/// What became of a call on a lifecycle action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Done,
    /// Auto Scaling has no such action any more.
    Gone,
}

/// One lifecycle hook of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub name: String,
    pub group: String,
    pub transition: String,
    pub heartbeat_timeout: Option<Duration>,
    pub global_timeout: Option<Duration>,
    pub default_result: String,
}

/// Whether an Auto Scaling error says the action no longer exists (completed, or timed out).
fn gone(e: &impl ProvideErrorMetadata) -> bool {
    e.code() == Some("ValidationError")
        && e.message()
            .is_some_and(|m| m.contains("No active Lifecycle Action"))
}

/// Each instance's Auto Scaling lifecycle state (`InService`, `Terminating:Wait`…), for those
/// Auto Scaling knows.
pub async fn lifecycle_states(
    client: &Client,
    ids: &[String],
) -> Result<HashMap<String, String>, Error> {
    let memberships = groups_of(client, ids).await?;
    Ok(memberships
        .into_iter()
        .filter(|(_, m)| !m.lifecycle_state.is_empty())
        .map(|(id, m)| (id, m.lifecycle_state))
        .collect())
}

/// The lifecycle hooks of `group`, or only those named `names` when given.
pub async fn hooks(client: &Client, group: &str, names: &[String]) -> Result<Vec<Hook>, Error> {
    client.spend(Family::AutoScaling).await;
    let out = client
        .describe_lifecycle_hooks()
        .auto_scaling_group_name(group)
        .set_lifecycle_hook_names((!names.is_empty()).then(|| names.to_vec()))
        .send()
        .await
        .map_err(|e| Error::aws(Operation::DescribeLifecycleHooks, e))?;
    let secs = |s: Option<i32>| s.map(|s| Duration::from_secs(s.max(0) as u64));
    Ok(out
        .lifecycle_hooks()
        .iter()
        .map(|h| Hook {
            name: h.lifecycle_hook_name().unwrap_or_default().to_string(),
            group: group.to_string(),
            transition: h.lifecycle_transition().unwrap_or_default().to_string(),
            heartbeat_timeout: secs(h.heartbeat_timeout()),
            global_timeout: secs(h.global_timeout()),
            default_result: h.default_result().unwrap_or("ABANDON").to_string(),
        })
        .collect())
}

/// Every Auto Scaling group's name (DescribeAutoScalingGroups, every page).
pub async fn groups(client: &Client) -> Result<Vec<String>, Error> {
    let mut pages = client
        .describe_auto_scaling_groups()
        .max_records(100)
        .into_paginator()
        .send();
    let mut groups = Vec::new();
    // Spend only for a page that will be asked for: none after the last (no next token).
    let mut more = true;
    while more {
        client.spend(Family::AutoScaling).await;
        let Some(page) = pages.next().await else {
            break;
        };
        let page = page.map_err(|e| Error::aws(Operation::DescribeAutoScalingGroups, e))?;
        more = page.next_token().is_some_and(|t| !t.is_empty());
        groups.extend(
            page.auto_scaling_groups()
                .iter()
                .filter_map(|g| g.auto_scaling_group_name().map(str::to_string)),
        );
    }
    Ok(groups)
}

/// RecordLifecycleActionHeartbeat.
pub async fn heartbeat(client: &Client, action: &LifecycleAction) -> Result<Answer, Error> {
    client.spend(Family::AutoScaling).await;
    let sent = client
        .record_lifecycle_action_heartbeat()
        .auto_scaling_group_name(&action.group)
        .lifecycle_hook_name(&action.hook)
        .lifecycle_action_token(&action.token)
        .instance_id(&action.instance_id)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Answer::Done),
        Err(e) if gone(&e) => Ok(Answer::Gone),
        Err(e) => Err(Error::aws(Operation::RecordLifecycleActionHeartbeat, e)),
    }
}

/// CompleteLifecycleAction with CONTINUE.
pub async fn complete(client: &Client, action: &LifecycleAction) -> Result<Answer, Error> {
    client.spend(Family::AutoScaling).await;
    let sent = client
        .complete_lifecycle_action()
        .auto_scaling_group_name(&action.group)
        .lifecycle_hook_name(&action.hook)
        .lifecycle_action_token(&action.token)
        .instance_id(&action.instance_id)
        .lifecycle_action_result("CONTINUE")
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Answer::Done),
        Err(e) if gone(&e) => Ok(Answer::Gone),
        Err(e) => Err(Error::aws(Operation::CompleteLifecycleAction, e)),
    }
}

/// An instance's Auto Scaling group and its lifecycle state there (`InService`, `Standby`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group: String,
    pub lifecycle_state: String,
}

/// The Auto Scaling group (and lifecycle state) of each of `ids` that belongs to one
/// (DescribeAutoScalingInstances).
pub async fn groups_of(
    client: &Client,
    ids: &[String],
) -> Result<HashMap<String, Membership>, Error> {
    let mut groups = HashMap::new();
    for chunk in ids.chunks(MAX_ASG_IDS) {
        client.spend(Family::AutoScaling).await;
        let out = client
            .describe_auto_scaling_instances()
            .set_instance_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| Error::aws(Operation::DescribeAutoScalingInstances, e))?;
        for i in out.auto_scaling_instances() {
            if let (Some(id), Some(group)) = (i.instance_id(), i.auto_scaling_group_name()) {
                let lifecycle_state = i.lifecycle_state().unwrap_or_default().to_string();
                let group = group.to_string();
                groups.insert(
                    id.to_string(),
                    Membership {
                        group,
                        lifecycle_state,
                    },
                );
            }
        }
    }
    Ok(groups)
}

/// DetachInstances with ShouldDecrementDesiredCapacity: the group lets the instance go and does
/// not launch a replacement. Auto Scaling refuses (ValidationError) an instance that is neither
/// InService nor Standby, or a desired capacity that would fall below the group's minimum; the
/// caller refuses Standby members itself (decrementing for one can terminate other instances).
/// The detachment is asynchronous (`Detaching`, a load balancer's deregistration delay): see
/// `wait_detached`.
pub async fn detach(client: &Client, group: &str, instance_id: &str) -> Result<(), Error> {
    client.spend(Family::AutoScaling).await;
    client
        .detach_instances()
        .auto_scaling_group_name(group)
        .instance_ids(instance_id)
        .should_decrement_desired_capacity(true)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::DetachInstances, e))?;
    Ok(())
}

/// Polls DescribeAutoScalingInstances (1 s doubling to 15 s) until it no longer lists
/// `instance_id`, for at most `timeout`; `Ok(false)` when it still does by then. (The SDK has no
/// waiter for this.)
pub async fn wait_detached(
    client: &Client,
    instance_id: &str,
    timeout: Duration,
) -> Result<bool, Error> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_secs(1);
    loop {
        let ids = [instance_id.to_string()];
        let listed = groups_of(client, &ids).await?.contains_key(instance_id);
        if !listed {
            return Ok(true);
        }
        if started.elapsed() + pause > timeout {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}
