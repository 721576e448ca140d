//! The worker's HTTP endpoints as a test reads them: one GET, polling until a condition, metrics.

use std::time::Duration;

use super::wait::eventually;

/// GETs `path` from the worker's HTTP server on 127.0.0.1:`port`.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    cloud_unmap::commands::healthcheck::get(port, path, Duration::from_secs(2))
        .await
        .ok()
}

/// Polls `path` until `pred` holds for its status and body.
pub async fn wait_http(
    port: u16,
    path: &str,
    limit: Duration,
    pred: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    eventually(limit, path, || async {
        match http_get(port, path).await {
            Some((status, body)) if pred(status, &body) => Ok((status, body)),
            last => Err(format!("{last:?}")),
        }
    })
    .await
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
