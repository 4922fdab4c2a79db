//! Command-line arguments as typed: clap derive structs only, no I/O.
//!
//! Turning these into a resolved configuration (paths, clouds, policies) happens in the
//! command functions, so parsing stays testable with `Cli::try_parse_from`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use regex::Regex;

use crate::catalog::Method;
use crate::plan::Prune;

/// Keeps OpenStack Glance in line with declarative YAML image catalogs.
#[derive(Debug, Parser)]
#[command(
    name = "image-manager",
    version = env!("IMAGE_MANAGER_VERSION"),
    about,
    max_term_width = 100
)]
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
    /// PEM file of CA certificates to trust, besides the system's, for upstream downloads and
    /// `update` (a mirror on an internal host). OpenStack's own CA is `cacert` in clouds.yaml.
    #[arg(long, value_name = "FILE", global = true, env = "SSL_CERT_FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Read `file:` URLs of the catalog, but only below DIR (symlinks and `..` are resolved
    /// first). Without it a `file:` URL is an error.
    #[arg(long, value_name = "DIR", global = true)]
    pub allow_file_urls: Option<PathBuf>,
}

impl GlobalArgs {
    /// The upstream client's options these flags ask for (the rest at their defaults).
    pub fn fetch(&self) -> crate::transfer::fetch::FetchOptions {
        crate::transfer::fetch::FetchOptions {
            ca_bundle: self.ca_bundle.clone(),
            allow_file_urls: self.allow_file_urls.clone(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check catalog files: JSON Schema, semantic checks and an SCS lint (no network).
    Validate(ValidateArgs),
    /// Show what `apply` would change in Glance: read-only (Keystone + one Glance listing).
    Plan(PlanArgs),
    /// Reconcile Glance with the catalog: stream and verify new images, correct drift,
    /// rotate, prune as --prune allows. Prints the plan, then each step's outcome.
    Apply(ApplyArgs),
    /// SCS compliance (scs-0102 image metadata, scs-0104 standard images) of a cloud's public
    /// images, or of the catalog with --offline: the official testcases, PASS/FAIL/ABORT.
    Check(CheckArgs),
    /// Find newer upstream builds and add them to the catalog files, keeping comments and
    /// layout: prints a diff (exit 2 when something would change) unless --write.
    Update(UpdateArgs),
    /// Copy every catalog version from its upstream `url` into an S3 bucket, verified while
    /// streaming; --write records the `mirror_url`s in the catalog. Credentials:
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN).
    Mirror(MirrorArgs),
    /// Print a shell completion script, e.g. `image-manager completions bash >
    /// /etc/bash_completion.d/image-manager`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `image-manager man > /usr/local/share/man/man1/image-manager.1`;
    /// with --dir, write it and one page per subcommand (image-manager-plan.1, …) into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Which catalog files a command reads: the one `--images` every subcommand shares.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Catalog file or directory (repeatable); default: images.d/.
    #[arg(long = "images", value_name = "PATH")]
    pub images: Vec<PathBuf>,
}

impl CatalogArgs {
    /// Every path given, or the default catalog directory.
    pub fn paths(&self) -> Vec<PathBuf> {
        or_default_catalog(self.images.clone())
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
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
        let given = self.catalog.images.iter().chain(&self.paths).cloned();
        or_default_catalog(given.collect())
    }
}

/// How to reach OpenStack beyond clouds.yaml: openstackclient's flags, with its meaning
/// (they override the cloud's entry for this run).
#[derive(Debug, Args)]
pub struct OpenStackArgs {
    /// Region whose endpoints to use (overrides `region_name`).
    #[arg(long, value_name = "REGION")]
    pub os_region_name: Option<String>,
    /// CA bundle (PEM) that verifies Keystone's and Glance's certificates (overrides `cacert`).
    #[arg(long, value_name = "FILE")]
    pub os_cacert: Option<PathBuf>,
    /// Do not verify Keystone's and Glance's TLS certificates (overrides `verify`). Unsafe:
    /// for test clouds only.
    #[arg(long)]
    pub insecure: bool,
}

impl OpenStackArgs {
    /// The clouds.yaml overrides these flags ask for.
    pub fn overrides(&self) -> crate::glance::Overrides {
        crate::glance::Overrides {
            region: self.os_region_name.clone(),
            cacert: self.os_cacert.clone(),
            insecure: self.insecure,
        }
    }
}

/// What `plan` and `apply` reconcile: which catalog, which clouds, which images.
#[derive(Debug, Args)]
pub struct Selection {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// Cloud name in clouds.yaml (repeatable: one plan per cloud); default: $OS_CLOUD, else
    /// the OS_* variables.
    #[arg(long = "cloud", visible_alias = "os-cloud", value_name = "NAME")]
    pub clouds: Vec<String>,
    #[command(flatten)]
    pub openstack: OpenStackArgs,
    /// Only definitions whose name matches this regular expression (unanchored).
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub filter: Option<Regex>,
    /// The tag that marks images as managed; `managed_by_osism` adopts a cloud the Python
    /// openstack-image-manager managed.
    #[arg(long, value_name = "TAG", default_value = DEFAULT_MANAGED_TAG)]
    pub tag: String,
    /// What to do with images past their retention (`uuid_validity`).
    #[arg(long, value_enum, default_value_t = Prune::None)]
    pub prune: Prune,
    /// How new images get their bytes, for every image (default: each version's `method`,
    /// where `auto` uses glance-direct when the cloud offers it, else upload). Resolved in
    /// the plan: `plan --method` shows what `apply --method` does.
    #[arg(long, value_name = "METHOD", value_parser = parse_method)]
    pub method: Option<Method>,
    /// Attempts per Glance call when Glance fails transiently (502/503/504, 500 on reads,
    /// dropped connections, timeouts); waits 0.5 s, 1 s, 2 s, … (at most 8 s) in between.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub retries: u32,
    /// Retries (and recreated uploads) one run may spend per cloud in all; past it, transient
    /// failures are final, so a Glance that keeps failing fails the run in minutes.
    #[arg(long, value_name = "N", default_value_t = crate::glance::retry::DEFAULT_BUDGET)]
    pub retry_budget: u32,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Exit 2 when the plan has changes, 0 when it has none (1 on errors).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Output: the plan and one line per step (text), or only the report at the end (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Steps (and transfers) at once, across clouds.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Allow the deletes `--prune delete` plans (asked interactively on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Seconds an import may take once the bytes are in, before it counts as stuck (at least 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub import_timeout: u64,
    /// How long to wait for another `apply` holding a cloud's apply lock before giving up
    /// (exit 1, nothing changed). 0: do not wait.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub lock_wait: u64,
    /// The apply lock's lease: renewed every third of it while this run lives; a run that
    /// died holds the lock at most this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(3..))]
    pub lock_lease: u64,
}

impl Command {
    /// The output format the command was asked for (`None`: it has no `--output`).
    pub fn output(&self) -> Option<OutputFormat> {
        match self {
            Command::Validate(args) => Some(args.output),
            Command::Plan(args) => Some(args.output),
            Command::Apply(args) => Some(args.output),
            Command::Check(args) => Some(args.output),
            Command::Update(args) => Some(args.output),
            Command::Mirror(args) => Some(args.output),
            Command::Completions { .. } | Command::Man { .. } => None,
        }
    }
}

/// Whether a command line that clap refused asked for `--output json` (so its usage error is
/// printed as a JSON document too).
pub fn asks_for_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.windows(2)
        .any(|pair| pair[0] == "--output" && pair[1] == "json")
        || args.iter().any(|a| a == "--output=json")
}

/// The managed tag when `--tag` is not given.
pub const DEFAULT_MANAGED_TAG: &str = "managed_by_image_manager";

fn or_default_catalog(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from(crate::catalog::DEFAULT_PATH)]
    } else {
        paths
    }
}

fn parse_regex(s: &str) -> Result<Regex, regex::Error> {
    Regex::new(s)
}

fn parse_method(s: &str) -> Result<Method, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| "expected one of: auto, glance-direct, upload, web-download".to_owned())
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
        let Command::Validate(args) = cli.command else {
            panic!("not validate")
        };
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
        let Command::Validate(args) = cli.command else {
            panic!("not validate")
        };
        assert_eq!(
            args.catalog_paths(),
            [PathBuf::from("a.yaml"), PathBuf::from("b/")]
        );
        assert!(args.strict);
        assert_eq!(args.output, OutputFormat::Json);
    }

    fn plan_args(args: &[&str]) -> Result<PlanArgs, clap::Error> {
        let argv = ["image-manager", "plan"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Plan(args) => Ok(args),
            other => panic!("not plan: {other:?}"),
        }
    }

    #[test]
    fn plan_defaults() {
        let args = plan_args(&[]).unwrap();
        assert_eq!(args.selection.catalog.paths(), [PathBuf::from("images.d")]);
        assert!(args.selection.clouds.is_empty());
        assert!(args.selection.filter.is_none());
        assert_eq!(args.selection.tag, "managed_by_image_manager");
        assert_eq!(args.selection.prune, Prune::None);
        assert_eq!(args.output, OutputFormat::Text);
        assert!(!args.detailed_exitcode);
    }

    #[test]
    fn plan_every_flag_and_repeats() {
        let args = plan_args(&[
            "--images",
            "a.yaml",
            "--images",
            "b/",
            "--cloud",
            "prod",
            "--cloud",
            "prod-region2",
            "--filter",
            "^Ubuntu",
            "--tag",
            "managed_by_osism",
            "--prune",
            "deactivate",
            "--output",
            "json",
            "--detailed-exitcode",
        ])
        .unwrap();
        assert_eq!(
            args.selection.catalog.paths(),
            [PathBuf::from("a.yaml"), PathBuf::from("b/")]
        );
        assert_eq!(args.selection.clouds, ["prod", "prod-region2"]);
        let filter = args.selection.filter.unwrap();
        assert!(filter.is_match("Ubuntu 24.04") && !filter.is_match("Debian Ubuntu"));
        assert_eq!(args.selection.tag, "managed_by_osism");
        assert_eq!(args.selection.prune, Prune::Deactivate);
        assert_eq!(args.output, OutputFormat::Json);
        assert!(args.detailed_exitcode);
    }

    #[test]
    fn plan_rejects_bad_values() {
        for bad in [
            &["--filter", "("][..],
            &["--prune", "everything"],
            &["--output", "yaml"],
            &["positional"],
        ] {
            let err = plan_args(bad).unwrap_err();
            assert!(err.use_stderr(), "{bad:?}");
        }
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["image-manager", "validate", "-vv", "--log-format", "json"])
            .unwrap();
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(cli.global.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["image-manager", "validate", "-q", "-v"]).is_err());
    }

    #[test]
    fn ca_bundle_and_file_urls_reach_the_fetch_options() {
        let cli = Cli::try_parse_from([
            "image-manager",
            "update",
            "--ca-bundle",
            "/etc/mirror-ca.pem",
            "--allow-file-urls",
            "/srv/mirror",
        ])
        .unwrap();
        let fetch = cli.global.fetch();
        assert_eq!(fetch.ca_bundle, Some(PathBuf::from("/etc/mirror-ca.pem")));
        assert_eq!(fetch.allow_file_urls, Some(PathBuf::from("/srv/mirror")));
    }
}

/// Arguments of `check`. Parsing tests live in `cli/check.rs`.
#[derive(Debug, Args)]
#[command(mut_arg("images", |arg| arg.requires("offline")))]
pub struct CheckArgs {
    /// Cloud name in clouds.yaml; default: $OS_CLOUD, else the OS_* variables. Use a plain
    /// member's credentials: the official suite counts only what a member sees.
    #[arg(
        long,
        visible_alias = "os-cloud",
        value_name = "NAME",
        conflicts_with = "offline"
    )]
    pub cloud: Option<String>,
    #[command(flatten)]
    pub openstack: OpenStackArgs,
    /// Module to check (repeatable); default: every testcase, judged by the main modules
    /// (a `-rec` module, of the recommended testcases, decides only when named).
    #[arg(
        long = "module",
        value_name = "MODULE",
        value_parser = clap::builder::TypedValueParser::map(
            clap::builder::PossibleValuesParser::new(crate::check::Module::ids()),
            |id| id.parse::<crate::check::Module>().expect("a listed module id"),
        )
    )]
    pub modules: Vec<crate::check::Module>,
    /// Only images carrying this tag, e.g. the managed tag (what `apply` published). The
    /// official suite checks every visible public image: a scoped run does not predict the
    /// certification verdict.
    #[arg(long, value_name = "TAG", conflicts_with = "offline")]
    pub tag: Option<String>,
    /// Check the images the catalog would publish instead of a cloud (no network).
    #[arg(long)]
    pub offline: bool,
    /// The catalog --offline checks (`--images` needs --offline).
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// Output format of the results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

impl CheckArgs {
    /// The modules given, or the main ones.
    pub fn modules(&self) -> Vec<crate::check::Module> {
        if self.modules.is_empty() {
            crate::check::Module::defaults()
        } else {
            self.modules.clone()
        }
    }
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// Only definitions whose name matches this regular expression (unanchored).
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub filter: Option<Regex>,
    /// Write the edited files (default: print a unified diff and exit 2 if anything changes).
    #[arg(long)]
    pub write: bool,
    /// Keep only the newest N versions of each checked definition, dropping older entries.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub keep_versions: Option<u16>,
    /// Timeout in seconds for each upstream request (at least 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Copy each new build of a mirrored definition into the bucket (verified) before it is
    /// added; a build that cannot be copied is not added. Needs --bucket and S3 credentials.
    #[arg(long, requires = "bucket")]
    pub mirror: bool,
    #[command(flatten)]
    pub layout: MirrorLayoutArgs,
    #[command(flatten)]
    pub s3: S3Args,
}

/// The bucket of the mirror. Credentials come from the environment only (AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), never from flags that `ps` would show.
#[derive(Debug, Args)]
#[command(next_help_heading = "Mirror bucket")]
pub struct S3Args {
    /// The S3 bucket holding the mirror.
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// Endpoint of an S3-compatible service, e.g. https://objects.example.com (default: AWS
    /// S3 of --region).
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Region requests are signed for.
    #[arg(
        long,
        value_name = "REGION",
        env = "AWS_REGION",
        default_value = "us-east-1"
    )]
    pub region: String,
}

/// How mirrored objects are named and where their `mirror_url`s point.
#[derive(Debug, Args)]
#[command(next_help_heading = "Mirror layout")]
pub struct MirrorLayoutArgs {
    /// Object key template; fields {shortname}, {version}, {format}.
    #[arg(long = "mirror-layout", value_name = "TEMPLATE", default_value = crate::mirror::layout::OSISM)]
    pub layout: crate::mirror::Layout,
    /// What `mirror_url`s start with: the bucket as `apply` reads it, e.g.
    /// https://objects.example.com/images (default for `mirror`: <endpoint>/<bucket>; for
    /// `update`: the base of the definition's newest mirror_url).
    #[arg(long, value_name = "URL")]
    pub mirror_base: Option<String>,
}

/// Arguments of `mirror`. Parsing tests live in `cli/mirror.rs`.
#[derive(Debug, Args)]
#[command(mut_arg("bucket", |arg| arg.required(true)))]
pub struct MirrorArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// Only definitions whose name matches this regular expression (unanchored).
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub filter: Option<Regex>,
    /// Record the `mirror_url` of every version that is in the bucket in the catalog files
    /// (default: print the diff).
    #[arg(long)]
    pub write: bool,
    /// Versions copied at once.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub parallel: u16,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub layout: MirrorLayoutArgs,
    #[command(flatten)]
    pub s3: S3Args,
}
