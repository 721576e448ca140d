//! The event path's Cloud Map cost does not grow with the number of services: after the start-up
//! reconcile, an event reads each service's instances revision (DiscoverInstancesRevision, its own
//! far larger quota) instead of listing it, and lists only a service whose registrations changed.
//! The worker reaches Cloud Map's data plane through `dns`: the `data-` host prefix of
//! DiscoverInstancesRevision resolves to the loopback proxy. moto computes the revision as the sum of
//! its instances' revisions, which changes on every registration and deregistration, as AWS's does
//! (it could repeat after a removal and an addition together, which no test here makes). A claim
//! acts at once in the services known to hold its instance; the others are swept under a bound.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// `n` services of one namespace, each with `per` running registered instances.
async fn services(n: usize, per: i32) -> (String, Vec<(String, Vec<Instance>)>) {
    let ns = namespace().await;
    let mut out = Vec::new();
    for _ in 0..n {
        let svc = service(&ns).await;
        let instances = launch(HOME_REGION, per).await;
        register_all(&svc, &instances).await;
        out.push((svc, instances));
    }
    (ns, out)
}

async fn count(proxy: &Proxy, operation: &str) -> u64 {
    proxy.state("state").await["counts"][operation]
        .as_u64()
        .unwrap_or(0)
}

async fn worker(ns: &str, proxy: &Proxy) -> (Running, u16, String) {
    let (worker, port, q) = worker_with(ns, proxy, &[]).await;
    (worker, port, q.url)
}

async fn worker_with(ns: &str, proxy: &Proxy, extra: &[&str]) -> (Running, u16, Queues) {
    let q = queue_with_dlq(3, 4).await;
    route_rules_to(&q.arn).await;
    let port = free_port();
    let worker = Worker::new(port)
        .args(&["--namespace-id", ns])
        .args(extra)
        .args(&REGION_ARGS)
        .args(&["--frequency", "3600", "--queue-url", &q.url])
        .endpoint(&proxy.endpoint)
        .spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    (worker, port, q)
}

#[tokio::test(flavor = "multi_thread")]
async fn events_list_no_service_whose_registrations_did_not_change() {
    let proxy = Proxy::start();
    let (ns, all) = services(6, 3).await;
    let (worker, port, queue) = worker(&ns, &proxy).await;
    let client = ec2(HOME_REGION).await;

    // One event: no listing at all; every service's revision read instead.
    let (svc, instances) = &all[3];
    let lists = count(&proxy, "ListInstances").await;
    let revisions = count(&proxy, "DiscoverInstancesRevision").await;
    terminate(&client, std::slice::from_ref(&instances[0].id)).await;
    put_state_change(&instances[0].id, "terminated").await;
    let mut rest = ids(&instances[1..]);
    rest.sort();
    wait_registered(svc, WAIT, |r| r == rest.as_slice()).await;
    wait_queue_empty(&queue).await;
    assert_eq!(count(&proxy, "ListInstances").await - lists, 0);
    assert!(count(&proxy, "DiscoverInstancesRevision").await - revisions >= 6);

    // A burst of 24 events, four in each service (one registration left, so the never-empty guard
    // stays out). A service's revision changes with each removal, but a listing made after the
    // burst's events serves every later batch: the target is at most 0.5 listings per event.
    let lists = count(&proxy, "ListInstances").await;
    let mut victims = Vec::new();
    for (svc, instances) in &all {
        victims.push((svc.clone(), instances.last().unwrap().id.clone()));
        for i in launch(HOME_REGION, 3).await {
            register(svc, &i.id, Some(&i.ip)).await;
            victims.push((svc.clone(), i.id.clone()));
        }
    }
    let ids: Vec<String> = victims.iter().map(|(_, id)| id.clone()).collect();
    terminate(&client, &ids).await;
    // Put as a burst is: ten entries per PutEvents call.
    for chunk in ids.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .map(|id| {
                json!({"Source": "aws.ec2", "DetailType": "EC2 Instance State-change Notification",
                "Detail": json!({"instance-id": id, "state": "terminated"}).to_string()})
            })
            .collect();
        let out = aws_json("AWSEvents.PutEvents", &json!({ "Entries": entries })).await;
        assert_eq!(out["FailedEntryCount"], 0, "{out}");
    }
    for (svc, id) in &victims {
        let id = id.clone();
        wait_registered(svc, WAIT, move |r| !r.contains(&id)).await;
    }
    wait_queue_empty(&queue).await;
    let burst = count(&proxy, "ListInstances").await - lists;
    assert!(burst <= 12, "{burst} listings for 24 events");
    let removed = format!("cloud_unmap_deregistrations_total{{service_id=\"{svc}\",trigger=\"event\",reason=\"terminated\"}}");
    assert_eq!(metric(port, &removed).await, 5.0);
    let out = worker.terminate(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Waits until the start-up reconcile has reconciled `services` services successfully.
async fn wait_reconciled(port: u16, services: usize) {
    eventually(WAIT, "the start-up reconcile", || async {
        let text = http_get(port, "/metrics")
            .await
            .map(|(_, t)| t)
            .unwrap_or_default();
        let done = text
            .lines()
            .filter(|l| {
                l.starts_with("cloud_unmap_reconciles_total{") && l.contains("result=\"success\"")
            })
            .count();
        if done >= services {
            Ok(())
        } else {
            Err(done.to_string())
        }
    })
    .await;
}

/// Puts state-change events for `ids` as a burst is put: ten entries per PutEvents call.
async fn put_burst(ids: &[String]) {
    for chunk in ids.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .map(|id| {
                json!({"Source": "aws.ec2", "DetailType": "EC2 Instance State-change Notification",
                "Detail": json!({"instance-id": id, "state": "terminated"}).to_string()})
            })
            .collect();
        let out = aws_json("AWSEvents.PutEvents", &json!({ "Entries": entries })).await;
        assert_eq!(out["FailedEntryCount"], 0, "{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bursts_revision_reads_are_bounded_per_sweep_not_multiplied_by_services() {
    let proxy = Proxy::start();
    // 24 services; each sweep reads at most 6 of them: the others are left to the reconcile.
    let (ns, all) = services(24, 3).await;
    let (worker, port, queue) = worker_with(&ns, &proxy, &["--revision-sweep-size", "6"]).await;
    // The start-up reconcile (paced by the request budgets) done first: its reads are not the burst's.
    wait_reconciled(port, all.len()).await;
    let client = ec2(HOME_REGION).await;
    // 12 terminations, one in each of 12 services, put at once.
    let victims: Vec<(String, String)> = all[..12]
        .iter()
        .map(|(svc, instances)| (svc.clone(), instances[0].id.clone()))
        .collect();
    let ids: Vec<String> = victims.iter().map(|(_, id)| id.clone()).collect();
    terminate(&client, &ids).await;
    let revisions = count(&proxy, "DiscoverInstancesRevision").await;
    put_burst(&ids).await;
    // Each is removed from the service known to hold it, whatever the sweep leaves out.
    for (svc, id) in &victims {
        let id = id.clone();
        wait_registered(svc, WAIT, move |r| !r.contains(&id) && r.len() == 2).await;
    }
    wait_queue_empty(&queue.url).await;
    assert_eq!(queue_depth(&queue.dlq).await, (0, 0), "nothing in the DLQ");
    // One read per holder, at most 6 per sweep: well under 3 per event, where reading every
    // service on every batch made at least 24 per batch.
    let burst = count(&proxy, "DiscoverInstancesRevision").await - revisions;
    assert!(
        burst <= 36,
        "{burst} revision reads for 12 events over 24 services"
    );
    let left = "cloud_unmap_revision_sweep_services_total{result=\"left\"}";
    assert!(
        metric(port, left).await > 0.0,
        "the bound left services to the reconcile"
    );
    let out = worker.terminate(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_made_a_second_before_its_termination_is_removed_by_the_event_path() {
    let proxy = Proxy::start();
    let (ns, all) = services(3, 2).await;
    let (worker, port, queue) = worker(&ns, &proxy).await;
    // After the worker's only reconcile: its listing does not hold this registration.
    let late = launch(HOME_REGION, 1).await;
    let (svc, instances) = &all[1];
    register(svc, &late[0].id, Some(&late[0].ip)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&late[0].id)).await;
    put_state_change(&late[0].id, "terminated").await;

    let mut expected = ids(instances);
    expected.sort();
    wait_registered(svc, WAIT, |r| r == expected.as_slice()).await;
    wait_queue_empty(&queue).await;
    let removed = format!(
        "cloud_unmap_deregistrations_total{{service_id=\"{svc}\",trigger=\"event\",reason=\"terminated\"}}"
    );
    assert_eq!(metric(port, &removed).await, 1.0);
    let out = worker.terminate(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_without_the_revision_permission_still_removes_and_says_so_once_per_service() {
    let proxy = Proxy::start();
    // AccessDenied in the protocol's shape, as for a role whose policy predates the permission.
    proxy.state("deny/DiscoverInstancesRevision").await;
    let (ns, all) = services(2, 3).await;
    let (worker, port, queue) = worker(&ns, &proxy).await;
    let client = ec2(HOME_REGION).await;
    let (svc, instances) = &all[0];
    for gone in &instances[..2] {
        terminate(&client, std::slice::from_ref(&gone.id)).await;
        put_state_change(&gone.id, "terminated").await;
        let id = gone.id.clone();
        wait_registered(svc, WAIT, move |r| !r.contains(&id)).await;
    }
    wait_queue_empty(&queue).await;
    let denied = "cloud_unmap_aws_errors_total{operation=\"DiscoverInstancesRevision\",account=\"123456789012\",region=\"us-east-1\",class=\"permission\"}";
    // Every read is counted: at start-up for both services, and before listing the holder again on
    // both events (the sweep reads the other service's too, unless a listing it made for the first
    // event already covers the second).
    assert!(metric(port, denied).await >= 4.0);
    let out = worker.terminate(Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let logged = stdout(&out)
        .lines()
        .filter(|l| l.contains("cannot read the service's instances revision"))
        .count();
    assert_eq!(logged, 2, "one line per service, not one per batch");
}
