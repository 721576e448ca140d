//! The source tree's layers, enforced: each folder of `src/` is a layer, each layer imports only the
//! layers below it (the table in `src/lib.rs`), no two modules import each other (directly or round
//! a longer cycle), the model stays pure, and every AWS call (`.send()`, an SDK waiter) is in
//! `src/aws/`. Reads the source as text: a failure names the offending file, line and import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each layer may import besides itself.
const RULES: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("error", &["model"]),
    ("config", &["model", "error"]),
    ("aws", &["model", "error"]),
    ("telemetry", &["model", "error"]),
    ("engine", &["model", "error", "config", "aws", "telemetry"]),
    // And `crate::engine::<item>` for what `engine/mod.rs` re-exports (checked below).
    (
        "commands",
        &["model", "error", "config", "aws", "telemetry"],
    ),
];

/// Crates the model must not use: it is pure data and decisions. (`aws_smithy_types`, the SDK's
/// plain value types such as `DateTime`, does no I/O and is allowed.)
const IMPURE: &[&str] = &[
    "aws_sdk_",
    "aws_config",
    "aws_smithy_runtime",
    "aws_smithy_http",
    "hyper",
    "tokio",
    "prometheus_client",
    "axum",
    "tracing",
];

struct Import {
    file: String,
    line: usize,
    text: String,
    /// The crate path's segments after `crate::`.
    path: Vec<String>,
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to: `layer::module` (`engine::worker` for `src/engine/worker/act.rs`),
/// the layer itself for its `mod.rs`, `error` for `src/error.rs`.
fn module_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [file] if file == "lib" || file == "main" => None,
        [file] => Some(file.clone()),
        [layer, file] if file == "mod" => Some(layer.clone()),
        [layer, module, ..] => Some(format!("{layer}::{module}")),
        _ => None,
    }
}

/// The `crate::…` paths of one line of code, grouped imports (`use crate::{a, b::c}`) expanded.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
            continue; // `cloud_unmap_crate::…` or `$crate::…`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            for item in inner.split(',') {
                let segs: Vec<String> = item
                    .split("::")
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if !segs.is_empty() {
                    found.push(segs);
                }
            }
            continue;
        }
        let segs: Vec<String> = rest
            .split("::")
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|s| !s.is_empty())
            .collect();
        found.push(segs);
    }
    found
}

fn read_tree() -> (Vec<Import>, Vec<(String, usize, String)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let (mut imports, mut lines) = (Vec::new(), Vec::new());
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src/").to_path_buf();
        let text = std::fs::read_to_string(&file).expect("a source file is readable");
        let name = format!("src/{}", rel.display());
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            lines.push((name.clone(), n + 1, code.to_string()));
            for path in crate_paths(code) {
                imports.push(Import {
                    file: name.clone(),
                    line: n + 1,
                    text: line.trim().to_string(),
                    path,
                });
            }
        }
    }
    (imports, lines)
}

fn layer_of(file: &str) -> Option<String> {
    let rel = Path::new(file.strip_prefix("src/")?);
    module_of(rel).map(|m| m.split("::").next().unwrap_or_default().to_string())
}

/// What `engine/mod.rs` re-exports (`pub use …::name;`), the only engine items commands may name.
fn engine_api() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine/mod.rs");
    let text = std::fs::read_to_string(path).expect("src/engine/mod.rs is readable");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("pub use "))
        .filter_map(|l| l.trim_end_matches(';').rsplit("::").next())
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let (imports, _) = read_tree();
    let rules: BTreeMap<&str, &[&str]> = RULES.iter().copied().collect();
    let api = engine_api();
    let mut offences = Vec::new();
    for i in &imports {
        let (Some(from), Some(to)) = (layer_of(&i.file), i.path.first()) else {
            continue;
        };
        let allowed = rules
            .get(from.as_str())
            .unwrap_or_else(|| panic!("{}: layer {from} has no rule in RULES", i.file));
        let ok = *to == from
            || allowed.contains(&to.as_str())
            || (from == "commands"
                && to == "engine"
                && i.path.len() == 2
                && api.contains(&i.path[1]));
        if !ok {
            offences.push(format!(
                "{}:{}: layer `{from}` may not import `crate::{}`: {}",
                i.file,
                i.line,
                i.path.join("::"),
                i.text
            ));
        }
    }
    assert!(offences.is_empty(), "\n{}", offences.join("\n"));
}

#[test]
fn no_two_modules_import_each_other() {
    let (imports, _) = read_tree();
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for i in &imports {
        let Some(from) = module_of(Path::new(i.file.strip_prefix("src/").unwrap_or(&i.file)))
        else {
            continue;
        };
        // The module named: `layer::module` when the layer has such a module, else the layer.
        let to = match i.path.as_slice() {
            [layer, module, ..] if is_module(layer, module) => format!("{layer}::{module}"),
            [layer, ..] => layer.clone(),
            [] => continue,
        };
        if to != from && !from.starts_with(&format!("{to}::")) {
            edges
                .entry(from)
                .or_default()
                .entry(to)
                .or_insert_with(|| format!("{}:{}: {}", i.file, i.line, i.text));
        }
    }
    // Depth-first search for a cycle; report it with the import behind each arrow.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(c) = visit(next, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            let arrows: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("  {} -> {}  ({})", w[0], w[1], edges[&w[0]][&w[1]]))
                .collect();
            panic!("import cycle:\n{}", arrows.join("\n"));
        }
    }
}

fn is_module(layer: &str, module: &str) -> bool {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(layer);
    src.join(format!("{module}.rs")).is_file() || src.join(module).is_dir()
}

#[test]
fn the_model_is_pure() {
    let (_, lines) = read_tree();
    let offences: Vec<String> = lines
        .iter()
        .filter(|(file, _, _)| file.starts_with("src/model/"))
        .filter(|(_, _, code)| IMPURE.iter().any(|c| mentions(code, c)))
        .map(|(file, n, code)| format!("{file}:{n}: {}", code.trim()))
        .collect();
    assert!(
        offences.is_empty(),
        "the model uses an impure crate:\n{}",
        offences.join("\n")
    );
}

#[test]
fn every_aws_call_is_in_the_aws_edge() {
    let (_, lines) = read_tree();
    let offences: Vec<String> = lines
        .iter()
        .filter(|(file, _, code)| {
            !file.starts_with("src/aws/")
                && (code.contains(".send()") || code.contains(".wait_until_"))
        })
        .map(|(file, n, code)| format!("{file}:{n}: {}", code.trim()))
        .collect();
    assert!(
        offences.is_empty(),
        "an AWS call outside src/aws/:\n{}",
        offences.join("\n")
    );
}

/// Whether `code` names the crate `name` (as a path's first segment).
fn mentions(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().last();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '"')
    })
}

#[test]
fn the_reader_finds_imports_as_written() {
    assert_eq!(
        crate_paths("use crate::{aws::cloudmap, model};"),
        vec![vec!["aws", "cloudmap"], vec!["model"]]
    );
    assert_eq!(
        crate_paths("let x = crate::engine::context::lock(&m);"),
        vec![vec!["engine", "context", "lock"]]
    );
    assert!(crate_paths("$crate::x").is_empty());
    assert_eq!(
        module_of(Path::new("engine/worker/act.rs")).as_deref(),
        Some("engine::worker")
    );
    assert_eq!(module_of(Path::new("aws/mod.rs")).as_deref(), Some("aws"));
    assert!(mentions("use tokio::sync;", "tokio") && !mentions("a_tokio_b", "tokio"));
}

#[test]
fn no_source_file_is_over_400_lines() {
    let (_, lines) = read_tree();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (file, _, _) in &lines {
        *count.entry(file.as_str()).or_default() += 1;
    }
    let long: Vec<String> = count
        .iter()
        .filter(|(_, n)| **n > 400)
        .map(|(f, n)| format!("{f}: {n} lines"))
        .collect();
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}

/// Every budgeted AWS call spends its budget first (`aws::budget`): in the edge's budgeted files
/// (all but SQS, DynamoDB, EventBridge, STS and Organizations), a request's `.send()` follows a `spend` in its
/// function, and each page a paginator asks for (`pages.next()`) follows one within three lines.
#[test]
fn every_budgeted_aws_call_spends_its_budget_first() {
    const EXEMPT: &[&str] = &[
        "sqs.rs",
        "dynamodb.rs",
        "eventbridge.rs",
        "sts.rs",
        "organizations.rs",
    ];
    let (_, lines) = read_tree();
    let mut offences = Vec::new();
    let mut spent_in_fn = false;
    let mut recent: Vec<&str> = Vec::new();
    let mut file_now = "";
    for (file, n, code) in &lines {
        if file != file_now {
            (file_now, spent_in_fn) = (file, false);
            recent.clear();
        }
        if !file.starts_with("src/aws/") || EXEMPT.iter().any(|e| file.ends_with(e)) {
            continue;
        }
        if code.contains("fn ") {
            spent_in_fn = false;
        }
        spent_in_fn |= code.contains("spend");
        let paginator = code.contains("into_paginator")
            || recent.last().is_some_and(|l| l.contains("into_paginator"));
        let sends = code.contains(".send()") && !paginator && !spent_in_fn;
        let pages = code.contains("pages.next()") && !recent.iter().any(|l| l.contains("spend"));
        if sends || pages {
            offences.push(format!("{file}:{n}: {}", code.trim()));
        }
        recent.push(code);
        if recent.len() > 3 {
            recent.remove(0);
        }
    }
    assert!(
        offences.is_empty(),
        "an AWS call that spends no budget:\n{}",
        offences.join("\n")
    );
}
