//! The reference pages under `docs/reference/` against the code they describe, so that they cannot
//! drift: `flags.md` against clap's definitions, `metrics.md` against the registered metric
//! families, `iam.md` against the generated worker policy.
//!
//! The crate is reached through two paths only, `cloud_unmap::config::cli::Cli` and
//! `cloud_unmap::telemetry::metrics::Metrics`, so that moving modules around touches this file in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use clap::CommandFactory;
use cloud_unmap::config::cli::Cli;
use cloud_unmap::telemetry::metrics::Metrics;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cells of a Markdown table row; `\|` inside a cell is not a separator.
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let (mut out, mut cell, mut escaped) = (Vec::new(), String::new(), false);
    for c in inner.chars() {
        match c {
            '|' if !escaped => out.push(std::mem::take(&mut cell).trim().to_string()),
            '\\' => {
                escaped = true;
                cell.push(c);
                continue;
            }
            _ => cell.push(c),
        }
        escaped = false;
    }
    out.push(cell.trim().to_string());
    out
}

/// `## heading` sections of a page: heading text → the lines under it.
fn sections(page: &str) -> Vec<(String, Vec<&str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            out.push((heading.to_string(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line);
        }
    }
    out
}

/// The first `` `code` `` span of a text.
fn first_code(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(&text[start..start + len])
}

/// One documented flag: the environment variable it names (`None` for "—") and its default cell.
#[derive(Debug, Clone)]
struct DocFlag {
    env: Option<String>,
    default: String,
}

/// The flags a section of `flags.md` documents, by long name. Its tables' header rows say which
/// column is which; a row documents the first `--flag` of its first cell.
fn documented_flags(lines: &[&str]) -> BTreeMap<String, DocFlag> {
    let mut out = BTreeMap::new();
    let mut header: Vec<String> = Vec::new();
    for line in lines.iter().filter(|l| l.starts_with('|')) {
        let row = cells(line);
        if row.first().is_some_and(|c| c == "flag") {
            header = row;
            continue;
        }
        let Some(flag) = row.first().and_then(|c| first_code(c)) else {
            continue;
        };
        let Some(long) = flag.strip_prefix("--") else {
            continue;
        };
        let long = long
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| row.get(i).cloned())
                .unwrap_or_default()
        };
        let env = column("environment");
        let env = first_code(&env).map(str::to_string);
        out.insert(
            long,
            DocFlag {
                env,
                default: column("default"),
            },
        );
    }
    out
}

/// A ready-to-paste row for a flag the page lacks.
fn suggested_row(arg: &clap::Arg) -> String {
    let long = arg.get_long().unwrap_or_default();
    let value = arg
        .get_value_names()
        .map(|v| {
            let names: Vec<&str> = v.iter().map(|n| n.as_str()).collect();
            format!(" {}", names.join(" "))
        })
        .unwrap_or_default();
    let env = arg
        .get_env()
        .map(|e| format!("`{}`", e.to_string_lossy()))
        .unwrap_or_else(|| "—".to_string());
    let default = arg
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(", ");
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    format!("| `--{long}{value}` | {env} | {default} | {help} |")
}

#[test]
fn flags_md_lists_every_flag_of_every_command_with_its_environment_variable_and_default() {
    let page = read("docs/reference/flags.md");
    let mut documented: BTreeMap<String, BTreeMap<String, DocFlag>> = BTreeMap::new();
    let mut includes: Vec<(String, String)> = Vec::new();
    for (heading, lines) in sections(&page) {
        let Some(command) = first_code(&heading).filter(|c| c.starts_with("cloud-unmap")) else {
            continue;
        };
        for line in &lines {
            if let Some(rest) = line.trim().strip_prefix("<!-- includes:") {
                let other = rest.trim_end_matches("-->").trim().to_string();
                includes.push((command.to_string(), other));
            }
        }
        documented.insert(command.to_string(), documented_flags(&lines));
    }
    for (command, other) in includes {
        let inherited = documented
            .get(&other)
            .unwrap_or_else(|| {
                panic!("flags.md: `{command}` includes `{other}`, which has no section")
            })
            .clone();
        let own = documented.get_mut(&command).expect("the including section");
        for (long, flag) in inherited {
            own.entry(long).or_insert(flag);
        }
    }

    let root = Cli::command();
    let mut commands = vec![("cloud-unmap".to_string(), &root)];
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        commands.push((format!("cloud-unmap {}", sub.get_name()), sub));
    }

    let mut errors = Vec::new();
    let names: BTreeSet<&String> = commands.iter().map(|(n, _)| n).collect();
    for section in documented.keys().filter(|s| !names.contains(s)) {
        errors.push(format!(
            "flags.md documents `{section}`, which is no command"
        ));
    }
    for (name, command) in &commands {
        let Some(doc) = documented.get(name) else {
            errors.push(format!("flags.md has no section `## \\`{name}\\``"));
            continue;
        };
        let args: Vec<&clap::Arg> = command
            .get_arguments()
            .filter(|a| a.get_long().is_some() && !a.is_hide_set())
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .collect();
        let mut known = BTreeSet::new();
        for arg in &args {
            let long = arg.get_long().expect("filtered");
            known.insert(long.to_string());
            known.extend(
                arg.get_all_aliases()
                    .unwrap_or_default()
                    .into_iter()
                    .map(String::from),
            );
            let Some(flag) = doc.get(long) else {
                errors.push(format!(
                    "`{name}`: --{long} is not documented; add:\n    {}",
                    suggested_row(arg)
                ));
                continue;
            };
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            if flag.env != env {
                errors.push(format!(
                    "`{name}` --{long}: documented environment {:?}, clap reads {:?}",
                    flag.env, env
                ));
            }
            if arg.get_action().takes_values() {
                for value in arg.get_default_values() {
                    let value = format!("`{}`", value.to_string_lossy());
                    if !flag.default.contains(&value) {
                        errors.push(format!(
                            "`{name}` --{long}: default {value} not in the documented {:?}",
                            flag.default
                        ));
                    }
                }
            }
        }
        for long in doc.keys().filter(|l| !known.contains(*l)) {
            errors.push(format!(
                "`{name}`: --{long} is documented but does not exist"
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "docs/reference/flags.md:\n{}",
        errors.join("\n")
    );
}

#[test]
fn metrics_md_lists_exactly_the_registered_metric_families() {
    let mut registry = prometheus_client::registry::Registry::default();
    Metrics::default().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    // `# TYPE name kind`; a counter's samples carry the `_total` suffix the encoder adds.
    let registered: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| match l.split_once(' ') {
            Some((name, "counter")) => format!("{name}_total"),
            Some((name, _)) => name.to_string(),
            None => l.to_string(),
        })
        .collect();
    assert!(
        registered.len() > 10,
        "a fresh registry encodes its families:\n{text}"
    );

    let page = read("docs/reference/metrics.md");
    let (_, lines) = sections(&page)
        .into_iter()
        .find(|(h, _)| h == "Metrics")
        .expect("docs/reference/metrics.md has a `## Metrics` section");
    let documented: BTreeSet<String> = lines
        .iter()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            cells(l)
                .first()
                .and_then(|c| first_code(c))
                .map(str::to_string)
        })
        .collect();

    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/reference/metrics.md: registered but not documented {missing:?}; documented but not registered {extra:?}"
    );
}

#[test]
fn iam_md_shows_the_generated_worker_policy() {
    let page = read("docs/reference/iam.md");
    let marker = "<!-- worker-iam-policy -->\n```json\n";
    let start = page
        .find(marker)
        .expect("iam.md has a worker-iam-policy block")
        + marker.len();
    let end = start + page[start..].find("```").expect("the block ends");
    let shown: serde_json::Value =
        serde_json::from_str(&page[start..end]).expect("the block is JSON");
    // The policy's source is infra/construct/src/policy.ts; the infra tests keep this rendering of
    // it current (a stale infra/cloudformation/ fails them).
    let source: serde_json::Value =
        serde_json::from_str(&read("infra/cloudformation/worker-iam-policy.json")).expect("JSON");
    assert_eq!(
        shown, source,
        "docs/reference/iam.md's policy differs from infra/cloudformation/worker-iam-policy.json"
    );

    // Every other policy the page shows is at least valid JSON.
    for block in page.split("```json\n").skip(1) {
        let body = &block[..block.find("```").expect("a json block ends")];
        serde_json::from_str::<serde_json::Value>(body)
            .unwrap_or_else(|e| panic!("iam.md: a json block does not parse ({e}):\n{body}"));
    }
}
