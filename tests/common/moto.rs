//! moto's server, one per test binary on a free loopback port (it stops when the test process
//! ends), and SDK configuration and clients pointed at it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};

pub const HOME_REGION: &str = "us-east-1";
pub const OTHER_REGION: &str = "eu-west-1";
pub const MEMBER_ROLE: &str = "arn:aws:iam::222222222222:role/cloud-unmap-reader";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has moto: `CLOUD_UNMAP_PYTHON`, else the repo's `.venv` (made by `make test`).
pub fn python() -> PathBuf {
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

/// One of our loopback servers (`scripts/*.py`): it prints its port, and stops when its stdin
/// closes, i.e. when the test process ends.
pub struct LoopbackServer {
    pub endpoint: String,
    pub port: u16,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

impl LoopbackServer {
    pub fn start(script: &str, args: &[&str]) -> LoopbackServer {
        let mut child = Command::new(python())
            .arg(repo().join("scripts").join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{script} prints its port: {e}"));
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{script} printed {line:?}, not a port"));
        LoopbackServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
        }
    }
}

/// The shared moto server of this test binary, started on first use.
pub fn moto() -> &'static LoopbackServer {
    static MOTO: OnceLock<LoopbackServer> = OnceLock::new();
    MOTO.get_or_init(|| LoopbackServer::start("moto_server.py", &[]))
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

pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&config(HOME_REGION).await)
}
