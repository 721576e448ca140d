//! How a batch's claims merge per instance and group per target, and how each message is settled.

use super::*;

#[test]
fn merging_keeps_every_distinct_hint_so_a_forged_one_masks_nothing() {
    let r = rules(false);
    let mut forged = claim(&r, &spot("terminate")).unwrap();
    forged.message = 1;
    let genuine = claim(&r, &lifecycle(HOME)).unwrap();
    let judge = claim(&r, &state(HOME, "us-east-1", "terminated")).unwrap();
    for order in [
        vec![genuine.clone(), forged.clone(), judge.clone()],
        vec![
            forged.clone(),
            judge.clone(),
            genuine.clone(),
            forged.clone(),
        ],
    ] {
        let merged = merge(&order);
        let hints = &merged["i-0123456789abcdef0"];
        assert_eq!(hints.len(), 3, "{hints:?}");
        assert!(hints.contains(&genuine.hint) && hints.contains(&Hint::Spot));
    }
}

fn claimed(message: usize, instance: &str) -> Claim {
    let mut c = claim(&rules(false), &state(HOME, "us-east-1", "terminated")).unwrap();
    c.message = message;
    c.instance_id = instance.into();
    c
}

#[test]
fn dispositions_follow_the_work() {
    let readings = [
        Reading::Invalid,
        Reading::Ignored(EventType::Other, EventOutcome::Ignored),
        Reading::Claimed(EventType::StateChange),
        Reading::Claimed(EventType::StateChange),
        Reading::Claimed(EventType::StateChange),
    ];
    let claims = [
        claimed(2, "i-0aaaaaaaaaaaaaaa1"),
        claimed(3, "i-0bbbbbbbbbbbbbbb2"),
        claimed(4, "i-0ccccccccccccccc3"),
    ];
    let results: HashMap<String, InstanceResult> = [
        (
            "i-0aaaaaaaaaaaaaaa1".to_string(),
            InstanceResult {
                acted: true,
                failed: false,
                ..Default::default()
            },
        ),
        (
            "i-0bbbbbbbbbbbbbbb2".to_string(),
            InstanceResult {
                acted: true,
                failed: true,
                ..Default::default()
            },
        ),
    ]
    .into();
    let d = dispose(&readings, &claims, &results, &HashMap::new(), 3);
    let st = EventType::StateChange;
    assert_eq!(
        d,
        vec![
            // unreadable: back to the queue at once, for the dead-letter queue
            (
                Disposition::Invalid,
                EventType::Invalid,
                EventOutcome::Invalid
            ),
            // well-formed, nothing to do: deleted
            (Disposition::Delete, EventType::Other, EventOutcome::Ignored),
            // deregistered: deleted
            (Disposition::Delete, st, EventOutcome::Acted),
            // any failure: left for redelivery, even if something else succeeded
            (Disposition::Retry, st, EventOutcome::Failed),
            // nothing registered or confirmed: deleted
            (Disposition::Delete, st, EventOutcome::Ignored),
        ]
    );
}

#[test]
fn a_failure_is_not_hidden_by_a_later_claim_of_the_same_message() {
    let claims = [
        claimed(0, "i-0aaaaaaaaaaaaaaa1"),
        claimed(0, "i-0bbbbbbbbbbbbbbb2"),
    ];
    let results: HashMap<String, InstanceResult> = [
        (
            "i-0aaaaaaaaaaaaaaa1".to_string(),
            InstanceResult {
                acted: false,
                failed: true,
                ..Default::default()
            },
        ),
        (
            "i-0bbbbbbbbbbbbbbb2".to_string(),
            InstanceResult {
                acted: true,
                failed: false,
                ..Default::default()
            },
        ),
    ]
    .into();
    let d = dispose(
        &[Reading::Claimed(EventType::StateChange)],
        &claims,
        &results,
        &HashMap::new(),
        3,
    );
    assert_eq!(d[0].0, Disposition::Retry);
}

#[test]
fn a_lifecycle_note_names_the_outcome_unless_the_work_failed() {
    let claims = [
        claimed(0, "i-0aaaaaaaaaaaaaaa1"),
        claimed(1, "i-0bbbbbbbbbbbbbbb2"),
        claimed(2, "i-0ccccccccccccccc3"),
    ];
    let results: HashMap<String, InstanceResult> = [
        (
            "i-0aaaaaaaaaaaaaaa1".to_string(),
            InstanceResult {
                acted: true,
                failed: false,
                ..Default::default()
            },
        ),
        (
            "i-0ccccccccccccccc3".to_string(),
            InstanceResult {
                acted: true,
                failed: true,
                ..Default::default()
            },
        ),
    ]
    .into();
    let notes: HashMap<usize, EventOutcome> = [
        (0, EventOutcome::Draining),
        (1, EventOutcome::NotTerminating),
        (2, EventOutcome::OtherHook),
    ]
    .into();
    let lc = EventType::TerminateLifecycle;
    let d = dispose(
        &[
            Reading::Claimed(lc),
            Reading::Claimed(lc),
            Reading::Claimed(lc),
        ],
        &claims,
        &results,
        &notes,
        3,
    );
    assert_eq!(
        d,
        vec![
            (Disposition::Delete, lc, EventOutcome::Draining),
            (Disposition::Delete, lc, EventOutcome::NotTerminating),
            (Disposition::Retry, lc, EventOutcome::Failed),
        ]
    );
}

#[test]
fn claims_group_by_target_each_instance_once() {
    let mut member = claimed(2, "i-0aaaaaaaaaaaaaaa1");
    member.account = Account::Member(MEMBER.into());
    let claims = [
        claimed(0, "i-0aaaaaaaaaaaaaaa1"),
        claimed(1, "i-0aaaaaaaaaaaaaaa1"),
        member,
        claimed(3, "i-0bbbbbbbbbbbbbbb2"),
    ];
    let grouped = by_target(&claims);
    assert_eq!(grouped.len(), 2);
    assert_eq!(
        grouped[&(&Account::Home, "us-east-1")],
        vec!["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"]
    );
    assert_eq!(
        grouped[&(&Account::Member(MEMBER.into()), "us-east-1")],
        vec!["i-0aaaaaaaaaaaaaaa1"]
    );
}

#[test]
fn a_claim_waits_for_a_failing_service_a_bounded_number_of_receives() {
    // Removed from the services that synced; another service failed. It comes back until its
    // message was received `patience` times, or at once settled when the failing service is
    // already left to the reconcile: never into the dead-letter queue for another's failure.
    let blocked = |left| {
        let mut r = InstanceResult {
            acted: true,
            ..Default::default()
        };
        r.block(left);
        r
    };
    let st = EventType::StateChange;
    for (receives, left, expected) in [
        (1, false, (Disposition::Retry, st, EventOutcome::Failed)),
        (2, false, (Disposition::Retry, st, EventOutcome::Failed)),
        (
            3,
            false,
            (Disposition::Delete, st, EventOutcome::LeftToReconcile),
        ),
        (
            1,
            true,
            (Disposition::Delete, st, EventOutcome::LeftToReconcile),
        ),
    ] {
        let mut c = claimed(0, "i-0aaaaaaaaaaaaaaa1");
        c.receive_count = receives;
        let results = [(c.instance_id.clone(), blocked(left))].into();
        let d = dispose(&[Reading::Claimed(st)], &[c], &results, &HashMap::new(), 3);
        assert_eq!(d, vec![expected], "{receives} receives, left {left}");
    }
    // Two failing services: the claim stops waiting only when both are left.
    let mut r = blocked(true);
    r.block(false);
    assert!(r.blocked && !r.left);
    // A failure of its own work still comes back, whatever the receive count.
    let mut c = claimed(0, "i-0aaaaaaaaaaaaaaa1");
    c.receive_count = 9;
    let mut failed = blocked(true);
    failed.failed = true;
    let results = [(c.instance_id.clone(), failed)].into();
    let d = dispose(&[Reading::Claimed(st)], &[c], &results, &HashMap::new(), 3);
    assert_eq!(d[0].0, Disposition::Retry);
    // The queue's redrive policy bounds the patience: a message is settled by its last receive.
    assert_eq!(
        [None, Some(1), Some(2), Some(5)].map(patience),
        [3, 1, 2, 3]
    );
}
