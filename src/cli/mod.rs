//! The command-line edge: parse arguments, run one pipeline per subcommand, map the outcome
//! to an exit code. No logic lives here beyond wiring the stages together.

pub mod args;
mod exit;
mod logging;
mod validate;

use std::process::ExitCode;

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
    };
    match result {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprintln!("error: {error:#}");
            Exit::Failure.into()
        }
    }
}
