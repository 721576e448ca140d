//! The one decision function: registrations + observed EC2 instances + options → plan (keep / skip /
//! deregister with a reason) and the never-empty guard. Pure: no I/O, no clock, no async.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::model::domain::{is_ec2_instance_id, InstanceState};

mod inputs;
pub use inputs::*;

/// Why a registration is (or would be) deregistered. Label values of the deregistration metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// A scheduled EC2 event (retirement, stop, reboot, maintenance) starts within the lead time.
    ScheduledEvent,
    /// An EC2 rebalance recommendation for a Spot instance, with `--on-rebalance deregister`.
    Rebalance,
}

impl Reason {
    /// How much a reason tells about a registration seen under several accounts or regions: a
    /// live instance at another address (ip-mismatch) tells more than a stopped one, which tells
    /// more than a terminated one. Event-confirmed and not-found reasons never compete here.
    fn telling(self) -> u8 {
        match self {
            Reason::IpMismatch => 3,
            Reason::Stopped => 2,
            Reason::Terminated => 1,
            Reason::NotFound
            | Reason::SpotInterruption
            | Reason::AsgTerminate
            | Reason::ScheduledEvent
            | Reason::Rebalance => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Terminated => "terminated",
            Reason::Stopped => "stopped",
            Reason::IpMismatch => "ip-mismatch",
            Reason::NotFound => "not-found",
            Reason::SpotInterruption => "spot-interruption",
            Reason::ScheduledEvent => "scheduled-event",
            Reason::Rebalance => "rebalance-recommendation",
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
    NoAddress,
    /// The id is not an EC2 instance id (e.g. an ECS task): EC2 cannot vouch for or against it.
    NotEc2Id,
    /// Outside the scope of this plan (the event path judges only the instances its events name).
    OutOfScope,
}

/// Why a `not-found` registration is kept for now: absence of evidence is not evidence of death.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Not found only once so far (EC2 is eventually consistent: a new instance can be missing from
    /// DescribeInstances for a while); gone only if a second lookup a grace period later agrees.
    Unconfirmed,
    /// Too many of the service's registrations are not found at once: the sign of an account or
    /// region cloud-unmap does not look in, not of dead instances.
    Surge,
    /// Not found among the targets that answered while another did not (a role that cannot be
    /// assumed, AccessDenied, a region not enabled): the instance may live there.
    Unanswered,
}

/// The decision for one registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Keep,
    Skip(SkipReason),
    Deregister(Reason),
    /// Judged `not-found`, kept for now.
    Hold(Hold),
}

/// Above how many `not-found` registrations of one service they count as a surge and are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFoundBound {
    /// More than this percentage of the registrations with an address, and more than two.
    Percent(u8),
    /// More than this many.
    Count(usize),
}

impl Default for NotFoundBound {
    fn default() -> Self {
        NotFoundBound::Percent(10)
    }
}

impl NotFoundBound {
    /// Whether `not_found` of `with_ipv4` registrations is a surge. `Percent(100)` never is.
    pub fn surge(self, not_found: usize, with_ipv4: usize) -> bool {
        match self {
            NotFoundBound::Percent(p) => {
                not_found > 2 && not_found * 100 > usize::from(p) * with_ipv4
            }
            NotFoundBound::Count(c) => not_found > c,
        }
    }
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
    /// `--max-not-found`.
    pub max_not_found: NotFoundBound,
    /// Some account×region did not answer the lookup: no absence is known, so no `not-found`
    /// registration goes (EC2's positive answers from the others still act).
    pub unanswered: bool,
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
    /// A scheduled EC2 event is due (its start minus the lead time has come): leaving if EC2 still
    /// reports the instance.
    Scheduled,
    /// A rebalance recommendation (`--on-rebalance deregister`): leaving if EC2 reports a Spot
    /// instance by that id.
    Rebalance,
}

/// What the events of a batch claim, per instance id: every distinct hint, so that a weaker
/// (forged) claim never masks a stronger one for the same instance.
pub type Claimed = HashMap<String, Vec<Hint>>;

/// Which registrations a plan judges.
#[derive(Debug, Clone, Copy)]
pub enum Judging<'a> {
    /// Every registration (the periodic reconcile).
    All,
    /// Only these instance ids, with what their events claim; the others are assumed to stay (the
    /// event path).
    Only(&'a Claimed),
}

/// The result of planning one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    /// The never-empty guard held back every deregistration of this plan.
    pub held: bool,
    /// The not-found surge guard held this plan's `not-found` registrations.
    pub surge: bool,
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

    /// Registrations judged `not-found` (deregistered or held) by a lookup every target answered,
    /// or held as a surge.
    pub fn not_found(&self) -> impl Iterator<Item = &str> {
        self.decisions.iter().filter_map(|d| match d.action {
            Action::Deregister(Reason::NotFound)
            | Action::Hold(Hold::Surge | Hold::Unconfirmed) => Some(d.instance_id.as_str()),
            _ => None,
        })
    }

    /// Registrations not found while some target did not answer: neither gone nor seen.
    pub fn unanswered(&self) -> impl Iterator<Item = &str> {
        self.decisions.iter().filter_map(|d| match d.action {
            Action::Hold(Hold::Unanswered) => Some(d.instance_id.as_str()),
            _ => None,
        })
    }

    /// Registrations held until a second lookup confirms they are not found.
    pub fn unconfirmed(&self) -> impl Iterator<Item = &str> {
        self.decisions.iter().filter_map(|d| match d.action {
            Action::Hold(Hold::Unconfirmed) => Some(d.instance_id.as_str()),
            _ => None,
        })
    }
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
        Hint::Rebalance => observed
            .iter()
            .filter(present)
            .any(|i| i.spot)
            .then_some(Reason::Rebalance),
        Hint::Scheduled => observed
            .iter()
            .any(|i| present(&i))
            .then_some(Reason::ScheduledEvent),
        Hint::AsgTerminate { group } => observed
            .iter()
            .filter(present)
            .any(|i| i.asg_group.as_deref() == Some(group.as_str()))
            .then_some(Reason::AsgTerminate),
    }
}

/// Judges one registration against every instance EC2 reported under its id.
fn judge(reg: &Registration, observed: &[ObservedInstance], opts: PlanOptions) -> Action {
    // Every address the registration names must be one of the instance's.
    let has = |registered: &Option<String>, own: &[String]| {
        registered
            .as_deref()
            .is_none_or(|r| own.iter().any(|a| same_address(a, r)))
    };
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
        } else if has(&reg.ipv4, &inst.ipv4) && has(&reg.ipv6, &inst.ipv6) {
            return Action::Keep;
        } else {
            Reason::IpMismatch
        };
        worst = Some(match worst {
            Some(prev) if prev.telling() >= reason.telling() => prev,
            _ => reason,
        });
    }
    Action::Deregister(worst.unwrap_or(Reason::NotFound))
}

/// Plans one service, every absence counting as confirmed (see `plan_with`).
pub fn plan(
    registrations: &[Registration],
    observed: &HashMap<String, Vec<ObservedInstance>>,
    opts: PlanOptions,
    scope: Judging<'_>,
) -> Plan {
    plan_with(registrations, observed, opts, scope, None)
}

/// Plans one service: which registrations stay, which are skipped, which go and why.
///
/// Guards, in order:
/// 1. `not-found` is only the absence of an answer: a registration judged so is deregistered only
///    if its absence is confirmed (`confirmed_absent` holds its id; `None`: every absence is), and
///    none of them is when they are a surge (`opts.max_not_found`, counted over the whole service)
///    or when some target did not answer (`opts.unanswered`). Those are `Hold`s: they stay.
/// 2. The never-empty guard (seed rule): unless `allow_empty_service`, a plan that would remove
///    every registration bearing an address (IPv4 or IPv6) removes none of them and is marked `held`. A
///    service with no registration bearing an address is not held: there is nothing to do.
pub fn plan_with(
    registrations: &[Registration],
    observed: &HashMap<String, Vec<ObservedInstance>>,
    opts: PlanOptions,
    scope: Judging<'_>,
    confirmed_absent: Option<&HashSet<String>>,
) -> Plan {
    let mut decisions: Vec<Decision> = registrations
        .iter()
        .map(|reg| {
            let seen = observed.get(reg.target()).map(Vec::as_slice).unwrap_or(&[]);
            let hints: Option<&[Hint]> = match scope {
                Judging::All => Some(&[Hint::Judge]),
                Judging::Only(claimed) => claimed.get(reg.target()).map(Vec::as_slice),
            };
            let action = match (reg.has_address(), hints) {
                (false, _) => Action::Skip(SkipReason::NoAddress),
                (true, None) => Action::Skip(SkipReason::OutOfScope),
                (true, _) if !is_ec2_instance_id(reg.target()) => {
                    Action::Skip(SkipReason::NotEc2Id)
                }
                (true, Some(hints)) => match hints.iter().find_map(|h| confirmed(h, seen)) {
                    Some(reason) => Action::Deregister(reason),
                    None => judge(reg, seen, opts),
                },
            };
            Decision {
                instance_id: reg.instance_id.clone(),
                action,
            }
        })
        .collect();
    let with_ipv4 = registrations.iter().filter(|r| r.has_address()).count();
    let not_found = decisions
        .iter()
        .filter(|d| d.action == Action::Deregister(Reason::NotFound))
        .count();
    let surge = opts.max_not_found.surge(not_found, with_ipv4);
    for d in &mut decisions {
        if d.action == Action::Deregister(Reason::NotFound) {
            if surge {
                d.action = Action::Hold(Hold::Surge);
            } else if opts.unanswered {
                d.action = Action::Hold(Hold::Unanswered);
            } else if confirmed_absent.is_some_and(|c| !c.contains(&d.instance_id)) {
                d.action = Action::Hold(Hold::Unconfirmed);
            }
        }
    }
    let leaving = decisions
        .iter()
        .filter(|d| matches!(d.action, Action::Deregister(_)))
        .count();
    let held = !opts.allow_empty_service && leaving > 0 && leaving >= with_ipv4;
    Plan {
        decisions,
        held,
        surge,
    }
}

#[cfg(test)]
mod tests;
