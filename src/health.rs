//! Liveness and readiness state, shared by the loops (which report) and the HTTP server (which
//! answers `/healthz` and `/readyz`). Plain data behind a mutex; the clock is passed in so the rules
//! are tested without waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Extra time a loop may stay silent beyond its period before it counts as wedged.
pub const WEDGE_GRACE: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct State {
    heartbeat: Instant,
    /// Selected services and when each last reconciled successfully.
    services: BTreeMap<String, Option<Instant>>,
    stopped: bool,
    /// With an event queue: whether its latest receive failed, and when one last completed.
    receive: Option<Receive>,
    /// AWS request attempts that failed in a row (no answer, or a 5xx), across every client.
    failed_attempts: u32,
    /// Selected services and namespaces that do not exist.
    missing: BTreeSet<String>,
}

/// Consecutive failed AWS attempts after which the process reports AWS unreachable. One failure
/// among many successes (a throttle, a dropped connection) does not flip readiness.
pub const UNREACHABLE_AFTER: u32 = 5;

#[derive(Debug, Clone, Copy)]
struct Receive {
    last_failed: bool,
    last_ok: Option<Instant>,
}

/// The event loop is unready when no receive completed for this long.
pub const RECEIVE_STALE: Duration = Duration::from_secs(60);

/// Health of the reconcile loop.
#[derive(Debug)]
pub struct Health {
    frequency: Duration,
    state: Mutex<State>,
}

/// The JSON body of `/readyz`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: String,
    /// Services not reconciled successfully within 2 × frequency.
    pub stale_services: Vec<String>,
}

impl Health {
    pub fn new(frequency: Duration, now: Instant) -> Health {
        Health {
            frequency,
            state: Mutex::new(State {
                heartbeat: now,
                services: BTreeMap::new(),
                stopped: false,
                receive: None,
                failed_attempts: 0,
                missing: BTreeSet::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loop is alive and making progress.
    pub fn beat(&self, now: Instant) {
        self.lock().heartbeat = now;
    }

    /// The loop has ended (shutdown or crash): liveness fails from now on.
    pub fn stop(&self) {
        self.lock().stopped = true;
    }

    /// Replaces the set of selected services, keeping what is known of those that remain.
    pub fn select(&self, services: &[String]) {
        let mut st = self.lock();
        let old = std::mem::take(&mut st.services);
        st.services = services
            .iter()
            .map(|s| (s.clone(), old.get(s).copied().flatten()))
            .collect();
    }

    /// The event loop starts now: readiness also depends on its receives from here on. The start
    /// counts as the baseline, since a long poll of an empty queue takes 20 s to complete.
    pub fn expect_receives(&self, now: Instant) {
        self.lock().receive = Some(Receive {
            last_failed: false,
            last_ok: Some(now),
        });
    }

    /// Records the outcome of a ReceiveMessage call.
    pub fn received(&self, ok: bool, now: Instant) {
        let mut st = self.lock();
        let r = st.receive.get_or_insert(Receive {
            last_failed: false,
            last_ok: None,
        });
        r.last_failed = !ok;
        if ok {
            r.last_ok = Some(now);
        }
    }

    /// Records one AWS request attempt (called by the SDK interceptor in `aws`).
    pub fn attempt(&self, ok: bool) {
        let mut st = self.lock();
        st.failed_attempts = if ok {
            0
        } else {
            st.failed_attempts.saturating_add(1)
        };
    }

    /// A selected service or namespace does not exist (or exists again). A missing one is named in
    /// `/readyz`'s reason and does not count as stale: it blocks nothing else.
    /// Returns whether that changed anything.
    pub fn missing(&self, id: &str, missing: bool) -> bool {
        let mut st = self.lock();
        if missing {
            st.missing.insert(id.to_string())
        } else {
            st.missing.remove(id)
        }
    }

    pub fn success(&self, service_id: &str, now: Instant) {
        self.lock()
            .services
            .insert(service_id.to_string(), Some(now));
    }

    /// `/healthz`: alive unless the loop ended or has been silent for longer than a period plus grace.
    pub fn liveness(&self, now: Instant) -> Result<(), String> {
        let st = self.lock();
        if st.stopped {
            return Err("the reconcile loop has stopped".into());
        }
        let silent = now.saturating_duration_since(st.heartbeat);
        if silent > self.frequency + WEDGE_GRACE {
            return Err(format!(
                "the reconcile loop made no progress for {} s",
                silent.as_secs()
            ));
        }
        Ok(())
    }

    /// `/readyz`: ready when every selected service reconciled successfully within 2 × frequency.
    pub fn readiness(&self, now: Instant) -> Readiness {
        let st = self.lock();
        let window = self.frequency * 2;
        let stale: Vec<String> = st
            .services
            .iter()
            .filter(|(s, last)| {
                !st.missing.contains(*s)
                    && !last.is_some_and(|t| now.saturating_duration_since(t) <= window)
            })
            .map(|(s, _)| s.clone())
            .collect();
        let receive_problem = st.receive.and_then(|r| {
            if r.last_failed {
                Some("the latest receive from the event queue failed".to_string())
            } else if r
                .last_ok
                .is_none_or(|t| now.saturating_duration_since(t) > RECEIVE_STALE)
            {
                Some(format!(
                    "no receive from the event queue completed in the last {} s",
                    RECEIVE_STALE.as_secs()
                ))
            } else {
                None
            }
        });
        let unreachable = (st.failed_attempts >= UNREACHABLE_AFTER).then(|| {
            format!(
                "AWS unreachable: the last {} request attempts failed",
                st.failed_attempts
            )
        });
        let (ready, reason) = if let Some(problem) = unreachable.or(receive_problem) {
            (false, problem)
        } else if st.services.is_empty() {
            (
                false,
                "no service selected yet (first reconcile not finished)".to_string(),
            )
        } else if stale.is_empty() {
            (
                true,
                "every selected service reconciled successfully".to_string(),
            )
        } else {
            (
                false,
                format!(
                    "{} of {} services not reconciled successfully within {} s",
                    stale.len(),
                    st.services.len(),
                    window.as_secs()
                ),
            )
        };
        let reason = if st.missing.is_empty() {
            reason
        } else {
            let ids: Vec<&str> = st.missing.iter().map(String::as_str).collect();
            format!(
                "{reason}; selected but missing (deleted, or a wrong id): {}",
                ids.join(", ")
            )
        };
        Readiness {
            ready,
            reason,
            stale_services: stale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_success_within_two_periods() {
        let t0 = Instant::now();
        let h = Health::new(Duration::from_secs(10), t0);
        assert!(!h.readiness(t0).ready);
        h.select(&["srv-a".into(), "srv-b".into()]);
        h.success("srv-a", t0);
        let r = h.readiness(t0);
        assert!(!r.ready);
        assert_eq!(r.stale_services, vec!["srv-b"]);
        h.success("srv-b", t0 + Duration::from_secs(5));
        assert!(h.readiness(t0 + Duration::from_secs(20)).ready);
        let r = h.readiness(t0 + Duration::from_secs(21));
        assert!(!r.ready);
        assert_eq!(r.stale_services, vec!["srv-a"]);
    }

    #[test]
    fn readiness_follows_the_event_queue() {
        let t0 = Instant::now();
        let h = Health::new(Duration::from_secs(300), t0);
        h.select(&["srv-a".into()]);
        h.success("srv-a", t0);
        assert!(h.readiness(t0).ready);
        h.expect_receives(t0);
        assert!(
            h.readiness(t0 + Duration::from_secs(60)).ready,
            "a first long poll is under way"
        );
        assert!(
            !h.readiness(t0 + Duration::from_secs(61)).ready,
            "nothing completed for 61 s"
        );
        h.received(true, t0);
        assert!(h.readiness(t0).ready);
        h.received(false, t0 + Duration::from_secs(1));
        assert!(h
            .readiness(t0 + Duration::from_secs(1))
            .reason
            .contains("failed"));
        h.received(true, t0 + Duration::from_secs(2));
        assert!(h.readiness(t0 + Duration::from_secs(62)).ready);
        assert!(!h.readiness(t0 + Duration::from_secs(63)).ready);
    }

    #[test]
    fn readiness_follows_aws_reachability() {
        let t0 = Instant::now();
        let h = Health::new(Duration::from_secs(300), t0);
        h.select(&["srv-a".into()]);
        h.success("srv-a", t0);
        for _ in 0..UNREACHABLE_AFTER - 1 {
            h.attempt(false);
        }
        assert!(
            h.readiness(t0).ready,
            "a few failures among successes do not flip it"
        );
        h.attempt(false);
        let r = h.readiness(t0);
        assert!(!r.ready && r.reason.contains("unreachable"), "{r:?}");
        h.attempt(true);
        assert!(h.readiness(t0).ready);
    }

    #[test]
    fn a_missing_service_is_named_and_blocks_nothing() {
        let t0 = Instant::now();
        let h = Health::new(Duration::from_secs(10), t0);
        h.select(&["srv-a".into(), "srv-gone".into()]);
        h.success("srv-a", t0);
        assert!(!h.readiness(t0).ready);
        h.missing("srv-gone", true);
        let r = h.readiness(t0);
        assert!(r.ready, "{r:?}");
        assert!(r.reason.contains("missing") && r.reason.contains("srv-gone"));
        h.missing("srv-gone", false);
        assert!(!h.readiness(t0).ready);
    }

    #[test]
    fn reselection_keeps_history_and_drops_removed_services() {
        let t0 = Instant::now();
        let h = Health::new(Duration::from_secs(10), t0);
        h.select(&["srv-a".into(), "srv-b".into()]);
        h.success("srv-a", t0);
        h.select(&["srv-a".into()]);
        assert!(h.readiness(t0).ready);
    }

    #[test]
    fn liveness_fails_when_wedged_or_stopped() {
        let t0 = Instant::now();
        let h = Health::new(Duration::from_secs(10), t0);
        assert!(h.liveness(t0 + Duration::from_secs(310)).is_ok());
        assert!(h.liveness(t0 + Duration::from_secs(311)).is_err());
        h.beat(t0 + Duration::from_secs(311));
        assert!(h.liveness(t0 + Duration::from_secs(312)).is_ok());
        h.stop();
        assert!(h.liveness(t0 + Duration::from_secs(312)).is_err());
    }
}
