//! `cloud-unmap check`: on a healthy setup it exits 0 with no failure; it names a missing service,
//! a member role that cannot be assumed, a queue without a redrive policy, a permission the worker
//! lacks, and a service whose registrations live in an account that is not configured (exit 1).
//! Denials are answered by the test proxy as AWS answers them (moto enforces no IAM).

mod common;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName as A;
use common::*;
use serde_json::Value;

fn check(endpoint: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Cli::subcommand("check")
        .endpoint(endpoint)
        .args(args)
        .args(&["--output", "json"])
        .output(Duration::from_secs(60));
    let text = stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text} {stderr}"));
    (out.status.code(), doc, stderr)
}

/// The findings of `check` at `level` (ok, note, warn, fail) as "check subject: detail".
fn at(doc: &Value, level: &str) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == level)
        .map(|f| {
            format!(
                "{} {}: {}",
                f["check"].as_str().unwrap(),
                f["subject"].as_str().unwrap(),
                f["detail"].as_str().unwrap()
            )
        })
        .collect()
}

/// A queue as `infra/` makes it: a dead-letter queue and a policy letting EventBridge send.
async fn deployed_queue() -> Queues {
    let q = queue_with_dlq(5, 30).await;
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": q.arn}]});
    sqs()
        .await
        .set_queue_attributes()
        .queue_url(&q.url)
        .attributes(A::Policy, policy.to_string())
        .send()
        .await
        .unwrap();
    q
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_setup_passes_and_places_every_instance() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let home = launch(HOME_REGION, 2).await;
    let member = Launch::on(&aws_sdk_ec2::Client::new(&member_config(HOME_REGION).await))
        .count(1)
        .run()
        .await;
    register_all(&svc, &home).await;
    register_all(&svc, &member).await;
    let (group, _) = group(1).await;
    put_hook(&group, "cloud-unmap", 300).await;
    let q = deployed_queue().await;
    let table = state_table().await;
    // Through the proxy: it applies ListServices' namespace filter as AWS does (moto ignores it).
    let proxy = Proxy::start();

    let (code, doc, stderr) = check(
        &proxy.endpoint,
        &[
            &REGION_ARGS[..],
            &["--namespace-id", &ns, "--instances-role-arn", MEMBER_ROLE],
            &["--queue-url", &q.url, "--state-table", &table],
        ]
        .concat(),
    );
    assert_eq!(code, Some(0), "{doc:#} {stderr}");
    assert_eq!(doc["failures"], 0, "{doc:#}");
    assert!(at(&doc, "warn").is_empty(), "{:#?}", at(&doc, "warn"));
    let ok = at(&doc, "ok").join("\n");
    for expected in [
        "credentials arn:aws:sts::123456789012:user/moto: acting in account 123456789012"
            .to_string(),
        format!("namespace {ns}: "),
        "account 222222222222/us-east-1: role assumed, DescribeInstances allowed".into(),
        "account 123456789012/us-east-1: DescribeInstances allowed".into(),
        "dead-letter queue".into(),
        "DeleteMessage allowed".into(),
        "ChangeMessageVisibility allowed".into(),
        "hook cloud-unmap: terminate hook on ".to_string(),
        format!("{group} (heartbeat 300 s"),
        format!("state-table {table}: readable, no shared cycle yet"),
    ] {
        assert!(ok.contains(&expected), "{expected:?} not in\n{ok}");
    }
    let place = &doc["services"][0];
    assert_eq!(place["service"], svc.as_str());
    assert_eq!(
        (
            place["registrations"].as_u64(),
            place["alive"].as_u64(),
            place["not_found"].as_u64()
        ),
        (Some(3), Some(3), Some(0))
    );
    assert_eq!(place["found_in"]["123456789012/us-east-1"], 2);
    assert_eq!(place["found_in"]["222222222222/us-east-1"], 1);

    // The same as a table on stdout.
    let out = Cli::subcommand("check")
        .args(&home_args(&svc))
        .output(Duration::from_secs(60));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("RESULT  CHECK"), "{text}");
    assert!(
        text.contains("SERVICE") && text.contains("ready (exit 0)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_service_and_an_unassumable_role_are_named() {
    let proxy = Proxy::start();
    proxy.state("deny/AssumeRole").await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    register_all(&svc, &launch(HOME_REGION, 1).await).await;
    let gone = "srv-0000000000000000";
    let (code, doc, stderr) = check(
        &proxy.endpoint,
        &[
            &home_args(&svc)[..],
            &["--service-id", gone, "--instances-role-arn", MEMBER_ROLE],
        ]
        .concat(),
    );
    assert_eq!(code, Some(1), "{doc:#} {stderr}");
    let fail = at(&doc, "fail");
    assert_eq!(fail.len(), 2, "{fail:#?}");
    assert!(
        fail[0].starts_with(&format!("service {gone}: does not exist in {HOME_REGION}")),
        "{fail:#?}"
    );
    assert!(
        fail[1].starts_with("account 222222222222/us-east-1: instances cannot be looked up here")
            && fail[1].contains("AccessDenied"),
        "{fail:#?}"
    );
    // The healthy service is still looked at, and nothing changed.
    assert_eq!(doc["services"][0]["alive"], 1);
    assert_eq!(registered(&svc).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_without_redrive_policy_or_permissions_fails() {
    let bare = sqs()
        .await
        .create_queue()
        .queue_name(unique("bare"))
        .send()
        .await
        .unwrap();
    let url = bare.queue_url().unwrap().to_string();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let proxy = Proxy::start();
    proxy.state("deny/DeleteMessage").await;
    let (code, doc, _) = check(
        &proxy.endpoint,
        &[
            &home_args(&svc)[..],
            &["--queue-url", &url, "--state-table", "no-such-table"],
        ]
        .concat(),
    );
    assert_eq!(code, Some(1), "{doc:#}");
    let fail = at(&doc, "fail").join("\n");
    assert!(fail.contains("no redrive policy"), "{fail}");
    assert!(
        fail.contains("state-table no-such-table: cannot read it"),
        "{fail}"
    );
    assert!(
        fail.contains("DeleteMessage denied: AccessDenied"),
        "{fail}"
    );
    assert!(at(&doc, "ok")
        .join("\n")
        .contains("ChangeMessageVisibility allowed"));
    assert!(at(&doc, "warn")
        .join("\n")
        .contains("names no events.amazonaws.com"));
    // Nothing was sent, received or deleted.
    assert_eq!(queue_depth(&url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_living_in_an_account_not_configured_are_a_failure() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let member = Launch::on(&aws_sdk_ec2::Client::new(&member_config(HOME_REGION).await))
        .count(3)
        .run()
        .await;
    register_all(&svc, &member).await;
    register_all(&svc, &launch(HOME_REGION, 1).await).await;
    let args = home_args(&svc);
    let (code, doc, _) = check(&moto().endpoint, &args);
    assert_eq!(code, Some(1), "{doc:#}");
    let fail = at(&doc, "fail");
    assert_eq!(fail.len(), 1, "{fail:#?}");
    assert!(
        fail[0].starts_with(&format!(
            "registrations {svc}: 3 of 4 not found in any configured account and region"
        )),
        "{fail:#?}"
    );
    for m in &member {
        assert!(fail[0].contains(&m.id), "{fail:#?}");
    }
    assert!(fail[0].contains("--instances-role-arn"));
    // With the member account configured, all are placed.
    let (code, doc, _) = check(
        &moto().endpoint,
        &[&args[..], &["--instances-role-arn", MEMBER_ROLE]].concat(),
    );
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["services"][0]["found_in"]["222222222222/us-east-1"], 3);
    assert_eq!(registered(&svc).await.len(), 4);
}

#[test]
fn bad_usage_exits_2_and_says_why_in_one_line() {
    assert_usage_error(&[
        "check",
        "--service-region",
        "us-east-1",
        "--instances-region",
        "us-east-1",
    ]);
    assert_usage_error(&[
        "check",
        "--service-id",
        "svc-123",
        "--service-region",
        "us-east-1",
        "--instances-region",
        "us-east-1",
    ]);
    assert_usage_error(&["check", "--output", "yaml"]);
}
