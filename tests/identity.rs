//! Registrations judged by their real identity: a registration whose id is not the EC2 instance id
//! (`web-1`) is judged by its `AWS_EC2_INSTANCE_ID` attribute, by the reconcile and the event path.

mod common;

use std::time::Duration;

use common::*;

/// Registers `name` in `service` with these attributes.
async fn register_named(service: &str, name: &str, attributes: &[(&str, &str)]) {
    let mut req = cloudmap()
        .await
        .register_instance()
        .service_id(service)
        .instance_id(name);
    for (k, v) in attributes {
        req = req.attributes(*k, *v);
    }
    req.send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_named_otherwise_are_judged_by_their_ec2_instance_id_attribute() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 4).await;
    let by_attribute = |i: usize| {
        [
            ("AWS_EC2_INSTANCE_ID", all[i].id.clone()),
            ("AWS_INSTANCE_IPV4", all[i].ip.clone()),
        ]
    };
    for (name, i) in [("web-1", 0), ("web-2", 1), ("web-3", 2)] {
        let attrs = by_attribute(i);
        let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        register_named(&svc, name, &attrs).await;
    }
    // Neither an EC2 id nor the attribute: nothing can vouch for or against it.
    register_named(&svc, "web-9", &[("AWS_INSTANCE_IPV4", "10.9.9.9")]).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, std::slice::from_ref(&all[0].id)).await;

    // The reconcile removes web-1 (its instance is terminated), keeps web-2, web-3 and web-9.
    let out = Cli::worker()
        .args(&home_args(&svc))
        .args(&["--single-run"])
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let left = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(registered(&svc).await, left(&["web-2", "web-3", "web-9"]));

    // The event path finds web-2 by its attribute.
    let q = queue_with_dlq(3, 4).await;
    route_rules_to(&q.arn).await;
    let port = free_port();
    let worker = Worker::events(&svc, &q.url, port).spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    terminate(&client, std::slice::from_ref(&all[1].id)).await;
    put_state_change(&all[1].id, "terminated").await;
    wait_registered(&svc, WAIT, |r| r == left(&["web-3", "web-9"])).await;
    let series = format!("cloud_unmap_deregistrations_total{{service_id=\"{svc}\",trigger=\"event\",reason=\"terminated\"}}");
    assert_eq!(metric(port, &series).await, 1.0);
    drop(worker);
}
