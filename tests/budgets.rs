//! Organization-scale cost, counted at the test proxy (scripts/aws_proxy.py counts every request by
//! operation, by caller account and region, and its highest rate in any one second): a reconcile
//! cycle looks every service's instances up in one EC2 view (calls per account × region, not per
//! service), and asks a target again only for the instances it was found in; every call spends a
//! client-side budget, whose waits the worker reports.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

/// The proxy's DescribeInstances count by region (summed over the callers' accounts), and in all.
fn describes_by_region(state: &serde_json::Value) -> (BTreeMap<String, u64>, u64) {
    let mut by_region = BTreeMap::new();
    for (key, n) in state["by_target"].as_object().unwrap() {
        let mut parts = key.split(' ');
        if parts.next() != Some("DescribeInstances") {
            continue;
        }
        let region = parts.next().unwrap().to_string();
        *by_region.entry(region).or_insert(0) += n.as_u64().unwrap();
    }
    let total = by_region.values().sum();
    (by_region, total)
}

/// 10 services over the home and a member account, looked at in two regions (4 targets), every
/// instance in the home region: one cycle makes one DescribeInstances per target (4, where each
/// service asking every target made 40), removes exactly the terminated instances' registrations,
/// and later cycles ask only the targets the instances were found in.
#[tokio::test(flavor = "multi_thread")]
async fn one_ec2_view_per_cycle_asks_each_target_once_then_only_where_instances_are() {
    let ns = namespace().await;
    let home = launch(HOME_REGION, 10).await;
    let member_ec2 = aws_sdk_ec2::Client::new(&member_config(HOME_REGION).await);
    let member = Launch::on(&member_ec2).count(10).run().await;
    let mut services = Vec::new();
    for k in 0..10 {
        let svc = service(&ns).await;
        register_all(&svc, &[home[k].clone(), member[k].clone()]).await;
        services.push(svc);
    }
    // One instance of each account gone: services 0 and 1 lose one registration each.
    terminate(&ec2(HOME_REGION).await, &[home[0].id.clone()]).await;
    terminate(&member_ec2, &[member[1].id.clone()]).await;

    let proxy = Proxy::start();
    let selection = [
        "--namespace-id",
        &ns,
        "--service-region",
        HOME_REGION,
        "--instances-region",
        HOME_REGION,
        OTHER_REGION,
        "--instances-role-arn",
        MEMBER_ROLE,
    ];
    let out = Cli::worker()
        .endpoint(&proxy.endpoint)
        .args(&selection)
        .args(&["--single-run"])
        .output(Duration::from_secs(90));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let (by_region, total) = describes_by_region(&proxy.state("state").await);
    assert_eq!(total, 4, "one call per account × region: {by_region:?}");
    assert_eq!(registered(&services[0]).await, vec![member[0].id.clone()]);
    assert_eq!(registered(&services[1]).await, vec![home[1].id.clone()]);
    for (k, svc) in services.iter().enumerate().skip(2) {
        assert_eq!(
            registered(svc).await,
            sorted(vec![home[k].id.clone(), member[k].id.clone()])
        );
    }

    // A long-running worker, a cycle a second: once the instances are known to live in the home
    // region, the other region is never asked again (its two targets: the first cycle only).
    let proxy = Proxy::start();
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&selection)
        .args(&["--frequency", "1"])
        .spawn();
    let ran = "cloud_unmap_reconcile_cycles_total{cause=\"timer\",outcome=\"ran\"}";
    eventually(WAIT, "four cycles begun", || async {
        let n = metric(port, ran).await;
        (n >= 4.0).then_some(()).ok_or(format!("{n}"))
    })
    .await;
    let (by_region, _) = describes_by_region(&proxy.state("state").await);
    assert_eq!(by_region.get(OTHER_REGION), Some(&2), "{by_region:?}");
    assert!(by_region[HOME_REGION] >= 6, "{by_region:?}");
    drop(worker);
}

/// A budget of 2 Cloud Map reads a second (burst 4): 12 services' listings are spread out so that
/// no second sees more than the burst plus a second's refill, and the waits are reported.
#[tokio::test(flavor = "multi_thread")]
async fn cloud_map_reads_never_exceed_their_budget_and_the_wait_is_reported() {
    let ns = namespace().await;
    let instances = launch(HOME_REGION, 12).await;
    for i in &instances {
        let svc = service(&ns).await;
        register_all(&svc, std::slice::from_ref(i)).await;
    }
    let proxy = Proxy::start();
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&["--namespace-id", &ns])
        .args(&REGION_ARGS)
        .args(&["--frequency", "3600", "--budget-cloudmap-read", "2"])
        .spawn();
    let waited = "cloud_unmap_budget_wait_seconds_total{family=\"cloudmap-read\",account=\"home\",region=\"us-east-1\"}";
    eventually(
        Duration::from_secs(30),
        "the budget's waits reported",
        || async {
            let w = metric(port, waited).await;
            (w > 1.0).then_some(()).ok_or(format!("{w}"))
        },
    )
    .await;
    wait_http(port, "/readyz", Duration::from_secs(30), |s, _| s == 200).await;
    let state = proxy.state("state").await;
    let peak = state["peak_per_second"]["ListInstances"].as_u64().unwrap();
    assert!(peak <= 6, "ListInstances peaked at {peak} in one second");
    assert!(state["counts"]["ListInstances"].as_u64().unwrap() >= 12);
    drop(worker);
}

/// A budget of one EC2 describe every two seconds: eight events put 100 ms apart arrive in several
/// batches, and the batches share their lookups (a call takes, once its budget lets it go, every
/// claim asked for meanwhile) instead of queueing one DescribeInstances each for 16 s.
#[tokio::test(flavor = "multi_thread")]
async fn event_batches_share_their_ec2_lookups_under_the_budget() {
    let ns = namespace().await;
    let mut victims = Vec::new();
    for _ in 0..8 {
        let svc = service(&ns).await;
        let two = launch(HOME_REGION, 2).await;
        register_all(&svc, &two).await;
        victims.push((svc, two[0].id.clone()));
    }
    let q = queue_with_dlq(5, 30).await;
    route_rules_to(&q.arn).await;
    let proxy = Proxy::start();
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&["--namespace-id", &ns])
        .args(&REGION_ARGS)
        .args(&["--frequency", "3600", "--queue-url", &q.url])
        .args(&["--budget-ec2-describe", "0.5"])
        .spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    let describes = || async {
        proxy.state("state").await["counts"]["DescribeInstances"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = describes().await;
    let ids: Vec<String> = victims.iter().map(|(_, id)| id.clone()).collect();
    terminate(&ec2(HOME_REGION).await, &ids).await;
    for id in &ids {
        put_state_change(id, "terminated").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (svc, id) in &victims {
        let id = id.clone();
        wait_registered(svc, WAIT, move |r| r.len() == 1 && !r.contains(&id)).await;
    }
    wait_queue_empty(&q.url).await;
    let calls = describes().await - before;
    assert!(calls <= 4, "{calls} DescribeInstances for 8 events");
    drop(worker);
}
