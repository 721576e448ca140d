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

/// Reads a pipe to its end on a thread of its own, so a chatty child never blocks on a full pipe.
fn collect<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits (bounded) for a child whose stdout/stderr are piped (and not yet taken), draining both.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let out = collect(child.stdout.take());
    let err = collect(child.stderr.take());
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("cloud-unmap did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A running worker whose output is drained continuously (see `collect`).
pub struct Running {
    pub child: Child,
    out: Option<std::thread::JoinHandle<Vec<u8>>>,
    err: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Running {
    pub fn new(mut child: Child) -> Running {
        let out = Some(collect(child.stdout.take()));
        let err = Some(collect(child.stderr.take()));
        Running { child, out, err }
    }

    /// SIGTERM, then wait (bounded) for the exit; returns the whole output.
    pub fn terminate(mut self, limit: Duration) -> Output {
        sigterm(&self.child);
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("cloud-unmap did not stop within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: self.out.take().unwrap().join().unwrap(),
            stderr: self.err.take().unwrap().join().unwrap(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
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
        let last = http_get(port, path).await;
        if let Some((status, body)) = &last {
            if pred(*status, body) {
                return (*status, body.clone());
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never satisfied the condition; last answer: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Event path: queues, EventBridge rules (from the repo's event-rules.json), events, the proxy.

/// A loopback proxy in front of moto (scripts/aws_proxy.py): answers CompleteLifecycleAction,
/// counts calls, simulates outages. Stops when the test process ends.
pub struct Proxy {
    pub endpoint: String,
    pub port: u16,
    _child: Child,
    _stdin: ChildStdin,
}

impl Proxy {
    pub fn start() -> Proxy {
        let upstream = moto().endpoint.rsplit(':').next().unwrap().to_string();
        let mut child = Command::new(python())
            .arg(repo().join("scripts/aws_proxy.py"))
            .arg(upstream)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start proxy");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _child: child,
            _stdin: stdin,
        }
    }

    pub async fn state(&self, action: &str) -> serde_json::Value {
        let (status, body) = http_get(self.port, &format!("/__proxy/{action}"))
            .await
            .expect("proxy answers");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&config(HOME_REGION).await)
}

/// A queue with a dead-letter queue (redrive after `max_receive` receives) and a short visibility
/// timeout, so retried messages come back quickly. Returns (queue url, queue arn, dlq url).
pub async fn queue_with_dlq(max_receive: u32, visibility_s: u32) -> (String, String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = sqs().await;
    let dlq = sqs
        .create_queue()
        .queue_name(unique("dlq"))
        .send()
        .await
        .unwrap();
    let dlq_url = dlq.queue_url().unwrap().to_string();
    let dlq_arn = queue_arn(&dlq_url).await;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
            .to_string();
    let q = sqs
        .create_queue()
        .queue_name(unique("events"))
        .attributes(A::RedrivePolicy, redrive)
        .attributes(A::VisibilityTimeout, visibility_s.to_string())
        .send()
        .await
        .unwrap();
    let url = q.queue_url().unwrap().to_string();
    let arn = queue_arn(&url).await;
    (url, arn, dlq_url)
}

pub async fn queue_arn(url: &str) -> String {
    sqs()
        .await
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone()
}

/// Messages currently in a queue (visible + in flight).
pub async fn queue_depth(url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs()
        .await
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().unwrap();
    let n = |k: &A| attrs.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        n(&A::ApproximateNumberOfMessages),
        n(&A::ApproximateNumberOfMessagesNotVisible),
    )
}

pub async fn send_raw(url: &str, body: &str) {
    sqs()
        .await
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// One AWS JSON-1.1 call over plain HTTP (EventBridge has no SDK among this crate's dependencies;
/// moto does not check signatures).
pub async fn aws_json(target: &str, body: &serde_json::Value) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // moto's EventBridge is not safe against concurrent rule changes and PutEvents (it answers 500
    // when one test adds a rule while another puts an event): the tests of a binary take turns.
    static EVENTBRIDGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = EVENTBRIDGE.lock().await;
    let port: u16 = moto().endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let payload = body.to_string();
    let request = format!(
        "POST / HTTP/1.0\r\nHost: events.{HOME_REGION}.amazonaws.com\r\nX-Amz-Target: {target}\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/{HOME_REGION}/events/aws4_request, SignedHeaders=host, Signature=x\r\n\
         Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{target}: {text}"
    );
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// Creates, on the default bus, every rule of the repo's event-rules.json, each targeting the queue.
pub async fn route_rules_to(queue_arn: &str) {
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("event-rules.json")).unwrap())
            .unwrap();
    for rule in file["rules"].as_array().unwrap() {
        let name = unique(rule["name"].as_str().unwrap());
        aws_json(
            "AWSEvents.PutRule",
            &serde_json::json!({"Name": name, "EventPattern": rule["pattern"].to_string(), "State": "ENABLED"}),
        )
        .await;
        aws_json(
            "AWSEvents.PutTargets",
            &serde_json::json!({"Rule": name, "Targets": [{"Id": "queue", "Arn": queue_arn}]}),
        )
        .await;
    }
}

/// PutEvents of one event (EventBridge routes it through the rules).
pub async fn put_event(source: &str, detail_type: &str, detail: serde_json::Value) {
    let out = aws_json(
        "AWSEvents.PutEvents",
        &serde_json::json!({"Entries": [{"Source": source, "DetailType": detail_type, "Detail": detail.to_string()}]}),
    )
    .await;
    assert_eq!(out["FailedEntryCount"], 0, "{out}");
}

pub async fn put_state_change(instance_id: &str, state: &str) {
    put_event(
        "aws.ec2",
        "EC2 Instance State-change Notification",
        serde_json::json!({"instance-id": instance_id, "state": state}),
    )
    .await;
}

/// Polls until the service's registrations satisfy `pred` (panics after `limit`).
pub async fn wait_registered(
    service: &str,
    limit: Duration,
    pred: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let now = registered(service).await;
        if pred(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "registrations never got there: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The worker in long-running mode with the event loop on; reconcile only at start.
pub fn event_worker(
    service_args: &[&str],
    queue_url: &str,
    endpoint: &str,
    port: u16,
    extra: &[&str],
) -> Running {
    let child = binary()
        .env("AWS_ENDPOINT_URL", endpoint)
        .args(service_args)
        .args([
            "--service-region",
            HOME_REGION,
            "--instances-region",
            HOME_REGION,
            "--frequency",
            "3600",
        ])
        .args([
            "--queue-url",
            queue_url,
            "--prometheus-host",
            "127.0.0.1",
            "--prometheus-port",
            &port.to_string(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running::new(child)
}

/// Reads a counter/gauge value from /metrics (0 when absent).
pub async fn metric(port: u16, series: &str) -> f64 {
    let (_, body) = http_get(port, "/metrics")
        .await
        .unwrap_or((0, String::new()));
    body.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// How long event-path tests wait for an outcome.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Setup {
    pub service: String,
    pub queue: String,
    pub dlq: String,
    pub port: u16,
}

/// A service with `n` registered running instances, a routed queue (redrive after 3 receives,
/// visibility 4 s) and a worker pointed at `endpoint` (moto itself unless a proxy is given).
pub async fn setup(
    n: i32,
    endpoint: Option<&str>,
    extra: &[&str],
) -> (Setup, Vec<Instance>, Running) {
    let ns = namespace().await;
    let service = service(&ns).await;
    let inst = launch(HOME_REGION, n).await;
    register_all(&service, &inst).await;
    let (queue, arn, dlq) = queue_with_dlq(3, 4).await;
    route_rules_to(&arn).await;
    let port = free_port();
    let endpoint = endpoint
        .map(str::to_string)
        .unwrap_or_else(|| moto().endpoint.clone());
    let child = event_worker(&["--service-id", &service], &queue, &endpoint, port, extra);
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    (
        Setup {
            service,
            queue,
            dlq,
            port,
        },
        inst,
        child,
    )
}

/// The worker in long-running mode with its HTTP server on 127.0.0.1:`port`, output drained.
pub fn http_worker(args: &[&str], port: u16) -> Running {
    Running::new(spawn_http_worker(args, port))
}

/// The same, as a bare child (for tests that read its output themselves).
pub fn spawn_http_worker(args: &[&str], port: u16) -> Child {
    binary()
        .args(args)
        .args([
            "--prometheus-host",
            "127.0.0.1",
            "--prometheus-port",
            &port.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the binary with `args` against a closed endpoint (so any AWS call would fail with exit 1)
/// and asserts the usage contract: exit 2, one line on stderr, nothing on stdout.
pub fn assert_usage_error(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_cloud-unmap"))
        .args(args)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}");
}
