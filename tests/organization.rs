//! Organization mode: started with only --organization-id, --instances-role-name and
//! --organization-role-arn, the worker covers every ACTIVE account Organizations lists (the reconcile
//! removes a terminated instance of a member account), an account created after start once a
//! refresh lists it, and an account an event comes from before any listing names it; a refused
//! listing keeps the last good accounts; an event of an account whose role cannot be assumed waits
//! on the queue instead of reaching the dead-letter queue; `check` lists the covered accounts.
//!
//! moto implements Organizations (the home account 123456789012 is the management account) and
//! lets AssumeRole act in any account; AccessDenied (a refused ListAccounts or AssumeRole) is
//! answered by the test proxy as AWS answers it. `--max-not-found 0` holds every `not-found`
//! removal, so a registration leaves only on EC2's positive word from an account that is covered.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// One running and one terminated instance of `account` in `region`, both registered in `service`.
async fn alive_and_dead(account: &str, region: &str, service: &str) -> (Instance, Instance) {
    let ec2 = ec2_in(account, region).await;
    let mut two = Launch::on(&ec2).count(2).run().await;
    let dead = two.pop().unwrap();
    let alive = two.pop().unwrap();
    terminate(&ec2, std::slice::from_ref(&dead.id)).await;
    register_all(service, &[alive.clone(), dead.clone()]).await;
    (alive, dead)
}

/// The worker's flags in organization mode for `service`, instances in both test regions.
fn org_args<'a>(service: &'a str, org: &'a str, refresh: &'a str) -> Vec<&'a str> {
    vec![
        "--service-id",
        service,
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
        refresh,
        "--max-not-found",
        "0",
    ]
}

async fn wait_registrations(service: &str, expected: &[&Instance], what: &str) {
    let want = sorted(expected.iter().map(|i| i.id.clone()).collect());
    eventually(WAIT, what, || async {
        let now = sorted(registered(service).await);
        (now == want).then_some(()).ok_or(format!("{now:?}"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconcile_covers_every_listed_account_and_one_created_after_start() {
    let org = organization().await;
    let first = new_account().await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    let (alive, dead) = alive_and_dead(&first, OTHER_REGION, &svc).await;
    let port = free_port();
    let worker = Worker::new(port)
        .args(&org_args(&svc, &org, "5"))
        .args(&["--frequency", "2"])
        .spawn();
    wait_registrations(
        &svc,
        &[&alive],
        "the listed account's terminated instance removed",
    )
    .await;
    assert!(registered(&svc).await.iter().all(|id| *id != dead.id));

    // An account created after start: covered once a refresh lists it (5 s here).
    let later = new_account().await;
    let (alive_later, _) = alive_and_dead(&later, HOME_REGION, &svc).await;
    wait_registrations(
        &svc,
        &[&alive, &alive_later],
        "the new account's terminated instance removed",
    )
    .await;

    // `check` with the same flags lists both accounts as covered, and the listing as good.
    let out = Cli::subcommand("check")
        .args(&org_args(&svc, &org, "5"))
        .args(&["--output", "json"])
        .output(Duration::from_secs(60));
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("check's JSON");
    let findings = doc["findings"].as_array().unwrap();
    let listing = findings
        .iter()
        .find(|f| f["check"] == "organization")
        .unwrap();
    assert_eq!(listing["level"], "ok", "{listing}");
    assert_eq!(listing["subject"], org.as_str());
    for account in [&first, &later] {
        let member = findings
            .iter()
            .find(|f| f["check"] == "member" && f["subject"] == account.as_str())
            .unwrap_or_else(|| panic!("{account} listed: {doc:#}"));
        assert_eq!(member["level"], "ok", "{member}");
        assert!(
            member["detail"].as_str().unwrap().starts_with("member-"),
            "{member}"
        );
    }

    let out = worker.terminate(Duration::from_secs(30));
    let listed = log_lines(&out, "organization accounts listed");
    assert!(
        listed
            .iter()
            .any(|l| l["added"].to_string().contains(&later)),
        "{listed:?}"
    );
    let readiness = log_lines(&out, "readiness");
    assert!(!readiness.is_empty());
    assert!(
        readiness.iter().all(|l| l["ready"].is_u64()),
        "{readiness:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_listing_keeps_the_last_good_accounts() {
    let org = organization().await;
    let member = new_account().await;
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&org_args(&svc, &org, "5"))
        .args(&["--frequency", "2"])
        .spawn();
    wait_http(port, "/metrics", WAIT, |s, _| s == 200).await;
    proxy.wait_for("ListAccounts").await;
    // From now on Organizations refuses the listing, as AWS does once the reader's permission or
    // trust is gone; the refreshes fail, and the member account stays covered.
    proxy.state("deny/ListAccounts").await;
    let denied_from = proxy.state("state").await["counts"]["ListAccounts"]
        .as_u64()
        .unwrap();
    eventually(WAIT, "a refused refresh", || async {
        let n = proxy.state("state").await["counts"]["ListAccounts"]
            .as_u64()
            .unwrap();
        (n > denied_from).then_some(()).ok_or(format!("{n}"))
    })
    .await;
    // Registered only now: no cycle before the refused refresh can have removed it.
    let (alive, _) = alive_and_dead(&member, OTHER_REGION, &svc).await;
    wait_registrations(&svc, &[&alive], "the member's terminated instance removed").await;
    let out = worker.terminate(Duration::from_secs(30));
    let kept = log_lines(
        &out,
        "cannot list the organization's accounts; the last good list is kept",
    );
    assert_eq!(kept.len(), 1, "logged once per state change: {kept:?}");
    assert!(kept[0]["error"].as_str().unwrap().contains("AccessDenied"));
}

/// A terminated-instance event as EventBridge forwards it from a member account.
fn terminated_event(account: &str, region: &str, instance: &str) -> String {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    json!({
        "version": "0", "id": unique("event"), "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": account, "time": now, "region": region,
        "resources": [format!("arn:aws:ec2:{region}:{account}:instance/{instance}")],
        "detail": {"instance-id": instance, "state": "terminated"}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_from_an_unlisted_account_is_handled_or_waits() {
    let org = organization().await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    let queues = queue_with_dlq(2, 2).await;
    let proxy = Proxy::start();
    let port = free_port();
    // No refresh during the test: the accounts below are created after the only listing.
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&org_args(&svc, &org, "3600"))
        .args(&["--frequency", "3600", "--queue-url", &queues.url])
        .spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;

    let joined = new_account().await;
    let (alive, dead) = alive_and_dead(&joined, OTHER_REGION, &svc).await;
    send_raw(
        &queues.url,
        &terminated_event(&joined, OTHER_REGION, &dead.id),
    )
    .await;
    wait_registrations(&svc, &[&alive], "the unlisted account's event acted on").await;
    wait_queue_empty(&queues.url).await;

    // An account whose role cannot be assumed (AWS answers AccessDenied, e.g. a StackSet that has
    // not deployed it yet): its event waits on the queue, delayed, and never reaches the DLQ.
    let unreachable = new_account().await;
    proxy
        .state(&format!("deny-role-account/{unreachable}"))
        .await;
    let (_, gone) = alive_and_dead(&unreachable, OTHER_REGION, &svc).await;
    send_raw(
        &queues.url,
        &terminated_event(&unreachable, OTHER_REGION, &gone.id),
    )
    .await;
    eventually(WAIT, "the event counted as waiting", || async {
        let n = metric(
            port,
            "cloud_unmap_events_total{type=\"state_change\",outcome=\"waiting\"}",
        )
        .await;
        (n >= 1.0).then_some(()).ok_or(format!("{n}"))
    })
    .await;
    // Past the redrive's two receives (visibility 2 s): the DLQ is empty, the copy is delayed on
    // the queue, and the registration stays until EC2 in that account can be asked.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(queue_depth(&queues.dlq).await, (0, 0));
    let delayed = sqs()
        .await
        .get_queue_attributes()
        .queue_url(&queues.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = delayed.attributes().unwrap()
        [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed]
        .clone();
    assert_eq!(delayed, "1");
    assert!(registered(&svc).await.contains(&gone.id));

    let out = worker.terminate(Duration::from_secs(30));
    let waits = log_lines(&out, "cannot reach an organization account (its role cannot be assumed or used yet): its events wait");
    assert_eq!(waits.len(), 1, "logged once per state change: {waits:?}");
    assert_eq!(waits[0]["account"], unreachable.as_str());
}

fn check(endpoint: &str, args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let out = Cli::subcommand("check")
        .endpoint(endpoint)
        .args(args)
        .args(&["--output", "json"])
        .output(Duration::from_secs(60));
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("check's JSON");
    (
        out.status.code(),
        doc["findings"].as_array().unwrap().clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_the_accounts_it_cannot_reach_and_a_refused_listing() {
    let org = organization().await;
    let (reachable, unreachable) = (new_account().await, new_account().await);
    let ns = namespace().await;
    let svc = service(&ns).await;
    let proxy = Proxy::start();
    proxy
        .state(&format!("deny-role-account/{unreachable}"))
        .await;
    let args = org_args(&svc, &org, "900");
    let (code, findings) = check(&proxy.endpoint, &args);
    assert_eq!(code, Some(1), "{findings:#?}");
    let member = |id: &str| {
        findings
            .iter()
            .find(|f| f["check"] == "member" && f["subject"] == id)
            .unwrap_or_else(|| panic!("{id}: {findings:#?}"))
            .clone()
    };
    assert_eq!(member(&reachable)["level"], "ok");
    let failed = member(&unreachable);
    assert_eq!(failed["level"], "fail", "{failed}");
    let detail = failed["detail"].as_str().unwrap();
    assert!(
        detail.contains("cannot be reached") && detail.contains("AccessDenied"),
        "{detail}"
    );

    // The listing refused: named with AWS's error; no member is listed.
    proxy.state("deny/ListAccounts").await;
    let (code, findings) = check(&proxy.endpoint, &args);
    assert_eq!(code, Some(1));
    let listing = findings
        .iter()
        .find(|f| f["check"] == "organization")
        .unwrap();
    assert_eq!(listing["level"], "fail");
    assert!(
        listing["detail"]
            .as_str()
            .unwrap()
            .contains("AccessDeniedException"),
        "{listing}"
    );
    assert!(findings.iter().all(|f| f["check"] != "member"));
}

#[test]
fn organization_flags_go_together_and_empty_variables_are_unset() {
    let base = [
        "--service-id",
        "srv-abcdef0123456789",
        "--service-region",
        HOME_REGION,
        "--instances-region",
        HOME_REGION,
    ];
    for extra in [
        &["--instances-role-name", ROLE_NAME][..],
        &["--organization-role-arn", READER],
        &[
            "--organization-id",
            "o-a1b2c3d4e5",
            "--instances-role-name",
            ROLE_NAME,
        ],
        &[
            "--organization-id",
            "o-a1b2c3d4e5",
            "--organization-role-arn",
            READER,
        ],
        &[
            "--organization-id",
            "o-1",
            "--instances-role-name",
            ROLE_NAME,
            "--organization-role-arn",
            READER,
        ],
        &[
            "--organization-id",
            "o-a1b2c3d4e5",
            "--instances-role-name",
            ROLE_NAME,
            "--organization-role-arn",
            READER,
            "--organization-refresh",
            "3601",
        ],
    ] {
        assert_usage_error(&[&base[..], extra].concat());
    }
    // The templates pass every variable, empty when unset: a plain single run.
    let ns_less = Cli::worker()
        .args(&base)
        .args(&["--single-run", "--service-id", "srv-0000000000000000"])
        .env("CLOUD_UNMAP_ORGANIZATION_ID", "")
        .env("CLOUD_UNMAP_INSTANCES_ROLE_NAME", "")
        .env("CLOUD_UNMAP_ORGANIZATION_ROLE_ARN", "")
        .env("CLOUD_UNMAP_ORGANIZATION_REFRESH", "")
        .output(Duration::from_secs(60));
    let err = String::from_utf8_lossy(&ns_less.stderr);
    assert_ne!(ns_less.status.code(), Some(2), "{err}");
}
