//! EC2's scheduled events (DescribeInstanceStatus): the pending ones of a target's instances, and
//! every one EC2 still describes, with whether it is over.

use std::time::SystemTime;

use aws_sdk_ec2::types::Filter;

use crate::aws::Target;
use crate::error::{Error, Operation};
use crate::model::budget::Family;
use crate::model::scheduled::Pending;

/// The pending scheduled events of one target (`ids`: only those instances).
pub async fn pending(target: &Target, ids: &[String]) -> Result<Vec<Pending>, Error> {
    let events = scheduled_events(target, ids).await?;
    Ok(events
        .into_iter()
        .filter(|(_, over)| !over)
        .map(|(p, _)| p)
        .collect())
}

/// Every scheduled event EC2 describes in one target (`ids`: only those instances), with whether
/// it is over (`[Completed]` or `[Canceled]`: EC2 describes a completed event for up to a week).
pub async fn scheduled_events(
    target: &Target,
    ids: &[String],
) -> Result<Vec<(Pending, bool)>, Error> {
    target.guarded(scheduled_events_now(target, ids)).await
}

async fn scheduled_events_now(
    target: &Target,
    ids: &[String],
) -> Result<Vec<(Pending, bool)>, Error> {
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
    // Spend only for a page that will be asked for: none after the last (no next token).
    let mut more = true;
    while more {
        target.ec2.spend(Family::Ec2Describe).await;
        let Some(page) = pages.next().await else {
            break;
        };
        let page = page.map_err(|e| {
            Error::aws(Operation::DescribeInstanceStatus, e).at(&target.account, &target.region)
        })?;
        more = page.next_token().is_some_and(|t| !t.is_empty());
        for status in page.instance_statuses() {
            let Some(id) = status.instance_id() else {
                continue;
            };
            for ev in status.events() {
                let (Some(code), Some(not_before)) = (ev.code(), ev.not_before()) else {
                    continue;
                };
                let Ok(not_before) = SystemTime::try_from(*not_before) else {
                    continue;
                };
                let over = crate::model::scheduled::cancelled(ev.description().unwrap_or_default());
                let event = Pending {
                    instance_id: id.to_string(),
                    event_id: ev.instance_event_id().map(str::to_string),
                    code: code.as_str().to_string(),
                    not_before,
                    account: target.account.clone(),
                    region: target.region.clone(),
                };
                out.push((event, over));
            }
        }
    }
    Ok(out)
}
