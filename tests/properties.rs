//! Property tests over the two pure cores: the event parser (never panics, reads back what a
//! well-formed event says) and the decision function (its safety invariants hold for any input).

use std::collections::{HashMap, HashSet};

use cloud_unmap::model::domain::InstanceState;
use cloud_unmap::model::event::{self, Kind};
use cloud_unmap::model::plan::{
    self, Action, Hint, Judging, ObservedInstance, PlanOptions, Registration,
};
use proptest::prelude::*;

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        ".{0,40}".prop_map(serde_json::Value::String),
        prop_oneof![
            Just("aws.ec2"),
            Just("aws.autoscaling"),
            Just("EC2 Instance State-change Notification"),
            Just("EC2 Spot Instance Interruption Warning"),
            Just("EC2 Instance-terminate Lifecycle Action"),
            Just("terminated"),
            Just("i-0123456789abcdef0"),
            Just("123456789012"),
            Just("us-east-1"),
        ]
        .prop_map(|s| serde_json::Value::String(s.into())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    Just("source".to_string()),
                    Just("detail-type".to_string()),
                    Just("detail".to_string()),
                    Just("account".to_string()),
                    Just("region".to_string()),
                    Just("time".to_string()),
                    Just("instance-id".to_string()),
                    Just("state".to_string()),
                    Just("instance-action".to_string()),
                    Just("EC2InstanceId".to_string()),
                    "[a-zA-Z-]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

const STATES: [&str; 6] = [
    "pending",
    "running",
    "stopping",
    "stopped",
    "shutting-down",
    "terminated",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_any_text(body in ".{0,300}") {
        let _ = event::parse(&body);
    }

    #[test]
    fn parser_never_panics_on_any_json(v in json_value()) {
        let _ = event::parse(&v.to_string());
    }

    #[test]
    fn state_changes_read_back(
        hex in "[0-9a-f]{17}",
        state in 0usize..6,
        account in proptest::option::of("[0-9]{12}"),
        region in proptest::option::of(prop_oneof![Just("us-east-1"), Just("eu-west-1"), Just("ap-southeast-3")]),
    ) {
        let id = format!("i-{hex}");
        let mut v = serde_json::json!({
            "version": "0", "id": "x", "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "time": "2024-01-01T00:00:00Z", "resources": [],
            "detail": {"instance-id": id, "state": STATES[state]},
        });
        if let Some(a) = &account { v["account"] = a.clone().into(); }
        if let Some(r) = region { v["region"] = r.into(); }
        let e = event::parse(&v.to_string()).unwrap();
        prop_assert_eq!(e.kind, Kind::StateChange { instance_id: id, state: InstanceState::parse(STATES[state]).unwrap() });
        prop_assert_eq!(e.account, account);
        prop_assert_eq!(e.region.as_deref(), region);
    }
}

/// A small world: registrations over ids 0..8, sightings of some of them.
fn world() -> impl Strategy<
    Value = (
        Vec<Registration>,
        HashMap<String, Vec<ObservedInstance>>,
        PlanOptions,
    ),
> {
    let id = |n: u8| format!("i-{n:017x}");
    let regs =
        prop::collection::vec((0u8..8, proptest::option::of(0u8..4)), 0..10).prop_map(move |v| {
            v.into_iter()
                .map(|(n, ip)| Registration {
                    instance_id: id(n),
                    ec2_id: None,
                    ipv4: ip.map(|k| format!("10.0.0.{k}")),
                    ipv6: None,
                    ..Default::default()
                })
                .collect::<Vec<_>>()
        });
    let seen = prop::collection::vec(
        (
            0u8..8,
            0usize..6,
            prop::collection::vec(0u8..4, 0..3),
            any::<bool>(),
        ),
        0..10,
    )
    .prop_map(move |v| {
        let mut map: HashMap<String, Vec<ObservedInstance>> = HashMap::new();
        for (n, st, ips, spot) in v {
            map.entry(id(n)).or_default().push(ObservedInstance {
                ended: None,
                instance_id: id(n),
                state: InstanceState::parse(STATES[st]).unwrap(),
                ipv4: ips.into_iter().map(|k| format!("10.0.0.{k}")).collect(),
                ipv6: Vec::new(),
                spot,
                asg_group: None,
                account: "home".into(),
                region: "eu-west-1".into(),
            });
        }
        map
    });
    let bound = prop_oneof![
        (0u8..=100).prop_map(plan::NotFoundBound::Percent),
        (0usize..5).prop_map(plan::NotFoundBound::Count),
    ];
    let flags = (any::<bool>(), any::<bool>(), any::<bool>());
    (regs, seen, flags, bound).prop_map(|(r, s, (stopped, empty, unanswered), bound)| {
        (
            r,
            s,
            PlanOptions {
                deregister_stopped: stopped,
                allow_empty_service: empty,
                max_not_found: bound,
                unanswered,
            },
        )
    })
}

fn vouches(o: &ObservedInstance, ip: &str, opts: PlanOptions) -> bool {
    let alive = match o.state {
        InstanceState::Pending | InstanceState::Running => true,
        InstanceState::Stopping | InstanceState::Stopped => !opts.deregister_stopped,
        _ => false,
    };
    alive && o.ipv4.iter().any(|a| a == ip)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn plan_keeps_exactly_what_ec2_vouches_for((regs, seen, opts) in world()) {
        let p = plan::plan(&regs, &seen, opts, Judging::All);
        for (r, d) in regs.iter().zip(&p.decisions) {
            match (&r.ipv4, d.action) {
                (None, a) => prop_assert_eq!(a, Action::Skip(plan::SkipReason::NoAddress)),
                (Some(ip), Action::Keep) => prop_assert!(seen.get(&r.instance_id).into_iter().flatten().any(|o| vouches(o, ip, opts))),
                // With a target silent, nothing goes for not being found.
                (Some(_), Action::Deregister(plan::Reason::NotFound)) => prop_assert!(!opts.unanswered),
                (Some(ip), Action::Deregister(_)) => prop_assert!(!seen.get(&r.instance_id).into_iter().flatten().any(|o| vouches(o, ip, opts))),
                (Some(_), Action::Hold(plan::Hold::Unanswered)) => prop_assert!(opts.unanswered && !p.surge && seen.get(&r.instance_id).is_none_or(|v| v.is_empty())),
                // Only a registration EC2 said nothing about is held, and only in a surge.
                (Some(_), Action::Hold(plan::Hold::Surge)) => prop_assert!(p.surge && seen.get(&r.instance_id).is_none_or(|v| v.is_empty())),
                (Some(_), a) => prop_assert!(false, "unexpected {:?}", a),
            }
        }
    }

    #[test]
    fn plan_never_empties_a_service_unless_allowed((regs, seen, opts) in world()) {
        let p = plan::plan(&regs, &seen, opts, Judging::All);
        let with_ip = regs.iter().filter(|r| r.ipv4.is_some()).count();
        let going = p.deregistrations().count();
        if !opts.allow_empty_service && with_ip > 0 {
            prop_assert!(going < with_ip, "{} of {} would go", going, with_ip);
        }
        prop_assert_eq!(p.held, !opts.allow_empty_service && p.wanted().count() > 0 && p.wanted().count() >= with_ip);
    }

    #[test]
    fn in_a_surge_no_registration_goes_as_not_found((regs, seen, opts) in world()) {
        let p = plan::plan(&regs, &seen, opts, Judging::All);
        let with_ip = regs.iter().filter(|r| r.ipv4.is_some()).count();
        let not_found = p.not_found().count();
        prop_assert_eq!(p.surge, opts.max_not_found.surge(not_found, with_ip));
        if p.surge {
            prop_assert!(p.wanted().all(|(_, reason)| reason != plan::Reason::NotFound));
        }
    }

    #[test]
    fn event_scope_touches_only_named_instances((regs, seen, opts) in world(), named in prop::collection::hash_set(0u8..8, 0..4)) {
        let hints: plan::Claimed = named.iter().map(|n| (format!("i-{n:017x}"), vec![Hint::Judge])).collect();
        let p = plan::plan(&regs, &seen, opts, Judging::Only(&hints));
        let names: HashSet<&String> = hints.keys().collect();
        for (id, _) in p.deregistrations() {
            prop_assert!(names.contains(&id.to_string()));
        }
    }
}
