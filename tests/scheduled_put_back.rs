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

#[tokio::test(flavor = "multi_thread")]
async fn a_reboot_rescheduled_after_its_firing_lets_the_instance_back_until_it_is_due_again() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all).await;
    let id = all[0].id.clone();
    proxy
        .state(&format!("scheduled/{id}/system-reboot/{}", now_s() + 6.0))
        .await;
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&home_args(&svc))
        .args(&["--frequency", "2", "--scheduled-lead-seconds", "2"])
        .spawn();
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
