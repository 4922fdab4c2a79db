//! In-process upstream image mirror for the integration tests.
//!
//! Simulates servers like cloud-images.ubuntu.com: a real HTTP/1.1 server on `127.0.0.1` (never a
//! mock) serving generated qcow2/raw images, compressed variants, checksum files in the formats
//! real upstreams publish, redirects, and injectable faults. It speaks enough HTTP for the download
//! path to be exercised honestly: `Range`/`If-Range`/206/416, `ETag`, `Last-Modified`, `HEAD`.
//!
//! Design choices, and why:
//! - One server per test (xh's `tests/server` pattern). Every request is logged per path so a test
//!   can assert what the client did ("resumed from byte 1048576"); [`Upstream::expect_hit`] fails
//!   the test at drop if a route it relied on was never requested.
//! - The server runs on its own thread and tokio runtime, so it works the same from any
//!   `#[tokio::test]` flavour and from plain `#[test]`s that run the CLI binary. Dropping the
//!   [`Upstream`] shuts that runtime down, which also cancels hanging or trickling responses.
//! - Large content is never held in memory: [`Upstream::add_generated`] produces deterministic
//!   pseudo-random bytes on the fly (seekable, so ranges work) and [`Upstream::add_disk_file`]
//!   streams a file in 64 KiB chunks (plain blocking reads: the runtime serves only this server).
//! - Faults are scenario-style ([`Upstream::fault`], [`Upstream::fault_times`]), settable before or
//!   during a test, and bounded in time and volume.
//!
//! Layout: this file holds the [`Upstream`] handle tests use and the state it shares with the
//! server; [`server`] answers requests, [`fault`] injects faults on the wire, [`content`] produces
//! the bytes served, and [`sums`], [`compression`] and [`qcow2`] make the derived files (checksum
//! lists, compressed variants, qcow2 images) tests publish or feed the client directly.

mod compression;
mod content;
mod fault;
mod qcow2;
mod server;
mod sums;

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

pub(crate) use compression::{Compression, compress};
pub(crate) use content::raw;
use content::{Chunks, Content, Source};
pub(crate) use fault::Fault;
pub(crate) use qcow2::{qcow2, qcow2_file, qcow2_with_backing, qcow2_with_data_file};
pub(crate) use server::Hit;
pub(crate) use sums::{Algo, SumsFormat};

const BINARY: &str = "application/octet-stream";
const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Clone)]
enum Route {
    Content(Content),
    Redirect(u16, String),
}

/// Everything the test side and the server share: routes, armed faults, the hit log.
#[derive(Default)]
struct Inner {
    routes: HashMap<String, Route>,
    /// Fault and how many more requests it applies to (`None`: until cleared).
    faults: HashMap<String, (Fault, Option<u32>)>,
    hits: HashMap<String, Vec<Hit>>,
    expected: Vec<String>,
    digests: HashMap<(u64, Algo), String>,
    generations: u64,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(inner: &Shared) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running upstream server; it stops when dropped.
pub(crate) struct Upstream {
    addr: SocketAddr,
    inner: Shared,
    dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// Starts a server from an async test (it runs on its own thread and runtime regardless).
    pub(crate) async fn start() -> Upstream {
        Self::start_blocking()
    }

    /// Starts a server from synchronous code, e.g. a `#[test]` that runs the CLI binary.
    pub(crate) fn start_blocking() -> Upstream {
        let inner = Shared::default();
        let (addr, shutdown, thread) = server::spawn(inner.clone());
        let (thread, shutdown) = (Some(thread), Some(shutdown));
        let dir = tempfile::tempdir().expect("tempdir");
        Upstream {
            addr,
            inner,
            dir,
            shutdown,
            thread,
        }
    }

    /// `http://127.0.0.1:PORT`: a literal IP, as Glance's web-download filter refuses `localhost`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Scratch directory owned by this server (deleted on drop), e.g. for large qcow2 files.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn add_route(&self, path: &str, route: Route) {
        assert!(path.starts_with('/'), "paths start with '/': {path}");
        lock(&self.inner).routes.insert(path.to_owned(), route);
    }

    fn add_content(&self, path: &str, src: Source, len: u64, content_type: &'static str) {
        let mut inner = lock(&self.inner);
        inner.generations += 1;
        let generation = inner.generations;
        drop(inner);
        let content = Content {
            src,
            len,
            generation,
            content_type,
        };
        self.add_route(path, Route::Content(content));
    }

    /// Serves `bytes` (kept in memory: for small files) at `path`.
    pub(crate) fn add_file(&self, path: &str, bytes: impl Into<Bytes>) {
        let bytes: Bytes = bytes.into();
        let len = bytes.len() as u64;
        self.add_content(path, Source::Memory(bytes), len, BINARY);
    }

    /// Serves a file from disk, streamed in chunks (never loaded in memory).
    pub(crate) fn add_disk_file(&self, path: &str, file: impl Into<PathBuf>) {
        let file = file.into();
        let len = std::fs::metadata(&file).expect("stat served file").len();
        self.add_content(path, Source::Disk(file), len, BINARY);
    }

    /// Serves `size` deterministic pseudo-random bytes (those of [`raw`] for the same seed),
    /// generated on the fly: neither memory nor disk, so many GiB cost nothing to set up.
    pub(crate) fn add_generated(&self, path: &str, size: u64, seed: u64) {
        self.add_content(path, Source::Generated(seed), size, BINARY);
    }

    /// Serves the content of `src_path` compressed at `src_path + suffix`, and returns that path.
    /// In-memory content stays in memory; disk and generated content is compressed to disk.
    pub(crate) fn add_compressed(&self, src_path: &str, compression: Compression) -> String {
        let content = self.content(src_path);
        let path = format!("{src_path}{}", compression.suffix());
        let chunks = Chunks::new(content.src.clone(), 0, content.len);
        if let Source::Memory(_) = content.src {
            let mut out = Vec::new();
            compression::encode_into(chunks, compression, &mut out);
            self.add_file(&path, out);
        } else {
            let file = self.dir().join(path[1..].replace('/', "_"));
            let mut out = tokio::fs::File::from_std(File::create(&file).expect("create"));
            compression::encode_into(chunks, compression, &mut out);
            self.add_disk_file(&path, file);
        }
        path
    }

    /// Makes `from` answer `status` (301, 302, 307...) with `Location: to` (a path or a URL).
    pub(crate) fn add_redirect(&self, from: &str, to: &str, status: u16) {
        self.add_route(from, Route::Redirect(status, to.to_owned()));
    }

    /// Serves a checksum file at `path` listing the served `files` (by last path segment), with
    /// digests of their true content. Returns its text.
    pub(crate) fn add_sums(&self, path: &str, format: SumsFormat, files: &[&str]) -> String {
        let entry = |file: &&str| {
            let name = file.rsplit('/').next().unwrap_or(file).to_owned();
            (name, self.digest(file, format.algo()), self.size(file))
        };
        let text = sums::sums_text(format, &files.iter().map(entry).collect::<Vec<_>>());
        let len = text.len() as u64;
        self.add_content(path, Source::Memory(text.clone().into()), len, TEXT);
        text
    }

    fn content(&self, path: &str) -> Content {
        match lock(&self.inner).routes.get(path) {
            Some(Route::Content(content)) => content.clone(),
            _ => panic!("upstream: no content at {path}"),
        }
    }

    /// Hex digest of the true content at `path` (faults ignored), computed once then cached.
    pub(crate) fn digest(&self, path: &str, algo: Algo) -> String {
        let content = self.content(path);
        let key = (content.generation, algo);
        if let Some(hex) = lock(&self.inner).digests.get(&key) {
            return hex.clone();
        }
        let hex = sums::digest(&content, algo);
        lock(&self.inner).digests.insert(key, hex.clone());
        hex
    }

    /// Length in bytes of the content at `path`.
    pub(crate) fn size(&self, path: &str) -> u64 {
        self.content(path).len
    }

    /// The strong ETag sent for `path` (quotes included), e.g. for an `If-Range` header.
    pub(crate) fn etag(&self, path: &str) -> String {
        server::etag(&self.content(path))
    }

    /// The `Last-Modified` date sent for `path`.
    pub(crate) fn last_modified(&self, path: &str) -> String {
        server::last_modified(&self.content(path))
    }

    /// Injects `fault` on every applicable request to `path` until [`Upstream::clear_fault`].
    pub(crate) fn fault(&self, path: &str, fault: Fault) {
        lock(&self.inner)
            .faults
            .insert(path.to_owned(), (fault, None));
    }

    /// Injects `fault` on the next `times` applicable requests to `path`, then serves normally.
    pub(crate) fn fault_times(&self, path: &str, fault: Fault, times: u32) {
        assert!(times > 0, "fault_times needs at least one time");
        let armed = (fault, Some(times));
        lock(&self.inner).faults.insert(path.to_owned(), armed);
    }

    pub(crate) fn clear_fault(&self, path: &str) {
        lock(&self.inner).faults.remove(path);
    }

    /// Number of requests received for `path` (any method, any outcome).
    pub(crate) fn hits(&self, path: &str) -> usize {
        lock(&self.inner).hits.get(path).map_or(0, Vec::len)
    }

    /// Every request received for `path`, in order.
    pub(crate) fn requests(&self, path: &str) -> Vec<Hit> {
        let inner = lock(&self.inner);
        inner.hits.get(path).cloned().unwrap_or_default()
    }

    /// The `Range` headers received for `path`, in order (requests without one are skipped).
    pub(crate) fn ranges(&self, path: &str) -> Vec<String> {
        let hits = self.requests(path).into_iter();
        hits.filter_map(|hit| hit.range).collect()
    }

    /// Fails now unless `path` was requested at least once.
    pub(crate) fn assert_hit(&self, path: &str) {
        assert!(self.hits(path) > 0, "upstream: {path} was never requested");
    }

    /// Fails the test when the server is dropped unless `path` was requested by then.
    pub(crate) fn expect_hit(&self, path: &str) {
        lock(&self.inner).expected.push(path.to_owned());
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if std::thread::panicking() {
            return;
        }
        let inner = lock(&self.inner);
        let unhit = |path: &&String| inner.hits.get(*path).is_none_or(Vec::is_empty);
        let missing: Vec<_> = inner.expected.iter().filter(unhit).collect();
        assert!(missing.is_empty(), "upstream: never requested: {missing:?}");
    }
}
