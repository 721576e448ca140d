//! Wiring only: parse the command line, validate it (`config`), init tracing, run, map the outcome to
//! an exit code. Every usage error, clap's or `config`'s, is one line and exit 2, before anything starts.
#![forbid(unsafe_code)]

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use cloud_unmap::commands;
use cloud_unmap::config::cli::{Cli, Command, LogFormat};
use cloud_unmap::config::{decommission, restore, Config, ConfigError};
use cloud_unmap::telemetry::logging;

/// Prints one line for a usage error (clap's own message is several) and returns exit code 2.
fn usage_error(message: &str) -> ExitCode {
    let line = message.lines().next().unwrap_or("invalid usage").trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    eprintln!("cloud-unmap: {line} (see --help)");
    ExitCode::from(2)
}

/// Runs a command to its exit code (1 when the runtime cannot start).
fn block_on(work: impl Future<Output = i32>) -> i32 {
    // One thread: the work is waiting on AWS, and one thread keeps one malloc arena (peak RSS ~2 MiB
    // lower than a worker per core, measured by bench/reconcile.py).
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("cloud-unmap: cannot start the async runtime: {e}");
            1
        }
    }
}

/// Validates the command's flags, then runs it; a `ConfigError` means nothing was started.
fn run(cli: Cli) -> Result<i32, ConfigError> {
    Ok(match cli.command {
        Some(Command::Decommission(args)) => {
            let settings = decommission::Settings::from_args(&args)?;
            logging::init_stderr(settings.log_level);
            block_on(commands::decommission::run(settings))
        }
        Some(Command::Check(args)) => {
            let config = Config::from_args(&args.run)?;
            // The report is the output: diagnostics only from WARNING up, unless asked for more.
            let level = match config.log_level {
                tracing::Level::INFO => tracing::Level::WARN,
                other => other,
            };
            logging::init_stderr(level);
            block_on(commands::check::run(config, &args))
        }
        Some(Command::Restore(args)) => {
            let settings = restore::Settings::from_args(&args, SystemTime::now())?;
            logging::init_stderr(settings.log_level);
            block_on(commands::restore::run(settings))
        }
        Some(Command::Healthcheck(args)) => block_on(commands::healthcheck::run(
            args.port,
            Duration::from_secs(args.timeout),
        )),
        None => {
            let config = Config::from_args(&cli.run)?;
            let json = config.log_format.map(|f| f == LogFormat::Json);
            logging::init(config.log_level, json);
            block_on(cloud_unmap::engine::app::run(config))
        }
    })
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
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => usage_error(&e.to_string()),
    }
}
