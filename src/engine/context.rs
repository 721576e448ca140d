//! The shared context of a running worker: what every trigger shares — validated configuration,
//! the Cloud Map client, the EC2 and Auto Scaling clients of every (account, region) target (`targets`), the
//! audit bus and the state table, metrics and health — and the engine's memory (`state`). Built
//! once by `app`, shared by the reconcile and the event path.

use std::sync::Arc;

use crate::aws::Target;
use crate::config::Config;
use crate::engine::state::State;
use crate::engine::targets::Targets;
use crate::error::Error;
use crate::model::domain::{Account, SelectionKind};
use crate::model::plan::PlanOptions;
use crate::telemetry::emit::{self, Failure};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::{Metrics, MissingLabels};

/// Everything the reconcile and event paths share.
pub struct Context {
    pub config: Config,
    pub cloudmap: aws_sdk_servicediscovery::Client,
    /// Every (account, region) looked in: take `targets.current()` once per unit of work.
    pub targets: Targets,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Where removals' undo records also go (`--audit-event-bus`).
    pub audit: Option<crate::aws::eventbridge::AuditBus>,
    /// The state table the replicas share (`--state-table`): each service's success goes there.
    pub ledger: Option<crate::aws::dynamodb::StateTable>,
    /// What the engine remembers of each service, selection and scheduled timer.
    pub state: State,
    /// The lookup targets failing now.
    pub failing: crate::engine::target_health::Failing,
    /// Organization mode: the listing of the organization's accounts.
    pub organization: Option<crate::engine::organization::Lister>,
}

impl Context {
    pub fn new(
        config: Config,
        cloudmap: aws_sdk_servicediscovery::Client,
        targets: Targets,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Context {
        Context {
            config,
            cloudmap,
            targets,
            metrics,
            health,
            audit: None,
            ledger: None,
            state: State::default(),
            failing: Default::default(),
            organization: None,
        }
    }

    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            deregister_stopped: self.config.deregister_stopped,
            allow_empty_service: self.config.allow_empty_service,
            max_not_found: self.config.max_not_found,
            unanswered: false,
        }
    }

    /// The target of one account in one region, if cloud-unmap looks there.
    pub fn target(&self, account: &Account, region: &str) -> Option<Target> {
        self.targets.find(account, region)
    }

    /// Logs and counts a failure (see `emit`).
    pub fn failed(&self, what: Failure<'_>, error: &Error) {
        emit::failure(&self.metrics, what, error);
        self.health.failed(error, std::time::Instant::now());
    }

    /// Counts a failure without logging it again (see `emit::count`).
    /// Tells readiness which targets do not answer now (and the organization before its first
    /// listing).
    pub fn note_silent(&self) {
        let mut silent = self.failing.names();
        if self.targets.unlisted() {
            silent.insert("the organization's accounts (not listed yet)".to_string());
        }
        self.health.silent(silent);
    }

    pub fn counted(&self, error: &Error) {
        emit::count(&self.metrics, error);
        self.health.failed(error, std::time::Instant::now());
    }

    /// Marks a selected service or namespace as missing (or found again), in metrics and health.
    /// Returns whether it just became missing (so callers log a new problem once).
    pub fn set_missing(&self, kind: SelectionKind, id: &str, missing: bool) -> bool {
        let changed = self.health.missing(id, missing);
        if changed {
            self.metrics
                .missing
                .get_or_create(&MissingLabels {
                    kind,
                    id: id.to_string(),
                })
                .set(i64::from(missing));
        }
        changed && missing
    }
}
