//! One vocabulary across the worker and its subcommands: a flag has one name, one `CLOUD_UNMAP_*`
//! variable and one short form everywhere; each `--help` lists what its command uses; the old names
//! (`decommission --region`/`--role-arn`, `healthcheck --port`) still work; `decommission` reads the
//! environment and the standard `AWS_REGION` as `restore` does; `check` takes a worker's whole
//! command line. Outcomes on moto: which instances are planned or still running, which
//! registrations remain, exit codes.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::CommandFactory;
use cloud_unmap::config::cli::Cli as Flags;
use common::*;

/// `--flag` → `CLOUD_UNMAP_FLAG`.
fn variable(long: &str) -> String {
    format!("CLOUD_UNMAP_{}", long.to_uppercase().replace('-', "_"))
}

#[test]
fn a_flag_has_one_name_one_variable_and_one_short_form_in_every_command() {
    let root = Flags::command();
    let mut commands = vec![("cloud-unmap".to_string(), &root)];
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        commands.push((format!("cloud-unmap {}", sub.get_name()), sub));
    }
    let mut shorts: BTreeMap<String, BTreeMap<String, Option<char>>> = BTreeMap::new();
    let mut aliases = Vec::new();
    let mut errors = Vec::new();
    for (name, command) in &commands {
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            if env.as_deref() != Some(variable(long).as_str()) {
                errors.push(format!(
                    "{name} --{long} reads {env:?}, not {}",
                    variable(long)
                ));
            }
            shorts
                .entry(long.to_string())
                .or_default()
                .insert(name.clone(), arg.get_short());
            for alias in arg.get_all_aliases().unwrap_or_default() {
                aliases.push((name.clone(), alias.to_string(), long.to_string()));
            }
        }
    }
    for (long, by_command) in &shorts {
        let forms: Vec<_> = by_command.values().collect();
        if forms.windows(2).any(|w| w[0] != w[1]) {
            errors.push(format!(
                "--{long} has different short forms: {by_command:?}"
            ));
        }
    }
    for (name, alias, long) in &aliases {
        if shorts.contains_key(alias) {
            errors.push(format!(
                "{name}: --{alias} (alias of --{long}) is another flag's name elsewhere"
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    for (long, short) in [("output", 'o'), ("yes", 'y'), ("dry-run", 'n')] {
        for command in ["cloud-unmap decommission", "cloud-unmap restore"] {
            assert_eq!(shorts[long][command], Some(short), "{command} --{long}");
        }
    }
}

/// The options part of `cloud-unmap <args> --help` (its examples name other flags).
fn options(args: &[&str]) -> String {
    let out = Cli::bare()
        .args(args)
        .args(&["--help"])
        .output(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    help.split("\nExamples:").next().unwrap().to_string()
}

fn lists(help: &str, flag: &str) -> bool {
    help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n"))
}

#[test]
fn each_help_lists_what_its_command_uses() {
    let worker_own = [
        "--frequency",
        "--single-run",
        "--enable-prometheus",
        "--prometheus-host",
        "--prometheus-port",
        "--dry-run",
        "--log-format",
        "--shutdown-timeout",
        "--not-found-grace",
        "--scheduled-lead-seconds",
        "--on-rebalance",
        "--on-scheduled-reboot",
        "--audit-event-bus",
        "--stall-timeout",
    ];
    let shared = [
        "--service-id",
        "--service-region",
        "--namespace-id",
        "--service-tag",
        "--instances-region",
        "--instances-role-arn",
        "--log-level",
        "--queue-url",
        "--state-table",
        "--lifecycle-hook-name",
        "--max-not-found",
        "--organization-id",
    ];
    let worker = options(&[]);
    for flag in shared.iter().chain(&worker_own) {
        assert!(lists(&worker, flag), "the worker's --help lacks {flag}");
    }
    let check = options(&["check"]);
    for flag in shared.iter().chain(&["-o, --output", "--instance-id"]) {
        assert!(lists(&check, flag), "check --help lacks {flag}:\n{check}");
    }
    for flag in worker_own {
        assert!(!lists(&check, flag), "check --help lists {flag}:\n{check}");
    }
    let decommission = options(&["decommission"]);
    for flag in [
        "--instances-region",
        "[alias: --region]",
        "--instances-role-arn",
        "[alias: --role-arn]",
        "-n, --dry-run",
        "-y, --yes",
        "-o, --output",
    ] {
        assert!(
            decommission.contains(flag),
            "decommission --help lacks {flag}"
        );
    }
    let restore = options(&["restore"]);
    for flag in [
        "--instances-region",
        "-n, --dry-run",
        "-y, --yes",
        "-o, --output",
    ] {
        assert!(restore.contains(flag), "restore --help lacks {flag}");
    }
    let healthcheck = options(&["healthcheck"]);
    assert!(healthcheck.contains("--prometheus-port") && healthcheck.contains("[alias: --port]"));
}

#[test]
fn usage_errors_name_the_shared_flags_and_check_validates_the_workers_own() {
    // The old name, several regions per flag, and the error names the flag as it is spelled now.
    let out = Cli::subcommand("decommission")
        .endpoint("http://127.0.0.1:9")
        .args(&["--tag", "Name=x", "--region", "us-east-1", "mars-1"])
        .output(Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid --instances-region \"mars-1\""),
        "{err}"
    );
    // No region anywhere (tests run without AWS_REGION): the line says where one may come from.
    let out = Cli::subcommand("decommission")
        .endpoint("http://127.0.0.1:9")
        .args(&["--tag", "Name=x", "-n"])
        .output(Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--instances-region") && err.contains("AWS_REGION"),
        "{err}"
    );
    // `check` accepts the worker's own flags, and refuses them when the worker would.
    assert_usage_error(&[
        "check",
        "--service-id",
        "srv-abcdef0123456789",
        "--instances-region",
        "us-east-1",
        "--service-region",
        "us-east-1",
        "--frequency",
        "0",
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn decommission_reads_the_environment_and_aws_region() {
    let team = unique("vocab-env");
    let east = ec2(HOME_REGION).await;
    let ids = launch_tagged(&east, 1, &team, Some("web"), false).await;
    let out = Cli::subcommand("decommission")
        .env("AWS_REGION", HOME_REGION)
        .env("CLOUD_UNMAP_TAG", &format!("team={team}"))
        .env("CLOUD_UNMAP_DRY_RUN", "true")
        .env("CLOUD_UNMAP_OUTPUT", "json")
        // A worker's task definition passes its unset selections as empty values: no drain.
        .env("CLOUD_UNMAP_SERVICE_ID", "")
        .env("CLOUD_UNMAP_NAMESPACE_ID", "")
        .output(Duration::from_secs(120));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["summary"]["planned"], 1, "{r}");
    assert_eq!(outcome_of(&r, &ids[0])["outcome"], "planned");
    assert_eq!(state_of(&east, &ids[0]).await, "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn decommission_keeps_its_old_names_and_takes_several_regions_per_flag() {
    let team = unique("vocab-alias");
    let east = ec2(HOME_REGION).await;
    let west = ec2(OTHER_REGION).await;
    let member = aws_sdk_ec2::Client::new(&member_config(OTHER_REGION).await);
    let home = launch_tagged(&east, 1, &team, Some("a"), false).await;
    let away = launch_tagged(&west, 1, &team, Some("b"), false).await;
    let theirs = launch_tagged(&member, 1, &team, Some("c"), false).await;
    let tag = format!("team={team}");
    let out = decommission(
        &moto().endpoint,
        &[
            "--tag",
            &tag,
            "--region",
            HOME_REGION,
            OTHER_REGION,
            "--role-arn",
            MEMBER_ROLE,
            "-n",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    for id in [&home[0], &away[0], &theirs[0]] {
        assert_eq!(outcome_of(&r, id)["outcome"], "planned", "{r}");
    }
    assert_eq!(state_of(&west, &away[0]).await, "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_takes_its_service_region_from_aws_region() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let instances = launch(HOME_REGION, 2).await;
    register_all(&svc, &instances).await;
    terminate(&ec2(HOME_REGION).await, &[instances[0].id.clone()]).await;
    let out = Cli::worker()
        .env("AWS_REGION", HOME_REGION)
        .args(&["--service-id", &svc, "--instances-region", HOME_REGION])
        .args(&["--single-run", "--not-found-grace", "0"])
        .output(Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(registered(&svc).await, vec![instances[1].id.clone()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_takes_a_workers_whole_command_line() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let instances = launch(HOME_REGION, 1).await;
    register_all(&svc, &instances).await;
    let out = Cli::subcommand("check")
        .args(&["--service-id", &svc, "--service-region", HOME_REGION])
        .args(&["--instances-region", HOME_REGION, "--frequency", "60"])
        .args(&[
            "--single-run",
            "--enable-prometheus",
            "--prometheus-port",
            "9",
        ])
        .args(&["--shutdown-timeout", "5", "-o", "json"])
        .output(Duration::from_secs(60));
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
    assert!(doc["findings"].as_array().is_some_and(|f| !f.is_empty()));
    assert_eq!(registered(&svc).await, vec![instances[0].id.clone()]);
}
