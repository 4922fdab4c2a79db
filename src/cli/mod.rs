//! The command-line edge: parse arguments, run one pipeline per subcommand, map the outcome
//! to an exit code. No logic lives here beyond wiring the stages together.

mod apply;
pub mod args;
mod check;
mod cloud;
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
        Err(error) => {
            // --help and --version are not errors; everything else is a usage error.
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            };
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
    };
    match result {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprintln!("error: {}", one_line(&format!("{error:#}")));
            Exit::Failure.into()
        }
    }
}

/// Loads the catalog for a command that acts on it. Error diagnostics are printed (as
/// `validate` prints them) and fail the run: nothing is ever `what` from an invalid catalog.
fn valid_catalog(
    paths: &[std::path::PathBuf],
    what: &str,
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
        anyhow::bail!(
            "the catalog has {} error{}; nothing was {what} (details: image-manager validate)",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
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
