//! Decompressing an upstream stream on the fly (`.gz`, `.xz`, `.bz2`, `.zst`).
//!
//! Some upstreams publish images only compressed, and Glance wants them plain; decompressing in
//! the stream keeps the data path free of temporary files. The decoders are async-compression's
//! `bufread` ones, fed through tokio-util's `StreamReader` and turned back into a stream with
//! `ReaderStream`, so the output is the same kind of stream [`super::fetch`] produces.
//!
//! Two details matter:
//! - Multi-member input is decoded to the end (`multiple_members(true)`): `pigz`, `pbzip2` and
//!   `pixz`-style tools write several concatenated members, and stopping after the first would
//!   silently yield a prefix of the image, which only the checksum would then catch.
//! - Errors of the input stream travel through the reader as `io::Error` and come out as the
//!   original [`Error`], so a download failure is not reported as corrupt compressed data.

use std::io;

use async_compression::tokio::bufread::{BzDecoder, GzipDecoder, XzDecoder, ZstdDecoder};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::io::AsyncRead;
use tokio_util::io::{ReaderStream, StreamReader};

use super::Error;
use crate::catalog::Compression;

/// Size of decompressed chunks handed on.
const CHUNK: usize = 256 * 1024;

/// `input` decompressed with `compression` (`None` or [`Compression::None`]: passed through).
pub fn decompress<S>(
    input: S,
    compression: Option<Compression>,
) -> BoxStream<'static, Result<Bytes, Error>>
where
    S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
{
    let compression = match compression {
        None | Some(Compression::None) => return input.boxed(),
        Some(compression) => compression,
    };
    let reader = StreamReader::new(input.map_err(io::Error::other).boxed());
    let decoder: Box<dyn AsyncRead + Send + Unpin> = match compression {
        Compression::Gzip => {
            let mut decoder = GzipDecoder::new(reader);
            decoder.multiple_members(true);
            Box::new(decoder)
        }
        Compression::Xz => {
            let mut decoder = XzDecoder::new(reader);
            decoder.multiple_members(true);
            Box::new(decoder)
        }
        Compression::Bzip2 => {
            let mut decoder = BzDecoder::new(reader);
            decoder.multiple_members(true);
            Box::new(decoder)
        }
        Compression::Zstd => {
            let mut decoder = ZstdDecoder::new(reader);
            decoder.multiple_members(true);
            Box::new(decoder)
        }
        Compression::None => unreachable!("handled above"),
    };
    let name = name(compression);
    ReaderStream::with_capacity(decoder, CHUNK)
        .map_err(move |error| unwrap_error(error, name))
        .boxed()
}

/// The catalog spelling of `compression`, for messages.
fn name(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "uncompressed",
        Compression::Gzip => "gz",
        Compression::Xz => "xz",
        Compression::Bzip2 => "bz2",
        Compression::Zstd => "zst",
    }
}

/// The input's own [`Error`] if `error` carries one, else a decompression error.
fn unwrap_error(error: io::Error, compression: &'static str) -> Error {
    if error.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        let inner = error.into_inner().expect("checked above");
        return *inner.downcast::<Error>().expect("checked above");
    }
    Error::Decompress {
        compression,
        source: error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(stream: BoxStream<'static, Result<Bytes, Error>>) -> Result<Vec<u8>, Error> {
        let chunks: Vec<Bytes> = stream.try_collect().await?;
        Ok(chunks.concat())
    }

    fn chunks(data: Vec<u8>) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
        let chunks: Vec<_> = data
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(chunks)
    }

    #[tokio::test]
    async fn passes_through_when_uncompressed() {
        let data = b"plain bytes".to_vec();
        for compression in [None, Some(Compression::None)] {
            let out = collect(decompress(chunks(data.clone()), compression)).await;
            assert_eq!(out.unwrap(), data);
        }
    }

    #[tokio::test]
    async fn garbage_is_a_decompress_error() {
        let stream = decompress(chunks(b"not gzip at all".to_vec()), Some(Compression::Gzip));
        let error = collect(stream).await.unwrap_err();
        assert!(
            matches!(
                error,
                Error::Decompress {
                    compression: "gz",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn input_errors_come_out_unchanged() {
        let input = futures::stream::iter([
            Ok(Bytes::from_static(b"\x1f\x8b")),
            Err(Error::Status {
                url: "http://x/a.gz".into(),
                status: 503,
            }),
        ]);
        let error = collect(decompress(input, Some(Compression::Gzip)))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Status { status: 503, .. }),
            "{error:?}"
        );
    }
}
