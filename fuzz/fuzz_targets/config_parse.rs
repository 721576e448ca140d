//! Fuzz target: any command line (NUL-separated arguments) → clap + `Config::from_args` accept or
//! refuse it with an error, never panic.
#![no_main]

use clap::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let args = std::iter::once("cloud-unmap").chain(text.split('\0'));
    if let Ok(cli) = cloud_unmap::config::cli::Cli::try_parse_from(args) {
        if cli.command.is_none() {
            let _ = cloud_unmap::config::Config::from_args(&cli.run);
        }
    }
});
