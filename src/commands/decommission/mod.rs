//! `cloud-unmap decommission`: retires EC2 instances selected by tag across accounts and regions —
//! detach from Auto Scaling (`--detach`), drain from Cloud Map, stop, snapshot every EBS volume, set
//! DeleteOnTermination, terminate — in parallel. An instance is never terminated unless its
//! snapshots completed; an Auto Scaling member without `--detach`, or one whose drain would empty a
//! service, is refused untouched. Selection and holds live in `select`, the per-instance steps in
//! `steps`; this module confirms, runs and reports.

mod dry_run;
mod select;
mod steps;

use crate::telemetry::output::{errln, outln};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::{self, Target};
use crate::config::cli::OutputFormat;
use crate::config::decommission::Settings;
use crate::error::Error;
use crate::model::domain::{Account, InstanceState};
use crate::telemetry::progress::Progress;

/// What stops the whole command (a per-instance failure is an `Outcome::Failed` instead).
#[derive(Debug, thiserror::Error)]
pub enum DecommissionError {
    #[error("cannot look for instances in {account}/{region}: {source}")]
    Discover {
        account: Account,
        region: String,
        /// Boxed: the account and region beside it would make every `Result` of this type large.
        #[source]
        source: Box<Error>,
    },
    #[error("cannot tell which instances belong to an Auto Scaling group in {account}/{region}: {source}")]
    Groups {
        account: Account,
        region: String,
        #[source]
        source: Box<Error>,
    },
    #[error("cannot list Cloud Map registrations to drain: {0}")]
    Registrations(#[source] Error),
    #[error("refusing to decommission without confirmation: stdin is not a terminal; pass --yes")]
    NoTerminal,
    #[error("not confirmed; nothing changed")]
    NotConfirmed,
}

/// What became of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Terminated,
    Skipped,
    Failed,
    /// Dry run: every step is permitted.
    Planned,
    /// Held by a safety rule (Auto Scaling member, never-empty): left untouched.
    Refused,
}

/// Why an instance is refused before any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// A member of this Auto Scaling group, and no `--detach`: stopped or terminated in place, the
    /// group would mark it unhealthy and launch a replacement.
    AutoScaling(String),
    /// Its drain (with the other selected instances') would leave this service without any
    /// registration, and no `--allow-empty-service`.
    EmptyService(String),
    /// `--detach`, but it is in Standby in this group: DetachInstances with the desired capacity
    /// decremented can terminate other instances of the group (Auto Scaling user guide, "Detach or
    /// attach instances").
    Standby(String),
    /// Its root device is an instance store: StopInstances is refused for it (API reference), and
    /// the retirement stops an instance before its snapshots.
    InstanceStoreRoot,
    /// A Spot instance (`InstanceLifecycle=spot`): StopInstances is refused for one from a one-time
    /// request (UnsupportedOperation), and terminating one from a persistent request opens the
    /// request again, which launches a replacement.
    Spot,
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::AutoScaling(group) => write!(
                f,
                "member of Auto Scaling group {group}: the group would replace it; pass --detach \
                 to detach it first (its desired capacity decremented)"
            ),
            Hold::EmptyService(svc) => write!(
                f,
                "draining it would leave service {svc} without any registration; pass \
                 --allow-empty-service to allow that"
            ),
            Hold::Standby(group) => write!(
                f,
                "in Standby in Auto Scaling group {group}: detaching it with the desired capacity \
                 decremented can terminate other instances of the group; left untouched (move it \
                 back with `aws autoscaling exit-standby` first, then run again)"
            ),
            Hold::InstanceStoreRoot => write!(
                f,
                "its root device is an instance store: EC2 cannot stop it, and decommission stops \
                 before it snapshots; left untouched (retire it yourself: drain, snapshot its EBS \
                 volumes, terminate)"
            ),
            Hold::Spot => write!(
                f,
                "a Spot instance: EC2 refuses to stop one from a one-time request, and terminating \
                 one from a persistent request launches a replacement; left untouched (cancel its \
                 Spot request, then retire it yourself)"
            ),
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Terminated => "terminated",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Planned => "planned",
            Outcome::Refused => "refused",
        }
    }
}

/// A matched instance.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its account and region, with their clients.
    pub(crate) target: Target,
    pub instance_id: String,
    pub name: Option<String>,
    pub state: InstanceState,
    pub volumes: Vec<String>,
    /// Volumes whose DeleteOnTermination is off (they outlive the instance unless it is set).
    pub kept_volumes: Vec<String>,
    pub(crate) devices: Vec<String>,
    /// (service, registration id) of every registration whose target is the instance (drained
    /// first).
    pub(crate) registrations: Vec<(String, String)>,
    /// Its Auto Scaling group, if it belongs to one.
    pub group: Option<String>,
    /// Why it is refused untouched, if it is.
    pub hold: Option<Hold>,
}

/// What happened to one instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    pub account: Account,
    pub region: String,
    pub instance_id: String,
    pub name: Option<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub snapshots: Vec<String>,
    /// Dry run: the steps that would run, with the permission checks' results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// What changed under it while it was retired (e.g. started after discovery).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `--no-snapshot`: the volumes that survive its termination (DeleteOnTermination off, as
    /// their owner set it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub surviving_volumes: Vec<String>,
}

fn print_matches(found: &[Candidate]) {
    errln!("{} instance(s) matched:", found.len());
    for c in found {
        errln!(
            "  {:<14} {:<14} {:<21} {:<24} {:<13} {}{}{}",
            c.target.account.as_str(),
            c.target.region,
            c.instance_id,
            c.name.as_deref().unwrap_or("(no Name tag)"),
            c.state.as_str(),
            if c.volumes.is_empty() {
                "no EBS volume".to_string()
            } else {
                c.volumes.join(",")
            },
            c.group
                .as_ref()
                .map(|g| format!("  Auto Scaling group {g}"))
                .unwrap_or_default(),
            c.hold
                .as_ref()
                .map(|h| format!("  REFUSED: {h}"))
                .unwrap_or_default()
        );
    }
}

fn confirm(n: usize) -> Result<(), DecommissionError> {
    let prompt = format!("Type yes to drain, stop, snapshot and terminate these {n} instance(s): ");
    match crate::telemetry::progress::ask_yes(&prompt) {
        None => Err(DecommissionError::NoTerminal),
        Some(true) => Ok(()),
        Some(false) => Err(DecommissionError::NotConfirmed),
    }
}

fn print_report(s: &Settings, reports: &[InstanceReport]) {
    let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    match s.output {
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "dry_run": s.dry_run,
                "instances": reports,
                "summary": {
                    "terminated": count(Outcome::Terminated), "skipped": count(Outcome::Skipped),
                    "failed": count(Outcome::Failed), "planned": count(Outcome::Planned),
                    "refused": count(Outcome::Refused),
                },
            });
            outln!("{doc}");
        }
        OutputFormat::Text => {
            for r in reports {
                let mut line = format!(
                    "{:<10} {:<14} {:<14} {:<21} {}",
                    r.outcome.as_str(),
                    r.account.as_str(),
                    r.region,
                    r.instance_id,
                    r.name.as_deref().unwrap_or("-")
                );
                if let Some(reason) = &r.reason {
                    line.push_str(&format!("  {reason}"));
                }
                if !r.snapshots.is_empty() {
                    line.push_str(&format!("  snapshots: {}", r.snapshots.join(", ")));
                }
                for note in &r.notes {
                    line.push_str(&format!("  ({note})"));
                }
                if !r.surviving_volumes.is_empty() {
                    line.push_str(&format!(
                        "  surviving termination: {}",
                        r.surviving_volumes.join(", ")
                    ));
                }
                outln!("{line}");
                for step in &r.steps {
                    outln!("           - {step}");
                }
            }
            if s.dry_run {
                outln!(
                    "dry run: {} planned, {} would fail, {} refused; nothing changed",
                    count(Outcome::Planned),
                    count(Outcome::Failed),
                    count(Outcome::Refused)
                );
            } else {
                outln!(
                    "{} terminated, {} skipped, {} failed, {} refused",
                    count(Outcome::Terminated),
                    count(Outcome::Skipped),
                    count(Outcome::Failed),
                    count(Outcome::Refused)
                );
            }
        }
    }
}

/// Runs the subcommand with validated settings (`main` refused bad flags); returns the exit code.
pub async fn run(s: Settings) -> i32 {
    let home_region = s
        .service_region
        .clone()
        .unwrap_or_else(|| s.regions[0].clone());
    let home = aws::load_home(&home_region).await;
    let targets = aws::targets(&home, &s.regions, &s.roles, s.include_home, None).await;
    let cloudmap = s
        .service_region
        .as_ref()
        .map(|r| aws_sdk_servicediscovery::Client::new(&aws::derive(&home, r, None)));

    let mut found = match select::discover(&targets, &s).await {
        Ok(f) => f,
        Err(e) => {
            errln!("cloud-unmap decommission: {e}");
            return 1;
        }
    };
    if found.is_empty() {
        errln!("no instance matched; nothing to do");
        print_report(&s, &[]);
        return 0;
    }
    if let Some(client) = &cloudmap {
        if let Err(e) = select::find_registrations(client, &s, &mut found).await {
            errln!("cloud-unmap decommission: {e}");
            return 1;
        }
    }
    print_matches(&found);
    let to_retire = found.iter().filter(|c| c.hold.is_none()).count();
    if !s.dry_run && !s.yes && to_retire > 0 {
        if let Err(e) = confirm(to_retire) {
            errln!("cloud-unmap decommission: {e}");
            return 2;
        }
    }
    let progress = Progress::new();
    let run = steps::Run {
        s: &s,
        cloudmap: cloudmap.as_ref(),
    };
    let jobs: Vec<_> = found
        .iter()
        .map(|c| {
            let line = progress.line(format!(
                "{}/{}/{}",
                c.target.account, c.target.region, c.instance_id
            ));
            let run = &run;
            async move {
                let r = run.retire(c, &line).await;
                line.finish(format!(
                    "{}{}",
                    r.outcome.as_str(),
                    r.reason
                        .as_ref()
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default()
                ));
                r
            }
        })
        .collect();
    let mut reports: Vec<InstanceReport> = stream::iter(jobs)
        .buffer_unordered(s.concurrency)
        .collect()
        .await;
    reports.sort_by(|a, b| {
        (a.account.as_str(), &a.region, &a.instance_id).cmp(&(
            b.account.as_str(),
            &b.region,
            &b.instance_id,
        ))
    });
    print_report(&s, &reports);
    let any = |o| reports.iter().any(|r| r.outcome == o);
    if any(Outcome::Failed) {
        1
    } else if any(Outcome::Refused) {
        3
    } else {
        0
    }
}
