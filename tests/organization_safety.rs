//! Organization mode never removes a healthy registration because of what it does not know: before a
//! first good listing the organization counts as a target that did not answer (not-found waits, a
//! single run exits 1), and an account that leaves the organization stays asked (its running
//! instances stay registered).
//!
//! moto implements Organizations (the home account 123456789012 is the management account,
//! RemoveAccountFromOrganization included) and lets AssumeRole act in any account; a refused
//! ListAccounts is answered by the test proxy with AccessDenied, as AWS answers it. Twelve home
//! registrations beside the member's keep one not-found under the default surge guard.

mod common;

use std::time::Duration;

use common::*;

/// A service with twelve running home instances and one running instance of `member` in the
/// other region, all registered: the member's id.
async fn fleet(svc: &str, member: &str) -> String {
    register_all(svc, &launch(HOME_REGION, 12).await).await;
    let ec2 = ec2_in(member, OTHER_REGION).await;
    let live = Launch::on(&ec2).count(1).run().await;
    register_all(svc, &live).await;
    live[0].id.clone()
}

fn org_args<'a>(svc: &'a str, org: &'a str, refresh: &'a str) -> Vec<&'a str> {
    vec![
        "--service-id",
        svc,
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
        "--not-found-grace",
        "2",
    ]
}

/// Every reconcile of `svc` this worker finished, whatever its result.
async fn reconciles(port: u16, svc: &str) -> f64 {
    let mut n = 0.0;
    for result in ["success", "failure", "held"] {
        n += metric(
            port,
            &format!("cloud_unmap_reconciles_total{{service_id=\"{svc}\",result=\"{result}\"}}"),
        )
        .await;
    }
    n
}

/// Waits until `svc` has been reconciled `n` more times than `from`.
async fn reconciled(port: u16, svc: &str, n: f64) {
    let from = reconciles(port, svc).await;
    eventually(Duration::from_secs(60), "reconciles", || async {
        let now = reconciles(port, svc).await;
        (now >= from + n).then_some(()).ok_or(now.to_string())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn until_a_first_listing_the_organization_counts_as_not_answering() {
    let org = organization().await;
    let member = new_account().await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    let member_instance = fleet(&svc, &member).await;
    let proxy = Proxy::start();
    proxy.state("deny/ListAccounts").await;

    // A single run cannot wait: it removes nothing for not-found and says it did not finish.
    let single = Cli::worker()
        .endpoint(&proxy.endpoint)
        .args(&org_args(&svc, &org, "3600"))
        .args(&["--single-run"])
        .output(Duration::from_secs(60));
    assert_eq!(single.status.code(), Some(1), "{}", stdout(&single));
    assert!(log_lines(&single, "deregistered").is_empty());
    assert!(registered(&svc).await.contains(&member_instance));

    // A long-running worker keeps it through cycles well past the not-found grace.
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&org_args(&svc, &org, "3600"))
        .args(&["--frequency", "2"])
        .spawn();
    reconciled(port, &svc, 4.0).await;
    assert!(registered(&svc).await.contains(&member_instance));
    assert_eq!(registered(&svc).await.len(), 13);
    let out = worker.terminate(Duration::from_secs(30));
    assert!(log_lines(&out, "deregistered").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_leaves_the_organization_keeps_its_running_instances_registered() {
    let org = organization().await;
    let member = new_account().await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    let member_instance = fleet(&svc, &member).await;
    let proxy = Proxy::start();
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&org_args(&svc, &org, "5"))
        .args(&["--frequency", "2"])
        .spawn();
    reconciled(port, &svc, 2.0).await;
    aws_sdk_organizations::Client::new(&config(HOME_REGION).await)
        .remove_account_from_organization()
        .account_id(&member)
        .send()
        .await
        .expect("remove the account from the organization");
    // Two listings without it, then cycles past the not-found grace.
    let listings = || async { proxy.state("state").await["counts"]["ListAccounts"].as_f64() };
    let before = listings().await.unwrap_or(0.0);
    eventually(Duration::from_secs(60), "two listings", || async {
        let now = listings().await.unwrap_or(0.0);
        (now >= before + 2.0).then_some(()).ok_or(now.to_string())
    })
    .await;
    reconciled(port, &svc, 4.0).await;
    assert!(registered(&svc).await.contains(&member_instance));
    let out = worker.terminate(Duration::from_secs(30));
    assert!(log_lines(&out, "deregistered").is_empty());
    let departed = log_lines(
        &out,
        "accounts left the organization; still asked until a restart (their instances may still run; if their role stops working, not-found waits)",
    );
    assert_eq!(departed.len(), 1, "{}", stdout(&out));
}
