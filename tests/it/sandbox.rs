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
//! sent, a minimal valid qcow2, and a throwaway HTTP server for web-download.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::Stream;
use image_manager::glance::{ConnectOptions, Error, GlanceClient, PatchOp};
use sha2::{Digest, Sha512};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Deletes the images a test created. Call [`Cleanup::run`] at the end of the
/// test; if the test panics first, `Drop` deletes what is left.
#[derive(Default)]
pub(crate) struct Cleanup {
    ids: Mutex<Vec<String>>,
}

impl Cleanup {
    pub(crate) fn new() -> Cleanup {
        Cleanup::default()
    }

    /// Registers an image for deletion.
    pub(crate) fn track(&self, id: &str) {
        self.ids.lock().unwrap().push(id.to_owned());
    }

    /// Deletes every tracked image (unprotecting it first); already-deleted
    /// images are fine.
    pub(crate) async fn run(&self, client: &GlanceClient) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap());
        for id in ids {
            delete_quietly(client, &id).await;
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        if ids.is_empty() {
            return;
        }
        // Drop cannot await, and the test's runtime may be busy unwinding:
        // clean up from a thread with its own runtime.
        let cleaner = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                let Ok(client) = GlanceClient::connect(&options("admin")).await else {
                    eprintln!("cleanup: cannot connect as admin; leaving images {ids:?}");
                    return;
                };
                for id in &ids {
                    delete_quietly(&client, id).await;
                }
            });
        });
        let _ = cleaner.join();
    }
}

async fn delete_quietly(client: &GlanceClient, id: &str) {
    match client.delete(id).await {
        Ok(()) | Err(Error::NotFound { .. }) => {}
        Err(Error::Protected { .. }) => {
            let _ = client
                .patch_image(id, &[PatchOp::set_protected(false)])
                .await;
            if let Err(e) = client.delete(id).await {
                eprintln!("cleanup: cannot delete image {id}: {e}");
            }
        }
        Err(e) => eprintln!("cleanup: cannot delete image {id}: {e}"),
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

/// A valid qcow2 (v3, 64 KiB clusters) of an empty disk of `virtual_size`
/// bytes: header, refcount table, one refcount block, an all-zero L1 table.
pub(crate) fn empty_qcow2(virtual_size: u64) -> Vec<u8> {
    const CLUSTER: usize = 64 * 1024;
    let mut image = vec![0u8; 4 * CLUSTER];
    let l2_span = (CLUSTER as u64 / 8) * CLUSTER as u64;
    let l1_size = virtual_size.div_ceil(l2_span) as u32;
    let mut header = Vec::new();
    header.extend_from_slice(b"QFI\xfb");
    header.extend_from_slice(&3u32.to_be_bytes()); // version
    header.extend_from_slice(&0u64.to_be_bytes()); // backing_file_offset
    header.extend_from_slice(&0u32.to_be_bytes()); // backing_file_size
    header.extend_from_slice(&16u32.to_be_bytes()); // cluster_bits
    header.extend_from_slice(&virtual_size.to_be_bytes());
    header.extend_from_slice(&0u32.to_be_bytes()); // crypt_method
    header.extend_from_slice(&l1_size.to_be_bytes());
    header.extend_from_slice(&(3 * CLUSTER as u64).to_be_bytes()); // l1_table_offset
    header.extend_from_slice(&(CLUSTER as u64).to_be_bytes()); // refcount_table_offset
    header.extend_from_slice(&1u32.to_be_bytes()); // refcount_table_clusters
    header.extend_from_slice(&0u32.to_be_bytes()); // nb_snapshots
    header.extend_from_slice(&0u64.to_be_bytes()); // snapshots_offset
    header.extend_from_slice(&[0u8; 24]); // incompatible/compatible/autoclear features
    header.extend_from_slice(&4u32.to_be_bytes()); // refcount_order: 16-bit refcounts
    header.extend_from_slice(&104u32.to_be_bytes()); // header_length
    assert_eq!(header.len(), 104);
    image[..104].copy_from_slice(&header);
    // Header extension area ends at once (type 0, length 0): already zero.
    image[CLUSTER..CLUSTER + 8].copy_from_slice(&(2 * CLUSTER as u64).to_be_bytes());
    for cluster in 0..4 {
        let at = 2 * CLUSTER + 2 * cluster;
        image[at..at + 2].copy_from_slice(&1u16.to_be_bytes());
    }
    image
}

/// A throwaway HTTP/1.1 server on 127.0.0.1 serving `body` at `/image` (404
/// elsewhere), for web-download. Returns the base URL.
pub(crate) async fn serve_image(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = Arc::clone(&body);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request);
                let found = line.starts_with("GET /image ");
                let head = if found {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                };
                let _ = socket.write_all(head.as_bytes()).await;
                if found {
                    let _ = socket.write_all(&body).await;
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
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
