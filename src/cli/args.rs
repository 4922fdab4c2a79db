//! Command-line arguments as typed: clap derive structs only, no I/O.
//!
//! Turning these into a resolved configuration (paths, clouds, policies) happens in the
//! command functions, so parsing stays testable with `Cli::try_parse_from`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps OpenStack Glance in line with declarative YAML image catalogs.
#[derive(Debug, Parser)]
#[command(name = "image-manager", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check catalog files: JSON Schema, semantic checks and an SCS lint (no network).
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Catalog file or directory (repeatable); default: images.d/.
    #[arg(long = "images", value_name = "PATH")]
    pub images: Vec<PathBuf>,
    /// More catalog files or directories, as positional arguments.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Output format of the findings.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

impl ValidateArgs {
    /// Every path given, or the default catalog directory.
    pub fn catalog_paths(&self) -> Vec<PathBuf> {
        let paths: Vec<PathBuf> = self.images.iter().chain(&self.paths).cloned().collect();
        if paths.is_empty() {
            vec![PathBuf::from(crate::catalog::DEFAULT_PATH)]
        } else {
            paths
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_paths_default_and_combine() {
        let cli = Cli::try_parse_from(["image-manager", "validate"]).unwrap();
        let Command::Validate(args) = cli.command;
        assert_eq!(args.catalog_paths(), [PathBuf::from("images.d")]);

        let cli = Cli::try_parse_from([
            "image-manager",
            "validate",
            "--images",
            "a.yaml",
            "b/",
            "--strict",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::Validate(args) = cli.command;
        assert_eq!(
            args.catalog_paths(),
            [PathBuf::from("a.yaml"), PathBuf::from("b/")]
        );
        assert!(args.strict);
        assert_eq!(args.output, OutputFormat::Json);
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["image-manager", "validate", "-vv", "--log-format", "json"])
            .unwrap();
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(cli.global.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["image-manager", "validate", "-q", "-v"]).is_err());
    }
}
