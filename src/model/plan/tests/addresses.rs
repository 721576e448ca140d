//! IPv6 registrations, alone or beside IPv4: judged against every address of the instance, compared
//! as addresses rather than text.

use super::*;

fn reg6(id: &str, v4: Option<&str>, v6: Option<&str>) -> Registration {
    Registration {
        instance_id: id.into(),
        ec2_id: None,
        ipv4: v4.map(Into::into),
        ipv6: v6.map(Into::into),
        ..Default::default()
    }
}

fn dual(id: &str, state: InstanceState, v4: &[&str], v6: &[&str]) -> ObservedInstance {
    ObservedInstance {
        ended: None,
        ipv6: v6.iter().map(|s| s.to_string()).collect(),
        ..inst(id, state, v4)
    }
}

#[test]
fn an_ipv6_only_registration_is_judged_not_skipped() {
    let regs = [
        reg6(A, None, Some("2001:db8::1")),
        reg6(B, None, Some("2001:db8::2")),
        reg6(C, None, Some("2001:db8::3")),
    ];
    let seen = observed(vec![
        // Written another way, the same address: kept.
        dual(A, InstanceState::Running, &[], &["2001:0db8:0:0:0:0:0:1"]),
        dual(B, InstanceState::Terminated, &[], &[]),
        // Live, but that address is no longer its: recycled.
        dual(C, InstanceState::Running, &[], &["2001:db8::99"]),
    ]);
    let p = plan(&regs, &seen, PlanOptions::default(), Judging::All);
    assert_eq!(action_of(&p, A), Action::Keep);
    assert_eq!(action_of(&p, B), Action::Deregister(Reason::Terminated));
    assert_eq!(action_of(&p, C), Action::Deregister(Reason::IpMismatch));
}

#[test]
fn a_dual_stack_registration_needs_both_of_its_addresses() {
    let regs = [
        reg6(A, Some("10.0.0.1"), Some("2001:db8::1")),
        reg6(B, Some("10.0.0.2"), Some("2001:db8::2")),
        reg6(C, Some("10.0.0.3"), None),
    ];
    let seen = observed(vec![
        dual(
            A,
            InstanceState::Running,
            &["10.0.0.1"],
            &["2001:db8::1", "2001:db8::a"],
        ),
        dual(B, InstanceState::Running, &["10.0.0.2"], &["2001:db8::b"]),
        dual(C, InstanceState::Running, &["10.0.0.3"], &["2001:db8::c"]),
    ]);
    let p = plan(&regs, &seen, PlanOptions::default(), Judging::All);
    assert_eq!(action_of(&p, A), Action::Keep);
    assert_eq!(action_of(&p, B), Action::Deregister(Reason::IpMismatch));
    assert_eq!(action_of(&p, C), Action::Keep);
}

#[test]
fn the_never_empty_guard_counts_ipv6_registrations() {
    // The IPv6-only registration stays: removing the IPv4 one does not empty the service.
    let regs = [
        reg6(A, Some("10.0.0.1"), None),
        reg6(B, None, Some("2001:db8::2")),
    ];
    let seen = observed(vec![dual(B, InstanceState::Running, &[], &["2001:db8::2"])]);
    let p = plan(&regs, &seen, PlanOptions::default(), Judging::All);
    assert!(!p.held);
    assert_eq!(p.deregistrations().count(), 1);
    // Both gone: held.
    let p = plan(&regs, &HashMap::new(), PlanOptions::default(), Judging::All);
    assert!(p.held);
}

#[test]
fn addresses_compare_as_addresses() {
    assert!(same_address("2001:db8::1", "2001:0DB8:0:0:0:0:0:1"));
    assert!(same_address("10.0.0.1", "10.0.0.1"));
    assert!(!same_address("10.0.0.1", "10.0.0.10"));
    assert!(!same_address("::ffff:10.0.0.1", "2001:db8::1"));
    assert!(same_address("not-an-address", "not-an-address"));
}
