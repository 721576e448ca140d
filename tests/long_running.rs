//! Long-running mode end to end: the HTTP server (/metrics, /healthz, /readyz), the healthcheck
//! subcommand, periodic reconciles, liveness through a long slow reconcile, and SIGTERM in the
//! middle of a reconcile.

mod common;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use common::*;
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_and_readiness() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let inst = launch(HOME_REGION, 3).await;
    register_all(&svc, &inst).await;
    let port = free_port();
    let child = Worker::new(port)
        .args(&home_args(&svc))
        .args(&["--frequency", "1", "--enable-prometheus"])
        .spawn();

    // Ready once the first reconcile succeeded.
    let (_, ready) = wait_http(port, "/readyz", Duration::from_secs(20), |s, _| s == 200).await;
    assert!(ready.contains("\"ready\":true"), "{ready}");
    assert_eq!(http_get(port, "/healthz").await.unwrap().0, 200);

    // A later cycle removes an instance terminated after start.
    terminate(&ec2(HOME_REGION).await, &[inst[0].id.clone()]).await;
    let label = format!("service_id=\"{svc}\",trigger=\"reconcile\",reason=\"terminated\"");
    let (_, metrics) = wait_http(port, "/metrics", Duration::from_secs(20), |_, b| {
        b.contains(&format!("cloud_unmap_deregistrations_total{{{label}}} 1"))
    })
    .await;
    assert_eq!(registered(&svc).await, sorted(ids(&inst[1..])));
    assert!(
        metrics.contains(&format!("aws_cloud_unmap_up{{service_id=\"{svc}\"}} 1")),
        "{metrics}"
    );
    let ts_line = metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "aws_cloud_unmap_last_reconcile_success_timestamp_seconds{{service_id=\"{svc}\"}}"
            ))
        })
        .expect("seed timestamp metric");
    let ts: i64 = ts_line.rsplit(' ').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 30, "{ts_line}");
    assert!(metrics.contains(&format!(
        "cloud_unmap_registered_instances{{service_id=\"{svc}\"}}"
    )));
    assert!(metrics.contains("cloud_unmap_reconcile_duration_seconds_bucket"));

    // The healthcheck subcommand agrees with /healthz, and fails on a closed port.
    // As ECS runs it: inside the task, with the worker's CLOUD_UNMAP_* environment set.
    let healthcheck = |port: u16| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cloud-unmap"))
            .env("CLOUD_UNMAP_SERVICE_ID", &svc)
            .env("CLOUD_UNMAP_SINGLE_RUN", "true")
            .env("CLOUD_UNMAP_PROMETHEUS_PORT", port.to_string())
            .arg("healthcheck")
            .output()
            .unwrap()
    };
    assert_eq!(healthcheck(port).status.code(), Some(0));
    assert_eq!(healthcheck(free_port()).status.code(), Some(1));

    let out = child.terminate(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_names_a_missing_service_which_blocks_nothing_else() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let inst = launch(HOME_REGION, 2).await;
    register_all(&svc, &inst).await;
    let port = free_port();
    let child = Worker::new(port)
        .args(&[
            "--service-id",
            &svc,
            "--service-id",
            "srv-doesnotexist01",
            "--service-region",
            HOME_REGION,
            "--instances-region",
            HOME_REGION,
            "--frequency",
            "1",
        ])
        .spawn();
    // Wait for the good service to have reconciled (its metric appears), then readiness names the
    // missing one: ready, since everything else works, and the reason and a metric say what is wrong.
    wait_http(port, "/metrics", Duration::from_secs(20), |_, b| {
        b.contains(&format!(
            "cloud_unmap_reconciles_total{{service_id=\"{svc}\",result=\"success\"}}"
        ))
    })
    .await;
    let (status, body) = http_get(port, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["stale_services"], serde_json::json!([]));
    assert!(json["reason"]
        .as_str()
        .unwrap()
        .contains("missing (deleted, or a wrong id): srv-doesnotexist01"));
    let missing = "cloud_unmap_selection_missing{kind=\"service\",id=\"srv-doesnotexist01\"}";
    assert_eq!(metric(port, missing).await, 1.0);
    assert_eq!(http_get(port, "/healthz").await.unwrap().0, 200);
    let out = child.terminate(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0));
    // Logged once per cycle (frequency 1 s): never more often than the cycles.
    let cycles = log_lines(&out, "cycle finished with failures or holds").len() + 1;
    let logged = log_lines(&out, "a selected service does not exist; skipped").len();
    assert!(
        logged >= 1 && logged <= cycles,
        "{logged} lines in {cycles} cycles"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_reconcile_finishes_the_reconcile() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let inst = launch(HOME_REGION, 120).await;
    register_all(&svc, &inst).await;
    let gone = ids(&inst[..100]);
    terminate(&ec2(HOME_REGION).await, &gone).await;
    let port = free_port();
    // One deregistration at a time, so the reconcile is still running when the signal lands.
    let mut child = Worker::new(port)
        .args(&home_args(&svc))
        .args(&["--concurrency", "1"])
        .spawn_child();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let is_first = line.contains("\"message\":\"deregistered\"");
        seen.push(line);
        if is_first {
            sigterm(&child);
            break;
        }
    }
    seen.extend(lines.map_while(Result::ok));
    let out = Running::new(child).wait(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", seen.join("\n"));
    let deregistered = seen
        .iter()
        .filter(|l| l.contains("\"message\":\"deregistered\""))
        .count();
    assert_eq!(
        deregistered, 100,
        "the reconcile in progress ran to its end"
    );
    assert_eq!(registered(&svc).await, sorted(ids(&inst[100..])));
    assert!(seen.iter().any(|l| l.contains("SIGTERM")));
}

#[tokio::test(flavor = "multi_thread")]
async fn port_in_use_fails_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Worker::new(port)
        .args(&home_args("srv-abc123"))
        .spawn()
        .wait(Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("cannot start the HTTP server"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_right_after_start_is_a_clean_stop() {
    let port = free_port();
    let child = Worker::new(port).args(&home_args("srv-abc123")).spawn();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = child.terminate(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn liveness_holds_through_a_long_slow_reconcile() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let client = ec2(HOME_REGION).await;
    let gone = Launch::on(&client).count(1000).run().await;
    let live = launch(HOME_REGION, 1).await;
    let jobs: Vec<_> = gone
        .iter()
        .chain(&live)
        .map(|i| register(&svc, &i.id, Some(&i.ip)))
        .collect();
    futures::stream::iter(jobs)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    terminate(&client, &ids(&gone)).await;
    // Every AWS answer 20 ms late: one reconcile of 1,000 removals takes far longer than the
    // 2 s stall timeout, yet it makes progress all along.
    proxy.state("slow/20").await;
    let port = free_port();
    let child = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&home_args(&svc))
        .args(&["--frequency", "3600", "--stall-timeout", "2"])
        .spawn();
    let started = std::time::Instant::now();
    let mut polls = 0;
    loop {
        if let Some((status, body)) = http_get(port, "/healthz").await {
            assert_eq!(status, 200, "after {:?}: {body}", started.elapsed());
            polls += 1;
        }
        if registered(&svc).await == ids(&live) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the reconcile did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        started.elapsed() > Duration::from_secs(4),
        "too quick to prove anything"
    );
    assert!(polls > 10);
    // Then it sleeps for an hour, alive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(http_get(port, "/healthz").await.unwrap().0, 200);
    assert_eq!(
        child.terminate(Duration::from_secs(30)).status.code(),
        Some(0)
    );
}
