//! Selection for `decommission`: the instances its validated `Settings` match (by tag and id, in
//! every account and region), each with its Auto Scaling group and every registration whose target
//! it is; and the holds on them (a group member without `--detach`, a drain that would empty a
//! service without `--allow-empty-service`).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, Instance};
use futures::stream::{self, StreamExt};

use super::{Candidate, DecommissionError, Hold};
use crate::aws::Target;
use crate::aws::{autoscaling, cloudmap, ec2};
// Validated in `config` (`main` refuses bad flags before `run`); `steps` names it through here.
pub(super) use crate::config::decommission::Settings;
use crate::model::domain::InstanceState;

/// The candidate an instance of `target` makes, or `None` without an id or a known state.
fn candidate(target: &Target, inst: &Instance) -> Option<Candidate> {
    let id = inst.instance_id()?;
    let state = InstanceState::parse(inst.state()?.name()?.as_str())?;
    let ebs: Vec<(String, String, bool)> = inst
        .block_device_mappings()
        .iter()
        .filter_map(|m| {
            let ebs = m.ebs()?;
            Some((
                m.device_name()?.to_string(),
                ebs.volume_id()?.to_string(),
                ebs.delete_on_termination().unwrap_or(false),
            ))
        })
        .collect();
    Some(Candidate {
        target: target.clone(),
        instance_id: id.to_string(),
        name: inst
            .tags()
            .iter()
            .find(|t| t.key() == Some("Name"))
            .and_then(|t| t.value())
            .map(str::to_string),
        state,
        devices: ebs.iter().map(|(d, _, _)| d.clone()).collect(),
        kept_volumes: ebs
            .iter()
            .filter(|(_, _, deleted)| !deleted)
            .map(|(_, v, _)| v.clone())
            .collect(),
        volumes: ebs.into_iter().map(|(_, v, _)| v).collect(),
        registrations: Vec::new(),
        group: None,
        hold: unstoppable(inst).filter(|_| {
            !matches!(
                state,
                InstanceState::ShuttingDown | InstanceState::Terminated
            )
        }),
    })
}

/// Why EC2 would refuse to stop the instance (or its termination would bring a replacement), read
/// at discovery so it is refused before its drain: an instance-store root, a Spot instance.
fn unstoppable(inst: &Instance) -> Option<Hold> {
    use aws_sdk_ec2::types::{DeviceType, InstanceLifecycleType};
    if inst.root_device_type() == Some(&DeviceType::InstanceStore) {
        return Some(Hold::InstanceStoreRoot);
    }
    let spot = inst.instance_lifecycle() == Some(&InstanceLifecycleType::Spot)
        || inst.spot_instance_request_id().is_some();
    spot.then_some(Hold::Spot)
}

/// Every instance matching the selection in every target, `--concurrency` targets at a time.
pub async fn discover(
    targets: &[Target],
    s: &Settings,
) -> Result<Vec<Candidate>, DecommissionError> {
    let mut filters: Vec<Filter> = s
        .tags
        .iter()
        .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
        .collect();
    if !s.instance_ids.is_empty() {
        filters.push(
            Filter::builder()
                .name("instance-id")
                .set_values(Some(s.instance_ids.clone()))
                .build(),
        );
    }
    let jobs: Vec<_> = targets
        .iter()
        .map(|t| {
            let filters = filters.clone();
            async move {
                let found = ec2::describe_where(t, filters).await.map_err(|source| {
                    DecommissionError::Discover {
                        account: t.account.clone(),
                        region: t.region.clone(),
                        source: Box::new(source),
                    }
                })?;
                Ok::<_, DecommissionError>(
                    found
                        .iter()
                        .filter_map(|i| candidate(t, i))
                        .collect::<Vec<_>>(),
                )
            }
        })
        .collect();
    let found: Vec<Result<Vec<Candidate>, DecommissionError>> = stream::iter(jobs)
        .buffer_unordered(s.concurrency)
        .collect()
        .await;
    let mut all = Vec::new();
    for f in found {
        all.extend(f?);
    }
    mark_groups(targets, &mut all, s).await?;
    all.sort_by(|a, b| {
        (a.target.account.as_str(), &a.target.region, &a.instance_id).cmp(&(
            b.target.account.as_str(),
            &b.target.region,
            &b.instance_id,
        ))
    });
    Ok(all)
}

/// Marks each live candidate's Auto Scaling group (held unless `--detach`). A group that cannot be
/// read stops the command: retiring a member in place would have the group replace it.
async fn mark_groups(
    targets: &[Target],
    found: &mut [Candidate],
    s: &Settings,
) -> Result<(), DecommissionError> {
    for t in targets {
        let ids: Vec<String> = found
            .iter()
            .filter(|c| same_target(&c.target, t) && c.state != InstanceState::Terminated)
            .map(|c| c.instance_id.clone())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let groups = autoscaling::groups_of(&t.autoscaling, &ids)
            .await
            .map_err(|source| DecommissionError::Groups {
                account: t.account.clone(),
                region: t.region.clone(),
                source: Box::new(source),
            })?;
        for c in found.iter_mut().filter(|c| same_target(&c.target, t)) {
            let Some(member) = groups.get(&c.instance_id) else {
                continue;
            };
            c.group = Some(member.group.clone());
            if c.hold.is_some() {
                continue;
            }
            if !s.detach {
                c.hold = Some(Hold::AutoScaling(member.group.clone()));
            } else if member.lifecycle_state == "Standby" {
                c.hold = Some(Hold::Standby(member.group.clone()));
            }
        }
    }
    Ok(())
}

fn same_target(a: &Target, b: &Target) -> bool {
    a.account == b.account && a.region == b.region
}

/// Marks, for each candidate, every registration of the selected services whose target it is
/// (registered under its EC2 id, or under another name with `AWS_EC2_INSTANCE_ID`); then holds the
/// candidates whose drain would leave a service empty, unless `--allow-empty-service`.
pub async fn find_registrations(
    client: &aws_sdk_servicediscovery::Client,
    s: &Settings,
    found: &mut [Candidate],
) -> Result<(), DecommissionError> {
    let mut services = s.service_ids.clone();
    for ns in &s.namespace_ids {
        services.extend(
            cloudmap::list_services(client, ns)
                .await
                .map_err(DecommissionError::Registrations)?,
        );
    }
    let mut totals = BTreeMap::new();
    for svc in services {
        let regs = cloudmap::list_registrations(client, &svc)
            .await
            .map_err(DecommissionError::Registrations)?;
        totals.insert(svc.clone(), regs.len());
        for r in regs {
            for c in found.iter_mut().filter(|c| c.instance_id == r.target()) {
                c.registrations.push((svc.clone(), r.instance_id.clone()));
            }
        }
    }
    if !s.allow_empty_service {
        hold_emptying(&totals, found);
    }
    Ok(())
}

/// The never-empty rule: every candidate not held already whose drain, with the others', would
/// remove the last registration of a service is held, naming that service.
fn hold_emptying(totals: &BTreeMap<String, usize>, found: &mut [Candidate]) {
    let mut leaving: BTreeMap<&str, usize> = BTreeMap::new();
    for c in found.iter().filter(|c| c.hold.is_none()) {
        for (svc, _) in &c.registrations {
            *leaving.entry(svc.as_str()).or_default() += 1;
        }
    }
    let emptied: BTreeSet<String> = leaving
        .into_iter()
        .filter(|(svc, n)| totals.get(*svc).is_some_and(|total| n >= total))
        .map(|(svc, _)| svc.to_string())
        .collect();
    for c in found.iter_mut().filter(|c| c.hold.is_none()) {
        if let Some((svc, _)) = c.registrations.iter().find(|(s, _)| emptied.contains(s)) {
            c.hold = Some(Hold::EmptyService(svc.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::domain::Account;

    fn candidate(id: &str, registrations: &[(&str, &str)]) -> Candidate {
        let conf = aws_config::SdkConfig::builder()
            .behavior_version(crate::aws::behavior_version())
            .build();
        Candidate {
            target: Target {
                account: Account::Home,
                region: "eu-west-1".into(),
                ec2: aws_sdk_ec2::Client::new(&conf),
                autoscaling: aws_sdk_autoscaling::Client::new(&conf),
                breaker: None,
            },
            instance_id: id.into(),
            name: None,
            state: InstanceState::Running,
            volumes: vec![],
            kept_volumes: vec![],
            devices: vec![],
            registrations: registrations
                .iter()
                .map(|(s, r)| (s.to_string(), r.to_string()))
                .collect(),
            group: None,
            hold: None,
        }
    }

    #[test]
    fn an_instance_ec2_cannot_stop_is_held_at_discovery() {
        use aws_sdk_ec2::types::{DeviceType, InstanceLifecycleType, InstanceStateName};
        let target = candidate("i-1", &[]).target;
        let inst = |state: InstanceStateName| {
            Instance::builder().instance_id("i-1").state(
                aws_sdk_ec2::types::InstanceState::builder()
                    .name(state)
                    .build(),
            )
        };
        let hold = |i: Instance| super::candidate(&target, &i).unwrap().hold;
        let running = || inst(InstanceStateName::Running);
        assert_eq!(
            hold(running().root_device_type(DeviceType::Ebs).build()),
            None
        );
        assert_eq!(
            hold(
                running()
                    .root_device_type(DeviceType::InstanceStore)
                    .build()
            ),
            Some(Hold::InstanceStoreRoot)
        );
        let spot = |i: aws_sdk_ec2::types::builders::InstanceBuilder| {
            i.instance_lifecycle(InstanceLifecycleType::Spot).build()
        };
        assert_eq!(hold(spot(running())), Some(Hold::Spot));
        assert_eq!(
            hold(spot(inst(InstanceStateName::Stopped))),
            Some(Hold::Spot)
        );
        // Gone already: skipped as usual, not refused.
        assert_eq!(hold(spot(inst(InstanceStateName::Terminated))), None);
    }

    #[test]
    fn a_drain_that_would_empty_a_service_is_held_and_names_it() {
        let totals = BTreeMap::from([("srv-a".to_string(), 2), ("srv-b".to_string(), 3)]);
        let mut found = vec![
            candidate("i-1", &[("srv-a", "i-1"), ("srv-b", "i-1")]),
            candidate("i-2", &[("srv-a", "web-2")]),
            candidate("i-3", &[("srv-b", "i-3")]),
        ];
        hold_emptying(&totals, &mut found);
        let holds: Vec<Option<Hold>> = found.iter().map(|c| c.hold.clone()).collect();
        let empty_a = Some(Hold::EmptyService("srv-a".into()));
        assert_eq!(holds, [empty_a.clone(), empty_a, None]);

        // A member already held (Auto Scaling) stays registered: the others may go.
        let mut found = vec![
            candidate("i-1", &[("srv-a", "i-1")]),
            candidate("i-2", &[("srv-a", "web-2")]),
        ];
        found[0].hold = Some(Hold::AutoScaling("web-asg".into()));
        hold_emptying(&totals, &mut found);
        assert_eq!(found[1].hold, None);
    }
}
