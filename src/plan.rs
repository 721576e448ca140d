//! The one decision function: registrations + observed EC2 instances + options → plan (keep / skip /
//! deregister with a reason) and the never-empty guard. Pure: no I/O, no clock, no async.

use std::collections::HashMap;
use std::fmt;

/// The Cloud Map attribute holding the registered IPv4 address (seed rule: without it, skip).
pub const IPV4_ATTRIBUTE: &str = "AWS_INSTANCE_IPV4";

/// One Cloud Map registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub instance_id: String,
    pub ipv4: Option<String>,
}

/// EC2 instance state, as DescribeInstances names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    pub fn parse(name: &str) -> Option<InstanceState> {
        Some(match name {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            _ => return None,
        })
    }
}

/// What EC2 says about one instance, in one account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstance {
    pub instance_id: String,
    pub state: InstanceState,
    /// Every IPv4 address of the instance: primary and secondary private IPs of every network
    /// interface, public and Elastic IPs.
    pub ipv4: Vec<String>,
    pub spot: bool,
    /// The Auto Scaling group it belongs to (its `aws:autoscaling:groupName` tag).
    pub asg_group: Option<String>,
}

/// Why a registration is (or would be) deregistered. Label values of the deregistration metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The instance is shutting-down or terminated.
    Terminated,
    /// The instance is stopping or stopped and `--deregister-stopped` is set.
    Stopped,
    /// The instance lives, but the registered IPv4 is none of its addresses.
    IpMismatch,
    /// No instance with that id in any configured account and region.
    NotFound,
    /// A Spot interruption notice for an instance EC2 confirms is a Spot instance.
    SpotInterruption,
    /// Auto Scaling is terminating the instance (a terminate lifecycle action of its own group).
    AsgTerminate,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Terminated => "terminated",
            Reason::Stopped => "stopped",
            Reason::IpMismatch => "ip-mismatch",
            Reason::NotFound => "not-found",
            Reason::SpotInterruption => "spot-interruption",
            Reason::AsgTerminate => "asg-terminate",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a registration is left untouched without being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// No `AWS_INSTANCE_IPV4` attribute (seed rule).
    NoIpv4,
    /// The id is not an EC2 instance id (e.g. an ECS task): EC2 cannot vouch for or against it.
    NotEc2Id,
    /// Outside the scope of this plan (the event path judges only the instances its events name).
    OutOfScope,
}

/// The decision for one registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Keep,
    Skip(SkipReason),
    Deregister(Reason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub instance_id: String,
    pub action: Action,
}

/// Options that change decisions.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Stopping/stopped instances count as gone.
    pub deregister_stopped: bool,
    /// Turn the never-empty guard off.
    pub allow_empty_service: bool,
}

/// What an event claims about an instance; the plan believes it only as far as EC2 confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// The instance may be gone: judge it by EC2 alone, as the reconcile does.
    Judge,
    /// A Spot interruption notice: leaving if EC2 reports a Spot instance by that id.
    Spot,
    /// An Auto Scaling terminate lifecycle action: leaving if EC2 reports the instance in that group.
    AsgTerminate { group: String },
}

/// Which registrations a plan judges.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every registration (the periodic reconcile).
    All,
    /// Only these instance ids, with what their events claim; the others are assumed to stay (the
    /// event path).
    Only(&'a HashMap<String, Hint>),
}

/// The result of planning one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    /// The never-empty guard held back every deregistration of this plan.
    pub held: bool,
}

impl Plan {
    /// Registrations to deregister now (empty when the guard held).
    pub fn deregistrations(&self) -> impl Iterator<Item = (&str, Reason)> {
        let held = self.held;
        self.decisions.iter().filter_map(move |d| match d.action {
            Action::Deregister(reason) if !held => Some((d.instance_id.as_str(), reason)),
            _ => None,
        })
    }

    /// Registrations the plan would deregister, whether or not the guard held them.
    pub fn wanted(&self) -> impl Iterator<Item = (&str, Reason)> {
        self.decisions.iter().filter_map(|d| match d.action {
            Action::Deregister(reason) => Some((d.instance_id.as_str(), reason)),
            _ => None,
        })
    }

    pub fn count(&self, pred: impl Fn(&Action) -> bool) -> usize {
        self.decisions.iter().filter(|d| pred(&d.action)).count()
    }
}

/// Whether `id` has the form of an EC2 instance id: `i-` and 8 or 17 lowercase hex digits.
pub fn is_ec2_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether EC2 confirms what the event claims: the instance is still there (not already gone) and
/// is a Spot instance, or a member of the named Auto Scaling group.
pub fn confirmed(hint: &Hint, observed: &[ObservedInstance]) -> Option<Reason> {
    let present = |i: &&ObservedInstance| !matches!(i.state, InstanceState::Terminated);
    match hint {
        Hint::Judge => None,
        Hint::Spot => observed
            .iter()
            .filter(present)
            .any(|i| i.spot)
            .then_some(Reason::SpotInterruption),
        Hint::AsgTerminate { group } => observed
            .iter()
            .filter(present)
            .any(|i| i.asg_group.as_deref() == Some(group.as_str()))
            .then_some(Reason::AsgTerminate),
    }
}

/// Judges one registration against every instance EC2 reported under its id.
fn judge(ipv4: &str, observed: &[ObservedInstance], opts: PlanOptions) -> Action {
    // An instance id is unique, but it is looked up in several accounts and regions: keep the
    // registration if any sighting vouches for it, otherwise report the most telling reason.
    let mut worst: Option<Reason> = None;
    for inst in observed {
        let alive = match inst.state {
            InstanceState::Pending | InstanceState::Running => true,
            InstanceState::Stopping | InstanceState::Stopped => !opts.deregister_stopped,
            InstanceState::ShuttingDown | InstanceState::Terminated => false,
        };
        let reason = if !alive {
            match inst.state {
                InstanceState::Stopping | InstanceState::Stopped => Reason::Stopped,
                _ => Reason::Terminated,
            }
        } else if inst.ipv4.iter().any(|ip| ip == ipv4) {
            return Action::Keep;
        } else {
            Reason::IpMismatch
        };
        // Prefer ip-mismatch (a live instance) over stopped over terminated.
        worst = Some(match worst {
            Some(prev) => prev.max(reason),
            None => reason,
        });
    }
    Action::Deregister(worst.unwrap_or(Reason::NotFound))
}

/// Plans one service: which registrations stay, which are skipped, which go and why.
///
/// The never-empty guard (seed rule): unless `allow_empty_service`, a plan that would remove every
/// registration bearing an IPv4 address removes none of them and is marked `held`. A service with
/// no IPv4-bearing registration is not held: there is nothing to do.
pub fn plan(
    registrations: &[Registration],
    observed: &HashMap<String, Vec<ObservedInstance>>,
    opts: PlanOptions,
    scope: Scope<'_>,
) -> Plan {
    let decisions: Vec<Decision> = registrations
        .iter()
        .map(|reg| {
            let seen = observed
                .get(&reg.instance_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let hint = match scope {
                Scope::All => Some(&Hint::Judge),
                Scope::Only(hints) => hints.get(&reg.instance_id),
            };
            let action = match (&reg.ipv4, hint) {
                (None, _) => Action::Skip(SkipReason::NoIpv4),
                (Some(_), None) => Action::Skip(SkipReason::OutOfScope),
                (Some(_), _) if !is_ec2_instance_id(&reg.instance_id) => {
                    Action::Skip(SkipReason::NotEc2Id)
                }
                (Some(ip), Some(hint)) => match confirmed(hint, seen) {
                    Some(reason) => Action::Deregister(reason),
                    None => judge(ip, seen, opts),
                },
            };
            Decision {
                instance_id: reg.instance_id.clone(),
                action,
            }
        })
        .collect();
    let with_ipv4 = registrations.iter().filter(|r| r.ipv4.is_some()).count();
    let leaving = decisions
        .iter()
        .filter(|d| matches!(d.action, Action::Deregister(_)))
        .count();
    let held = !opts.allow_empty_service && leaving > 0 && leaving >= with_ipv4;
    Plan { decisions, held }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "i-0aaaaaaaaaaaaaaa1";
    const B: &str = "i-0bbbbbbbbbbbbbbb2";
    const C: &str = "i-0ccccccccccccccc3";

    fn reg(id: &str, ip: Option<&str>) -> Registration {
        Registration {
            instance_id: id.into(),
            ipv4: ip.map(Into::into),
        }
    }

    fn inst(id: &str, state: InstanceState, ips: &[&str]) -> ObservedInstance {
        ObservedInstance {
            instance_id: id.into(),
            state,
            ipv4: ips.iter().map(|s| s.to_string()).collect(),
            spot: false,
            asg_group: None,
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
            Scope::All,
        );
        assert_eq!(action_of(&p, A), Action::Skip(SkipReason::NoIpv4));
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
        let p = plan(&regs, &obs, PlanOptions::default(), Scope::All);
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
        let p = plan(&regs, &obs, PlanOptions::default(), Scope::All);
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
        let keep = plan(&regs, &obs, PlanOptions::default(), Scope::All);
        assert_eq!(action_of(&keep, A), Action::Keep);
        assert_eq!(action_of(&keep, C), Action::Keep);
        let opts = PlanOptions {
            deregister_stopped: true,
            ..Default::default()
        };
        let gone = plan(&regs, &obs, opts, Scope::All);
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
        let p = plan(&regs, &obs, PlanOptions::default(), Scope::All);
        assert_eq!(action_of(&p, A), Action::Keep);
    }

    #[test]
    fn guard_holds_when_every_ipv4_registration_would_go() {
        let regs = [
            reg(A, Some("10.0.0.1")),
            reg(C, Some("10.0.0.3")),
            reg(B, None),
        ];
        let p = plan(&regs, &HashMap::new(), PlanOptions::default(), Scope::All);
        assert!(p.held);
        assert_eq!(p.deregistrations().count(), 0);
        assert_eq!(p.wanted().count(), 2);

        let opts = PlanOptions {
            allow_empty_service: true,
            ..Default::default()
        };
        let p = plan(&regs, &HashMap::new(), opts, Scope::All);
        assert!(!p.held);
        assert_eq!(p.deregistrations().count(), 2);
    }

    #[test]
    fn guard_counts_unjudged_ipv4_registrations_as_remaining() {
        // An ECS task registration (not an EC2 id) stays, so removing the EC2 one leaves the service
        // with an address: not held.
        let regs = [reg(A, Some("10.0.0.1")), reg("task-1234", Some("10.0.0.7"))];
        let p = plan(&regs, &HashMap::new(), PlanOptions::default(), Scope::All);
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
        let p = plan(&[], &HashMap::new(), PlanOptions::default(), Scope::All);
        assert!(!p.held && p.decisions.is_empty());
        let p = plan(
            &[reg(A, None)],
            &HashMap::new(),
            PlanOptions::default(),
            Scope::All,
        );
        assert!(!p.held);
        assert_eq!(p.wanted().count(), 0);
    }

    #[test]
    fn scope_only_judges_named_instances_and_guards_the_rest() {
        let regs = [reg(A, Some("10.0.0.1")), reg(B, Some("10.0.0.2"))];
        let only: HashMap<String, Hint> = [(A.to_string(), Hint::Judge)].into();
        let obs = observed(vec![inst(A, InstanceState::Terminated, &[])]);
        let p = plan(&regs, &obs, PlanOptions::default(), Scope::Only(&only));
        assert_eq!(action_of(&p, A), Action::Deregister(Reason::Terminated));
        assert_eq!(action_of(&p, B), Action::Skip(SkipReason::OutOfScope));
        assert!(!p.held);

        // The last IPv4 registration is never removed by an event either.
        let p = plan(&regs[..1], &obs, PlanOptions::default(), Scope::Only(&only));
        assert!(p.held);
    }

    #[test]
    fn forged_termination_of_a_running_instance_changes_nothing() {
        let regs = [reg(A, Some("10.0.0.1")), reg(B, Some("10.0.0.2"))];
        let only: HashMap<String, Hint> = [(A.to_string(), Hint::Judge)].into();
        let obs = observed(vec![inst(A, InstanceState::Running, &["10.0.0.1"])]);
        let p = plan(&regs, &obs, PlanOptions::default(), Scope::Only(&only));
        assert_eq!(action_of(&p, A), Action::Keep);
    }

    #[test]
    fn spot_notice_needs_a_spot_instance() {
        let regs = [
            reg(A, Some("10.0.0.1")),
            reg(C, Some("10.0.0.3")),
            reg(B, Some("10.0.0.2")),
        ];
        let only: HashMap<String, Hint> =
            [(A.to_string(), Hint::Spot), (C.to_string(), Hint::Spot)].into();
        let mut spot = inst(A, InstanceState::Running, &["10.0.0.1"]);
        spot.spot = true;
        let on_demand = inst(C, InstanceState::Running, &["10.0.0.3"]);
        let p = plan(
            &regs,
            &observed(vec![spot, on_demand]),
            PlanOptions::default(),
            Scope::Only(&only),
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
        let only: HashMap<String, Hint> =
            [(A.to_string(), hint("web")), (C.to_string(), hint("web"))].into();
        let mut member = inst(A, InstanceState::Running, &["10.0.0.1"]);
        member.asg_group = Some("web".into());
        let mut elsewhere = inst(C, InstanceState::Running, &["10.0.0.3"]);
        elsewhere.asg_group = Some("db".into());
        let p = plan(
            &regs,
            &observed(vec![member, elsewhere]),
            PlanOptions::default(),
            Scope::Only(&only),
        );
        assert_eq!(action_of(&p, A), Action::Deregister(Reason::AsgTerminate));
        assert_eq!(action_of(&p, C), Action::Keep);
    }

    #[test]
    fn ec2_id_shape() {
        assert!(is_ec2_instance_id("i-0123456789abcdef0"));
        assert!(is_ec2_instance_id("i-12345678"));
        assert!(!is_ec2_instance_id("i-0123456789ABCDEF0"));
        assert!(!is_ec2_instance_id("i-123"));
        assert!(!is_ec2_instance_id("web-1"));
    }
}
