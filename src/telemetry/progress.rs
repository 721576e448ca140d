//! Progress of long work, one line per item: live spinners (indicatif) when stderr is a terminal,
//! plain log lines otherwise (CI logs, pipes).

use crate::telemetry::output::{err, errln};
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Where progress goes.
pub enum Progress {
    Live(MultiProgress),
    Plain,
}

/// One item's progress line.
pub struct Line {
    bar: Option<ProgressBar>,
    label: String,
}

impl Progress {
    pub fn new() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::Live(MultiProgress::new())
        } else {
            Progress::Plain
        }
    }

    pub fn line(&self, label: String) -> Line {
        let bar = match self {
            Progress::Live(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(label.clone());
                bar.set_message("waiting");
                bar.enable_steady_tick(Duration::from_millis(120));
                Some(bar)
            }
            Progress::Plain => None,
        };
        Line { bar, label }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Line {
    pub fn set(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None => errln!("{}: {message}", self.label),
        }
    }

    pub fn finish(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => bar.finish_with_message(message),
            None => errln!("{}: {message}", self.label),
        }
    }
}

/// Asks `prompt` on the terminal and returns whether the answer was `yes`; `None` when stdin is no
/// terminal (callers then require `--yes`).
pub fn ask_yes(prompt: &str) -> Option<bool> {
    use std::io::{BufRead, Write};
    if !std::io::stdin().is_terminal() {
        return None;
    }
    err!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    Some(answer.trim() == "yes")
}
