//! Log set-up: structured tracing to stdout, JSON when stdout is not a terminal (or as asked).
//! `RUST_LOG`, when set, overrides the level filter. JSON lines nest what is JSON already: a field
//! whose value is a JSON object or array (the undo `record`, `services = ?list`) is written as that
//! object or array, not as a string holding it, so machines read it without a second parse.

use std::io::IsTerminal;

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Json, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// tracing-subscriber's own JSON line, with JSON-valued string fields nested (see `nest`).
struct NestedJson(format::Format<Json>);

impl<S, N> FormatEvent<S, N> for NestedJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&nest(&line))
    }
}

/// Rewrites one JSON log line: every top-level string field (and every one under `fields`) whose
/// text is a JSON object or array becomes that object or array. Anything else is left as it was.
pub fn nest(line: &str) -> String {
    let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_str(line) else {
        return line.to_string();
    };
    fn nest_in(map: &mut serde_json::Map<String, serde_json::Value>) {
        for value in map.values_mut() {
            let Some(text) = value.as_str() else { continue };
            if !(text.starts_with('{') || text.starts_with('[')) {
                continue;
            }
            if let Ok(parsed) = serde_json::from_str::<serde_json::Value>(text) {
                if parsed.is_object() || parsed.is_array() {
                    *value = parsed;
                }
            }
        }
    }
    nest_in(&mut doc);
    if let Some(serde_json::Value::Object(fields)) = doc.get_mut("fields") {
        nest_in(fields);
    }
    let mut out = serde_json::Value::Object(doc).to_string();
    out.push('\n');
    out
}

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
            .event_format(NestedJson(
                format::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            ))
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

#[cfg(test)]
mod tests {
    use super::nest;

    #[test]
    fn json_inside_strings_becomes_nested_json() {
        let line = r#"{"level":"INFO","message":"deregistered","record":"{\"service_id\":\"srv-1\"}","services":"[\"srv-1\", \"srv-2\"]","body":"{not json","n":3}"#;
        let doc: serde_json::Value = serde_json::from_str(&nest(line)).unwrap();
        assert_eq!(doc["record"]["service_id"], "srv-1");
        assert_eq!(doc["services"][1], "srv-2");
        assert_eq!(doc["body"], "{not json", "text that is not JSON stays text");
        assert_eq!(doc["n"], 3);
        assert!(nest(line).ends_with("}\n"));
        assert_eq!(nest("not json"), "not json");
    }
}
