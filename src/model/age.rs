//! How long a registration pointed at a dead instance: the instance's end as EC2 says it (the time in
//! its StateTransitionReason, "User initiated (2026-11-24 02:00:00 GMT)") or as its event says it (the
//! event's time), and the removal's time. Pure: the histogram that records it lives in telemetry.

use std::time::{Duration, SystemTime};

/// The time in an EC2 StateTransitionReason: `… (YYYY-MM-DD HH:MM:SS GMT)` as AWS writes it (moto
/// writes `UTC`). `None` for an empty reason or one without a time (a running instance's).
pub fn state_transition_time(reason: &str) -> Option<SystemTime> {
    let start = reason.rfind('(')? + 1;
    let inner = reason[start..].strip_suffix(')')?.trim();
    let stamp = inner
        .strip_suffix(" GMT")
        .or_else(|| inner.strip_suffix(" UTC"))?;
    let (date, time) = stamp.split_once(' ')?;
    crate::model::domain::parse_rfc3339(&format!("{date}T{time}Z"))
}

/// How long the registration pointed at a dead instance: from `ended` to `removed`; a clock skew
/// that puts the end after the removal counts as zero.
pub fn dead_for(ended: SystemTime, removed: SystemTime) -> Duration {
    removed.duration_since(ended).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_is_read_from_what_ec2_writes() {
        let t = state_transition_time("User initiated (2026-11-24 02:00:00 GMT)").unwrap();
        assert_eq!(crate::model::domain::rfc3339(t), "2026-11-24T02:00:00Z");
        let moto = state_transition_time("User initiated (2026-11-24 02:00:05 UTC)").unwrap();
        assert_eq!(dead_for(t, moto), Duration::from_secs(5));
        assert_eq!(dead_for(moto, t), Duration::ZERO, "skew is not negative");
        for none in [
            "",
            "User initiated",
            "Service initiated (soon)",
            "(2026-11-24T02:00:00Z)",
        ] {
            assert_eq!(state_transition_time(none), None, "{none}");
        }
    }
}
