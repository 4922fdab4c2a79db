//! Stdout, the one way results leave the process.
//!
//! Why one function: every command writes its results (plans, reports, diagnostics, diffs) to
//! stdout and logs to stderr, and a reader that stops early (`image-manager validate | head`)
//! must not change how any of them ends. A closed pipe ends the output, not the run: the
//! command goes on (an `apply` whose plan went to a closed pipe still applies it) and its exit
//! code stands (ripgrep's rule).

use std::io::{self, Write};

use anyhow::Context;

/// The `format_version` of every `--output json` document (a string, like terraform's):
/// bumped, per document, on incompatible changes.
pub(super) const FORMAT_VERSION: &str = "1";

/// Runs `write` on the locked stdout and flushes it; a closed pipe is not an error.
pub(super) fn stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// `value` as pretty JSON and a newline: every `--output json` document.
pub(super) fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}
