//! Readiness and liveness rules, with the clock passed in.

use super::*;

const STALL: Duration = Duration::from_secs(300);

#[test]
fn readiness_follows_success_within_two_periods() {
    let t0 = Instant::now();
    let h = Health::new(Duration::from_secs(10), STALL);
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
fn a_shared_reconcile_counts_the_fleets_successes_within_the_schedules_period() {
    let t0 = Instant::now();
    let h = Health::new(Duration::from_secs(10), STALL);
    h.select(&["srv-a".into()]);
    // The state table reports another replica's success; only selected services count.
    assert!(h.succeeded_at("srv-a", t0));
    assert!(!h.succeeded_at("srv-old", t0));
    assert!(h.readiness(t0 + Duration::from_secs(20)).ready);
    // An older report never moves the success back.
    assert!(h.succeeded_at("srv-a", t0 - Duration::from_secs(5)));
    assert!(h.readiness(t0 + Duration::from_secs(20)).ready);
    // A schedule every 60 s (longer than --frequency 10): successes are due within 120 s.
    assert!(!h.readiness(t0 + Duration::from_secs(30)).ready);
    h.schedule_period(Duration::from_secs(60));
    assert!(h.readiness(t0 + Duration::from_secs(120)).ready);
    assert!(!h.readiness(t0 + Duration::from_secs(121)).ready);
}

#[test]
fn readiness_follows_the_event_queue() {
    let t0 = Instant::now();
    let h = Health::new(Duration::from_secs(300), STALL);
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
    let h = Health::new(Duration::from_secs(300), STALL);
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
    let h = Health::new(Duration::from_secs(10), STALL);
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
    let h = Health::new(Duration::from_secs(10), STALL);
    h.select(&["srv-a".into(), "srv-b".into()]);
    h.success("srv-a", t0);
    h.select(&["srv-a".into()]);
    assert!(h.readiness(t0).ready);
}

#[test]
fn a_working_loop_is_wedged_only_after_the_stall_timeout_without_progress() {
    let t0 = Instant::now();
    let h = Health::new(Duration::from_secs(10), STALL);
    assert!(
        h.liveness(t0 + Duration::from_secs(3600)).is_ok(),
        "no loop started yet"
    );
    h.progress(LoopName::Reconcile, t0);
    // A first reconcile of a big service: progress at every unit of work keeps it alive however
    // long the whole takes.
    for minute in 1..=60 {
        let t = t0 + Duration::from_secs(60 * minute);
        assert!(h.liveness(t).is_ok(), "minute {minute}");
        h.progress(LoopName::Reconcile, t);
    }
    let last = t0 + Duration::from_secs(3600);
    assert!(h.liveness(last + STALL).is_ok());
    let e = h
        .liveness(last + STALL + Duration::from_secs(1))
        .unwrap_err();
    assert!(e.contains("reconcile loop made no progress"), "{e}");
}

#[test]
fn a_sleeping_loop_is_alive_until_its_wake_plus_slack() {
    let t0 = Instant::now();
    // --frequency 3600 with 10 % jitter: a sleep of up to 3960 s is normal.
    let h = Health::new(Duration::from_secs(3600), STALL);
    let wake = t0 + Duration::from_secs(3960);
    h.sleeping(LoopName::Reconcile, t0, wake);
    assert!(h.liveness(wake).is_ok());
    assert!(h.liveness(wake + SLEEP_SLACK).is_ok());
    let e = h
        .liveness(wake + SLEEP_SLACK + Duration::from_secs(1))
        .unwrap_err();
    assert!(e.contains("overslept"), "{e}");
    h.progress(LoopName::Reconcile, wake + SLEEP_SLACK);
    assert!(h
        .liveness(wake + SLEEP_SLACK + Duration::from_secs(1))
        .is_ok());
}

#[test]
fn every_loop_counts_and_a_stopped_one_fails_liveness() {
    let t0 = Instant::now();
    let h = Health::new(Duration::from_secs(10), STALL);
    h.sleeping(LoopName::Reconcile, t0, t0 + Duration::from_secs(3600));
    h.progress(LoopName::Events, t0);
    let e = h.liveness(t0 + STALL + Duration::from_secs(1)).unwrap_err();
    assert!(e.contains("event loop"), "{e}");
    h.progress(LoopName::Events, t0 + STALL);
    assert!(h.liveness(t0 + STALL + Duration::from_secs(1)).is_ok());
    h.stop();
    assert!(h.liveness(t0 + STALL).is_err());
}

#[test]
fn an_aws_attempt_is_progress_of_the_loop_it_was_made_for() {
    let h = std::sync::Arc::new(Health::new(Duration::from_secs(10), STALL));
    let t0 = Instant::now();
    h.progress(LoopName::Events, t0);
    std::thread::sleep(Duration::from_millis(2));
    // Outside any loop: reachability only.
    h.attempt(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let inner = h.clone();
    rt.block_on(CURRENT_LOOP.scope(LoopName::Events, async move { inner.attempt(false) }));
    let st = h.lock();
    assert!(st.loops[&LoopName::Events].progress > t0);
    assert!(!st.loops.contains_key(&LoopName::Reconcile));
}

fn aws_error(code: Option<&str>, message: &str) -> crate::error::Error {
    use aws_smithy_types::error::ErrorMetadata;
    let mut meta = ErrorMetadata::builder().message(message);
    if let Some(code) = code {
        meta = meta.code(code);
    }
    crate::error::Error::aws(crate::error::Operation::ReceiveMessage, meta.build())
}

#[test]
fn readyz_tells_credentials_permission_throttling_and_missing_queues_apart() {
    let t0 = Instant::now();
    for (code, words) in [
        (Some("AccessDenied"), "permission denied"),
        (Some("ExpiredToken"), "no valid AWS credentials"),
        (Some("ThrottlingException"), "throttled by AWS"),
        (Some("QueueDoesNotExist"), "it does not exist"),
        (None, "AWS did not answer"),
    ] {
        let h = Health::new(Duration::from_secs(300), STALL);
        h.select(&["srv-a".into()]);
        h.success("srv-a", t0);
        h.expect_receives(t0);
        h.failed(&aws_error(code, "why"), t0);
        h.received(false, t0);
        let r = h.readiness(t0);
        assert!(!r.ready, "{r:?}");
        assert!(
            r.reason.starts_with("the event queue cannot be read: ") && r.reason.contains(words),
            "{code:?}: {}",
            r.reason
        );
        assert!(
            r.reason.contains("why"),
            "AWS's own message is kept: {}",
            r.reason
        );
    }
    // A reconcile that fails names its cause too, and an old failure is not blamed.
    let h = Health::new(Duration::from_secs(10), STALL);
    h.select(&["srv-a".into()]);
    h.failed(&aws_error(Some("UnauthorizedOperation"), "ec2"), t0);
    let r = h.readiness(t0 + Duration::from_secs(5));
    assert!(
        r.reason.contains("the latest AWS error: permission denied"),
        "{r:?}"
    );
    let r = h.readiness(t0 + Duration::from_secs(60));
    assert!(!r.reason.contains("latest AWS error"), "{r:?}");
}
