//! The `restore` subcommand: reads undo records, judges each (already back, alive, refused), shows
//! the plan, asks, registers the chosen ones again with their id and every attribute Cloud Map
//! accepts back (`record::registrable`), and reports. An input without any record is a usage error.

mod select;

use crate::telemetry::output::{errln, outln};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::{self, cloudmap};
use crate::config::cli::OutputFormat;
use crate::config::restore::Settings;
use crate::model::record::{registrable, Removal};
use select::Verdict;

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Restored,
    WouldRestore,
    AlreadyRegistered,
    Refused,
    Failed,
}

#[derive(Debug, Serialize)]
struct Line {
    service_id: String,
    instance_id: String,
    outcome: Outcome,
    detail: String,
    removed_at: String,
    reason: String,
}

fn read(from: &str) -> std::io::Result<String> {
    if from == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(from)
    }
}

/// Runs the subcommand with validated settings (`main` refused bad flags); returns the exit code.
pub async fn run(s: Settings) -> i32 {
    let usage = |e: String| {
        errln!("cloud-unmap restore: {e} (see --help)");
        2
    };
    let text = match read(&s.from) {
        Ok(t) => t,
        Err(e) => return usage(format!("cannot read --from {:?}: {e}", s.from)),
    };
    let select::Selection {
        records,
        read,
        unread,
    } = select::select(&text, &s.filter);
    if read == 0 && unread > 0 {
        // Pointed at the wrong file (or a log format it cannot read): saying "nothing to do"
        // would hide that every removal is still undone.
        return usage(format!(
            "no undo record in {} of --from {:?}; restore reads the worker's `deregistered` log \
             lines (JSON or text, coloured or not), `Registration Removed` audit events and bare \
             records, one per line",
            plural(unread, "line"),
            s.from
        ));
    }
    errln!(
        "{} record(s) selected ({} with a record, {unread} without)",
        records.len(),
        plural(read, "line"),
    );
    if records.is_empty() {
        print(&s, &[]);
        return 0;
    }
    let home = aws::load_home(&s.service_region).await;
    let cloudmap = aws::cloudmap(&home, None);
    let targets = aws::targets(&home, &s.instances_regions, &s.roles, true, None).await;
    let verdicts: Vec<Verdict> = stream::iter(
        records
            .iter()
            .map(|r| select::judge(&cloudmap, &targets, r, s.force)),
    )
    .buffered(s.concurrency)
    .collect()
    .await;
    let chosen = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Restore(_)))
        .count();
    for (r, v) in records.iter().zip(&verdicts) {
        errln!("  {:<24} {:<21} {v:?}", r.service_id, r.instance_id);
    }
    if chosen > 0 && !s.dry_run && !s.yes {
        let prompt = format!("Type yes to register these {chosen} registration(s) again: ");
        match crate::telemetry::progress::ask_yes(&prompt) {
            None => {
                return usage(
                    "refusing to restore without confirmation: stdin is not a terminal; pass --yes"
                        .into(),
                )
            }
            Some(false) => {
                errln!("cloud-unmap restore: not confirmed; nothing changed");
                return 2;
            }
            Some(true) => {}
        }
    }
    let jobs = records.iter().zip(verdicts).map(|(r, v)| {
        let (cloudmap, targets) = (&cloudmap, &targets);
        let (dry_run, force) = (s.dry_run, s.force);
        async move {
            // Judged again right before the registration (EC2, then Cloud Map): the plan above may
            // be minutes old, and RegisterInstance would overwrite an owner's newer registration.
            let v = match v {
                Verdict::Restore(_) if !dry_run => {
                    match select::again(cloudmap, targets, r, force).await {
                        Verdict::Restore(w) => Verdict::Restore(w),
                        Verdict::AlreadyRegistered => Verdict::Back,
                        Verdict::Refused(why) => Verdict::Refused(format!("since the plan: {why}")),
                        other => other,
                    }
                }
                other => other,
            };
            // What Cloud Map accepts back (its AWS_EC2_INSTANCE_ID rule), and what it cannot hold.
            let (attributes, dropped) = registrable(&r.attributes);
            let why = |why: String| match dropped.is_empty() {
                true => why,
                false => format!(
                    "{why}; without {} (Cloud Map takes only AWS_INIT_HEALTH_STATUS beside \
                     AWS_EC2_INSTANCE_ID)",
                    dropped.join(", ")
                ),
            };
            let (outcome, detail) = match v {
                Verdict::Restore(w) if dry_run => (Outcome::WouldRestore, why(w)),
                Verdict::Restore(w) => {
                    match cloudmap::register(cloudmap, &r.service_id, &r.instance_id, &attributes)
                        .await
                    {
                        Ok(()) => (Outcome::Restored, why(w)),
                        Err(e) => (Outcome::Failed, e.to_string()),
                    }
                }
                Verdict::AlreadyRegistered => (Outcome::AlreadyRegistered, String::new()),
                Verdict::Back => (
                    Outcome::AlreadyRegistered,
                    "registered again since the plan (by its owner?): left as it is".into(),
                ),
                Verdict::Refused(why) => (Outcome::Refused, why),
                Verdict::Failed(why) => (Outcome::Failed, why),
            };
            line(r, outcome, detail)
        }
    });
    let lines: Vec<Line> = stream::iter(jobs).buffered(s.concurrency).collect().await;
    print(&s, &lines);
    exit_code(&lines)
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn line(r: &Removal, outcome: Outcome, detail: String) -> Line {
    Line {
        service_id: r.service_id.clone(),
        instance_id: r.instance_id.clone(),
        outcome,
        detail,
        removed_at: r.time.clone(),
        reason: r.reason.clone(),
    }
}

fn exit_code(lines: &[Line]) -> i32 {
    let any = |o| lines.iter().any(|l| l.outcome == o);
    if any(Outcome::Failed) {
        1
    } else if any(Outcome::Refused) {
        3
    } else {
        0
    }
}

fn print(s: &Settings, lines: &[Line]) {
    let count = |o| lines.iter().filter(|l| l.outcome == o).count();
    match s.output {
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "dry_run": s.dry_run,
                "restorations": lines,
                "restored": count(Outcome::Restored),
                "would_restore": count(Outcome::WouldRestore),
                "already_registered": count(Outcome::AlreadyRegistered),
                "refused": count(Outcome::Refused),
                "failed": count(Outcome::Failed),
            });
            outln!("{doc:#}");
        }
        OutputFormat::Text => {
            for l in lines {
                let outcome = serde_json::to_value(l.outcome).unwrap_or_default();
                outln!(
                    "{:<19} {:<24} {:<21} removed {} ({}){}",
                    outcome.as_str().unwrap_or(""),
                    l.service_id,
                    l.instance_id,
                    l.removed_at,
                    l.reason,
                    if l.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", l.detail)
                    }
                );
            }
            outln!(
                "{} restored, {} would be, {} already registered, {} refused, {} failed",
                count(Outcome::Restored),
                count(Outcome::WouldRestore),
                count(Outcome::AlreadyRegistered),
                count(Outcome::Refused),
                count(Outcome::Failed)
            );
        }
    }
}
