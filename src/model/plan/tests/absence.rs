//! Not-found is only the absence of an answer: held in a surge, and until a second lookup confirms it.

use super::*;

fn many(n: usize) -> Vec<Registration> {
    (0..n)
        .map(|i| {
            reg(
                &format!("i-{i:017x}"),
                Some(&format!("10.0.{}.{}", i / 250, i % 250)),
            )
        })
        .collect()
}

fn live(regs: &[Registration]) -> Vec<ObservedInstance> {
    regs.iter()
        .map(|r| {
            inst(
                &r.instance_id,
                InstanceState::Running,
                &[r.ipv4.as_deref().unwrap()],
            )
        })
        .collect()
}

#[test]
fn a_surge_of_not_found_is_held_while_ec2_s_word_still_goes() {
    // 22 registrations: 12 live, 1 terminated, 9 whose account nobody asked (more than 10 %, more
    // than 2): the 9 stay, the terminated one goes.
    let regs = many(22);
    let mut seen = live(&regs[..12]);
    seen.push(inst(&regs[12].instance_id, InstanceState::Terminated, &[]));
    let p = plan(&regs, &observed(seen), PlanOptions::default(), Judging::All);
    assert!(p.surge && !p.held);
    assert_eq!(p.count(|a| *a == Action::Hold(Hold::Surge)), 9);
    assert_eq!(
        p.deregistrations().collect::<Vec<_>>(),
        vec![(regs[12].instance_id.as_str(), Reason::Terminated)]
    );
    // 100 % turns the bound off; a count bound holds above that count.
    let off = PlanOptions {
        max_not_found: NotFoundBound::Percent(100),
        ..Default::default()
    };
    let seen = live(&regs[..13]);
    assert_eq!(
        plan(&regs, &observed(seen.clone()), off, Judging::All)
            .deregistrations()
            .count(),
        9
    );
    for (bound, surge) in [(8, true), (9, false)] {
        let opts = PlanOptions {
            max_not_found: NotFoundBound::Count(bound),
            ..Default::default()
        };
        assert_eq!(
            plan(&regs, &observed(seen.clone()), opts, Judging::All).surge,
            surge,
            "{bound}"
        );
    }
}

#[test]
fn a_few_not_found_are_no_surge() {
    // Two, or no more than 10 %: an ordinary straggler, not a forgotten account.
    for (n, gone) in [(22, 2), (30, 3)] {
        let regs = many(n);
        let seen = live(&regs[gone..]);
        let p = plan(&regs, &observed(seen), PlanOptions::default(), Judging::All);
        assert!(!p.surge, "{gone} of {n}");
        assert_eq!(p.deregistrations().count(), gone);
    }
    assert!(!NotFoundBound::Percent(10).surge(3, 30));
    assert!(NotFoundBound::Percent(10).surge(4, 30));
}

#[test]
fn not_found_goes_only_once_its_absence_is_confirmed() {
    let regs = [
        reg(A, Some("10.0.0.1")),
        reg(B, Some("10.0.0.2")),
        reg(C, Some("10.0.0.3")),
    ];
    let seen = observed(vec![live_b()]);
    let first = HashSet::new();
    let p = plan_with(
        &regs,
        &seen,
        PlanOptions::default(),
        Judging::All,
        Some(&first),
    );
    assert_eq!(action_of(&p, A), Action::Hold(Hold::Unconfirmed));
    assert_eq!(p.unconfirmed().collect::<Vec<_>>(), vec![A, C]);
    assert_eq!(p.deregistrations().count(), 0);
    let confirmed: HashSet<String> = [A.to_string()].into();
    let p = plan_with(
        &regs,
        &seen,
        PlanOptions::default(),
        Judging::All,
        Some(&confirmed),
    );
    assert_eq!(action_of(&p, A), Action::Deregister(Reason::NotFound));
    assert_eq!(action_of(&p, C), Action::Hold(Hold::Unconfirmed));
    // Held registrations count as remaining for the never-empty guard.
    let p = plan_with(
        &regs[..1],
        &HashMap::new(),
        PlanOptions::default(),
        Judging::All,
        Some(&first),
    );
    assert!(!p.held);
}

#[test]
fn a_target_that_did_not_answer_holds_only_not_found() {
    // A terminated, B live, C stopped, D at another address, E not found while some account did
    // not answer: EC2's word on A, C and D acts; E waits (it may live in the silent account).
    let regs = many(5);
    let id = |i: usize| regs[i].instance_id.as_str();
    let mut seen = vec![
        inst(id(0), InstanceState::Terminated, &[]),
        inst(id(2), InstanceState::Stopped, &["10.0.0.2"]),
        inst(id(3), InstanceState::Running, &["10.9.9.9"]),
    ];
    seen.extend(live(&regs[1..2]));
    let opts = PlanOptions {
        deregister_stopped: true,
        max_not_found: NotFoundBound::Percent(100),
        unanswered: true,
        ..Default::default()
    };
    let p = plan_with(&regs, &observed(seen), opts, Judging::All, None);
    assert_eq!(
        p.deregistrations().collect::<Vec<_>>(),
        vec![
            (id(0), Reason::Terminated),
            (id(2), Reason::Stopped),
            (id(3), Reason::IpMismatch)
        ]
    );
    assert_eq!(action_of(&p, id(4)), Action::Hold(Hold::Unanswered));
    assert_eq!(p.unanswered().collect::<Vec<_>>(), vec![id(4)]);
    assert_eq!(p.not_found().count(), 0, "no sighting of an absence");
    assert!(!p.held && !p.surge);
}

#[test]
fn the_guards_still_judge_the_whole_service_when_a_target_is_silent() {
    // 22 registrations, 9 not found while a target is silent: still a surge (the guard counts
    // the whole service), and the terminated one still goes.
    let regs = many(22);
    let mut seen = live(&regs[..12]);
    seen.push(inst(&regs[12].instance_id, InstanceState::Terminated, &[]));
    let opts = PlanOptions {
        unanswered: true,
        ..Default::default()
    };
    let p = plan_with(&regs, &observed(seen), opts, Judging::All, None);
    assert!(p.surge);
    assert_eq!(p.count(|a| *a == Action::Hold(Hold::Surge)), 9);
    assert_eq!(p.deregistrations().count(), 1);
    // Every registration with an address terminated: the never-empty guard holds, silence or not.
    let two = many(2);
    let dead = two
        .iter()
        .map(|r| inst(&r.instance_id, InstanceState::Terminated, &[]))
        .collect();
    let p = plan_with(&two, &observed(dead), opts, Judging::All, None);
    assert!(p.held);
    assert_eq!(p.deregistrations().count(), 0);
}
