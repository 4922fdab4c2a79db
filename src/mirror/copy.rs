//! Copying one version from its upstream into the bucket: streamed, verified, all or nothing.
//!
//! The bytes take the same path as into Glance ([`transfer::pipeline`]): the upstream stream
//! (resumed after breaks by [`Fetcher`]), decompressed, its format checked on the first bytes,
//! hashed on worker threads, and handed on through a bounded channel whose last chunk is held
//! back until the digest is known. Here the receiving end is a multipart upload, so:
//! - memory is bounded by the channel and a few parts in flight, whatever the image size, and
//!   nothing touches the disk (the Python mirror downloads to a temporary file first);
//! - the upload is completed only when the pipeline reported a matching digest AND the body
//!   ended cleanly; on any failure it is aborted, so a wrong or truncated file never becomes
//!   an object (S3 shows nothing under a key until its upload completes);
//! - the object's metadata records the digest it was verified against, so a later run skips it
//!   with one `HEAD`.

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::Error;
use super::store::{Store, Upload};
use crate::apply::Hooks;
use crate::catalog::Compression;
use crate::transfer::decompress::decompress;
use crate::transfer::fetch::Fetcher;
use crate::transfer::pipeline::{self, Expected, Fanout, Rejected};

/// What to copy where.
#[derive(Clone, Debug)]
pub struct Job {
    /// The object key (from the layout).
    pub key: String,
    /// The upstream URL (`url` of the version, never a mirror).
    pub url: String,
    /// Compression of the upstream file; the object holds the decompressed image.
    pub compression: Option<Compression>,
    pub expected: Expected,
}

/// How a copy ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copied {
    /// The object was there with this digest recorded: nothing was sent.
    Present,
    /// Uploaded and verified; `replaced`: an object without (or with another) digest was
    /// overwritten.
    Uploaded { bytes: u64, replaced: bool },
}

/// Copies `job` unless its object is already there with the expected digest; progress goes
/// to `hooks` under `label`.
pub async fn copy(
    store: &Store,
    fetcher: &Fetcher,
    job: &Job,
    hooks: &dyn Hooks,
    label: &str,
) -> Result<Copied, Error> {
    let replaced = match store.stored_digest(&job.key).await? {
        Some(Some(digest)) if digest == job.expected.digest => return Ok(Copied::Present),
        Some(_) => true,
        None => false,
    };
    // The upstream first: a missing file must not leave an upload behind to abort.
    let download = fetcher.open(&job.url).await.map_err(Error::Transfer)?;
    let upload = store.start(&job.key, &job.expected.digest).await?;
    let progress = hooks.transfer_started(label, download.length());
    let mut fanout = Fanout::new();
    let body = fanout.add();
    let bytes = decompress(download, job.compression);
    let advance = |n| progress.advance(n);
    let verify = pipeline::run(bytes, &job.expected, &[], fanout, &advance);
    let (verified, (upload, sent)) = tokio::join!(verify, send(upload, body));
    progress.finish(verified.is_ok() && matches!(sent, Ok(true)));
    match (verified, sent) {
        (Ok(verified), Ok(true)) => {
            upload.complete().await?;
            Ok(Copied::Uploaded {
                bytes: verified.digests.bytes,
                replaced,
            })
        }
        // S3 failed first; the pipeline then stopped for want of a target.
        (_, Err(error)) => {
            upload.abort().await;
            Err(error)
        }
        (Err(error), _) => {
            upload.abort().await;
            Err(Error::Transfer(error))
        }
        // The pipeline rejects a body only when it fails itself (the arm above).
        (Ok(_), Ok(false)) => {
            upload.abort().await;
            Err(Error::Config(
                "the verified stream ended with an error".into(),
            ))
        }
    }
}

/// Feeds the body into the upload. `Ok(true)`: the body ended cleanly (every byte is in the
/// upload, nothing completed yet); `Ok(false)`: the pipeline rejected the bytes; `Err`: S3
/// failed. The upload is handed back either way, to be completed or aborted.
async fn send(
    mut upload: Upload,
    body: impl Stream<Item = Result<Bytes, Rejected>>,
) -> (Upload, Result<bool, Error>) {
    let mut body = std::pin::pin!(body);
    while let Some(item) = body.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(_) => return (upload, Ok(false)),
        };
        if let Err(error) = upload.write(chunk).await {
            return (upload, Err(error));
        }
    }
    (upload, Ok(true))
}
