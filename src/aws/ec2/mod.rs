//! EC2 inventory: describes instances by id, in chunks of at most 200 ids per DescribeInstances
//! filter (EC2's limit), across every (account, region) target concurrently.

pub mod retire;

use std::collections::HashMap;

use aws_sdk_ec2::types::{Filter, Instance, InstanceLifecycleType};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::aws::Target;
use crate::error::{Error, Operation};
use crate::model::age::state_transition_time;
use crate::model::domain::InstanceState;
use crate::model::plan::ObservedInstance;
use crate::model::scheduled::Pending;
use std::time::SystemTime;

/// The tag Auto Scaling puts on the instances of a group.
pub const ASG_GROUP_TAG: &str = "aws:autoscaling:groupName";

/// EC2 rejects more than 200 values in one filter.
pub const MAX_IDS_PER_CALL: usize = 200;

/// Everything EC2 reported, by instance id (an id may be seen in more than one target).
pub type Observed = HashMap<String, Vec<ObservedInstance>>;

/// Splits `ids` into chunks EC2 accepts.
pub fn chunk_ids(ids: &[String]) -> impl Iterator<Item = &[String]> {
    ids.chunks(MAX_IDS_PER_CALL)
}

/// Every IPv4 address of an instance: primary and secondary private IPs of every interface, and
/// the public or Elastic IP attached to the instance or to any of those private IPs.
pub fn ipv4_addresses(inst: &Instance) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |ip: Option<&str>| {
        if let Some(ip) = ip.filter(|s| !s.is_empty()) {
            if !out.iter().any(|o| o == ip) {
                out.push(ip.to_string());
            }
        }
    };
    add(inst.private_ip_address());
    add(inst.public_ip_address());
    for eni in inst.network_interfaces() {
        add(eni.private_ip_address());
        add(eni.association().and_then(|a| a.public_ip()));
        for pip in eni.private_ip_addresses() {
            add(pip.private_ip_address());
            add(pip.association().and_then(|a| a.public_ip()));
        }
    }
    out
}

/// Every IPv6 address of an instance: its primary one and those of every network interface.
pub fn ipv6_addresses(inst: &Instance) -> Vec<String> {
    let mut out: Vec<String> = inst
        .ipv6_address()
        .map(str::to_string)
        .into_iter()
        .collect();
    for eni in inst.network_interfaces() {
        for a in eni.ipv6_addresses() {
            if let Some(ip) = a.ipv6_address().filter(|ip| !out.iter().any(|o| o == ip)) {
                out.push(ip.to_string());
            }
        }
    }
    out
}

/// Converts the SDK's instance into the plan's view of it. An instance without an id or a known
/// state is unreadable, never "gone": the lookup fails with the raw values.
pub fn observe(inst: &Instance) -> Result<ObservedInstance, Error> {
    let raw_state = inst.state().and_then(|s| s.name()).map(|n| n.as_str());
    let (Some(id), Some(state)) = (
        inst.instance_id().filter(|id| !id.is_empty()),
        raw_state.and_then(InstanceState::parse),
    ) else {
        return Err(Error::Unreadable {
            what: format!(
                "instance id {:?} with state {:?}",
                inst.instance_id(),
                raw_state
            ),
        });
    };
    Ok(ObservedInstance {
        ended: state_transition_time(inst.state_transition_reason().unwrap_or_default()),
        instance_id: id.to_string(),
        state,
        ipv4: ipv4_addresses(inst),
        ipv6: ipv6_addresses(inst),
        spot: matches!(inst.instance_lifecycle(), Some(InstanceLifecycleType::Spot)),
        asg_group: inst
            .tags()
            .iter()
            .find(|t| t.key() == Some(ASG_GROUP_TAG))
            .and_then(|t| t.value())
            .map(str::to_string),
        account: String::new(),
        region: String::new(),
    })
}

/// Every instance of one target that matches `filters`, following every page (the SDK's paginator).
pub async fn describe_where(target: &Target, filters: Vec<Filter>) -> Result<Vec<Instance>, Error> {
    let mut pages = target
        .ec2
        .describe_instances()
        .set_filters(Some(filters))
        .max_results(1000)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            Error::aws(Operation::DescribeInstances, e).at(&target.account, &target.region)
        })?;
        // Taken by value: the page is not needed afterwards, so nothing is copied.
        for reservation in page.reservations.unwrap_or_default() {
            out.extend(reservation.instances.unwrap_or_default());
        }
    }
    Ok(out)
}

/// Describes one chunk of ids in one target.
async fn describe_chunk(target: &Target, ids: &[String]) -> Result<Vec<ObservedInstance>, Error> {
    let filter = Filter::builder()
        .name("instance-id")
        .set_values(Some(ids.to_vec()))
        .build();
    let found = describe_where(target, vec![filter]).await?;
    found
        .iter()
        .map(|i| {
            observe(i).map(|mut o| {
                o.account = target.account.to_string();
                o.region = target.region.clone();
                o
            })
        })
        .collect()
}

/// Describes `ids` in every target, `concurrency` calls at a time. Any failure fails the whole
/// lookup: an instance we could not look up must never be mistaken for one that is gone.
pub async fn describe(
    targets: &[Target],
    ids: &[String],
    concurrency: usize,
) -> Result<Observed, Error> {
    if ids.is_empty() {
        return Ok(Observed::new());
    }
    // Futures are collected first: a lazily mapped stream of borrowing closures is not provably
    // `Send` for every lifetime, which spawned tasks require.
    let mut jobs = Vec::new();
    for target in targets {
        for chunk in chunk_ids(ids) {
            jobs.push(describe_chunk(target, chunk));
        }
    }
    let found: Vec<Vec<ObservedInstance>> = stream::iter(jobs)
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut observed = Observed::new();
    for inst in found.into_iter().flatten() {
        observed
            .entry(inst.instance_id.clone())
            .or_default()
            .push(inst);
    }
    Ok(observed)
}

/// The pending scheduled events of one target (`ids`: only those instances).
pub async fn pending(target: &Target, ids: &[String]) -> Result<Vec<Pending>, Error> {
    let codes = Filter::builder()
        .name("event.code")
        .set_values(Some(
            crate::model::scheduled::CODES
                .iter()
                .map(|c| c.to_string())
                .collect(),
        ))
        .build();
    let mut pages = target
        .ec2
        .describe_instance_status()
        .filters(codes)
        .set_instance_ids((!ids.is_empty()).then(|| ids.to_vec()))
        // Pages of 100 bound the memory of an answer (moto ignores the filter and lists every
        // running instance; AWS lists only those with a scheduled event). MaxResults cannot be
        // combined with InstanceIds.
        .set_max_results(ids.is_empty().then_some(100))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            Error::aws(Operation::DescribeInstanceStatus, e).at(&target.account, &target.region)
        })?;
        for status in page.instance_statuses() {
            let Some(id) = status.instance_id() else {
                continue;
            };
            for ev in status.events() {
                let (Some(code), Some(not_before)) = (ev.code(), ev.not_before()) else {
                    continue;
                };
                if crate::model::scheduled::cancelled(ev.description().unwrap_or_default()) {
                    continue;
                }
                let Ok(not_before) = SystemTime::try_from(*not_before) else {
                    continue;
                };
                out.push(Pending {
                    instance_id: id.to_string(),
                    code: code.as_str().to_string(),
                    not_before,
                    account: target.account.clone(),
                    region: target.region.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Whether `target` may DescribeInstances: one call of at most five instances (a preflight probe).
pub async fn probe(target: &Target) -> Result<(), Error> {
    target
        .ec2
        .describe_instances()
        .max_results(5)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::DescribeInstances, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        InstanceNetworkInterface, InstanceNetworkInterfaceAssociation, InstancePrivateIpAddress,
        InstanceState as SdkState, InstanceStateName,
    };

    #[test]
    fn chunks_never_exceed_ec2_limit() {
        for n in [0usize, 1, 199, 200, 201, 900, 1000] {
            let ids: Vec<String> = (0..n).map(|i| format!("i-{i:017x}")).collect();
            let chunks: Vec<&[String]> = chunk_ids(&ids).collect();
            assert!(chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= MAX_IDS_PER_CALL));
            assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), n);
            assert_eq!(chunks.len(), n.div_ceil(MAX_IDS_PER_CALL));
        }
    }

    #[test]
    fn every_ipv4_of_every_interface() {
        let assoc = |ip: &str| {
            InstanceNetworkInterfaceAssociation::builder()
                .public_ip(ip)
                .build()
        };
        let inst = Instance::builder()
            .instance_id("i-0123456789abcdef0")
            .state(SdkState::builder().name(InstanceStateName::Running).build())
            .private_ip_address("10.0.0.1")
            .public_ip_address("54.0.0.1")
            .network_interfaces(
                InstanceNetworkInterface::builder()
                    .private_ip_address("10.0.0.1")
                    .private_ip_addresses(
                        InstancePrivateIpAddress::builder()
                            .private_ip_address("10.0.0.1")
                            .build(),
                    )
                    .private_ip_addresses(
                        InstancePrivateIpAddress::builder()
                            .private_ip_address("10.0.0.2")
                            .association(assoc("3.3.3.3"))
                            .build(),
                    )
                    .build(),
            )
            .network_interfaces(
                InstanceNetworkInterface::builder()
                    .private_ip_address("10.1.0.1")
                    .association(assoc("4.4.4.4"))
                    .build(),
            )
            .instance_lifecycle(InstanceLifecycleType::Spot)
            .build();
        let o = observe(&inst).unwrap();
        assert_eq!(
            o.ipv4,
            ["10.0.0.1", "54.0.0.1", "10.0.0.2", "3.3.3.3", "10.1.0.1", "4.4.4.4"]
        );
        assert_eq!(o.state, InstanceState::Running);
        assert!(o.spot);
    }

    #[test]
    fn an_unreadable_instance_is_an_error_with_its_raw_values_never_gone() {
        let exploded = Instance::builder()
            .instance_id("i-0123456789abcdef0")
            .state(
                SdkState::builder()
                    .name(InstanceStateName::from("exploded"))
                    .build(),
            )
            .build();
        let e = observe(&exploded).unwrap_err().to_string();
        assert!(
            e.contains("exploded") && e.contains("i-0123456789abcdef0"),
            "{e}"
        );
        let stateless = Instance::builder()
            .instance_id("i-0123456789abcdef0")
            .build();
        assert!(observe(&stateless).is_err());
        let nameless = Instance::builder()
            .state(SdkState::builder().name(InstanceStateName::Running).build())
            .build();
        assert!(observe(&nameless).is_err());
    }
}
