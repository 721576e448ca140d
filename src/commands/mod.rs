//! The one-shot subcommands: `check` (a preflight with the worker's flags), `decommission`
//! (retire instances by tag), `restore` (undo removals from their records) and `healthcheck` (the
//! container's probe). They use the model, the AWS edge, telemetry and the engine's public API only.

pub mod check;
pub mod decommission;
pub mod healthcheck;
pub mod restore;
