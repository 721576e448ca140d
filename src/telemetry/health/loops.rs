//! The long-running loops `/healthz` watches, and the task-local naming the loop a task works for.

/// The long-running loops whose liveness `/healthz` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoopName {
    Reconcile,
    Events,
}

impl LoopName {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            LoopName::Reconcile => "reconcile loop",
            LoopName::Events => "event loop",
        }
    }
}

tokio::task_local! {
    /// The loop the current task works for: every AWS request attempt it completes (through the
    /// SDK interceptor in `aws`) counts as that loop's progress.
    pub static CURRENT_LOOP: LoopName;
}
