//! AWS's advance notices acted on at the right time: a scheduled retirement deregisters its instance
//! no earlier than its start minus the lead, survives a worker restart in between and is acted on
//! once; an AWS Health notice arms it too; a rebalance recommendation is ignored by default and
//! deregisters (a Spot instance EC2 confirms) with `--on-rebalance deregister`. moto reports no
//! scheduled events: the test proxy answers DescribeInstanceStatus with them, in EC2's shape.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::json;

/// Whole seconds: EC2 reports NotBefore to the second.
fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64
}

/// The removals of these outputs: (instance, reason, epoch seconds of the log line).
fn removals(outputs: &[&std::process::Output]) -> Vec<(String, String, f64)> {
    outputs
        .iter()
        .flat_map(|o| log_lines(o, "deregistered"))
        .map(|l| {
            (
                l["instance_id"].as_str().unwrap().to_string(),
                l["reason"].as_str().unwrap().to_string(),
                epoch_seconds(l["timestamp"].as_str().unwrap()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_retirement_leaves_at_its_start_minus_the_lead_once_across_a_restart() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all).await;
    // Retirement in 12 s, lead 5 s: due in 7 s.
    let start = now_s() + 12.0;
    let due = start - 5.0;
    proxy
        .state(&format!(
            "scheduled/{}/instance-retirement/{start}",
            all[0].id
        ))
        .await;
    let worker = |port| {
        Worker::new(port)
            .endpoint(&proxy.endpoint)
            .args(&home_args(&svc))
            .args(&["--frequency", "3", "--scheduled-lead-seconds", "5"])
    };
    let port = free_port();
    let first = worker(port).spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Stopped with its timer armed: the retirement must not be lost.
    let first = first.terminate(Duration::from_secs(30));
    assert_eq!(registered(&svc).await.len(), 3, "{}", stdout(&first));
    assert!(
        !log_lines(&first, "scheduled EC2 event armed").is_empty(),
        "{}",
        stdout(&first)
    );

    let port = free_port();
    let second = worker(port).spawn();
    wait_registered(&svc, Duration::from_secs(30), |r| r.len() == 2).await;
    // A few cycles more: nothing acts twice.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let second = second.terminate(Duration::from_secs(30));
    let done = removals(&[&first, &second]);
    assert_eq!(done.len(), 1, "{done:?}");
    let (id, reason, at) = &done[0];
    assert_eq!(
        (id.as_str(), reason.as_str()),
        (all[0].id.as_str(), "scheduled-event")
    );
    assert!(
        *at >= due,
        "deregistered {:.2} s before start − lead",
        due - at
    );
    assert!(!registered(&svc).await.contains(&all[0].id));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_event_and_a_far_one_change_nothing_and_a_health_notice_arms_the_timer() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 4).await;
    register_all(&svc, &all).await;
    // Far away (a week): not armed. Near: armed, then cancelled (below), dropped when EC2 says so.
    let week = now_s() + 7.0 * 86_400.0;
    proxy
        .state(&format!("scheduled/{}/instance-stop/{week}", all[1].id))
        .await;
    let soon = now_s() + 6.0;
    proxy
        .state(&format!("scheduled/{}/system-reboot/{soon}", all[2].id))
        .await;
    let q = queue_with_dlq(3, 30).await;
    let port = free_port();
    let worker = Worker::events(&svc, &q.url, port)
        .endpoint(&proxy.endpoint)
        .args(&["--scheduled-lead-seconds", "2"])
        .spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    // Cancelled after its timer was armed: EC2 is asked again when it fires.
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy
        .state(&format!("scheduled-cancel/{}", all[2].id))
        .await;
    // Scheduled after the worker's only cycle: only AWS Health's notice can arm it (EC2 confirms it).
    let start = now_s() + 5.0;
    proxy
        .state(&format!(
            "scheduled/{}/instance-retirement/{start}",
            all[3].id
        ))
        .await;
    let health = json!({"version": "0", "id": "h-1", "detail-type": "AWS Health Event", "source": "aws.health",
        "account": "123456789012", "time": "2026-11-24T00:00:00Z", "region": HOME_REGION, "resources": [all[3].id],
        "detail": {"eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/x",
            "service": "EC2", "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
            "eventTypeCategory": "scheduledChange", "eventRegion": HOME_REGION,
            "startTime": httpdate(start), "statusCode": "upcoming",
            "affectedEntities": [{"entityValue": all[3].id}]}});
    send_raw(&q.url, &health.to_string()).await;
    wait_registered(&svc, Duration::from_secs(20), |r| !r.contains(&all[3].id)).await;
    wait_queue_empty(&q.url).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let series = "cloud_unmap_events_total{type=\"scheduled_change\",outcome=\"scheduled\"}";
    assert_eq!(metric(port, series).await, 1.0);
    let out = worker.terminate(Duration::from_secs(30));
    let done = removals(&[&out]);
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(done[0].2 >= start - 2.0, "{done:?}");
    assert!(!log_lines(&out, "scheduled EC2 event no longer pending; nothing done").is_empty());
    assert_eq!(
        sorted(registered(&svc).await),
        sorted(vec![
            all[0].id.clone(),
            all[1].id.clone(),
            all[2].id.clone()
        ])
    );
}

/// `Thu, 26 Jan 2023 19:05:00 GMT`, as AWS Health writes times.
fn httpdate(epoch: f64) -> String {
    aws_sdk_sqs::primitives::DateTime::from_secs(epoch as i64)
        .fmt(aws_sdk_sqs::primitives::DateTimeFormat::HttpDate)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_recommendation_deregisters_only_when_asked_and_ec2_confirms_spot() {
    let ec2c = ec2(HOME_REGION).await;
    let spot = Launch::on(&ec2c).count(2).spot().run().await;
    let on_demand = launch(HOME_REGION, 2).await;
    let rebalance = |id: &str| {
        json!({"version": "0", "id": format!("r-{id}"), "detail-type": "EC2 Instance Rebalance Recommendation",
            "source": "aws.ec2", "account": "123456789012", "time": "2026-11-24T00:00:00Z", "region": HOME_REGION,
            "resources": [format!("arn:aws:ec2:us-east-1b:instance/{id}")], "detail": {"instance-id": id}})
        .to_string()
    };
    for (flags, removed) in [
        (&[][..], 0usize),
        (&["--on-rebalance", "deregister"][..], 1),
    ] {
        let ns = namespace().await;
        let svc = service(&ns).await;
        register_all(&svc, &spot).await;
        register_all(&svc, &on_demand).await;
        let q = queue_with_dlq(3, 30).await;
        let port = free_port();
        let worker = Worker::events(&svc, &q.url, port).args(flags).spawn();
        wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
        send_raw(&q.url, &rebalance(&spot[0].id)).await;
        send_raw(&q.url, &rebalance(&on_demand[0].id)).await;
        wait_queue_empty(&q.url).await;
        let out = worker.terminate(Duration::from_secs(30));
        let done = removals(&[&out]);
        assert_eq!(done.len(), removed, "{flags:?}: {done:?}");
        if removed == 1 {
            assert_eq!(
                (done[0].0.as_str(), done[0].1.as_str()),
                (spot[0].id.as_str(), "rebalance-recommendation")
            );
        }
        assert!(registered(&svc).await.contains(&on_demand[0].id));
    }
}

/// Every attribute of one registration, sorted.
async fn attributes_of(service: &str, id: &str) -> Vec<(String, String)> {
    let got = cloudmap()
        .await
        .get_instance()
        .service_id(service)
        .instance_id(id)
        .send()
        .await
        .unwrap();
    let mut a: Vec<(String, String)> = got
        .instance()
        .and_then(|i| i.attributes())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    a.sort();
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_reboot_takes_registrations_out_and_puts_them_back_once_ec2_says_completed() {
    // moto reports no scheduled events: the proxy answers DescribeInstanceStatus as EC2 does, and
    // marks the reboot "[Completed]" when told (EC2 keeps describing it so for up to a week).
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all).await;
    // A registration named by its EC2 id, listed as AWS lists it: Cloud Map filled
    // AWS_INSTANCE_IPV4 (the primary private address) itself (API InstanceSummary); moto does not.
    let named = [
        ("AWS_EC2_INSTANCE_ID", all[0].id.as_str()),
        ("AWS_INIT_HEALTH_STATUS", "HEALTHY"),
        ("AWS_INSTANCE_IPV4", all[0].ip.as_str()),
    ];
    register_named(&svc, "web-1", &named).await;
    // Put back as RegisterInstance accepts it (only AWS_INIT_HEALTH_STATUS beside
    // AWS_EC2_INSTANCE_ID: the proxy refuses anything else, as AWS does) and AWS fills the address
    // again (the proxy does, as AWS does): the same attributes as before.
    let sent: Vec<(String, String)> = named
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let before = (attributes_of(&svc, &all[0].id).await, sent);
    let start = now_s() + 6.0;
    for (i, code) in [(0, "system-reboot"), (1, "instance-retirement")] {
        let id = &all[i].id;
        proxy.state(&format!("scheduled/{id}/{code}/{start}")).await;
    }
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&home_args(&svc))
        .args(&["--frequency", "2", "--scheduled-lead-seconds", "2"])
        .spawn();
    let out_of_service = |r: &[String]| {
        !r.contains(&all[0].id) && !r.contains(&"web-1".to_string()) && !r.contains(&all[1].id)
    };
    wait_registered(&svc, Duration::from_secs(30), out_of_service).await;
    // Out until EC2 says the reboot is over: several checks later, still out.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(out_of_service(&registered(&svc).await));
    let series = format!(
        "cloud_unmap_deregistrations_total{{service_id=\"{svc}\",trigger=\"scheduled\",reason=\"scheduled-event\"}}"
    );
    assert_eq!(metric(port, &series).await, 3.0);
    proxy
        .state(&format!("scheduled-complete/{}", all[0].id))
        .await;
    proxy
        .state(&format!("scheduled-complete/{}", all[1].id))
        .await;
    let back = |r: &[String]| r.contains(&all[0].id) && r.contains(&"web-1".to_string());
    wait_registered(&svc, Duration::from_secs(30), back).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let put_back = "cloud_unmap_scheduled_put_backs_total{result=\"registered\"}";
    assert_eq!(metric(port, put_back).await, 2.0);
    let out = worker.terminate(Duration::from_secs(30));
    // Same ids, same attributes; the retired instance stays out.
    assert_eq!(
        (
            attributes_of(&svc, &all[0].id).await,
            attributes_of(&svc, "web-1").await
        ),
        before
    );
    assert!(!registered(&svc).await.contains(&all[1].id));
    let records: Vec<String> = log_lines(&out, "deregistered")
        .iter()
        .map(|l| l["record"].to_string())
        .collect();
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(
        records
            .iter()
            .all(|r| r.contains("\"trigger\":\"scheduled\"")),
        "{records:?}"
    );
    assert_eq!(
        log_lines(
            &out,
            "registered again: the scheduled event is over and the instance runs at its address"
        )
        .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_scheduled_reboot_ignore_leaves_a_rebooting_instance_registered() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all).await;
    let start = now_s() + 3.0;
    let (reboot, retire) = (&all[0].id, &all[1].id);
    proxy
        .state(&format!("scheduled/{reboot}/system-maintenance/{start}"))
        .await;
    proxy
        .state(&format!("scheduled/{retire}/instance-stop/{start}"))
        .await;
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&home_args(&svc))
        .args(&["--frequency", "2", "--scheduled-lead-seconds", "2"])
        .args(&["--on-scheduled-reboot", "ignore"])
        .spawn();
    wait_registered(&svc, Duration::from_secs(30), |r| !r.contains(retire)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let out = worker.terminate(Duration::from_secs(30));
    let done = removals(&[&out]);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(
        sorted(registered(&svc).await),
        sorted(vec![reboot.clone(), all[2].id.clone()])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_state_table_a_pending_put_back_survives_a_restart() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 2).await;
    register_all(&svc, &all).await;
    let q = queue_with_dlq(3, 30).await;
    let table = state_table().await;
    let rebooted = &all[0].id;
    let start = now_s() + 4.0;
    proxy
        .state(&format!("scheduled/{rebooted}/instance-reboot/{start}"))
        .await;
    let worker = || {
        Worker::new(free_port())
            .endpoint(&proxy.endpoint)
            .args(&home_args(&svc))
            .args(&["--frequency", "2", "--scheduled-lead-seconds", "2"])
            .args(&["--queue-url", &q.url, "--state-table", &table])
            .spawn()
    };
    let first = worker();
    wait_registered(&svc, Duration::from_secs(30), |r| !r.contains(rebooted)).await;
    let first = first.terminate(Duration::from_secs(30));
    assert_eq!(
        log_lines(
            &first,
            "registered again: the scheduled event is over and the instance runs at its address"
        )
        .len(),
        0
    );
    // Over while no worker runs: the next one finds the put-back in the table.
    proxy.state(&format!("scheduled-complete/{rebooted}")).await;
    let second = worker();
    wait_registered(&svc, Duration::from_secs(30), |r| r.contains(rebooted)).await;
    let second = second.terminate(Duration::from_secs(30));
    assert_eq!(
        log_lines(
            &second,
            "registered again: the scheduled event is over and the instance runs at its address"
        )
        .len(),
        1,
        "{}",
        stdout(&second)
    );
    assert!(removals(&[&second]).is_empty());
}
