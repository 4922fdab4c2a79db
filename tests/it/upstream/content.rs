//! What the server serves: content sources (memory, disk, generated), the chunked reader every
//! response body, digest and compression goes through, and the deterministic pseudo-random
//! generator behind generated content.
//!
//! Kept apart from the HTTP side so content can be produced, hashed and compressed without a
//! server, and so the one seekable reader ([`Chunks`]) is shared by all of them: ranges, digests
//! and compressed variants always see the same bytes.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::PathBuf;

use bytes::Bytes;

/// Size of body chunks sent to the client (and of reads from disk).
pub(super) const CHUNK: u64 = 64 * 1024;

#[derive(Clone)]
pub(super) enum Source {
    Memory(Bytes),
    Disk(PathBuf),
    /// Pseudo-random bytes for this seed.
    Generated(u64),
}

#[derive(Clone)]
pub(super) struct Content {
    pub(super) src: Source,
    pub(super) len: u64,
    /// Unique per `add_*` call: replacing a file changes its ETag and Last-Modified.
    pub(super) generation: u64,
    pub(super) content_type: &'static str,
}

/// Reads `pos..end` of a source in chunks of at most [`CHUNK`] bytes.
pub(super) struct Chunks {
    src: Source,
    file: Option<File>,
    pub(super) pos: u64,
    pub(super) end: u64,
}

impl Chunks {
    pub(super) fn new(src: Source, pos: u64, end: u64) -> Chunks {
        Chunks {
            src,
            file: None,
            pos,
            end,
        }
    }

    pub(super) fn read(&mut self, n: u64) -> io::Result<Bytes> {
        let (pos, size) = (self.pos, n as usize);
        self.pos += n;
        let mut buf = vec![0; size];
        match &self.src {
            Source::Memory(bytes) => return Ok(bytes.slice(pos as usize..pos as usize + size)),
            Source::Generated(seed) => fill_pseudo_random(*seed, pos, &mut buf),
            Source::Disk(path) => {
                if self.file.is_none() {
                    let mut file = File::open(path)?;
                    file.seek(io::SeekFrom::Start(pos))?;
                    self.file = Some(file);
                }
                self.file.as_mut().expect("opened").read_exact(&mut buf)?;
            }
        }
        Ok(buf.into())
    }
}

impl Iterator for Chunks {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<io::Result<Bytes>> {
        let left = self.end - self.pos;
        (left > 0).then(|| self.read(CHUNK.min(left)))
    }
}

/// Counter-based SplitMix64: word `index` of the stream for `seed`, so any offset is seekable.
fn splitmix64(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `buf` with the pseudo-random stream for `seed`, starting at byte `offset`.
pub(super) fn fill_pseudo_random(seed: u64, offset: u64, buf: &mut [u8]) {
    // Unaligned head byte by byte, then whole words: the hot path for 64 KiB chunks.
    let head = (((8 - offset % 8) % 8) as usize).min(buf.len());
    let (head_buf, words) = buf.split_at_mut(head);
    for (pos, byte) in (offset..).zip(head_buf) {
        *byte = splitmix64(seed, pos / 8).to_le_bytes()[(pos % 8) as usize];
    }
    let mut index = (offset + head as u64) / 8;
    let mut chunks = words.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&splitmix64(seed, index).to_le_bytes());
        index += 1;
    }
    let tail = chunks.into_remainder();
    let len = tail.len();
    tail.copy_from_slice(&splitmix64(seed, index).to_le_bytes()[..len]);
}

/// `size` deterministic pseudo-random bytes: what
/// [`Upstream::add_generated`](super::Upstream::add_generated) serves.
pub(crate) fn raw(size: usize, seed: u64) -> Vec<u8> {
    let mut buf = vec![0; size];
    fill_pseudo_random(seed, 0, &mut buf);
    buf
}
