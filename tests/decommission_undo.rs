//! `decommission`'s drain keeps the worker's undo record of every registration it removes (the
//! `deregistered` line with `record`, on stderr whatever `--log-level`), so a retirement that halts
//! after the drain says how to put them back, and `restore` does, from that stderr.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use cloud_unmap::model::record::Removal;
use common::*;
use serde_json::Value;

async fn private_ip(client: &aws_sdk_ec2::Client, id: &str) -> String {
    let out = client
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    let i = &out.reservations()[0].instances()[0];
    i.private_ip_address().unwrap().to_string()
}

async fn attributes(service: &str, id: &str) -> Option<BTreeMap<String, String>> {
    let out = cloudmap()
        .await
        .get_instance()
        .service_id(service)
        .instance_id(id)
        .send()
        .await
        .ok()?;
    Some(out.instance()?.attributes()?.clone().into_iter().collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_halt_after_the_drain_leaves_undo_records_that_restore_puts_back() {
    let proxy = Proxy::start();
    let east = ec2(HOME_REGION).await;
    let team = unique("undo");
    let target = launch_tagged(&east, 1, &team, Some("web"), false).await;
    let ip = private_ip(&east, &target[0]).await;
    let svc = service(&namespace().await).await;
    register(&svc, &target[0], Some(&ip)).await;
    register(&svc, "web-other", Some("10.0.0.9")).await;
    let before = attributes(&svc, &target[0]).await.unwrap();
    // StopInstances fails after the drain (as AWS refuses it for an instance-store root or a
    // one-time Spot instance, which moto does not model).
    proxy.state("fail/StopInstances").await;
    let tag = format!("team={team}");
    let out = decommission(
        &proxy.endpoint,
        &[
            "--tag",
            &tag,
            "--region",
            HOME_REGION,
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
    let r = report(&out);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    let failed = outcome_of(&r, &target[0]);
    assert_eq!(failed["outcome"], "failed", "{r:#}");
    let note = failed["notes"].to_string();
    let command = format!(
        "cloud-unmap restore --from STDERR_LOG --instance-id {} --service-region {HOME_REGION} \
         --instances-region {HOME_REGION}",
        target[0]
    );
    assert!(note.contains(&command), "{note}");
    assert_eq!(state_of(&east, &target[0]).await, "running");
    assert_eq!(registered(&svc).await, vec!["web-other".to_string()]);

    // The undo record is on stderr, with every attribute the registration had.
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let records: Vec<Removal> = err.lines().filter_map(Removal::from_line).collect();
    assert_eq!(records.len(), 1, "{err}");
    assert_eq!(
        (
            &records[0].service_id,
            &records[0].instance_id,
            &records[0].attributes
        ),
        (&svc, &target[0], &before)
    );

    // restore reads that stderr and puts the registration back as it was.
    let log = std::env::temp_dir().join(unique("decommission-stderr"));
    std::fs::write(&log, err).unwrap();
    let out = Cli::subcommand("restore")
        .endpoint(&proxy.endpoint)
        .args(&[
            "--from",
            log.to_str().unwrap(),
            "--service-region",
            HOME_REGION,
        ])
        .args(&["--yes", "--output", "json"])
        .output(Duration::from_secs(60));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["restored"], 1, "{doc:#}");
    assert_eq!(attributes(&svc, &target[0]).await, Some(before));
    std::fs::remove_file(log).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spot_instance_is_refused_before_its_drain() {
    // AWS refuses StopInstances for a one-time Spot instance (UnsupportedOperation), which moto
    // does not model; a persistent request would launch a replacement. Refused before any change.
    let east = ec2(HOME_REGION).await;
    let spot = Launch::on(&east).spot().run().await;
    let svc = service(&namespace().await).await;
    register(&svc, &spot[0].id, Some(&spot[0].ip)).await;
    register(&svc, "web-other", Some("10.0.0.9")).await;
    let out = decommission(
        &moto().endpoint,
        &[
            "--instance-id",
            &spot[0].id,
            "--region",
            HOME_REGION,
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
    let r = report(&out);
    assert_eq!(out.status.code(), Some(3), "{r:#}");
    let refused = outcome_of(&r, &spot[0].id);
    assert_eq!(refused["outcome"], "refused", "{r:#}");
    assert!(
        refused["reason"].as_str().unwrap().contains("Spot"),
        "{r:#}"
    );
    assert_eq!(state_of(&east, &spot[0].id).await, "running");
    assert_eq!(
        registered(&svc).await,
        sorted(vec![spot[0].id.clone(), "web-other".to_string()])
    );
}
