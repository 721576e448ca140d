//! What an operator reads: usage errors that keep their point in one line (the missing argument, the
//! allowed values, the tip, the environment variable that held the value), output into a closed
//! pipe that ends quietly (exit code kept, no panic), and permanent AWS failures (a missing queue,
//! no credentials, AccessDenied) that say so in `/readyz` at once and are logged once, as one line.
//! AccessDenied is answered by the test proxy as AWS answers it (moto enforces no IAM).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Runs the binary with `args` (and `env`) against a closed endpoint; returns its exit code and
/// its stderr, after checking the usage contract (exit 2, one line, nothing on stdout).
fn usage(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cli = Cli::bare().endpoint("http://127.0.0.1:9").args(args);
    for (k, v) in env {
        cli = cli.env(k, v);
    }
    let out = cli.output(Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}");
    err
}

#[test]
fn a_usage_error_keeps_its_point_in_one_line() {
    let err = usage(&["restore"], &[]);
    assert!(
        err.contains("--from <FILE>"),
        "names the missing argument: {err}"
    );

    let err = usage(&["check", "--output", "jsn"], &[]);
    assert!(
        err.contains("[possible values: text, json]") && err.contains("'json'"),
        "allowed values and the tip: {err}"
    );

    let err = usage(&["--servce-id", "srv-abcdef0123456789"], &[]);
    assert!(err.contains("--service-id"), "did you mean: {err}");

    // A value read from the environment names the variable, not a flag nobody typed.
    let err = usage(
        &["--service-id", "srv-abcdef0123456789"],
        &[("CLOUD_UNMAP_SINGLE_RUN", "yes")],
    );
    assert!(
        err.contains("'yes'") && err.contains("CLOUD_UNMAP_SINGLE_RUN"),
        "{err}"
    );
    let err = usage(
        &[
            "--service-region",
            "eu-west-1",
            "--instances-region",
            "eu-west-1",
        ],
        &[("CLOUD_UNMAP_SERVICE_ID", "not-a-service")],
    );
    assert!(err.contains("CLOUD_UNMAP_SERVICE_ID"), "{err}");
    // Typed on the command line, the flag is the one to blame.
    let err = usage(&["--single-run=yes"], &[("CLOUD_UNMAP_SINGLE_RUN", "yes")]);
    assert!(!err.contains("CLOUD_UNMAP_SINGLE_RUN"), "{err}");
}

/// Runs `cloud-unmap ARGS` under bash with its stdout (or, `stderr`, its stderr) into a pipe whose
/// reader has already gone, as `| head` leaves it; returns its exit code and what it wrote on the
/// other stream.
fn into_closed_pipe(args: &[&str], endpoint: &str, stderr: bool) -> (i32, String) {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let redirect = if stderr {
        "2>&1 >/dev/null"
    } else {
        "2>\"$ERR\""
    };
    // The reader (`true`) is gone before the binary starts: every write meets a closed pipe.
    let script = format!(
        "{{ sleep 0.3; \"$BIN\" {} {redirect}; }} | true; echo \"${{PIPESTATUS[0]}}\"",
        quoted.join(" ")
    );
    let dir = std::env::temp_dir().join(moto::unique("pipe"));
    std::fs::create_dir_all(&dir).unwrap();
    let err_file = dir.join("stderr");
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("BIN", env!("CARGO_BIN_EXE_cloud-unmap"))
        .env("ERR", &err_file)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (code, std::fs::read_to_string(&err_file).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_the_output_quietly_and_keeps_the_exit_code() {
    let ns = namespace().await;
    let service = service(&ns).await;
    let instances = launch(HOME_REGION, 1).await;
    register_all(&service, &instances).await;
    let endpoint = &moto().endpoint;
    let check = [
        "check",
        "--service-id",
        &service,
        "--service-region",
        HOME_REGION,
        "--instances-region",
        HOME_REGION,
        "--output",
        "json",
    ];
    let (code, err) = into_closed_pipe(&check, endpoint, false);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(code, 0, "the report's exit code, not a panic's 101: {err}");

    // restore … | head: the records are still restored when nobody reads the report.
    let id = &instances[0].id;
    let record = serde_json::json!({"service_id": service, "instance_id": id,
        "attributes": {"AWS_INSTANCE_IPV4": instances[0].ip}, "reason": "terminated",
        "trigger": "event", "evidence": [], "time": "2026-11-24T02:00:00Z"});
    let path = std::env::temp_dir().join(moto::unique("records"));
    std::fs::write(&path, format!("{record}\n")).unwrap();
    let file = path.to_string_lossy().to_string();
    deregister(&service, id).await;
    let restore = [
        "restore",
        "--from",
        &file,
        "--service-region",
        HOME_REGION,
        "--instances-region",
        HOME_REGION,
        "--yes",
    ];
    let (code, err) = into_closed_pipe(&restore, endpoint, false);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(code, 0, "{err}");
    assert_eq!(registered(&service).await, vec![id.clone()]);

    // A usage error into a closed stderr: still exit 2, no panic.
    let (code, _) = into_closed_pipe(&["restore"], endpoint, true);
    assert_eq!(code, 2);
}

async fn deregister(service: &str, id: &str) {
    cloudmap()
        .await
        .deregister_instance()
        .service_id(service)
        .instance_id(id)
        .send()
        .await
        .unwrap();
}

/// Starts the event-path worker of a fresh service on `queue_url` through `endpoint`, waits until
/// `/readyz` names `cause`, and returns the reason, how long it took and the worker's output.
async fn unready_because(
    queue_url: &str,
    endpoint: &str,
    cause: &str,
    env_remove: &[&str],
) -> (String, std::process::Output) {
    let ns = namespace().await;
    let service = service(&ns).await;
    let port = free_port();
    let mut cli = Cli::worker()
        .http(port)
        .endpoint(endpoint)
        .args(&home_args(&service))
        .args(&["--frequency", "3600", "--queue-url", queue_url]);
    for k in env_remove {
        cli = cli.env_remove(k);
    }
    if !env_remove.is_empty() {
        cli = cli
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    }
    let running = cli.spawn();
    let started = Instant::now();
    let (status, body) = wait_http(port, "/readyz", Duration::from_secs(15), |_, body| {
        body.contains(cause)
    })
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "known at once, not after a backoff: {:?}",
        started.elapsed()
    );
    let reason: serde_json::Value = serde_json::from_str(&body).unwrap();
    let out = running.terminate(Duration::from_secs(30));
    (reason["reason"].as_str().unwrap().to_string(), out)
}

/// The worker's log lines about the queue that cannot be read, with the AWS error they carry.
fn blocked_lines(out: &std::process::Output) -> Vec<String> {
    log_lines(out, "the event queue cannot be read, and waiting will not fix it; events wait in the queue (see /readyz)")
        .iter()
        .map(|l| l["error"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_queue_makes_the_worker_unready_with_the_cause_logged_once_in_one_line() {
    let q = queue_with_dlq(3, 30).await;
    let missing = format!("{}-deleted", q.url);
    let (reason, out) = unready_because(&missing, &moto().endpoint, "does not exist", &[]).await;
    assert!(
        reason.starts_with("the event queue cannot be read: it does not exist"),
        "{reason}"
    );
    let lines = blocked_lines(&out);
    assert_eq!(lines.len(), 1, "logged once, not at every retry: {lines:?}");
    let line = &lines[0];
    assert!(
        line.starts_with("ReceiveMessage failed: ") && line.contains("NonExistentQueue")
            || line.contains("QueueDoesNotExist"),
        "{line}"
    );
    assert!(
        line.len() < 400 && !line.contains('\n') && !line.contains("DispatchFailure"),
        "one line, no SDK dump: {line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_on_the_queue_reads_as_a_permission_problem() {
    let proxy = Proxy::start();
    proxy.state("deny/ReceiveMessage").await;
    let q = queue_with_dlq(3, 30).await;
    let (reason, out) = unready_because(&q.url, &proxy.endpoint, "permission denied", &[]).await;
    assert!(
        reason.contains("AccessDenied"),
        "AWS's code is kept: {reason}"
    );
    assert_eq!(blocked_lines(&out).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credentials_read_as_credentials_and_a_single_run_fails_at_once() {
    let q = queue_with_dlq(3, 30).await;
    let none = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ];
    let (reason, _) =
        unready_because(&q.url, &moto().endpoint, "no valid AWS credentials", &none).await;
    assert!(reason.contains("(credentials)"), "{reason}");

    let ns = namespace().await;
    let service = service(&ns).await;
    let mut cli = Cli::worker()
        .args(&home_args(&service))
        .args(&["--single-run"])
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    for k in none {
        cli = cli.env_remove(k);
    }
    let started = Instant::now();
    let out = cli.output(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let failed = log_lines(&out, "reconcile failed");
    assert_eq!(failed.len(), 1, "{}", stdout(&out));
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("ListInstances failed: ") && error.contains("no credentials"),
        "{error}"
    );
    assert!(
        error.len() < 300 && !error.contains("ProviderChainError") && !error.contains("Attempted"),
        "one line, the SDK's chain only at DEBUG: {error}"
    );
}
