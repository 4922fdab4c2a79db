//! A fault-injection reverse proxy in front of the sandbox Glance, reached through the
//! Keystone catalog like a production load balancer.
//!
//! Why: the library's retry and recovery code (`src/glance/retry.rs`, create/patch/import
//! re-reads, recreated uploads) exists for what a load balancer does in front of a
//! restarting Glance — 503 pages that never reached Glance, connections closed after Glance
//! acted, slow answers. [`FaultProxy`] produces exactly those, on chosen request numbers,
//! against the real Glance, so tests see Glance's real state after each fault.
//! [`ProxiedCloud`] (in `catalog.rs`) puts the proxy into the catalog under a region of its
//! own, so the client finds it the way production does (catalog → version discovery).
//!
//! The proxy speaks HTTP/1.1 (hyper server connections) and forwards with reqwest, streaming
//! bodies both ways: uploads are multi-MiB chunked bodies and must not be buffered. Only the
//! small version documents are read whole, to rewrite Glance's absolute URLs (see
//! `forward.rs`).

mod catalog;
mod forward;
mod selftest;

pub(crate) use catalog::{ProxiedCloud, admin_token, glance_url};

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::task::{JoinHandle, JoinSet};
use url::Url;

use forward::{answer, forward, rewrites_body};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = BoxBody<Bytes, BoxError>;

/// Which requests the proxy spoils. Requests are numbered from 1 in arrival order, over one
/// counter for the whole proxy (every API call counts, version discovery included).
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    /// Every N-th request is answered 503 by the proxy itself: Glance never sees it, like a
    /// load balancer with no healthy backend.
    pub(crate) fail_every: Option<u32>,
    /// Every N-th request reaches Glance, its whole answer is awaited (Glance acted), then
    /// the client connection is closed without a response byte: the case where a client
    /// cannot know whether its write happened. `fail_every` wins on the same request.
    pub(crate) drop_every: Option<u32>,
    /// Every answer (also 503s and drops) is held back this long after it is known, so
    /// Glance has acted before the client hears anything.
    pub(crate) delay: Option<Duration>,
    /// Requests 1..=skip_first are never spoilt, so a test can connect and list cleanly.
    pub(crate) skip_first: u32,
    /// Injected 503 pages quote the request's headers (token included), as some debugging
    /// error pages do: whatever the client prints of such a page must not show the token.
    pub(crate) echo_headers: bool,
    /// Every request is answered `307 Temporary Redirect` to this base URL (plus the path):
    /// a hijacked or misconfigured endpoint sending the client elsewhere.
    pub(crate) redirect_to: Option<String>,
}

/// What happened to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Glance's answer was passed on with this status.
    Forwarded(u16),
    /// The proxy answered 503 without asking Glance.
    Injected503,
    /// Glance answered with this status; the client connection was closed instead.
    Dropped(u16),
    /// Glance could not be reached or broke off; the client got a 502.
    UpstreamFailed(String),
}

/// One line of the proxy's log.
#[derive(Clone, Debug)]
pub(crate) struct LogEntry {
    pub(crate) n: u64,
    pub(crate) method: String,
    /// Path and query, as the client sent them.
    pub(crate) path: String,
    pub(crate) outcome: Outcome,
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match &self.outcome {
            Outcome::Forwarded(status) => format!("forwarded {status}"),
            Outcome::Injected503 => "injected 503".to_owned(),
            Outcome::Dropped(status) => format!("dropped (Glance said {status})"),
            Outcome::UpstreamFailed(e) => format!("upstream failed: {e}"),
        };
        write!(f, "#{} {} {} -> {outcome}", self.n, self.method, self.path)
    }
}

/// State shared by the accept loop, every connection and the test.
struct Shared {
    upstream: Url,
    /// `http://127.0.0.1:<port>`, what Glance's own base URL is replaced with.
    public_base: String,
    faults: Mutex<Faults>,
    requests: AtomicU64,
    injected_503: AtomicU64,
    dropped: AtomicU64,
    log: Mutex<Vec<LogEntry>>,
    /// The last `X-Auth-Token` a request carried.
    token: Mutex<String>,
    http: reqwest::Client,
}

/// The running proxy. Dropping it stops the accept loop and every open connection.
pub(crate) struct FaultProxy {
    shared: Arc<Shared>,
    url: Url,
    task: Option<JoinHandle<()>>,
}

/// What the proxy decided for one request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Fail,
    Drop,
}

/// Request bodies drained before an injected 503 are read up to this much; past it the
/// connection is closed after the answer (hyper does that for an unread body).
const DRAIN_LIMIT: u64 = 256 * 1024 * 1024;

impl FaultProxy {
    /// Starts the proxy on 127.0.0.1 (an ephemeral port) in front of `upstream`. Must be
    /// called inside a Tokio runtime: the proxy runs as tasks of it.
    pub(crate) fn start(upstream: Url, faults: Faults) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("local addr").port();
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).expect("proxy url");
        let http = reqwest::Client::builder()
            // Only the sandbox on 127.0.0.1: an HTTP_PROXY from the environment must not apply.
            .no_proxy()
            // 3xx (Glance's 300 for `/`, 302 for `/v2`) belong to the client, unchanged.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("forwarding client");
        let shared = Arc::new(Shared {
            upstream,
            public_base: format!("http://127.0.0.1:{port}"),
            faults: Mutex::new(faults),
            requests: AtomicU64::new(0),
            injected_503: AtomicU64::new(0),
            token: Mutex::default(),
            dropped: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            http,
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        FaultProxy {
            shared,
            url,
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port>/`.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// Replaces the faults; requests already in flight keep what was decided for them.
    pub(crate) fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    /// Requests received so far (the number the next one gets, minus one).
    pub(crate) fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The last `X-Auth-Token` a request carried (empty before any).
    pub(crate) fn last_token(&self) -> String {
        self.shared.token.lock().unwrap().clone()
    }

    pub(crate) fn injected_503(&self) -> u64 {
        self.shared.injected_503.load(Ordering::SeqCst)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Finished requests, in the order they finished (sort by `n` for arrival order).
    pub(crate) fn log(&self) -> Vec<LogEntry> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The log, one request a line in arrival order, for assertion messages.
    pub(crate) fn log_text(&self) -> String {
        let mut log = self.log();
        log.sort_by_key(|e| e.n);
        log.iter().map(|e| format!("{e}\n")).collect()
    }

    /// Stops accepting and closes every connection; returns once the port is closed.
    pub(crate) async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts connections until aborted. Connections live in a `JoinSet` owned by this task,
/// so aborting it (drop, shutdown) also closes them.
async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(Arc::clone(&shared), req));
            // An error here is a dropped request or a client that went away: nothing to do.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request: number it, decide its fault, answer. `Err` makes hyper close the
/// connection without a response, which is how a drop is done.
async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, std::io::Error> {
    let n = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let faults = shared.faults.lock().unwrap().clone();
    let fault = decide(&faults, n);
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let record = |outcome: Outcome| {
        shared.log.lock().unwrap().push(LogEntry {
            n,
            method: method.clone(),
            path: path.clone(),
            outcome,
        });
    };

    if let Some(token) = req.headers().get("x-auth-token") {
        *shared.token.lock().unwrap() = token.to_str().unwrap_or_default().to_owned();
    }
    if let Some(base) = &faults.redirect_to {
        drain(req.into_body()).await;
        record(Outcome::Forwarded(307));
        let mut response = plain(StatusCode::TEMPORARY_REDIRECT, "text/plain", String::new());
        let location = format!("{}{path}", base.trim_end_matches('/'));
        response.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&location).expect("a valid Location"),
        );
        return Ok(response);
    }
    if fault == Fault::Fail {
        let echoed: String = req
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or_default()))
            .collect();
        drain(req.into_body()).await;
        shared.injected_503.fetch_add(1, Ordering::SeqCst);
        record(Outcome::Injected503);
        hold(&faults).await;
        if faults.echo_headers {
            let page = format!(
                "{{\"message\": \"503 Service Unavailable; request:\\n{}\"}}",
                echoed.replace('\n', "\\n")
            );
            return Ok(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                page,
            ));
        }
        return Ok(unavailable());
    }

    let upstream = match forward(&shared, req, &path).await {
        Ok(upstream) => upstream,
        Err(e) => {
            let message = format!("{e:#}");
            record(Outcome::UpstreamFailed(message.clone()));
            hold(&faults).await;
            return Ok(plain(StatusCode::BAD_GATEWAY, "text/plain", message));
        }
    };
    let status = upstream.status().as_u16();

    if fault == Fault::Drop {
        // Glance's whole answer first: what it did is done before the client loses it.
        let _ = upstream.bytes().await;
        shared.dropped.fetch_add(1, Ordering::SeqCst);
        record(Outcome::Dropped(status));
        hold(&faults).await;
        return Err(std::io::Error::other(format!(
            "request #{n} dropped by fault injection"
        )));
    }

    let response = answer(&shared, upstream, rewrites_body(&method, &path)).await;
    record(Outcome::Forwarded(status));
    hold(&faults).await;
    Ok(response)
}

fn decide(faults: &Faults, n: u64) -> Fault {
    if n <= u64::from(faults.skip_first) {
        return Fault::None;
    }
    let hits = |every: Option<u32>| every.is_some_and(|k| k > 0 && n.is_multiple_of(u64::from(k)));
    if hits(faults.fail_every) {
        Fault::Fail
    } else if hits(faults.drop_every) {
        Fault::Drop
    } else {
        Fault::None
    }
}

async fn hold(faults: &Faults) {
    if let Some(delay) = faults.delay {
        tokio::time::sleep(delay).await;
    }
}

/// Reads and discards a request body (bounded by [`DRAIN_LIMIT`]), so a client still sending
/// an upload gets the 503 instead of a broken pipe.
async fn drain(mut body: Incoming) {
    let mut read = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
        if read > DRAIN_LIMIT {
            break;
        }
    }
}

/// An HAProxy-style 503 page.
fn unavailable() -> Response<ProxyBody> {
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/html",
        "<html><body><h1>503 Service Unavailable</h1>\n\
         No server is available to handle this request.\n</body></html>\n"
            .to_owned(),
    )
}

fn plain(status: StatusCode, content_type: &'static str, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}
