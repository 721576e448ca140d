//! Liveness and readiness state, shared by the loops (which report) and the HTTP server (which
//! answers `/healthz` and `/readyz`). Plain data behind a mutex; the clock is passed in so the rules
//! are tested without waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, ErrorClass};

/// How long past its planned wake a sleeping loop may stay asleep before it counts as wedged.
pub const SLEEP_SLACK: Duration = Duration::from_secs(60);

mod loops;
pub use loops::{LoopName, CURRENT_LOOP};

/// What a loop was last seen doing.
#[derive(Debug, Clone, Copy)]
struct LoopState {
    /// The last unit of work it completed (an AWS request attempt, a cycle, a batch).
    progress: Instant,
    /// Asleep until then (between two reconciles).
    sleeping_until: Option<Instant>,
}

#[derive(Debug)]
struct State {
    loops: BTreeMap<LoopName, LoopState>,
    /// Selected services and when each last reconciled successfully.
    services: BTreeMap<String, Option<Instant>>,
    stopped: bool,
    /// With an event queue: whether its latest receive failed, and when one last completed.
    receive: Option<Receive>,
    /// AWS request attempts that failed in a row (no answer, or a 5xx), across every client.
    failed_attempts: u32,
    /// Selected services and namespaces that do not exist.
    missing: BTreeSet<String>,
    /// Services the event path leaves to the reconcile (they kept failing to sync).
    left: BTreeSet<String>,
    /// Lookup targets (`account/region`, or the organization's listing) that do not answer now.
    silent: BTreeSet<String>,
    /// The shared reconcile's schedule period, when longer than `--frequency`.
    period: Duration,
    /// The latest AWS failure anywhere (class, one line, when): named in an unready `/readyz`.
    last_error: Option<(ErrorClass, String, Instant)>,
}

/// Consecutive failed AWS attempts after which the process reports AWS unreachable. One failure
/// among many successes (a throttle, a dropped connection) does not flip readiness.
pub const UNREACHABLE_AFTER: u32 = 5;

#[derive(Debug, Clone, Copy)]
struct Receive {
    last_failed: bool,
    last_ok: Option<Instant>,
}

/// The cause of an AWS failure in words, then the failure's own line.
fn cause(class: ErrorClass, line: &str) -> String {
    format!("{} ({class}): {line}", class.words())
}

/// The event loop is unready when no receive completed for this long.
pub const RECEIVE_STALE: Duration = Duration::from_secs(60);

/// Health of the reconcile loop.
#[derive(Debug)]
pub struct Health {
    frequency: Duration,
    /// A working loop with no progress for this long is wedged (`--stall-timeout`).
    stall: Duration,
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
    pub fn new(frequency: Duration, stall: Duration) -> Health {
        Health {
            frequency,
            stall,
            state: Mutex::new(State {
                loops: BTreeMap::new(),
                services: BTreeMap::new(),
                stopped: false,
                receive: None,
                failed_attempts: 0,
                missing: BTreeSet::new(),
                left: BTreeSet::new(),
                silent: BTreeSet::new(),
                period: Duration::ZERO,
                last_error: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `name` completed a unit of work (and is working, not sleeping).
    pub fn progress(&self, name: LoopName, now: Instant) {
        self.lock().loops.insert(
            name,
            LoopState {
                progress: now,
                sleeping_until: None,
            },
        );
    }

    /// `name` sleeps until `until`.
    pub fn sleeping(&self, name: LoopName, now: Instant, until: Instant) {
        self.lock().loops.insert(
            name,
            LoopState {
                progress: now,
                sleeping_until: Some(until),
            },
        );
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

    /// Records an AWS failure (after the SDK's retries): an unready `/readyz` names the latest one's
    /// cause, so credentials, permission, throttling and network problems read differently.
    pub fn failed(&self, error: &Error, now: Instant) {
        if matches!(error, Error::Aws { .. }) {
            self.lock().last_error = Some((error.class(), error.to_string(), now));
        }
    }

    /// Records one AWS request attempt (called by the SDK interceptor in `aws`): reachability, and
    /// progress of the loop the attempt was made for.
    pub fn attempt(&self, ok: bool) {
        if let Ok(name) = CURRENT_LOOP.try_with(|l| *l) {
            self.progress(name, Instant::now());
        }
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

    /// The event path leaves a service to the reconcile (it kept failing), or serves it again:
    /// named in `/readyz`'s reason. Returns whether that changed anything.
    pub fn left_to_reconcile(&self, service_id: &str, left: bool) -> bool {
        let mut st = self.lock();
        if left {
            st.left.insert(service_id.to_string())
        } else {
            st.left.remove(service_id)
        }
    }

    /// The lookup targets that do not answer now: named in `/readyz`, not unready for them (their
    /// `not-found` waits; one unreachable account must not hold every replica out of service).
    pub fn silent(&self, targets: BTreeSet<String>) {
        self.lock().silent = targets;
    }

    /// Another replica reconciled `service_id` successfully at `at` (the state table says so):
    /// recorded if the service is selected here and `at` is newer. Returns whether it is selected.
    pub fn succeeded_at(&self, service_id: &str, at: Instant) -> bool {
        let mut st = self.lock();
        match st.services.get_mut(service_id) {
            Some(last) => {
                if last.is_none_or(|t| t < at) {
                    *last = Some(at);
                }
                true
            }
            None => false,
        }
    }

    pub fn success(&self, service_id: &str, now: Instant) {
        self.lock()
            .services
            .insert(service_id.to_string(), Some(now));
    }

    /// `/healthz`: alive unless a loop ended, a working loop made no progress for the stall
    /// timeout, or a sleeping one overslept its wake by more than `SLEEP_SLACK`.
    pub fn liveness(&self, now: Instant) -> Result<(), String> {
        let st = self.lock();
        if st.stopped {
            return Err("a loop has stopped".into());
        }
        for (name, l) in &st.loops {
            match l.sleeping_until {
                Some(until) if now > until + SLEEP_SLACK => {
                    return Err(format!(
                        "the {} overslept its wake by {} s",
                        name.as_str(),
                        now.saturating_duration_since(until).as_secs()
                    ))
                }
                None if now.saturating_duration_since(l.progress) > self.stall => {
                    return Err(format!(
                        "the {} made no progress for {} s",
                        name.as_str(),
                        now.saturating_duration_since(l.progress).as_secs()
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The shared reconcile's schedule runs every `period`: successes are expected within twice
    /// the longer of it and the frequency.
    pub fn schedule_period(&self, period: Duration) {
        self.lock().period = period;
    }

    /// `/readyz`: ready when every selected service reconciled successfully within 2 × frequency
    /// (or 2 × the shared reconcile's schedule period, when longer).
    pub fn readiness(&self, now: Instant) -> Readiness {
        let st = self.lock();
        let window = self.frequency.max(st.period) * 2;
        let stale: Vec<String> = st
            .services
            .iter()
            .filter(|(s, last)| {
                !st.missing.contains(*s)
                    && !last.is_some_and(|t| now.saturating_duration_since(t) <= window)
            })
            .map(|(s, _)| s.clone())
            .collect();
        let last_error = st
            .last_error
            .as_ref()
            .filter(|(_, _, at)| now.saturating_duration_since(*at) <= window);
        let receive_problem = st.receive.and_then(|r| {
            if r.last_failed {
                Some(match last_error {
                    Some((class, line, _)) => {
                        format!("the event queue cannot be read: {}", cause(*class, line))
                    }
                    None => "the latest receive from the event queue failed".to_string(),
                })
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
                if st.silent.is_empty() {
                    "every selected service reconciled successfully"
                } else {
                    "every selected service reconciled as far as the targets that answer allow"
                }
                .to_string(),
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
        // An unready answer names the latest AWS failure's cause, unless it already does.
        let reason = match last_error {
            Some((class, line, _)) if !ready && !reason.contains(line.as_str()) => {
                format!("{reason}; the latest AWS error: {}", cause(*class, line))
            }
            _ => reason,
        };
        let reason = [
            ("selected but missing (deleted, or a wrong id)", &st.missing),
            ("failing on the event path, left to the reconcile", &st.left),
            ("not answering (their not-found waits)", &st.silent),
        ]
        .into_iter()
        .fold(reason, |reason, (what, ids)| named(reason, what, ids));
        Readiness {
            ready,
            reason,
            stale_services: stale,
        }
    }
}

/// `reason`, then `what` and the ids, if any.
fn named(reason: String, what: &str, ids: &BTreeSet<String>) -> String {
    if ids.is_empty() {
        return reason;
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    format!("{reason}; {what}: {}", ids.join(", "))
}

#[cfg(test)]
mod tests;
