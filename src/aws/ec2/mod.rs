//! EC2 inventory: describes instances by id, in chunks of at most 200 ids per DescribeInstances
//! filter (EC2's limit), across every (account, region) target concurrently, naming the targets
//! that did not answer.

mod asks;
pub mod retire;
mod scheduled;

pub use asks::{describe_asks, Answers};
pub use scheduled::{pending, scheduled_events};

use std::collections::HashMap;

use aws_sdk_ec2::types::{Filter, Instance, InstanceLifecycleType};
use futures::stream::{self, StreamExt};

use crate::aws::Target;
use crate::error::{Error, Operation};
use crate::model::age::state_transition_time;
use crate::model::budget::Family;
use crate::model::domain::{Account, InstanceState};
use crate::model::plan::ObservedInstance;

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
    target
        .guarded(describe_where_now(target, filters, false))
        .await
}

/// `prepaid`: the first page's budget is already spent (`describe_gathered`).
async fn describe_where_now(
    target: &Target,
    filters: Vec<Filter>,
    mut prepaid: bool,
) -> Result<Vec<Instance>, Error> {
    let mut pages = target
        .ec2
        .describe_instances()
        .set_filters(Some(filters))
        .max_results(1000)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    // Spend only for a page that will be asked for: none after the last (no next token).
    let mut more = true;
    while more {
        if !std::mem::take(&mut prepaid) {
            target.ec2.spend(Family::Ec2Describe).await;
        }
        let Some(page) = pages.next().await else {
            break;
        };
        let page = page.map_err(|e| {
            Error::aws(Operation::DescribeInstances, e).at(&target.account, &target.region)
        })?;
        more = page.next_token().is_some_and(|t| !t.is_empty());
        // Taken by value: the page is not needed afterwards, so nothing is copied.
        for reservation in page.reservations.unwrap_or_default() {
            out.extend(reservation.instances.unwrap_or_default());
        }
    }
    Ok(out)
}

/// Describes one chunk of ids in one target.
async fn describe_chunk(target: &Target, ids: &[String]) -> Result<Vec<ObservedInstance>, Error> {
    target.guarded(describe_chunk_now(target, ids, false)).await
}

/// Looks ids up in one target, the ids taken only once the budget lets the first call go:
/// `gather` is called after that call's token is spent, so a caller coalescing requests sends every
/// id asked for while the call waited for its turn (200 a call; more, in more calls). Returns the
/// ids gathered (also when the target's breaker refused the call: those fail) and EC2's answer.
/// Nothing gathered, nothing is sent (and the breaker hears nothing).
pub async fn describe_gathered(
    target: &Target,
    gather: impl FnOnce() -> Vec<String>,
) -> (Vec<String>, Result<Observed, Error>) {
    if let Some(b) = &target.breaker {
        if let Err(e) = b.check(std::time::Instant::now()) {
            return (gather(), Err(e));
        }
    }
    target.ec2.spend(Family::Ec2Describe).await;
    let ids = gather();
    if ids.is_empty() {
        return (ids, Ok(Observed::new()));
    }
    let answer = target
        .guarded(async {
            let mut observed = Observed::new();
            for (i, chunk) in chunk_ids(&ids).enumerate() {
                let found = describe_chunk_now(target, chunk, i == 0).await?;
                merge(
                    &mut observed,
                    found.into_iter().map(|o| (o.instance_id.clone(), vec![o])),
                );
            }
            Ok(observed)
        })
        .await;
    (ids, answer)
}

async fn describe_chunk_now(
    target: &Target,
    ids: &[String],
    prepaid: bool,
) -> Result<Vec<ObservedInstance>, Error> {
    let filter = Filter::builder()
        .name("instance-id")
        .set_values(Some(ids.to_vec()))
        .build();
    let found = describe_where_now(target, vec![filter], prepaid).await?;
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

/// A target that did not answer a lookup (its role cannot be assumed, AccessDenied, a region not
/// enabled, an outage past the SDK's retries).
#[derive(Debug)]
pub struct Unanswered {
    pub account: Account,
    pub region: String,
    pub error: Error,
}

/// What a lookup across targets came to: every answer, and the targets that did not answer. Only
/// what EC2 said is in `observed`; an id missing from it is "not found" only if `unanswered` is
/// empty.
#[derive(Debug, Default)]
pub struct Lookup {
    pub observed: Observed,
    pub unanswered: Vec<Unanswered>,
}

impl Lookup {
    /// Adds another lookup's answers; a target that failed in either stays unanswered (once).
    pub fn extend(&mut self, other: Lookup) {
        merge(&mut self.observed, other.observed);
        for u in other.unanswered {
            if !self.failed(&u.account, &u.region) {
                self.unanswered.push(u);
            }
        }
    }

    /// Whether that target failed this lookup.
    pub fn failed(&self, account: &Account, region: &str) -> bool {
        self.unanswered
            .iter()
            .any(|u| &u.account == account && u.region == region)
    }

    /// Every answer, or the first failure when any target did not answer.
    pub fn complete(mut self) -> Result<Observed, Error> {
        match self.unanswered.is_empty() {
            true => Ok(self.observed),
            false => Err(self.unanswered.swap_remove(0).error),
        }
    }
}

fn merge(into: &mut Observed, found: impl IntoIterator<Item = (String, Vec<ObservedInstance>)>) {
    for (id, seen) in found {
        into.entry(id).or_default().extend(seen);
    }
}

/// Describes `ids` in every target, `concurrency` calls at a time, and fails as a whole when any
/// target fails: an instance we could not look up must never be mistaken for one that is gone.
pub async fn describe(
    targets: &[Target],
    ids: &[String],
    concurrency: usize,
) -> Result<Observed, Error> {
    describe_each(targets, ids, concurrency).await.complete()
}

/// Describes `ids` in every target, `concurrency` calls at a time; a target that fails is named in
/// `unanswered` and the others' answers still count (positive evidence needs only its own target).
pub async fn describe_each(targets: &[Target], ids: &[String], concurrency: usize) -> Lookup {
    let mut lookup = Lookup::default();
    if ids.is_empty() {
        return lookup;
    }
    // Futures are collected first: a lazily mapped stream of borrowing closures is not provably
    // `Send` for every lifetime, which spawned tasks require.
    let mut jobs = Vec::new();
    for target in targets {
        for chunk in chunk_ids(ids) {
            jobs.push(async move { (target, describe_chunk(target, chunk).await) });
        }
    }
    let answers: Vec<_> = stream::iter(jobs)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (target, answer) in answers {
        match answer {
            Ok(found) => merge(
                &mut lookup.observed,
                found.into_iter().map(|i| (i.instance_id.clone(), vec![i])),
            ),
            Err(error) if !lookup.failed(&target.account, &target.region) => {
                lookup.unanswered.push(Unanswered {
                    account: target.account.clone(),
                    region: target.region.clone(),
                    error,
                })
            }
            Err(_) => {}
        }
    }
    lookup
}

/// Whether `target` may DescribeInstances: one call of at most five instances (a preflight probe).
pub async fn probe(target: &Target) -> Result<(), Error> {
    let call = async {
        target.ec2.spend(Family::Ec2Describe).await;
        target
            .ec2
            .describe_instances()
            .max_results(5)
            .send()
            .await
            .map_err(|e| {
                Error::aws(Operation::DescribeInstances, e).at(&target.account, &target.region)
            })?;
        Ok(())
    };
    target.guarded(call).await
}

#[cfg(test)]
mod tests;
