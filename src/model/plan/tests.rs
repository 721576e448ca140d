//! The decision function's rules, one plain test each (the not-found guards in `absence`).

mod absence;
mod addresses;
mod named;

use super::*;

const A: &str = "i-0aaaaaaaaaaaaaaa1";
const B: &str = "i-0bbbbbbbbbbbbbbb2";
const C: &str = "i-0ccccccccccccccc3";

fn reg(id: &str, ip: Option<&str>) -> Registration {
    Registration {
        instance_id: id.into(),
        ec2_id: None,
        ipv4: ip.map(Into::into),
        ipv6: None,
        ..Default::default()
    }
}

fn inst(id: &str, state: InstanceState, ips: &[&str]) -> ObservedInstance {
    ObservedInstance {
        ended: None,
        instance_id: id.into(),
        state,
        ipv4: ips.iter().map(|s| s.to_string()).collect(),
        ipv6: Vec::new(),
        spot: false,
        asg_group: None,
        account: "home".into(),
        region: "eu-west-1".into(),
    }
}

fn observed(list: Vec<ObservedInstance>) -> HashMap<String, Vec<ObservedInstance>> {
    let mut map: HashMap<String, Vec<ObservedInstance>> = HashMap::new();
    for i in list {
        map.entry(i.instance_id.clone()).or_default().push(i);
    }
    map
}

fn action_of(p: &Plan, id: &str) -> Action {
    p.decisions
        .iter()
        .find(|d| d.instance_id == id)
        .unwrap()
        .action
}

fn live_b() -> ObservedInstance {
    inst(B, InstanceState::Running, &["10.0.0.2"])
}

#[test]
fn registration_without_ipv4_is_skipped_even_if_instance_is_gone() {
    let regs = [reg(A, None), reg(B, Some("10.0.0.2"))];
    let p = plan(
        &regs,
        &observed(vec![live_b()]),
        PlanOptions::default(),
        Judging::All,
    );
    assert_eq!(action_of(&p, A), Action::Skip(SkipReason::NoAddress));
    assert_eq!(action_of(&p, B), Action::Keep);
    assert!(!p.held);
}

#[test]
fn running_instance_is_kept_under_any_of_its_addresses() {
    let regs = [
        reg(A, Some("10.0.0.9")), // secondary private IP
        reg(C, Some("54.1.2.3")), // public / elastic IP
        reg(B, Some("10.0.0.2")),
    ];
    let obs = observed(vec![
        inst(A, InstanceState::Running, &["10.0.0.1", "10.0.0.9"]),
        inst(C, InstanceState::Pending, &["10.0.0.3", "54.1.2.3"]),
        live_b(),
    ]);
    let p = plan(&regs, &obs, PlanOptions::default(), Judging::All);
    assert!(
        p.decisions.iter().all(|d| d.action == Action::Keep),
        "{p:?}"
    );
}

#[test]
fn each_reason() {
    let regs = [
        reg(A, Some("10.0.0.1")),
        reg(C, Some("10.0.0.3")),
        reg("i-0ddddddddddddddd4", Some("10.0.0.4")),
        reg("i-0eeeeeeeeeeeeeee5", Some("10.0.0.5")),
        reg(B, Some("10.0.0.2")),
    ];
    let obs = observed(vec![
        inst(A, InstanceState::Terminated, &[]),
        inst(C, InstanceState::Running, &["10.9.9.9"]),
        inst(
            "i-0eeeeeeeeeeeeeee5",
            InstanceState::ShuttingDown,
            &["10.0.0.5"],
        ),
        live_b(),
    ]);
    let p = plan(&regs, &obs, PlanOptions::default(), Judging::All);
    assert_eq!(action_of(&p, A), Action::Deregister(Reason::Terminated));
    assert_eq!(action_of(&p, C), Action::Deregister(Reason::IpMismatch));
    assert_eq!(
        action_of(&p, "i-0ddddddddddddddd4"),
        Action::Deregister(Reason::NotFound)
    );
    assert_eq!(
        action_of(&p, "i-0eeeeeeeeeeeeeee5"),
        Action::Deregister(Reason::Terminated)
    );
    assert_eq!(action_of(&p, B), Action::Keep);
    assert!(!p.held);
    assert_eq!(p.deregistrations().count(), 4);
}

#[test]
fn stopped_is_kept_unless_asked() {
    let regs = [
        reg(A, Some("10.0.0.1")),
        reg(C, Some("10.0.0.3")),
        reg(B, Some("10.0.0.2")),
    ];
    let obs = observed(vec![
        inst(A, InstanceState::Stopped, &["10.0.0.1"]),
        inst(C, InstanceState::Stopping, &["10.0.0.3"]),
        live_b(),
    ]);
    let keep = plan(&regs, &obs, PlanOptions::default(), Judging::All);
    assert_eq!(action_of(&keep, A), Action::Keep);
    assert_eq!(action_of(&keep, C), Action::Keep);
    let opts = PlanOptions {
        deregister_stopped: true,
        ..Default::default()
    };
    let gone = plan(&regs, &obs, opts, Judging::All);
    assert_eq!(action_of(&gone, A), Action::Deregister(Reason::Stopped));
    assert_eq!(action_of(&gone, C), Action::Deregister(Reason::Stopped));
}

#[test]
fn any_sighting_that_vouches_keeps() {
    // Same id seen terminated in one region and running in another: kept.
    let regs = [reg(A, Some("10.0.0.1"))];
    let obs = observed(vec![
        inst(A, InstanceState::Terminated, &[]),
        inst(A, InstanceState::Running, &["10.0.0.1"]),
    ]);
    let p = plan(&regs, &obs, PlanOptions::default(), Judging::All);
    assert_eq!(action_of(&p, A), Action::Keep);
}

#[test]
fn guard_holds_when_every_ipv4_registration_would_go() {
    let regs = [
        reg(A, Some("10.0.0.1")),
        reg(C, Some("10.0.0.3")),
        reg(B, None),
    ];
    let p = plan(&regs, &HashMap::new(), PlanOptions::default(), Judging::All);
    assert!(p.held);
    assert_eq!(p.deregistrations().count(), 0);
    assert_eq!(p.wanted().count(), 2);

    let opts = PlanOptions {
        allow_empty_service: true,
        ..Default::default()
    };
    let p = plan(&regs, &HashMap::new(), opts, Judging::All);
    assert!(!p.held);
    assert_eq!(p.deregistrations().count(), 2);
}

#[test]
fn guard_counts_unjudged_ipv4_registrations_as_remaining() {
    // An ECS task registration (not an EC2 id) stays, so removing the EC2 one leaves the service
    // with an address: not held.
    let regs = [reg(A, Some("10.0.0.1")), reg("task-1234", Some("10.0.0.7"))];
    let p = plan(&regs, &HashMap::new(), PlanOptions::default(), Judging::All);
    assert_eq!(
        action_of(&p, "task-1234"),
        Action::Skip(SkipReason::NotEc2Id)
    );
    assert!(!p.held);
    assert_eq!(
        p.deregistrations().collect::<Vec<_>>(),
        vec![(A, Reason::NotFound)]
    );
}

#[test]
fn empty_or_ipv4_less_service_is_not_held() {
    let p = plan(&[], &HashMap::new(), PlanOptions::default(), Judging::All);
    assert!(!p.held && p.decisions.is_empty());
    let p = plan(
        &[reg(A, None)],
        &HashMap::new(),
        PlanOptions::default(),
        Judging::All,
    );
    assert!(!p.held);
    assert_eq!(p.wanted().count(), 0);
}

#[test]
fn scope_only_judges_named_instances_and_guards_the_rest() {
    let regs = [reg(A, Some("10.0.0.1")), reg(B, Some("10.0.0.2"))];
    let only: Claimed = [(A.to_string(), vec![Hint::Judge])].into();
    let obs = observed(vec![inst(A, InstanceState::Terminated, &[])]);
    let p = plan(&regs, &obs, PlanOptions::default(), Judging::Only(&only));
    assert_eq!(action_of(&p, A), Action::Deregister(Reason::Terminated));
    assert_eq!(action_of(&p, B), Action::Skip(SkipReason::OutOfScope));
    assert!(!p.held);

    // The last IPv4 registration is never removed by an event either.
    let p = plan(
        &regs[..1],
        &obs,
        PlanOptions::default(),
        Judging::Only(&only),
    );
    assert!(p.held);
}

#[test]
fn forged_termination_of_a_running_instance_changes_nothing() {
    let regs = [reg(A, Some("10.0.0.1")), reg(B, Some("10.0.0.2"))];
    let only: Claimed = [(A.to_string(), vec![Hint::Judge])].into();
    let obs = observed(vec![inst(A, InstanceState::Running, &["10.0.0.1"])]);
    let p = plan(&regs, &obs, PlanOptions::default(), Judging::Only(&only));
    assert_eq!(action_of(&p, A), Action::Keep);
}

#[test]
fn spot_notice_needs_a_spot_instance() {
    let regs = [
        reg(A, Some("10.0.0.1")),
        reg(C, Some("10.0.0.3")),
        reg(B, Some("10.0.0.2")),
    ];
    let only: Claimed = [
        (A.to_string(), vec![Hint::Spot]),
        (C.to_string(), vec![Hint::Spot]),
    ]
    .into();
    let mut spot = inst(A, InstanceState::Running, &["10.0.0.1"]);
    spot.spot = true;
    let on_demand = inst(C, InstanceState::Running, &["10.0.0.3"]);
    let p = plan(
        &regs,
        &observed(vec![spot, on_demand]),
        PlanOptions::default(),
        Judging::Only(&only),
    );
    assert_eq!(
        action_of(&p, A),
        Action::Deregister(Reason::SpotInterruption)
    );
    assert_eq!(
        action_of(&p, C),
        Action::Keep,
        "a forged notice for an on-demand instance"
    );
}

#[test]
fn asg_termination_needs_membership_of_that_group() {
    let regs = [
        reg(A, Some("10.0.0.1")),
        reg(C, Some("10.0.0.3")),
        reg(B, Some("10.0.0.2")),
    ];
    let hint = |g: &str| Hint::AsgTerminate { group: g.into() };
    let only: Claimed = [
        (A.to_string(), vec![hint("web")]),
        (C.to_string(), vec![hint("web")]),
    ]
    .into();
    let mut member = inst(A, InstanceState::Running, &["10.0.0.1"]);
    member.asg_group = Some("web".into());
    let mut elsewhere = inst(C, InstanceState::Running, &["10.0.0.3"]);
    elsewhere.asg_group = Some("db".into());
    let p = plan(
        &regs,
        &observed(vec![member, elsewhere]),
        PlanOptions::default(),
        Judging::Only(&only),
    );
    assert_eq!(action_of(&p, A), Action::Deregister(Reason::AsgTerminate));
    assert_eq!(action_of(&p, C), Action::Keep);
}

#[test]
fn the_most_telling_reason_wins_whatever_the_order() {
    let regs = [reg(A, Some("10.0.0.1")), live_reg()];
    for sightings in [
        vec![
            inst(A, InstanceState::Terminated, &[]),
            inst(A, InstanceState::Stopped, &["10.0.0.1"]),
            inst(A, InstanceState::Running, &["10.9.9.9"]),
        ],
        vec![
            inst(A, InstanceState::Running, &["10.9.9.9"]),
            inst(A, InstanceState::Stopped, &["10.0.0.1"]),
            inst(A, InstanceState::Terminated, &[]),
        ],
    ] {
        let opts = PlanOptions {
            deregister_stopped: true,
            ..Default::default()
        };
        let mut all = sightings;
        all.push(live_b());
        let p = plan(&regs, &observed(all), opts, Judging::All);
        assert_eq!(action_of(&p, A), Action::Deregister(Reason::IpMismatch));
    }
    let p = plan(
        &regs,
        &observed(vec![
            inst(A, InstanceState::Stopped, &["10.0.0.1"]),
            inst(A, InstanceState::Terminated, &[]),
            live_b(),
        ]),
        PlanOptions {
            deregister_stopped: true,
            ..Default::default()
        },
        Judging::All,
    );
    assert_eq!(action_of(&p, A), Action::Deregister(Reason::Stopped));
}

#[test]
fn a_forged_claim_does_not_mask_a_genuine_one() {
    // A real Auto Scaling termination and a forged Spot notice for the same instance, in either
    // order: the instance is a running member of "web", not a Spot instance.
    let regs = [reg(A, Some("10.0.0.1")), live_reg()];
    let mut member = inst(A, InstanceState::Running, &["10.0.0.1"]);
    member.asg_group = Some("web".into());
    let asg = Hint::AsgTerminate {
        group: "web".into(),
    };
    for hints in [vec![asg.clone(), Hint::Spot], vec![Hint::Spot, asg.clone()]] {
        let only: Claimed = [(A.to_string(), hints)].into();
        let p = plan(
            &regs,
            &observed(vec![member.clone(), live_b()]),
            PlanOptions::default(),
            Judging::Only(&only),
        );
        assert_eq!(action_of(&p, A), Action::Deregister(Reason::AsgTerminate));
    }
}

fn live_reg() -> Registration {
    reg(B, Some("10.0.0.2"))
}
