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
    /// DeregisterInstance was sent but found the registration already gone: removed by someone
    /// else, or by this very call applied and retried after its answer was lost. Not counted as a
    /// removal; kept for `restore`, which checks EC2 and Cloud Map first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_gone: bool,
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
    /// its text log line (`… record="{\"…}"`, the field quoted as tracing writes a string, or a bare
    /// object; with or without terminal colours), an
    /// EventBridge event (`detail-type` "Registration Removed", the record as `detail`), or the
    /// record itself. Anything else is `None`.
    pub fn from_line(line: &str) -> Option<Removal> {
        let line = strip_ansi(line.trim());
        if let Ok(doc) = serde_json::from_str::<Value>(&line) {
            return Self::from_value(&doc);
        }
        // A text log line: the record is the value of the `record=` field, quoted (tracing's text
        // format writes a string field as Rust's `Debug` does) or a bare JSON object.
        let start = line.find(" record=")? + " record=".len();
        let rest = &line[start..];
        let json = match rest.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => rest.to_string(),
        };
        let mut values = serde_json::Deserializer::from_str(&json).into_iter::<Removal>();
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

/// The line without terminal colours (ANSI escape sequences `ESC [ … letter`): what a worker's
/// text log holds when its output went to a terminal.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

/// The string a Rust `Debug`-quoted value holds, read up to its closing quote (`quoted` starts
/// after the opening one): `\"`, `\\`, `\n`, `\r`, `\t`, `\0`, `\'` and `\u{…}` unescaped.
fn unquote(quoted: &str) -> Option<String> {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '0' => out.push('\0'),
                'u' => {
                    let hex: String = chars
                        .by_ref()
                        .skip_while(|c| *c == '{')
                        .take_while(|c| *c != '}')
                        .collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
}

/// The attributes RegisterInstance accepts for a registration that held `attributes`, and the
/// names it must leave out. Cloud Map's rule (API reference, RegisterInstance): with
/// `AWS_EC2_INSTANCE_ID`, "the only other attribute that can be specified is
/// `AWS_INIT_HEALTH_STATUS`", and Cloud Map fills `AWS_INSTANCE_IPV4` itself with the instance's
/// primary private address. Any other registration goes back with every attribute it had.
pub fn registrable(
    attributes: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    const EC2_ID: &str = "AWS_EC2_INSTANCE_ID";
    const KEPT: [&str; 2] = [EC2_ID, "AWS_INIT_HEALTH_STATUS"];
    /// Filled by Cloud Map: not lost by leaving it out.
    const FILLED: &str = "AWS_INSTANCE_IPV4";
    if !attributes.contains_key(EC2_ID) {
        return (attributes.clone(), Vec::new());
    }
    let (kept, left): (BTreeMap<_, _>, BTreeMap<_, _>) = attributes
        .clone()
        .into_iter()
        .partition(|(k, _)| KEPT.contains(&k.as_str()));
    let dropped = left.into_keys().filter(|k| k != FILLED).collect();
    (kept, dropped)
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
        already_gone: false,
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
        // tracing's text format quotes a string field as `Debug` does; with colours on a terminal.
        let quoted = format!(
            "2026-11-24T02:00:00Z  INFO cloud_unmap::engine::reconcile::apply: deregistered service_id=\"srv-abcdef0123456789\" record={:?} already_gone=false",
            r.json()
        );
        let coloured = format!(
            "\u{1b}[2m2026-11-24T02:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m deregistered \u{1b}[3mrecord\u{1b}[0m\u{1b}[2m=\u{1b}[0m{:?}\r",
            r.json()
        );
        for line in [
            json_log,
            nested_log,
            text_log,
            quoted,
            coloured,
            event,
            r.json(),
        ] {
            assert_eq!(Removal::from_line(&line), Some(r.clone()), "{line}");
        }
        for other in [
            "",
            "not json",
            r#"{"message":"reconcile done"}"#,
            "record={broken",
            "x record=\"{\\\"service_id\\\": unterminated",
        ] {
            assert_eq!(Removal::from_line(other), None, "{other}");
        }
        assert!(r.at().is_some());
    }

    #[test]
    fn a_registration_by_ec2_id_goes_back_as_cloud_map_accepts_it() {
        let plain = record_attributes(&[("AWS_INSTANCE_IPV4", "10.0.0.1"), ("team", "a")]);
        assert_eq!(registrable(&plain), (plain.clone(), vec![]));
        let by_id = record_attributes(&[
            ("AWS_EC2_INSTANCE_ID", "i-0123456789abcdef0"),
            ("AWS_INIT_HEALTH_STATUS", "HEALTHY"),
            ("AWS_INSTANCE_IPV4", "10.0.0.1"),
            ("team", "a"),
        ]);
        let (sent, dropped) = registrable(&by_id);
        assert_eq!(
            sent,
            record_attributes(&[
                ("AWS_EC2_INSTANCE_ID", "i-0123456789abcdef0"),
                ("AWS_INIT_HEALTH_STATUS", "HEALTHY"),
            ])
        );
        assert_eq!(dropped, ["team"]);
    }

    fn record_attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
