//! What `cloud-unmap check` found, and its two renderings: aligned tables for people, JSON for
//! pipelines. Pure: no AWS call here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// How a finding bears on the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// As it should be.
    Ok,
    /// Worth knowing, nothing wrong.
    Note,
    /// Works, but something is likely not what was meant (or could not be checked).
    Warn,
    /// The worker would fail or do harm here.
    Fail,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// One checked thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked: credentials, service, namespace, service-tag, account, queue, hook, registrations.
    pub check: &'static str,
    /// Which one (an id, an account/region, a hook name).
    pub subject: String,
    pub level: Level,
    pub detail: String,
}

impl Finding {
    pub fn new(
        check: &'static str,
        subject: impl Into<String>,
        level: Level,
        detail: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            subject: subject.into(),
            level,
            detail: detail.into(),
        }
    }
}

/// Where one service's registrations' instances are, as EC2 answers for the configured accounts
/// and regions (the same judgement the worker makes, every absence counted as confirmed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Whereabouts {
    pub service: String,
    pub registrations: usize,
    /// EC2 shows the instance alive at the registered address (kept).
    pub alive: usize,
    /// EC2 shows it gone (terminated; stopped with --deregister-stopped; another address).
    pub gone: usize,
    /// No configured account and region knows the instance.
    pub not_found: usize,
    /// Not judged by EC2: no address attribute, or no EC2 instance id.
    pub not_judged: usize,
    /// Instances found, by `account/region`.
    pub found_in: BTreeMap<String, usize>,
    /// The first not-found registrations' EC2 ids (at most 10).
    pub not_found_ids: Vec<String>,
}

/// Everything `check` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The account the credentials act in, when STS told.
    pub account: Option<String>,
    pub findings: Vec<Finding>,
    pub services: Vec<Whereabouts>,
}

impl Report {
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// 1 when something would fail, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.count(Level::Fail) > 0)
    }

    pub fn json(&self) -> String {
        let mut doc = serde_json::to_value(self).unwrap_or_default();
        doc["failures"] = self.count(Level::Fail).into();
        doc["warnings"] = self.count(Level::Warn).into();
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// Two aligned tables (findings, then the services' whereabouts) and a summary line.
    pub fn text(&self) -> String {
        let mut rows: Vec<Vec<String>> = vec![["RESULT", "CHECK", "SUBJECT", "DETAIL"]
            .map(String::from)
            .to_vec()];
        for f in &self.findings {
            rows.push(vec![
                f.level.label().to_string(),
                f.check.to_string(),
                f.subject.clone(),
                f.detail.clone(),
            ]);
        }
        let mut out = table(&rows);
        if !self.services.is_empty() {
            let mut rows: Vec<Vec<String>> = vec![[
                "SERVICE",
                "REGISTRATIONS",
                "ALIVE",
                "GONE",
                "NOT FOUND",
                "NOT JUDGED",
                "FOUND IN (account/region)",
            ]
            .map(String::from)
            .to_vec()];
            for s in &self.services {
                let found: Vec<String> = s
                    .found_in
                    .iter()
                    .map(|(at, n)| format!("{at}: {n}"))
                    .collect();
                rows.push(vec![
                    s.service.clone(),
                    s.registrations.to_string(),
                    s.alive.to_string(),
                    s.gone.to_string(),
                    s.not_found.to_string(),
                    s.not_judged.to_string(),
                    if found.is_empty() {
                        "-".to_string()
                    } else {
                        found.join(", ")
                    },
                ]);
            }
            out.push('\n');
            out.push_str(&table(&rows));
        }
        let (fail, warn) = (self.count(Level::Fail), self.count(Level::Warn));
        let _ = writeln!(
            out,
            "\n{} would fail, {} warning(s): {}",
            fail,
            warn,
            if fail > 0 {
                "fix the FAIL lines before deploying (exit 1)"
            } else {
                "ready (exit 0)"
            }
        );
        out
    }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, value) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(value);
            } else {
                let _ = write!(line, "{value:<width$}  ", width = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            account: Some("111111111111".into()),
            findings: vec![
                Finding::new(
                    "credentials",
                    "arn:aws:iam::111111111111:user/x",
                    Level::Ok,
                    "account 111111111111",
                ),
                Finding::new(
                    "service",
                    "srv-abcdef0123456789",
                    Level::Fail,
                    "does not exist",
                ),
                Finding::new("queue", "q", Level::Warn, "no DLQ"),
            ],
            services: vec![Whereabouts {
                service: "srv-0123456789abcdef".into(),
                registrations: 3,
                alive: 1,
                not_found: 2,
                found_in: BTreeMap::from([("111111111111/eu-west-1".into(), 1)]),
                ..Whereabouts::default()
            }],
        }
    }

    #[test]
    fn a_failure_exits_1_and_warnings_alone_exit_0() {
        let mut r = report();
        assert_eq!(r.exit_code(), 1);
        r.findings.retain(|f| f.level != Level::Fail);
        assert_eq!(r.exit_code(), 0);
        assert!(r
            .text()
            .contains("0 would fail, 1 warning(s): ready (exit 0)"));
    }

    #[test]
    fn text_aligns_columns_and_names_every_finding() {
        let text = report().text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("RESULT  CHECK        SUBJECT"),
            "{text}"
        );
        let detail = lines[0].find("DETAIL").unwrap();
        assert_eq!(lines[2].find("does not exist"), Some(detail), "{text}");
        assert!(lines[2].starts_with("FAIL"));
        assert!(text.contains("srv-0123456789abcdef  3              1      0     2"));
        assert!(text.contains("111111111111/eu-west-1: 1"));
    }

    #[test]
    fn json_carries_levels_and_counts() {
        let doc: serde_json::Value = serde_json::from_str(&report().json()).unwrap();
        assert_eq!(doc["failures"], 1);
        assert_eq!(doc["warnings"], 1);
        assert_eq!(doc["findings"][1]["level"], "fail");
        assert_eq!(doc["services"][0]["not_found"], 2);
        assert_eq!(doc["account"], "111111111111");
    }
}
