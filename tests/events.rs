//! The event path end to end on moto: EventBridge rules from event-rules.json route events into an
//! SQS queue; the worker verifies them with EC2 and deregisters. Asserts which registrations remain,
//! which messages are left, and where unreadable ones end up.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

async fn stop_worker(worker: Running) -> String {
    let out = worker.terminate(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    stdout(&out)
}

#[tokio::test(flavor = "multi_thread")]
async fn state_change_events_deregister_within_the_event_path() {
    let s = Setup::with(5).start().await;
    // Registered after the worker's start-up reconcile: must still be found.
    let late = launch(HOME_REGION, 1).await;
    register_all(&s.service, &late).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, &[s.instances[0].id.clone(), late[0].id.clone()]).await;
    put_state_change(&s.instances[0].id, "terminated").await;
    put_state_change(&late[0].id, "shutting-down").await;

    let mut expected = ids(&s.instances[1..]);
    expected.sort();
    wait_registered(&s.service, WAIT, |r| r == expected.as_slice()).await;
    wait_queue_empty(&s.queue).await;
    let series = format!("cloud_unmap_deregistrations_total{{service_id=\"{}\",trigger=\"event\",reason=\"terminated\"}}", s.service);
    assert_eq!(metric(s.port, &series).await, 2.0);
    assert!(
        metric(
            s.port,
            "cloud_unmap_event_latency_seconds_count{from=\"receipt\"}"
        )
        .await
            >= 2.0
    );
    stop_worker(s.worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_irrelevant_events_change_nothing() {
    let s = Setup::with(3).start().await;
    // Routed by the rules: a terminated claim for a running instance; a Spot notice for an
    // on-demand instance; a stopped instance without --deregister-stopped.
    put_state_change(&s.instances[0].id, "terminated").await;
    put_event(
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        json!({"instance-id": s.instances[1].id, "instance-action": "terminate"}),
    )
    .await;
    stop(
        &ec2(HOME_REGION).await,
        std::slice::from_ref(&s.instances[2].id),
    )
    .await;
    put_state_change(&s.instances[2].id, "stopped").await;
    // Sent straight to the queue (the rules would not forward them): the AWS samples of types
    // cloud-unmap ignores, and a termination from an account it does not watch.
    for sample in [
        "ec2-rebalance-recommendation",
        "asg-launch-lifecycle-action",
        "asg-test-notification",
    ] {
        let body = std::fs::read_to_string(format!(
            "{}/tests/fixtures/events/{sample}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        send_raw(&s.queue, &body).await;
    }
    let foreign = json!({"version":"0","id":"f","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2",
        "account":"999999999999","time":"2024-01-01T00:00:00Z","region":HOME_REGION,"resources":[],
        "detail":{"instance-id": s.instances[0].id,"state":"terminated"}});
    send_raw(&s.queue, &foreign.to_string()).await;

    wait_queue_empty(&s.queue).await;
    assert_eq!(registered(&s.service).await, sorted(ids(&s.instances)));
    assert_eq!(queue_depth(&s.dlq).await, (0, 0));
    // Every one of them deleted (at least: the rules also route other tests' events here).
    assert!(metric(s.port, "cloud_unmap_messages_total{result=\"deleted\"}").await >= 7.0);
    stop_worker(s.worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn spot_warning_while_true_and_stopped_with_the_flag() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let client = ec2(HOME_REGION).await;
    let spot = Launch::on(&client).count(2).spot().run().await;
    let plain = launch(HOME_REGION, 2).await;
    register_all(&svc, &spot).await;
    register_all(&svc, &plain).await;
    let q = queue_with_dlq(3, 4).await;
    route_rules_to(&q.arn).await;
    let port = free_port();
    let child = Worker::events(&svc, &q.url, port)
        .args(&["--deregister-stopped"])
        .spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;

    // A notice ten minutes old (redriven from the DLQ; the instance runs on): nothing changes.
    let old = aws_sdk_sqs::primitives::DateTime::from(
        std::time::SystemTime::now() - Duration::from_secs(600),
    )
    .fmt(aws_sdk_sqs::primitives::DateTimeFormat::DateTime)
    .unwrap();
    let expired = json!({"version": "0", "id": "old", "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2", "time": old, "region": HOME_REGION, "resources": [],
        "detail": {"instance-id": spot[1].id, "instance-action": "terminate"}});
    send_raw(&q.url, &expired.to_string()).await;
    // The Spot instance is still running during its two-minute notice: removed at once.
    put_event(
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        json!({"instance-id": spot[0].id, "instance-action": "terminate"}),
    )
    .await;
    stop(&client, std::slice::from_ref(&plain[0].id)).await;
    put_state_change(&plain[0].id, "stopped").await;
    let left = sorted(vec![spot[1].id.clone(), plain[1].id.clone()]);
    wait_registered(&svc, WAIT, |r| r == left.as_slice()).await;
    wait_queue_empty(&q.url).await;
    let series = format!("cloud_unmap_deregistrations_total{{service_id=\"{svc}\",trigger=\"event\",reason=\"spot-interruption\"}}");
    assert_eq!(metric(port, &series).await, 1.0);
    let expired = "cloud_unmap_events_total{type=\"spot_interruption\",outcome=\"expired\"}";
    assert_eq!(metric(port, expired).await, 1.0);
    assert_eq!(registered(&svc).await, left);
    stop_worker(child).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_bodies_reach_the_dead_letter_queue_and_nothing_changes() {
    let s = Setup::with(2).start().await;
    let bad = [
        "not json",
        "{\"source\":\"aws.ec2\"}",
        "{\"source\":\"aws.ec2\",\"detail-type\":\"EC2 Instance State-change Notification\",\"detail\":{\"instance-id\":\"i-1\",\"state\":\"terminated\"}}",
    ];
    for body in bad {
        send_raw(&s.queue, body).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while queue_depth(&s.dlq).await.0 < bad.len() as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "DLQ has {:?}",
            queue_depth(&s.dlq).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(queue_depth(&s.queue).await, (0, 0));
    assert_eq!(registered(&s.service).await, sorted(ids(&s.instances)));
    let logs = stop_worker(s.worker).await;
    let logged = logs
        .lines()
        .filter(|l| l.contains("unreadable message left for the dead-letter queue"))
        .count();
    assert_eq!(logged, bad.len(), "each unreadable message is logged once");
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_order_and_duplicate_events_are_harmless() {
    let s = Setup::with(3).start().await;
    terminate(
        &ec2(HOME_REGION).await,
        std::slice::from_ref(&s.instances[0].id),
    )
    .await;
    // "stopping" arrives after "terminated"; the termination is repeated. EC2 is the truth.
    put_state_change(&s.instances[0].id, "terminated").await;
    put_state_change(&s.instances[0].id, "stopping").await;
    put_state_change(&s.instances[0].id, "terminated").await;
    put_state_change(&s.instances[0].id, "shutting-down").await;
    wait_registered(&s.service, WAIT, |r| !r.contains(&s.instances[0].id)).await;
    wait_queue_empty(&s.queue).await;
    assert_eq!(registered(&s.service).await, sorted(ids(&s.instances[1..])));
    assert_eq!(queue_depth(&s.dlq).await, (0, 0));
    stop_worker(s.worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guard_holds_on_the_event_path_too() {
    let s = Setup::with(1).start().await;
    terminate(
        &ec2(HOME_REGION).await,
        std::slice::from_ref(&s.instances[0].id),
    )
    .await;
    put_state_change(&s.instances[0].id, "terminated").await;
    let series = format!(
        "cloud_unmap_guard_holds_total{{service_id=\"{}\",guard=\"never_empty\"}}",
        s.service
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(s.port, &series).await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_queue_empty(&s.queue).await;
    assert_eq!(registered(&s.service).await, ids(&s.instances));
    stop_worker(s.worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_in_a_burst_loses_nothing() {
    let s = Setup::with(42).start().await;
    let gone = ids(&s.instances[..40]);
    terminate(&ec2(HOME_REGION).await, &gone).await;
    for id in &gone {
        put_state_change(id, "terminated").await;
    }
    // Stop the worker as soon as it has removed something.
    wait_registered(&s.service, WAIT, |r| r.len() < 42).await;
    stop_worker(s.worker).await;
    let left_after_stop = registered(&s.service).await.len();
    // Whatever it did not finish is still in the queue: a new worker finishes the job.
    let port = free_port();
    let second = Worker::events(&s.service, &s.queue, port).spawn();
    let expected = sorted(ids(&s.instances[40..]));
    wait_registered(&s.service, Duration::from_secs(40), |r| {
        r == expected.as_slice()
    })
    .await;
    wait_queue_empty(&s.queue).await;
    assert_eq!(queue_depth(&s.dlq).await, (0, 0));
    eprintln!("registrations left after the first worker stopped: {left_after_stop}");
    stop_worker(second).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoint_outage_in_a_stream_then_recovery() {
    let proxy = Proxy::start();
    let s = Setup::with(6).through(&proxy.endpoint).start().await;
    let client = ec2(HOME_REGION).await;
    terminate(
        &client,
        &[s.instances[0].id.clone(), s.instances[1].id.clone()],
    )
    .await;
    put_state_change(&s.instances[0].id, "terminated").await;
    wait_registered(&s.service, WAIT, |r| !r.contains(&s.instances[0].id)).await;

    proxy.state("outage/on").await;
    // Events keep arriving (straight into moto) while the worker cannot reach AWS.
    put_state_change(&s.instances[1].id, "terminated").await;
    let (_, why) = wait_http(s.port, "/readyz", Duration::from_secs(40), |st, _| {
        st == 503
    })
    .await;
    // Either reason may come first: AWS unreachable (five attempts failed), or the receive itself.
    assert!(
        why.contains("unreachable") || why.contains("event queue"),
        "{why}"
    );
    assert_eq!(
        http_get(s.port, "/healthz").await.unwrap().0,
        200,
        "alive throughout"
    );
    assert!(registered(&s.service).await.contains(&s.instances[1].id));
    terminate(&client, std::slice::from_ref(&s.instances[2].id)).await;
    put_state_change(&s.instances[2].id, "terminated").await;

    proxy.state("outage/off").await;
    let expected = sorted(ids(&s.instances[3..]));
    wait_registered(&s.service, Duration::from_secs(60), |r| {
        r == expected.as_slice()
    })
    .await;
    wait_http(s.port, "/readyz", Duration::from_secs(40), |st, _| {
        st == 200
    })
    .await;
    wait_queue_empty(&s.queue).await;
    stop_worker(s.worker).await;
}

#[test]
fn queue_with_dry_run_or_single_run_is_refused() {
    for extra in ["--dry-run", "--single-run"] {
        let queue = "https://sqs.us-east-1.amazonaws.com/123456789012/q";
        assert_usage_error(&[&home_args("srv-abc")[..], &["--queue-url", queue, extra]].concat());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_never_waits_for_an_unrelated_batch() {
    let proxy = Proxy::start();
    let s = Setup::with(4).through(&proxy.endpoint).start().await;
    // The first event's batch stalls 10 s (long beside the second event's path, even on a loaded
    // machine).
    let (first, second) = stall_first_then_put_second(&proxy, &s, 10).await;
    // The second is received and worked while the first batch still waits for EC2.
    let gone = second.clone();
    wait_registered(&s.service, WAIT, move |r| !r.contains(&gone)).await;
    assert!(
        registered(&s.service).await.contains(&first),
        "the second event was handled before the first batch's lookup came back"
    );
    both_gone_nothing_left(s).await;
}

/// Terminates the first two instances, puts the first's event with its batch's EC2 answer held back
/// `secs` (only a lookup naming it: the events of concurrent tests on the shared bus reach this
/// queue too), waits until it is held, then puts the second's. Returns both ids.
async fn stall_first_then_put_second(proxy: &Proxy, s: &Setup, secs: u64) -> (String, String) {
    let (first, second) = (s.instances[0].id.clone(), s.instances[1].id.clone());
    terminate(&ec2(HOME_REGION).await, &[first.clone(), second.clone()]).await;
    proxy
        .state(&format!("hold/DescribeInstances/{secs}/{first}"))
        .await;
    put_state_change(&first, "terminated").await;
    eventually(WAIT, "the first batch's lookup held", || async {
        let held = proxy.state("state").await["held"].as_u64().unwrap_or(0);
        (held >= 1).then_some(()).ok_or(held.to_string())
    })
    .await;
    put_state_change(&second, "terminated").await;
    (first, second)
}

/// Both removed, the rest kept, the queue empty, nothing in the dead-letter queue; stops the worker.
async fn both_gone_nothing_left(s: Setup) {
    let mut expected = ids(&s.instances[2..]);
    expected.sort();
    wait_registered(&s.service, WAIT, |r| r == expected.as_slice()).await;
    wait_queue_empty(&s.queue).await;
    assert_eq!(queue_depth(&s.dlq).await, (0, 0));
    stop_worker(s.worker).await;
}

/// A batch received while every slot is busy waits for one, kept invisible: with one slot and the
/// first batch's EC2 answer held back 14 s (past three of the queue's 4 s visibility timeouts, its
/// redrive count), the second event is received meanwhile, waits, and is handled once, never
/// redelivered into the dead-letter queue.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_waiting_for_a_slot_stays_invisible() {
    let proxy = Proxy::start();
    let s = Setup::with(4)
        .through(&proxy.endpoint)
        .args(&["--event-batches", "1"])
        .start()
        .await;
    stall_first_then_put_second(&proxy, &s, 14).await;
    both_gone_nothing_left(s).await;
}
