//! The loopback test proxy in front of moto (scripts/aws_proxy.py): answers what moto lacks as AWS
//! does (CompleteLifecycleAction, heartbeats, Terminating:Wait), counts calls, holds answers back,
//! injects faults. Stops when the test process ends.

use super::http::http_get;
use super::moto::{moto, LoopbackServer};

pub struct Proxy {
    pub endpoint: String,
    pub port: u16,
    _server: LoopbackServer,
}

impl Proxy {
    pub fn start() -> Proxy {
        let upstream = moto().port.to_string();
        let server = LoopbackServer::start("aws_proxy.py", &[&upstream]);
        Proxy {
            endpoint: server.endpoint.clone(),
            port: server.port,
            _server: server,
        }
    }

    /// The proxy's own control and state endpoints: `/__proxy/{action}`.
    pub async fn state(&self, action: &str) -> serde_json::Value {
        let (status, body) = http_get(self.port, &format!("/__proxy/{action}"))
            .await
            .expect("proxy answers");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until the proxy has seen `operation` at least once (a caller is then in that call).
    pub async fn wait_for(&self, operation: &str) {
        super::wait::eventually(super::wait::WAIT, operation, || async {
            let n = self.state("state").await["counts"][operation].as_u64();
            n.filter(|n| *n >= 1).map(|_| ()).ok_or(format!("{n:?}"))
        })
        .await
    }

    /// The recorded CompleteLifecycleAction calls carrying `token`.
    pub async fn completions(&self, token: &str) -> Vec<serde_json::Value> {
        self.calls("lifecycle_actions", token).await
    }

    /// The recorded RecordLifecycleActionHeartbeat calls carrying `token`.
    pub async fn heartbeats(&self, token: &str) -> Vec<serde_json::Value> {
        self.calls("heartbeats", token).await
    }

    async fn calls(&self, kind: &str, token: &str) -> Vec<serde_json::Value> {
        let state = self.state("state").await;
        state[kind]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["LifecycleActionToken"] == token)
            .cloned()
            .collect()
    }
}
