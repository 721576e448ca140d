//! Registrations judged by their real identity: a registration whose id is not the EC2 instance id
//! (`web-1`) is judged by its `AWS_EC2_INSTANCE_ID` attribute, by the reconcile and the event path;
//! IPv6 registrations (alone or beside IPv4) by every address of the instance (moto gives instances
//! IPv6 addresses in a subnet with an IPv6 block).

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn registrations_named_otherwise_are_judged_by_their_ec2_instance_id_attribute() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 4).await;
    let by_attribute = |i: usize| {
        [
            ("AWS_EC2_INSTANCE_ID", all[i].id.clone()),
            ("AWS_INSTANCE_IPV4", all[i].ip.clone()),
        ]
    };
    for (name, i) in [("web-1", 0), ("web-2", 1), ("web-3", 2)] {
        let attrs = by_attribute(i);
        let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        register_named(&svc, name, &attrs).await;
    }
    // Neither an EC2 id nor the attribute: nothing can vouch for or against it.
    register_named(&svc, "web-9", &[("AWS_INSTANCE_IPV4", "10.9.9.9")]).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, std::slice::from_ref(&all[0].id)).await;

    // The reconcile removes web-1 (its instance is terminated), keeps web-2, web-3 and web-9.
    let out = Cli::worker()
        .args(&home_args(&svc))
        .args(&["--single-run"])
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let left = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(registered(&svc).await, left(&["web-2", "web-3", "web-9"]));

    // The event path finds web-2 by its attribute.
    let q = queue_with_dlq(3, 4).await;
    route_rules_to(&q.arn).await;
    let port = free_port();
    let worker = Worker::events(&svc, &q.url, port).spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    terminate(&client, std::slice::from_ref(&all[1].id)).await;
    put_state_change(&all[1].id, "terminated").await;
    wait_registered(&svc, WAIT, |r| r == left(&["web-3", "web-9"])).await;
    // Counted once Cloud Map confirmed the removal, which the message's deletion follows.
    wait_queue_empty(&q.url).await;
    let series = format!("cloud_unmap_deregistrations_total{{service_id=\"{svc}\",trigger=\"event\",reason=\"terminated\"}}");
    assert_eq!(metric(port, &series).await, 1.0);
    drop(worker);
}

/// `count` instances in a fresh subnet with an IPv6 block, one IPv6 address each: (id, IPv4, IPv6).
async fn dual_stack(count: i32) -> Vec<(String, String, String)> {
    let c = ec2(HOME_REGION).await;
    let vpc = c
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .amazon_provided_ipv6_cidr_block(true)
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap();
    let block = vpc.ipv6_cidr_block_association_set()[0]
        .ipv6_cidr_block()
        .unwrap()
        .to_string();
    let subnet_block = block.replace("/56", "/64");
    let subnet = c
        .create_subnet()
        .vpc_id(vpc.vpc_id().unwrap())
        .cidr_block("10.20.1.0/24")
        .ipv6_cidr_block(subnet_block)
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap();
    let ids = ids(&Launch::on(&c).count(count).in_subnet(subnet, 1).run().await);
    let described = c
        .describe_instances()
        .set_instance_ids(Some(ids))
        .send()
        .await
        .unwrap();
    described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            let v6 = i.network_interfaces()[0].ipv6_addresses()[0]
                .ipv6_address()
                .unwrap()
                .to_string();
            (
                i.instance_id().unwrap().to_string(),
                i.private_ip_address().unwrap().to_string(),
                v6,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_only_and_dual_stack_registrations_are_judged_by_every_address() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = dual_stack(4).await;
    let v6_expanded = |v6: &str| {
        v6.parse::<std::net::Ipv6Addr>()
            .unwrap()
            .segments()
            .iter()
            .map(|s| format!("{s:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    // IPv6 only, written in full: kept. IPv6 only, terminated: removed.
    register_named(
        &svc,
        &all[0].0,
        &[("AWS_INSTANCE_IPV6", &v6_expanded(&all[0].2))],
    )
    .await;
    register_named(&svc, &all[1].0, &[("AWS_INSTANCE_IPV6", &all[1].2)]).await;
    // Dual stack, both right: kept. Dual stack, an IPv6 address the instance does not have: removed.
    register_named(
        &svc,
        &all[2].0,
        &[
            ("AWS_INSTANCE_IPV4", &all[2].1),
            ("AWS_INSTANCE_IPV6", &all[2].2),
        ],
    )
    .await;
    register_named(
        &svc,
        &all[3].0,
        &[
            ("AWS_INSTANCE_IPV4", &all[3].1),
            ("AWS_INSTANCE_IPV6", "2001:db8::dead"),
        ],
    )
    .await;
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&all[1].0)).await;

    let out = Cli::worker()
        .args(&home_args(&svc))
        .args(&["--single-run"])
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let reasons = log_pairs(&out, "deregistered", "instance_id", "reason");
    let mut expected = vec![
        (all[1].0.clone(), "terminated".to_string()),
        (all[3].0.clone(), "ip-mismatch".to_string()),
    ];
    expected.sort();
    assert_eq!(reasons, expected);
    assert_eq!(
        registered(&svc).await,
        sorted(vec![all[0].0.clone(), all[2].0.clone()])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn service_tags_select_exactly_the_services_carrying_all_of_them() {
    let team = unique("team");
    let ns = namespace().await;
    let both = tagged_service(&ns, &[("team", &team), ("env", "prod")]).await;
    let team_only = tagged_service(&ns, &[("team", &team), ("env", "dev")]).await;
    let untagged = service(&ns).await;
    let mut terminated = Vec::new();
    for svc in [&both, &team_only, &untagged] {
        let pair = launch(HOME_REGION, 2).await;
        register_all(svc, &pair).await;
        terminated.push(pair[0].id.clone());
    }
    terminate(&ec2(HOME_REGION).await, &terminated).await;

    let tag = format!("team={team}");
    // Through the proxy: it applies ListServices' RESOURCE_OWNER filter as AWS does (moto ignores it).
    let proxy = Proxy::start();
    let out = Cli::worker()
        .endpoint(&proxy.endpoint)
        .args(&REGION_ARGS)
        .args(&[
            "--service-tag",
            &tag,
            "--service-tag",
            "env=prod",
            "--single-run",
        ])
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let touched: Vec<String> = log_lines(&out, "deregistered")
        .iter()
        .map(|l| l["service_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(touched, vec![both.clone()]);
    assert!(!registered(&both).await.contains(&terminated[0]));
    assert!(registered(&team_only).await.contains(&terminated[1]));
    assert!(registered(&untagged).await.contains(&terminated[2]));
}

/// Services of a namespace another account shares through AWS RAM: addressed by ARN (the proxy
/// answers as AWS answers a consumer: bare ids are not found, ARNs name the owner's account, and a
/// shared namespace's operations are read with `OwnerAccount`).
#[tokio::test(flavor = "multi_thread")]
async fn services_of_a_namespace_shared_through_ram_are_addressed_by_their_arns() {
    const OWNER: &str = "333333333333";
    let team = unique("shared");
    let ns = namespace().await;
    let svc = tagged_service(&ns, &[("team", &team)]).await;
    let all = launch(HOME_REGION, 4).await;
    register_all(&svc, &all).await;
    terminate(
        &ec2(HOME_REGION).await,
        &[all[0].id.clone(), all[1].id.clone()],
    )
    .await;
    let proxy = Proxy::start();
    proxy.state(&format!("shared/{ns}/{OWNER}")).await;
    let ns_arn = format!("arn:aws:servicediscovery:{HOME_REGION}:{OWNER}:namespace/{ns}");
    let svc_arn = format!("arn:aws:servicediscovery:{HOME_REGION}:{OWNER}:service/{svc}");
    let run = |selection: &[&str]| {
        Cli::worker()
            .endpoint(&proxy.endpoint)
            .args(&REGION_ARGS)
            .args(&["--single-run"])
            .args(selection)
            .output(Duration::from_secs(60))
    };

    // The namespace by its bare id is another account's: AWS answers "not found", nothing changes.
    let out = run(&["--namespace-id", &ns]);
    assert_eq!(
        log_lines(&out, "a selected namespace does not exist; skipped").len(),
        1,
        "{}",
        stdout(&out)
    );
    assert_eq!(registered(&svc).await.len(), 4);

    // By its ARN: the service is listed and worked by ARN, its operation read with the owner's account.
    let out = run(&["--namespace-id", &ns_arn]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let removed = log_pairs(&out, "deregistered", "service_id", "instance_id");
    let mut expected = vec![
        (svc_arn.clone(), all[0].id.clone()),
        (svc_arn.clone(), all[1].id.clone()),
    ];
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(
        sorted(registered(&svc).await),
        sorted(vec![all[2].id.clone(), all[3].id.clone()])
    );
    let owners = proxy.state("state").await["owner_accounts"].clone();
    assert!(
        owners.as_array().unwrap().iter().all(|o| o == OWNER)
            && !owners.as_array().unwrap().is_empty(),
        "{owners}"
    );

    // By tag: the shared service is found with ListServices' RESOURCE_OWNER=OTHER_ACCOUNTS, by ARN.
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&all[2].id)).await;
    let tag = format!("team={team}");
    let out = run(&["--service-tag", &tag]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let touched: Vec<String> = log_lines(&out, "deregistered")
        .iter()
        .map(|l| l["service_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(touched, vec![svc_arn]);
    assert_eq!(registered(&svc).await, vec![all[3].id.clone()]);
}
