//! The undo record of every removal: what was removed (service, id, every attribute), why (reason,
//! trigger, EC2's evidence) and when. Written into the `deregistered` log line always, sent to an
//! EventBridge bus with `--audit-event-bus`, and read back by `cloud-unmap restore` from any of the
//! shapes it travels in.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The EventBridge `source` of audit events.
pub const SOURCE: &str = "cloud-unmap";
/// The EventBridge `detail-type` of audit events.
pub const DETAIL_TYPE: &str = "Registration Removed";
/// The message of the log line that carries the record.
pub const LOG_MESSAGE: &str = "deregistered";

/// Where EC2 saw the instance when the registration was judged (none: not found anywhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// The 12-digit account id (older records, or a worker that could not name its home
    /// account, say `home`).
    pub account: String,
    pub region: String,
    pub state: String,
}

/// One removed registration, with everything needed to put it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub service_id: String,
    pub instance_id: String,
    /// Every attribute it had, as Cloud Map returned them right before the removal.
    pub attributes: BTreeMap<String, String>,
    pub reason: String,
    pub trigger: String,
    pub evidence: Vec<Sighting>,
    /// RFC 3339.
    pub time: String,
}

impl Removal {
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn at(&self) -> Option<SystemTime> {
        crate::model::domain::parse_rfc3339(&self.time)
    }

    /// Reads a record from one line of any shape it travels in: the worker's JSON log line
    /// (`"message":"deregistered"` with a `record` object, or a string holding it in older lines),
    /// its text log line (`… record={…}`), an
    /// EventBridge event (`detail-type` "Registration Removed", the record as `detail`), or the
    /// record itself. Anything else is `None`.
    pub fn from_line(line: &str) -> Option<Removal> {
        let line = line.trim();
        if let Ok(doc) = serde_json::from_str::<Value>(line) {
            return Self::from_value(&doc);
        }
        // A text log line: the record is the JSON object after `record=`.
        let start = line.find("record={")? + "record=".len();
        let mut values = serde_json::Deserializer::from_str(&line[start..]).into_iter::<Removal>();
        values.next()?.ok()
    }

    fn from_value(doc: &Value) -> Option<Removal> {
        if doc["detail-type"] == DETAIL_TYPE {
            return serde_json::from_value(doc["detail"].clone()).ok();
        }
        // The log line's `record`: a nested object (since 0.1: JSON logs nest it) or, in older
        // lines, a string holding it; at the top level or under `fields`.
        for record in [&doc["record"], &doc["fields"]["record"]] {
            if let Some(text) = record.as_str() {
                return serde_json::from_str(text).ok();
            }
            if record.is_object() {
                return serde_json::from_value(record.clone()).ok();
            }
        }
        serde_json::from_value(doc.clone()).ok()
    }
}

/// A record of a terminated instance's registration in `srv-abcdef0123456789`, for tests.
#[cfg(test)]
pub(crate) fn sample(instance_id: &str, time: &str, ipv4: &str) -> Removal {
    Removal {
        service_id: "srv-abcdef0123456789".into(),
        instance_id: instance_id.into(),
        attributes: BTreeMap::from([("AWS_INSTANCE_IPV4".into(), ipv4.into())]),
        reason: "terminated".into(),
        trigger: "event".into(),
        evidence: vec![Sighting {
            account: "home".into(),
            region: "eu-west-1".into(),
            state: "terminated".into(),
        }],
        time: time.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Removal {
        let mut r = sample("web-1", "2026-11-24T02:00:00Z", "10.0.0.1");
        r.attributes
            .insert("AWS_EC2_INSTANCE_ID".into(), "i-0123456789abcdef0".into());
        r.attributes
            .insert("team".into(), "a \"quoted\" value".into());
        r
    }

    #[test]
    fn a_record_is_read_back_from_every_shape_it_travels_in() {
        let r = record();
        let json_log =
            serde_json::json!({"timestamp": "…", "level": "INFO", "message": LOG_MESSAGE,
            "service_id": r.service_id, "record": r.json()})
            .to_string();
        let nested_log =
            serde_json::json!({"timestamp": "…", "level": "INFO", "message": LOG_MESSAGE,
            "service_id": r.service_id, "record": serde_json::to_value(&r).unwrap()})
            .to_string();
        let text_log = format!(
            "2026-11-24T02:00:00Z  INFO cloud_unmap::sync::apply: deregistered service_id=srv-abcdef0123456789 record={} already_gone=false",
            r.json()
        );
        let event =
            serde_json::json!({"version": "0", "detail-type": DETAIL_TYPE, "source": SOURCE,
            "detail": serde_json::to_value(&r).unwrap()})
            .to_string();
        for line in [json_log, nested_log, text_log, event, r.json()] {
            assert_eq!(Removal::from_line(&line), Some(r.clone()), "{line}");
        }
        for other in [
            "",
            "not json",
            r#"{"message":"reconcile done"}"#,
            "record={broken",
        ] {
            assert_eq!(Removal::from_line(other), None, "{other}");
        }
        assert!(r.at().is_some());
    }
}
