//! The reconcile request: the message an EventBridge schedule puts in the event queue every period,
//! `{"cloud-unmap":"reconcile","every":<seconds>}`, read apart from the events beside it.

use std::time::Duration;

/// The shortest period of an EventBridge schedule, assumed when a message does not say `every`.
pub const SCHEDULE_FLOOR: Duration = Duration::from_secs(60);
/// The longest period a message may say, and the longest `--frequency`: a day.
pub const MAX_PERIOD: u64 = 86_400;

/// Reads a reconcile message: `{"cloud-unmap":"reconcile"}`, with `"every": <seconds>` when the
/// schedule says its period. Anything else (events, drain records) is not one.
pub fn parse(body: &str) -> Option<Duration> {
    if !body.contains("\"cloud-unmap\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    (v.get("cloud-unmap")?.as_str()? == "reconcile").then(|| {
        v.get("every")
            .and_then(|e| e.as_u64().or_else(|| e.as_str()?.parse().ok()))
            .filter(|s| (1..=MAX_PERIOD).contains(s))
            .map_or(SCHEDULE_FLOOR, Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_messages_and_their_period() {
        assert_eq!(
            parse(r#"{"cloud-unmap":"reconcile","every":300}"#),
            Some(Duration::from_secs(300))
        );
        // A message that does not say its period: the schedule's floor (a minute).
        assert_eq!(
            parse(r#"{"cloud-unmap":"reconcile"}"#),
            Some(SCHEDULE_FLOOR)
        );
        assert_eq!(
            parse(r#"{"cloud-unmap":"reconcile","every":"120"}"#),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse(r#"{"cloud-unmap":"reconcile","every":0}"#),
            Some(SCHEDULE_FLOOR)
        );
        // Events (cloud-unmap's own audit events too), drain records, anything else: not one.
        for body in [
            r#"{"source":"cloud-unmap","detail-type":"Registration Removed","detail":{}}"#,
            r#"{"cloud-unmap":"drain"}"#,
            r#"{"cloud-unmap":1}"#,
            "cloud-unmap reconcile",
            r#"{"source":"aws.ec2","detail":{"instance-id":"i-0123456789abcdef0","state":"terminated"}}"#,
        ] {
            assert_eq!(parse(body), None, "{body}");
        }
    }
}
