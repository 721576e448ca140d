//! What the removals tell machines: each removal's undo record is a nested object of the JSON log line
//! and names the home account by its 12-digit id (GetCallerIdentity), `--log-level debug` explains every judged registration with the evidence of
//! each account and region, and `cloud_unmap_dead_registration_age_seconds` observes how long a
//! removed registration pointed at a dead instance, by trigger; `/metrics` carries the build.

mod common;

use std::time::Duration;

use common::*;

/// moto's default account, which GetCallerIdentity names.
const HOME_ACCOUNT: &str = "123456789012";

#[tokio::test(flavor = "multi_thread")]
async fn a_reconcile_removal_names_the_account_explains_itself_and_is_measured() {
    let ns = namespace().await;
    let service = service(&ns).await;
    let instances = launch(HOME_REGION, 2).await;
    register_all(&service, &instances).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, std::slice::from_ref(&instances[0].id)).await;

    let port = free_port();
    let worker = Worker::new(port)
        .args(&home_args(&service))
        .args(&["--frequency", "3600", "--log-level", "debug"])
        .spawn();
    let alive = vec![instances[1].id.clone()];
    wait_registered(&service, WAIT, |r| r == alive.as_slice()).await;
    let series = "cloud_unmap_dead_registration_age_seconds_count{trigger=\"reconcile\"}";
    wait_http(port, "/metrics", WAIT, |_, body| body.contains(series)).await;
    assert_eq!(metric(port, series).await, 1.0);
    // Terminated a moment ago: the age is EC2's end to the removal, not the instance's lifetime.
    let sum = metric(
        port,
        "cloud_unmap_dead_registration_age_seconds_sum{trigger=\"reconcile\"}",
    )
    .await;
    assert!((0.0..60.0).contains(&sum), "{sum}");
    let (_, body) = http_get(port, "/metrics").await.unwrap();
    assert!(
        body.contains("cloud_unmap_build_info{version=\"0.1.0\",revision=\""),
        "{body}"
    );
    let out = worker.terminate(Duration::from_secs(40));

    let removed = log_lines(&out, "deregistered");
    assert_eq!(removed.len(), 1, "{}", stdout(&out));
    // A nested object in the JSON line, not a string holding JSON.
    let record = &removed[0]["record"];
    assert!(record.is_object(), "{record}");
    assert_eq!(record["evidence"][0]["account"], HOME_ACCOUNT, "{record}");

    let judged = log_lines(&out, "judged");
    let line = |id: &str| {
        judged
            .iter()
            .find(|l| l["ec2_instance_id"] == id)
            .unwrap_or_else(|| panic!("no judged line for {id}: {}", stdout(&out)))
            .clone()
    };
    let gone = line(&instances[0].id);
    assert!(
        gone["decision"]
            .as_str()
            .unwrap()
            .starts_with("deregister: terminated"),
        "{gone}"
    );
    let evidence = gone["evidence"].to_string();
    assert!(
        evidence.contains(&format!("{HOME_ACCOUNT}/{HOME_REGION}: terminated")),
        "{evidence}"
    );
    let kept = line(&instances[1].id);
    assert!(
        kept["decision"].as_str().unwrap().starts_with("keep"),
        "{kept}"
    );
    assert!(
        kept["evidence"].to_string().contains(": running at "),
        "{kept}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_removal_is_measured_under_its_trigger() {
    let s = Setup::with(3).start().await;
    terminate(
        &ec2(HOME_REGION).await,
        std::slice::from_ref(&s.instances[0].id),
    )
    .await;
    put_state_change(&s.instances[0].id, "terminated").await;
    let mut rest = ids(&s.instances[1..]);
    rest.sort();
    wait_registered(&s.service, WAIT, |r| r == rest.as_slice()).await;
    let series = "cloud_unmap_dead_registration_age_seconds_count{trigger=\"event\"}";
    wait_http(s.port, "/metrics", WAIT, |_, body| body.contains(series)).await;
    assert_eq!(metric(s.port, series).await, 1.0);
    assert_eq!(
        metric(
            s.port,
            "cloud_unmap_dead_registration_age_seconds_count{trigger=\"reconcile\"}"
        )
        .await,
        0.0
    );
    let out = s.worker.terminate(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_explains_the_decision_for_one_registration() {
    let ns = namespace().await;
    let service = service(&ns).await;
    let instances = launch(HOME_REGION, 2).await;
    register_all(&service, &instances).await;
    let (gone, alive) = (&instances[0].id, &instances[1].id);
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(gone)).await;
    let out = Cli::subcommand("check")
        .args(&home_args(&service))
        .args(&[
            "--output",
            "json",
            "--instance-id",
            gone,
            "--instance-id",
            alive,
        ])
        .args(&["--instance-id", "i-00000000000000bad"])
        .output(Duration::from_secs(60));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let decision = |subject: &str| {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "decision" && f["subject"].as_str().unwrap().ends_with(subject))
            .unwrap_or_else(|| panic!("no decision for {subject}: {doc}"))
            .clone()
    };
    let removed = decision(&format!("{service}/{gone}"));
    let detail = removed["detail"].as_str().unwrap();
    assert!(detail.starts_with("deregister: terminated"), "{detail}");
    assert!(
        detail.contains(&format!("{HOME_ACCOUNT}/{HOME_REGION}: terminated")),
        "which account and region said what: {detail}"
    );
    let kept = decision(&format!("{service}/{alive}"));
    let detail = kept["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("keep") && detail.contains(": running at "),
        "{detail}"
    );
    let unknown = decision("i-00000000000000bad");
    assert_eq!(unknown["level"], "warn", "{unknown}");
    // Nothing changed: check only reads.
    assert_eq!(registered(&service).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_the_worker_holds_a_not_found_when_a_target_did_not_answer() {
    let proxy = Proxy::start();
    let service = service(&namespace().await).await;
    let alive = launch(HOME_REGION, 1).await;
    register_all(&service, &alive).await;
    let missing = "i-0000000000000dead";
    register(&service, missing, Some("10.9.9.9")).await;
    let explain = || {
        let out = Cli::subcommand("check")
            .endpoint(&proxy.endpoint)
            .args(&home_args(&service))
            .args(&["--output", "json", "--instance-id", missing])
            .output(Duration::from_secs(60));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let found = doc["findings"].as_array().unwrap().iter().find(|f| {
            f["check"] == "decision" && f["subject"] == format!("{service}/{missing}").as_str()
        });
        let found = found.unwrap_or_else(|| panic!("no decision: {doc}"));
        found["detail"].as_str().unwrap().to_string()
    };
    // Every target answered: not found anywhere, the worker removes it.
    let answered = explain();
    assert!(answered.starts_with("deregister: not-found"), "{answered}");
    // EC2 does not answer (the proxy fails DescribeInstances from now on): the worker holds it.
    proxy.state("fail/DescribeInstances").await;
    let unanswered = explain();
    assert!(
        unanswered
            .starts_with("keep: not found where asked, but an account or region did not answer"),
        "{unanswered}"
    );
    assert_eq!(registered(&service).await.len(), 2);
}
