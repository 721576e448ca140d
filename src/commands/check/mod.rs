//! The `check` subcommand: a preflight with the worker's own flags that changes nothing. It runs
//! the probes (credentials, organization, selections, accounts, queue, hooks) and places every registration's
//! instance, then prints one report and exits 0 (nothing would fail), 1 (something would) or 2.
//! `--instance-id ID` adds the worker's decision for that registration, and why (`decision`).

mod decision;
mod hooks;
mod organization;
mod probes;
mod queue;
pub mod report;
mod whereabouts;

use crate::aws;
use crate::config::cli::{CheckArgs, OutputFormat};
use crate::config::Config;
use crate::model::plan;
use crate::telemetry::output::{out, outln};
use crate::telemetry::progress::Progress;
use report::{Finding, Level, Report};

/// Runs every check and prints the report; returns the exit code.
pub async fn run(config: Config, args: &CheckArgs) -> i32 {
    let report = check(&config, &args.instance_ids).await;
    match args.report.output {
        OutputFormat::Json => outln!("{}", report.json()),
        OutputFormat::Text => out!("{}", report.text()),
    }
    report.exit_code()
}

/// Every finding for `config`, in a stable order: credentials, selections, accounts, queue, hooks,
/// registrations, and the decisions `explain` asks for (`--instance-id`).
pub async fn check(config: &Config, explain: &[String]) -> Report {
    let home_config = aws::load_home(&config.service_region).await;
    let sts = aws::sts::client(&home_config);
    let cloudmap = aws::cloudmap(&home_config, None);
    let fixed = aws::targets(
        &home_config,
        &config.instances_regions,
        &config.member_roles,
        true,
        None,
    )
    .await;
    let progress = Progress::new();
    let line = progress.line("check".to_string());
    line.set("credentials");
    let (credentials, account) = probes::credentials(&sts).await;
    let home = account.as_deref();
    let mut report = Report {
        account: account.clone(),
        findings: vec![credentials],
        services: Vec::new(),
    };
    let mut members = Vec::new();
    if let Some(org) = &config.organization {
        line.set("organization");
        let (listing, listed) = organization::listing(&home_config, config, org, home).await;
        report.findings.push(listing);
        members = listed;
    }
    line.set("services and namespaces");
    let (selection, services) = probes::selection(&cloudmap, config).await;
    report.findings.extend(selection);
    line.set("accounts and regions");
    let concurrency = config.concurrency;
    let accounts = probes::accounts(&fixed, home, concurrency);
    let member_findings = organization::members(&members, concurrency);
    let mut targets = fixed.clone();
    targets.extend(members.iter().flat_map(|(_, t)| t.iter().cloned()));
    let queue = async {
        match &config.queue {
            Some(q) => {
                let sqs = aws::sqs(&home_config, None);
                let mut found = queue::queue(&sqs, q, home).await;
                found.push(state_table(&home_config, config.state_table.as_deref()).await);
                found
            }
            None => vec![Finding::new(
                "queue",
                "-",
                Level::Note,
                "no --queue-url: events are off, the periodic reconcile alone removes registrations",
            )],
        }
    };
    let hooks = async {
        if config.queue.is_some() {
            let (names, drain) = (&config.lifecycle_hook_names, config.lifecycle_drain);
            hooks::hooks(&targets, names, drain, home, concurrency).await
        } else {
            Vec::new()
        }
    };
    let opts = plan::PlanOptions {
        deregister_stopped: config.deregister_stopped,
        allow_empty_service: config.allow_empty_service,
        max_not_found: config.max_not_found,
        // Set per service by `whereabouts::service` when a target did not answer its lookup.
        unanswered: false,
    };
    let judgement = whereabouts::Judgement { opts, explain };
    let places = whereabouts::services(
        &cloudmap,
        &targets,
        &services,
        judgement,
        home,
        concurrency,
        &line,
    );
    let (accounts, members, queue, hooks, (places, placed)) =
        futures::join!(accounts, member_findings, queue, hooks, places);
    line.finish("done");
    report.findings.extend(accounts);
    report.findings.extend(members);
    report.findings.extend(queue);
    report.findings.extend(hooks);
    report.findings.extend(placed);
    let unmatched = decision::unmatched(explain, &report.findings);
    report.findings.extend(unmatched);
    report.services = places;
    report
}

/// The state table of `--state-table`: readable (the worker also writes it; `check` changes nothing).
async fn state_table(home: &aws_config::SdkConfig, table: Option<&str>) -> Finding {
    let Some(table) = table else {
        return Finding::new(
            "state-table",
            "-",
            Level::Note,
            "no --state-table: each replica reconciles on its own timer (N replicas, N cycles)",
        );
    };
    let ledger = crate::aws::dynamodb::StateTable::new(aws::dynamodb(home, None), table);
    match ledger.read().await {
        Ok(s) => Finding::new(
            "state-table",
            table,
            Level::Ok,
            match s.cycle {
                Some(c) => format!(
                    "readable: the last shared cycle started {} s ago; {} services recorded",
                    std::time::SystemTime::now()
                        .duration_since(c.started)
                        .unwrap_or_default()
                        .as_secs(),
                    s.succeeded.len()
                ),
                None => "readable, no shared cycle yet".to_string(),
            },
        ),
        Err(e) => Finding::new(
            "state-table",
            table,
            Level::Fail,
            format!(
                "cannot read it (the replicas would each run their own cycles): {}",
                e.reason()
            ),
        ),
    }
}
