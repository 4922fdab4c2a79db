//! Helpers of the `apply` integration tests (`apply.rs`, `apply_rotation.rs`): catalogs served
//! by the in-process upstream, targets and runs, and exact assertions on what a run left in
//! Glance.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use image_manager::apply::{self, NoHooks, Options, Outcome, Report, Target};
use image_manager::catalog::{self, Method};
use image_manager::desired::{self, DesiredImage, DesiredState, properties};
use image_manager::glance::{GlanceClient, ImageStatus, ObservedImage};
use image_manager::plan::{self, ActionKind, Policy, Prune, render};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

use crate::catalogs::{Def, Ver, write_catalog};
use crate::sandbox::Cleanup;
use crate::upstream::{self, Upstream};

pub(crate) const TAG: &str = "managed_by_image_manager";
pub(crate) const STAGING: &str = "[image-manager: pending]";

// ---------------------------------------------------------------- catalogs ----

/// An image file served by the upstream, with the digests of its bytes.
pub(crate) struct Served {
    pub(crate) path: String,
    pub(crate) url: String,
    pub(crate) len: u64,
    pub(crate) sha256: String,
    pub(crate) sha512: String,
}

/// Serves `bytes` at `path` and remembers their digests (computed here, not by the server).
pub(crate) fn serve(upstream: &Upstream, path: &str, bytes: Vec<u8>) -> Served {
    let served = Served {
        path: path.to_owned(),
        url: upstream.url(path),
        len: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        sha512: hex::encode(Sha512::digest(&bytes)),
    };
    upstream.add_file(path, bytes);
    served
}

/// A raw disk: a zeroed first sector area (no partition table or other signature for Glance's
/// format inspector to find), then pseudo-random bytes.
pub(crate) fn raw_disk(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = upstream::raw(len, seed);
    bytes[..4096].fill(0);
    bytes
}

impl Ver {
    /// Verified with an inline `algo:hex` checksum.
    pub(crate) fn inline(version: &str, served: &Served, algo: &str) -> Ver {
        let hex = match algo {
            "sha256" => &served.sha256,
            "sha512" => &served.sha512,
            other => panic!("no {other} digest"),
        };
        Ver::with(version, &served.url, &format!("checksum: {algo}:{hex}"))
    }

    /// Verified with the sums file at `sums_url`, which lists the file's name.
    pub(crate) fn sums(version: &str, served: &Served, sums_url: &str) -> Ver {
        Ver::with(version, &served.url, &format!("checksums_url: {sums_url}"))
    }
}

pub(crate) fn catalog_of(defs: &[&Def]) -> (tempfile::TempDir, std::path::PathBuf) {
    write_catalog(&defs.iter().map(|d| d.yaml()).collect::<Vec<_>>())
}

pub(crate) fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// The desired state of a catalog file, retention evaluated on `today`.
pub(crate) fn desired_on(path: &Path, today: NaiveDate) -> DesiredState {
    let loaded = catalog::load(&[path.to_path_buf()]).unwrap();
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let options = desired::Options {
        managed_tag: TAG.into(),
        filter: None,
        today,
    };
    desired::resolve(&loaded.catalog, &options)
}

pub(crate) fn desired_now(path: &Path) -> DesiredState {
    desired_on(path, Utc::now().date_naive())
}

// ------------------------------------------------------------------- apply ----

/// What the CLI does per cloud: observe once, plan.
pub(crate) async fn target(
    client: &Arc<GlanceClient>,
    desired: &DesiredState,
    prune: Prune,
) -> Target {
    target_with(client, desired, prune, None).await
}

/// [`target`] with `--method`.
pub(crate) async fn target_with(
    client: &Arc<GlanceClient>,
    desired: &DesiredState,
    prune: Prune,
    method: Option<Method>,
) -> Target {
    let observed = client.observe().await.unwrap();
    let policy = Policy {
        managed_tag: TAG.into(),
        prune,
        method,
    };
    Target {
        plan: plan::plan(desired, &observed, &policy),
        client: Arc::clone(client),
    }
}

pub(crate) fn options() -> Options {
    Options {
        import_timeout: Duration::from_secs(120),
        ..Options::default()
    }
}

/// Applies and registers every image the run created with `cleanup`.
pub(crate) async fn run(targets: Vec<Target>, options: &Options, cleanup: &Cleanup) -> Report {
    let report = apply::apply(targets, options, Arc::new(NoHooks))
        .await
        .unwrap();
    for entry in report.clouds.iter().flat_map(|c| &c.entries) {
        if let (ActionKind::Create, Some(id)) = (entry.action, &entry.image_id) {
            cleanup.track(id);
        }
    }
    report
}

/// The text plan of a target, for failure messages.
pub(crate) fn shown(target: &Target) -> String {
    render::text(&target.plan, false).to_string()
}

/// The report's create entry of the image named `name`.
pub(crate) fn created<'r>(report: &'r Report, name: &str) -> &'r apply::Entry {
    let entries = report.clouds[0].entries.iter();
    let mut found = entries.filter(|e| e.action == ActionKind::Create && e.name == name);
    let entry = found
        .next()
        .unwrap_or_else(|| panic!("no entry for {name}: {report:#?}"));
    assert!(
        found.next().is_none(),
        "two entries for {name}: {report:#?}"
    );
    entry
}

/// Every image of these definitions in Glance (tagged or not), hidden ones included.
pub(crate) async fn mine(client: &GlanceClient, definitions: &[&str]) -> Vec<ObservedImage> {
    let observed = client.list_images().await.unwrap();
    observed
        .images
        .into_iter()
        .filter(|i| {
            i.property(properties::IMAGE_NAME)
                .is_some_and(|n| definitions.contains(&n))
        })
        .collect()
}

/// Deletes everything of these definitions, tracked or not.
pub(crate) async fn finish(client: &GlanceClient, cleanup: &Cleanup, definitions: &[&str]) {
    for image in mine(client, definitions).await {
        cleanup.track(&image.id);
    }
    cleanup.run(client).await;
}

/// Properties minus Glance's own.
pub(crate) fn own_properties(image: &ObservedImage) -> BTreeMap<String, String> {
    image
        .properties
        .iter()
        .filter(|(k, _)| !properties::is_reserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `image` is exactly what the catalog wants: every managed attribute, the tag list, and
/// every property and no other (Glance's own aside), active, verified, not staged.
pub(crate) fn assert_as_desired(image: &ObservedImage, want: &DesiredImage) {
    let what = format!("{} {}", want.identity.definition, want.identity.version);
    assert_eq!(image.name, want.name, "{what}: {image:#?}");
    assert_eq!(image.status, ImageStatus::Active, "{what}: {image:#?}");
    assert_eq!(
        image.visibility.as_str(),
        want.visibility.as_str(),
        "{what}: {image:#?}"
    );
    assert_eq!(image.os_hidden, want.hidden, "{what}: {image:#?}");
    assert_eq!(
        image.protected,
        want.protected.unwrap_or(false),
        "{what}: {image:#?}"
    );
    assert_eq!(
        (image.min_disk, image.min_ram),
        (want.min_disk, want.min_ram),
        "{what}: {image:#?}"
    );
    let tags: BTreeSet<String> = image.tags.iter().cloned().collect();
    assert_eq!(tags, want.tags, "{what}: {image:#?}");
    assert_eq!(own_properties(image), want.properties, "{what}: {image:#?}");
    assert!(!image.name.contains(STAGING), "{what}: {image:#?}");
}

/// `image` holds exactly `served`: Glance's own sha512 of the stored bytes is ours.
pub(crate) fn assert_holds(image: &ObservedImage, served: &Served) {
    assert_eq!(image.os_hash_algo.as_deref(), Some("sha512"), "{image:#?}");
    assert_eq!(
        image.os_hash_value.as_deref(),
        Some(served.sha512.as_str()),
        "{image:#?}"
    );
    assert_eq!(image.size, Some(served.len), "{image:#?}");
    assert_eq!(image.property(properties::UNVERIFIED), None, "{image:#?}");
}

/// A create entry: done, with the expected data path and every digest computed on the way.
pub(crate) fn assert_created(entry: &apply::Entry, method: &str, served: &Served, algos: &[&str]) {
    assert_eq!(entry.action, ActionKind::Create, "{entry:#?}");
    assert_eq!(entry.outcome, Outcome::Done, "{entry:#?}");
    let transfer = entry
        .transfer
        .as_ref()
        .expect("a create reports its transfer");
    assert_eq!(transfer.method.as_str(), method, "{entry:#?}");
    assert_eq!(transfer.bytes, served.len, "{entry:#?}");
    let digests: BTreeMap<String, String> = algos
        .iter()
        .map(|a| {
            let hex = if *a == "sha256" {
                &served.sha256
            } else {
                &served.sha512
            };
            ((*a).to_owned(), hex.clone())
        })
        .collect();
    let computed: BTreeMap<String, String> = (transfer.digests.iter())
        .map(|(algorithm, hex)| (algorithm.name().to_owned(), hex.clone()))
        .collect();
    assert_eq!(computed, digests, "{entry:#?}");
}

/// Runs `image-manager apply --images <catalog> ARGS` with the sandbox clouds.yaml, stdin
/// not a terminal; returns the exit code, stdout and stderr.
pub(crate) fn apply_cli(catalog: &Path, args: &[&str]) -> (i32, String, String) {
    crate::cli::run_cli("apply", catalog, args, &[])
}

pub(crate) fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}
