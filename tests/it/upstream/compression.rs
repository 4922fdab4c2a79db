//! Compressed variants of content, made with the real streaming encoders (gzip, xz, bzip2,
//! zstd) so the client's decoders are tested against genuine output, not hand-made fixtures.
//!
//! Encoding is async (async-compression) but the helpers are sync: each runs on a throwaway
//! runtime on a scoped thread, so they work from plain `#[test]`s and from inside a test's
//! runtime alike.

use std::io;

use async_compression::tokio::bufread::{BzEncoder, GzipEncoder, XzEncoder, ZstdEncoder};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::content::{Chunks, Source};

/// Compression formats upstreams use for images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

impl Compression {
    pub(crate) const ALL: [Compression; 4] = [Self::Gzip, Self::Xz, Self::Bzip2, Self::Zstd];

    /// File name suffix, dot included.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Self::Gzip => ".gz",
            Self::Xz => ".xz",
            Self::Bzip2 => ".bz2",
            Self::Zstd => ".zst",
        }
    }
}

/// Runs `future` on a fresh runtime on a scoped thread, so the sync helpers work from sync tests
/// and from inside a test's runtime alike (no "runtime within a runtime" panic).
fn on_side_runtime<F: Future<Output = io::Result<()>> + Send>(future: F) {
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            runtime.expect("side runtime").block_on(future)
        });
        worker
            .join()
            .expect("side runtime thread")
            .expect("compress");
    });
}

/// Compresses `chunks` into `out` with the real encoder for `compression`, streaming.
async fn encode(
    chunks: Chunks,
    compression: Compression,
    out: &mut (impl AsyncWrite + Unpin + Send),
) -> io::Result<()> {
    let input = tokio_util::io::StreamReader::new(futures::stream::iter(chunks));
    let mut reader: Box<dyn AsyncRead + Send + Unpin> = match compression {
        Compression::Gzip => Box::new(GzipEncoder::new(input)),
        Compression::Xz => Box::new(XzEncoder::new(input)),
        Compression::Bzip2 => Box::new(BzEncoder::new(input)),
        Compression::Zstd => Box::new(ZstdEncoder::new(input)),
    };
    tokio::io::copy(&mut reader, out).await?;
    out.flush().await
}

/// Compresses `chunks` with `compression` into `out` (an in-memory buffer or an open file).
pub(super) fn encode_into(
    chunks: Chunks,
    compression: Compression,
    out: &mut (impl AsyncWrite + Unpin + Send),
) {
    on_side_runtime(encode(chunks, compression, out));
}

/// `data` compressed in memory with the real encoder for `compression`.
pub(crate) fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    let chunks = Chunks::new(
        Source::Memory(Bytes::copy_from_slice(data)),
        0,
        data.len() as u64,
    );
    let mut out = Vec::new();
    encode_into(chunks, compression, &mut out);
    out
}
