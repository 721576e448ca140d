//! Output for people and pipes: a command's report on stdout (`outln!`, `out!`), its messages on
//! stderr (`errln!`). A reader that went away (`check --output json | head -1`) ends the output
//! quietly: never a panic (Rust's `println!` panics on a closed pipe), and the work under way is not
//! stopped half-way, so nothing is left half-done because nobody reads.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

fn write(gone: &AtomicBool, mut to: impl Write, args: fmt::Arguments<'_>) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    // Any failure (a closed pipe, a full disk) ends this stream's output; the program goes on.
    if to.write_fmt(args).and_then(|()| to.flush()).is_err() {
        gone.store(true, Ordering::Relaxed);
    }
}

/// Writes to stdout; after a failed write (the reader went away) writes nothing more.
pub fn stdout(args: fmt::Arguments<'_>) {
    write(&STDOUT_GONE, io::stdout().lock(), args)
}

/// Writes to stderr; after a failed write writes nothing more.
pub fn stderr(args: fmt::Arguments<'_>) {
    write(&STDERR_GONE, io::stderr().lock(), args)
}

/// `println!` that never panics on a closed stdout.
macro_rules! outln {
    () => { $crate::telemetry::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::telemetry::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that never panics on a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => { $crate::telemetry::output::stdout(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics on a closed stderr.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::telemetry::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that never panics on a closed stderr.
macro_rules! err {
    ($($arg:tt)*) => { $crate::telemetry::output::stderr(format_args!($($arg)*)) };
}

// Reached as `crate::telemetry::output::outln!` and so on (the layers stay visible in the paths).
#[allow(unused_imports)]
pub(crate) use {err, errln, out, outln};
