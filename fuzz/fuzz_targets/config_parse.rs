//! Fuzz target: any command line (NUL-separated arguments) → clap and `config` (the worker's
//! `Config`, `decommission` and `restore` settings) accept or refuse it, never panic; a refusal is
//! the one line `main` prints.
#![no_main]

use std::time::SystemTime;

use clap::Parser;
use cloud_unmap::config::cli::{Cli, Command};
use cloud_unmap::config::{decommission, restore, Config, ConfigError};
use libfuzzer_sys::fuzz_target;

fn one_line<T>(validated: Result<T, ConfigError>) {
    if let Err(e) = validated {
        assert_eq!(e.to_string().lines().count(), 1, "{e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args = std::iter::once("cloud-unmap").chain(text.split('\0'));
    let Ok(cli) = Cli::try_parse_from(args) else {
        return;
    };
    match &cli.command {
        None => one_line(Config::from_args(&cli.run)),
        Some(Command::Check(a)) => one_line(Config::from_args(&a.run)),
        Some(Command::Decommission(a)) => one_line(decommission::Settings::from_args(a)),
        Some(Command::Restore(a)) => one_line(restore::Settings::from_args(a, SystemTime::now())),
        Some(Command::Healthcheck(_)) => {}
    }
});
