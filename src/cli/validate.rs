//! `image-manager validate`: load the catalog and report every problem found.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

use super::Exit;
use super::args::{OutputFormat, ValidateArgs};
use crate::catalog::{self, Diagnostic, Severity};

/// The JSON form of a validation run (`--output json`).
#[derive(Serialize)]
struct Report<'a> {
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
    let mut stdout = std::io::stdout().lock();
    match args.output {
        OutputFormat::Text => {
            for d in &diagnostics {
                writeln!(stdout, "{d}").context("writing to stdout")?;
            }
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
                definitions: loaded.catalog.definitions.len(),
                files,
                errors,
                warnings,
                diagnostics: &diagnostics,
            };
            serde_json::to_writer_pretty(&mut stdout, &report).context("writing to stdout")?;
            writeln!(stdout).context("writing to stdout")?;
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
