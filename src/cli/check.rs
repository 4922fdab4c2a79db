//! `image-manager check`: the official SCS testcases against a cloud, or the catalog offline.
//!
//! Output follows the official runner: one `<testcase-id>: PASS|FAIL|ABORT` line per testcase
//! on stdout (`SKIP` where this mode cannot judge it), then one `module <id>: VERDICT` line
//! per module, diagnostics on stderr as `LEVEL: <testcase-id>: message`. `--output json`
//! prints the whole [`Report`] instead. Without `--module` every testcase of the spec runs,
//! judged by the main modules. Exit 0 when every deciding testcase of those modules passes
//! (or is skipped), else 1.
//!
//! `--tag` scopes a cloud's check to the images carrying a tag (e.g. what `apply` published
//! under the managed tag), for a gate on one publisher's images; the official suite sees all
//! of them, so the summary says the run was scoped.
//!
//! Admin credentials: the official suite refuses them, because an admin's listing is not what
//! a member sees. `GlanceClient` does not expose the token's roles, so the warning rests on
//! [`check::admin_view_hint`] (private or community images of several projects in the
//! listing); it can miss an admin on a cloud where no other project has such images.

use std::io::{self, Write};
use std::path::PathBuf;

use chrono::Utc;
use serde_json::json;

use super::args::{CheckArgs, OutputFormat};
use super::{Exit, output};

use crate::check::{self, Images, Report, Verdict};
use crate::glance::{ConnectOptions, ObservedState};

/// What was checked, for the human summary and the JSON `subject`.
enum Subject {
    /// A cloud, with the `--tag` the images were scoped to.
    Cloud(String, Option<String>),
    Catalog(Vec<PathBuf>),
}

/// The top-level entry point for `check`: gather the images, run the modules, report.
pub fn run(args: &CheckArgs) -> anyhow::Result<Exit> {
    let now = Utc::now();
    let (subject, images, warning) = if args.offline {
        let paths = args.catalog.paths();
        let images = offline_images(&paths, now)?;
        (Subject::Catalog(paths), images, None)
    } else {
        let runtime = super::runtime()?;
        let mut state = runtime.block_on(observe(args))?;
        let warning = check::admin_view_hint(&state);
        if let Some(tag) = &args.tag {
            state.images.retain(|i| i.has_tag(tag));
        }
        let mut images = Images::from_observed(&state);
        images.partial = args.tag.is_some();
        (
            Subject::Cloud(state.cloud.clone(), args.tag.clone()),
            images,
            warning,
        )
    };
    if let Some(warning) = &warning {
        eprintln!("WARNING: {warning}");
    }
    let report = if args.modules.is_empty() {
        check::run_everything(&images, now)
    } else {
        check::run(&args.modules, &images, now)
    };
    print(&report, &subject, warning.as_deref(), args.output)?;
    Ok(if report.passed() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// The images a valid catalog would publish; a catalog with errors is not checked.
fn offline_images(paths: &[PathBuf], now: chrono::DateTime<Utc>) -> anyhow::Result<Images> {
    let catalog = super::valid_catalog(paths, "checked")?;
    Ok(Images::from_catalog(&catalog, now))
}

/// The cloud as `plan` observes it (no `--cloud`: `OS_CLOUD` or the `OS_*` variables).
async fn observe(args: &CheckArgs) -> anyhow::Result<ObservedState> {
    let options = ConnectOptions {
        cloud: args.cloud.clone(),
        overrides: args.openstack.overrides(),
        ..ConnectOptions::default()
    };
    let clients = super::cloud::connect(std::slice::from_ref(&options)).await?;
    let mut observed = super::cloud::observe(&clients).await?;
    Ok(observed.remove(0))
}

/// Results to stdout, diagnostics (text only) to stderr.
fn print(
    report: &Report,
    subject: &Subject,
    warning: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Text => {
            eprintln!("INFO: {}", summary(report, subject));
            for testcase in &report.testcases {
                for d in &testcase.diagnostics {
                    eprintln!("{}: {}: {d}", d.level, testcase.id);
                }
            }
            output::stdout(|out| text(report, out))
        }
        OutputFormat::Json => {
            let mut value = serde_json::to_value(report)?;
            value["subject"] = match subject {
                Subject::Cloud(cloud, None) => json!({ "cloud": cloud }),
                Subject::Cloud(cloud, Some(tag)) => json!({ "cloud": cloud, "tag": tag }),
                Subject::Catalog(paths) => json!({ "catalog": paths }),
            };
            value["warnings"] = json!(warning.into_iter().collect::<Vec<_>>());
            output::stdout(|out| output::json(out, &value))
        }
    }
}

fn summary(report: &Report, subject: &Subject) -> String {
    let what = match subject {
        Subject::Cloud(cloud, None) => {
            format!("cloud `{cloud}` (visible public and community images)")
        }
        Subject::Cloud(cloud, Some(tag)) => format!(
            "cloud `{cloud}` (visible public and community images tagged `{tag}` only: the \
             official suite checks them all)"
        ),
        Subject::Catalog(paths) => {
            let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            format!(
                "catalog {} (the visible public and community images it would publish; \
                 sizes and os_hash_algo are unknown offline: what needs them is SKIP)",
                paths.join(", ")
            )
        }
    };
    format!("checked {} image(s) of {what}", report.images)
}

/// The stdout lines: testcases, then modules with their skipped deciding testcases and the
/// recommended ones that failed or aborted.
fn text(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for testcase in &report.testcases {
        writeln!(out, "{}: {}", testcase.id, testcase.verdict)?;
    }
    for module in &report.modules {
        let weak: Vec<&str> = module
            .recommended
            .iter()
            .filter(|id| {
                report
                    .testcase(id)
                    .is_some_and(|t| matches!(t.verdict, Verdict::Fail | Verdict::Abort))
            })
            .map(String::as_str)
            .collect();
        let mut notes = Vec::new();
        if !module.skipped.is_empty() {
            notes.push(format!("skipped: {}", module.skipped.join(", ")));
        }
        if !weak.is_empty() {
            notes.push(format!("recommended, not passing: {}", weak.join(", ")));
        }
        write!(out, "module {}: {}", module.id, module.verdict)?;
        if notes.is_empty() {
            writeln!(out)?;
        } else {
            writeln!(out, " ({})", notes.join("; "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::check::Module;
    use crate::cli::args::{Cli, Command};

    fn check_args(args: &[&str]) -> Result<CheckArgs, clap::Error> {
        let argv = ["image-manager", "check"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Check(args) => Ok(args),
            other => panic!("not check: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let args = check_args(&[]).unwrap();
        assert_eq!(args.modules(), Module::defaults());
        assert!(args.modules.is_empty(), "no --module: every testcase runs");
        assert_eq!((args.cloud.as_deref(), args.offline), (None, false));
        assert_eq!(args.output, OutputFormat::Text);
        let args = check_args(&[
            "--cloud",
            "member",
            "--module",
            "scs-0104-v1-2",
            "--module",
            "scs-0102-v1",
            "--output",
            "json",
        ])
        .unwrap();
        assert_eq!(args.cloud.as_deref(), Some("member"));
        let ids: Vec<&str> = args.modules().into_iter().map(Module::id).collect();
        assert_eq!(ids, ["scs-0104-v1-2", "scs-0102-v1"]);
        for id in Module::ids() {
            let args = check_args(&["--module", id]).unwrap();
            assert_eq!(args.modules()[0].id(), id);
        }
        assert_eq!(Module::ids().len(), 8);
        assert_eq!(args.tag, None);
        let args = check_args(&["--cloud", "member", "--tag", "managed_by_image_manager"]);
        assert_eq!(
            args.unwrap().tag.as_deref(),
            Some("managed_by_image_manager")
        );
        let args = check_args(&["--offline", "--images", "a.yaml"]).unwrap();
        assert_eq!(args.catalog.paths(), [PathBuf::from("a.yaml")]);
        assert_eq!(
            check_args(&["--offline"]).unwrap().catalog.paths(),
            [PathBuf::from("images.d")]
        );
    }

    #[test]
    fn rejects_bad_combinations() {
        for bad in [
            &["--module", "scs-0102"][..],
            &["--offline", "--cloud", "x"],
            &["--offline", "--tag", "t"],
            &["--images", "a.yaml"],
            &["--output", "yaml"],
        ] {
            assert!(check_args(bad).unwrap_err().use_stderr(), "{bad:?}");
        }
    }

    fn lines(report: &Report) -> Vec<String> {
        let mut out = Vec::new();
        text(report, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn text_lists_testcases_then_modules() {
        let images = Images {
            origin: check::Origin::Catalog,
            images: Vec::new(),
            partial: true,
        };
        let module: Module = "scs-0104-v1-2".parse().unwrap();
        let lines = lines(&check::run(&[module], &images, Utc::now()));
        assert_eq!(lines[0], "scs-0104-source-capi-1: PASS");
        assert!(lines.contains(&"scs-0104-image-ubuntu-2404: FAIL".to_owned()));
        assert_eq!(
            lines.last().unwrap(),
            "module scs-0104-v1-2: FAIL (recommended, not passing: scs-0104-image-capi-2, \
             scs-0104-image-debian-12)"
        );
    }

    #[test]
    fn every_testcase_without_module_and_skips_in_the_module_line() {
        let images = Images {
            origin: check::Origin::Catalog,
            images: Vec::new(),
            partial: true,
        };
        let lines = lines(&check::run_everything(&images, Utc::now()));
        assert_eq!(lines.len(), 34 + 4, "{lines:#?}");
        assert!(lines.contains(&"scs-0104-image-debian-13: FAIL".to_owned()));
        assert!(lines.contains(&"scs-0102-prop-hash_algo: SKIP".to_owned()));
        assert!(lines.contains(&"scs-0102-prop-min_disk: SKIP".to_owned()));
        assert_eq!(
            lines[34],
            "module scs-0102-v1: PASS (skipped: scs-0102-prop-min_disk)"
        );
        let modules: Vec<&str> = lines[34..]
            .iter()
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            modules,
            [
                "module scs-0102-v1",
                "module scs-0102-v2",
                "module scs-0104-v1-1",
                "module scs-0104-v1-2"
            ]
        );
    }
}
