//! Digests computed while bytes flow, each algorithm on its own thread.
//!
//! A transfer needs two digests in one pass: the upstream's (to verify the download) and the
//! cloud's `os_hash_algo` (to prove Glance stored exactly those bytes). sha512 runs at about
//! 0.4 GB/s per core here, so hashing inline would cap a stream at that rate and serialise
//! parallel streams; instead every chunk (a cheap `Bytes` clone) goes to one worker thread per
//! algorithm over a bounded channel, which also bounds the memory in flight.

use std::collections::BTreeMap;
use std::thread::JoinHandle;

use bytes::Bytes;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use tokio::sync::mpsc;

use crate::catalog::checksums::Algorithm;

/// Chunks buffered per worker before `update` waits: with 256 KiB chunks, 1 MiB per stream.
const QUEUE: usize = 4;

/// The running digests of one stream.
pub struct Hashers {
    workers: Vec<Worker>,
    bytes: u64,
}

struct Worker {
    algorithm: Algorithm,
    sender: mpsc::Sender<Bytes>,
    thread: JoinHandle<String>,
}

/// The finished digests (lowercase hex) and the byte count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digests {
    pub bytes: u64,
    values: BTreeMap<Algorithm, String>,
}

impl Digests {
    pub fn get(&self, algorithm: Algorithm) -> Option<&str> {
        self.values.get(&algorithm).map(String::as_str)
    }

    /// Every digest, by algorithm.
    pub fn iter(&self) -> impl Iterator<Item = (Algorithm, &str)> {
        self.values.iter().map(|(a, v)| (*a, v.as_str()))
    }
}

impl Hashers {
    /// Starts one worker per distinct algorithm.
    pub fn new(algorithms: &[Algorithm]) -> Hashers {
        let mut distinct = algorithms.to_vec();
        distinct.sort();
        distinct.dedup();
        let workers = distinct
            .into_iter()
            .map(|algorithm| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                let thread = std::thread::Builder::new()
                    .name(format!("hash-{algorithm}"))
                    .spawn(move || run(algorithm, receiver))
                    .expect("spawning a hash thread");
                Worker {
                    algorithm,
                    sender,
                    thread,
                }
            })
            .collect();
        Hashers { workers, bytes: 0 }
    }

    /// Feeds a chunk to every worker; waits only when a worker is [`QUEUE`] chunks behind.
    pub async fn update(&mut self, chunk: &Bytes) {
        self.bytes += chunk.len() as u64;
        for worker in &self.workers {
            // A worker only stops when its sender is dropped, so sending cannot fail.
            let _ = worker.sender.send(chunk.clone()).await;
        }
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Closes the streams and collects every digest.
    pub async fn finish(self) -> Digests {
        let bytes = self.bytes;
        let values = tokio::task::spawn_blocking(move || {
            self.workers
                .into_iter()
                .map(|w| {
                    drop(w.sender);
                    (w.algorithm, w.thread.join().expect("hash thread panicked"))
                })
                .collect()
        })
        .await
        .expect("joining hash threads");
        Digests { bytes, values }
    }
}

fn run(algorithm: Algorithm, mut receiver: mpsc::Receiver<Bytes>) -> String {
    fn drain<D: sha2::Digest>(mut hasher: D, receiver: &mut mpsc::Receiver<Bytes>) -> String {
        while let Some(chunk) = receiver.blocking_recv() {
            hasher.update(&chunk);
        }
        hex::encode(hasher.finalize())
    }
    match algorithm {
        Algorithm::Md5 => drain(Md5::new(), &mut receiver),
        Algorithm::Sha1 => drain(Sha1::new(), &mut receiver),
        Algorithm::Sha256 => drain(Sha256::new(), &mut receiver),
        Algorithm::Sha512 => drain(Sha512::new(), &mut receiver),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn digests_match_one_shot_hashing_across_chunk_boundaries() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut hashers = Hashers::new(&[
            Algorithm::Sha512,
            Algorithm::Sha256,
            Algorithm::Md5,
            Algorithm::Sha1,
            Algorithm::Sha256,
        ]);
        for chunk in data.chunks(65_537) {
            hashers.update(&Bytes::copy_from_slice(chunk)).await;
        }
        assert_eq!(hashers.bytes(), data.len() as u64);
        let digests = hashers.finish().await;
        assert_eq!(digests.bytes, data.len() as u64);
        assert_eq!(
            digests.get(Algorithm::Sha256),
            Some(hex::encode(Sha256::digest(&data)).as_str())
        );
        assert_eq!(
            digests.get(Algorithm::Sha512),
            Some(hex::encode(Sha512::digest(&data)).as_str())
        );
        assert_eq!(
            digests.get(Algorithm::Md5),
            Some(hex::encode(Md5::digest(&data)).as_str())
        );
        assert_eq!(
            digests.get(Algorithm::Sha1),
            Some(hex::encode(Sha1::digest(&data)).as_str())
        );
    }

    #[tokio::test]
    async fn an_empty_stream_has_the_empty_digest() {
        let digests = Hashers::new(&[Algorithm::Sha256]).finish().await;
        assert_eq!(digests.bytes, 0);
        assert_eq!(
            digests.get(Algorithm::Sha256),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(digests.get(Algorithm::Md5), None);
    }
}
