//! Decisions that cannot remove a healthy instance. Absence of evidence is not evidence of death:
//! registrations EC2 does not find are removed only when a second lookup a grace period later
//! agrees, never in a surge (a forgotten account or region); an answer cloud-unmap cannot read
//! fails the lookup; a registration replaced between its judgment and its removal is kept. EC2's
//! eventual consistency, unreadable answers and slow answers come from `scripts/aws_proxy.py`,
//! since moto answers every new instance at once, only with known states, and without delay.

mod common;

use std::time::Duration;

use common::*;

fn single(service: &str, extra: &[&str]) -> Cli {
    Cli::worker()
        .args(&home_args(service))
        .args(&["--single-run"])
        .args(extra)
}

fn removed(o: &std::process::Output, reason: &str) -> Vec<String> {
    let mut ids: Vec<String> = log_lines(o, "deregistered")
        .iter()
        .filter(|l| l["reason"] == reason)
        .map(|l| l["instance_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_member_account_keeps_its_registrations() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let home = launch(HOME_REGION, 12).await;
    let member = aws_sdk_ec2::Client::new(&member_config(HOME_REGION).await);
    let theirs = Launch::on(&member).count(10).run().await;
    register_all(&svc, &home).await;
    register_all(&svc, &theirs).await;
    let client = ec2(HOME_REGION).await;
    terminate(&client, &[home[0].id.clone(), home[1].id.clone()]).await;

    // The member account is not configured: its 10 live instances are "not found" — a surge.
    let out = single(&svc, &[]).output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert_eq!(removed(&out, "terminated"), sorted(ids(&home[..2])));
    assert!(removed(&out, "not-found").is_empty());
    let mut left = ids(&home[2..]);
    left.extend(ids(&theirs));
    assert_eq!(registered(&svc).await, sorted(left));
    let warned = log_lines(&out, "not-found surge: too many registrations have no instance in any account and region asked; keeping them (a forgotten --instances-role-arn or --instances-region? --max-not-found sets the bound)");
    assert_eq!(warned.len(), 1, "{}", stdout(&out));
    // A list: JSON logs nest it as an array (issue #27).
    assert!(warned[0]["asked"].to_string().contains(HOME_REGION));

    // A first clean-up of an old namespace: 100 % turns the bound off.
    let out = single(&svc, &["--max-not-found", "100%", "--not-found-grace", "1"])
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(removed(&out, "not-found"), sorted(ids(&theirs)));
    assert_eq!(registered(&svc).await, sorted(ids(&home[2..])));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_missing_from_the_first_lookup_only_is_kept() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 4).await;
    register_all(&svc, &all).await;
    register(&svc, "i-0123456789abcdef0", Some("10.1.2.3")).await; // never existed
                                                                   // Just launched: EC2 does not list it yet in the first lookup.
    proxy.state(&format!("hide/{}/1", all[0].id)).await;
    let out = single(&svc, &["--not-found-grace", "1"])
        .endpoint(&proxy.endpoint)
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(removed(&out, "not-found"), vec!["i-0123456789abcdef0"]);
    assert_eq!(registered(&svc).await, sorted(ids(&all)));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_ec2_answer_fails_the_lookup_and_removes_nothing() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all).await;
    terminate(&ec2(HOME_REGION).await, std::slice::from_ref(&all[1].id)).await;
    proxy
        .state(&format!("state-name/{}/exploded", all[0].id))
        .await;
    let out = single(&svc, &[])
        .endpoint(&proxy.endpoint)
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("exploded"), "{}", stdout(&out));
    assert_eq!(registered(&svc).await, sorted(ids(&all)));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_long_running_worker_never_removes_on_first_sight() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all).await;
    register(&svc, "i-0123456789abcdef0", Some("10.1.2.3")).await; // never existed
    let port = free_port();
    let worker = Worker::new(port)
        .args(&home_args(&svc))
        .args(&["--frequency", "1", "--not-found-grace", "3"])
        .spawn();
    wait_registered(&svc, Duration::from_secs(30), |r| r.len() == 3).await;
    let out = worker.terminate(Duration::from_secs(30));
    let first = log_lines(&out, "reconciled")
        .first()
        .map(|l| epoch_seconds(l["timestamp"].as_str().unwrap()))
        .unwrap();
    let gone = log_lines(&out, "deregistered");
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["reason"], "not-found");
    let after = epoch_seconds(gone[0]["timestamp"].as_str().unwrap()) - first;
    assert!(after >= 3.0, "removed {after:.2} s after the first sight");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_replaced_between_its_judgment_and_its_removal_is_kept() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all[1..]).await;
    // Registered with an address the instance does not have: `ip-mismatch`…
    register(&svc, &all[0].id, Some("10.99.99.99")).await;
    // …judged on EC2's answer, which the proxy then holds back 3 s before the plan is applied.
    proxy.state("hold/DescribeInstances/3").await;
    let run = single(&svc, &[]).endpoint(&proxy.endpoint).spawn();
    proxy.wait_for("DescribeInstances").await;
    // Meanwhile the instance registers itself again, with its real address. (On AWS, RegisterInstance
    // of an existing id updates it; moto appends a second copy, so the old one is removed first.)
    cloudmap()
        .await
        .deregister_instance()
        .service_id(&svc)
        .instance_id(&all[0].id)
        .send()
        .await
        .unwrap();
    register(&svc, &all[0].id, Some(&all[0].ip)).await;
    let out = run.wait(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        log_lines(&out, "deregistered").is_empty(),
        "{}",
        stdout(&out)
    );
    let changed = log_lines(
        &out,
        "registration changed since it was judged; kept for the next cycle",
    );
    assert_eq!(changed.len(), 1, "{}", stdout(&out));
    assert_eq!(changed[0]["instance_id"], all[0].id.as_str());
    assert_eq!(registered(&svc).await, sorted(ids(&all)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminated_instance_goes_without_a_second_read_and_its_record_keeps_every_attribute() {
    let proxy = Proxy::start();
    let ns = namespace().await;
    let svc = service(&ns).await;
    let all = launch(HOME_REGION, 3).await;
    register_all(&svc, &all[1..]).await;
    // Named by its instance id, terminated: nothing can make it right again, so the listing's
    // attributes are removed and recorded as they are (no GetInstance).
    register_named(
        &svc,
        &all[0].id,
        &[("AWS_INSTANCE_IPV4", &all[0].ip), ("team", "search")],
    )
    .await;
    // Named otherwise: its AWS_EC2_INSTANCE_ID could point to a new instance by the time of the
    // removal, so it is read again first.
    register_named(
        &svc,
        "web-1",
        &[
            ("AWS_EC2_INSTANCE_ID", &all[1].id),
            ("AWS_INSTANCE_IPV4", &all[1].ip),
        ],
    )
    .await;
    terminate(&ec2(HOME_REGION).await, &ids(&all[..2])).await;
    let out = single(&svc, &[])
        .endpoint(&proxy.endpoint)
        .output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let mut gone = removed(&out, "terminated");
    gone.sort();
    let mut expected = vec![all[0].id.clone(), all[1].id.clone(), "web-1".to_string()];
    expected.sort();
    assert_eq!(gone, expected);
    // One second read: web-1's.
    assert_eq!(proxy.state("state").await["counts"]["GetInstance"], 1);
    let line = log_lines(&out, "deregistered")
        .into_iter()
        .find(|l| l["instance_id"] == all[0].id.as_str())
        .unwrap();
    let record = &line["record"];
    assert_eq!(record["attributes"]["team"], "search");
    assert_eq!(
        record["attributes"]["AWS_INSTANCE_IPV4"],
        all[0].ip.as_str()
    );
    assert_eq!(registered(&svc).await, sorted(ids(&all[2..])));
}
