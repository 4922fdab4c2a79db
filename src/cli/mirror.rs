//! `image-manager mirror`: copy catalog versions into an S3 bucket, then (with `--write`)
//! record their `mirror_url`s in the catalog.
//!
//! Every version's outcome goes to stderr as one line (or into the JSON report), then the
//! summary with the S3 requests sent; the catalog edit is shown as a diff unless `--write`.
//! Exit 1 when a version failed, 0 otherwise: a mirror is complete or the run says what is
//! missing. Only versions whose object exists are ever recorded.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use super::args::{GlobalArgs, MirrorArgs, MirrorLayoutArgs, OutputFormat, S3Args};
use super::progress::{ProgressMode, hooks};
use super::update::{FileReport, file_reports, show_files};
use super::{Exit, output, valid_catalog};
use crate::catalog::{Catalog, Diagnostic};
use crate::mirror::{self, Mirror, Outcome, Requests, S3Config, Status};
use crate::redact;
use crate::transfer::retry::RetryPolicy;
use crate::update::{self, MirrorUrl};

/// The JSON form of a run (`--output json`).
#[derive(Serialize)]
struct Report<'a> {
    format_version: &'static str,
    /// Whether the catalog files were written.
    written: bool,
    versions: &'a [Outcome],
    /// HTTP requests sent to S3 by method, retries included.
    s3_requests: Requests,
    files: Vec<FileReport>,
    /// Validation errors of the edited catalog: when present, nothing was written.
    invalid: &'a [Diagnostic],
}

/// The top-level entry point for `mirror`.
pub async fn run(args: &MirrorArgs, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let catalog = valid_catalog(&args.catalog.paths(), "mirrored")?;
    let mirror = connect(&args.s3, &args.layout, global)?;
    let options = mirror::Options {
        filter: args.filter.clone(),
        parallel: usize::from(args.parallel),
    };
    let outcomes = mirror::mirror(&catalog, &mirror, &options).await;
    let edits = update::record_mirror_urls(&catalog, &unrecorded(&catalog, &outcomes))?;
    let write = args.write && edits.changed() && edits.invalid.is_empty();
    if write {
        edits.write()?;
    }
    let requests = mirror.requests();
    match args.output {
        OutputFormat::Text => {
            for outcome in &outcomes {
                eprintln!("{}", describe(outcome));
            }
            for d in &edits.invalid {
                eprintln!("{d}");
            }
            eprintln!("{}", summary(&outcomes, &requests));
            show_files(&edits.files, args.write, write)?;
        }
        OutputFormat::Json => {
            let report = Report {
                format_version: output::FORMAT_VERSION,
                written: write,
                versions: &outcomes,
                s3_requests: requests,
                files: file_reports(&edits.files),
                invalid: &edits.invalid,
            };
            output::stdout(|out| output::json(out, &report))?;
        }
    }
    let failed = outcomes.iter().any(|o| o.status == Status::Failed);
    Ok(if failed || !edits.invalid.is_empty() {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// The bucket, its layout and the copier, from the flags and the environment.
pub(super) fn connect(
    s3: &S3Args,
    layout: &MirrorLayoutArgs,
    global: &GlobalArgs,
) -> anyhow::Result<Mirror> {
    let bucket = s3.bucket.clone().context("--bucket is required")?;
    let config = S3Config {
        bucket,
        endpoint: s3.endpoint_url.clone().filter(|e| !e.is_empty()),
        region: s3.region.clone(),
        access_key_id: None,
        secret_access_key: None,
        session_token: None,
        ca_bundle: global.ca_bundle.clone(),
        connect_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(300),
        retry: RetryPolicy::default(),
    }
    .credentials_from_env();
    let hooks = hooks(ProgressMode::detect(global.quiet));
    let base = layout.mirror_base.clone();
    let mirror = Mirror::new(&config, layout.layout.clone(), base, &global.fetch(), hooks)
        .map_err(|e| {
            anyhow::anyhow!(redact::secrets(
                &e.to_string(),
                config.secrets().iter().map(String::as_str)
            ))
        })
        .context("setting up the mirror bucket")?;
    Ok(mirror)
}

/// The `mirror_url`s to record: versions whose object exists and whose catalog entry does not
/// name it yet.
fn unrecorded(catalog: &Catalog, outcomes: &[Outcome]) -> Vec<MirrorUrl> {
    outcomes
        .iter()
        .filter(|o| o.exists())
        .filter_map(|o| {
            let url = o.mirror_url.clone()?;
            let definition = catalog.definitions.iter().find(|d| d.origin == o.origin)?;
            let version = definition
                .versions
                .iter()
                .find(|v| v.version == o.version)?;
            (version.mirror_url.as_deref() != Some(url.as_str())).then(|| MirrorUrl {
                origin: o.origin,
                version: o.version.clone(),
                url,
            })
        })
        .collect()
}

/// One line per version, e.g. `Ubuntu 24.04 20260705: mirrored 2.00 GiB → https://…`.
fn describe(outcome: &Outcome) -> String {
    let name = format!("{} {}", outcome.definition, outcome.version);
    let url = outcome
        .mirror_url
        .as_deref()
        .map(redact::url)
        .unwrap_or_default();
    let size = outcome
        .bytes
        .map(|b| format!(" {}", indicatif::HumanBytes(b)))
        .unwrap_or_default();
    let message = outcome.message.as_deref().unwrap_or("");
    match outcome.status {
        Status::Mirrored => format!("{name}: mirrored{size} → {url}"),
        Status::Replaced => {
            format!("{name}: mirrored{size} (replaced an unverified object) → {url}")
        }
        Status::Present => format!("{name}: already mirrored → {url}"),
        Status::Failed => format!("{name}: FAILED: {message}"),
        Status::Skipped => format!("{name}: skipped: {message}"),
    }
}

/// `Mirror: 2 mirrored, 3 present, 0 failed, 1 skipped (S3: 5 HEAD, 2 PUT, 4 POST, 0 DELETE)`.
fn summary(outcomes: &[Outcome], requests: &Requests) -> String {
    let count = |status: Status| outcomes.iter().filter(|o| o.status == status).count();
    format!(
        "Mirror: {} mirrored, {} present, {} failed, {} skipped (S3 requests: {} HEAD, {} PUT, \
         {} POST, {} DELETE)",
        count(Status::Mirrored) + count(Status::Replaced),
        count(Status::Present),
        count(Status::Failed),
        count(Status::Skipped),
        requests.head,
        requests.put,
        requests.post,
        requests.delete
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::args::{Cli, Command};

    fn mirror_args(args: &[&str]) -> Result<MirrorArgs, clap::Error> {
        let argv = ["image-manager", "mirror"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Mirror(args) => Ok(args),
            other => panic!("not mirror: {other:?}"),
        }
    }

    #[test]
    fn the_bucket_is_required_and_the_osism_layout_is_the_default() {
        assert!(mirror_args(&[]).is_err());
        let args = mirror_args(&["--bucket", "b"]).unwrap();
        assert_eq!(args.s3.bucket.as_deref(), Some("b"));
        assert_eq!(args.layout.layout.to_string(), crate::mirror::layout::OSISM);
        assert_eq!(args.parallel, 2);
        assert!(!args.write);
        let args = mirror_args(&[
            "--bucket",
            "b",
            "--endpoint-url",
            "http://127.0.0.1:8333",
            "--region",
            "eu-1",
            "--mirror-layout",
            "img/{version}.{format}",
            "--mirror-base",
            "https://cdn/img",
            "--write",
        ])
        .unwrap();
        assert_eq!(
            args.s3.endpoint_url.as_deref(),
            Some("http://127.0.0.1:8333")
        );
        assert_eq!(args.s3.region, "eu-1");
        assert_eq!(args.layout.layout.to_string(), "img/{version}.{format}");
        assert_eq!(args.layout.mirror_base.as_deref(), Some("https://cdn/img"));
        assert!(mirror_args(&["--bucket", "b", "--mirror-layout", "{nope}"]).is_err());
    }

    #[test]
    fn update_mirror_needs_a_bucket() {
        let parse = |args: &[&str]| {
            let argv = ["image-manager", "update"].iter().chain(args);
            Cli::try_parse_from(argv).map(|_| ())
        };
        assert!(parse(&["--mirror"]).is_err());
        assert!(parse(&["--mirror", "--bucket", "b"]).is_ok());
        assert!(parse(&["--mirror-base", "https://m/x"]).is_ok());
    }
}
