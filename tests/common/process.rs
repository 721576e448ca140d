//! The real `cloud-unmap` binary in a test: one spawner (`Cli`) with the AWS environment pointed at
//! an endpoint and nothing leaking in from the caller's, bounded waits for its exit, its output.

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::moto::moto;

/// How the binary is run: `Cli::worker().args(..).output(limit)` or `.spawn()`.
pub struct Cli {
    cmd: Command,
}

/// The binary under test: `CLOUD_UNMAP_TEST_BINARY` when set (a checkout whose target directory is
/// shared with other checkouts pins its own build: cargo copies every checkout's binary to the
/// same `target/debug/cloud-unmap`), else the one cargo built for these tests.
pub fn binary() -> String {
    std::env::var("CLOUD_UNMAP_TEST_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_cloud-unmap").to_string())
}

impl Cli {
    /// The bare binary: AWS environment pointed at moto, no `CLOUD_UNMAP_*`/`AWS_*` of the caller.
    pub fn bare() -> Cli {
        let mut cmd = Command::new(binary());
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
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Cli { cmd }
    }

    /// The worker, logging JSON lines (what `log_lines` reads).
    pub fn worker() -> Cli {
        Cli::bare().args(&["--log-format", "json"])
    }

    /// A subcommand with its own flags: `Cli::subcommand("decommission")`.
    pub fn subcommand(name: &str) -> Cli {
        Cli::bare().args(&[name])
    }

    pub fn args(mut self, args: &[&str]) -> Cli {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Cli {
        self.cmd.env(key, value);
        self
    }

    /// Leaves `key` out of its environment (no credentials, say).
    pub fn env_remove(mut self, key: &str) -> Cli {
        self.cmd.env_remove(key);
        self
    }

    /// Sends AWS calls to `endpoint` (a proxy in front of moto) instead of moto.
    pub fn endpoint(self, endpoint: &str) -> Cli {
        self.env("AWS_ENDPOINT_URL", endpoint)
    }

    /// Serves HTTP on 127.0.0.1:`port`.
    pub fn http(self, port: u16) -> Cli {
        let port = port.to_string();
        self.args(&["--prometheus-host", "127.0.0.1", "--prometheus-port", &port])
    }

    /// Runs it on a pseudo-terminal (util-linux `script`), as an operator's shell would: its
    /// stdout is a terminal, so text logs carry colours (and lines end in CR LF).
    pub fn in_terminal(self) -> Cli {
        let quote =
            |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
        let line: Vec<String> = std::iter::once(self.cmd.get_program())
            .chain(self.cmd.get_args())
            .map(quote)
            .collect();
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line.join(" "), "/dev/null"]);
        for (k, v) in self.cmd.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Cli { cmd }
    }

    /// Starts it; its output is drained continuously.
    pub fn spawn(self) -> Running {
        Running::new(self.spawn_child())
    }

    /// Starts it as a bare child, for tests that read its output themselves.
    pub fn spawn_child(mut self) -> Child {
        self.cmd.spawn().expect("start cloud-unmap")
    }

    /// Runs it to completion (bounded) and returns its output.
    pub fn output(self, limit: Duration) -> Output {
        self.spawn().wait(limit)
    }
}

/// Runs the worker with `args` to completion (bounded by 120 s).
pub fn run(args: &[&str]) -> Output {
    Cli::worker().args(args).output(Duration::from_secs(120))
}

/// Reads a pipe to its end on a thread of its own, so a chatty child never blocks on a full pipe.
fn collect<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for a child's exit, killing it and failing the test after `limit`.
fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cloud-unmap did not {what} within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running binary whose output is drained continuously.
pub struct Running {
    pub child: Child,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
}

impl Running {
    pub fn new(mut child: Child) -> Running {
        let out = Some(collect(child.stdout.take()));
        let err = Some(collect(child.stderr.take()));
        Running { child, out, err }
    }

    fn finish(mut self, status: ExitStatus) -> Output {
        Output {
            status,
            stdout: self.out.take().unwrap().join().unwrap(),
            stderr: self.err.take().unwrap().join().unwrap(),
        }
    }

    /// Waits (bounded) for it to exit by itself; returns the whole output.
    pub fn wait(mut self, limit: Duration) -> Output {
        let status = wait_exit(&mut self.child, limit, "finish");
        self.finish(status)
    }

    /// SIGTERM, then waits (bounded) for the exit; returns the whole output.
    pub fn terminate(mut self, limit: Duration) -> Output {
        sigterm(&self.child);
        let status = wait_exit(&mut self.child, limit, "stop after SIGTERM");
        self.finish(status)
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
/// The `(a, b)` fields of every JSON log line with `message`, sorted.
pub fn log_pairs(o: &Output, message: &str, a: &str, b: &str) -> Vec<(String, String)> {
    let field = |l: &serde_json::Value, k: &str| l[k].as_str().unwrap_or_default().to_string();
    let mut pairs: Vec<(String, String)> = log_lines(o, message)
        .iter()
        .map(|l| (field(l, a), field(l, b)))
        .collect();
    pairs.sort();
    pairs
}

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

/// Runs the binary with `args` against a closed endpoint (so any AWS call would fail with exit 1)
/// and asserts the usage contract: exit 2, one line on stderr, nothing on stdout.
pub fn assert_usage_error(args: &[&str]) {
    let out = Cli::bare()
        .endpoint("http://127.0.0.1:9")
        .args(args)
        .output(Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}");
}
