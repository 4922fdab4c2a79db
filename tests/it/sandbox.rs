//! Support for tests against the real Keystone + Glance sandbox (`ci/sandbox.sh`).
//!
//! Tests connect through the same clouds.yaml a user would use: the file named
//! by `OS_CLIENT_CONFIG_FILE` (what `ci/sandbox.sh env` exports), else
//! `<repo>/.sandbox/clouds.yaml`, with its three clouds `admin` (password,
//! admin project), `member` (password, a plain member of `demo`) and `appcred`
//! (application credential of the demo user).
//!
//! Tests share one Glance, run in parallel and must not see each other's
//! images: every name comes from [`unique_name`], and every image a test
//! creates is registered with a [`Cleanup`] that deletes it at the end — also
//! when the test panics (the `Drop` fallback uses its own runtime and an
//! admin connection).
//!
//! Also here: test data for Glance — a streamed raw image hashed while it is
//! sent.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use image_manager::glance::{ConnectOptions, Error, GlanceClient, PatchOp};
use sha2::{Digest, Sha512};

/// The clouds.yaml of the sandbox. Panics with instructions when it is absent.
pub(crate) fn clouds_yaml() -> PathBuf {
    if let Some(path) = std::env::var_os("OS_CLIENT_CONFIG_FILE").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "OS_CLIENT_CONFIG_FILE={} does not exist: start the sandbox: ci/sandbox.sh up \
             (or run ci/test.sh)",
            path.display()
        );
        return path;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sandbox/clouds.yaml");
    assert!(
        path.is_file(),
        "no sandbox clouds.yaml at {}: start the sandbox: ci/sandbox.sh up (or run ci/test.sh)",
        path.display()
    );
    path
}

/// Connection options for one cloud of the sandbox clouds.yaml.
pub(crate) fn options(cloud: &str) -> ConnectOptions {
    ConnectOptions {
        cloud: Some(cloud.to_owned()),
        config_file: Some(clouds_yaml()),
        ..ConnectOptions::default()
    }
}

/// Connects to one cloud of the sandbox, panicking with the reason.
pub(crate) async fn connect(cloud: &str) -> GlanceClient {
    match GlanceClient::connect(&options(cloud)).await {
        Ok(client) => client,
        Err(e) => panic!(
            "cannot connect to sandbox cloud `{cloud}` ({e}); is the sandbox up? \
             ci/sandbox.sh status"
        ),
    }
}

pub(crate) async fn admin() -> GlanceClient {
    connect("admin").await
}

pub(crate) async fn member() -> GlanceClient {
    connect("member").await
}

pub(crate) async fn appcred() -> GlanceClient {
    connect("appcred").await
}

/// A name no other test (or earlier run) uses: `it-<prefix>-<pid>-<n>-<time>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("it-{prefix}-{}-{n}-{nanos:09}", std::process::id())
}

/// Deletes the images a test made: the ones it tracked by id, and every image (as the admin
/// lists them) that carries one of its tags or claims one of its definition names — what
/// `apply` made, whose ids only Glance knows. Call [`Cleanup::run`] at the end of the test;
/// if the test panics first, `Drop` deletes what is left from a thread with its own runtime
/// (`Drop` cannot await, and the test's runtime may be unwinding). The one cleanup guard of
/// the integration tests.
#[derive(Default)]
pub(crate) struct Cleanup {
    ids: Mutex<Vec<String>>,
    tags: Vec<String>,
    definitions: Vec<String>,
}

/// Deletes in flight at once: a thousand sequential deletes take too long.
const DELETES_IN_FLIGHT: usize = 16;

impl Cleanup {
    pub(crate) fn new() -> Cleanup {
        Cleanup::default()
    }

    /// Also every image carrying `tag`.
    pub(crate) fn tagged(tag: &str) -> Cleanup {
        Cleanup {
            ids: Mutex::default(),
            tags: vec![tag.to_owned()],
            definitions: Vec::new(),
        }
    }

    /// Also every image whose `image_name` property is `definition`.
    pub(crate) fn claiming(definition: &str) -> Cleanup {
        Cleanup {
            ids: Mutex::default(),
            tags: Vec::new(),
            definitions: vec![definition.to_owned()],
        }
    }

    /// Registers an image for deletion.
    pub(crate) fn track(&self, id: &str) {
        self.ids.lock().unwrap().push(id.to_owned());
    }

    /// Deletes every tracked and matching image (unprotecting it first), concurrently;
    /// already-deleted images are fine. Returns how many it deleted.
    pub(crate) async fn run(&self, client: &GlanceClient) -> usize {
        let mut ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        if !self.tags.is_empty() || !self.definitions.is_empty() {
            match client.list_images().await {
                Ok(listing) => ids.extend(
                    listing
                        .images
                        .into_iter()
                        .filter(|image| self.matches(image))
                        .map(|image| image.id),
                ),
                Err(e) => eprintln!("cleanup: cannot list images: {e}"),
            }
        }
        ids.sort();
        ids.dedup();
        futures::stream::iter(ids)
            .map(|id| async move { delete_quietly(client, &id).await })
            .buffer_unordered(DELETES_IN_FLIGHT)
            .filter(|deleted| std::future::ready(*deleted))
            .count()
            .await
    }

    fn matches(&self, image: &image_manager::glance::ObservedImage) -> bool {
        self.tags.iter().any(|tag| image.has_tag(tag))
            || image
                .property(image_manager::desired::properties::IMAGE_NAME)
                .is_some_and(|name| self.definitions.iter().any(|d| d == name))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let pending = !self
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if !pending && self.tags.is_empty() && self.definitions.is_empty() {
            return;
        }
        let mut this = std::mem::take(self);
        let cleaner = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(async {
                    match GlanceClient::connect(&options("admin")).await {
                        Ok(client) => {
                            this.run(&client).await;
                        }
                        Err(e) => eprintln!("cleanup: cannot connect as admin ({e}); images left"),
                    }
                });
            }
            // Nothing left for this copy's own drop.
            this.tags.clear();
            this.definitions.clear();
            this.ids.lock().unwrap_or_else(|e| e.into_inner()).clear();
        });
        let _ = cleaner.join();
    }
}

/// Deletes one image, unprotecting it when needed; whether it was deleted now.
async fn delete_quietly(client: &GlanceClient, id: &str) -> bool {
    match client.delete(id).await {
        Ok(()) => true,
        Err(Error::NotFound { .. }) => false,
        Err(Error::Protected { .. }) => {
            let _ = client
                .patch_image(id, &[PatchOp::set_protected(false)])
                .await;
            match client.delete(id).await {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("cleanup: cannot delete image {id}: {e}");
                    false
                }
            }
        }
        Err(e) => {
            eprintln!("cleanup: cannot delete image {id}: {e}");
            false
        }
    }
}

/// The cloud entries of the sandbox clouds.yaml, as JSON.
pub(crate) fn clouds() -> serde_json::Value {
    let text = std::fs::read_to_string(clouds_yaml()).unwrap();
    let parsed: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    parsed["clouds"].clone()
}

/// A raw disk image of `len` bytes streamed in 64 KiB chunks: one zeroed
/// sector area (so Glance's format inspector sees no partition table or other
/// signature and calls it `raw`), then xorshift noise. The sha512 of what was
/// actually sent is in the returned cell once the stream has ended.
pub(crate) fn raw_payload(
    seed: u64,
    len: usize,
) -> (
    impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    Arc<Mutex<Option<String>>>,
) {
    const CHUNK: usize = 64 * 1024;
    let digest = Arc::new(Mutex::new(None));
    let out = Arc::clone(&digest);
    let state = (0usize, seed | 1, Sha512::new());
    let stream = futures::stream::unfold(state, move |(sent, mut x, mut hasher)| {
        let out = Arc::clone(&out);
        async move {
            if sent >= len {
                let hex = hex::encode(hasher.finalize_reset());
                *out.lock().unwrap() = Some(hex);
                return None;
            }
            let n = CHUNK.min(len - sent);
            let mut chunk = vec![0u8; n];
            if sent > 0 {
                for byte in &mut chunk {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *byte = x as u8;
                }
            }
            hasher.update(&chunk);
            Some((Ok(Bytes::from(chunk)), (sent + n, x, hasher)))
        }
    });
    (stream, digest)
}

pub(crate) fn sent_digest(cell: &Arc<Mutex<Option<String>>>) -> String {
    cell.lock()
        .unwrap()
        .clone()
        .expect("the payload stream was not consumed to its end")
}

/// Requests Glance needs for a listing: pages of 1,000, and an empty last page when the
/// last full one announced a next (see `glance/observe.rs`), for visible and hidden images.
pub(crate) fn list_pages(images: &[image_manager::glance::ObservedImage]) -> usize {
    let hidden = images.iter().filter(|i| i.os_hidden).count();
    (images.len() - hidden) / 1000 + 1 + hidden / 1000 + 1
}

/// A lock on the sandbox's cloud-wide SCS verdicts, across test processes (nextest) and
/// threads (cargo test): a file lock next to the clouds.yaml, released when the file drops.
/// `check` and `plan`'s regression warnings judge ALL public images, so hold it while a test
/// publishes images that make a testcase fail on purpose or that carry scs-0104 standard
/// names (`Ubuntu 24.04`: name look-ups see one image per name), and while a test relies on
/// such a verdict of the whole cloud.
pub(crate) fn scs_lock() -> std::fs::File {
    let file = std::fs::File::create(clouds_yaml().with_file_name("it-scs.lock")).unwrap();
    tokio::task::block_in_place(|| file.lock()).unwrap();
    file
}
