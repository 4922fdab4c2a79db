//! `apply` under upstream faults, against the real sandbox: every fault of the upstream test
//! server, for glance-direct (the default, `auto`) and `--method upload`, and the format
//! refusals. Outcomes only, never durations.
//!
//! Each case asserts the whole contract: a failing create is reported as failed with its cause,
//! NO image with its identity is left in Glance (not active, not half-uploaded: the failed
//! image was deleted), and once the fault is gone a fresh plan creates the image normally. A
//! case that recovers leaves exactly one active image under its final name whose
//! `os_hash_value` is the sha512 of the upstream bytes, and plans nothing more.
//!
//! The library pipeline is driven directly (resolve → list → plan → `apply::apply`) so the
//! retry schedule can be short; the binary is exercised in `apply_crash.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use image_manager::apply::{self, Entry, Hooks, NoHooks, Options, Outcome, Report, Target};
use image_manager::catalog::Method;
use image_manager::catalog::checksums::Algorithm;
use image_manager::desired::properties::{IMAGE_NAME, INTERNAL_VERSION, UNVERIFIED};
use image_manager::glance::{self, GlanceClient, ImageStatus, ObservedImage, Visibility};
use image_manager::plan::{self as planner, Action, ActionKind, Phase, Plan, Policy, Prune, Way};
use image_manager::transfer::fetch::FetchOptions;
use image_manager::transfer::pipeline::CHUNK;
use image_manager::transfer::retry::RetryPolicy;
use tempfile::TempDir;

use crate::catalogs::{private_definition, write_catalog_in as write_catalog};
use crate::plan::resolve;
use crate::sandbox::{self, Cleanup, unique_name};
use crate::upstream::{
    Algo, Fault, Upstream, qcow2_file, qcow2_with_backing, qcow2_with_data_file,
};

pub(crate) const TAG: &str = "managed_by_image_manager";
pub(crate) const VERSION: &str = "1.0";
pub(crate) const MIB: u64 = 1 << 20;
/// Download attempts without progress before a fetch gives up (short schedule, see [`options`]).
const ATTEMPTS: u32 = 3;

// ---------------------------------------------------------------- catalogs ----

/// One private definition `name` (multi: the image is called `name`) with version
/// [`VERSION`] at `url` with sha256 `sha256`.
pub(crate) fn definition(name: &str, format: &str, url: &str, sha256: &str) -> String {
    private_definition(name, format, VERSION, url, sha256)
}

// ------------------------------------------------------------------ glance ----

/// Every image (hidden ones included) that claims definition `name`, whatever its status.
pub(crate) async fn images_of(client: &GlanceClient, name: &str) -> Vec<ObservedImage> {
    let observed = client.list_images().await.expect("list images");
    observed
        .images
        .into_iter()
        .filter(|i| i.property(IMAGE_NAME) == Some(name))
        .collect()
}

/// The one image of `name` apply left: active, verified, published under its final name, and
/// holding exactly the bytes upstream serves at `path` (`os_hash_value` is their sha512).
pub(crate) async fn assert_published(
    client: &GlanceClient,
    name: &str,
    upstream: &Upstream,
    path: &str,
) -> ObservedImage {
    let images = images_of(client, name).await;
    let [image] = &images[..] else {
        panic!("expected exactly one image of {name}, found {images:#?}");
    };
    assert_eq!(image.status, ImageStatus::Active, "{image:#?}");
    assert_eq!(image.name, name, "not published under its final name");
    assert_eq!(image.property(INTERNAL_VERSION), Some(VERSION));
    assert_eq!(image.property(UNVERIFIED), None, "still marked unverified");
    assert!(image.has_tag(TAG), "{image:#?}");
    assert_eq!(image.visibility, Visibility::Private);
    assert!(!image.os_hidden, "still hidden");
    assert_eq!(image.size, Some(upstream.size(path)));
    assert_eq!(image.os_hash_algo.as_deref(), Some("sha512"));
    assert_eq!(
        image.os_hash_value.as_deref(),
        Some(upstream.digest(path, Algo::Sha512).as_str()),
        "Glance does not hold the upstream bytes"
    );
    image.clone()
}

// ------------------------------------------------------------------- apply ----

/// Short retry waits (the schedule itself is unit-tested) and an idle timeout that a trickle
/// stays under.
fn options() -> Options {
    Options {
        parallel: 4,
        import_timeout: Duration::from_secs(300),
        fetch: FetchOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            retry: RetryPolicy {
                max_attempts: ATTEMPTS,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(1),
            },
            ..FetchOptions::default()
        },
    }
}

/// One run of the library pipeline `image-manager apply` runs: resolve, list once, plan,
/// apply. Returns the plan it executed and the report.
pub(crate) async fn apply_catalog(
    client: &Arc<GlanceClient>,
    catalog: &Path,
    method: Option<Method>,
    hooks: Arc<dyn Hooks>,
) -> (Plan, Report) {
    let plan = plan_catalog(client, catalog, method).await;
    let target = Target {
        client: Arc::clone(client),
        plan: plan.clone(),
    };
    let report = apply::apply(vec![target], &options(), hooks)
        .await
        .expect("apply starts");
    (plan, report)
}

pub(crate) async fn plan_catalog(
    client: &GlanceClient,
    catalog: &Path,
    method: Option<Method>,
) -> Plan {
    let desired = resolve(catalog, TAG);
    let observed = client.observe().await.expect("observe");
    let policy = Policy {
        managed_tag: TAG.into(),
        prune: Prune::None,
        method,
    };
    planner::plan(&desired, &observed, &policy)
}

/// The plan is exactly one create of `name` and its publish (nothing left over to clean up
/// first).
fn assert_single_create(plan: &Plan, name: &str) {
    let [create, publish] = &plan.steps[..] else {
        panic!("expected one create and its publish, got {:#?}", plan.steps);
    };
    assert_eq!(create.phase, Phase::Upload);
    assert!(
        matches!(&create.action, Action::Create { image, .. } if image.name == name),
        "{create:#?}"
    );
    assert_eq!(publish.phase, Phase::Publish);
    assert!(
        matches!(&publish.action, Action::Publish { name: n, .. } if n == name),
        "{publish:#?}"
    );
}

/// The report's one create entry; its publish (when there is one) follows it.
fn only_entry(report: &Report) -> &Entry {
    let [cloud] = &report.clouds[..] else {
        panic!("one cloud expected: {report:#?}");
    };
    let (create, publish) = match &cloud.entries[..] {
        [create] => (create, None),
        [create, publish] => (create, Some(publish)),
        _ => panic!("one create (and its publish) expected: {report:#?}"),
    };
    assert_eq!(create.action, ActionKind::Create, "{report:#?}");
    if let Some(publish) = publish {
        assert_eq!(publish.action, ActionKind::Publish, "{report:#?}");
        // A failed create skips its publish; a done one is published.
        let published = matches!(publish.outcome, Outcome::Done);
        assert_eq!(published, create.outcome == Outcome::Done, "{report:#?}");
    }
    create
}

/// The data path a create took: what `auto` picks on the sandbox is glance-direct.
fn way(method: Option<Method>) -> Way {
    match method {
        None | Some(Method::Auto | Method::GlanceDirect) => Way::GlanceDirect,
        Some(Method::Upload) => Way::Upload,
        Some(Method::WebDownload) => Way::WebDownload,
    }
}

/// Counts the bytes apply read from upstream (progress hooks).
#[derive(Default)]
struct Counted(Arc<AtomicU64>);

struct Counter(Arc<AtomicU64>);

impl Hooks for Counted {
    fn transfer_started(&self, _: &str, _: Option<u64>) -> Box<dyn apply::TransferProgress> {
        Box::new(Counter(Arc::clone(&self.0)))
    }
}

impl apply::TransferProgress for Counter {
    fn advance(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

// ------------------------------------------------------------------- cases ----

/// One definition served by its own upstream, and the member cloud.
struct Case {
    upstream: Upstream,
    client: Arc<GlanceClient>,
    name: String,
    /// Upstream path of the image.
    path: String,
    dir: TempDir,
    catalog: PathBuf,
    method: Option<Method>,
    _sweep: Cleanup,
}

impl Case {
    /// A generated raw image of `size` bytes.
    async fn raw(label: &str, method: Option<Method>, size: u64) -> Case {
        let upstream = Upstream::start().await;
        let path = "/images/disk.img";
        upstream.add_generated(path, size, size ^ 0x5eed);
        Case::new(upstream, path, "raw", label, method).await
    }

    async fn new(
        upstream: Upstream,
        path: &str,
        format: &str,
        label: &str,
        method: Option<Method>,
    ) -> Case {
        let name = unique_name(&format!("apply-{label}"));
        let dir = tempfile::tempdir().unwrap();
        let sha256 = upstream.digest(path, Algo::Sha256);
        let catalog = write_catalog(
            dir.path(),
            &[definition(&name, format, &upstream.url(path), &sha256)],
        );
        Case {
            client: Arc::new(sandbox::member().await),
            _sweep: Cleanup::claiming(&name),
            path: path.to_owned(),
            upstream,
            name,
            dir,
            catalog,
            method,
        }
    }

    async fn apply(&self, hooks: Arc<dyn Hooks>) -> (Plan, Report) {
        apply_catalog(&self.client, &self.catalog, self.method, hooks).await
    }

    /// Applies under the armed fault: the create must fail naming `cause` (every fragment),
    /// and leave no image of this definition at all.
    async fn fails(&self, cause: &[&str]) -> Entry {
        let (plan, report) = self.apply(Arc::new(NoHooks)).await;
        assert_single_create(&plan, &self.name);
        assert_eq!(report.failed(), 1, "{report:#?}");
        let entry = only_entry(&report).clone();
        assert_eq!(
            (entry.action, entry.name.as_str()),
            (ActionKind::Create, self.name.as_str())
        );
        let Outcome::Failed { error } = &entry.outcome else {
            panic!("expected a failure: {entry:#?}");
        };
        for fragment in cause {
            assert!(error.contains(fragment), "`{fragment}` not in: {error}");
        }
        self.assert_nothing_left().await;
        // The image the create made is gone, not merely hidden from listings.
        let id = entry.image_id.as_deref().expect("the failed image's id");
        let gone = self.client.get_image(id).await;
        assert!(
            matches!(gone, Err(glance::Error::NotFound { .. })),
            "failed image {id} still exists: {gone:#?}"
        );
        entry
    }

    async fn assert_nothing_left(&self) {
        let left = images_of(&self.client, &self.name).await;
        assert!(left.is_empty(), "images left after a failure: {left:#?}");
    }

    /// Applies (the fault gone or recoverable): one create, done, published and verified,
    /// and then nothing more to do.
    async fn creates(&self) -> ObservedImage {
        let (plan, report) = self.apply(Arc::new(NoHooks)).await;
        assert_single_create(&plan, &self.name);
        let entry = only_entry(&report);
        assert_eq!(entry.outcome, Outcome::Done, "{entry:#?}");
        let image = assert_published(&self.client, &self.name, &self.upstream, &self.path).await;
        assert_eq!(entry.image_id.as_deref(), Some(image.id.as_str()));
        let transfer = entry.transfer.as_ref().expect("transfer details");
        assert_eq!(transfer.method, way(self.method));
        assert_eq!(transfer.bytes, self.upstream.size(&self.path));
        assert_eq!(
            transfer.digests.get(&Algorithm::Sha256),
            Some(&self.upstream.digest(&self.path, Algo::Sha256))
        );
        let again = plan_catalog(&self.client, &self.catalog, None).await;
        assert!(again.steps.is_empty(), "{:#?}", again.steps);
        image
    }

    /// After a failure: the fault cleared, a fresh plan creates the image normally.
    async fn recovers_after_fix(&self) {
        self.upstream.clear_fault(&self.path);
        self.creates().await;
    }
}

/// Every response is cut short; the first brings 1 MiB (which reaches Glance), the resumes
/// bring nothing, so the download gives up.
async fn truncated_every_retry(method: Option<Method>) {
    let case = Case::raw("trunc", method, 4 * MIB).await;
    let path = case.path.clone();
    case.upstream
        .fault_times(&path, Fault::Truncate { keep: MIB }, 1);
    // Once the first request took its fault, every later one gets no body at all. The next
    // request comes only after a retry wait (200 ms), so polling every 2 ms is in time.
    let switch = async {
        while case.upstream.hits(&path) == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        case.upstream.fault(&path, Fault::Truncate { keep: 0 });
    };
    let (_, entry) = tokio::join!(switch, case.fails(&["gave up on", "after 3 attempts"]));
    let Outcome::Failed { error } = &entry.outcome else {
        unreachable!()
    };
    assert!(error.contains(&format!("{MIB} bytes")), "{error}");
    let resume = format!("bytes={MIB}-");
    assert_eq!(case.upstream.ranges(&path), [resume.clone(), resume]);
    case.recovers_after_fix().await;
}

/// The upstream serves other bytes than its checksum names (one byte flipped).
async fn wrong_digest(method: Option<Method>) {
    let case = Case::raw("digest", method, 3 * MIB + 5).await;
    case.upstream.fault(&case.path, Fault::WrongContent);
    let entry = case
        .fails(&[&format!("sha256 mismatch after {} bytes", 3 * MIB + 5)])
        .await;
    let Outcome::Failed { error } = &entry.outcome else {
        unreachable!()
    };
    let expected = case.upstream.digest(&case.path, Algo::Sha256);
    assert!(error.contains(&format!("expected {expected}")), "{error}");
    assert!(
        entry.transfer.is_none(),
        "unverified bytes reported: {entry:#?}"
    );
    assert_eq!(
        case.upstream.hits(&case.path),
        1,
        "a digest mismatch is not retried"
    );
    case.recovers_after_fix().await;
}

/// HTTP 500 on every attempt.
async fn http_500_every_time(method: Option<Method>) {
    let case = Case::raw("http500", method, 2 * MIB).await;
    case.upstream.fault(&case.path, Fault::Status(500));
    case.fails(&["gave up on", "after 3 attempts", "HTTP 500"])
        .await;
    assert_eq!(case.upstream.hits(&case.path), ATTEMPTS as usize);
    case.recovers_after_fix().await;
}

/// HTTP 500 twice, then the file: retried, created, verified.
async fn http_500_twice_then_ok(method: Option<Method>) {
    let case = Case::raw("http500x2", method, 2 * MIB + 1).await;
    case.upstream.fault_times(&case.path, Fault::Status(500), 2);
    case.creates().await;
    let statuses: Vec<u16> = case
        .upstream
        .requests(&case.path)
        .iter()
        .map(|h| h.status)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
}

/// The connection drops mid-body: the download resumes at the byte reached, with `If-Range`,
/// and the stored image is exactly the upstream file (the hash state survived the resume).
async fn dropped_mid_body_resumes(method: Option<Method>) {
    let case = Case::raw("drop", method, 6 * MIB + 77).await;
    let at = 2 * MIB + 123;
    case.upstream
        .fault_times(&case.path, Fault::DropAfter { bytes: at }, 1);
    case.creates().await;
    assert_eq!(case.upstream.ranges(&case.path), [format!("bytes={at}-")]);
    let resume = &case.upstream.requests(&case.path)[1];
    assert_eq!(resume.status, 206);
    assert_eq!(
        resume.if_range.as_deref(),
        Some(case.upstream.etag(&case.path).as_str())
    );
}

/// A slow upstream (64 KiB every 100 ms: 3 s for 2 MiB) is slow, not broken: one request, no
/// resume, the image created and verified.
async fn trickle_completes(method: Option<Method>) {
    let case = Case::raw("trickle", method, 2 * MIB).await;
    let trickle = Fault::Trickle {
        bytes: 64 * 1024,
        every: Duration::from_millis(100),
    };
    case.upstream.fault(&case.path, trickle);
    case.creates().await;
    assert_eq!(case.upstream.hits(&case.path), 1);
    assert!(case.upstream.ranges(&case.path).is_empty());
}

/// A real qcow2 declared `raw` (Glance itself would accept it): refused on its first chunk,
/// long before the upload could complete; declared `qcow2`, it is created.
async fn qcow2_declared_raw(method: Option<Method>) {
    let upstream = Upstream::start().await;
    let file = qcow2_file(upstream.dir(), "disk.qcow2", 16, 7);
    let path = "/images/disk.qcow2";
    upstream.add_disk_file(path, file);
    let case = Case::new(upstream, path, "raw", "qcow2raw", method).await;
    let counted = Counted::default();
    let read = Arc::clone(&counted.0);
    let (plan, report) = case.apply(Arc::new(counted)).await;
    assert_single_create(&plan, &case.name);
    let Outcome::Failed { error } = &only_entry(&report).outcome else {
        panic!("a qcow2 declared raw was accepted: {report:#?}");
    };
    assert!(
        error.contains("format check failed: the image is Qcow2 but the catalog declares `raw`"),
        "{error}"
    );
    // Refused on the first chunk the pipeline hashes (at least CHUNK bytes, at most what the
    // reads that filled it brought): the rest of the 8 MiB file was never read, let alone
    // uploaded.
    let read = read.load(Ordering::Relaxed);
    assert!((CHUNK as u64..MIB).contains(&read), "read {read} bytes");
    assert!(case.upstream.size(path) >= 8 * MIB);
    case.assert_nothing_left().await;

    let sha256 = case.upstream.digest(path, Algo::Sha256);
    let url = case.upstream.url(path);
    write_catalog(
        case.dir.path(),
        &[definition(&case.name, "qcow2", &url, &sha256)],
    );
    let image = case.creates().await;
    assert_eq!(image.disk_format.as_deref(), Some("qcow2"));
    assert_eq!(image.virtual_size, Some(16 * MIB));
}

/// A qcow2 that reads another file (backing file, external data file), declared qcow2: refused
/// by the tool itself (not left to Glance's inspector), nothing left.
async fn unsafe_qcow2(method: Option<Method>, bytes: Vec<u8>, cause: &str) {
    let upstream = Upstream::start().await;
    let path = "/images/overlay.qcow2";
    upstream.add_file(path, bytes);
    let case = Case::new(upstream, path, "qcow2", "qcow2unsafe", method).await;
    case.fails(&["format check failed", cause]).await;
    assert_eq!(case.upstream.hits(path), 1);
}

async fn qcow2_with_backing_file(method: Option<Method>) {
    unsafe_qcow2(method, qcow2_with_backing(), "refers to a backing file").await;
}

async fn qcow2_with_external_data_file(method: Option<Method>) {
    unsafe_qcow2(method, qcow2_with_data_file(), "uses an external data file").await;
}

/// The same cases for each data path.
macro_rules! for_method {
    ($module:ident, $method:expr) => {
        mod $module {
            #[tokio::test]
            async fn truncated_every_retry() {
                super::truncated_every_retry($method).await;
            }

            #[tokio::test]
            async fn wrong_digest() {
                super::wrong_digest($method).await;
            }

            #[tokio::test]
            async fn http_500_every_time() {
                super::http_500_every_time($method).await;
            }

            #[tokio::test]
            async fn http_500_twice_then_ok() {
                super::http_500_twice_then_ok($method).await;
            }

            #[tokio::test]
            async fn dropped_mid_body_resumes() {
                super::dropped_mid_body_resumes($method).await;
            }

            #[tokio::test]
            async fn trickle_completes() {
                super::trickle_completes($method).await;
            }

            #[tokio::test]
            async fn qcow2_declared_raw() {
                super::qcow2_declared_raw($method).await;
            }

            #[tokio::test]
            async fn qcow2_with_backing_file() {
                super::qcow2_with_backing_file($method).await;
            }

            #[tokio::test]
            async fn qcow2_with_external_data_file() {
                super::qcow2_with_external_data_file($method).await;
            }
        }
    };
}

// Default: the catalog's `auto`, which is glance-direct on the sandbox (asserted per case).
for_method!(glance_direct, None);
for_method!(upload, Some(super::Method::Upload));
