//! `image-manager update`: add newer upstream builds to the catalog files.
//!
//! Without `--write` it prints what it would change as a unified diff and exits 2 (0 when
//! everything is current); with `--write` it writes the files. A definition whose upstream
//! failed is reported and makes the run exit 1, but does not hold back the others.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::args::{GlobalArgs, OutputFormat, UpdateArgs};
use super::{Exit, output};
use crate::catalog::Diagnostic;
use crate::redact;
use crate::update::{self, FileChange, Outcome, Status};

/// The `format_version` of `update --output json`: "2" since it is a string (it was the number 1).
const UPDATE_FORMAT: &str = "2";

/// The JSON form of a run (`--output json`).
#[derive(Serialize)]
struct Report<'a> {
    format_version: &'static str,
    written: bool,
    definitions: &'a [Outcome],
    files: Vec<FileReport>,
    /// Validation errors of the edited catalog: when present, nothing was written.
    invalid: &'a [Diagnostic],
}

/// An edited catalog file in a JSON report (`update`, `mirror`).
#[derive(Serialize)]
pub(super) struct FileReport {
    path: String,
    diff: String,
}

/// The edited files as the JSON reports show them.
pub(super) fn file_reports(files: &[FileChange]) -> Vec<FileReport> {
    files
        .iter()
        .map(|c| FileReport {
            path: c.path.display().to_string(),
            diff: redact::text(&c.diff()),
        })
        .collect()
}

/// Text output of the edited files: their diff on stdout when `--write` was not given, else
/// (on stderr) the files `written`.
pub(super) fn show_files(files: &[FileChange], asked: bool, written: bool) -> anyhow::Result<()> {
    if !asked {
        output::stdout(|out| {
            files
                .iter()
                .try_for_each(|change| write!(out, "{}", redact::text(&change.diff())))
        })?;
    } else if written {
        for change in files {
            eprintln!("wrote {}", change.path.display());
        }
    }
    Ok(())
}

/// The top-level entry point for `update`.
pub async fn run(args: &UpdateArgs, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let options = update::Options {
        filter: args.filter.clone(),
        keep_versions: args.keep_versions.map(usize::from),
        timeout: Duration::from_secs(args.timeout),
        ca_bundle: global.ca_bundle.clone(),
        allow_file_urls: global.allow_file_urls.clone(),
        mirror: update::MirrorOptions {
            layout: args.layout.layout.clone(),
            base: args.layout.mirror_base.clone(),
            copy: match args.mirror {
                true => Some(Arc::new(super::mirror::connect(
                    &args.s3,
                    &args.layout,
                    global,
                )?)),
                false => None,
            },
        },
    };
    let found = update::update(&args.catalog.paths(), &options).await?;
    let write = args.write && found.changed() && found.invalid.is_empty();
    if write {
        found.write()?;
    }
    match args.output {
        OutputFormat::Text => {
            for outcome in &found.outcomes {
                eprintln!("{}", describe(outcome));
            }
            for d in &found.invalid {
                eprintln!("{d}");
            }
            if !found.invalid.is_empty() {
                eprintln!("the edited catalog would not validate: nothing written");
            }
            show_files(&found.files, args.write, write)?;
        }
        OutputFormat::Json => {
            let report = Report {
                format_version: UPDATE_FORMAT,
                written: write,
                definitions: &found.outcomes,
                files: file_reports(&found.files),
                invalid: &found.invalid,
            };
            output::stdout(|out| output::json(out, &report))?;
        }
    }
    Ok(if found.failed() || !found.invalid.is_empty() {
        Exit::Failure
    } else if found.changed() && !args.write {
        Exit::Changes
    } else {
        Exit::Success
    })
}

/// One line per definition, e.g. `Ubuntu 24.04: added 20260801 (sha256:…)`.
fn describe(outcome: &Outcome) -> String {
    let name = &outcome.definition;
    match outcome.status {
        Status::Current => format!("{name}: current"),
        Status::Skipped => format!(
            "{name}: skipped: {}",
            outcome.message.as_deref().unwrap_or("")
        ),
        Status::Failed => format!(
            "{name}: failed: {}",
            outcome.message.as_deref().unwrap_or("")
        ),
        Status::Updated => {
            let mut parts: Vec<String> = outcome.added.iter().map(added).collect();
            if !outcome.dropped.is_empty() {
                parts.push(format!("dropped {}", outcome.dropped.join(", ")));
            }
            format!("{name}: {}", parts.join("; "))
        }
    }
}

/// `added 20260801 (2026-08-01)`, with where its mirror copy is, or will be.
fn added(added: &update::Added) -> String {
    let line = format!("added {} ({})", added.version, added.build_date);
    match &added.mirror_url {
        Some(url) if added.mirrored => format!("{line}, mirrored to {url}"),
        Some(url) => format!(
            "{line}, mirror_url {url} (not mirrored yet: run `image-manager mirror`; apply falls \
             back to url until then)"
        ),
        None => line,
    }
}
