//! Opening an upstream image as one byte stream that survives dropped connections.
//!
//! Images are several GiB and are hashed while they flow, so a download that breaks at 80 % must
//! not start over: the hash state cannot be rewound, and the bytes already passed on (to Glance)
//! cannot be taken back. [`Fetcher::open`] therefore hides resumption inside the stream: when the
//! body breaks off or ends short of `Content-Length`, it asks again with `Range: bytes=N-` and
//! `If-Range: <validator>` and continues where it stopped. Anything but a well-formed 206 for
//! exactly byte `N` (a 200 means the file changed, or the server ignores ranges) ends the stream
//! with an error instead of silently splicing two different files.
//!
//! Other rules, and why:
//! - `Accept-Encoding: identity`: the bytes hashed must be the server's bytes, which is what the
//!   upstream checksums cover (xh forces the same for downloads).
//! - Resumes go to the URL after redirects, so a mirror redirector cannot send the second half
//!   to another mirror with another ETag.
//! - A weak ETag must not be used in `If-Range` (RFC 9110 13.1.5): `Last-Modified` is used then,
//!   and without any validator a download cannot be resumed safely, so it fails.
//! - Connect errors, 5xx and breaks are retried with the backoff of [`super::retry`]; the count of
//!   attempts restarts whenever bytes arrive, so a long download on a flaky line still finishes,
//!   while a server that never delivers gives up after `max_attempts`.
//! - Timeouts: connect, and an idle timeout per read (a whole-request timeout would kill large
//!   downloads on slow lines). TLS certificates are always verified, against the system's
//!   roots plus an optional private CA bundle (operators mirror upstreams on internal hosts).
//! - `file://` URLs are read from disk only below a directory the operator named
//!   ([`FetchOptions::allow_file_urls`]): a catalog from a pull request must not be able to read
//!   (and hash, or upload into a public image) any file of the machine running it.
//! - Small files (checksum files, index pages) are read through [`Fetcher::bytes`], which stops
//!   at a size limit: memory stays bounded against a server that never stops sending.
//!
//! This is the only HTTP client for hosts outside OpenStack: `apply` and `update` share it, so
//! retries, redaction and limits are the same everywhere.

mod local;
mod small;

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use reqwest::header::{self, HeaderMap};
use reqwest::{StatusCode, Url};

use super::retry::{Class, RetryPolicy, classify};
use super::{Error, redact};
pub use local::ca_bundle;
use local::open_file;

/// Timeouts, retries, trust and local access of a [`Fetcher`].
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Bound on establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Bound on waiting for the next bytes (headers or body); resets after every read.
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    /// Bound on reading one small file ([`Fetcher::bytes`], [`Fetcher::modified`]) as a whole,
    /// retries included: a server dripping bytes just fast enough to beat `read_timeout` must
    /// not hold a run forever.
    pub small_file_timeout: Duration,
    /// PEM file of extra CA certificates to trust besides the system's (`--ca-bundle`,
    /// `SSL_CERT_FILE`).
    pub ca_bundle: Option<PathBuf>,
    /// The directory `file:` URLs may be read from (`--allow-file-urls`); `None` refuses them.
    pub allow_file_urls: Option<PathBuf>,
}

impl Default for FetchOptions {
    fn default() -> FetchOptions {
        FetchOptions {
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            small_file_timeout: Duration::from_secs(300),
            ca_bundle: None,
            allow_file_urls: None,
        }
    }
}

/// Opens upstream URLs as resumable byte streams; cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    retry: RetryPolicy,
    small_file_timeout: Duration,
    /// [`FetchOptions::allow_file_urls`], canonicalized.
    file_root: Option<PathBuf>,
}

impl Fetcher {
    pub fn new(options: &FetchOptions) -> Result<Fetcher, Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .redirect(reqwest::redirect::Policy::limited(10))
            .user_agent(concat!("image-manager/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.ca_bundle {
            builder = builder.tls_certs_merge(ca_bundle(path)?);
        }
        let client = builder.build().map_err(Error::Client)?;
        let file_root = match &options.allow_file_urls {
            Some(dir) => Some(dir.canonicalize().map_err(|source| Error::File {
                path: dir.clone(),
                source,
            })?),
            None => None,
        };
        let retry = options.retry.clone();
        Ok(Fetcher {
            client,
            retry,
            small_file_timeout: options.small_file_timeout,
            file_root,
        })
    }

    /// Opens `url` (`http`, `https` or `file`) and returns its bytes as a stream.
    ///
    /// The first response is awaited (with retries) before this returns, so a missing file or a
    /// refused connection is an error here, not in the stream. Errors in the stream are final:
    /// the stream ends after the first one.
    pub async fn open(&self, url: &str) -> Result<Download, Error> {
        let shown = redact(url);
        let invalid = |reason| Error::Url {
            url: shown.clone(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|_| invalid("not a valid URL"))?;
        match parsed.scheme() {
            "http" | "https" => self.open_http(parsed, shown).await,
            "file" => open_file(self.local_path(&parsed, &shown)?).await,
            _ => Err(invalid("only http, https and file URLs are supported")),
        }
    }

    async fn open_http(&self, url: Url, shown: String) -> Result<Download, Error> {
        let mut http = Http {
            client: self.client.clone(),
            policy: self.retry.clone(),
            url,
            shown,
            validator: None,
            last_modified: None,
            length: None,
            received: 0,
            failures: 0,
            body: None,
        };
        if let Err(error) = http.request().await {
            http.recover(error).await?;
        }
        let (length, last_modified) = (http.length, http.last_modified);
        let inner = futures::stream::unfold(Some(http), |state| async move {
            let mut http = state?;
            match http.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(http))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        });
        Ok(Download {
            length,
            last_modified,
            inner: inner.boxed(),
        })
    }
}

/// The bytes of one upstream file, resumed transparently after breaks (see the module docs).
pub struct Download {
    length: Option<u64>,
    last_modified: Option<DateTime<Utc>>,
    inner: BoxStream<'static, Result<Bytes, Error>>,
}

impl Download {
    /// Total length in bytes, when the server announced it (for progress and size checks).
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// When the upstream last changed the file: its `Last-Modified` header (a `file:` URL's
    /// modification time), if it sent a valid one.
    pub fn last_modified(&self) -> Option<DateTime<Utc>> {
        self.last_modified
    }
}

impl Stream for Download {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// The state of one HTTP download across its requests.
struct Http {
    client: reqwest::Client,
    policy: RetryPolicy,
    /// The requested URL; after the first answer, the URL redirects led to.
    url: Url,
    /// `url` for messages.
    shown: String,
    /// Strong ETag or Last-Modified of the first answer, for `If-Range`.
    validator: Option<String>,
    /// `Last-Modified` of the first answer.
    last_modified: Option<DateTime<Utc>>,
    /// Total length, from `Content-Length` of the first answer (or `Content-Range` later).
    length: Option<u64>,
    received: u64,
    /// Consecutive failed attempts since bytes last arrived.
    failures: u32,
    body: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
}

impl Http {
    /// One request: the whole file when nothing was received yet, else the rest of it.
    async fn request(&mut self) -> Result<(), Error> {
        let offset = self.received;
        let mut request = self
            .client
            .get(self.url.clone())
            .header(header::ACCEPT_ENCODING, "identity");
        if offset > 0 {
            let Some(validator) = &self.validator else {
                let reason = "the server sent neither a strong ETag nor Last-Modified".into();
                return Err(self.resume_error(reason));
            };
            request = request
                .header(header::RANGE, format!("bytes={offset}-"))
                .header(header::IF_RANGE, validator);
        }
        let response = request.send().await.map_err(|source| Error::Request {
            url: self.shown.clone(),
            source: source.without_url(),
        })?;
        let status = response.status();
        if offset == 0 {
            if status != StatusCode::OK {
                return Err(self.status_error(status));
            }
            self.url = response.url().clone();
            self.validator = validator(response.headers());
            self.last_modified = last_modified(response.headers());
            self.length = response.content_length();
        } else {
            match status {
                StatusCode::PARTIAL_CONTENT => {
                    let range = response.headers().get(header::CONTENT_RANGE);
                    let range = range.and_then(|v| v.to_str().ok()).unwrap_or("");
                    let total = check_content_range(range, offset, self.length)
                        .map_err(|reason| self.resume_error(reason))?;
                    self.length = self.length.or(total);
                }
                StatusCode::OK if validator(response.headers()) == self.validator => {
                    return Err(self.resume_error("the server ignored the range (200)".into()));
                }
                StatusCode::OK => {
                    return Err(Error::Changed {
                        url: self.shown.clone(),
                        offset,
                    });
                }
                _ => return Err(self.status_error(status)),
            }
        }
        self.body = Some(response.bytes_stream().boxed());
        Ok(())
    }

    /// The next chunk, resuming as often as the retry policy allows; `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            let error = match body.next().await {
                Some(Ok(chunk)) => {
                    self.received += chunk.len() as u64;
                    if let Some(expected) = self.length
                        && self.received > expected
                    {
                        return Err(self.length_error(expected));
                    }
                    if !chunk.is_empty() {
                        self.failures = 0;
                    }
                    return Ok(Some(chunk));
                }
                Some(Err(source)) => Error::Body {
                    url: self.shown.clone(),
                    received: self.received,
                    source: source.without_url(),
                },
                None => match self.length {
                    Some(expected) if self.received < expected => self.length_error(expected),
                    _ => {
                        self.body = None;
                        return Ok(None);
                    }
                },
            };
            self.body = None;
            self.recover(error).await?;
        }
    }

    /// Retries after `error` until a request succeeds, a fatal error occurs, or the attempts run
    /// out.
    async fn recover(&mut self, mut error: Error) -> Result<(), Error> {
        loop {
            if classify(&error) == Class::Fatal {
                return Err(error);
            }
            self.failures += 1;
            if self.failures >= self.policy.max_attempts {
                return Err(Error::Exhausted {
                    url: self.shown.clone(),
                    attempts: self.failures,
                    source: Box::new(error),
                });
            }
            tracing::debug!(
                url = %self.shown,
                offset = self.received,
                failures = self.failures,
                "retrying: {error}"
            );
            self.policy.wait(self.failures).await;
            match self.request().await {
                Ok(()) => return Ok(()),
                Err(next) => error = next,
            }
        }
    }

    fn status_error(&self, status: StatusCode) -> Error {
        Error::Status {
            url: self.shown.clone(),
            status: status.as_u16(),
        }
    }

    fn resume_error(&self, reason: String) -> Error {
        Error::Resume {
            url: self.shown.clone(),
            offset: self.received,
            reason,
        }
    }

    fn length_error(&self, expected: u64) -> Error {
        Error::Length {
            url: self.shown.clone(),
            expected,
            received: self.received,
        }
    }
}

/// The validator for `If-Range`: a strong ETag, else `Last-Modified`.
fn validator(headers: &HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let strong = text(header::ETAG).filter(|etag| !etag.starts_with("W/"));
    strong.or(text(header::LAST_MODIFIED)).map(str::to_owned)
}

/// The `Last-Modified` header as a time (an HTTP date, RFC 9110 5.6.7).
fn last_modified(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let text = headers.get(header::LAST_MODIFIED)?.to_str().ok()?;
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Checks the `Content-Range` of a 206 answering `Range: bytes=offset-`; returns the total length
/// it states (`None` for `*`).
///
/// Strict on purpose: the range must start exactly at `offset` and run to the last byte, and the
/// total must agree with the length already known; anything else would splice wrong bytes into
/// a stream whose hash cannot be rewound.
pub fn check_content_range(
    value: &str,
    offset: u64,
    known: Option<u64>,
) -> Result<Option<u64>, String> {
    let malformed = || format!("malformed Content-Range `{value}`");
    let spec = value.trim().strip_prefix("bytes ").ok_or_else(malformed)?;
    let (range, total) = spec.split_once('/').ok_or_else(malformed)?;
    let (first, last) = range.split_once('-').ok_or_else(malformed)?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| malformed());
    let (first, last) = (number(first)?, number(last)?);
    let total = match total.trim() {
        "*" => None,
        total => Some(number(total)?),
    };
    if first != offset {
        return Err(format!(
            "Content-Range `{value}` starts at byte {first}, not {offset}"
        ));
    }
    if last < first {
        return Err(malformed());
    }
    match (total, known) {
        (Some(total), Some(known)) if total != known => Err(format!(
            "Content-Range `{value}` gives a total of {total} bytes, the file had {known}"
        )),
        (Some(total), _) if last + 1 != total => Err(format!(
            "Content-Range `{value}` does not run to the end of the file"
        )),
        _ => Ok(total.or(known)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_accepts_exactly_the_rest() {
        assert_eq!(
            check_content_range("bytes 100-999/1000", 100, Some(1000)),
            Ok(Some(1000))
        );
        assert_eq!(
            check_content_range("bytes 100-999/1000", 100, None),
            Ok(Some(1000))
        );
        assert_eq!(
            check_content_range("bytes 5-9/*", 5, Some(10)),
            Ok(Some(10))
        );
        assert_eq!(check_content_range("bytes 5-9/*", 5, None), Ok(None));
    }

    #[test]
    fn content_range_rejects_anything_else() {
        let bad = [
            ("bytes 0-999/1000", Some(1000), "starts at byte 0, not 100"),
            ("bytes 101-999/1000", Some(1000), "starts at byte 101"),
            ("bytes 100-499/1000", Some(1000), "does not run to the end"),
            ("bytes 100-1999/2000", Some(1000), "total of 2000 bytes"),
            ("bytes 100-99/1000", None, "malformed"),
            ("items 100-999/1000", None, "malformed"),
            ("bytes 100-999", None, "malformed"),
            ("bytes x-999/1000", None, "malformed"),
            ("bytes */1000", None, "malformed"),
            ("", None, "malformed"),
        ];
        for (value, known, want) in bad {
            let error = check_content_range(value, 100, known).expect_err(value);
            assert!(error.contains(want), "{value}: {error}");
        }
    }

    #[test]
    fn validator_prefers_a_strong_etag() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LAST_MODIFIED,
            "Mon, 01 Jan 2024 00:00:01 GMT".parse().unwrap(),
        );
        let modified = Some("Mon, 01 Jan 2024 00:00:01 GMT".to_owned());
        assert_eq!(validator(&headers), modified);
        headers.insert(header::ETAG, "W/\"weak\"".parse().unwrap());
        assert_eq!(validator(&headers), modified);
        headers.insert(header::ETAG, "\"strong\"".parse().unwrap());
        assert_eq!(validator(&headers), Some("\"strong\"".to_owned()));
        assert_eq!(validator(&HeaderMap::new()), None);
    }

    #[test]
    fn last_modified_reads_http_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(last_modified(&headers), None);
        headers.insert(
            header::LAST_MODIFIED,
            "Tue, 08 Jul 2025 13:04:05 GMT".parse().unwrap(),
        );
        let time = last_modified(&headers).unwrap();
        assert_eq!(time.to_rfc3339(), "2025-07-08T13:04:05+00:00");
        headers.insert(header::LAST_MODIFIED, "yesterday".parse().unwrap());
        assert_eq!(last_modified(&headers), None);
    }

    #[tokio::test]
    async fn unsupported_schemes_and_bad_urls_are_refused_without_secrets() {
        let fetcher = Fetcher::new(&FetchOptions::default()).unwrap();
        let error = fetcher.open("ftp://u:pw@host/a.img").await.err().unwrap();
        assert!(matches!(error, Error::Url { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "cannot fetch ftp://host/a.img: only http, https and file URLs are supported"
        );
        let error = fetcher.open("no url").await.err().unwrap();
        assert!(matches!(error, Error::Url { .. }), "{error:?}");
    }
}
