//! cloud-unmap: keeps AWS Cloud Map truthful about EC2. The library holds everything; the binary
//! only wires it (see `main.rs`).
//!
//! Where each concern lives:
//!
//! * **Vocabulary.** [`domain`]: instance states, id/region/ARN shapes, the [`domain::Account`]
//!   identity. [`error`]: the library's error type with bounded kinds.
//! * **Configuration.** [`cli`] (clap flags and env vars) → [`config`] (a validated `Config`).
//! * **Decisions (pure).** [`plan`]: registrations + EC2 observations → keep / skip / deregister,
//!   and the never-empty guard. [`event`]: EventBridge bodies → typed events. [`lifecycle`]: the
//!   drain before a lifecycle action's CONTINUE (a delayed record in the queue, heartbeats).
//! * **AWS edges.** [`aws`] (SDK clients per account and region), [`registry`] (Cloud Map),
//!   [`inventory`] (EC2 DescribeInstances in chunks).
//! * **One sync path.** [`context`] (what every trigger shares), [`sync`] (one service: list → plan
//!   → guard → apply), called by [`reconcile`] (the periodic backstop, and its [`scheduled`]
//!   events' timers) and by [`worker`] (the SQS event loop, whose pure claim rules live in
//!   `worker::claims`). [`index`]: what the event path knows of each service's registrations.
//! * **Replicas.** [`fleet`]: the reconcile the replicas on one queue share, through the queue's
//!   scheduled reconcile message and the state table of [`ledger`].
//! * **Undo.** [`audit`]: the record of every removal (log line, EventBridge event), read back by
//!   [`restore`].
//! * **Observability.** [`emit`] (a failure logged and counted in one call), [`metrics`],
//!   [`health`], [`server`] (`/metrics`, `/healthz`, `/readyz`), [`healthcheck`], [`logging`].
//! * **Process.** [`app`] (assembly), [`shutdown`] (signals, grace), [`backoff`], [`progress`].
//! * **Retirement.** [`decommission`]: the `decommission` subcommand.
//! * **Preflight.** [`check`]: the `check` subcommand (what would fail, where instances are).
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod aws;
pub mod backoff;
pub mod check;
pub mod cli;
pub mod config;
pub mod context;
pub mod decommission;
pub mod dns;
pub mod domain;
pub mod emit;
pub mod error;
pub mod event;
pub mod fleet;
pub mod health;
pub mod healthcheck;
pub mod index;
pub mod inventory;
pub mod ledger;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod plan;
pub mod progress;
pub mod reconcile;
pub mod registry;
pub mod restore;
pub mod scheduled;
pub mod server;
pub mod shutdown;
pub mod sync;
pub mod worker;
