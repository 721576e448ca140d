//! `cloud-unmap check`'s flags: the worker's whole command line (so a worker's flags or environment
//! can be checked as they are), of which `--help` lists only what `check` uses — the shared
//! `WatchArgs` — and the report's own flags.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use clap::{Arg, Args, Command};

use super::examples::CHECK_EXAMPLES;
use super::groups::ReportArgs;
use super::watch::WatchArgs;
use super::RunArgs;

/// Arguments of `cloud-unmap check`: the worker's flags (its own ones accepted, validated as the
/// worker would, and hidden), the report's format, and the registrations to explain.
#[derive(Debug, Args)]
#[command(after_help = CHECK_EXAMPLES, mut_args(check_view))]
pub struct CheckArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Explain the worker's decision for this registration (Cloud Map instance id or EC2 instance
    /// id): what it would do and why, with what each account and region says; repeatable.
    #[arg(long = "instance-id", value_name = "ID", env = "CLOUD_UNMAP_INSTANCE_ID", value_delimiter = ',', action = clap::ArgAction::Append)]
    pub instance_ids: Vec<String>,
}

/// The ids of the worker's own flags: those of `RunArgs` that are not `WatchArgs`.
fn worker_only() -> &'static BTreeSet<String> {
    static IDS: OnceLock<BTreeSet<String>> = OnceLock::new();
    IDS.get_or_init(|| {
        let ids = |c: Command| -> BTreeSet<String> {
            c.get_arguments().map(|a| a.get_id().to_string()).collect()
        };
        let watch = ids(WatchArgs::augment_args(Command::new("watch")));
        ids(RunArgs::augment_args(Command::new("run")))
            .into_iter()
            .filter(|id| !watch.contains(id))
            .collect()
    })
}

/// A flag as `check --help` shows it: the worker's own flags hidden (still accepted and
/// validated), and no `[seed]` mark (that is the worker's compatibility note).
fn check_view(arg: Arg) -> Arg {
    let arg = match arg.get_help().map(|h| h.to_string()) {
        Some(help) if help.starts_with("[seed] ") => arg.help(help["[seed] ".len()..].to_string()),
        _ => arg,
    };
    if worker_only().contains(arg.get_id().as_str()) {
        arg.hide(true)
    } else {
        arg
    }
}
