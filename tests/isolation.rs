//! One broken part never stalls the rest: a deleted service and namespace selected beside a healthy
//! service, a member account whose role cannot be assumed, and the reconcile and the event path on
//! the same service at the same time (one planner per service, so the never-empty guard sees one
//! consistent listing).

mod common;

use std::time::{Duration, SystemTime};

use common::*;

fn events(t: &str, o: &str) -> String {
    format!("cloud_unmap_events_total{{type=\"{t}\",outcome=\"{o}\"}}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_service_and_namespace_beside_a_healthy_service_block_nothing() {
    // Through the proxy: it applies ListServices' namespace filter as AWS does (moto ignores it).
    let proxy = Proxy::start();
    let ns = namespace().await;
    let gone = service(&ns).await;
    let sd = cloudmap().await;
    sd.delete_service().id(&gone).send().await.unwrap();
    let gone_ns = namespace().await;
    sd.delete_namespace().id(&gone_ns).send().await.unwrap();
    let s = Setup::with(3)
        .through(&proxy.endpoint)
        .args(&["--service-id", &gone, "--namespace-id", &gone_ns])
        .start()
        .await;
    let victim = s.instances[0].id.clone();
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&victim)).await;
    put_state_change(&victim, "terminated").await;

    let left = sorted(ids(&s.instances[1..]));
    wait_registered(&s.service, WAIT, |r| r == left.as_slice()).await;
    wait_queue_empty(&s.queue).await;
    assert_eq!(metric(s.port, &events("state_change", "acted")).await, 1.0);
    assert_eq!(queue_depth(&s.dlq).await, (0, 0));
    for (kind, id) in [("service", &gone), ("namespace", &gone_ns)] {
        let missing = format!("cloud_unmap_selection_missing{{kind=\"{kind}\",id=\"{id}\"}}");
        assert_eq!(metric(s.port, &missing).await, 1.0, "{kind}");
    }
    let (status, body) = http_get(s.port, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&gone) && body.contains(&gone_ns), "{body}");

    let out = s.worker.terminate(Duration::from_secs(40));
    // Once each by the start-up reconcile; the event path does not repeat them.
    for message in [
        "a selected service does not exist; skipped",
        "a selected namespace does not exist; skipped",
    ] {
        assert_eq!(log_lines(&out, message).len(), 1, "{}", stdout(&out));
    }
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_account_that_fails_does_not_stall_the_home_accounts_events() {
    let proxy = Proxy::start();
    // The member's role cannot be assumed (deleted, or its trust policy broken).
    proxy.state("fail/AssumeRole").await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    let home = launch(HOME_REGION, 3).await;
    register_all(&svc, &home).await;
    let q = queue_with_dlq(3, 4).await;
    route_rules_to(&q.arn).await;
    let port = free_port();
    let worker = Worker::events(&svc, &q.url, port)
        .endpoint(&proxy.endpoint)
        .args(&["--instances-role-arn", MEMBER_ROLE])
        .spawn();
    wait_http(port, "/healthz", WAIT, |s, _| s == 200).await;
    // The start-up reconcile first (incomplete: the member does not answer). Since a silent target
    // holds back only not-found, it would remove a terminated home instance itself, and the event
    // below would find nothing left to do ("ignored").
    let reconciled =
        format!("cloud_unmap_reconciles_total{{service_id=\"{svc}\",result=\"failure\"}}");
    eventually(WAIT, "the start-up reconcile", || async {
        match metric(port, &reconciled).await {
            n if n >= 1.0 => Ok(()),
            n => Err(n.to_string()),
        }
    })
    .await;

    // A member account's event fails (its lookup cannot be made) and comes back later…
    let member = member_state_change("i-0123456789abcdef0");
    send_raw(&q.url, &member).await;
    // …while the home account's is handled at once.
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&home[0].id)).await;
    put_state_change(&home[0].id, "terminated").await;
    let left = sorted(ids(&home[1..]));
    wait_registered(&svc, WAIT, |r| r == left.as_slice()).await;
    eventually(WAIT, "the home event settled", || async {
        match metric(port, &events("state_change", "acted")).await {
            1.0 => Ok(()),
            n => Err(n.to_string()),
        }
    })
    .await;
    assert!(metric(port, &events("state_change", "failed")).await >= 1.0);
    assert_eq!(queue_depth(&q.dlq).await, (0, 0));
    drop(worker);
}

fn member_state_change(instance_id: &str) -> String {
    serde_json::json!({"version": "0", "id": "m", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "222222222222", "region": HOME_REGION, "resources": [],
        "detail": {"instance-id": instance_id, "state": "terminated"}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconcile_and_the_event_path_never_plan_one_service_at_once() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let pair = launch(HOME_REGION, 2).await;
    let (a, b) = (pair[0].id.clone(), pair[1].id.clone());
    register_all(&svc, &pair).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, std::slice::from_ref(&a)).await;
    // The start-up reconcile reads EC2 (a terminated, b running), then stalls 4 s before acting.
    proxy.state("hold/DescribeInstances/4").await;
    let q = queue_with_dlq(3, 4).await;
    let port = free_port();
    let worker = Worker::events(&svc, &q.url, port)
        .endpoint(&proxy.endpoint)
        .spawn();
    proxy.wait_for("DescribeInstances").await;
    // Meanwhile b goes too, and its event arrives. Planned beside the stalled reconcile, the
    // event path would remove b (a looks like it stays) and the reconcile a (b looks alive):
    // an empty service. One planner at a time: whichever plans second sees the other's result.
    terminate(&client, std::slice::from_ref(&b)).await;
    let event = serde_json::json!({"version": "0", "id": "b", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "time": now_rfc3339(), "region": HOME_REGION, "resources": [],
        "detail": {"instance-id": b, "state": "terminated"}});
    send_raw(&q.url, &event.to_string()).await;
    wait_queue_empty(&q.url).await;
    let holds =
        format!("cloud_unmap_guard_holds_total{{service_id=\"{svc}\",guard=\"never_empty\"}}");
    assert_eq!(metric(port, &holds).await, 1.0);
    assert_eq!(registered(&svc).await, vec![b.clone()]);
    drop(worker);
}

fn now_rfc3339() -> String {
    aws_sdk_sqs::primitives::DateTime::from(SystemTime::now())
        .fmt(aws_sdk_sqs::primitives::DateTimeFormat::DateTime)
        .unwrap()
}
