//! One organization account that cannot be reached (its role refused: the management account, which
//! service-managed StackSets skip, or an account outside the target OUs) holds back `not-found`
//! (safety) but stalls nothing else: `/readyz` stays ready and names it; its role is not asked again
//! on every lookup (a circuit breaker, counted in AssumeRole calls through the proxy); and
//! `--organization-exclude-account` leaves it out on purpose, so `not-found` acts again.
//!
//! moto assumes any role; the test proxy answers AssumeRole into the refused account with
//! AccessDenied, as AWS does when the role does not exist or does not trust the caller.

mod common;

use std::time::Duration;

use common::*;

/// An instance id no account has: a registration of it is `not-found` everywhere.
const NOWHERE: &str = "i-0bbbbbbbbbbbbbbb2";

fn org_args(org: &str) -> Vec<&str> {
    vec![
        "--service-region",
        HOME_REGION,
        "--instances-region",
        HOME_REGION,
        OTHER_REGION,
        "--organization-id",
        org,
        "--instances-role-name",
        ROLE_NAME,
        "--organization-role-arn",
        READER,
        "--organization-refresh",
        "3600",
        "--frequency",
        "2",
        "--not-found-grace",
        "2",
    ]
}

/// The test proxy, refusing every AssumeRole into `account` (its role cannot be used).
async fn proxy_refusing(account: &str) -> Proxy {
    let proxy = Proxy::start();
    proxy.state(&format!("deny-role-account/{account}")).await;
    proxy
}

/// A worker in organization mode for `org`, through `proxy`.
fn org_worker(proxy: &Proxy, org: &str, port: u16) -> Worker {
    Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&org_args(org))
}

/// Every reconcile of the namespace's services this worker finished.
async fn reconciles(port: u16) -> f64 {
    let (_, body) = http_get(port, "/metrics").await.unwrap_or_default();
    body.lines()
        .filter(|l| l.starts_with("cloud_unmap_reconciles_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn reconciled(port: u16, n: f64) {
    let from = reconciles(port).await;
    eventually(Duration::from_secs(60), "reconciles", || async {
        let now = reconciles(port).await;
        (now >= from + n).then_some(()).ok_or(now.to_string())
    })
    .await;
}

async fn assume_roles(proxy: &Proxy) -> f64 {
    proxy.state("state").await["counts"]["AssumeRole"]
        .as_f64()
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_account_holds_not_found_but_not_readiness_and_is_not_asked_every_lookup() {
    let org = organization().await;
    let unreachable = new_account().await;
    let ns = namespace().await;
    let mut services = Vec::new();
    for _ in 0..5 {
        let svc = service(&ns).await;
        register_all(&svc, &launch(HOME_REGION, 3).await).await;
        services.push(svc);
    }
    register(&services[0], NOWHERE, Some("10.9.9.9")).await;
    let proxy = proxy_refusing(&unreachable).await;
    let port = free_port();
    let worker = org_worker(&proxy, &org, port)
        .args(&["--namespace-id", ns.as_str()])
        .spawn();
    // Ready, naming the account that does not answer.
    let (_, body) = wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    assert!(body.contains(&unreachable), "{body}");
    // After the first cycle the refused account rests: the next cycles (5 services × 2 regions
    // each) ask STS nothing more.
    reconciled(port, 5.0).await;
    let before = assume_roles(&proxy).await;
    reconciled(port, 25.0).await;
    assert_eq!(assume_roles(&proxy).await, before);
    let (status, body) = http_get(port, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    // Safety stays: a registration no answering account has is kept while one account is silent.
    assert!(registered(&services[0])
        .await
        .contains(&NOWHERE.to_string()));
    let out = worker.terminate(Duration::from_secs(30));
    let unready: Vec<_> = log_lines(&out, "readiness")
        .into_iter()
        .skip(1)
        .filter(|l| l["ready"] == 0)
        .collect();
    assert!(unready.is_empty(), "{unready:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_excluded_account_is_never_asked_and_holds_nothing_back() {
    let org = organization().await;
    let unreachable = new_account().await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    register_all(&svc, &launch(HOME_REGION, 12).await).await;
    register(&svc, NOWHERE, Some("10.9.9.8")).await;
    let proxy = proxy_refusing(&unreachable).await;
    let port = free_port();
    let worker = org_worker(&proxy, &org, port)
        .args(&["--service-id", svc.as_str()])
        .env("CLOUD_UNMAP_ORGANIZATION_EXCLUDE_ACCOUNT", &unreachable)
        .spawn();
    eventually(
        Duration::from_secs(60),
        "the not-found registration removed",
        || async {
            let now = registered(&svc).await;
            (!now.contains(&NOWHERE.to_string()))
                .then_some(())
                .ok_or(format!("{} left", now.len()))
        },
    )
    .await;
    assert_eq!(registered(&svc).await.len(), 12);
    let (status, body) = http_get(port, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(&unreachable), "{body}");
    let out = worker.terminate(Duration::from_secs(30));
    let failing = log_lines(
        &out,
        "an account and region does not answer instance lookups; its not-found registrations wait",
    );
    assert!(failing.is_empty(), "{failing:?}");
    // `check` does not try it either.
    let check = Cli::subcommand("check")
        .endpoint(&proxy.endpoint)
        .args(&org_args(&org))
        .args(&["--service-id", svc.as_str(), "--output", "json"])
        .args(&["--organization-exclude-account", unreachable.as_str()])
        .output(Duration::from_secs(60));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&check)).expect("check's JSON");
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|f| f["subject"] != unreachable.as_str()),
        "{findings:#?}"
    );
}

/// A state-change event of `account` for `instance`, `age` old by its own `time`.
fn old_event(account: &str, instance: &str, age: Duration) -> String {
    let time = aws_sdk_sqs::primitives::DateTime::from(std::time::SystemTime::now() - age)
        .fmt(aws_sdk_sqs::primitives::DateTimeFormat::DateTime)
        .unwrap();
    serde_json::json!({
        "version": "0", "id": unique("event"), "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": account, "time": time, "region": HOME_REGION,
        "resources": [], "detail": {"instance-id": instance, "state": "terminated"}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_waited_a_day_for_its_account_is_left_to_the_reconcile() {
    let org = organization().await;
    let unreachable = new_account().await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    register_all(&svc, &launch(HOME_REGION, 3).await).await;
    register(&svc, NOWHERE, Some("10.9.9.7")).await;
    let queues = queue_with_dlq(2, 2).await;
    let proxy = proxy_refusing(&unreachable).await;
    let port = free_port();
    let worker = org_worker(&proxy, &org, port)
        .args(&["--service-id", svc.as_str(), "--queue-url", &queues.url])
        .spawn();
    reconciled(port, 1.0).await;
    // A copy put back on the queue again and again keeps the event's own time: 25 h is past the
    // 24 h limit, whatever the queue's retention.
    let old = old_event(&unreachable, NOWHERE, Duration::from_secs(25 * 3600));
    send_raw(&queues.url, &old).await;
    let left = "cloud_unmap_events_total{type=\"state_change\",outcome=\"left_to_reconcile\"}";
    eventually(WAIT, "the old event left to the reconcile", || async {
        let n = metric(port, left).await;
        (n >= 1.0).then_some(()).ok_or(n.to_string())
    })
    .await;
    wait_queue_empty(&queues.url).await;
    assert_eq!(queue_depth(&queues.dlq).await, (0, 0));
    let waiting = "cloud_unmap_events_total{type=\"state_change\",outcome=\"waiting\"}";
    assert_eq!(metric(port, waiting).await, 0.0);
    // Not removed on the event's word: the account could not be asked.
    assert!(registered(&svc).await.contains(&NOWHERE.to_string()));
    drop(worker);
}
