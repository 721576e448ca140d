//! Registrations named otherwise (`web-1`) and judged by their `AWS_EC2_INSTANCE_ID` attribute.

use super::*;

/// A registration named otherwise, whose EC2 instance is in its `AWS_EC2_INSTANCE_ID` attribute.
fn named(name: &str, ec2: Option<&str>, ip: &str) -> Registration {
    Registration {
        instance_id: name.into(),
        ec2_id: ec2.map(Into::into),
        ipv4: Some(ip.into()),
        ipv6: None,
        ..Default::default()
    }
}

#[test]
fn a_registration_is_judged_by_its_ec2_instance_id_attribute() {
    let regs = [
        named("web-1", Some(A), "10.0.0.1"),
        named("web-2", Some(B), "10.0.0.2"),
        named("web-3", None, "10.0.0.3"),
        named("web-4", Some("not-an-instance"), "10.0.0.4"),
    ];
    let seen = observed(vec![inst(A, InstanceState::Terminated, &[]), live_b()]);
    let p = plan(&regs, &seen, PlanOptions::default(), Judging::All);
    assert_eq!(
        action_of(&p, "web-1"),
        Action::Deregister(Reason::Terminated)
    );
    assert_eq!(action_of(&p, "web-2"), Action::Keep);
    // With neither an EC2 id nor the attribute, nothing can vouch for or against it.
    assert_eq!(action_of(&p, "web-3"), Action::Skip(SkipReason::NotEc2Id));
    assert_eq!(action_of(&p, "web-4"), Action::Skip(SkipReason::NotEc2Id));
    // The event path claims the EC2 id and finds the registration by its attribute.
    let only: Claimed = [(A.to_string(), vec![Hint::Judge])].into();
    let p = plan(&regs, &seen, PlanOptions::default(), Judging::Only(&only));
    assert_eq!(
        p.deregistrations().collect::<Vec<_>>(),
        vec![("web-1", Reason::Terminated)]
    );
}
