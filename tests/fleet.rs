//! Replicas share the reconcile through the queue (`--state-table`): a scheduled reconcile message
//! makes one cycle among two worker processes, not two; both replicas' success timestamp and
//! readiness follow it; without a message for 2 × the period a replica runs the cycle itself and
//! says so; an unreadable table never stops the reconcile. The reconcile message is what the
//! deployed EventBridge Scheduler schedule puts in the queue (moto runs no schedules: the test puts
//! it, as the schedule would).

mod common;

use std::time::Duration;

use common::*;

const RAN_SCHEDULE: &str = r#"cloud_unmap_reconcile_cycles_total{cause="schedule",outcome="ran"}"#;
const COVERED_SCHEDULE: &str =
    r#"cloud_unmap_reconcile_cycles_total{cause="schedule",outcome="covered"}"#;
const RAN_BACKSTOP: &str = r#"cloud_unmap_reconcile_cycles_total{cause="backstop",outcome="ran"}"#;

async fn put_reconcile_message(queue: &str, every: u64) {
    sqs()
        .await
        .send_message()
        .queue_url(queue)
        .message_body(format!(r#"{{"cloud-unmap":"reconcile","every":{every}}}"#))
        .send()
        .await
        .unwrap();
}

async fn count(proxy: &Proxy, operation: &str) -> u64 {
    proxy.state("state").await["counts"][operation]
        .as_u64()
        .unwrap_or(0)
}

fn replica(ns: &str, queue: &str, table: &str, frequency: &str, proxy: &Proxy) -> (Running, u16) {
    let port = free_port();
    let worker = Worker::new(port)
        .args(&["--namespace-id", ns])
        .args(&REGION_ARGS)
        .args(&["--frequency", frequency, "--queue-url", queue])
        .args(&["--state-table", table])
        .endpoint(&proxy.endpoint)
        .spawn();
    (worker, port)
}

async fn sum(ports: &[u16], series: &str) -> f64 {
    let mut total = 0.0;
    for p in ports {
        total += metric(*p, series).await;
    }
    total
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_run_one_cycle_per_reconcile_message_and_both_stay_true() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let mut services = Vec::new();
    for _ in 0..2 {
        let svc = service(&ns).await;
        let instances = launch(HOME_REGION, 3).await;
        register_all(&svc, &instances).await;
        services.push((svc, instances));
    }
    let q = queue_with_dlq(3, 30).await;
    let table = state_table().await;
    // --frequency 30: each replica reads the table every 15 s; the backstop waits 2 x 60 s (the
    // messages say the schedule runs every 60 s), longer than this test.
    let (a, port_a) = replica(&ns, &q.url, &table, "30", &proxy);
    let (b, port_b) = replica(&ns, &q.url, &table, "30", &proxy);
    let ports = [port_a, port_b];

    // Both start together: one start cycle between them (the lease), and both become ready, the
    // one that did not run it from the table.
    for p in ports {
        wait_http(p, "/readyz", Duration::from_secs(40), |s, _| s == 200).await;
    }
    let start_ran = sum(
        &ports,
        r#"cloud_unmap_reconcile_cycles_total{cause="start",outcome="ran"}"#,
    )
    .await;
    assert_eq!(start_ran, 1.0, "one start cycle between two replicas");

    // An instance of each service dies; no event reaches the queue (no rules): only the
    // scheduled cycle can remove them. Two reconcile messages at once (a duplicate delivery, or a
    // schedule firing while a cycle runs) still make one cycle.
    let client = ec2(HOME_REGION).await;
    for (_, instances) in &services {
        terminate(&client, std::slice::from_ref(&instances[0].id)).await;
    }
    let before = unix_now();
    let lists = count(&proxy, "ListInstances").await;
    let lookups = count(&proxy, "DescribeInstances").await;
    put_reconcile_message(&q.url, 60).await;
    put_reconcile_message(&q.url, 60).await;
    for (svc, instances) in &services {
        let mut rest = ids(&instances[1..]);
        rest.sort();
        wait_registered(svc, WAIT, |r| r == rest.as_slice()).await;
    }
    eventually(WAIT, "both reconcile messages handled", || async {
        let (ran, covered) = (
            sum(&ports, RAN_SCHEDULE).await,
            sum(&ports, COVERED_SCHEDULE).await,
        );
        let depth = queue_depth(&q.url).await;
        (ran + covered == 2.0 && depth == (0, 0))
            .then_some(())
            .ok_or(format!("ran {ran}, covered {covered}, queue {depth:?}"))
    })
    .await;
    assert_eq!(sum(&ports, RAN_SCHEDULE).await, 1.0, "one cycle ran");
    // One cycle's calls: one listing and one lookup per service (3 registrations fit one page and
    // one DescribeInstances); two replicas each running the cycle would make twice as many.
    assert_eq!(count(&proxy, "ListInstances").await - lists, 2);
    assert_eq!(count(&proxy, "DescribeInstances").await - lookups, 2);

    // The seed's success timestamp moves on both replicas, the one that did not run the cycle too.
    for p in ports {
        for (svc, _) in &services {
            let series = format!(
                "aws_cloud_unmap_last_reconcile_success_timestamp_seconds{{service_id=\"{svc}\"}}"
            );
            eventually(
                Duration::from_secs(30),
                "success timestamp on each replica",
                || async {
                    let t = metric(p, &series).await;
                    (t >= before as f64)
                        .then_some(())
                        .ok_or(format!("{t} < {before}"))
                },
            )
            .await;
        }
        wait_http(p, "/readyz", WAIT, |s, _| s == 200).await;
    }
    assert_eq!(
        sum(&ports, RAN_BACKSTOP).await,
        0.0,
        "no backstop while messages come"
    );
    for r in [a, b] {
        let out = r.terminate(Duration::from_secs(30));
        assert!(out.status.success(), "{}", stdout(&out));
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_reconcile_messages_a_replica_runs_the_cycle_itself_and_says_so() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let instances = launch(HOME_REGION, 3).await;
    register_all(&svc, &instances).await;
    let q = queue_with_dlq(3, 30).await;
    let table = state_table().await;
    // --frequency 3: no schedule has ever said its period, so the backstop is due 6 s after the
    // last cycle started (the start cycle).
    let (worker, port) = replica(&ns, &q.url, &table, "3", &proxy);
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, std::slice::from_ref(&instances[0].id)).await;
    let mut rest = ids(&instances[1..]);
    rest.sort();
    wait_registered(&svc, Duration::from_secs(30), |r| r == rest.as_slice()).await;
    eventually(WAIT, "a backstop cycle counted", || async {
        let n = metric(port, RAN_BACKSTOP).await;
        (n >= 1.0).then_some(()).ok_or(format!("{n}"))
    })
    .await;
    let out = worker.terminate(Duration::from_secs(30));
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("no reconcile cycle started on any replica for 2 x the period"),
        "the backstop says so in the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_state_table_never_stops_the_reconcile() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let instances = launch(HOME_REGION, 3).await;
    register_all(&svc, &instances).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, std::slice::from_ref(&instances[0].id)).await;
    let q = queue_with_dlq(3, 30).await;
    // A table that does not exist (deleted, or a wrong name): the cycle runs without the lease.
    let (worker, _port) = replica(&ns, &q.url, "no-such-table", "3", &proxy);
    let mut rest = ids(&instances[1..]);
    rest.sort();
    wait_registered(&svc, WAIT, |r| r == rest.as_slice()).await;
    let out = worker.terminate(Duration::from_secs(30));
    let log = stdout(&out);
    assert!(log.contains("the state table failed"), "{log}");
    assert!(log.contains("running the cycle without the lease"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_state_table_a_reconcile_message_is_deleted_and_each_replica_keeps_its_timer() {
    let s = Setup::with(3).start().await;
    put_reconcile_message(&s.queue, 60).await;
    wait_queue_empty(&s.queue).await;
    let out = s.worker.terminate(Duration::from_secs(30));
    assert!(stdout(&out).contains("without --state-table each replica reconciles on its own timer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_whose_answer_was_lost_is_still_taken_and_the_cycle_runs() {
    // The proxy lets DynamoDB take the lease, then drops the connection before the answer: the
    // SDK retries, and the retry's condition fails on the lease this very replica now holds (AWS
    // can lose an answer after the write; moto never does, so the proxy does it).
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let instances = launch(HOME_REGION, 3).await;
    register_all(&svc, &instances).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, std::slice::from_ref(&instances[0].id)).await;
    let q = queue_with_dlq(3, 30).await;
    let table = state_table().await;
    proxy.state("lose/UpdateItem/1").await;
    // --frequency 3600: only the start cycle can remove the terminated instance within the test
    // (the backstop would wait 2 hours).
    let (worker, port) = replica(&ns, &q.url, &table, "3600", &proxy);
    let mut rest = ids(&instances[1..]);
    rest.sort();
    wait_registered(&svc, WAIT, |r| r == rest.as_slice()).await;
    let ran = metric(
        port,
        r#"cloud_unmap_reconcile_cycles_total{cause="start",outcome="ran"}"#,
    )
    .await;
    assert_eq!(
        ran, 1.0,
        "the start cycle ran on the replica that took the lease"
    );
    let out = worker.terminate(Duration::from_secs(30));
    assert!(out.status.success(), "{}", stdout(&out));
}
