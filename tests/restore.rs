//! `restore` from what operators have: the worker's own log in each format it writes (JSON, text,
//! text with a terminal's colours), read back from its real output, never from hand-written lines;
//! registrations made by EC2 instance id put back as Cloud Map accepts them (through the test proxy,
//! which enforces RegisterInstance's `AWS_EC2_INSTANCE_ID` rule and fills `AWS_INSTANCE_IPV4` as AWS
//! does: moto accepts any attributes); the standard `AWS_REGION` and the `CLOUD_UNMAP_*` variables;
//! an input without any record is an error, not "nothing to do".

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Every attribute of a registration, as Cloud Map holds it.
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

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Cloud Map through the proxy: RegisterInstance as AWS answers it.
async fn cloudmap_via(proxy: &Proxy) -> aws_sdk_servicediscovery::Client {
    let conf = config(HOME_REGION)
        .await
        .into_builder()
        .endpoint_url(&proxy.endpoint)
        .build();
    aws_sdk_servicediscovery::Client::new(&conf)
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Json,
    Text,
    /// Text on a terminal: ANSI colours, CR LF.
    Terminal,
}

/// A worker run that removes both registrations of a fresh service as `not-found` (the proxy hides
/// their running instances from DescribeInstances, as for an account or region the worker was not
/// told about), in `format`; returns the service, the instance registered by id and the one
/// registered by name with `AWS_EC2_INSTANCE_ID`, and the worker's stdout.
async fn removed_by_worker(
    proxy: &Proxy,
    format: Format,
) -> (String, Instance, Instance, String, Vec<u8>) {
    let svc = service(&namespace().await).await;
    let both = launch(HOME_REGION, 2).await;
    register(&svc, &both[0].id, Some(&both[0].ip)).await;
    // Registered as AWS allows by EC2 id: that attribute alone, Cloud Map fills the address.
    let web = unique("web");
    cloudmap_via(proxy)
        .await
        .register_instance()
        .service_id(&svc)
        .instance_id(&web)
        .attributes("AWS_EC2_INSTANCE_ID", &both[1].id)
        .send()
        .await
        .unwrap();
    let filled = map(&[
        ("AWS_EC2_INSTANCE_ID", &both[1].id),
        ("AWS_INSTANCE_IPV4", &both[1].ip),
    ]);
    assert_eq!(attributes(&svc, &web).await, Some(filled));
    for i in &both {
        proxy.state(&format!("hide/{}/1000", i.id)).await;
    }
    let log_format = match format {
        Format::Json => "json",
        Format::Text | Format::Terminal => "text",
    };
    let mut cli = Cli::bare().endpoint(&proxy.endpoint).args(&home_args(&svc));
    cli = cli.args(&[
        "--log-format",
        log_format,
        "--single-run",
        "--max-not-found",
        "100%",
        "--not-found-grace",
        "0",
        "--allow-empty-service",
    ]);
    if let Format::Terminal = format {
        cli = cli.in_terminal();
    }
    let out = cli.output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{format:?}: {}", stdout(&out));
    assert_eq!(registered(&svc).await, Vec::<String>::new(), "{format:?}");
    for i in &both {
        proxy.state(&format!("hide/{}/0", i.id)).await;
    }
    let [by_id, by_name]: [Instance; 2] = both.try_into().unwrap();
    (svc, by_id, by_name, web, out.stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workers_own_log_in_every_format_puts_back_what_it_removed() {
    let proxy = Proxy::start();
    let dir = std::env::temp_dir().join(unique("cloud-unmap-restore"));
    std::fs::create_dir_all(&dir).unwrap();
    for format in [Format::Json, Format::Text, Format::Terminal] {
        let (svc, by_id, by_name, web, log) = removed_by_worker(&proxy, format).await;
        let text = String::from_utf8_lossy(&log);
        match format {
            Format::Json => assert!(text.contains(r#""record":"#), "{text}"),
            Format::Text => assert!(text.contains(r#"record="{\"service_id"#), "{text}"),
            Format::Terminal => assert!(text.contains("\u{1b}[3mrecord"), "{text}"),
        }
        let file = dir.join(format!("{format:?}.log"));
        std::fs::write(&file, &log).unwrap();

        // The deployment's settings carry over: the region from AWS_REGION, the service filter from
        // CLOUD_UNMAP_SERVICE_ID, no region flag at all.
        let out = Cli::subcommand("restore")
            .endpoint(&proxy.endpoint)
            .env("AWS_REGION", HOME_REGION)
            .env("CLOUD_UNMAP_SERVICE_ID", &svc)
            .env("CLOUD_UNMAP_OUTPUT", "json")
            .args(&["--from", file.to_str().unwrap(), "--yes"])
            .output(Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{format:?} {e}: {} {err}", stdout(&out)));
        assert_eq!(out.status.code(), Some(0), "{format:?}: {doc:#} {err}");
        assert_eq!(doc["restored"], 2, "{format:?}: {doc:#}");
        assert_eq!(
            attributes(&svc, &by_id.id).await,
            Some(map(&[
                ("AWS_INSTANCE_IPV4", &by_id.ip),
                ("AWS_INSTANCE_PORT", "80")
            ])),
            "{format:?}"
        );
        assert_eq!(
            attributes(&svc, &web).await,
            Some(map(&[
                ("AWS_EC2_INSTANCE_ID", &by_name.id),
                ("AWS_INSTANCE_IPV4", &by_name.ip)
            ])),
            "{format:?}"
        );
    }
    assert_eq!(
        proxy.state("state").await["register_refused"],
        serde_json::json!([])
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_refuses_a_registration_by_ec2_id_replayed_with_its_listed_attributes() {
    // The control for the test above: what ListInstances shows of a registration by EC2 id cannot
    // be sent back as it is (AWS: InvalidInput), so restore must not replay it verbatim.
    let proxy = Proxy::start();
    let svc = service(&namespace().await).await;
    let one = launch(HOME_REGION, 1).await;
    let sent = cloudmap_via(&proxy)
        .await
        .register_instance()
        .service_id(&svc)
        .instance_id("web-1")
        .attributes("AWS_EC2_INSTANCE_ID", &one[0].id)
        .attributes("AWS_INSTANCE_IPV4", &one[0].ip)
        .send()
        .await;
    let e = sent.unwrap_err();
    let code = e.as_service_error().map(|s| s.is_invalid_input());
    assert_eq!(code, Some(true), "{e:?}");
    assert_eq!(attributes(&svc, "web-1").await, None);
}

#[test]
fn an_input_without_any_record_is_refused_and_says_what_it_reads() {
    let dir = std::env::temp_dir().join(unique("cloud-unmap-restore"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("other.log");
    std::fs::write(&file, "some other program's log\nand another line\n").unwrap();
    let path = file.to_str().unwrap();
    let args = ["restore", "--from", path, "--service-region", HOME_REGION];
    assert_usage_error(&args);
    let out = Cli::bare()
        .endpoint("http://127.0.0.1:9")
        .args(&args)
        .output(Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    for word in ["no undo record in 2 lines", "JSON or text", "audit events"] {
        assert!(err.contains(word), "{word}: {err}");
    }
    // An empty input is nothing to do, not an error.
    std::fs::write(&file, "").unwrap();
    let out = Cli::bare()
        .endpoint("http://127.0.0.1:9")
        .args(&args)
        .output(Duration::from_secs(30));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without --service-region and without AWS_REGION: a usage error naming both.
    assert_usage_error(&["restore", "--from", path]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// One bare record of `instance`'s registration in `service` in a fresh file; its path.
fn record_file(service: &str, instance: &Instance, reason: &str) -> std::path::PathBuf {
    let record = serde_json::json!({"service_id": service, "instance_id": instance.id,
        "attributes": {"AWS_INSTANCE_IPV4": instance.ip}, "reason": reason,
        "trigger": "reconcile", "evidence": [], "time": "2026-12-05T10:00:00Z"});
    let file = std::env::temp_dir().join(unique("cloud-unmap-restore-record"));
    std::fs::write(&file, record.to_string()).unwrap();
    file
}

/// `restore --from FILE --yes` and the extra `args` through `proxy`: exit code and JSON report.
fn restore_from(proxy: &Proxy, file: &std::path::Path, args: &[&str]) -> (Option<i32>, Value) {
    let out = Cli::subcommand("restore")
        .endpoint(&proxy.endpoint)
        .env("AWS_REGION", HOME_REGION)
        .env("CLOUD_UNMAP_OUTPUT", "json")
        .args(&["--from", file.to_str().unwrap(), "--yes"])
        .args(args)
        .output(Duration::from_secs(60));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), doc)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_instance_is_not_put_back_without_force() {
    // Found in review: a stopped instance's registration was put back (a dead endpoint).
    let proxy = Proxy::start();
    let svc = service(&namespace().await).await;
    let one = launch(HOME_REGION, 1).await;
    stop(&ec2(HOME_REGION).await, &[one[0].id.clone()]).await;
    let file = record_file(&svc, &one[0], "stopped");

    let (code, doc) = restore_from(&proxy, &file, &[]);
    assert_eq!(code, Some(3), "{doc:#}");
    assert_eq!(doc["refused"], 1, "{doc:#}");
    let detail = doc["restorations"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("stopped"), "{detail}");
    assert_eq!(registered(&svc).await, Vec::<String>::new());

    let (code, doc) = restore_from(&proxy, &file, &["--force"]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["restored"], 1, "{doc:#}");
    assert_eq!(registered(&svc).await, vec![one[0].id.clone()]);
    std::fs::remove_file(file).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owners_registration_made_after_the_plan_is_left_as_it_is() {
    // Found in review: restore judged, then (after a prompt that can last minutes) registered
    // without reading Cloud Map again; RegisterInstance on an existing id updates it (API
    // reference), so an owner's newer registration got the old attributes back. The proxy holds
    // back the answer of restore's first DescribeInstances (its plan) while the owner registers.
    let proxy = Proxy::start();
    let svc = service(&namespace().await).await;
    let one = launch(HOME_REGION, 1).await;
    let file = record_file(&svc, &one[0], "not-found");
    proxy.state("hold/DescribeInstances/5").await;
    let restore = {
        let (endpoint, file) = (proxy.endpoint.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            Cli::subcommand("restore")
                .endpoint(&endpoint)
                .env("AWS_REGION", HOME_REGION)
                .env("CLOUD_UNMAP_OUTPUT", "json")
                .args(&["--from", file.to_str().unwrap(), "--yes"])
                .output(Duration::from_secs(60))
        })
    };
    proxy.wait_for("DescribeInstances").await;
    let newer = [
        ("AWS_INSTANCE_IPV4", one[0].ip.as_str()),
        ("AWS_INSTANCE_PORT", "8080"),
    ];
    register_named(&svc, &one[0].id, &newer).await;
    let out = restore.await.unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["already_registered"], 1, "{doc:#}");
    assert_eq!(doc["restored"], 0, "{doc:#}");
    assert_eq!(attributes(&svc, &one[0].id).await, Some(map(&newer)));
    std::fs::remove_file(file).unwrap();
}
