//! The pure core: ids, states, events, claims, the plan, drain rules and undo records as plain data
//! and decisions. Nothing here calls AWS, awaits, or counts: no SDK, no tokio, no metrics, so every
//! rule is tested with plain `#[test]`s. Every layer above may import it; it imports nothing above.

pub mod age;
pub mod backoff;
pub mod claims;
pub mod domain;
pub mod drain;
pub mod event;
pub mod explain;
pub mod organization;
pub mod plan;
pub mod record;
pub mod request;
pub mod scheduled;
