//! The `restore` subcommand: reads undo records, judges each (already back, alive, refused), shows
//! the plan, asks, registers the chosen ones again with their id and every attribute, and reports.

mod select;

use std::time::SystemTime;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::{self, cloudmap};
use crate::config::cli::{OutputFormat, RestoreArgs};
use crate::config::MemberRole;
use crate::model::domain::{cloudmap_arn, role_account, valid_prefixed_id, valid_region};
use crate::model::record::Removal;
use select::{Filter, Verdict};

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

/// Validates the flags; the message is the usage error's one line.
fn settings(a: &RestoreArgs) -> Result<(Filter, String, Vec<MemberRole>), String> {
    if a.from.trim().is_empty() {
        return Err("missing --from FILE (or - for standard input)".into());
    }
    let region = a
        .service_region
        .clone()
        .filter(|r| valid_region(r))
        .ok_or("missing or invalid --service-region: the region of the Cloud Map services")?;
    if a.instances_regions.is_empty() || !a.instances_regions.iter().all(|r| valid_region(r)) {
        return Err("missing or invalid --instances-region: at least one AWS region".into());
    }
    if let Some(bad) = a
        .service_ids
        .iter()
        .find(|s| !valid_prefixed_id(s, "srv-") && cloudmap_arn(s, "service", "srv-").is_none())
    {
        return Err(format!("invalid --service-id {bad:?}"));
    }
    if a.concurrency == 0 {
        return Err("invalid --concurrency 0: must be at least 1".into());
    }
    let roles = a
        .instances_role_arns
        .iter()
        .map(|arn| {
            role_account(arn)
                .map(|account_id| MemberRole {
                    arn: arn.clone(),
                    account_id,
                })
                .ok_or(format!("invalid --instances-role-arn {arn:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let since = match &a.since {
        None => None,
        Some(s) => Some(select::parse_since(s, SystemTime::now()).ok_or(format!(
            "invalid --since {s:?}: expected an RFC 3339 time or an age like 30m, 2h, 7d"
        ))?),
    };
    let filter = Filter {
        service_ids: a.service_ids.clone(),
        instance_ids: a.instance_ids.clone(),
        since,
    };
    Ok((filter, region, roles))
}

fn read(from: &str) -> std::io::Result<String> {
    if from == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(from)
    }
}

/// Runs the subcommand; returns the exit code.
pub async fn run(args: RestoreArgs) -> i32 {
    let usage = |e: String| {
        eprintln!("cloud-unmap restore: {e} (see --help)");
        2
    };
    let (filter, region, roles) = match settings(&args) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let text = match read(&args.from) {
        Ok(t) => t,
        Err(e) => return usage(format!("cannot read --from {:?}: {e}", args.from)),
    };
    let (records, unread) = select::select(&text, &filter);
    eprintln!(
        "{} record(s) selected ({unread} line(s) without a record)",
        records.len()
    );
    if records.is_empty() {
        print(&args, &[]);
        return 0;
    }
    let home = aws::load_home(&region).await;
    let cloudmap = aws::cloudmap(&home, None);
    let targets = aws::targets(&home, &args.instances_regions, &roles, true, None).await;
    let verdicts: Vec<Verdict> = stream::iter(
        records
            .iter()
            .map(|r| select::judge(&cloudmap, &targets, r, args.force)),
    )
    .buffered(args.concurrency)
    .collect()
    .await;
    let chosen = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Restore(_)))
        .count();
    for (r, v) in records.iter().zip(&verdicts) {
        eprintln!("  {:<24} {:<21} {v:?}", r.service_id, r.instance_id);
    }
    if chosen > 0 && !args.dry_run && !args.yes {
        let prompt = format!("Type yes to register these {chosen} registration(s) again: ");
        match crate::telemetry::progress::ask_yes(&prompt) {
            None => {
                return usage(
                    "refusing to restore without confirmation: stdin is not a terminal; pass --yes"
                        .into(),
                )
            }
            Some(false) => {
                eprintln!("cloud-unmap restore: not confirmed; nothing changed");
                return 2;
            }
            Some(true) => {}
        }
    }
    let jobs = records.iter().zip(verdicts).map(|(r, v)| {
        let cloudmap = &cloudmap;
        let dry_run = args.dry_run;
        async move {
            let (outcome, detail) = match v {
                Verdict::Restore(why) if dry_run => (Outcome::WouldRestore, why),
                Verdict::Restore(why) => {
                    match cloudmap::register(cloudmap, &r.service_id, &r.instance_id, &r.attributes)
                        .await
                    {
                        Ok(()) => (Outcome::Restored, why),
                        Err(e) => (Outcome::Failed, e.to_string()),
                    }
                }
                Verdict::AlreadyRegistered => (Outcome::AlreadyRegistered, String::new()),
                Verdict::Refused(why) => (Outcome::Refused, why),
                Verdict::Failed(why) => (Outcome::Failed, why),
            };
            line(r, outcome, detail)
        }
    });
    let lines: Vec<Line> = stream::iter(jobs)
        .buffered(args.concurrency)
        .collect()
        .await;
    print(&args, &lines);
    exit_code(&lines)
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

fn print(args: &RestoreArgs, lines: &[Line]) {
    let count = |o| lines.iter().filter(|l| l.outcome == o).count();
    match args.output {
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "dry_run": args.dry_run,
                "restorations": lines,
                "restored": count(Outcome::Restored),
                "would_restore": count(Outcome::WouldRestore),
                "already_registered": count(Outcome::AlreadyRegistered),
                "refused": count(Outcome::Refused),
                "failed": count(Outcome::Failed),
            });
            println!("{doc:#}");
        }
        OutputFormat::Text => {
            for l in lines {
                let outcome = serde_json::to_value(l.outcome).unwrap_or_default();
                println!(
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
            println!(
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
