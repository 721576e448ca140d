//! Wiring only: parse the command line, validate, init tracing, run, map the outcome to an exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cloud_unmap::config::cli::{Cli, Command};
use cloud_unmap::config::Config;

/// Prints one line for a usage error (clap's own message is several) and returns exit code 2.
fn usage_error(message: &str) -> ExitCode {
    let line = message.lines().next().unwrap_or("invalid usage").trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    eprintln!("cloud-unmap: {line} (see --help)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help / --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e.to_string()),
    };
    // One thread: the work is waiting on AWS, and one thread keeps one malloc arena (peak RSS ~2 MiB
    // lower than a worker per core, measured by bench/reconcile.py).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cloud-unmap: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match cli.command {
        Some(Command::Decommission(args)) => {
            let Some(level) = cloud_unmap::config::parse_log_level(&args.log_level) else {
                return usage_error(&format!("invalid --log-level {:?}", args.log_level));
            };
            cloud_unmap::telemetry::logging::init_stderr(level);
            runtime.block_on(cloud_unmap::commands::decommission::run(args))
        }
        Some(Command::Check(args)) => {
            let config = match Config::from_args(&args.run) {
                Ok(c) => c,
                Err(e) => return usage_error(&e.to_string()),
            };
            // The report is the output: diagnostics only from WARNING up, unless asked for more.
            let level = match config.log_level {
                tracing::Level::INFO => tracing::Level::WARN,
                other => other,
            };
            cloud_unmap::telemetry::logging::init_stderr(level);
            runtime.block_on(cloud_unmap::commands::check::run(config, &args))
        }
        Some(Command::Restore(args)) => {
            let Some(level) = cloud_unmap::config::parse_log_level(&args.log_level) else {
                return usage_error(&format!("invalid --log-level {:?}", args.log_level));
            };
            cloud_unmap::telemetry::logging::init_stderr(level);
            runtime.block_on(cloud_unmap::commands::restore::run(args))
        }
        Some(Command::Healthcheck(args)) => runtime.block_on(
            cloud_unmap::commands::healthcheck::run(args.port, Duration::from_secs(args.timeout)),
        ),
        None => {
            let config = match Config::from_args(&cli.run) {
                Ok(c) => c,
                Err(e) => return usage_error(&e.to_string()),
            };
            let json = config
                .log_format
                .map(|f| f == cloud_unmap::config::cli::LogFormat::Json);
            cloud_unmap::telemetry::logging::init(config.log_level, json);
            runtime.block_on(cloud_unmap::engine::app::run(config))
        }
    };
    ExitCode::from(code as u8)
}
