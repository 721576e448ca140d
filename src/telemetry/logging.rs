//! Log set-up: structured tracing to stdout, JSON when stdout is not a terminal (or as asked).
//! `RUST_LOG`, when set, overrides the level filter.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. AWS SDK crates log at `warn` unless the level asked for is lower.
/// `json`: JSON lines (`Some(true)`), text (`Some(false)`), or JSON when stdout is not a terminal.
pub fn init(level: tracing::Level, json: Option<bool>) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ if level > tracing::Level::WARN => EnvFilter::new(format!("warn,cloud_unmap={level}")),
        _ => EnvFilter::new(level.to_string()),
    };
    let json = json.unwrap_or(!std::io::stdout().is_terminal());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        // A closed stdout drops log lines; reporting that on stderr could panic in turn.
        .log_internal_errors(false);
    match json {
        true => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        false => builder.with_ansi(std::io::stdout().is_terminal()).init(),
    }
}

/// Diagnostics of a one-shot command on stderr, as text (stdout carries its report).
pub fn init_stderr(level: tracing::Level) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(format!("warn,cloud_unmap={level}")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
