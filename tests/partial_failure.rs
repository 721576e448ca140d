//! A broken part holds back only what needs it (issue 24), each through the test proxy because moto
//! models none of these failures: a member account whose role cannot be assumed and one that is
//! throttled (the home account's positive evidence still acts; only `not-found` waits), a Cloud Map
//! service that answers AccessDenied (every other service's events are settled and deleted, none
//! reaches the dead-letter queue), and DeregisterInstance's DuplicateRequest (followed, not failed).

mod common;

use std::time::Duration;

use common::*;

/// The warning naming a target that stopped answering lookups (once per state change).
const TARGET_FAILING: &str =
    "an account and region does not answer instance lookups; its not-found registrations wait";
/// The warning of a service the event path leaves to the reconcile (once per state change).
const LEFT: &str = "a selected service keeps failing on the event path; left to the reconcile (events are settled for the other services)";
/// An instance of the member account: only that account could vouch for or against it.
const THEIRS: &str = "i-0aaaaaaaaaaaaaaa1";

fn events(t: &str, o: &str) -> String {
    format!("cloud_unmap_events_total{{type=\"{t}\",outcome=\"{o}\"}}")
}

/// A single run over `svc` with the member role, through `proxy`.
fn single_run_with_member(proxy: &Proxy, svc: &str) -> std::process::Output {
    Cli::worker()
        .endpoint(&proxy.endpoint)
        .args(&home_args(svc))
        .args(&["--instances-role-arn", MEMBER_ROLE, "--single-run"])
        .output(Duration::from_secs(120))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_whose_role_is_refused_holds_back_only_not_found() {
    // AWS answers AccessDenied to an AssumeRole the role's trust policy (or an SCP) refuses; moto
    // assumes any role.
    let proxy = Proxy::start();
    proxy.state("deny/AssumeRole").await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    let home = launch(HOME_REGION, 3).await;
    register_all(&svc, &home).await;
    register(&svc, THEIRS, Some("10.7.7.7")).await;
    // Its event was lost: only the reconcile can remove it.
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&home[0].id)).await;

    let out = single_run_with_member(&proxy, &svc);
    // The home account's terminated instance goes; the member's registration, which nobody could
    // look up, stays; the run reports the failure.
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let mut left = ids(&home[1..]);
    left.push(THEIRS.to_string());
    assert_eq!(registered(&svc).await, sorted(left));
    assert_eq!(
        log_pairs(&out, "deregistered", "instance_id", "reason"),
        vec![(home[0].id.clone(), "terminated".to_string())]
    );
    let warned = log_lines(&out, TARGET_FAILING);
    assert_eq!(warned.len(), 1, "{}", stdout(&out));
    assert_eq!(warned[0]["account"], "222222222222");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_member_account_does_not_stop_the_home_account() {
    // AWS throttles one account whose request rate is spent while the others' calls go on; moto
    // never throttles. The proxy throttles every call the member's credentials sign.
    let proxy = Proxy::start();
    proxy.state("throttle-account/222222222222").await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    let member = aws_sdk_ec2::Client::new(&member_config(HOME_REGION).await);
    let theirs = Launch::on(&member).count(2).run().await;
    let ours = launch(HOME_REGION, 3).await;
    register_all(&svc, &theirs).await;
    register_all(&svc, &ours).await;
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&ours[0].id)).await;

    let out = single_run_with_member(&proxy, &svc);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let mut left = ids(&theirs);
    left.extend(ids(&ours[1..]));
    assert_eq!(registered(&svc).await, sorted(left));
    assert_eq!(
        log_pairs(&out, "deregistered", "instance_id", "reason"),
        vec![(ours[0].id.clone(), "terminated".to_string())]
    );
    // The member's lookup was really throttled, retried by the SDK, and given up.
    let throttled = proxy.state("state").await["targeted"]["throttled"].as_u64();
    assert!(throttled.is_some_and(|n| n >= 2), "{throttled:?}");
    assert_eq!(log_lines(&out, TARGET_FAILING).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_answers_access_denied_holds_no_other_services_events() {
    // An IAM policy scoped to some services' ARNs answers AccessDenied for the others; moto allows
    // everything. The proxy denies every Cloud Map call naming `denied`.
    let proxy = Proxy::start();
    let ns = namespace().await;
    let (ok, denied) = (service(&ns).await, service(&ns).await);
    let inst = launch(HOME_REGION, 3).await;
    register_all(&ok, &inst).await;
    register_all(&denied, &inst[1..]).await;
    proxy.state(&format!("deny-service/{denied}")).await;
    // Redrive after 3 receives: a claim waits at most that many for the failing service.
    let q = queue_with_dlq(3, 2).await;
    route_rules_to(&q.arn).await;
    let port = free_port();
    let worker = Worker::events(&ok, &q.url, port)
        .endpoint(&proxy.endpoint)
        .args(&["--service-id", &denied])
        .spawn();
    wait_http(port, "/healthz", WAIT, |s, _| s == 200).await;

    let client = ec2(HOME_REGION).await;
    terminate(&client, std::slice::from_ref(&inst[0].id)).await;
    put_state_change(&inst[0].id, "terminated").await;
    // Removed from the service that answers at once; its message comes back for the denied
    // service until its last receive before the dead-letter queue, then is settled and deleted.
    let rest = sorted(ids(&inst[1..]));
    wait_registered(&ok, WAIT, |r| r == rest.as_slice()).await;
    let settled = |n: f64| async move {
        eventually(Duration::from_secs(40), "events settled", || async {
            match metric(port, &events("state_change", "left_to_reconcile")).await {
                m if m == n => Ok(()),
                m => Err(m.to_string()),
            }
        })
        .await
    };
    settled(1.0).await;
    assert_eq!(queue_depth(&q.url).await, (0, 0));
    assert_eq!(queue_depth(&q.dlq).await, (0, 0));
    let (status, body) = http_get(port, "/readyz").await.unwrap();
    assert!(
        body.contains("left to the reconcile") && body.contains(&denied),
        "{status} {body}"
    );
    let gauge = format!("cloud_unmap_left_to_reconcile{{service_id=\"{denied}\"}}");
    assert_eq!(metric(port, &gauge).await, 1.0);

    // Left to the reconcile now: the next event is settled at its first receive.
    terminate(&client, std::slice::from_ref(&inst[1].id)).await;
    put_state_change(&inst[1].id, "terminated").await;
    let last = vec![inst[2].id.clone()];
    wait_registered(&ok, WAIT, |r| r == last.as_slice()).await;
    settled(2.0).await;
    assert_eq!(queue_depth(&q.dlq).await, (0, 0));
    assert_eq!(metric(port, &events("state_change", "failed")).await, 2.0);

    let out = worker.terminate(Duration::from_secs(40));
    assert_eq!(log_lines(&out, LEFT).len(), 1, "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_request_is_followed_to_its_end_not_failed() {
    // Cloud Map answers DuplicateRequest while another operation on the instance is in progress
    // (another replica, a racing trigger); moto never does. The proxy makes that other operation
    // and answers DuplicateRequest with its id, once.
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let inst = launch(HOME_REGION, 3).await;
    register_all(&svc, &inst).await;
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&inst[0].id)).await;
    proxy.state(&format!("duplicate-once/{}", inst[0].id)).await;

    let out = Cli::worker()
        .endpoint(&proxy.endpoint)
        .args(&home_args(&svc))
        .args(&["--single-run"])
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(registered(&svc).await, sorted(ids(&inst[1..])));
    let state = proxy.state("state").await;
    assert_eq!(state["targeted"]["duplicate"], 1);
    // The other operation was followed (GetOperation on its id) before the registration was read again.
    assert!(
        state["counts"]["GetOperation"].as_u64() >= Some(1),
        "{state}"
    );
    assert!(
        state["counts"]["GetInstance"].as_u64() >= Some(1),
        "{state}"
    );
}
