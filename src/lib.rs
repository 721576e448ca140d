//! cloud-unmap: keeps AWS Cloud Map truthful about EC2. The library holds everything; the binary
//! only wires it (see `main.rs`). The folders are the layers, and `tests/layers.rs` enforces the
//! arrows between them (no import cycles, and each layer imports only those below it):
//!
//! | layer | owns | may import |
//! | --- | --- | --- |
//! | [`model`] | ids, states, events, claims, the plan, drain rules, undo records, budgets' buckets, where instances were last found: pure data and decisions | nothing above it |
//! | [`error`] | the library's error type, with bounded kinds | model |
//! | [`config`] | the flags (`config::cli`) and the validated `Config` | model, error |
//! | [`aws`] | every AWS call, one module per service family; request budgets; clients, credentials, endpoints | model, error |
//! | [`telemetry`] | emit (log + count in one call), metrics, health, HTTP server, logging, progress | model, error |
//! | [`engine`] | a running worker: context, per-service state, index, reconcile, cycle and its one EC2 view, fleet, scheduled, the event worker | model, error, config, aws, telemetry |
//! | [`commands`] | check, decommission, restore, healthcheck | model, error, config, aws, telemetry, and what `engine` re-exports |
//!
//! Words that stay (registration, target, claim, vouch, surge, drain) are in `docs/internals/glossary.md`.
#![forbid(unsafe_code)]

pub mod aws;
pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod model;
pub mod telemetry;
