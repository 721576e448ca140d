//! Hostile input through the real worker: a corpus of over 200 malformed or hostile message bodies,
//! each built with the fate the design gives it (unreadable → dead-letter queue; readable →
//! deleted, changing Cloud Map only for an instance EC2 confirms gone), and hostile HTTP requests
//! to the metrics/health server.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    DeadLetter,
    Deleted,
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn state_change(id: &str, state: &str) -> Value {
    json!({"version":"0","id":"e","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2",
           "time":"2024-01-01T00:00:00Z","region":HOME_REGION,"resources":[],"detail":{"instance-id":id,"state":state}})
}

/// Bodies and their fates. `dead` is terminated in EC2; `live` runs; both are registered.
fn corpus(dead: &str, live: &str) -> Vec<(String, Fate)> {
    use Fate::*;
    let mut c: Vec<(String, Fate)> = Vec::new();
    let samples = [
        "ec2-state-change-terminated",
        "ec2-state-change-no-version",
        "ec2-spot-interruption-warning",
        "ec2-rebalance-recommendation",
        "asg-terminate-lifecycle-action",
        "asg-launch-lifecycle-action",
        "asg-test-notification",
    ];
    // Truncated JSON: every strict prefix of an object is unreadable.
    for name in samples {
        let body = sample(name);
        for k in 1..=20 {
            let cut = body.len() * k / 21;
            let prefix: String = body.chars().take(cut).collect();
            if !prefix.trim().is_empty() {
                c.push((prefix, DeadLetter));
            }
        }
    }
    let base = state_change(live, "terminated");
    // Wrong types and missing fields of the fields the design reads.
    for (path, bad) in [
        (&["source"][..], json!(7)),
        (&["source"], json!(null)),
        (&["detail-type"], json!(["x"])),
        (&["detail"], json!("detail")),
        (&["detail"], json!([])),
        (&["account"], json!(123456789012u64)),
        (&["region"], json!({"r": 1})),
        (&["time"], json!(0)),
        (&["id"], json!(false)),
        (&["detail", "instance-id"], json!(42)),
        (&["detail", "state"], json!(true)),
        (&["detail", "instance-id"], json!(null)),
    ] {
        let mut v = base.clone();
        let slot = path[..path.len() - 1]
            .iter()
            .fold(&mut v, |v, k| &mut v[*k]);
        slot[path[path.len() - 1]] = bad;
        c.push((v.to_string(), DeadLetter));
    }
    for path in [
        &["source"][..],
        &["detail-type"],
        &["detail"],
        &["detail", "instance-id"],
        &["detail", "state"],
    ] {
        let mut v = base.clone();
        let slot = path[..path.len() - 1]
            .iter()
            .fold(&mut v, |v, k| &mut v[*k]);
        slot.as_object_mut().unwrap().remove(path[path.len() - 1]);
        c.push((v.to_string(), DeadLetter));
    }
    // Optional envelope fields missing: still readable (home account, --service-region).
    for key in ["account", "region", "time", "id", "version", "resources"] {
        let mut v = state_change(dead, "terminated");
        v.as_object_mut().unwrap().remove(key);
        c.push((v.to_string(), Deleted));
    }
    // Ids of the wrong form, unicode, huge strings, deep nesting.
    for bad_id in [
        "i-XYZ",
        "i-0123",
        "I-0123456789ABCDEF0",
        "i-0123456789abcdef0 ",
        "i-０１２３４５６７",
        "",
        "i-",
    ] {
        c.push((state_change(bad_id, "terminated").to_string(), DeadLetter));
    }
    for bad_state in [
        "términated",
        "TERMINATED",
        "exploded",
        "",
        "terminated\u{0}",
    ] {
        c.push((state_change(live, bad_state).to_string(), DeadLetter));
    }
    c.push((
        state_change(&"i-".repeat(50_000), "terminated").to_string(),
        DeadLetter,
    ));
    let mut huge = base.clone();
    huge["detail-type"] = "x".repeat(100_000).into();
    c.push((huge.to_string(), DeadLetter));
    c.push((
        format!(
            "{{\"source\":\"aws.ec2\",\"detail-type\":\"a\",\"detail\":{}{}}}",
            "[".repeat(5000),
            "]".repeat(5000)
        ),
        DeadLetter,
    ));
    let mut unicode = base.clone();
    unicode["detail-type"] = "EC2 Instance Stäte-change Notification ☃".into();
    c.push((unicode.to_string(), Deleted));
    for junk in [
        "",
        " ",
        "null",
        "[]",
        "42",
        "\"text\"",
        "true",
        "{}",
        "{\"a\":",
        "\u{feff}{}",
        "<xml/>",
        "nan",
    ] {
        if !junk.trim().is_empty() {
            c.push((junk.to_string(), DeadLetter));
        }
    }
    // Readable but not for cloud-unmap: unknown account, unwatched region, other types, the samples.
    let mut foreign = state_change(dead, "terminated");
    foreign["account"] = "999999999999".into();
    c.push((foreign.to_string(), Deleted));
    let mut far = state_change(dead, "terminated");
    far["region"] = "ap-south-1".into();
    c.push((far.to_string(), Deleted));
    for other in [
        "EC2 AMI State Change",
        "AWS API Call via CloudTrail",
        "EC2 Instance Rebalance Recommendation",
    ] {
        let mut v = base.clone();
        v["detail-type"] = other.into();
        c.push((v.to_string(), Deleted));
    }
    for name in [
        "ec2-rebalance-recommendation",
        "asg-launch-lifecycle-action",
        "asg-test-notification",
    ] {
        c.push((sample(name), Deleted));
    }
    // Forged terminations of the live instance, in every dying state; duplicates and out-of-order
    // events for the dead one.
    for state in ["shutting-down", "terminated", "stopping", "stopped"] {
        for _ in 0..3 {
            c.push((state_change(live, state).to_string(), Deleted));
        }
    }
    for state in [
        "terminated",
        "running",
        "shutting-down",
        "pending",
        "terminated",
        "stopped",
        "terminated",
    ] {
        c.push((state_change(dead, state).to_string(), Deleted));
    }
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_corpus_reaches_the_outcomes_the_design_gives() {
    let s = Setup::with(3).start().await;
    let (dead, live) = (&s.instances[0].id, &s.instances[1].id);
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(dead)).await;
    let bodies = corpus(dead, live);
    assert!(bodies.len() >= 200, "corpus has {}", bodies.len());
    let to_dlq = bodies
        .iter()
        .filter(|(_, f)| *f == Fate::DeadLetter)
        .count() as u64;
    eprintln!(
        "hostile corpus: {} bodies, {to_dlq} for the dead-letter queue",
        bodies.len()
    );
    let client = sqs().await;
    for chunk in bodies.chunks(10) {
        // SQS refuses some bodies itself (empty, invalid characters): they never reach the s.worker.
        for (body, _) in chunk {
            if client
                .send_message()
                .queue_url(&s.queue)
                .message_body(body)
                .send()
                .await
                .is_err()
            {
                panic!(
                    "SQS refused a corpus body: {:?}",
                    &body[..body.len().min(60)]
                );
            }
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (main, dlq) = (queue_depth(&s.queue).await, queue_depth(&s.dlq).await);
        if main == (0, 0) && dlq.0 == to_dlq {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "queue {main:?}, dlq {dlq:?}, expected {to_dlq} in the DLQ"
        );
        assert_eq!(
            http_get(s.port, "/healthz").await.map(|r| r.0),
            Some(200),
            "the s.worker stays alive"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        registered(&s.service).await,
        sorted(vec![live.clone(), s.instances[2].id.clone()])
    );
    let out = s.worker.terminate(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0));
}

/// Sends raw bytes to the s.worker's HTTP port and returns what came back (bounded).
async fn raw(port: u16, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let _ = stream.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_http_requests_do_no_harm() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let port = free_port();
    let worker = Worker::new(port).args(&home_args(&svc)).spawn();
    wait_http(port, "/healthz", WAIT, |s, _| s == 200).await;

    // Slow clients holding connections open with half a request.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // Nothing served changes state: every other method is refused on every path.
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for path in ["/metrics", "/healthz", "/readyz"] {
            let answer = raw(port, format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).await;
            assert!(
                answer.starts_with("HTTP/1.1 405"),
                "{method} {path}: {answer}"
            );
        }
    }
    let huge_header = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = raw(port, huge_header.as_bytes()).await;
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "a 1 MiB header was served: {}",
        &answer[..answer.len().min(80)]
    );
    for junk in [
        &b"\x00\x01\x02\x03garbage\r\n\r\n"[..],
        b"BREW /metrics HTCPCP/1.0\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let answer = raw(port, junk).await;
        assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Still answering, promptly, with the slow connections open.
    let t0 = std::time::Instant::now();
    assert_eq!(http_get(port, "/healthz").await.map(|r| r.0), Some(200));
    assert!(t0.elapsed() < Duration::from_secs(2));
    drop(slow);
    assert_eq!(
        worker.terminate(Duration::from_secs(30)).status.code(),
        Some(0)
    );
}

/// Open descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_slow_clients_cannot_exhaust_descriptors_and_is_shed() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let port = free_port();
    let worker = Worker::new(port).args(&home_args(&svc)).spawn();
    wait_http(port, "/healthz", WAIT, |s, _| s == 200).await;
    let pid = worker.child.id();
    let before = open_fds(pid);

    // 300 clients that never finish their request headers.
    let flood_started = std::time::Instant::now();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let _ = s
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await;
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = open_fds(pid);
    assert!(
        during <= before + 64 + 8,
        "{during} descriptors open during the flood, {before} before"
    );
    // Once the slow ones are shed (10 s header timeout), the server answers again.
    let (status, _) = wait_http(port, "/healthz", Duration::from_secs(20), |s, _| s == 200).await;
    assert_eq!(status, 200);
    assert!(flood_started.elapsed() < Duration::from_secs(16));
    // Every slow client was closed by the server: shed at once, or after the header timeout.
    for mut s in slow {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a slow client is still held open");
    }
    assert_eq!(
        worker.terminate(Duration::from_secs(30)).status.code(),
        Some(0)
    );
}
