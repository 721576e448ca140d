//! Validation of the worker's flags: every bad input named, with its value.

use super::*;

fn args() -> RunArgs {
    use crate::config::cli::{InstancesArgs, ServiceArgs, WatchArgs};
    RunArgs {
        watch: WatchArgs {
            services: ServiceArgs {
                service_ids: vec!["srv-abcdef0123456789".into()],
                service_region: Some("eu-west-1".into()),
                ..Default::default()
            },
            instances: InstancesArgs {
                instances_regions: vec!["eu-west-1".into(), "us-east-1".into()],
                ..Default::default()
            },
            log_level: "INFO".into(),
            concurrency: 10,
            lifecycle_hook_names: vec!["cloud-unmap".into()],
            max_not_found: "10%".into(),
            ..Default::default()
        },
        frequency: 300,
        prometheus_host: "0.0.0.0".into(),
        prometheus_port: 9100,
        shutdown_timeout: 25,
        not_found_grace: 30,
        stall_timeout: 300,
        scheduled_lead_seconds: 300,
        ..RunArgs::default()
    }
}

#[test]
fn accepts_seed_invocation() {
    let c = Config::from_args(&args()).unwrap();
    assert_eq!(c.service_ids, vec!["srv-abcdef0123456789"]);
    assert_eq!(c.instances_regions, vec!["eu-west-1", "us-east-1"]);
    assert_eq!(c.frequency, Duration::from_secs(300));
}

#[test]
fn rejects_bad_input_with_the_offending_value() {
    type Mutation = Box<dyn Fn(&mut RunArgs)>;
    let cases: Vec<(Mutation, ConfigError)> = vec![
        (
            Box::new(|a| a.watch.services.service_ids = vec!["svc-1".into()]),
            ConfigError::ServiceId("svc-1".into()),
        ),
        (
            Box::new(|a| a.watch.services.namespace_ids = vec!["ns_1".into()]),
            ConfigError::NamespaceId("ns_1".into()),
        ),
        (
            Box::new(|a| a.watch.services.service_region = Some("europe".into())),
            ConfigError::Region {
                flag: "--service-region",
                value: "europe".into(),
            },
        ),
        (
            Box::new(|a| a.watch.instances.instances_regions = vec!["us-east-01".into()]),
            ConfigError::Region {
                flag: "--instances-region",
                value: "us-east-01".into(),
            },
        ),
        (
            Box::new(|a| a.watch.instances.instances_regions = vec![]),
            ConfigError::NoInstancesRegion,
        ),
        (
            Box::new(|a| a.watch.services.service_region = None),
            ConfigError::NoServiceRegion,
        ),
        (
            Box::new(|a| a.watch.services.service_ids = vec![]),
            ConfigError::NothingSelected,
        ),
        (Box::new(|a| a.frequency = 0), ConfigError::Frequency(0)),
        (
            Box::new(|a| a.frequency = u64::MAX),
            ConfigError::Frequency(u64::MAX),
        ),
        (
            Box::new(|a| a.watch.max_not_found = "110%".into()),
            ConfigError::MaxNotFound("110%".into()),
        ),
        (
            Box::new(|a| a.watch.service_tags = vec!["team".into()]),
            ConfigError::ServiceTag("team".into()),
        ),
        (
            Box::new(|a| a.watch.service_tags = vec!["=x".into()]),
            ConfigError::ServiceTag("=x".into()),
        ),
        (
            Box::new(|a| a.watch.max_not_found = "ten".into()),
            ConfigError::MaxNotFound("ten".into()),
        ),
        (
            Box::new(|a| a.not_found_grace = 3601),
            ConfigError::NotFoundGrace(3601),
        ),
        (
            Box::new(|a| a.shutdown_timeout = u64::MAX),
            ConfigError::ShutdownTimeout(u64::MAX),
        ),
        (
            Box::new(|a| a.stall_timeout = 0),
            ConfigError::StallTimeout(0),
        ),
        (
            Box::new(|a| a.watch.concurrency = 0),
            ConfigError::Zero("--concurrency"),
        ),
        (
            Box::new(|a| a.watch.log_level = "LOUD".into()),
            ConfigError::LogLevel("LOUD".into()),
        ),
        (
            Box::new(|a| {
                a.watch.instances.instances_role_arns = vec!["arn:aws:iam::12:role/x".into()]
            }),
            ConfigError::RoleArn {
                flag: "--instances-role-arn",
                value: "arn:aws:iam::12:role/x".into(),
            },
        ),
        (
            Box::new(|a| a.watch.lifecycle_hook_names = vec!["drain hook".into()]),
            ConfigError::HookName("drain hook".into()),
        ),
        (
            Box::new(|a| a.watch.lifecycle_drain_seconds = Some("172801".into())),
            ConfigError::DrainSeconds("172801".into()),
        ),
        (
            Box::new(|a| a.watch.lifecycle_drain_seconds = Some("1m".into())),
            ConfigError::DrainSeconds("1m".into()),
        ),
    ];
    for (mutate, expected) in cases {
        let mut a = args();
        mutate(&mut a);
        assert_eq!(Config::from_args(&a).unwrap_err(), expected);
    }
}

#[test]
fn state_tables_need_the_queue_and_a_table_name() {
    let mut a = args();
    a.watch.state_table = Some("cloud-unmap-state".into());
    assert_eq!(
        Config::from_args(&a).unwrap_err(),
        ConfigError::StateTableWithoutQueue
    );
    a.watch.queue_url = Some("https://sqs.eu-west-1.amazonaws.com/111111111111/q".into());
    assert_eq!(
        Config::from_args(&a).unwrap().state_table.as_deref(),
        Some("cloud-unmap-state")
    );
    a.watch.state_table =
        Some("arn:aws:dynamodb:eu-west-1:111111111111:table/cloud-unmap-state".into());
    assert!(Config::from_args(&a).is_ok());
    for bad in ["ab", "a b c", "arn:aws:dynamodb:table/x", "tab/le"] {
        a.watch.state_table = Some(bad.into());
        assert_eq!(
            Config::from_args(&a).unwrap_err(),
            ConfigError::StateTable(bad.into()),
            "{bad}"
        );
    }
    a.watch.state_table = Some(" ".into());
    assert_eq!(Config::from_args(&a).unwrap().state_table, None);
}

#[test]
fn queue_urls() {
    assert_eq!(
        queue_account("https://sqs.eu-west-1.amazonaws.com/111111111111/cloud-unmap-events")
            .as_deref(),
        Some("111111111111")
    );
    assert_eq!(
        queue_account("http://127.0.0.1:5000/123456789012/q.fifo").as_deref(),
        Some("123456789012")
    );
    for bad in [
        "sqs/q",
        "https://h/12/q",
        "https://h/123456789012/",
        "https://h/123456789012/a/b",
        "ftp://h/123456789012/q",
    ] {
        assert_eq!(queue_account(bad), None, "{bad}");
    }
    let mut a = args();
    a.watch.queue_url = Some("https://sqs.eu-west-1.amazonaws.com/111111111111/q".into());
    a.dry_run = true;
    assert_eq!(Config::from_args(&a).unwrap_err(), ConfigError::DryRunQueue);
    a.watch.queue_url = Some("queue".into());
    a.dry_run = false;
    assert_eq!(
        Config::from_args(&a).unwrap_err(),
        ConfigError::QueueUrl("queue".into())
    );
}

#[test]
fn seed_log_levels() {
    assert_eq!(parse_log_level("warning"), Some(tracing::Level::WARN));
    assert_eq!(parse_log_level("CRITICAL"), Some(tracing::Level::ERROR));
    assert_eq!(parse_log_level("verbose"), None);
}

#[test]
fn repeats_are_folded() {
    let mut a = args();
    a.watch.services.service_ids = vec!["srv-a1".into(), "srv-a1".into(), "srv-b2".into()];
    assert_eq!(
        Config::from_args(&a).unwrap().service_ids,
        vec!["srv-a1", "srv-b2"]
    );
}

#[test]
fn not_found_bounds() {
    assert_eq!(
        parse_not_found_bound("10%"),
        Some(NotFoundBound::Percent(10))
    );
    assert_eq!(
        parse_not_found_bound(" 100% "),
        Some(NotFoundBound::Percent(100))
    );
    assert_eq!(parse_not_found_bound("5"), Some(NotFoundBound::Count(5)));
    for bad in ["", "%", "101%", "-1", "1.5%", "x"] {
        assert_eq!(parse_not_found_bound(bad), None, "{bad}");
    }
}

#[test]
fn tags_alone_select() {
    let mut a = args();
    a.watch.services.service_ids = vec![];
    a.watch.service_tags = vec!["team=search".into(), "env=".into()];
    let c = Config::from_args(&a).unwrap();
    assert_eq!(
        c.service_tags,
        vec![
            ("team".into(), "search".into()),
            ("env".into(), String::new())
        ]
    );
}

#[test]
fn services_and_namespaces_of_shared_namespaces_are_named_by_arn_in_the_service_region() {
    let svc = "arn:aws:servicediscovery:eu-west-1:333333333333:service/srv-abcdef0123456789";
    let ns = "arn:aws:servicediscovery:eu-west-1:333333333333:namespace/ns-abcdef0123456789";
    let mut a = args();
    a.watch.services.service_ids = vec![svc.into()];
    a.watch.services.namespace_ids = vec![ns.into()];
    let c = Config::from_args(&a).unwrap();
    assert_eq!(
        (c.service_ids[0].as_str(), c.namespace_ids[0].as_str()),
        (svc, ns)
    );
    assert_eq!(
        crate::model::domain::cloudmap_owner(svc),
        Some("333333333333")
    );
    assert_eq!(
        crate::model::domain::cloudmap_owner("srv-abcdef0123456789"),
        None
    );

    a.watch.services.service_region = Some("us-east-1".into());
    a.watch.services.namespace_ids.clear();
    assert_eq!(
        Config::from_args(&a).unwrap_err().to_string(),
        format!("--service-id \"{svc}\" names region eu-west-1, not --service-region us-east-1: Cloud Map is regional")
    );
    for bad in [
        "arn:aws:servicediscovery:eu-west-1:333333333333:namespace/srv-abcdef0123456789",
        "arn:aws:iam::333333333333:service/srv-abcdef0123456789",
        "arn:aws:servicediscovery:eu-west-1:3333:service/srv-abcdef0123456789",
    ] {
        a.watch.services.service_ids = vec![bad.into()];
        a.watch.services.service_region = Some("eu-west-1".into());
        assert_eq!(
            Config::from_args(&a).unwrap_err(),
            ConfigError::ServiceId(bad.into())
        );
    }
}

#[test]
fn the_service_region_falls_back_to_aws_region() {
    let mut a = args();
    a.watch.services.service_region = None;
    a.watch.services.aws_region = Some("ap-south-1".into());
    assert_eq!(Config::from_args(&a).unwrap().service_region, "ap-south-1");
    a.watch.services.aws_region = Some("mars".into());
    assert_eq!(
        Config::from_args(&a).unwrap_err(),
        ConfigError::Region {
            flag: "AWS_REGION",
            value: "mars".into(),
        }
    );
}
