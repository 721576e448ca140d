//! What the worker knows of each service's registrations between listings, so the event path pays
//! Cloud Map per event, not per service. A listing holds every registration made before it began;
//! Cloud Map's instances revision (DiscoverInstancesRevision, a data-plane call with its own far
//! larger quota) unchanged since the listing extends that to the moment it was read. An event
//! needs every registration made before its time (a terminated instance registers nothing after):
//! a listing that covers it is used as is, one the revision vouches for after one cheap call, and
//! otherwise the service is listed again, once for every batch waiting on it (single-flight: the
//! caller holds `Context::plan_alone`, so a batch that waited finds the listing made meanwhile).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::aws::cloudmap;
use crate::engine::context::Context;
use crate::engine::state::{Listing, Names};
use crate::error::Error;
use crate::model::domain::cloudmap_owner;
use crate::model::plan::Registration;
use crate::telemetry::emit::Failure;

/// AWS's clock against ours (both synchronized; Amazon Time Sync keeps an instance or task within
/// milliseconds).
pub const CLOCK_SLACK: Duration = Duration::from_millis(200);

/// The moment an event's registrations must be complete as of: when its instance was gone. That is
/// before the event's time (given to the second, truncated: before its second's end), before SQS
/// received it (its SentTimestamp, to the millisecond), each on AWS's clock, and before the batch
/// holding it was received here.
pub fn needed(
    event_time: Option<SystemTime>,
    sent_at: Option<SystemTime>,
    received: SystemTime,
) -> SystemTime {
    let by_time = event_time.map(|t| t + Duration::from_secs(1) + CLOCK_SLACK);
    let by_sqs = sent_at.map(|t| t + CLOCK_SLACK);
    [by_time, by_sqs]
        .into_iter()
        .flatten()
        .fold(received, SystemTime::min)
}

/// How a service's registrations were had for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The last listing covered the event: no call.
    Listing,
    /// The revision was unchanged since the last listing: one DiscoverInstancesRevision.
    Revision,
    /// Listed again (ListInstances).
    Listed,
}

/// What a listing starts from: its time, and the revision read first (only where there is an event
/// path: a single run or a worker without a queue never asks).
pub async fn begin(ctx: &Context, service_id: &str) -> (SystemTime, Option<i64>) {
    let began = SystemTime::now();
    let revision = match ctx.config.queue {
        Some(_) => revision(ctx, service_id).await,
        None => None,
    };
    (began, revision)
}

/// Records a listing begun at `began` for the event path (kept only where there is one: a single run
/// or a worker without a queue holds no service's registrations beyond its sync).
pub fn record(
    ctx: &Context,
    service_id: &str,
    (began, revision): (SystemTime, Option<i64>),
    registrations: Vec<Registration>,
) -> Arc<Listing> {
    let listing = Listing {
        began,
        revision,
        vouched: began,
        registrations: Arc::new(registrations),
    };
    match ctx.config.queue {
        Some(_) => ctx.state.store_listing(service_id, listing),
        None => Arc::new(listing),
    }
}

/// Lists `service_id` and records the listing.
pub async fn list(ctx: &Context, service_id: &str) -> Result<Arc<Listing>, Error> {
    let start = begin(ctx, service_id).await;
    let registrations = cloudmap::list_registrations(&ctx.cloudmap, service_id).await?;
    Ok(record(ctx, service_id, start, registrations))
}

/// The registrations of `service_id`, with every one made before `needed`, and how they were had.
/// Called under `Context::plan_alone(service_id)`: one listing at a time per service.
pub async fn complete_as_of(
    ctx: &Context,
    service_id: &str,
    needed: SystemTime,
) -> Result<(Arc<Listing>, Source), Error> {
    if let Some(known) = ctx.state.listing(service_id) {
        if known.covers(needed) {
            return Ok((known, Source::Listing));
        }
        if let Some(before) = known.revision {
            let asked = SystemTime::now();
            if revision(ctx, service_id).await == Some(before) {
                ctx.state.vouch(service_id, before, asked);
                if let Some(now) = ctx.state.listing(service_id).filter(|l| l.covers(needed)) {
                    return Ok((now, Source::Revision));
                }
            }
        }
    }
    Ok((list(ctx, service_id).await?, Source::Listed))
}

/// The service's instances revision, or `None` when it cannot be read (counted, and logged when it
/// starts failing; the caller then lists).
async fn revision(ctx: &Context, service_id: &str) -> Option<i64> {
    let asked = async {
        let names = names(ctx, service_id).await?;
        cloudmap::revision(&ctx.cloudmap, &names.namespace, &names.service, names.owner).await
    };
    let answer = asked.await;
    let newly = ctx.state.revision_read(service_id, answer.is_ok());
    match answer {
        Ok(r) => r,
        // Logged when it starts failing (a role without the permission would otherwise log every
        // service on every batch); counted every time.
        Err(e) if newly => {
            ctx.failed(Failure::Revision { service_id }, &e);
            None
        }
        Err(e) => {
            ctx.counted(&e);
            None
        }
    }
}

/// The names a service is discovered by (GetService, GetNamespace; asked once per service).
async fn names(ctx: &Context, service_id: &str) -> Result<Names, Error> {
    if let Some(n) = ctx.state.names(service_id) {
        return Ok(n);
    }
    let service = cloudmap::service(&ctx.cloudmap, service_id).await?;
    let namespace_ref = cloudmap::namespace_ref(service_id, &service.namespace_id);
    let namespace = cloudmap::namespace(&ctx.cloudmap, &namespace_ref).await?;
    let names = Names {
        namespace: namespace.name,
        service: service.name,
        owner: cloudmap_owner(service_id).map(str::to_string),
    };
    ctx.state.set_names(service_id, names.clone());
    Ok(names)
}

/// The largest DNS TTL of `service_id` (GetService, trusted for five minutes): how long clients may
/// keep resolving a registration after it is gone. A service that no longer exists has no clients
/// left to wait for: zero.
pub async fn dns_ttl(ctx: &Context, service_id: &str) -> Result<Duration, Error> {
    if let Some(ttl) = ctx.state.fresh_ttl(service_id) {
        return Ok(ttl);
    }
    let ttl = match cloudmap::service(&ctx.cloudmap, service_id).await {
        Ok(s) => s.dns_ttl,
        Err(Error::Missing { .. }) => Duration::ZERO,
        Err(e) => return Err(e),
    };
    ctx.state.set_ttl(service_id, ttl);
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_needs_what_was_made_before_its_second_ended_sqs_had_it_or_it_was_received() {
        let at = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        // Received long after: the event's second, plus slack.
        assert_eq!(needed(Some(at(10_000)), None, at(60_000)), at(11_200));
        // SQS had it 300 ms into that second: sooner.
        assert_eq!(
            needed(Some(at(10_000)), Some(at(10_300)), at(60_000)),
            at(10_500)
        );
        // Received within its second: the termination was before the receipt.
        assert_eq!(needed(Some(at(10_000)), None, at(10_400)), at(10_400));
        assert_eq!(needed(None, None, at(10_400)), at(10_400));
    }
}
