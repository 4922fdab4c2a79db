//! One pass over an image's bytes: sniff, hash, hand on to every target, verify at the end.
//!
//! This is where "no unverified byte is ever activated" is enforced for streamed uploads. The
//! bytes go to each target (one Glance upload per cloud, fanned out from one download) through a
//! bounded channel, but the LAST chunk is held back until the digest is known: a classic
//! `PUT /file` only activates an image once its body is complete, so a body that fails before
//! its end can never become an active image with bad bytes. glance-direct does not need this
//! (nothing is imported before verification) but gets the same stream.
//!
//! Memory: chunks are coalesced to [`CHUNK`] bytes and every channel holds at most [`QUEUE`]
//! of them, so the bytes in flight per transfer are bounded by a few MiB whatever the image
//! size. The format check runs on the first [`sniff::HEAD_LEN`] bytes as soon as they are in,
//! so a wrong format stops the download early.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::Error;
use super::hash::{Digests, Hashers};
use super::sniff::{self, Detected};
use crate::catalog::DiskFormat;
use crate::catalog::checksums::{Algorithm, Digest};

/// Chunk size handed to hashers and targets.
pub const CHUNK: usize = 256 * 1024;
/// Chunks buffered per target before the download waits for the slowest target.
const QUEUE: usize = 8;

/// What the bytes must be.
#[derive(Clone, Debug)]
pub struct Expected {
    /// The catalog's digest (inline or from the published sums file).
    pub digest: Digest,
    pub disk_format: DiskFormat,
}

/// A stream whose every byte was hashed and whose digest matched.
#[derive(Clone, Debug)]
pub struct Verified {
    /// Every digest computed (the expected one and the extra algorithms asked for).
    pub digests: Digests,
    pub detected: Detected,
}

/// Why a target's stream ended early; what the upload sees as its body error.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(String);

/// The receiving ends of a transfer: one bounded channel per target.
#[derive(Default)]
pub struct Fanout {
    targets: Vec<Option<mpsc::Sender<Result<Bytes, Rejected>>>>,
}

impl Fanout {
    pub fn new() -> Fanout {
        Fanout::default()
    }

    /// Adds a target and returns the body stream to upload. The stream ends with an error if
    /// the bytes turn out to be wrong, before the last chunk.
    pub fn add(&mut self) -> impl Stream<Item = Result<Bytes, Rejected>> + Send + 'static + use<> {
        let (sender, mut receiver) = mpsc::channel(QUEUE);
        self.targets.push(Some(sender));
        futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
    }

    /// Sends to every live target; a target whose receiver is gone (its upload failed) is
    /// dropped. Returns false once targets existed and none is left.
    async fn send(&mut self, chunk: &Bytes) -> bool {
        for slot in &mut self.targets {
            if let Some(sender) = slot
                && sender.send(Ok(chunk.clone())).await.is_err()
            {
                *slot = None;
            }
        }
        self.targets.is_empty() || self.targets.iter().any(Option::is_some)
    }

    /// Fails every live target's body with `why`.
    async fn reject(&mut self, why: &Error) {
        let rejected = Rejected(why.to_string());
        for sender in self.targets.drain(..).flatten() {
            let _ = sender.send(Err(rejected.clone())).await;
        }
    }
}

/// Reads `source` to its end: checks the format, computes the digests of `algorithms` (plus
/// the expected one), hands every chunk to `fanout` (the last one only once verified) and
/// calls `advance` with each chunk's length. On any failure every target's body fails.
pub async fn run<S>(
    source: S,
    expected: &Expected,
    algorithms: &[Algorithm],
    mut fanout: Fanout,
    advance: &(dyn Fn(u64) + Send + Sync),
) -> Result<Verified, Error>
where
    S: Stream<Item = Result<Bytes, Error>> + Send,
{
    match pass(source, expected, algorithms, &mut fanout, advance).await {
        Ok((verified, last)) => {
            if let Some(last) = last {
                fanout.send(&last).await;
            }
            Ok(verified)
        }
        Err(error) => {
            fanout.reject(&error).await;
            Err(error)
        }
    }
}

/// The pass itself; returns the held-back last chunk with the verdict.
async fn pass<S>(
    source: S,
    expected: &Expected,
    algorithms: &[Algorithm],
    fanout: &mut Fanout,
    advance: &(dyn Fn(u64) + Send + Sync),
) -> Result<(Verified, Option<Bytes>), Error>
where
    S: Stream<Item = Result<Bytes, Error>> + Send,
{
    let mut wanted = algorithms.to_vec();
    wanted.push(expected.digest.algorithm);
    let mut hashers = Hashers::new(&wanted);
    let mut head = Vec::with_capacity(sniff::HEAD_LEN);
    let mut detected = None;
    let mut held: Option<Bytes> = None;
    let mut pending = BytesMut::new();
    let mut source = std::pin::pin!(source.fuse());
    loop {
        let next = source.next().await.transpose()?;
        let chunk = match next {
            Some(bytes) => {
                pending.extend_from_slice(&bytes);
                if pending.len() < CHUNK {
                    continue;
                }
                pending.split().freeze()
            }
            None if pending.is_empty() => break,
            None => pending.split().freeze(),
        };
        hashers.update(&chunk).await;
        advance(chunk.len() as u64);
        if detected.is_none() {
            let take = (sniff::HEAD_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == sniff::HEAD_LEN {
                detected = Some(sniff_head(expected.disk_format, &head)?);
            }
        }
        if let Some(previous) = held.replace(chunk)
            && !fanout.send(&previous).await
        {
            return Err(Error::NoTarget);
        }
    }
    let detected = match detected {
        Some(detected) => detected,
        None => sniff_head(expected.disk_format, &head)?,
    };
    let digests = hashers.finish().await;
    let actual = digests.get(expected.digest.algorithm).unwrap_or_default();
    if actual != expected.digest.hex {
        return Err(Error::Digest {
            algorithm: expected.digest.algorithm,
            expected: expected.digest.hex.clone(),
            actual: actual.to_owned(),
            bytes: digests.bytes,
        });
    }
    Ok((Verified { digests, detected }, held))
}

fn sniff_head(declared: DiskFormat, head: &[u8]) -> Result<Detected, Error> {
    sniff::check(declared, head).map_err(Error::Format)
}
