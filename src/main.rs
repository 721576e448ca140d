//! Wiring only: parse the command line, validate it (`config`), init tracing, run, map the outcome to
//! an exit code. Every usage error, clap's or `config`'s, is one line and exit 2, before anything starts;
//! nothing printed here panics on a closed pipe.
#![forbid(unsafe_code)]

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{CommandFactory, Parser};
use cloud_unmap::commands;
use cloud_unmap::config::cli::{Cli, Command, LogFormat};
use cloud_unmap::config::{decommission, restore, Config, ConfigError};
use cloud_unmap::telemetry::{logging, output};

/// Prints one line for a usage error and returns exit code 2. Clap's message spans several lines;
/// the line keeps their point (the missing argument's name, the allowed values, the "did you mean"
/// tip) and names the `CLOUD_UNMAP_*` variable that held a bad value when the flag was not typed.
fn usage_error(message: &str) -> ExitCode {
    let mut line = one_line(message);
    if let Some(variable) = from_environment(&line) {
        line.push_str(&format!(" (read from the environment variable {variable})"));
    }
    output::stderr(format_args!("cloud-unmap: {line} (see --help)\n"));
    ExitCode::from(2)
}

/// Clap's message up to its usage block, as one line: a line ending in ':' runs on into the next,
/// the others are joined with "; ".
fn one_line(message: &str) -> String {
    let mut line = String::new();
    for part in message
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
    {
        let part = part.strip_prefix("error: ").unwrap_or(part);
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    if line.is_empty() {
        line.push_str("invalid usage");
    }
    line
}

/// The environment variable that gave the first flag `line` names, when the command line does not
/// carry that flag but the variable is set.
fn from_environment(line: &str) -> Option<String> {
    let start = line.find("--")?;
    let name: String = line[start + 2..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let flag = format!("--{name}");
    // args_os: an argument that is not UTF-8 must not turn a usage error into a panic.
    let typed = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    if typed {
        return None;
    }
    let command = Cli::command();
    let mut commands = vec![&command];
    commands.extend(command.get_subcommands());
    let variable = commands
        .iter()
        .flat_map(|c| c.get_arguments())
        .filter(|a| a.get_long() == Some(name.as_str()))
        .find_map(|a| a.get_env())?
        .to_string_lossy()
        .into_owned();
    std::env::var_os(&variable).map(|_| variable)
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
            output::stderr(format_args!(
                "cloud-unmap: cannot start the async runtime: {e}\n"
            ));
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
