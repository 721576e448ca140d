//! The state table replicas share (`--state-table`, DynamoDB): the reconcile lease that makes a
//! scheduled cycle one cycle among all replicas, when the last cycle started (for the backstop), the
//! services it selected, and each service's last successful reconcile (for every replica's metrics
//! and readiness), and the registrations waiting to be put back after a scheduled reboot or
//! maintenance (so a restart does not lose them). Every write to the cycle and service items is
//! conditional, so replicas never undo each other's news.
//!
//! Items (partition key `pk`, a string): `cycle` {holder, until, started, finished, services,
//! every}, `service#<id>` {succeeded} and `putback#<service id>#<registration id>` {record: the
//! put-back as JSON}; times are Unix milliseconds.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::error::{Error, Operation};
use crate::model::scheduled::PutBack;

const KEY: &str = "pk";
const CYCLE: &str = "cycle";
const SERVICE_PREFIX: &str = "service#";
const PUT_BACK_PREFIX: &str = "putback#";

/// What the table says of the fleet's reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub cycle: Option<CycleRecord>,
    /// Each service's last successful reconcile, by any replica.
    pub succeeded: HashMap<String, SystemTime>,
}

/// The latest cycle of any replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleRecord {
    pub started: SystemTime,
    pub finished: Option<SystemTime>,
    /// Until when its holder keeps the lease (renewed while it runs; the Unix epoch once released).
    pub until: SystemTime,
    /// The services it selected (written when it finished).
    pub services: Vec<String>,
    /// The schedule's period, as its reconcile message said (`every`).
    pub every: Option<Duration>,
}

/// The table, and who this replica is in it.
#[derive(Debug, Clone)]
pub struct StateTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
    holder: String,
}

fn millis(t: SystemTime) -> AttributeValue {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    AttributeValue::N(ms.to_string())
}

fn time(item: &HashMap<String, AttributeValue>, name: &str) -> Option<SystemTime> {
    let ms = item.get(name)?.as_n().ok()?.parse::<u64>().ok()?;
    Some(UNIX_EPOCH + Duration::from_millis(ms))
}

impl StateTable {
    /// `holder` names this replica in the lease (unique per process).
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> StateTable {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        StateTable {
            client,
            table: table.to_string(),
            holder: format!("{host}/{}/{:016x}", std::process::id(), fastrand::u64(..)),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Takes the cycle lease until `now + lease` when nobody holds it and no cycle started since
    /// `cutoff` (a later start covers the caller's reason to run). `Ok(false)`: someone else runs
    /// or ran it. A write whose answer was lost and that the SDK retried fails its condition on
    /// the lease it took itself: the item then names this replica and this start, and the lease
    /// is ours (found by the chaos benchmark).
    pub async fn begin(
        &self,
        now: SystemTime,
        cutoff: SystemTime,
        lease: Duration,
        every: Option<Duration>,
    ) -> Result<bool, Error> {
        let mut update = "SET holder = :me, #until = :until, started = :now".to_string();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(CYCLE.into()))
            .condition_expression(
                "(attribute_not_exists(#until) OR #until < :now) \
                 AND (attribute_not_exists(started) OR started < :cutoff)",
            )
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":me", AttributeValue::S(self.holder.clone()))
            .expression_attribute_values(":until", millis(now + lease))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":cutoff", millis(cutoff))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(every) = every {
            update.push_str(", every = :every");
            request = request.expression_attribute_values(
                ":every",
                AttributeValue::N(every.as_secs().to_string()),
            );
        }
        match request.update_expression(update).send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(failed
                    .item()
                    .is_some_and(|item| took(item, &self.holder, now))),
                _ => Err(Error::aws(Operation::UpdateItem, e)),
            },
        }
    }

    /// An update of the cycle item `SET`ting `set` (which may use `#until`), made only while this
    /// replica holds the lease.
    async fn while_held(
        &self,
        set: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), Error> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(CYCLE.into()))
            .update_expression(format!("SET {set}"))
            .condition_expression("holder = :me")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":me", AttributeValue::S(self.holder.clone()));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(Operation::UpdateItem, e))
    }

    /// Keeps the lease until `now + lease` (only while this replica holds it).
    pub async fn renew(&self, now: SystemTime, lease: Duration) -> Result<(), Error> {
        self.while_held("#until = :until", vec![(":until", millis(now + lease))])
            .await
    }

    /// Releases the lease and records the cycle's end and the services it selected.
    pub async fn finish(&self, now: SystemTime, services: &[String]) -> Result<(), Error> {
        let list = services
            .iter()
            .map(|s| AttributeValue::S(s.clone()))
            .collect();
        self.while_held(
            "#until = :zero, finished = :now, services = :services",
            vec![
                (":zero", AttributeValue::N("0".into())),
                (":now", millis(now)),
                (":services", AttributeValue::L(list)),
            ],
        )
        .await
    }

    /// Records a successful reconcile of `service_id` at `at`; an older time never overwrites a
    /// newer one (replicas finish in any order).
    pub async fn succeeded(&self, service_id: &str, at: SystemTime) -> Result<(), Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                KEY,
                AttributeValue::S(format!("{SERVICE_PREFIX}{service_id}")),
            )
            .update_expression("SET succeeded = :at")
            .condition_expression("attribute_not_exists(succeeded) OR succeeded < :at")
            .expression_attribute_values(":at", millis(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(Error::aws(Operation::UpdateItem, e)),
        }
    }

    /// Reads the whole table (one item per service and the cycle's: a page holds thousands).
    pub async fn read(&self) -> Result<Snapshot, Error> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut snapshot = Snapshot::default();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| Error::aws(Operation::Scan, e))?;
            let Some(Ok(key)) = item.get(KEY).map(AttributeValue::as_s) else {
                continue;
            };
            if key == CYCLE {
                snapshot.cycle = cycle(&item);
            } else if let Some(service) = key.strip_prefix(SERVICE_PREFIX) {
                if let Some(at) = time(&item, "succeeded") {
                    snapshot.succeeded.insert(service.to_string(), at);
                }
            }
        }
        Ok(snapshot)
    }
}

impl StateTable {
    /// Keeps a registration to put back (replacing an earlier record of the same registration).
    /// UpdateItem, like every other write here: the worker's policy needs no other action.
    pub async fn keep_put_back(&self, put_back: &PutBack) -> Result<(), Error> {
        let record = serde_json::to_string(put_back).unwrap_or_default();
        self.put_back_item(put_back, "SET #record = :record")
            .expression_attribute_values(":record", AttributeValue::S(record))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(Operation::UpdateItem, e))
    }

    /// Forgets a put-back (done, or dropped): its record is removed, the bare key stays (the same
    /// registration's next put-back reuses it).
    pub async fn forget_put_back(&self, put_back: &PutBack) -> Result<(), Error> {
        self.put_back_item(put_back, "REMOVE #record")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws(Operation::UpdateItem, e))
    }

    fn put_back_item(
        &self,
        put_back: &PutBack,
        update: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let key = format!("{PUT_BACK_PREFIX}{}", put_back.key());
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key))
            .update_expression(update)
            // RECORD is one of DynamoDB's reserved words.
            .expression_attribute_names("#record", "record")
    }

    /// Every put-back the table keeps (a consistent scan of the put-back items only).
    pub async fn put_backs(&self) -> Result<Vec<PutBack>, Error> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .filter_expression("begins_with(pk, :prefix)")
            .expression_attribute_values(":prefix", AttributeValue::S(PUT_BACK_PREFIX.into()))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| Error::aws(Operation::Scan, e))?;
            let record = item.get("record").and_then(|v| v.as_s().ok());
            if let Some(p) = record.and_then(|r| serde_json::from_str(r).ok()) {
                out.push(p);
            }
        }
        Ok(out)
    }
}

/// Whether the cycle item is the one `holder`'s `begin` at `now` wrote (an earlier cycle of the same
/// replica has another start).
fn took(item: &HashMap<String, AttributeValue>, holder: &str, now: SystemTime) -> bool {
    item.get("holder")
        .and_then(|h| h.as_s().ok())
        .map(String::as_str)
        == Some(holder)
        && item.get("started") == Some(&millis(now))
}

fn cycle(item: &HashMap<String, AttributeValue>) -> Option<CycleRecord> {
    Some(CycleRecord {
        started: time(item, "started")?,
        finished: time(item, "finished"),
        until: time(item, "until").unwrap_or(UNIX_EPOCH),
        services: item
            .get("services")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        every: item
            .get("every")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .map(Duration::from_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_item_reads_back_and_a_partial_one_is_no_cycle() {
        let mut item = HashMap::new();
        item.insert(
            "started".to_string(),
            AttributeValue::N("1700000000123".into()),
        );
        item.insert("until".to_string(), AttributeValue::N("0".into()));
        item.insert("every".to_string(), AttributeValue::N("300".into()));
        item.insert(
            "services".to_string(),
            AttributeValue::L(vec![AttributeValue::S("srv-a".into())]),
        );
        let c = cycle(&item).unwrap();
        assert_eq!(
            c.started,
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
        );
        assert_eq!((c.finished, c.until), (None, UNIX_EPOCH));
        assert_eq!(c.services, vec!["srv-a".to_string()]);
        assert_eq!(c.every, Some(Duration::from_secs(300)));
        item.remove("started");
        assert_eq!(cycle(&item), None);
    }

    #[test]
    fn a_lease_is_ours_only_when_the_item_names_us_and_this_start() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let item = |holder: &str, started: SystemTime| {
            HashMap::from([
                ("holder".to_string(), AttributeValue::S(holder.into())),
                ("started".to_string(), millis(started)),
            ])
        };
        assert!(took(&item("me", now), "me", now));
        assert!(
            !took(&item("other", now), "me", now),
            "another replica's lease"
        );
        let earlier = now - Duration::from_secs(60);
        assert!(
            !took(&item("me", earlier), "me", now),
            "our own earlier cycle"
        );
        assert!(!took(&HashMap::new(), "me", now));
    }
}
