//! The put-back of a registration removed for a scheduled reboot, as real AWS breaks it: the event
//! rescheduled after its firing (ModifyInstanceEventStartTime keeps the InstanceEventId), the worker
//! stopped between the removal and its answer, and the answer to a DeregisterInstance lost (the SDK's
//! retry meets the registration gone). moto reports no scheduled events and loses no answers: the test
//! proxy answers DescribeInstanceStatus as EC2 does (with InstanceEventId) and loses the answer.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

/// Whole seconds: EC2 reports NotBefore to the second.
fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64
}

const BACK: &str =
    "registered again: the scheduled event is over and the instance runs at its address";
const MOVED: &str = "scheduled event rescheduled later; registered again until it is due";

/// A service of `n` registered instances, the first with a scheduled `code` event due `in_s` seconds
/// from now; returns the service, its instances and that first instance's id.
async fn one_scheduled(
    proxy: &Proxy,
    n: i32,
    code: &str,
    in_s: f64,
) -> (String, Vec<Instance>, String) {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, n).await;
    register_all(&svc, &all).await;
    let id = all[0].id.clone();
    proxy
        .state(&format!("scheduled/{id}/{code}/{}", now_s() + in_s))
        .await;
    (svc, all, id)
}

/// A worker on `svc` through the proxy: a cycle every 2 s, scheduled events acted on 2 s ahead.
fn scheduled_worker(proxy: &Proxy, svc: &str, port: u16) -> Worker {
    Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&home_args(svc))
        .args(&["--frequency", "2", "--scheduled-lead-seconds", "2"])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reboot_rescheduled_after_its_firing_lets_the_instance_back_until_it_is_due_again() {
    let proxy = Proxy::start();
    let (svc, all, id) = one_scheduled(&proxy, 3, "system-reboot", 6.0).await;
    let worker = scheduled_worker(&proxy, &svc, free_port()).spawn();
    wait_registered(&svc, Duration::from_secs(30), |r| !r.contains(&id)).await;
    // Its owner moves the reboot two days later: the running instance is back now.
    let later = now_s() + 2.0 * 86_400.0;
    proxy.state(&format!("scheduled-move/{id}/{later}")).await;
    wait_registered(&svc, Duration::from_secs(30), |r| r.contains(&id)).await;
    // Moved back to soon: the same event is due again, the instance leaves again and comes back
    // once EC2 says it is over.
    proxy
        .state(&format!("scheduled-move/{id}/{}", now_s() + 6.0))
        .await;
    wait_registered(&svc, Duration::from_secs(30), |r| !r.contains(&id)).await;
    proxy.state(&format!("scheduled-complete/{id}")).await;
    wait_registered(&svc, Duration::from_secs(30), |r| r.contains(&id)).await;
    let out = worker.terminate(Duration::from_secs(30));
    assert_eq!(log_lines(&out, MOVED).len(), 1, "{}", stdout(&out));
    assert_eq!(log_lines(&out, BACK).len(), 1, "{}", stdout(&out));
    assert_eq!(log_lines(&out, "deregistered").len(), 2, "{}", stdout(&out));
    assert_eq!(sorted(registered(&svc).await), sorted(ids(&all)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_back_is_saved_before_its_removal_so_a_worker_killed_meanwhile_loses_nothing() {
    let proxy = Proxy::start();
    let table = state_table().await;
    let q = queue_with_dlq(3, 30).await;
    let (svc, _, id) = one_scheduled(&proxy, 2, "instance-reboot", 4.0).await;
    // The deregistration is applied at once; its answer comes 10 s later.
    proxy.state("hold/DeregisterInstance/10").await;
    let worker = || {
        scheduled_worker(&proxy, &svc, free_port())
            .args(&["--queue-url", &q.url, "--state-table", &table])
            .spawn()
    };
    let mut first = worker();
    wait_registered(&svc, Duration::from_secs(30), |r| !r.contains(&id)).await;
    // Killed (a node lost, an OOM kill) while waiting for the answer.
    first.child.kill().unwrap();
    let first = first.wait(Duration::from_secs(10));
    assert!(
        log_lines(&first, "deregistered").is_empty(),
        "{}",
        stdout(&first)
    );
    proxy.state(&format!("scheduled-complete/{id}")).await;
    let second = worker();
    wait_registered(&svc, Duration::from_secs(30), |r| r.contains(&id)).await;
    let second = second.terminate(Duration::from_secs(30));
    assert_eq!(log_lines(&second, BACK).len(), 1, "{}", stdout(&second));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_deregistration_answer_keeps_its_record_and_its_put_back() {
    let proxy = Proxy::start();
    let (svc, _, id) = one_scheduled(&proxy, 2, "system-reboot", 4.0).await;
    // Applied, answer lost: the SDK's retry meets InstanceNotFound.
    proxy.state(&format!("lose-once/{id}")).await;
    let port = free_port();
    let worker = scheduled_worker(&proxy, &svc, port).spawn();
    wait_registered(&svc, Duration::from_secs(30), |r| !r.contains(&id)).await;
    let lost = "cloud_unmap_already_gone_total{service_id=\"".to_string()
        + &svc
        + "\",trigger=\"scheduled\"}";
    eventually(
        Duration::from_secs(30),
        "the retried call found it gone",
        || async {
            let n = metric(port, &lost).await;
            if n == 1.0 {
                Ok(())
            } else {
                Err(format!("{n}"))
            }
        },
    )
    .await;
    proxy.state(&format!("scheduled-complete/{id}")).await;
    wait_registered(&svc, Duration::from_secs(30), |r| r.contains(&id)).await;
    let out = worker.terminate(Duration::from_secs(30));
    let kept = log_lines(
        &out,
        "already gone when deregistered (maybe our own call, retried); its record kept",
    );
    assert_eq!(kept.len(), 1, "{}", stdout(&out));
    let record = &kept[0]["record"];
    assert_eq!(record["already_gone"], true, "{record}");
    assert_eq!(record["instance_id"], id.as_str(), "{record}");
    assert_eq!(log_lines(&out, BACK).len(), 1, "{}", stdout(&out));
    // Not a removal of ours in the counts.
    assert!(
        log_lines(&out, "deregistered").is_empty(),
        "{}",
        stdout(&out)
    );
}

const CYCLES: &str = r#"cloud_unmap_reconcile_cycles_total{cause="timer",outcome="ran"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_due_event_fires_once_while_ec2_lists_it_pending() {
    let proxy = Proxy::start();
    // A maintenance window of hours: EC2 lists the event pending (not `[Completed]`) until it ends.
    let (svc, all, id) = one_scheduled(&proxy, 3, "system-maintenance", 4.0).await;
    let port = free_port();
    let worker = scheduled_worker(&proxy, &svc, port).spawn();
    wait_registered(&svc, Duration::from_secs(30), |r| !r.contains(&id)).await;
    // Its owner registers it again (an instance that registers itself at boot) during the window.
    register_all(&svc, &all[..1]).await;
    // Several sweeps later (each cycle sweeps the scheduled events), it is still registered.
    let from = metric(port, CYCLES).await;
    eventually(Duration::from_secs(30), "three more cycles", || async {
        let n = metric(port, CYCLES).await;
        if n >= from + 3.0 {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    })
    .await;
    let still = registered(&svc).await.contains(&id);
    let out = worker.terminate(Duration::from_secs(30));
    assert!(still, "removed again: {}", stdout(&out));
    assert_eq!(log_lines(&out, "deregistered").len(), 1, "{}", stdout(&out));
}
