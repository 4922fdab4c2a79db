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
const QUEUE: usize = 4;

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

#[cfg(test)]
mod tests {
    use futures::stream;
    use sha2::{Digest as _, Sha256};

    use super::*;

    /// Raw-looking bytes (no magic), `len` long.
    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 | 1).collect()
    }

    fn expected_for(bytes: &[u8]) -> Expected {
        Expected {
            digest: Digest::new(Algorithm::Sha256, &hex::encode(Sha256::digest(bytes))).unwrap(),
            disk_format: DiskFormat::Raw,
        }
    }

    fn source(bytes: &[u8], piece: usize) -> impl Stream<Item = Result<Bytes, Error>> + Send {
        let chunks: Vec<_> = bytes
            .chunks(piece)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        stream::iter(chunks)
    }

    /// Everything a target received, and whether its body ended with an error.
    async fn collect(
        body: impl Stream<Item = Result<Bytes, Rejected>>,
    ) -> (Vec<u8>, Option<String>) {
        let mut received = Vec::new();
        let mut body = std::pin::pin!(body);
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) => received.extend_from_slice(&chunk),
                Err(rejected) => return (received, Some(rejected.to_string())),
            }
        }
        (received, None)
    }

    #[tokio::test]
    async fn every_target_gets_every_byte_when_the_digest_matches() {
        let bytes = data(3 * CHUNK + 12_345);
        let mut fanout = Fanout::new();
        let (a, b) = (fanout.add(), fanout.add());
        let counted = std::sync::atomic::AtomicU64::new(0);
        let advance = |n| {
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        };
        let expected = expected_for(&bytes);
        let run = run(
            source(&bytes, 10_000),
            &expected,
            &[Algorithm::Sha512],
            fanout,
            &advance,
        );
        let (verified, a, b) = tokio::join!(run, collect(a), collect(b));
        let verified = verified.unwrap();
        assert_eq!(a, (bytes.clone(), None));
        assert_eq!(b, (bytes.clone(), None));
        assert_eq!(verified.detected, Detected::Raw);
        assert_eq!(verified.digests.bytes, bytes.len() as u64);
        assert!(verified.digests.get(Algorithm::Sha512).is_some());
        assert_eq!(counted.into_inner(), bytes.len() as u64);
    }

    #[tokio::test]
    async fn a_wrong_digest_fails_the_body_before_its_last_chunk() {
        let bytes = data(2 * CHUNK + 7);
        let mut expected = expected_for(&bytes);
        expected.digest.hex = "0".repeat(64);
        let mut fanout = Fanout::new();
        let body = fanout.add();
        let run = run(source(&bytes, 4096), &expected, &[], fanout, &|_| {});
        let (verified, (received, rejected)) = tokio::join!(run, collect(body));
        assert!(
            matches!(verified, Err(Error::Digest { .. })),
            "{verified:?}"
        );
        assert!(received.len() < bytes.len(), "the whole body was sent");
        assert!(rejected.unwrap().starts_with("sha256 mismatch"));
    }

    #[tokio::test]
    async fn a_qcow2_declared_raw_stops_the_download_after_its_head() {
        let mut bytes = data(4 * CHUNK);
        bytes[..4].copy_from_slice(b"QFI\xfb");
        let pulled = std::sync::atomic::AtomicUsize::new(0);
        let chunks = bytes.chunks(CHUNK).map(|c| Ok(Bytes::copy_from_slice(c)));
        let counting = stream::iter(chunks).inspect(|_| {
            pulled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let mut fanout = Fanout::new();
        let body = fanout.add();
        let expected = expected_for(&bytes);
        let run = run(counting, &expected, &[], fanout, &|_| {});
        let (verified, (received, rejected)) = tokio::join!(run, collect(body));
        assert!(matches!(verified, Err(Error::Format(_))), "{verified:?}");
        assert!(received.is_empty());
        assert!(rejected.is_some());
        assert_eq!(pulled.into_inner(), 1, "read past the first chunk");
    }

    #[tokio::test]
    async fn a_failed_target_does_not_stop_the_others_but_the_last_one_does() {
        let bytes = data(40 * CHUNK);
        let mut fanout = Fanout::new();
        let gone = fanout.add();
        let live = fanout.add();
        drop(gone);
        let expected = expected_for(&bytes);
        let run = run(source(&bytes, CHUNK), &expected, &[], fanout, &|_| {});
        let (verified, (received, _)) = tokio::join!(run, collect(live));
        assert!(verified.is_ok());
        assert_eq!(received.len(), bytes.len());

        let mut fanout = Fanout::new();
        drop(fanout.add());
        let verified = run_alone(&bytes, fanout).await;
        assert!(matches!(verified, Err(Error::NoTarget)), "{verified:?}");
    }

    async fn run_alone(bytes: &[u8], fanout: Fanout) -> Result<Verified, Error> {
        run(
            source(bytes, CHUNK),
            &expected_for(bytes),
            &[],
            fanout,
            &|_| {},
        )
        .await
    }

    #[tokio::test]
    async fn a_source_error_fails_every_body_and_short_images_are_sniffed_at_the_end() {
        let broken = stream::iter(vec![Ok(Bytes::from_static(b"abc")), Err(Error::NoChecksum)]);
        let mut fanout = Fanout::new();
        let body = fanout.add();
        let expected = expected_for(b"abc");
        let run = run(broken, &expected, &[], fanout, &|_| {});
        let (verified, (_, rejected)) = tokio::join!(run, collect(body));
        assert!(matches!(verified, Err(Error::NoChecksum)));
        assert!(rejected.is_some());

        let tiny = b"tiny raw image".to_vec();
        let verified = run_alone(&tiny, Fanout::new()).await.unwrap();
        assert_eq!(verified.detected, Detected::Raw);
    }
}
