//! The HTTP server: `/metrics` (Prometheus), `/healthz` (liveness), `/readyz` (readiness). Read-only:
//! nothing it serves changes state; bounded: a connection limit and a header-read timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::telemetry::health::Health;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub health: Arc<Health>,
    /// `cloud_unmap_ready`, set from `health` at each scrape.
    pub ready: prometheus_client::metrics::gauge::Gauge,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response {
    let ready = state.health.readiness(Instant::now()).ready;
    state.ready.set(i64::from(ready));
    (
        [(header::CONTENT_TYPE, OPENMETRICS)],
        crate::telemetry::metrics::render(&state.registry),
    )
        .into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.health.liveness(Instant::now()) {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.health.readiness(Instant::now());
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

/// Binds `host:port` (so a taken port fails start-up) and returns the address actually bound.
pub async fn bind(host: &str, port: u16) -> Result<tokio::net::TcpListener, Error> {
    let address = format!("{host}:{port}");
    tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| Error::Listen { address, source })
}

/// Connections served at once. One beyond the limit is closed as soon as it is accepted: file
/// descriptors stay bounded under thousands of clients, and the server serves again as soon as
/// slow ones are shed (instead of working through a backlog of them).
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this time (slowloris), also on a kept-alive
/// connection waiting for its next request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections in progress may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves until `shutdown` is cancelled: HTTP/1.1 through hyper, at most `MAX_CONNECTIONS`
/// connections at once, each with `HEADER_READ_TIMEOUT`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) {
    let app = router(state);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was accepted: pause.
                    tracing::warn!(%error, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!("HTTP connection limit reached; connection closed");
            continue;
        };
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or times out is not an error of ours.
            let _ = connection.await;
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::time::Duration;
    use tower::ServiceExt;

    fn state() -> AppState {
        let metrics = crate::telemetry::metrics::Metrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics
            .up
            .get_or_create(&crate::telemetry::metrics::Metrics::service("srv-x"))
            .set(1);
        AppState {
            ready: metrics.ready.clone(),
            registry: Arc::new(registry),
            health: Arc::new(Health::new(
                Duration::from_secs(60),
                Duration::from_secs(300),
            )),
        }
    }

    async fn get(state: AppState, path: &str) -> (StatusCode, String) {
        let resp = router(state)
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn metrics_are_served_in_openmetrics_text() {
        let (status, body) = get(state(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("aws_cloud_unmap_up{service_id=\"srv-x\"} 1"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn readyz_is_503_with_a_reason_until_services_reconcile() {
        let st = state();
        let (status, body) = get(st.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"ready\":false"), "{body}");
        st.health.select(&["srv-x".into()]);
        st.health.success("srv-x", Instant::now());
        let (status, body) = get(st, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn healthz_and_unknown_paths_and_methods() {
        let st = state();
        assert_eq!(get(st.clone(), "/healthz").await.0, StatusCode::OK);
        assert_eq!(get(st.clone(), "/nope").await.0, StatusCode::NOT_FOUND);
        let resp = router(st.clone())
            .oneshot(Request::post("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        st.health.stop();
        assert_eq!(get(st, "/healthz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
}
