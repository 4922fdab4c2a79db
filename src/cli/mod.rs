//! The command-line edge: parse arguments, run one pipeline per subcommand, map the outcome
//! to an exit code. No logic lives here beyond wiring the stages together.

mod apply;
pub mod args;
mod check;
mod cloud;
mod docs;
mod exit;
mod logging;
mod mirror;
mod output;
mod plan;
mod progress;
mod reconcile;
mod update;
mod validate;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

pub use exit::Exit;

/// The top-level entry point: parses `std::env::args`, runs the command, returns its exit code.
pub fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are not errors; everything else is a usage error.
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return Exit::Success.into();
        }
        Err(error) => {
            let _ = error.print();
            if args::asks_for_json(std::env::args_os()) {
                let rendered = error.render().to_string();
                let first = rendered.lines().next().unwrap_or_default();
                json_error("usage", first.trim_start_matches("error: "));
            }
            return Exit::Usage.into();
        }
    };
    logging::init(&cli.global);
    let result = match &cli.command {
        args::Command::Validate(args) => validate::run(args),
        args::Command::Plan(args) => runtime().and_then(|rt| rt.block_on(plan::run(args))),
        args::Command::Apply(args) => {
            let fetch = cli.global.fetch();
            runtime().and_then(|rt| rt.block_on(apply::run(args, cli.global.quiet, fetch)))
        }
        args::Command::Check(args) => check::run(args),
        args::Command::Update(args) => {
            runtime().and_then(|rt| rt.block_on(update::run(args, &cli.global)))
        }
        args::Command::Mirror(args) => {
            runtime().and_then(|rt| rt.block_on(mirror::run(args, &cli.global)))
        }
        args::Command::Completions { shell } => docs::completions(*shell),
        args::Command::Man { dir } => docs::man(dir.as_deref()),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(error) => {
            let message = one_line(&format!("{error:#}"));
            eprintln!("error: {message}");
            if cli.command.output() == Some(args::OutputFormat::Json) {
                json_error(exit::kind(&error), &message);
            }
            Exit::Failure.into()
        }
    }
}

/// Under `--output json` a fatal error is a JSON document too, so a consumer that parses
/// stdout always gets one: `{"format_version": "1", "error": {"kind": …, "message": …}}`.
fn json_error(kind: &str, message: &str) {
    #[derive(serde::Serialize)]
    struct Document<'a> {
        format_version: &'a str,
        error: Fatal<'a>,
    }
    #[derive(serde::Serialize)]
    struct Fatal<'a> {
        kind: &'a str,
        message: &'a str,
    }
    let document = Document {
        format_version: output::FORMAT_VERSION,
        error: Fatal { kind, message },
    };
    let _ = output::stdout(|out| output::json(out, &document));
}

/// Loads the catalog for a command that acts on it. Error diagnostics are printed (as
/// `validate` prints them) and fail the run: nothing is ever `what` from an invalid catalog.
fn valid_catalog(
    paths: &[std::path::PathBuf],
    what: &'static str,
) -> anyhow::Result<crate::catalog::Catalog> {
    let loaded = crate::catalog::load(paths)?;
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::catalog::Severity::Error)
        .collect();
    if !errors.is_empty() {
        for diagnostic in &errors {
            eprintln!("{diagnostic}");
        }
        return Err(exit::InvalidCatalog {
            errors: errors.len(),
            what,
        }
        .into());
    }
    Ok(loaded.catalog)
}

/// The runtime for commands that talk to the network. Multi-thread: hashing streamed images
/// (sha512 at ~0.4 GB/s per core) must not hold back the other transfers.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The error chain on one line: some causes (e.g. SDK discovery errors) span several.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
