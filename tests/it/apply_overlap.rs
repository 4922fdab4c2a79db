//! Overlapping `apply` runs and clouds that already hold duplicates, against the real sandbox:
//! whatever the overlap, one image per catalog version is left, and the next plan is empty.
//!
//! Every test manages its images under a tag of its own (`--tag`), so its apply lock (scoped
//! to project and tag) is its own too and parallel tests do not wait for each other.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use image_manager::desired::properties::{IMAGE_NAME, UNVERIFIED};
use image_manager::glance::{GlanceClient, ImageStatus, ObservedImage, PatchOp};
use serde_json::Value;

use crate::apply_faults::{MIB, VERSION, definition};
use crate::cli::{apply_report as report, run_cli};
use crate::plan::{create_active, desired_image, exact, resolve};
use crate::sandbox::{self, Cleanup, unique_name};
use crate::upstream::{Algo, Fault, Upstream};

/// Guard against hanging, not a performance bound.
const PATIENCE: Duration = Duration::from_secs(300);

/// A catalog of `n` small raw images served by `upstream`, managed under a tag of its own,
/// applied to the sandbox's `member` cloud as the clouds.yaml `clouds` describes it.
pub(crate) struct Scenario {
    pub(crate) upstream: Upstream,
    dir: tempfile::TempDir,
    pub(crate) catalog: PathBuf,
    pub(crate) tag: String,
    pub(crate) names: Vec<String>,
    pub(crate) paths: Vec<String>,
    /// The sandbox's clouds.yaml, or one that reaches Glance through a proxy.
    pub(crate) clouds: PathBuf,
}

impl Scenario {
    pub(crate) async fn new(prefix: &str, n: usize, size: u64) -> Scenario {
        let upstream = Upstream::start().await;
        let tag = unique_name(prefix);
        let mut names = Vec::new();
        let mut paths = Vec::new();
        let mut definitions = Vec::new();
        for i in 0..n {
            let name = format!("{tag}-{i}");
            let path = format!("/images/{name}.img");
            upstream.add_generated(&path, size, 0x5eed + i as u64);
            let sha256 = upstream.digest(&path, Algo::Sha256);
            definitions.push(definition(&name, "raw", &upstream.url(&path), &sha256));
            names.push(name);
            paths.push(path);
        }
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("catalog.yaml");
        std::fs::write(&catalog, format!("images:\n{}", definitions.concat())).unwrap();
        Scenario {
            upstream,
            dir,
            catalog,
            tag,
            names,
            paths,
            clouds: sandbox::clouds_yaml(),
        }
    }

    /// `image-manager apply --cloud member --tag TAG --output json ARGS`, stderr to `log`.
    pub(crate) fn apply(&self, log: &str, args: &[&str]) -> Command {
        let mut cmd =
            crate::cli::apply_logged(&self.catalog, &["--tag", &self.tag], &self.log(log));
        cmd.env("OS_CLIENT_CONFIG_FILE", &self.clouds).args(args);
        cmd
    }

    pub(crate) fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// Every image under this scenario's tag.
    pub(crate) async fn images(&self, client: &GlanceClient) -> Vec<ObservedImage> {
        let observed = client.list_images().await.expect("list images");
        observed
            .images
            .into_iter()
            .filter(|i| i.has_tag(&self.tag))
            .collect()
    }

    /// Exactly one image per catalog version: active, verified, published, right bytes.
    pub(crate) async fn assert_one_image_per_version(&self, client: &GlanceClient) {
        let images = self.images(client).await;
        for (name, path) in self.names.iter().zip(&self.paths) {
            let mine: Vec<_> = images
                .iter()
                .filter(|i| i.property(IMAGE_NAME) == Some(name))
                .collect();
            let [image] = &mine[..] else {
                panic!("expected one image of {name}, found {mine:#?}");
            };
            assert_eq!(image.status, ImageStatus::Active, "{image:#?}");
            assert_eq!(&image.name, name);
            assert_eq!(image.property(UNVERIFIED), None);
            assert!(!image.os_hidden);
            assert_eq!(
                image.os_hash_value.as_deref(),
                Some(self.upstream.digest(path, Algo::Sha512).as_str())
            );
        }
        assert_eq!(images.len(), self.names.len(), "{images:#?}");
    }

    /// `plan --detailed-exitcode` (through the same clouds.yaml) must say "no changes".
    pub(crate) async fn assert_plan_empty(&self) {
        let (code, out, err) = self.plan(&["--detailed-exitcode"]).await;
        assert_eq!(code, 0, "the next plan still has changes:\n{out}\n{err}");
    }

    /// `image-manager plan --cloud member --tag TAG ARGS` through the scenario's clouds.yaml,
    /// off the runtime's threads (an in-process proxy must keep serving meanwhile).
    pub(crate) async fn plan(&self, args: &[&str]) -> (i32, String, String) {
        let (catalog, clouds) = (self.catalog.clone(), self.clouds.clone());
        let mut argv = vec!["--cloud".to_owned(), "member".into(), "--tag".into()];
        argv.push(self.tag.clone());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        tokio::task::spawn_blocking(move || {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            run_cli(
                "plan",
                &catalog,
                &argv,
                &[("OS_CLIENT_CONFIG_FILE", clouds.as_os_str())],
            )
        })
        .await
        .unwrap()
    }

    /// Deletes every image of the scenario (also when the test failed).
    pub(crate) async fn sweep(&self) {
        let client = sandbox::member().await;
        for image in self.images(&client).await {
            let _ = client.delete(&image.id).await;
        }
    }
}

/// `(phase, action, outcome)` of every entry of the first cloud of a report.
pub(crate) fn entries(report: &Value) -> Vec<(String, String, String)> {
    report["clouds"][0]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&e["phase"]),
                text(&e["action"]),
                text(&e["outcome"]["status"]),
            )
        })
        .collect()
}

/// Waits for a spawned run off the runtime's threads.
pub(crate) async fn wait_output(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().expect("apply runs"))
        .await
        .unwrap()
}

/// Runs a command to its end off the runtime's threads.
pub(crate) async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("apply runs"))
        .await
        .unwrap()
}

/// Two runs of one 8-image catalog started at the same moment (a periodic pipeline and a
/// person): one takes the lock and creates everything; the other waits, then plans against
/// the result and has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applies_at_once_leave_one_image_per_version() {
    let scenario = Scenario::new("it-overlap-twin", 8, MIB).await;
    let first = scenario.apply("first", &[]).spawn().unwrap();
    let second = scenario.apply("second", &[]).spawn().unwrap();
    let (first, second) = tokio::join!(wait_output(first), wait_output(second));
    let (a, log_a) = report(&first, &scenario.log("first"));
    let (b, log_b) = report(&second, &scenario.log("second"));
    let client = sandbox::member().await;
    scenario.assert_one_image_per_version(&client).await;
    // One run did all the work, the other waited and found nothing to do.
    let (worker, waiter, waiter_log) = if entries(&a).is_empty() {
        (b, a, log_a)
    } else {
        (a, b, log_b)
    };
    let steps = entries(&worker);
    assert_eq!(steps.len(), 16, "8 creates and their publishes: {worker:#}");
    assert!(steps.iter().all(|(phase, action, status)| status == "done"
        && matches!(
            (phase.as_str(), action.as_str()),
            ("upload", "create") | ("publish", "publish")
        )));
    assert!(entries(&waiter).is_empty(), "{waiter:#}");
    assert!(
        waiter_log.contains("another apply holds the lock"),
        "the waiting run did not say so:\n{waiter_log}"
    );
    for name in &scenario.names {
        assert_eq!(scenario.upstream.hits(&format!("/images/{name}.img")), 1);
    }
    scenario.assert_plan_empty().await;
    scenario.sweep().await;
}

/// A run started while another one is mid-upload waits for it, instead of uploading the same
/// versions again or deleting the other run's staging image as a leftover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_during_another_ones_upload_waits_and_changes_nothing() {
    let scenario = Scenario::new("it-overlap-mid", 2, 16 * MIB).await;
    let slow = &scenario.paths[0];
    scenario.upstream.fault(slow, trickle());
    let first = scenario.apply("first", &[]).spawn().unwrap();
    let client = sandbox::member().await;
    wait_for_streaming(&client, &scenario).await;
    let second = scenario.apply("second", &[]).spawn().unwrap();
    // Let the second run find the lock taken before the first one may finish.
    wait_for_log(&scenario.log("second"), "another apply holds the lock").await;
    scenario.upstream.clear_fault(slow);
    let (a, _) = report(&wait_output(first).await, &scenario.log("first"));
    let (b, _) = report(&wait_output(second).await, &scenario.log("second"));
    assert_eq!(
        entries(&a).len(),
        4,
        "two creates and their publishes: {a:#}"
    );
    assert!(entries(&b).is_empty(), "{b:#}");
    scenario.assert_one_image_per_version(&client).await;
    scenario.assert_plan_empty().await;
    scenario.sweep().await;
}

/// A run killed with SIGKILL mid-upload while another run is already waiting: the lock it
/// held runs out with its lease, the waiting run cleans up the killed run's staging image and
/// uploads the version once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_a_restart_waiting_converges() {
    let scenario = Scenario::new("it-overlap-kill", 1, 64 * MIB).await;
    let path = &scenario.paths[0];
    scenario.upstream.fault(path, trickle());
    let lease = ["--lock-lease", "6"];
    let mut first = scenario.apply("first", &lease).spawn().unwrap();
    let client = sandbox::member().await;
    let staging = wait_for_streaming(&client, &scenario).await;
    let second = scenario.apply("second", &lease).spawn().unwrap();
    wait_for_log(&scenario.log("second"), "another apply holds the lock").await;
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    scenario.upstream.clear_fault(path);
    let (b, _) = report(&wait_output(second).await, &scenario.log("second"));
    let steps = entries(&b);
    let expected = [
        ("cleanup", "delete", "done"),
        ("upload", "create", "done"),
        ("publish", "publish", "done"),
    ];
    assert_eq!(
        steps,
        expected.map(|(p, a, o)| (p.to_owned(), a.to_owned(), o.to_owned())),
        "{b:#}"
    );
    assert_eq!(
        b["clouds"][0]["entries"][0]["image_id"],
        staging.id.as_str()
    );
    scenario.assert_one_image_per_version(&client).await;
    scenario.assert_plan_empty().await;
    scenario.sweep().await;
}

/// Duplicates made before this tool locked (older versions, the Python tool, a person): one
/// `apply` keeps the oldest verified image (a protected twin is left alone, with a warning)
/// and deletes the others in its cleanup phase; the next plan is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_holding_duplicates_converges_in_one_apply() {
    let scenario = Scenario::new("it-overlap-dups", 1, MIB).await;
    let client = sandbox::member().await;
    let desired = resolve(&scenario.catalog, &scenario.tag);
    let image = desired_image(&desired, &scenario.names[0], VERSION);
    let cleanup = Cleanup::new();
    let mut ids = Vec::new();
    for protected in [false, false, false, true] {
        let mut new = exact(image);
        new.protected = protected;
        ids.push(create_active(&client, &cleanup, &new).await);
        // Glance dates images to the second: make "the oldest" unambiguous.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let (code, out, err) = scenario.plan(&[]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.matches("a second image of the same catalog version")
            .count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("is also claimed by protected image(s)"),
        "{out}"
    );

    let output = output(scenario.apply("apply", &[])).await;
    let (report, _) = report(&output, &scenario.log("apply"));
    let deleted: Vec<&str> = report["clouds"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["image_id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, [ids[1].as_str(), ids[2].as_str()], "{report:#}");
    let left: Vec<String> = scenario
        .images(&client)
        .await
        .into_iter()
        .map(|i| i.id)
        .collect();
    let mut expected = vec![ids[0].clone(), ids[3].clone()];
    expected.sort();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(left_sorted, expected);
    // Planning again: nothing to do, the protected twin only warned about.
    let (code, out, err) = scenario.plan(&["--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    client
        .patch_image(&ids[3], &[PatchOp::set_protected(false)])
        .await
        .unwrap();
    cleanup.run(&client).await;
}

/// 64 KiB every 50 ms: slow enough that a test can act while the bytes flow.
fn trickle() -> Fault {
    Fault::Trickle {
        bytes: 64 * 1024,
        every: Duration::from_millis(50),
    }
}

/// Polls until an image of the scenario receives bytes (status `uploading` or `saving`).
async fn wait_for_streaming(client: &GlanceClient, scenario: &Scenario) -> ObservedImage {
    let start = Instant::now();
    loop {
        let images = scenario.images(client).await;
        if let Some(image) = images
            .iter()
            .find(|i| matches!(i.status, ImageStatus::Uploading | ImageStatus::Saving))
        {
            return image.clone();
        }
        assert!(start.elapsed() < PATIENCE, "no upload started: {images:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a log file until it contains `needle`.
async fn wait_for_log(log: &Path, needle: &str) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "never logged {needle:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
