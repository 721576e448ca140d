//! Honest counts: a registration someone else removed first is not a removal of ours (replicas
//! would double count), and an unreadable message counts once, not once per receive.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_already_gone_at_deregistration_is_not_counted_as_removed() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all).await;
    let dead = &all[0].id;
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(dead)).await;
    // The worker's listing still holds it; meanwhile another replica (here: the test) removes it.
    proxy.state("hold/ListInstances/3").await;
    let port = free_port();
    let worker = Worker::new(port)
        .endpoint(&proxy.endpoint)
        .args(&home_args(&svc))
        .args(&["--frequency", "3600"])
        .spawn();
    proxy.wait_for("ListInstances").await;
    cloudmap()
        .await
        .deregister_instance()
        .service_id(&svc)
        .instance_id(dead)
        .send()
        .await
        .unwrap();
    let gone =
        format!("cloud_unmap_already_gone_total{{service_id=\"{svc}\",trigger=\"reconcile\"}}");
    eventually(WAIT, "already gone counted", || async {
        let n = metric(port, &gone).await;
        if n == 1.0 {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    })
    .await;
    let removed = format!(
        "cloud_unmap_deregistrations_total{{service_id=\"{svc}\",trigger=\"reconcile\",reason=\"terminated\"}}"
    );
    assert_eq!(metric(port, &removed).await, 0.0);
    let out = worker.terminate(Duration::from_secs(30));
    assert!(
        log_lines(&out, "deregistered").is_empty(),
        "{}",
        stdout(&out)
    );
    // Its DeregisterInstance was sent (a terminated instance's registration is not read again) and
    // met InstanceNotFound: as likely our own call retried after a lost answer as another replica's
    // removal, so its record is kept, marked already gone.
    let kept = log_lines(
        &out,
        "already gone when deregistered (maybe our own call, retried); its record kept",
    );
    assert_eq!(kept.len(), 1, "{}", stdout(&out));
    assert_eq!(kept[0]["record"]["already_gone"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_message_counts_once_however_often_it_comes_back() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    // Five receives each before the dead-letter queue takes them.
    let q = queue_with_dlq(5, 30).await;
    let port = free_port();
    let worker = Worker::events(&svc, &q.url, port).spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    send_raw(&q.url, "not json").await;
    send_raw(&q.url, "{\"also\": \"not an event\"}").await;
    eventually(
        Duration::from_secs(60),
        "both in the dead-letter queue",
        || async {
            let dlq = queue_depth(&q.dlq).await;
            if dlq.0 == 2 {
                Ok(())
            } else {
                Err(format!("{dlq:?}"))
            }
        },
    )
    .await;
    let series = "cloud_unmap_events_total{type=\"invalid\",outcome=\"invalid\"}";
    let counted = metric(port, series).await;
    let out = worker.terminate(Duration::from_secs(30));
    assert_eq!(counted, 2.0, "{}", stdout(&out));
}
