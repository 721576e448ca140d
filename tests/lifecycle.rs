//! Auto Scaling terminate lifecycle actions end to end, on moto behind `scripts/aws_proxy.py`, which
//! answers what moto 5.2.5 lacks as AWS documents it: CompleteLifecycleAction and
//! RecordLifecycleActionHeartbeat (a completed token answers "No active Lifecycle Action"), and
//! DescribeAutoScalingInstances showing `Terminating:Wait` once an action started (moto always says
//! InService). Asserts whose hooks are completed, when, how often, and what stays registered.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use serde_json::Value;

const DRAIN: f64 = 3.0;

fn stop_worker(worker: Running) -> std::process::Output {
    let out = worker.terminate(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    out
}

/// When the worker logged `instance_id`'s deregistration, in seconds since the epoch.
fn deregistered_at(out: &std::process::Output, instance_id: &str) -> f64 {
    let lines = log_lines(out, "deregistered");
    let line = lines
        .iter()
        .find(|l| l["instance_id"] == instance_id)
        .unwrap_or_else(|| panic!("no deregistration of {instance_id}: {}", stdout(out)));
    epoch_seconds(line["timestamp"].as_str().unwrap())
}

/// The one completion of `token`, once it happened.
async fn completed_once(proxy: &Proxy, token: &str) -> Value {
    eventually(WAIT, "the lifecycle action completed", || async {
        match proxy.completions(token).await.as_slice() {
            [one] => Ok(one.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// A worker through `proxy`, a group of `members` registered beside one plain running instance
/// (so the never-empty guard never speaks), each member shown terminating by Auto Scaling.
async fn scene(proxy: &Proxy, members: i32, args: &[&str]) -> (Setup, String, Vec<Instance>) {
    let s = Setup::with(1)
        .through(&proxy.endpoint)
        .args(args)
        .start()
        .await;
    let (group, members) = group(members).await;
    register_all(&s.service, &members).await;
    for m in &members {
        proxy.state(&format!("terminating/{}", m.id)).await;
    }
    (s, group, members)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_our_hook_is_completed_and_only_after_the_drain() {
    let proxy = Proxy::start();
    let (s, group, members) = scene(&proxy, 2, &["--lifecycle-drain-seconds", "3"]).await;
    let (ours, theirs) = (&members[0].id, &members[1].id);
    let now = SystemTime::now();
    let event = |hook, id, token| lifecycle_event(&group, hook, id, token, now);
    send_raw(&s.queue, &event("cloud-unmap", ours, "tok-ours")).await;
    send_raw(
        &s.queue,
        &event("ecs-managed-draining", theirs, "tok-theirs"),
    )
    .await;

    // Both leave every service: another team's hook still means the instance is going.
    let plain = vec![s.instances[0].id.clone()];
    wait_registered(&s.service, WAIT, |r| r == plain.as_slice()).await;
    let done = completed_once(&proxy, "tok-ours").await;
    wait_queue_empty(&s.queue).await;
    assert_eq!(done["LifecycleActionResult"], "CONTINUE");
    assert_eq!(done["LifecycleHookName"], "cloud-unmap");
    assert_eq!(done["InstanceId"], ours.as_str());
    assert_eq!(done["AutoScalingGroupName"], group.as_str());
    assert!(proxy.completions("tok-theirs").await.is_empty());
    assert!(proxy.heartbeats("tok-theirs").await.is_empty());
    let events =
        |t: &str, o: &str| format!("cloud_unmap_events_total{{type=\"{t}\",outcome=\"{o}\"}}");
    assert_eq!(
        metric(s.port, &events("terminate_lifecycle", "other_hook")).await,
        1.0
    );
    assert_eq!(
        metric(s.port, &events("terminate_lifecycle", "draining")).await,
        1.0
    );
    assert_eq!(
        metric(s.port, &events("lifecycle_drain", "acted")).await,
        1.0
    );
    assert_eq!(
        metric(
            s.port,
            "cloud_unmap_lifecycle_actions_total{step=\"completed\"}"
        )
        .await,
        1.0
    );
    assert_eq!(queue_depth(&s.dlq).await, (0, 0));

    let out = stop_worker(s.worker);
    let drained = done["at"].as_f64().unwrap() - deregistered_at(&out, ours);
    assert!(
        drained >= DRAIN,
        "CONTINUE {drained:.3} s after the deregistration"
    );
    assert_eq!(proxy.completions("tok-ours").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drain_survives_sigterm_and_another_worker_completes_it_once() {
    let proxy = Proxy::start();
    let (s, group, members) = scene(&proxy, 1, &["--lifecycle-drain-seconds", "6"]).await;
    let id = &members[0].id;
    let event = lifecycle_event(&group, "cloud-unmap", id, "tok-restart", SystemTime::now());
    send_raw(&s.queue, &event).await;
    let series = "cloud_unmap_lifecycle_actions_total{step=\"drain_started\"}";
    eventually(WAIT, "the drain started", || async {
        match metric(s.port, series).await {
            1.0 => Ok(()),
            n => Err(n.to_string()),
        }
    })
    .await;
    // SIGTERM in the middle of the drain: nothing completed, nothing lost.
    let out = stop_worker(s.worker);
    let dereg = deregistered_at(&out, id);
    assert!(proxy.completions("tok-restart").await.is_empty());

    let port = free_port();
    let _second = Worker::events(&s.service, &s.queue, port)
        .endpoint(&proxy.endpoint)
        .args(&["--lifecycle-drain-seconds", "6"])
        .spawn();
    let done = completed_once(&proxy, "tok-restart").await;
    wait_queue_empty(&s.queue).await;
    let drained = done["at"].as_f64().unwrap() - dereg;
    assert!(
        drained >= 6.0,
        "CONTINUE {drained:.3} s after the deregistration"
    );
    assert_eq!(proxy.completions("tok-restart").await.len(), 1);
    assert!(!registered(&s.service).await.contains(id));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drain_longer_than_the_heartbeat_timeout_sends_heartbeats() {
    let proxy = Proxy::start();
    let (s, group, members) = scene(&proxy, 1, &["--lifecycle-drain-seconds", "6"]).await;
    // Auto Scaling's shortest heartbeat timeout, on an action that started 25 s ago: it would
    // run out 5 s from now, before the drain ends.
    put_hook(&group, "cloud-unmap", 30).await;
    let id = &members[0].id;
    let started = SystemTime::now() - Duration::from_secs(25);
    let event = lifecycle_event(&group, "cloud-unmap", id, "tok-beat", started);
    send_raw(&s.queue, &event).await;
    let done = completed_once(&proxy, "tok-beat").await;
    let beats = proxy.heartbeats("tok-beat").await;
    assert!(!beats.is_empty(), "no heartbeat");
    let (first_beat, completed) = (
        beats[0]["at"].as_f64().unwrap(),
        done["at"].as_f64().unwrap(),
    );
    let timer_ran_out = aws_epoch(started) + 30.0;
    assert!(
        first_beat < timer_ran_out,
        "heartbeat after the timeout ran out"
    );
    assert!(first_beat < completed);
    assert_eq!(
        metric(
            s.port,
            "cloud_unmap_lifecycle_actions_total{step=\"heartbeat\"}"
        )
        .await,
        beats.len() as f64
    );
    let out = stop_worker(s.worker);
    assert!(completed - deregistered_at(&out, id) >= 6.0);
}

fn aws_epoch(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_action_auto_scaling_does_not_show_terminating_or_ec2_does_not_confirm_changes_nothing()
{
    let proxy = Proxy::start();
    let s = Setup::with(1).through(&proxy.endpoint).start().await;
    let (group, members) = group(2).await;
    register_all(&s.service, &members).await;
    let now = SystemTime::now();
    // Replayed from the DLQ after the instance stayed: Auto Scaling shows it InService.
    let stale = lifecycle_event(&group, "cloud-unmap", &members[0].id, "tok-stale", now);
    send_raw(&s.queue, &stale).await;
    // Forged: the instance is in another group than the event says.
    proxy.state(&format!("terminating/{}", members[1].id)).await;
    let forged = lifecycle_event(
        "other-group",
        "cloud-unmap",
        &members[1].id,
        "tok-forged",
        now,
    );
    send_raw(&s.queue, &forged).await;
    wait_queue_empty(&s.queue).await;
    let not_terminating =
        "cloud_unmap_events_total{type=\"terminate_lifecycle\",outcome=\"not_terminating\"}";
    assert_eq!(metric(s.port, not_terminating).await, 1.0);
    let mut all = ids(&members);
    all.push(s.instances[0].id.clone());
    assert_eq!(registered(&s.service).await, sorted(all));
    let state = proxy.state("state").await;
    assert_eq!(
        state["lifecycle_actions"].as_array().unwrap().len(),
        0,
        "{state}"
    );
    stop_worker(s.worker);
}

/// A service in a private DNS namespace whose A records live `ttl` seconds.
async fn dns_service(ttl: i64) -> String {
    use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, RecordType, RoutingPolicy};
    let sd = cloudmap().await;
    let op = sd
        .create_private_dns_namespace()
        .name(format!("{}.local", unique("dns")))
        .vpc("vpc-12345678")
        .send()
        .await
        .unwrap();
    let out = sd
        .get_operation()
        .operation_id(op.operation_id().unwrap())
        .send()
        .await
        .unwrap();
    let ns = out.operation().unwrap().targets().unwrap()
        [&aws_sdk_servicediscovery::types::OperationTargetType::Namespace]
        .clone();
    let record = DnsRecord::builder()
        .r#type(RecordType::A)
        .ttl(ttl)
        .build()
        .unwrap();
    let dns = DnsConfig::builder()
        .routing_policy(RoutingPolicy::Multivalue)
        .dns_records(record)
        .build()
        .unwrap();
    let created = sd
        .create_service()
        .name(unique("web"))
        .namespace_id(ns)
        .dns_config(dns)
        .send()
        .await
        .unwrap();
    created.service().unwrap().id().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn by_default_the_drain_is_the_largest_dns_ttl_of_the_services_left() {
    let proxy = Proxy::start();
    let svc = dns_service(4).await;
    let plain = launch(HOME_REGION, 1).await;
    let (group, members) = group(1).await;
    register_all(&svc, &plain).await;
    register_all(&svc, &members).await;
    proxy.state(&format!("terminating/{}", members[0].id)).await;
    let q = queue_with_dlq(3, 4).await;
    let port = free_port();
    let worker = Worker::events(&svc, &q.url, port)
        .endpoint(&proxy.endpoint)
        .spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    let id = &members[0].id;
    let event = lifecycle_event(&group, "cloud-unmap", id, "tok-ttl", SystemTime::now());
    send_raw(&q.url, &event).await;
    let done = completed_once(&proxy, "tok-ttl").await;
    let out = stop_worker(worker);
    let drained = done["at"].as_f64().unwrap() - deregistered_at(&out, id);
    assert!(
        drained >= 4.0,
        "CONTINUE {drained:.3} s after the deregistration"
    );
    let started = log_lines(&out, "out of every service; CONTINUE after the drain");
    assert_eq!(started[0]["drain_s"], 4, "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_drain_for_an_instance_in_no_service_and_none_past_the_hooks_global_timeout() {
    let proxy = Proxy::start();
    // A drain far longer than this test: only the two rules below can complete the actions now.
    let (s, group, members) = scene(&proxy, 2, &["--lifecycle-drain-seconds", "600"]).await;
    // HeartbeatTimeout 30 s: Auto Scaling's GlobalTimeout is min(48 h, 100 x 30 s) = 3000 s (API
    // LifecycleHook). moto reports 172800 s for every hook: the proxy answers as AWS does.
    put_hook(&group, "cloud-unmap", 30).await;
    let (unlisted, late) = (&members[0].id, &members[1].id);
    cloudmap()
        .await
        .deregister_instance()
        .service_id(&s.service)
        .instance_id(unlisted)
        .send()
        .await
        .unwrap();
    let now = SystemTime::now();
    send_raw(
        &s.queue,
        &lifecycle_event(&group, "cloud-unmap", unlisted, "tok-unlisted", now),
    )
    .await;
    // An action that started 2950 s ago: CONTINUE is due 60 s before its 3000 s global timeout.
    let started = now - Duration::from_secs(2950);
    send_raw(
        &s.queue,
        &lifecycle_event(&group, "cloud-unmap", late, "tok-late", started),
    )
    .await;
    for token in ["tok-unlisted", "tok-late"] {
        let done = completed_once(&proxy, token).await;
        assert_eq!(done["LifecycleActionResult"], "CONTINUE");
    }
    wait_queue_empty(&s.queue).await;
    // The late one still left its services first; nothing was left draining.
    assert_eq!(
        registered(&s.service).await,
        vec![s.instances[0].id.clone()]
    );
    let started_drains = "cloud_unmap_lifecycle_actions_total{step=\"drain_started\"}";
    assert_eq!(metric(s.port, started_drains).await, 0.0);
    let out = stop_worker(s.worker);
    let cut = log_lines(
        &out,
        "drain cut short to end before the hook's global timeout",
    );
    assert_eq!(cut.len(), 1, "{}", stdout(&out));
    assert_eq!(cut[0]["global_timeout_s"], 3000);
}
