//! What apply did: one [`Entry`] per planned step, with its [`Outcome`].
//!
//! The report is data (serde) so `--output json` and the text summary read the same values,
//! and it alone decides the exit code ([`Report::failed`]): a failed step never stops its
//! siblings (ripgrep's "count, don't throw"), it only changes how the run ends.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::catalog::checksums::Algorithm;
use crate::desired::Identity;
use crate::glance::Waited;
use crate::plan::{ActionKind, Phase, Unplannable, Way};

/// The JSON report's schema version; bumped on incompatible changes.
pub const FORMAT_VERSION: &str = "1";

/// Everything one `apply` run did, per cloud, in plan order.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format_version: &'static str,
    pub clouds: Vec<CloudReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CloudReport {
    pub cloud: String,
    /// Glance API requests this run sent to the cloud (listing, lock and retries included).
    pub api_calls: u64,
    /// Glance calls repeated after a transient failure (503, dropped connection, …): a
    /// degraded Glance shows here first.
    pub retries: u64,
    /// Uploads deleted and started again in a new image after Glance failed transiently.
    pub recreated_uploads: u64,
    pub entries: Vec<Entry>,
    /// Catalog versions the plan could not serve (nothing was tried for them); each fails
    /// the run like a failed step.
    pub errors: Vec<Unplannable>,
}

/// One planned step and how it ended.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub phase: Phase,
    /// `create`, `publish`, `update`, `deactivate`, `reactivate`, `delete`, `add_member`,
    /// `accept_member` or `remove_member`.
    pub action: ActionKind,
    pub identity: Option<Identity>,
    /// The Glance image (for a create and its publish: the new image, once it exists).
    pub image_id: Option<String>,
    /// The image's name as planned (for a create: its final name).
    pub name: String,
    pub outcome: Outcome,
    /// Wall time the step took, in milliseconds (for a create: upload and verification).
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// For creates: what was transferred and how it was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
    /// For member steps: the member project's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Done,
    /// The step was attempted and failed; the run exits non-zero.
    Failed {
        #[serde(serialize_with = "redacted")]
        error: String,
    },
    /// Not attempted, because an earlier step it depends on failed or was refused.
    Skipped {
        #[serde(serialize_with = "redacted")]
        reason: String,
    },
    /// Glance refused a delete because the image is in use (409): reported, not a failure.
    InUse {
        #[serde(serialize_with = "redacted")]
        message: String,
    },
}

/// The data path of one created image.
#[derive(Clone, Debug, Serialize)]
pub struct Transfer {
    /// `glance-direct`, `upload` or `web-download`.
    pub method: Way,
    /// Which of the version's URLs the bytes came from.
    pub source: SourceKind,
    /// Why the version's `mirror_url` was not used although it has one: it could not be opened
    /// (missing, refused, unreachable), so the bytes came from `url`, verified against the same
    /// checksum.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "redacted_some"
    )]
    pub fallback: Option<String>,
    /// Bytes Glance received (after decompression).
    pub bytes: u64,
    /// Every digest computed on the way, lowercase hex by algorithm (`sha256`, `sha512`, …);
    /// the upstream's was compared with the catalog, Glance's `os_hash_algo` one with
    /// `os_hash_value`.
    pub digests: BTreeMap<Algorithm, String>,
    /// Where the time went, in milliseconds.
    pub timings: Timings,
}

/// Where one created image's time went: what a slow first import is broken down by (and what
/// `ci/bench.sh` prints). Times in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// Creating the image (`POST /v2/images`).
    #[serde(serialize_with = "millis")]
    pub create: Duration,
    /// Download, verification and stage (or upload) in one pass; 0 for web-download.
    #[serde(serialize_with = "millis")]
    pub transfer: Duration,
    /// From the import request (after an upload: its end) until Glance had it `active`.
    #[serde(serialize_with = "millis")]
    pub import: Duration,
    /// Status reads that saw the image while it imported (one read may answer for several
    /// images: see `api_calls` for the calls).
    pub polls: u32,
    /// Of `import`, at most this long the image was active before a read noticed: from the
    /// last read that found it importing to the one that found it active (0 when the first
    /// read found it active).
    #[serde(serialize_with = "millis")]
    pub poll_slack: Duration,
    /// Comparing Glance's digest with ours (a read-back for web-download).
    #[serde(serialize_with = "millis")]
    pub verify: Duration,
}

impl Timings {
    /// Records a wait for `active` that began at `started`.
    pub(super) fn imported(&mut self, started: Instant, active: &Waited) {
        self.import = started.elapsed();
        self.polls = active.reads;
        self.poll_slack = active.slack;
    }
}

/// A catalog version's URL, by its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The upstream, `url`.
    Url,
    /// The copy, `mirror_url`.
    MirrorUrl,
}

impl Report {
    /// Steps that failed and versions the plans could not serve, across clouds.
    pub fn failed(&self) -> usize {
        let unplannable: usize = self.clouds.iter().map(|c| c.errors.len()).sum();
        self.count(|o| matches!(o, Outcome::Failed { .. })) + unplannable
    }

    /// Steps done.
    pub fn done(&self) -> usize {
        self.count(|o| *o == Outcome::Done)
    }

    fn count(&self, pick: impl Fn(&Outcome) -> bool) -> usize {
        self.clouds
            .iter()
            .flat_map(|c| &c.entries)
            .filter(|e| pick(&e.outcome))
            .count()
    }
}

/// Messages may quote URLs (an upstream's, Glance's echo of a web-download URL): the report is
/// a CI artefact, so they go out through [`crate::redact::text`].
fn redacted<S: serde::Serializer>(message: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::redact::text(message))
}

fn redacted_some<S: serde::Serializer>(message: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match message {
        Some(message) => redacted(message, s),
        None => s.serialize_none(),
    }
}

fn millis<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
