//! `cloud-unmap decommission`: retires EC2 instances selected by tag across accounts and regions —
//! drain from Cloud Map, stop, snapshot every EBS volume, set DeleteOnTermination, terminate — in
//! parallel. An instance is never terminated unless its snapshots completed. Selection lives in
//! `select`, the per-instance steps in `steps`; this module confirms, runs and reports.

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
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Terminated => "terminated",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Planned => "planned",
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
    pub(crate) devices: Vec<String>,
    /// Services the instance is registered in (drained first).
    pub(crate) services: Vec<String>,
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
}

fn print_matches(found: &[Candidate]) {
    errln!("{} instance(s) matched:", found.len());
    for c in found {
        errln!(
            "  {:<14} {:<14} {:<21} {:<24} {:<13} {}",
            c.target.account.as_str(),
            c.target.region,
            c.instance_id,
            c.name.as_deref().unwrap_or("(no Name tag)"),
            c.state.as_str(),
            if c.volumes.is_empty() {
                "no EBS volume".to_string()
            } else {
                c.volumes.join(",")
            }
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
                outln!("{line}");
                for step in &r.steps {
                    outln!("           - {step}");
                }
            }
            if s.dry_run {
                outln!(
                    "dry run: {} planned, {} would fail; nothing changed",
                    count(Outcome::Planned),
                    count(Outcome::Failed)
                );
            } else {
                outln!(
                    "{} terminated, {} skipped, {} failed",
                    count(Outcome::Terminated),
                    count(Outcome::Skipped),
                    count(Outcome::Failed)
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
    if !s.dry_run && !s.yes {
        if let Err(e) = confirm(found.len()) {
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
    if reports.iter().any(|r| r.outcome == Outcome::Failed) {
        1
    } else {
        0
    }
}
