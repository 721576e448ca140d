//! Test rig shared by the integration tests, one concern per module: `moto` (the emulator and SDK
//! clients pointed at it), `fixtures` (namespaces, services, instances, registrations), `process`
//! (the real binary: one spawner, bounded waits, output), `wait` (the one bounded polling helper),
//! `http` (the worker's endpoints), `queue` and `eventbridge` (the event path's plumbing), `proxy`
//! (the fault-injecting test proxy), `asg` (Auto Scaling groups, hooks, lifecycle events), `retire`
//! (decommission's fixtures and report) and `worker` (a worker builder and the event-path `Setup`).
#![allow(dead_code, unused_imports)]

pub mod asg;
pub mod eventbridge;
pub mod fixtures;
pub mod http;
pub mod moto;
pub mod organization;
pub mod process;
pub mod proxy;
pub mod queue;
pub mod retire;
pub mod wait;
pub mod worker;

pub use asg::*;
pub use eventbridge::*;
pub use fixtures::*;
pub use http::*;
pub use moto::*;
pub use organization::*;
pub use process::*;
pub use proxy::*;
pub use queue::*;
pub use retire::*;
pub use wait::*;
pub use worker::*;
