//! Shutdown: SIGINT/SIGTERM cancel one root token; tasks live in a `TaskTracker`, and the process
//! waits for them for at most the grace period.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// Cancels `token` on the first SIGINT or SIGTERM (the binary may be PID 1 in a container, where
/// the default signal dispositions do nothing, so both are handled explicitly). The handlers are
/// installed before this returns, so a signal that arrives during start-up is not lost; only the
/// waiting happens in a task. Must be called inside the runtime.
pub fn on_signal(token: CancellationToken) {
    let signals = Signals::install();
    tokio::spawn(async move {
        let name = signals.wait().await;
        info!(
            signal = name,
            "shutting down: finishing the work in progress"
        );
        token.cancel();
    });
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
        }
    }

    async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Signals {
        Signals
    }

    async fn wait(self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
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
