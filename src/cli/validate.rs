//! `image-manager validate`: load the catalog and report every problem found, including what
//! `check --offline` would fail (as warnings at the definitions, [`check::lint`]).

use chrono::Utc;
use serde::Serialize;

use super::args::{OutputFormat, ValidateArgs};
use super::{Exit, output};
use crate::catalog::{self, Diagnostic, Severity};
use crate::check;

/// The JSON form of a validation run (`--output json`).
#[derive(Serialize)]
struct Report<'a> {
    format_version: &'static str,
    files: Vec<String>,
    definitions: usize,
    errors: usize,
    warnings: usize,
    diagnostics: &'a [Diagnostic],
}

/// The top-level entry point for `validate`.
pub fn run(args: &ValidateArgs) -> anyhow::Result<Exit> {
    let loaded = catalog::load(&args.catalog_paths())?;
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(check::lint(&loaded.catalog, Utc::now()));
    diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
    if args.strict {
        for d in &mut diagnostics {
            d.severity = Severity::Error;
        }
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let files: Vec<String> = loaded
        .catalog
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    match args.output {
        OutputFormat::Text => {
            output::stdout(|out| diagnostics.iter().try_for_each(|d| writeln!(out, "{d}")))?;
            eprintln!(
                "{} file{}, {} definition{}: {errors} error{}, {warnings} warning{}",
                files.len(),
                plural(files.len()),
                loaded.catalog.definitions.len(),
                plural(loaded.catalog.definitions.len()),
                plural(errors),
                plural(warnings),
            );
        }
        OutputFormat::Json => {
            let report = Report {
                format_version: output::FORMAT_VERSION,
                definitions: loaded.catalog.definitions.len(),
                files,
                errors,
                warnings,
                diagnostics: &diagnostics,
            };
            output::stdout(|out| output::json(out, &report))?;
        }
    }
    Ok(if errors > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
