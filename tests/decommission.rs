//! `cloud-unmap decommission` end to end on moto: which instances end terminated, stopped or
//! untouched, which snapshots exist, which registrations remain, and the exit code.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn retires_across_two_accounts_and_two_regions() {
    let team = unique("dtest");
    let east = ec2(HOME_REGION).await;
    let west = ec2(OTHER_REGION).await;
    let member_east = aws_sdk_ec2::Client::new(&member_config(HOME_REGION).await);
    let member_west = aws_sdk_ec2::Client::new(&member_config(OTHER_REGION).await);

    let running = launch_tagged(&east, 1, &team, Some("web-1"), false).await;
    let stopped = launch_tagged(&east, 1, &team, Some("web-2"), false).await;
    stop(&east, &stopped).await;
    let nameless = launch_tagged(&east, 1, &team, None, false).await;
    let bystander = launch_tagged(&east, 1, &unique("other"), Some("web-1"), false).await;
    let in_west = launch_tagged(&west, 1, &team, Some("web-3"), false).await;
    let member_a = launch_tagged(&member_east, 1, &team, Some("m-1"), false).await;
    let member_b = launch_tagged(&member_west, 1, &team, Some("m-2"), false).await;

    // Drain: the running target is registered in a service, beside a bystander registration.
    let ns = namespace().await;
    let svc = service(&ns).await;
    register(&svc, &running[0], Some("10.0.0.1")).await;
    register(&svc, &bystander[0], Some("10.0.0.2")).await;

    let tag = format!("team={team}");
    let out = decommission(
        &moto().endpoint,
        &[
            "--tag",
            &tag,
            "--region",
            HOME_REGION,
            "--region",
            OTHER_REGION,
            "--role-arn",
            MEMBER_ROLE,
            "--service-id",
            &svc,
            "--service-region",
            HOME_REGION,
            "--drain-seconds",
            "0",
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(r["summary"]["terminated"], 6, "{r}");
    assert_eq!(r["summary"]["failed"], 0);

    for (client, id) in [
        (&east, &running[0]),
        (&east, &stopped[0]),
        (&east, &nameless[0]),
        (&west, &in_west[0]),
        (&member_east, &member_a[0]),
        (&member_west, &member_b[0]),
    ] {
        assert_eq!(state_of(client, id).await, "terminated", "{id}");
        let snaps = snapshots_of(client, id).await;
        assert!(!snaps.is_empty(), "{id} has no snapshot");
        for (description, snap) in &snaps {
            assert!(
                description.ends_with(&format!("-pre-termination-snapshot {id}")),
                "{description}"
            );
            assert!(outcome_of(&r, id)["snapshots"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == snap.as_str()));
        }
    }
    assert_eq!(outcome_of(&r, &member_a[0])["account"], "222222222222");
    assert_eq!(outcome_of(&r, &nameless[0])["name"], Value::Null);
    assert_eq!(
        state_of(&east, &bystander[0]).await,
        "running",
        "bystander untouched"
    );
    assert_eq!(
        registered(&svc).await,
        vec![bystander[0].clone()],
        "drained from Cloud Map"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_checks_permissions_and_changes_nothing() {
    let team = unique("dry");
    let east = ec2(HOME_REGION).await;
    let ids = launch_tagged(&east, 2, &team, Some("db"), false).await;
    let ns = namespace().await;
    let svc = service(&ns).await;
    register(&svc, &ids[0], Some("10.0.0.1")).await;
    // Another registration stays, so the drain does not empty the service (never-empty rule).
    register(&svc, "web-other", Some("10.0.0.9")).await;
    let tag = format!("team={team}");
    let out = decommission(
        &moto().endpoint,
        &[
            "--tag",
            &tag,
            "--region",
            HOME_REGION,
            "--service-id",
            &svc,
            "--service-region",
            HOME_REGION,
            "--dry-run",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["summary"]["planned"], 2);
    let steps = outcome_of(&r, &ids[0])["steps"].as_array().unwrap().clone();
    let text: Vec<&str> = steps.iter().map(|s| s.as_str().unwrap()).collect();
    let drain = format!("deregister {} from {svc}", ids[0]);
    assert!(text.iter().any(|s| s.starts_with(&drain)), "{text:?}");
    assert!(
        text.iter()
            .any(|s| s.starts_with("stop") && s.ends_with("(permitted)")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|s| s.starts_with("snapshot") && s.ends_with("(permitted)")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|s| s.starts_with("terminate") && s.ends_with("(permitted)")),
        "{text:?}"
    );
    for id in &ids {
        assert_eq!(state_of(&east, id).await, "running");
        assert!(snapshots_of(&east, id).await.is_empty());
    }
    assert_eq!(
        registered(&svc).await,
        sorted(vec![ids[0].clone(), "web-other".into()])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_snapshot_blocks_termination() {
    let proxy = Proxy::start();
    proxy.state("fail/CreateSnapshots").await;
    let team = unique("snapfail");
    let east = ec2(HOME_REGION).await;
    let ids = launch_tagged(&east, 1, &team, Some("data"), false).await;
    let tag = format!("team={team}");
    let out = decommission(
        &proxy.endpoint,
        &[
            "--tag",
            &tag,
            "--region",
            HOME_REGION,
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    let o = outcome_of(&r, &ids[0]);
    assert_eq!(o["outcome"], "failed");
    assert!(
        o["reason"].as_str().unwrap().contains("not terminated"),
        "{o}"
    );
    assert_eq!(
        state_of(&east, &ids[0]).await,
        "stopped",
        "stopped, but never terminated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn termination_protection_is_respected_and_others_still_go() {
    let team = unique("protected");
    let east = ec2(HOME_REGION).await;
    let guarded = launch_tagged(&east, 1, &team, Some("keep"), true).await;
    let free = launch_tagged(&east, 1, &team, Some("go"), false).await;
    let tag = format!("team={team}");
    let out = decommission(
        &moto().endpoint,
        &[
            "--tag",
            &tag,
            "--region",
            HOME_REGION,
            "--yes",
            "--no-snapshot",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains(&guarded[0])).unwrap();
    assert!(
        line.starts_with("failed") && line.contains("termination protection"),
        "{text}"
    );
    assert!(text.contains("1 terminated, 0 skipped, 1 failed"), "{text}");
    assert_eq!(state_of(&east, &guarded[0]).await, "running", "untouched");
    assert_eq!(state_of(&east, &free[0]).await, "terminated");
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_matched_is_said_and_exit_0() {
    let tag = format!("team={}", unique("nobody"));
    let out = decommission(
        &moto().endpoint,
        &["--tag", &tag, "--region", HOME_REGION, "--yes"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no instance matched"));
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_without_yes_when_stdin_is_not_a_terminal() {
    let team = unique("ask");
    let east = ec2(HOME_REGION).await;
    let ids = launch_tagged(&east, 1, &team, Some("x"), false).await;
    let tag = format!("team={team}");
    let out = decommission(&moto().endpoint, &["--tag", &tag, "--region", HOME_REGION]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --yes"));
    assert_eq!(state_of(&east, &ids[0]).await, "running");
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    for args in [
        &["--region", "us-east-1"][..],
        &["--tag", "Name", "--region", "us-east-1"][..],
        &["--tag", "Name=x"][..],
        &[
            "--tag",
            "Name=x",
            "--region",
            "us-east-1",
            "--service-id",
            "srv-1",
        ][..],
        &[
            "--tag",
            "Name=x",
            "--region",
            "us-east-1",
            "--wait-timeout",
            "18446744073709551615",
        ][..],
        &[
            "--tag",
            "Name=x",
            "--region",
            "us-east-1",
            "--drain-seconds",
            "86401",
        ][..],
    ] {
        let mut full = vec!["decommission"];
        full.extend_from_slice(args);
        assert_usage_error(&full);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_started_after_discovery_is_stopped_again_before_its_snapshot() {
    let proxy = Proxy::start();
    let team = unique("dtest");
    let east = ec2(HOME_REGION).await;
    let id = launch_tagged(&east, 1, &team, Some("late-start"), false).await;
    east.stop_instances()
        .instance_ids(&id[0])
        .send()
        .await
        .unwrap();
    let ns = namespace().await;
    let svc = service(&ns).await;
    register(&svc, &id[0], Some("10.0.0.1")).await;
    register(&svc, "i-0123456789abcdef0", Some("10.0.0.2")).await;
    let tag = format!("team={team}");
    // Discovered stopped; started by someone during its 3 s drain.
    let run = Cli::subcommand("decommission")
        .endpoint(&proxy.endpoint)
        .args(&["--tag", &tag, "--region", HOME_REGION, "--service-id", &svc])
        .args(&["--service-region", HOME_REGION, "--drain-seconds", "3"])
        .args(&["--yes", "--output", "json"])
        .spawn();
    proxy.wait_for("DeregisterInstance").await;
    east.start_instances()
        .instance_ids(&id[0])
        .send()
        .await
        .unwrap();
    let out = run.wait(Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = report(&out);
    let mine = outcome_of(&r, &id[0]);
    assert_eq!(mine["outcome"], "terminated", "{r}");
    assert!(
        mine["notes"][0]
            .as_str()
            .unwrap()
            .contains("stopped at discovery, running before the snapshot; stopped again"),
        "{r}"
    );
    // Stopped (once: the discovery saw it stopped) before the snapshot was taken.
    let counts = &proxy.state("state").await["counts"];
    assert_eq!(counts["StopInstances"], 1, "{counts}");
    assert!(!snapshots_of(&east, &id[0]).await.is_empty());
    assert_eq!(state_of(&east, &id[0]).await, "terminated");
}
