//! The engine: a running worker. `app` assembles it; `context` holds what every trigger shares
//! (configuration, clients, telemetry) and `services` each service's state; `reconcile` is one
//! service's reconcile (list → plan → guard → apply), called by every trigger: the `cycle` (every
//! selected service, periodically), the `fleet` (the cycle replicas share through the queue), the
//! `scheduled` EC2 events' timers and the event `worker`. `index` keeps the event path's listings
//! fresh, `holders` says which services hold each instance and `sweep` checks the others under a
//! bound, `lookups` shares the event path's EC2 calls between batches; `targets` holds the accounts and regions to look in (refreshed in organization mode) and `target_health` which of them answer lookups. Commands use only what this module re-exports.

pub mod app;
pub mod context;
pub mod cycle;
pub mod fleet;
pub mod holders;
pub mod index;
pub mod lookups;
pub mod organization;
pub mod queue;
pub mod reconcile;
pub mod scheduled;
pub mod shutdown;
pub mod state;
pub mod sweep;
pub mod target_health;
pub mod targets;
pub mod view;
pub mod worker;

pub use app::run;
