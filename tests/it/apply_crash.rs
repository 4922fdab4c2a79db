//! `apply` interrupted, against the real sandbox: the binary killed with SIGKILL mid-transfer
//! (both data paths) and then run again must converge; the states a crash after activation
//! leaves (crafted, so the crash point is exact) must converge too; and a 2 GiB image goes
//! through the binary in flat memory. Outcomes and peak RSS only, never durations.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream;
use image_manager::apply::NoHooks;
use image_manager::desired::properties::UNVERIFIED;
use image_manager::glance::{self, GlanceClient, ImageStatus, ObservedImage, Visibility};
use image_manager::plan::{Action, Change, Phase};

use crate::apply_faults::{
    MIB, VERSION, apply_catalog, assert_published, definition, images_of, plan_catalog,
};
use crate::catalogs::write_catalog_in as write_catalog;
use crate::plan::{desired_image, exact, plan_cli, resolve};
use crate::sandbox::{self, Cleanup, unique_name};
use crate::upstream::{Algo, Fault, Upstream, raw};

/// Bound on waiting for something that should happen within seconds: a guard against hanging,
/// not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(300);

/// `image-manager apply --cloud member --images DIR --output json ARGS`, stderr to `log`. A
/// killed run holds the apply lock until its lease ends: the lease is kept short.
fn apply_command(dir: &Path, args: &[&str], log: &Path) -> Command {
    let mut cmd = crate::cli::apply_logged(dir, &["--lock-lease", "5"], log);
    cmd.args(args);
    cmd
}

/// The staging name apply gives a new image until it is published.
fn staging_name(name: &str) -> String {
    format!("{name} [image-manager: pending]")
}

/// Kills apply with SIGKILL while it streams a 128 MiB image (trickling) into Glance, then runs
/// it again with the upstream healthy: the leftover is deleted, the image created once,
/// published and verified, and a third plan has nothing to do.
async fn killed_mid_transfer(method: &str, streaming: ImageStatus) {
    let upstream = Upstream::start().await;
    let path = "/images/big.img";
    let size = 128 * MIB;
    upstream.add_generated(path, size, 0xc0ffee);
    // 64 KiB every 50 ms: the transfer trickles for a minute (the server's bound), the kill
    // comes within seconds.
    let trickle = Fault::Trickle {
        bytes: 64 * 1024,
        every: Duration::from_millis(50),
    };
    upstream.fault(path, trickle);
    let name = unique_name("crash-kill");
    let _sweep = Cleanup::claiming(&name);
    let dir = tempfile::tempdir().unwrap();
    let sha256 = upstream.digest(path, Algo::Sha256);
    let catalog = write_catalog(
        dir.path(),
        &[definition(&name, "raw", &upstream.url(path), &sha256)],
    );
    let client = sandbox::member().await;

    let log = dir.path().join("killed.log");
    let mut child = apply_command(dir.path(), &["--method", method], &log)
        .spawn()
        .expect("run image-manager");
    let staging = wait_for_staging(&mut child, &client, &name, &streaming, &log).await;
    assert_eq!(upstream.hits(path), 1);
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "not killed by SIGKILL: {status}");

    // What the crash left: the staging image, marked unverified, never activated.
    let left = images_of(&client, &name).await;
    let [leftover] = &left[..] else {
        panic!("expected the one staging image after the kill: {left:#?}");
    };
    assert_eq!(leftover.id, staging.id);
    assert_eq!(leftover.name, staging_name(&name));
    assert_eq!(leftover.property(UNVERIFIED), Some("true"));
    assert!(leftover.os_hidden);
    assert_ne!(leftover.status, ImageStatus::Active, "{leftover:#?}");

    upstream.clear_fault(path);
    let log = dir.path().join("second.log");
    let output = apply_command(dir.path(), &["--method", method], &log)
        .output()
        .unwrap();
    let report = crate::cli::apply_report(&output, &log).0;
    let entries = &report["clouds"][0]["entries"];
    let steps: Vec<(&str, &str, &str)> = entries
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap_or_default();
            (
                text("phase"),
                text("action"),
                e["outcome"]["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("cleanup", "delete", "done"),
            ("upload", "create", "done"),
            ("publish", "publish", "done")
        ],
        "{report:#}"
    );
    assert_eq!(entries[0]["image_id"], leftover.id.as_str());
    assert_eq!(entries[1]["transfer"]["method"], method);
    assert_eq!(entries[1]["transfer"]["bytes"], size);

    let image = assert_published(&client, &name, &upstream, path).await;
    assert_eq!(entries[1]["image_id"], image.id.as_str());
    assert_ne!(image.id, leftover.id);
    let gone = client.get_image(&leftover.id).await;
    assert!(
        matches!(gone, Err(glance::Error::NotFound { .. })),
        "leftover kept: {gone:#?}"
    );
    let env = [];
    let (code, out, err) = plan_cli(
        &catalog,
        &["--cloud", "member", "--detailed-exitcode"],
        &env,
    );
    assert_eq!(code, 0, "a third plan still has changes:\n{out}\n{err}");
}

/// Polls Glance until the staging image of `name` is in `streaming` (bytes flowing into it).
async fn wait_for_staging(
    child: &mut Child,
    client: &GlanceClient,
    name: &str,
    streaming: &ImageStatus,
    log: &Path,
) -> ObservedImage {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("apply ended ({status}) before it could be killed:\n{log}");
        }
        let images = images_of(client, name).await;
        if let Some(image) = images.iter().find(|i| i.status == *streaming) {
            return image.clone();
        }
        assert!(start.elapsed() < PATIENCE, "never {streaming}: {images:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn kill_9_mid_stage_then_apply_converges() {
    killed_mid_transfer("glance-direct", ImageStatus::Uploading).await;
}

#[tokio::test]
async fn kill_9_mid_upload_then_apply_converges() {
    killed_mid_transfer("upload", ImageStatus::Saving).await;
}

/// Crafts what a crash leaves at each point after the bytes are in, then applies once:
/// - `marked`: killed after create, and killed after activation but before the digest
///   checks removed the marker (a `queued` and an `active` image, both marked unverified):
///   both deleted, the image uploaded anew;
/// - `verified`: killed after the marker was removed but before publication (active, hidden,
///   staging name): published as it is, without a new download.
#[tokio::test]
async fn crash_after_activation_converges() {
    let upstream = Upstream::start().await;
    let size = 3 * MIB;
    let (marked, verified) = (unique_name("crash-marked"), unique_name("crash-verified"));
    let _sweeps = (Cleanup::claiming(&marked), Cleanup::claiming(&verified));
    let (marked_path, verified_path) = ("/marked/disk.img", "/verified/disk.img");
    upstream.add_generated(marked_path, size, 11);
    upstream.add_generated(verified_path, size, 12);
    let dir = tempfile::tempdir().unwrap();
    let sha = |path| upstream.digest(path, Algo::Sha256);
    let catalog = write_catalog(
        dir.path(),
        &[
            definition(
                &marked,
                "raw",
                &upstream.url(marked_path),
                &sha(marked_path),
            ),
            definition(
                &verified,
                "raw",
                &upstream.url(verified_path),
                &sha(verified_path),
            ),
        ],
    );
    let client = Arc::new(sandbox::member().await);
    let desired = resolve(&catalog, crate::apply_faults::TAG);
    let staged = |definition: &str, unverified: bool| {
        let desired = desired_image(&desired, definition, VERSION);
        let mut image = exact(desired);
        image.name = staging_name(&desired.name);
        image.os_hidden = true;
        image.visibility = Visibility::Private;
        if unverified {
            image.properties.insert(UNVERIFIED.into(), "true".into());
        }
        image
    };
    let create = |image| {
        let client = Arc::clone(&client);
        async move { client.create_image(&image).await.unwrap().id }
    };
    let upload = |id: String, seed| {
        let client = Arc::clone(&client);
        async move {
            let bytes = Bytes::from(raw(size as usize, seed));
            let body = stream::iter([Ok::<_, std::io::Error>(bytes)]);
            client.upload(&id, body).await.unwrap();
        }
    };
    let queued = create(staged(&marked, true)).await;
    let activated = create(staged(&marked, true)).await;
    upload(activated.clone(), 11).await;
    let unpublished = create(staged(&verified, false)).await;
    upload(unpublished.clone(), 12).await;

    let (plan, report) = apply_catalog(&client, &catalog, None, Arc::new(NoHooks)).await;
    let mut deleted: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.phase == Phase::Cleanup)
        .filter_map(|s| match &s.action {
            Action::Delete { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    deleted.sort_unstable();
    let mut leftovers = [queued.as_str(), activated.as_str()];
    leftovers.sort_unstable();
    assert_eq!(deleted, leftovers, "{:#?}", plan.steps);
    let creates: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Create { image, .. } => Some(image.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(creates, [marked.as_str()], "{:#?}", plan.steps);
    let published: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Publish { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(published, [marked.as_str()], "{:#?}", plan.steps);
    // The verified but unpublished image is published by a drift correction, not uploaded.
    let Some(publish_step) = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::Update { .. }))
    else {
        panic!("{:#?}", plan.steps);
    };
    let Action::Update { id, changes, .. } = &publish_step.action else {
        unreachable!()
    };
    assert_eq!(publish_step.phase, Phase::Publish);
    assert_eq!(id, &unpublished);
    assert_eq!(
        changes,
        &[
            Change::Name {
                from: staging_name(&verified),
                to: verified.clone(),
            },
            Change::Hidden {
                from: true,
                to: false,
            },
        ]
    );
    assert_eq!(plan.steps.len(), 5, "{:#?}", plan.steps);
    assert_eq!(report.done(), 5, "{report:#?}");

    let image = assert_published(&client, &marked, &upstream, marked_path).await;
    assert!(![&queued, &activated].contains(&&image.id));
    let image = assert_published(&client, &verified, &upstream, verified_path).await;
    assert_eq!(image.id, unpublished, "the verified image was replaced");
    assert_eq!(upstream.hits(verified_path), 0, "downloaded again");
    assert_eq!(upstream.hits(marked_path), 1);
    let again = plan_catalog(&client, &catalog, None).await;
    assert!(again.steps.is_empty(), "{:#?}", again.steps);
}

/// The peak RSS (`VmHWM`) of a running process, in bytes; `None` once it has exited.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A 2 GiB image streamed by the binary (glance-direct) in flat memory: the peak RSS of the
/// apply process stays far below anything that could hold the image (or a good part of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gib_image_is_applied_in_flat_memory() {
    const BOUND: u64 = 100 * MIB;
    let upstream = Upstream::start().await;
    let path = "/images/huge.img";
    let size = 2048 * MIB;
    upstream.add_generated(path, size, 2);
    let name = unique_name("apply-2gib");
    let _sweep = Cleanup::claiming(&name);
    let dir = tempfile::tempdir().unwrap();
    let sha256 = upstream.digest(path, Algo::Sha256);
    write_catalog(
        dir.path(),
        &[definition(&name, "raw", &upstream.url(path), &sha256)],
    );
    let log = dir.path().join("apply.log");
    let mut child = apply_command(dir.path(), &[], &log)
        .spawn()
        .expect("run image-manager");
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some(rss) = peak_rss(pid) {
            peak = peak.max(rss);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = child.wait_with_output().unwrap();
    let report = crate::cli::apply_report(&output, &log).0;
    eprintln!(
        "peak RSS of apply for 2 GiB: {:.1} MiB",
        peak as f64 / MIB as f64
    );
    assert!(peak > 0, "VmHWM never read");
    assert!(
        peak < BOUND,
        "apply peaked at {peak} bytes (bound {BOUND}) for a {size}-byte image"
    );
    let entry = &report["clouds"][0]["entries"][0];
    assert_eq!(entry["outcome"]["status"], "done", "{report:#}");
    assert_eq!(entry["transfer"]["method"], "glance-direct");
    assert_eq!(entry["transfer"]["bytes"], size);
    let client = sandbox::member().await;
    let image = assert_published(&client, &name, &upstream, path).await;
    assert_eq!(
        entry["transfer"]["digests"]["sha512"],
        image.os_hash_value.as_deref().unwrap()
    );
    client.delete(&image.id).await.unwrap();
}
