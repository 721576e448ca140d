//! The worker under test: a builder for the long-running worker, and the event-path `Setup` (a
//! service with running registered instances, a routed queue, a ready worker).

use super::eventbridge::route_rules_to;
use super::fixtures::{launch, namespace, register_all, service, Instance};
use super::http::wait_http;
use super::moto::{moto, HOME_REGION};
use super::process::{free_port, Cli, Running};
use super::queue::queue_with_dlq;
use super::wait::WAIT;

/// The long-running worker: `Worker::new(port).args(..).spawn()`; `Worker::events(..)` adds the
/// event path's defaults (one service, home region, reconcile only at start, the queue).
pub struct Worker {
    cli: Cli,
}

impl Worker {
    /// The worker with its HTTP server on 127.0.0.1:`port`.
    pub fn new(port: u16) -> Worker {
        Worker {
            cli: Cli::worker().http(port),
        }
    }

    /// The event-path worker of `service` on `queue_url`; the reconcile runs once, at start.
    pub fn events(service: &str, queue_url: &str, port: u16) -> Worker {
        Worker::new(port).args(&home_args(service)).args(&[
            "--frequency",
            "3600",
            "--queue-url",
            queue_url,
        ])
    }

    pub fn args(mut self, args: &[&str]) -> Worker {
        self.cli = self.cli.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Worker {
        self.cli = self.cli.env(key, value);
        self
    }

    /// AWS calls go to `endpoint` (a proxy) instead of moto.
    pub fn endpoint(mut self, endpoint: &str) -> Worker {
        self.cli = self.cli.endpoint(endpoint);
        self
    }

    pub fn spawn(self) -> Running {
        self.cli.spawn()
    }

    pub fn spawn_child(self) -> std::process::Child {
        self.cli.spawn_child()
    }
}

/// A service with registered running instances, a routed queue (redrive after 3 receives,
/// visibility 4 s) and a ready event-path worker.
pub struct Setup {
    pub service: String,
    pub queue: String,
    pub dlq: String,
    pub port: u16,
    pub instances: Vec<Instance>,
    pub worker: Running,
}

/// How a `Setup` is made: `Setup::with(3).through(&proxy.endpoint).args(&[..]).start().await`.
pub struct SetupBuilder {
    instances: i32,
    endpoint: Option<String>,
    args: Vec<String>,
}

impl Setup {
    pub fn with(instances: i32) -> SetupBuilder {
        SetupBuilder {
            instances,
            endpoint: None,
            args: Vec::new(),
        }
    }
}

impl SetupBuilder {
    /// The worker's AWS calls go through `endpoint` (a proxy in front of moto).
    pub fn through(mut self, endpoint: &str) -> Self {
        self.endpoint = Some(endpoint.to_string());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub async fn start(self) -> Setup {
        let ns = namespace().await;
        let service = service(&ns).await;
        let instances = launch(HOME_REGION, self.instances).await;
        register_all(&service, &instances).await;
        let q = queue_with_dlq(3, 4).await;
        route_rules_to(&q.arn).await;
        let port = free_port();
        let endpoint = self.endpoint.unwrap_or_else(|| moto().endpoint.clone());
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let worker = Worker::events(&service, &q.url, port)
            .endpoint(&endpoint)
            .args(&args)
            .spawn();
        wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
        Setup {
            service,
            queue: q.url,
            dlq: q.dlq,
            port,
            instances,
            worker,
        }
    }
}

/// Cloud Map and EC2 in the home region.
pub const REGION_ARGS: [&str; 4] = [
    "--service-region",
    HOME_REGION,
    "--instances-region",
    HOME_REGION,
];

/// The flags that select `service` in the home region, with instances looked up there too.
pub fn home_args(service: &str) -> [&str; 6] {
    [
        "--service-id",
        service,
        "--service-region",
        HOME_REGION,
        "--instances-region",
        HOME_REGION,
    ]
}
