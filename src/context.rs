//! The shared context of a running worker: validated configuration, the Cloud Map client, the EC2
//! and Auto Scaling clients of every (account, region) target, metrics and health. Built once by
//! `app`, shared by the reconcile and the event path.

use std::sync::Arc;

use crate::aws::Target;
use crate::config::Config;
use crate::domain::Account;
use crate::emit::{self, Failure};
use crate::error::Error;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::plan::PlanOptions;

/// Everything the reconcile and event paths share.
pub struct Context {
    pub config: Config,
    pub cloudmap: aws_sdk_servicediscovery::Client,
    pub targets: Vec<Target>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl Context {
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            deregister_stopped: self.config.deregister_stopped,
            allow_empty_service: self.config.allow_empty_service,
        }
    }

    /// The target of one account in one region, if cloud-unmap looks there.
    pub fn target(&self, account: &Account, region: &str) -> Option<&Target> {
        self.targets
            .iter()
            .find(|t| &t.account == account && t.region == region)
    }

    /// Logs and counts a failure (see `emit`).
    pub fn failed(&self, what: Failure<'_>, error: &Error) {
        emit::failure(&self.metrics, what, error);
    }
}
