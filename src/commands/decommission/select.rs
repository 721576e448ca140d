//! Selection for `decommission`: the instances its validated `Settings` match (by tag and id, in
//! every account and region), with the Cloud Map services each one is registered in.

use std::collections::HashSet;

use aws_sdk_ec2::types::{Filter, Instance};
use futures::stream::{self, StreamExt};

use super::{Candidate, DecommissionError};
use crate::aws::Target;
use crate::aws::{cloudmap, ec2};
// Validated in `config` (`main` refuses bad flags before `run`); `steps` names it through here.
pub(super) use crate::config::decommission::Settings;
use crate::model::domain::InstanceState;

/// The candidate an instance of `target` makes, or `None` without an id or a known state.
fn candidate(target: &Target, inst: &Instance) -> Option<Candidate> {
    let id = inst.instance_id()?;
    let state = InstanceState::parse(inst.state()?.name()?.as_str())?;
    let ebs: Vec<(String, String)> = inst
        .block_device_mappings()
        .iter()
        .filter_map(|m| {
            Some((
                m.device_name()?.to_string(),
                m.ebs()?.volume_id()?.to_string(),
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
        devices: ebs.iter().map(|(d, _)| d.clone()).collect(),
        volumes: ebs.into_iter().map(|(_, v)| v).collect(),
        services: Vec::new(),
    })
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
    all.sort_by(|a, b| {
        (a.target.account.as_str(), &a.target.region, &a.instance_id).cmp(&(
            b.target.account.as_str(),
            &b.target.region,
            &b.instance_id,
        ))
    });
    Ok(all)
}

/// Marks, for each candidate, the selected services it is registered in.
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
    for svc in services {
        let ids: HashSet<String> = cloudmap::list_registrations(client, &svc)
            .await
            .map_err(DecommissionError::Registrations)?
            .into_iter()
            .map(|r| r.instance_id)
            .collect();
        for c in found.iter_mut().filter(|c| ids.contains(&c.instance_id)) {
            c.services.push(svc.clone());
        }
    }
    Ok(())
}
