//! `cloud-unmap healthcheck`: a tiny HTTP/1.0 client for container health checks (distroless images
//! have no curl): exit 0 when `GET /healthz` on the local port answers 200.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GETs `path` from 127.0.0.1:`port` and returns the status code and body.
pub async fn get(port: u16, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let work = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.take(1 << 20).read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response")
            })?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))?
}

/// Exit code of the healthcheck subcommand.
pub async fn run(port: u16, timeout: Duration) -> i32 {
    match get(port, "/healthz", timeout).await {
        Ok((200, _)) => 0,
        Ok((status, body)) => {
            eprintln!("unhealthy: /healthz answered {status}: {}", body.trim());
            1
        }
        Err(e) => {
            eprintln!("unhealthy: cannot reach 127.0.0.1:{port}/healthz: {e}");
            1
        }
    }
}
