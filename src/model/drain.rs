//! The drain before a lifecycle action's CONTINUE, as pure rules and a durable record: when an
//! instance is out of every service, a `Drain` record goes back into the event queue (delayed), so
//! the wait holds no worker slot, survives restarts and SIGTERM, and is finished by whichever
//! replica receives it. This module says what the record holds, how it reads and writes, and what
//! to do when it comes back (complete, heartbeat, or wait on).

use std::time::{Duration, SystemTime};

use crate::model::domain::{parse_rfc3339, rfc3339};
use serde_json::{json, Map, Value};

use crate::model::domain::LifecycleAction;

/// The record's EventBridge-shaped `source` and `detail-type`.
pub const SOURCE: &str = "cloud-unmap";
pub const DETAIL_TYPE: &str = "Lifecycle Action Drain";

/// SQS's longest message delay: a longer wait takes several hops.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// Auto Scaling's shortest heartbeat timeout (a hook's HeartbeatTimeout is 30–7200 s).
pub const MIN_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long before a hook's global timeout CONTINUE is sent at the latest: the drain record's last
/// hop, the re-check and the call itself fit in it.
pub const GLOBAL_MARGIN: Duration = Duration::from_secs(60);

/// Auto Scaling's longest wait for one lifecycle action (API LifecycleHook: GlobalTimeout is the
/// smaller of 48 hours and 100 × HeartbeatTimeout).
pub const MAX_GLOBAL_TIMEOUT: Duration = Duration::from_secs(172_800);

/// A hook's global timeout: as DescribeLifecycleHooks gives it, else as Auto Scaling sets it.
pub fn global_timeout(heartbeat: Duration, given: Option<Duration>) -> Duration {
    given.unwrap_or_else(|| (heartbeat * 100).min(MAX_GLOBAL_TIMEOUT))
}

/// The latest moment CONTINUE may be sent for an action that started at `start`.
pub fn latest_continue(start: SystemTime, global: Duration) -> SystemTime {
    start + global.saturating_sub(GLOBAL_MARGIN)
}

/// Whether a drain of `drain` fits within a hook's global timeout (with the margin).
pub fn fits(drain: Duration, global: Duration) -> bool {
    drain + GLOBAL_MARGIN <= global
}

/// A lifecycle action waiting for its drain to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drain {
    pub action: LifecycleAction,
    /// CONTINUE is sent no earlier than this.
    pub not_before: SystemTime,
    /// When the action's heartbeat timer last (re)started: its start, or our latest heartbeat.
    pub last_beat: SystemTime,
    /// The hook's HeartbeatTimeout.
    pub heartbeat_timeout: Duration,
}

/// What to do with a drain record now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The drain is over: verify once more, then CONTINUE.
    Complete,
    /// The hook would time out before the drain ends: RecordLifecycleActionHeartbeat, then wait.
    Heartbeat,
    /// Nothing yet: put the record back until this time.
    Wait(SystemTime),
}

impl Drain {
    /// When a heartbeat is due: a third of the timeout before it runs out (at least 10 s early).
    pub fn heartbeat_due(&self) -> SystemTime {
        let timeout = self.heartbeat_timeout.max(MIN_HEARTBEAT_TIMEOUT);
        self.last_beat + timeout - timeout / 3
    }

    /// The next moment something has to happen.
    pub fn next_wake(&self) -> SystemTime {
        self.not_before.min(self.heartbeat_due())
    }

    pub fn step(&self, now: SystemTime) -> Step {
        if now >= self.not_before {
            Step::Complete
        } else if now >= self.heartbeat_due() {
            Step::Heartbeat
        } else {
            Step::Wait(self.next_wake())
        }
    }

    /// The SQS delay that brings the record back at its next wake (at most 15 min per hop).
    pub fn delay(&self, now: SystemTime) -> Duration {
        let wait = self
            .next_wake()
            .duration_since(now)
            .unwrap_or(Duration::ZERO);
        // Whole seconds, rounded up: never back before the wake.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Duration::from_secs(secs).min(MAX_DELAY)
    }

    /// The record as a message body, in the account and region of the action.
    pub fn to_body(&self, account: &str, region: &str) -> String {
        let a = &self.action;
        json!({
            "version": "0",
            "id": format!("cloud-unmap-drain-{}", a.token),
            "source": SOURCE,
            "detail-type": DETAIL_TYPE,
            "account": account,
            "region": region,
            "time": rfc3339(self.last_beat),
            "resources": [],
            "detail": {
                "EC2InstanceId": a.instance_id,
                "LifecycleActionToken": a.token,
                "LifecycleHookName": a.hook,
                "AutoScalingGroupName": a.group,
                "NotBefore": rfc3339(self.not_before),
                "LastHeartbeat": rfc3339(self.last_beat),
                "HeartbeatTimeoutSeconds": self.heartbeat_timeout.as_secs(),
            }
        })
        .to_string()
    }

    /// Reads a record's `detail` (the action itself is read by `event`).
    pub fn from_detail(action: LifecycleAction, detail: &Map<String, Value>) -> Option<Drain> {
        let time = |key: &str| parse_rfc3339(detail.get(key)?.as_str()?);
        Some(Drain {
            action,
            not_before: time("NotBefore")?,
            last_beat: time("LastHeartbeat")?,
            heartbeat_timeout: Duration::from_secs(
                detail.get("HeartbeatTimeoutSeconds")?.as_u64()?.min(7200),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn drain(not_before: u64, last_beat: u64, timeout: u64) -> Drain {
        Drain {
            action: LifecycleAction {
                instance_id: "i-0123456789abcdef0".into(),
                token: "tok".into(),
                hook: "cloud-unmap".into(),
                group: "web".into(),
            },
            not_before: at(not_before),
            last_beat: at(last_beat),
            heartbeat_timeout: Duration::from_secs(timeout),
        }
    }

    #[test]
    fn a_drain_shorter_than_the_heartbeat_timeout_just_waits() {
        let d = drain(60, 0, 3600);
        assert_eq!(d.step(at(1)), Step::Wait(at(60)));
        assert_eq!(d.delay(at(1)), Duration::from_secs(59));
        assert_eq!(d.step(at(60)), Step::Complete);
        assert_eq!(d.step(at(61)), Step::Complete);
    }

    #[test]
    fn a_drain_longer_than_the_heartbeat_timeout_beats_before_it_runs_out() {
        // Timeout 30 s: beat 10 s before it runs out.
        let d = drain(100, 0, 30);
        assert_eq!(d.heartbeat_due(), at(20));
        assert_eq!(d.step(at(5)), Step::Wait(at(20)));
        assert_eq!(d.step(at(20)), Step::Heartbeat);
        let beaten = Drain {
            last_beat: at(20),
            ..d.clone()
        };
        assert_eq!(beaten.step(at(21)), Step::Wait(at(40)));
        // Completion wins when both are due.
        assert_eq!(drain(20, 0, 30).step(at(25)), Step::Complete);
    }

    #[test]
    fn a_drain_fits_within_the_global_timeout_less_the_margin() {
        let hb = Duration::from_secs(30);
        assert_eq!(global_timeout(hb, None), Duration::from_secs(3000));
        assert_eq!(
            global_timeout(Duration::from_secs(7200), None),
            MAX_GLOBAL_TIMEOUT
        );
        assert_eq!(
            global_timeout(hb, Some(Duration::from_secs(900))),
            Duration::from_secs(900)
        );
        assert_eq!(latest_continue(at(0), Duration::from_secs(900)), at(840));
        assert!(fits(Duration::from_secs(840), Duration::from_secs(900)));
        assert!(!fits(Duration::from_secs(841), Duration::from_secs(900)));
        assert_eq!(latest_continue(at(0), Duration::from_secs(30)), at(0));
    }

    #[test]
    fn one_hop_never_exceeds_sqs_delay_and_never_comes_back_early() {
        let d = drain(100_000, 0, 7200);
        assert_eq!(d.delay(at(0)), MAX_DELAY);
        let d = drain(10, 0, 3600);
        let half = at(0) + Duration::from_millis(500);
        assert_eq!(d.delay(half), Duration::from_secs(10));
        assert_eq!(d.delay(at(11)), Duration::ZERO);
    }
}
