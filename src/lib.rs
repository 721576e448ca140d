//! cloud-unmap: keeps AWS Cloud Map truthful about EC2. The library holds everything; the binary
//! only wires it (see `main.rs`).
#![forbid(unsafe_code)]

pub mod app;
pub mod aws;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod decommission;
pub mod error;
pub mod event;
pub mod health;
pub mod healthcheck;
pub mod inventory;
pub mod logging;
pub mod metrics;
pub mod plan;
pub mod progress;
pub mod reconcile;
pub mod registry;
pub mod server;
pub mod shutdown;
pub mod worker;
