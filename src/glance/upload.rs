//! Streamed image data: `PUT /v2/images/{id}/stage` (glance-direct) and
//! `PUT /v2/images/{id}/file` (classic upload), from any
//! `Stream<Item = Result<Bytes, E>>` of unknown length, sent chunked with
//! `Content-Type: application/octet-stream` and never buffered.
//!
//! Why reqwest directly and not the SDK: the SDK's HTTP client has a total
//! request timeout (30 s by default, meant for JSON calls) that would cut any
//! multi-GB body; its stage endpoint sends a JSON body; and its streaming path
//! wants an `AsyncRead`. We use the SDK's token and catalog endpoint with our
//! own client that has a connect timeout and no total timeout.
//!
//! Timeout policy: an idle watchdog aborts the request when no byte of the
//! body moved for `transfer_idle_timeout` (a stalled upstream or a Glance that
//! stopped reading), and the same limit bounds the wait for Glance's answer
//! after the last byte. reqwest's own `read_timeout` does not fit: it runs
//! from the start of the request until the response headers, i.e. across the
//! whole upload.
//!
//! The body is not replayable, so there is no retry here: a failed upload
//! leaves the image poisoned (Glance keeps partial data), and the caller
//! deletes and recreates it. That is also why the token is refreshed *before*
//! the request starts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use tokio::time::Instant;

use super::error::BoxError;
use super::images::check_path_segment;
use super::{Error, GlanceClient, capped_body, http_error, message_of};

impl GlanceClient {
    /// `PUT /v2/images/{id}/stage`: hands the data to Glance's staging area;
    /// the image goes to `uploading`. Follow with
    /// [`GlanceClient::import`] using `ImportMethod::GlanceDirect`, after the
    /// caller verified the upstream digest. Returns the bytes sent.
    pub async fn stage<S, E>(&self, id: &str, body: S) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.put_stream("stage image data", id, "stage", body).await
    }

    /// `PUT /v2/images/{id}/file`: uploads the data and activates the image
    /// when the body ends. To refuse unverified data, make the stream fail
    /// before its last chunk: the request is then aborted and Glance never
    /// sees a complete body. Returns the bytes sent.
    pub async fn upload<S, E>(&self, id: &str, body: S) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.put_stream("upload image data", id, "file", body).await
    }

    async fn put_stream<S, E>(
        &self,
        operation: &'static str,
        id: &str,
        target: &str,
        body: S,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let (url, mut headers) = self.data_request(id, target).await?;
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));

        let progress = Arc::new(Progress::new());
        let failure: Arc<Mutex<Option<BoxError>>> = Arc::default();
        let body = watched(body, Arc::clone(&progress), Arc::clone(&failure));

        let request = self
            .transfer
            .put(url)
            .headers(headers)
            .body(reqwest::Body::wrap_stream(body));
        self.count_call();
        let exchange = async {
            let rsp = request.send().await?;
            let status = rsp.status();
            let text = capped_text(rsp).await?;
            Ok::<_, reqwest::Error>((status, text))
        };
        let idle = self.transfer_idle_timeout;
        let outcome = tokio::select! {
            outcome = exchange => outcome,
            () = progress.stalled(idle) => {
                return Err(Error::Stalled {
                    operation,
                    image_id: id.to_owned(),
                    idle,
                    bytes: progress.bytes(),
                });
            }
        };
        // A failure of the caller's stream explains any transport error.
        if let Some(source) = failure.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(Error::Source {
                operation,
                image_id: id.to_owned(),
                bytes: progress.bytes(),
                source,
            });
        }
        let (status, text) = outcome.map_err(|source| Error::Transport {
            operation,
            image_id: Some(id.to_owned()),
            source,
        })?;
        if status.is_success() {
            return Ok(progress.bytes());
        }
        let message = self.scrub(&message_of(&text));
        Err(http_error(
            operation,
            Some(id.to_owned()),
            status.as_u16(),
            message,
        ))
    }
}

impl GlanceClient {
    /// `GET /v2/images/{id}/file`: the stored bytes as a stream, to verify an image Glance
    /// fetched itself (web-download). Each chunk must arrive within the transfer idle timeout.
    pub async fn download(
        &self,
        id: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        const OPERATION: &str = "download image data";
        let (url, mut headers) = self.data_request(id, "file").await?;
        headers.insert(ACCEPT, HeaderValue::from_static("application/octet-stream"));
        self.count_call();
        let transport = |source| Error::Transport {
            operation: OPERATION,
            image_id: Some(id.to_owned()),
            source,
        };
        let idle = self.transfer_idle_timeout;
        let rsp = tokio::time::timeout(idle, self.transfer.get(url).headers(headers).send())
            .await
            .map_err(|_| Error::Stalled {
                operation: OPERATION,
                image_id: id.to_owned(),
                idle,
                bytes: 0,
            })?
            .map_err(transport)?;
        let status = rsp.status();
        if !status.is_success() {
            let text = capped_text(rsp).await.unwrap_or_default();
            let message = self.scrub(&message_of(&text));
            return Err(http_error(
                OPERATION,
                Some(id.to_owned()),
                status.as_u16(),
                message,
            ));
        }
        let image_id = id.to_owned();
        let body = rsp.bytes_stream();
        Ok(
            futures::stream::unfold((body, 0u64, false), move |(mut body, bytes, done)| {
                let image_id = image_id.clone();
                async move {
                    if done {
                        return None;
                    }
                    match tokio::time::timeout(idle, body.next()).await {
                        Ok(None) => None,
                        Ok(Some(Ok(chunk))) => {
                            let n = bytes + chunk.len() as u64;
                            Some((Ok(chunk), (body, n, false)))
                        }
                        Ok(Some(Err(source))) => Some((
                            Err(Error::Transport {
                                operation: OPERATION,
                                image_id: Some(image_id),
                                source: source.without_url(),
                            }),
                            (body, bytes, true),
                        )),
                        Err(_) => Some((
                            Err(Error::Stalled {
                                operation: OPERATION,
                                image_id,
                                idle,
                                bytes,
                            }),
                            (body, bytes, true),
                        )),
                    }
                }
            })
            .boxed(),
        )
    }
}

impl GlanceClient {
    /// The URL of `images/{id}/{target}` and the auth headers, with a token fresh enough to
    /// outlast the start of a long transfer.
    async fn data_request(&self, id: &str, target: &str) -> Result<(url::Url, HeaderMap), Error> {
        check_path_segment("image id", id)?;
        self.ensure_fresh_token().await?;
        let url = self
            .image_endpoint()?
            .join(&format!("images/{id}/{target}"))
            .map_err(|e| Error::InvalidRequest {
                message: format!("image data URL: {e}"),
            })?;
        Ok((url, self.auth_headers()?))
    }
}

/// Bytes sent and the time of the last progress, shared between the body
/// stream and the idle watchdog.
struct Progress {
    start: Instant,
    bytes: AtomicU64,
    /// Milliseconds after `start` of the last chunk handed to the connection.
    last_ms: AtomicU64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            start: Instant::now(),
            bytes: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn advance(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Resolves once nothing moved for `idle`.
    async fn stalled(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// The caller's stream, counting progress. An error of the caller's stream is
/// kept for the caller (reqwest would only report "body error") and replaced
/// by a plain I/O error that aborts the request.
fn watched<S, E>(
    body: S,
    progress: Arc<Progress>,
    failure: Arc<Mutex<Option<BoxError>>>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    body.map(move |item| match item {
        Ok(chunk) => {
            progress.advance(chunk.len());
            Ok(chunk)
        }
        Err(e) => {
            if let Ok(mut slot) = failure.lock() {
                *slot = Some(e.into());
            }
            Err(std::io::Error::other("image data stream failed"))
        }
    })
}

/// Glance's answers to our streamed requests are small JSON documents or error pages: read
/// at most this much of one (a misbehaving endpoint must not fill memory).
const MAX_ANSWER: usize = 64 * 1024;

/// The answer's body as text; an answer past [`MAX_ANSWER`] is not read on.
async fn capped_text(rsp: reqwest::Response) -> Result<String, reqwest::Error> {
    Ok(match capped_body(rsp, MAX_ANSWER).await? {
        Some(body) => String::from_utf8_lossy(&body).into_owned(),
        None => format!("(an answer of more than {} KiB)", MAX_ANSWER >> 10),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watchdog_waits_idle_time_after_last_progress() {
        let progress = Progress::new();
        tokio::time::sleep(Duration::from_millis(50)).await;
        progress.advance(1);
        let since_progress = Instant::now();
        progress.stalled(Duration::from_millis(200)).await;
        // Progress time is kept in whole milliseconds.
        assert!(since_progress.elapsed() >= Duration::from_millis(195));
        assert_eq!(progress.bytes(), 1);
    }

    #[tokio::test]
    async fn stream_errors_are_kept_for_the_caller() {
        let items: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("digest mismatch")),
        ];
        let progress = Arc::new(Progress::new());
        let failure: Arc<Mutex<Option<BoxError>>> = Arc::default();
        let out: Vec<_> = watched(
            futures::stream::iter(items),
            Arc::clone(&progress),
            Arc::clone(&failure),
        )
        .collect()
        .await;
        assert!(out[0].is_ok() && out[1].is_err());
        assert_eq!(progress.bytes(), 3);
        let kept = failure.lock().unwrap().take().unwrap();
        assert_eq!(kept.to_string(), "digest mismatch");
    }

    #[tokio::test]
    async fn answers_are_read_up_to_the_cap() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
            let head = "HTTP/1.1 500 Oops\r\ncontent-length: 10485760\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..10 {
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let rsp = reqwest::get(url).await.unwrap();
        assert_eq!(
            capped_text(rsp).await.unwrap(),
            "(an answer of more than 64 KiB)"
        );
    }
}
