//! Events out of the executor, for whoever draws them (terraform's `Hook`, uv's `Reporter`).
//!
//! `apply` reports what happens through this trait and never draws anything itself: the CLI
//! implements it with indicatif bars on a terminal and plain progress lines in CI
//! (`cli/progress.rs`), tests use [`NoHooks`] or a recorder. Every method has an empty default
//! so an implementation only overrides what it shows.

use super::report::Entry;

/// Receives apply's events. Called from many tasks at once, hence `Send + Sync`.
pub trait Hooks: Send + Sync {
    /// A download starts; `label` names the image (and the clouds it goes to), `total` is the
    /// upstream length when the server announced it. The returned handle gets the progress.
    fn transfer_started(&self, label: &str, total: Option<u64>) -> Box<dyn TransferProgress> {
        let _ = (label, total);
        Box::new(NoProgress)
    }

    /// One planned step ended (done, failed, skipped or kept); `cloud` names its target.
    fn step_finished(&self, cloud: &str, entry: &Entry) {
        let _ = (cloud, entry);
    }
}

/// Progress of one transfer. Dropped when the transfer ends, whatever its outcome.
pub trait TransferProgress: Send + Sync {
    /// `bytes` more were read from upstream (after decompression: the bytes Glance gets).
    fn advance(&self, bytes: u64) {
        let _ = bytes;
    }

    /// The transfer ended; `ok` is false when it failed.
    fn finish(&self, ok: bool) {
        let _ = ok;
    }
}

/// Hooks that show nothing.
pub struct NoHooks;

impl Hooks for NoHooks {}

struct NoProgress;

impl TransferProgress for NoProgress {}
