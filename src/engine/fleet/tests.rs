//! The shared reconcile's pure rules: the period, how often the table is read, when the backstop
//! is due.

use super::*;

#[test]
fn the_period_is_the_longer_of_frequency_and_schedule() {
    let s = Duration::from_secs;
    assert_eq!(period(s(300), None), s(300));
    assert_eq!(period(s(30), Some(s(60))), s(60));
    assert_eq!(period(s(600), Some(s(300))), s(600));
    assert_eq!(refresh_every(s(3)), s(5));
    assert_eq!(refresh_every(s(300)), s(60));
    assert_eq!(refresh_every(s(40)), s(20));
}

#[test]
fn the_backstop_waits_two_periods_from_the_last_known_start() {
    let s = Duration::from_secs;
    let t0 = UNIX_EPOCH + s(1_800_000_000);
    let p = s(300);
    // The last cycle started 599 s ago: not yet; 601 s ago: due.
    assert!(!backstop_due(t0 + s(599), Some(t0), t0 - s(3600), p));
    assert!(backstop_due(t0 + s(601), Some(t0), t0 - s(3600), p));
    // No cycle known (an empty or unreadable table): counted from this replica's start.
    assert!(!backstop_due(t0 + s(500), None, t0, p));
    assert!(backstop_due(t0 + s(700), None, t0, p));
    // A cycle long before this replica started: counted from the start.
    assert!(!backstop_due(t0 + s(500), Some(t0 - s(86_400)), t0, p));
    // A clock that went back never makes it due.
    assert!(!backstop_due(t0 - s(10), Some(t0), t0 - s(3600), p));
}
