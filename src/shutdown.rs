//! Shutdown: SIGINT/SIGTERM cancel one root token; tasks live in a `TaskTracker`, and the process
//! waits for them for at most the grace period.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// Cancels `token` on the first SIGINT or SIGTERM (the binary may be PID 1 in a container, where
/// the default signal dispositions do nothing, so both are handled explicitly).
pub fn on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let name = wait_for_signal().await;
        info!(
            signal = name,
            "shutting down: finishing the work in progress"
        );
        token.cancel();
    });
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}

/// After `token` is cancelled, waits up to `grace` for every tracked task. True when all finished.
pub async fn drain(tracker: &TaskTracker, token: &CancellationToken, grace: Duration) -> bool {
    tracker.close();
    tokio::select! {
        _ = tracker.wait() => return true,
        _ = token.cancelled() => {}
    }
    match tokio::time::timeout(grace, tracker.wait()).await {
        Ok(()) => true,
        Err(_) => {
            warn!(
                grace_s = grace.as_secs(),
                "work still in progress at the end of the grace period; exiting anyway"
            );
            false
        }
    }
}
