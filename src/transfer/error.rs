//! The one error type of `transfer`: fetching, resuming, decompressing and resolving checksums.
//!
//! Every variant names the URL it is about, always through [`redact`], because catalog URLs may
//! carry credentials (`https://user:token@mirror/…`) and these messages end up in CI logs and
//! reports. `reqwest` errors are stored without their URL ([`reqwest::Error::without_url`]) for
//! the same reason, and because the variant already says which URL failed. Whether an error is
//! worth retrying is not decided here but in [`super::retry::classify`].

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
    /// A checksum file is larger than any real one: probably the wrong URL.
    #[error("{url} is larger than {limit} bytes; not a checksum file")]
    TooLarge { url: String, limit: u64 },
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

/// `url` fit for messages: user name and password removed. Input without an authority part
/// (unparsable, or `user:secret@host` read as scheme `user:`) is returned as is unless it contains
/// `@`, which could hide credentials, so it is then replaced entirely.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.cannot_be_a_base() && url.contains('@') => {
            "<unparsable URL>".to_owned()
        }
        Ok(mut parsed) => {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
            }
            parsed.to_string()
        }
        Err(_) if url.contains('@') => "<unparsable URL>".to_owned(),
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_strips_userinfo() {
        let cases = [
            ("https://u:secret@host/a.img", "https://host/a.img"),
            ("https://token@host/a.img", "https://host/a.img"),
            ("http://host:8080/a?x=1", "http://host:8080/a?x=1"),
            ("file:///tmp/a.img", "file:///tmp/a.img"),
            ("not a url", "not a url"),
            ("u:secret@host", "<unparsable URL>"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn messages_never_show_the_password() {
        let error = Error::Status {
            url: redact("https://u:hunter2@host/a.img"),
            status: 404,
        };
        assert_eq!(error.to_string(), "GET https://host/a.img: HTTP 404");
    }
}
