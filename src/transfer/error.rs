//! The one error type of `transfer`: fetching, resuming, decompressing and resolving checksums.
//!
//! Every variant names the URL it is about, always through [`crate::redact::url`], because
//! catalog URLs may carry credentials (`https://user:token@mirror/…`, signed queries) and these
//! messages end up in CI logs and reports. `reqwest` errors are stored without their URL
//! ([`reqwest::Error::without_url`]) for the same reason, and because the variant already says
//! which URL failed. Whether an error is worth retrying is not decided here but in
//! [`super::retry::classify`].

use std::path::PathBuf;

use super::sniff::Mismatch;
use crate::catalog::checksums::{Algorithm, ChecksumFileError};

/// Why moving bytes (or reading a checksum) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be set up (TLS roots, …).
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The URL does not parse, or its scheme is not `http`, `https` or `file`.
    #[error("cannot fetch {url}: {reason}")]
    Url { url: String, reason: &'static str },
    /// No usable answer: connection refused, DNS, TLS, timeout before the headers, redirect loop.
    #[error("GET {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a status other than the expected 200 (or 206 on resume).
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// The body broke off (connection reset, idle timeout) after `received` bytes.
    #[error("GET {url}: the body broke off after {received} bytes")]
    Body {
        url: String,
        received: u64,
        #[source]
        source: reqwest::Error,
    },
    /// The body ended with a different length than `Content-Length` announced. Fewer bytes is a
    /// truncation (resumable); more is a broken server.
    #[error("GET {url}: received {received} bytes, expected {expected}")]
    Length {
        url: String,
        expected: u64,
        received: u64,
    },
    /// A resume got the whole file (200) with a new validator: the file changed upstream, and
    /// the bytes already hashed cannot be taken back.
    #[error("{url} changed upstream while it was downloaded (resuming at byte {offset})")]
    Changed { url: String, offset: u64 },
    /// A resume was impossible or answered wrongly (no validator, bad `Content-Range`, range
    /// ignored).
    #[error("cannot resume {url} at byte {offset}: {reason}")]
    Resume {
        url: String,
        offset: u64,
        reason: String,
    },
    /// Transient failures went on for every allowed attempt; `source` is the last one.
    #[error("gave up on {url} after {attempts} attempts")]
    Exhausted {
        url: String,
        attempts: u32,
        #[source]
        source: Box<Error>,
    },
    /// A `file://` source could not be read.
    #[error("cannot read {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The compressed stream is corrupt or not in the declared format.
    #[error("cannot decompress the {compression} stream")]
    Decompress {
        compression: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A small file (checksum file, index page, pointer file) is larger than any real one:
    /// probably the wrong URL, or a server sending without end. Reading stops at the limit.
    #[error("{url} is larger than {limit} bytes, too large for {what}")]
    TooLarge {
        url: String,
        limit: u64,
        what: &'static str,
    },
    /// Reading a small file took longer than allowed as a whole (retries included).
    #[error("reading {url} took longer than {seconds} s")]
    Deadline { url: String, seconds: f64 },
    /// The CA bundle for upstream downloads (`--ca-bundle`, `SSL_CERT_FILE`) is unusable.
    #[error("cannot use the CA bundle {}: {reason}", path.display())]
    CaBundle { path: PathBuf, reason: String },
    /// A checksum file holds nothing usable.
    #[error("cannot read checksums from {url}")]
    ChecksumFile {
        url: String,
        #[source]
        source: ChecksumFileError,
    },
    /// A checksum file has no entry for the image (`wanted`), or (`None`) more than one digest
    /// where exactly one was expected.
    #[error("{}", match wanted {
        Some(name) => format!("{url} lists no checksum for `{name}`"),
        None => format!("{url} holds more than one digest; expected exactly one"),
    })]
    ChecksumEntry { url: String, wanted: Option<String> },
    /// The bytes do not have the digest the catalog (or its sums file) names.
    #[error("{algorithm} mismatch after {bytes} bytes: expected {expected}, got {actual}")]
    Digest {
        algorithm: Algorithm,
        expected: String,
        actual: String,
        bytes: u64,
    },
    /// The bytes are not in the declared disk format, or are an unsafe qcow2.
    #[error("format check failed")]
    Format(#[source] Mismatch),
    /// Reading an image back from Glance (to verify a web-download) failed.
    #[error("reading the image back from Glance failed")]
    ReadBack(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Every target of a fanned-out transfer failed; nobody is left to send bytes to.
    #[error("every upload of this image failed; download stopped")]
    NoTarget,
    /// The catalog gives no checksum for this image.
    #[error("no checksum is configured for this image")]
    NoChecksum,
}

impl Error {
    /// The file does not exist (404/410): for `update`'s probes, "not published (yet)".
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Status {
                status: 404 | 410,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_show_the_password() {
        let error = Error::Status {
            url: crate::redact::url("https://u:hunter2@host/a.img"),
            status: 404,
        };
        assert_eq!(error.to_string(), "GET https://host/a.img: HTTP 404");
    }
}
