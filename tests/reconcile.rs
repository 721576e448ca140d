//! The reconcile path end to end: the real binary against moto, asserting which registrations remain
//! and what the exit code is.

mod common;

use common::*;

fn single(service: &str, regions: &[&str], extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--service-id",
        service,
        "--service-region",
        HOME_REGION,
        "--instances-region",
    ];
    args.extend_from_slice(regions);
    args.push("--single-run");
    args.extend_from_slice(extra);
    run(&args)
}

fn reasons(o: &std::process::Output) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = log_lines(o, "deregistered")
        .iter()
        .map(|l| {
            (
                l["instance_id"].as_str().unwrap().to_string(),
                l["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn matching_rules() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let client = ec2(HOME_REGION).await;
    let live = launch(HOME_REGION, 5).await;
    let (running, dead, mismatched, no_ipv4, stopped) =
        (&live[0], &live[1], &live[2], &live[3], &live[4]);

    // A secondary private IP and an Elastic IP, each registered instead of the primary address.
    let secondary_host = &launch(HOME_REGION, 1).await[0];
    let eni = client
        .describe_instances()
        .instance_ids(&secondary_host.id)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .network_interfaces()[0]
        .network_interface_id()
        .unwrap()
        .to_string();
    client
        .assign_private_ip_addresses()
        .network_interface_id(&eni)
        .private_ip_addresses("10.0.200.17")
        .send()
        .await
        .unwrap();
    let eip_host = &launch(HOME_REGION, 1).await[0];
    let alloc = client.allocate_address().send().await.unwrap();
    client
        .associate_address()
        .instance_id(&eip_host.id)
        .allocation_id(alloc.allocation_id().unwrap())
        .send()
        .await
        .unwrap();
    let eip = alloc.public_ip().unwrap().to_string();

    register(&svc, &running.id, Some(&running.ip)).await;
    register(&svc, &dead.id, Some(&dead.ip)).await;
    register(&svc, &mismatched.id, Some("10.99.99.99")).await;
    register(&svc, &no_ipv4.id, None).await;
    register(&svc, &stopped.id, Some(&stopped.ip)).await;
    register(&svc, &secondary_host.id, Some("10.0.200.17")).await;
    register(&svc, &eip_host.id, Some(&eip)).await;
    register(&svc, "i-0123456789abcdef0", Some("10.1.2.3")).await; // never existed
    register(&svc, "ecs-task-7f3a", Some("10.1.2.4")).await; // not an EC2 id
    terminate(&client, &[dead.id.clone(), no_ipv4.id.clone()]).await;
    stop(&client, std::slice::from_ref(&stopped.id)).await;

    // Not found once, then again a second later: only then is it gone.
    let out = single(&svc, &[HOME_REGION], &["--not-found-grace", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        log_lines(
            &out,
            "not found in EC2; looking again after the grace period"
        )
        .len(),
        1
    );
    assert_eq!(
        reasons(&out),
        sorted(vec![
            dead.id.clone(),
            mismatched.id.clone(),
            "i-0123456789abcdef0".into()
        ])
        .into_iter()
        .map(|id| {
            let reason = if id == dead.id {
                "terminated"
            } else if id == mismatched.id {
                "ip-mismatch"
            } else {
                "not-found"
            };
            (id, reason.to_string())
        })
        .collect::<Vec<_>>()
    );
    let kept = sorted(vec![
        running.id.clone(),
        no_ipv4.id.clone(),
        stopped.id.clone(),
        secondary_host.id.clone(),
        eip_host.id.clone(),
        "ecs-task-7f3a".into(),
    ]);
    assert_eq!(registered(&svc).await, kept);

    // Stopped instances go only when asked.
    let out = single(&svc, &[HOME_REGION], &["--deregister-stopped"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        reasons(&out),
        vec![(stopped.id.clone(), "stopped".to_string())]
    );
    assert!(!registered(&svc).await.contains(&stopped.id));
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_200_registrations_over_two_regions() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let east = launch(HOME_REGION, 150).await;
    let west = launch(OTHER_REGION, 110).await;
    register_all(&svc, &east).await;
    register_all(&svc, &west).await;
    let gone_east = ids(&east[..20]);
    let gone_west = ids(&west[..15]);
    terminate(&ec2(HOME_REGION).await, &gone_east).await;
    terminate(&ec2(OTHER_REGION).await, &gone_west).await;

    let out = single(&svc, &[HOME_REGION, OTHER_REGION], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let mut expected: Vec<String> = ids(&east[20..]);
    expected.extend(ids(&west[15..]));
    assert_eq!(registered(&svc).await, sorted(expected));
    assert_eq!(reasons(&out).len(), 35);
}

#[tokio::test(flavor = "multi_thread")]
async fn second_account_through_assume_role() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let member = aws_sdk_ec2::Client::new(&member_config(HOME_REGION).await);
    let theirs = Launch::on(&member).count(3).run().await;
    let ours = launch(HOME_REGION, 1).await;
    register_all(&svc, &theirs).await;
    register_all(&svc, &ours).await;
    terminate(&member, &[theirs[0].id.clone()]).await;

    let out = single(&svc, &[HOME_REGION], &["--instances-role-arn", MEMBER_ROLE]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        reasons(&out),
        vec![(theirs[0].id.clone(), "terminated".to_string())]
    );
    let mut expected = ids(&theirs[1..]);
    expected.extend(ids(&ours));
    assert_eq!(registered(&svc).await, sorted(expected));
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_selects_every_service() {
    let ns = namespace().await;
    let (a, b) = (service(&ns).await, service(&ns).await);
    let inst = launch(HOME_REGION, 4).await;
    register_all(&a, &inst[..2]).await;
    register_all(&b, &inst[2..]).await;
    terminate(
        &ec2(HOME_REGION).await,
        &[inst[0].id.clone(), inst[2].id.clone()],
    )
    .await;

    let out = run(&[
        "--namespace-id",
        &ns,
        "--service-region",
        HOME_REGION,
        "--instances-region",
        HOME_REGION,
        "--single-run",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(registered(&a).await, vec![inst[1].id.clone()]);
    assert_eq!(registered(&b).await, vec![inst[3].id.clone()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn never_empty_guard_both_ways() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let inst = launch(HOME_REGION, 2).await;
    register_all(&svc, &inst).await;
    register(&svc, "i-0fedcba9876543210", None).await; // no IPv4: does not count
    terminate(&ec2(HOME_REGION).await, &ids(&inst)).await;

    let out = single(&svc, &[HOME_REGION], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert_eq!(registered(&svc).await.len(), 3, "the guard removed nothing");
    assert!(stdout(&out).contains("never-empty guard"));

    let out = single(&svc, &[HOME_REGION], &["--allow-empty-service"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        registered(&svc).await,
        vec!["i-0fedcba9876543210".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn service_without_ipv4_registrations_is_a_success() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    register(&svc, "i-0aaaaaaaaaaaaaaa0", None).await;
    let empty = service(&ns).await;
    for s in [&svc, &empty] {
        let out = single(s, &[HOME_REGION], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    }
    assert_eq!(
        registered(&svc).await,
        vec!["i-0aaaaaaaaaaaaaaa0".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_changes_nothing() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let inst = launch(HOME_REGION, 3).await;
    register_all(&svc, &inst).await;
    terminate(&ec2(HOME_REGION).await, &[inst[0].id.clone()]).await;

    let out = single(&svc, &[HOME_REGION], &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(registered(&svc).await, sorted(ids(&inst)));
    let would = log_lines(&out, "would deregister");
    assert_eq!(would.len(), 1);
    assert_eq!(would[0]["instance_id"], inst[0].id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_service_fails_with_exit_1_and_others_still_run() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let inst = launch(HOME_REGION, 2).await;
    register_all(&svc, &inst).await;
    terminate(&ec2(HOME_REGION).await, &[inst[0].id.clone()]).await;
    let out = run(&[
        "--service-id",
        "srv-doesnotexist00",
        "--service-id",
        &svc,
        "--service-region",
        HOME_REGION,
        "--instances-region",
        HOME_REGION,
        "--single-run",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(registered(&svc).await, vec![inst[1].id.clone()]);
}
