//! A decision in words: what the plan decided for one registration and the evidence it had (which
//! account and region said what), for the reconcile's DEBUG line and `check --instance-id`.

use crate::model::plan::{Action, Hold, ObservedInstance, Reason, Registration, SkipReason};

/// The decision, with the rule behind it.
pub fn decision(action: Action) -> String {
    match action {
        Action::Keep => "keep: EC2 shows the instance alive at a registered address".to_string(),
        Action::Skip(SkipReason::NoAddress) => {
            "skip: no AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6 attribute, nothing to check".to_string()
        }
        Action::Skip(SkipReason::NotEc2Id) => {
            "skip: not an EC2 instance id (an ECS task, a name): EC2 cannot vouch for it".to_string()
        }
        Action::Skip(SkipReason::OutOfScope) => {
            "skip: not named by the events being handled (the reconcile judges it)".to_string()
        }
        Action::Hold(Hold::Unconfirmed) => {
            "keep for now: not found once; removed if a second lookup after --not-found-grace agrees"
                .to_string()
        }
        Action::Hold(Hold::Surge) => {
            "keep: not found, but too many of the service are (--max-not-found): an account or region not looked in?"
                .to_string()
        }
        Action::Hold(Hold::Unanswered) => {
            "keep: not found where asked, but an account or region did not answer (it may live there)"
                .to_string()
        }
        Action::Deregister(reason) => format!("deregister: {}", why(reason)),
    }
}

fn why(reason: Reason) -> &'static str {
    match reason {
        Reason::Terminated => "terminated (shutting-down or terminated in EC2)",
        Reason::Stopped => "stopped (stopping or stopped in EC2, with --deregister-stopped)",
        Reason::IpMismatch => "ip-mismatch (the instance lives, but not at the registered address)",
        Reason::NotFound => {
            "not-found (no instance by that id in any account and region asked, twice)"
        }
        Reason::SpotInterruption => "spot-interruption (EC2 confirms a Spot instance by that id)",
        Reason::AsgTerminate => "asg-terminate (Auto Scaling terminates it, in its own group)",
        Reason::ScheduledEvent => {
            "scheduled-event (a scheduled EC2 event starts within the lead time)"
        }
        Reason::Rebalance => {
            "rebalance (a rebalance recommendation, with --on-rebalance deregister)"
        }
    }
}

/// What each account and region said about the registration's instance: `ACCOUNT/REGION: STATE at
/// ADDRESSES`, or that none of the `asked` targets knows it. `home`: the home account's id.
pub fn evidence(sightings: &[ObservedInstance], asked: usize, home: &str) -> Vec<String> {
    if sightings.is_empty() {
        return vec![format!(
            "not found in any of the {asked} account and region pairs asked"
        )];
    }
    sightings
        .iter()
        .map(|o| {
            let mut addresses: Vec<&str> = o.ipv4.iter().map(String::as_str).collect();
            addresses.extend(o.ipv6.iter().map(String::as_str));
            let at = if addresses.is_empty() {
                "no address".to_string()
            } else {
                addresses.join(", ")
            };
            let ended = o
                .ended
                .map(|t| format!(", ended {}", crate::model::domain::rfc3339(t)))
                .unwrap_or_default();
            let account = if o.account == "home" {
                home
            } else {
                &o.account
            };
            format!("{account}/{}: {} at {at}{ended}", o.region, o.state)
        })
        .collect()
}

/// The registration as it is registered: its instance, and the addresses it points at.
pub fn registered(r: &Registration) -> String {
    let mut at: Vec<&str> = r.ipv4.iter().map(String::as_str).collect();
    at.extend(r.ipv6.iter().map(String::as_str));
    format!(
        "{} → instance {} at {}",
        r.instance_id,
        r.target(),
        if at.is_empty() {
            "no address".to_string()
        } else {
            at.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::domain::InstanceState;

    #[test]
    fn a_decision_names_its_rule_and_each_target_what_it_said() {
        let seen = ObservedInstance {
            instance_id: "i-0123456789abcdef0".into(),
            state: InstanceState::Running,
            ipv4: vec!["10.0.0.9".into()],
            ipv6: vec![],
            spot: false,
            asg_group: None,
            account: "222222222222".into(),
            region: "eu-west-1".into(),
            ended: None,
        };
        assert_eq!(
            evidence(&[seen], 3, "123456789012"),
            vec!["222222222222/eu-west-1: running at 10.0.0.9"]
        );
        assert_eq!(
            evidence(&[], 3, "123456789012"),
            vec!["not found in any of the 3 account and region pairs asked"]
        );
        assert!(
            decision(Action::Deregister(Reason::IpMismatch)).starts_with("deregister: ip-mismatch")
        );
        assert!(decision(Action::Hold(Hold::Surge)).contains("--max-not-found"));
    }
}
