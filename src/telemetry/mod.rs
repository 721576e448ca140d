//! Telemetry: what the program tells people and machines. `emit` (a failure logged and counted in
//! one call), `metrics` (Prometheus families), `health` (liveness and readiness state), `server`
//! (`/metrics`, `/healthz`, `/readyz`), `logging` (tracing set-up), `progress` (long work on a
//! terminal), `output` (reports and messages that survive a closed pipe). Imports only the model and the error type.

pub mod emit;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod progress;
pub mod server;
