//! What the worker knows of each service's registrations between listings, so the event path pays
//! Cloud Map per event, not per service. A listing holds every registration made before it began;
//! Cloud Map's instances revision (DiscoverInstancesRevision, a data-plane call with its own far
//! larger quota) unchanged since the listing extends that to the moment it was read. An event
//! needs every registration made before its time (a terminated instance registers nothing after):
//! a listing that covers it is used as is, one the revision vouches for after one cheap call, and
//! otherwise the service is listed again, once for every batch waiting on it (single-flight: the
//! caller holds `Context::plan_alone`, so a batch that waited finds the listing made meanwhile).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::aws::cloudmap;
use crate::engine::context::{lock, Context};
use crate::error::{Error, Operation};
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

/// One listing of a service's registrations.
#[derive(Debug, Clone)]
pub struct Listing {
    /// When the listing (and the revision read before it) began.
    pub began: SystemTime,
    /// Cloud Map's instances revision read just before the listing, if it could be read.
    pub revision: Option<i64>,
    /// The latest time the revision was read unchanged (the listing was complete then too).
    pub vouched: SystemTime,
    pub registrations: Arc<Vec<Registration>>,
}

impl Listing {
    /// Whether every registration made before `needed` is in the listing.
    pub fn covers(&self, needed: SystemTime) -> bool {
        needed <= self.began.max(self.vouched)
    }
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

/// The namespace and service names DiscoverInstancesRevision asks by, with the owner account of a
/// shared namespace.
#[derive(Debug, Clone)]
struct Names {
    namespace: String,
    service: String,
    owner: Option<String>,
}

#[derive(Default)]
pub struct Index {
    listings: Mutex<HashMap<String, Arc<Listing>>>,
    names: Mutex<HashMap<String, Names>>,
    /// Services whose revision could not be read last time (their failure is logged once).
    unreadable: Mutex<std::collections::HashSet<String>>,
}

impl Index {
    pub fn get(&self, service_id: &str) -> Option<Arc<Listing>> {
        lock(&self.listings).get(service_id).cloned()
    }

    fn store(&self, service_id: &str, listing: Listing) -> Arc<Listing> {
        let listing = Arc::new(listing);
        let mut all = lock(&self.listings);
        // A slower listing that began earlier never replaces a newer one.
        if all.get(service_id).is_none_or(|l| l.began <= listing.began) {
            all.insert(service_id.to_string(), listing.clone());
        }
        listing
    }

    fn vouch(&self, service_id: &str, revision: i64, at: SystemTime) {
        let mut all = lock(&self.listings);
        if let Some(l) = all.get_mut(service_id) {
            if l.revision == Some(revision) && l.vouched < at {
                let mut newer = (**l).clone();
                newer.vouched = at;
                *l = Arc::new(newer);
            }
        }
    }
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
        Some(_) => ctx.index.store(service_id, listing),
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
    if let Some(known) = ctx.index.get(service_id) {
        if known.covers(needed) {
            return Ok((known, Source::Listing));
        }
        if let Some(before) = known.revision {
            let asked = SystemTime::now();
            if revision(ctx, service_id).await == Some(before) {
                ctx.index.vouch(service_id, before, asked);
                if let Some(now) = ctx.index.get(service_id).filter(|l| l.covers(needed)) {
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
        ctx.cloudmap
            .discover_instances_revision()
            .namespace_name(&names.namespace)
            .service_name(&names.service)
            .set_owner_account(names.owner.clone())
            .send()
            .await
            .map_err(|e| Error::aws(Operation::DiscoverInstancesRevision, e))
            .map(|out| out.instances_revision())
    };
    let answer = asked.await;
    let newly = match &answer {
        Ok(_) => {
            lock(&ctx.index.unreadable).remove(service_id);
            false
        }
        Err(_) => lock(&ctx.index.unreadable).insert(service_id.to_string()),
    };
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
    if let Some(n) = lock(&ctx.index.names).get(service_id) {
        return Ok(n.clone());
    }
    let service = ctx
        .cloudmap
        .get_service()
        .id(service_id)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::GetService, e))?;
    let service = service.service().ok_or_else(|| Error::Missing {
        kind: crate::model::domain::SelectionKind::Service,
        id: service_id.to_string(),
    })?;
    let owner = cloudmap_owner(service_id).map(str::to_string);
    let namespace_id = service.namespace_id().unwrap_or_default();
    // A shared namespace is asked for by ARN, in its owner's account.
    let namespace_ref = match (&owner, service_id.rsplit_once(":service/")) {
        (Some(_), Some((prefix, _))) => format!("{prefix}:namespace/{namespace_id}"),
        _ => namespace_id.to_string(),
    };
    let namespace = ctx
        .cloudmap
        .get_namespace()
        .id(&namespace_ref)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::GetNamespace, e))?;
    let names = Names {
        namespace: namespace
            .namespace()
            .and_then(|n| n.name())
            .unwrap_or_default()
            .to_string(),
        service: service.name().unwrap_or_default().to_string(),
        owner,
    };
    lock(&ctx.index.names).insert(service_id.to_string(), names.clone());
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(began: u64, vouched: u64) -> Listing {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        Listing {
            began: at(began),
            revision: Some(7),
            vouched: at(vouched),
            registrations: Arc::default(),
        }
    }

    #[test]
    fn a_listing_covers_what_was_made_before_it_began_or_was_vouched_for() {
        let at = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let l = listing(100, 100);
        assert!(l.covers(at(99_000)) && l.covers(at(100_000)));
        assert!(!l.covers(at(100_001)));
        // The revision read unchanged at 130 s stands for a listing made then.
        assert!(listing(100, 130).covers(at(129_000)));
        assert!(!listing(100, 130).covers(at(131_000)));
    }

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

    #[test]
    fn an_older_listing_never_replaces_a_newer_one_and_vouching_needs_the_same_revision() {
        let index = Index::default();
        index.store("srv-1", listing(200, 200));
        index.store("srv-1", listing(100, 100));
        let began = |i: &Index| i.get("srv-1").unwrap().began;
        assert_eq!(began(&index), listing(200, 200).began);
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(300);
        index.vouch("srv-1", 8, later);
        assert_eq!(
            index.get("srv-1").unwrap().vouched,
            listing(200, 200).vouched
        );
        index.vouch("srv-1", 7, later);
        assert_eq!(index.get("srv-1").unwrap().vouched, later);
    }
}
