//! The HTTP side: an axum server on its own thread and runtime, the request handler with its hit
//! log, and the answers: content with `Range`/`If-Range`/206/416, `ETag`, `Last-Modified`,
//! `HEAD`, redirects, 404/405, and the faults a request drew.
//!
//! Its own multi-thread runtime makes it behave the same from any `#[tokio::test]` flavour and
//! from plain `#[test]`s; shutting that runtime down on drop also cancels hanging or trickling
//! responses instead of waiting for them.

use std::net::{Ipv4Addr, SocketAddr};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::extract::connect_info::ConnectInfo;
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::content::{Chunks, Content};
use super::fault::{BodyState, Cut, CutListener, Fault, MAX_HANG, take_fault};
use super::{Route, Shared, lock};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub(crate) method: String,
    pub(crate) range: Option<String>,
    pub(crate) if_range: Option<String>,
    /// Status answered (a cut body still logs its 200/206); 0 while no header was sent (hanging,
    /// or cancelled by the client).
    pub(crate) status: u16,
}

/// Binds `127.0.0.1` on a free port and serves `inner` from a new thread and runtime until the
/// returned sender fires (or is dropped); joining the thread then waits for the runtime's end.
pub(super) fn spawn(inner: Shared) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
    let app = axum::Router::new().fallback(handle).with_state(inner);
    let app = app.into_make_service_with_connect_info::<Cut>();
    let (shutdown, stop) = oneshot::channel::<()>();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    let runtime = runtime
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let serve = async move {
        let listener = CutListener(TcpListener::from_std(listener).expect("listener"));
        tokio::select! {
            served = axum::serve(listener, app).into_future() => served.expect("serve"),
            _ = stop => {}
        }
    };
    let thread = std::thread::Builder::new().name(format!("upstream-{}", addr.port()));
    let thread = thread.spawn(move || {
        runtime.block_on(serve);
        // Cancels in-flight responses (hangs, trickles) instead of waiting for them.
        runtime.shutdown_timeout(Duration::from_secs(5));
    });
    (addr, shutdown, thread.expect("thread"))
}

async fn handle(
    State(inner): State<Shared>,
    ConnectInfo(cut): ConnectInfo<Cut>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_owned();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (range, if_range) = (text(header::RANGE), text(header::IF_RANGE));
    let (route, fault, index) = {
        let mut guard = lock(&inner);
        let route = guard.routes.get(&path).cloned();
        let body_request = method == Method::GET && matches!(route, Some(Route::Content(_)));
        let fault = take_fault(&mut guard, &path, body_request);
        let (range, if_range) = (range.clone(), if_range.clone());
        let hit = Hit {
            method: method.to_string(),
            range,
            if_range,
            status: 0,
        };
        let hits = guard.hits.entry(path.clone()).or_default();
        hits.push(hit);
        (route, fault, hits.len() - 1)
    };
    let response = respond(method, range, if_range, route, fault, cut).await;
    let status = response.status().as_u16();
    lock(&inner).hits.get_mut(&path).expect("logged")[index].status = status;
    response
}

fn response(status: u16, headers: Vec<(HeaderName, String)>, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).expect("valid status");
    for (name, value) in headers {
        let value = HeaderValue::from_str(&value).expect("valid header");
        response.headers_mut().insert(name, value);
    }
    response
}

async fn respond(
    method: Method,
    range: Option<String>,
    if_range: Option<String>,
    route: Option<Route>,
    fault: Option<Fault>,
    cut: Cut,
) -> Response {
    let text = |status, text: &str| response(status, vec![], Body::from(text.to_owned()));
    match fault {
        Some(Fault::Hang(wait)) => tokio::time::sleep(wait.min(MAX_HANG)).await,
        Some(Fault::Status(code)) => return text(code, "injected fault\n"),
        _ => {}
    }
    if method != Method::GET && method != Method::HEAD {
        return text(405, "only GET and HEAD\n");
    }
    let content = match route {
        None => return text(404, "not found\n"),
        Some(Route::Redirect(status, to)) => {
            return response(status, vec![(header::LOCATION, to)], Body::empty());
        }
        Some(Route::Content(content)) => content,
    };
    let (etag, modified, len) = (etag(&content), last_modified(&content), content.len);
    // RFC 9110 13.1.5: a validator that does not match means "send the whole representation".
    let range = range.filter(|_| if_range.is_none_or(|v| v == etag || v == modified));
    let mut headers = vec![(header::ACCEPT_RANGES, "bytes".to_owned())];
    let (status, start, end) = match range.map(|range| parse_range(&range, len)) {
        Some(Ok((first, last))) => {
            headers.push((header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}")));
            (206, first, last + 1)
        }
        Some(Err(true)) => {
            headers.push((header::CONTENT_RANGE, format!("bytes */{len}")));
            return response(416, headers, Body::empty());
        }
        Some(Err(false)) | None => (200, 0, len),
    };
    headers.extend([
        (header::ETAG, etag),
        (header::LAST_MODIFIED, modified),
        (header::CONTENT_TYPE, content.content_type.to_owned()),
        (header::CONTENT_LENGTH, (end - start).to_string()),
    ]);
    if matches!(fault, Some(Fault::NoLength)) {
        headers.retain(|(name, _)| name != header::CONTENT_LENGTH);
    }
    if method == Method::HEAD {
        return response(status, headers, Body::empty());
    }
    let chunks = Chunks::new(content.src, start, end);
    let body = BodyState::new(chunks, len, fault, cut);
    let stream = futures::stream::unfold(body, |mut body| async move {
        body.next().await.map(|chunk| (chunk, body))
    });
    response(status, headers, Body::from_stream(stream))
}

/// The strong ETag of `content`, quotes included.
pub(super) fn etag(content: &Content) -> String {
    format!("\"{:x}-{:x}\"", content.generation, content.len)
}

/// Synthetic and unique per content: 2024-01-01 plus one second per generation.
pub(super) fn last_modified(content: &Content) -> String {
    let secs = 1_704_067_200 + content.generation as i64;
    let time = chrono::DateTime::from_timestamp(secs, 0).expect("valid timestamp");
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// `Ok((first, last))` inclusive; `Err(true)`: unsatisfiable (416); `Err(false)`: malformed or
/// multi-range, which is ignored (a full 200), as RFC 9110 allows.
fn parse_range(header: &str, len: u64) -> Result<(u64, u64), bool> {
    let spec = header.trim().strip_prefix("bytes=").ok_or(false)?;
    let (first, last) = spec
        .split_once('-')
        .filter(|_| !spec.contains(','))
        .ok_or(false)?;
    let number = |text: &str| match text.trim() {
        "" => Ok(None),
        digits => digits.parse::<u64>().map(Some).map_err(|_| false),
    };
    match (number(first)?, number(last)?) {
        (Some(first), Some(last)) if first > last => Err(false),
        (Some(first), _) if first >= len => Err(true),
        (Some(first), last) => Ok((first, last.map_or(len - 1, |last| last.min(len - 1)))),
        (None, Some(suffix)) if suffix == 0 || len == 0 => Err(true),
        (None, Some(suffix)) => Ok((len - suffix.min(len), len - 1)),
        (None, None) => Err(false),
    }
}
