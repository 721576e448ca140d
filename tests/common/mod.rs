//! Test rig shared by the integration tests: one moto server per test binary on a free loopback
//! port (it stops when the test process ends), SDK clients pointed at it, fixtures built with the
//! real SDK, and a runner for the real `cloud-unmap` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ec2::types::{InstanceMarketOptionsRequest, InstanceType, MarketType};

pub const HOME_REGION: &str = "us-east-1";
pub const OTHER_REGION: &str = "eu-west-1";
pub const MEMBER_ROLE: &str = "arn:aws:iam::222222222222:role/cloud-unmap-reader";

/// A moto server process; its stdin is held open for as long as the test process lives.
pub struct Moto {
    pub endpoint: String,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has moto: `CLOUD_UNMAP_PYTHON`, else the repo's `.venv` (made by `make test`).
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("CLOUD_UNMAP_PYTHON") {
        return PathBuf::from(p);
    }
    let p = repo().join(".venv/bin/python");
    assert!(
        p.exists(),
        "no {} : run `make venv` (or `make test`) first to install moto",
        p.display()
    );
    p
}

/// The shared moto server of this test binary, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let mut child = Command::new(python())
            .arg(repo().join("scripts/moto_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("moto prints its port");
        let port: u16 = line.trim().parse().expect("moto port");
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
        }
    })
}

/// A name unique within this test process (moto's state is shared by the tests of one binary).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub async fn config(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::v2026_01_12())
        .region(Region::new(region.to_string()))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// Configuration acting in the member account (222222222222) through AssumeRole.
pub async fn member_config(region: &str) -> SdkConfig {
    let home = config(region).await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(MEMBER_ROLE)
        .configure(&home)
        .session_name("fixture")
        .build()
        .await;
    home.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

pub async fn cloudmap() -> aws_sdk_servicediscovery::Client {
    aws_sdk_servicediscovery::Client::new(&config(HOME_REGION).await)
}

pub async fn ec2(region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&config(region).await)
}

/// Creates an HTTP namespace and returns its id.
pub async fn namespace() -> String {
    let sd = cloudmap().await;
    let op = sd
        .create_http_namespace()
        .name(unique("ns"))
        .send()
        .await
        .unwrap()
        .operation_id()
        .unwrap()
        .to_string();
    let out = sd.get_operation().operation_id(op).send().await.unwrap();
    out.operation()
        .unwrap()
        .targets()
        .unwrap()
        .get(&aws_sdk_servicediscovery::types::OperationTargetType::Namespace)
        .unwrap()
        .clone()
}

/// Creates a service in `ns` and returns its id.
pub async fn service(ns: &str) -> String {
    cloudmap()
        .await
        .create_service()
        .name(unique("svc"))
        .namespace_id(ns)
        .send()
        .await
        .unwrap()
        .service()
        .unwrap()
        .id()
        .unwrap()
        .to_string()
}

/// A launched instance: id and primary private IPv4.
#[derive(Clone, Debug)]
pub struct Instance {
    pub id: String,
    pub ip: String,
}

pub async fn launch_with(client: &aws_sdk_ec2::Client, count: i32, spot: bool) -> Vec<Instance> {
    let mut req = client
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::T3Micro)
        .min_count(count)
        .max_count(count);
    if spot {
        req = req.instance_market_options(
            InstanceMarketOptionsRequest::builder()
                .market_type(MarketType::Spot)
                .build(),
        );
    }
    let out = req.send().await.unwrap();
    out.instances()
        .iter()
        .map(|i| Instance {
            id: i.instance_id().unwrap().to_string(),
            ip: i.private_ip_address().unwrap().to_string(),
        })
        .collect()
}

pub async fn launch(region: &str, count: i32) -> Vec<Instance> {
    launch_with(&ec2(region).await, count, false).await
}

pub async fn terminate(client: &aws_sdk_ec2::Client, ids: &[String]) {
    client
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .unwrap();
}

pub async fn stop(client: &aws_sdk_ec2::Client, ids: &[String]) {
    client
        .stop_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .unwrap();
}

/// Registers `id` in `service` with `AWS_INSTANCE_IPV4 = ip` (or no IPv4 attribute).
pub async fn register(service: &str, id: &str, ip: Option<&str>) {
    let sd = cloudmap().await;
    let mut req = sd
        .register_instance()
        .service_id(service)
        .instance_id(id)
        .attributes("AWS_INSTANCE_PORT", "80");
    if let Some(ip) = ip {
        req = req.attributes("AWS_INSTANCE_IPV4", ip);
    }
    req.send().await.unwrap();
}

pub async fn register_all(service: &str, instances: &[Instance]) {
    for i in instances {
        register(service, &i.id, Some(&i.ip)).await;
    }
}

/// The instance ids registered in `service`, sorted.
pub async fn registered(service: &str) -> Vec<String> {
    let regs = cloud_unmap::registry::list_registrations(&cloudmap().await, service)
        .await
        .unwrap();
    let mut ids: Vec<String> = regs.into_iter().map(|r| r.instance_id).collect();
    ids.sort();
    ids
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

pub fn ids(instances: &[Instance]) -> Vec<String> {
    instances.iter().map(|i| i.id.clone()).collect()
}

/// The `cloud-unmap` binary with the AWS environment pointed at moto and no CLOUD_UNMAP_* leaking in.
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloud-unmap"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CLOUD_UNMAP_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "")
        .arg("--log-format")
        .arg("json");
    cmd
}

/// Runs the binary to completion (bounded) and returns its output.
pub fn run(args: &[&str]) -> Output {
    let child = binary()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, Duration::from_secs(120))
}

pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("cloud-unmap did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The JSON log lines with the given message.
pub fn log_lines(o: &Output, message: &str) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == message)
        .collect()
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends SIGTERM to a child process.
pub fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}

/// GETs `path` from the worker's HTTP server on `port`.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    cloud_unmap::healthcheck::get(port, path, Duration::from_secs(2))
        .await
        .ok()
}

/// Polls `path` until `pred` holds (or panics after `limit`).
pub async fn wait_http(
    port: u16,
    path: &str,
    limit: Duration,
    pred: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some((status, body)) = http_get(port, path).await {
            if pred(status, &body) {
                return (status, body);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never satisfied the condition"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
