//! Forwarding to Glance and back: streamed bodies, hop-by-hop headers, and Glance's own
//! address rewritten to the proxy's where a client would otherwise follow it around the proxy.

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::{BodyDataStream, BodyExt, StreamBody};
use hyper::body::{Body as _, Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response};

use super::{BoxError, ProxyBody, Shared, full};

/// Sends the request on to Glance: same method, path and query (under the upstream's base
/// path), end-to-end headers, and the body streamed as it arrives. `Host` is left to reqwest,
/// which sets Glance's own.
pub(super) async fn forward(
    shared: &Shared,
    req: Request<Incoming>,
    path: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    let (parts, body) = req.into_parts();
    let base = shared.upstream.as_str().trim_end_matches('/');
    let url = format!("{base}{path}");
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    // hyper's server already answered any `Expect: 100-continue`; the client side of reqwest
    // would not understand it.
    headers.remove(header::EXPECT);
    let mut request = shared.http.request(parts.method, url).headers(headers);
    if !body.is_end_stream() {
        // Length-delimited bodies keep their Content-Length header (copied above), chunked
        // ones are sent chunked: reqwest follows the header.
        request = request.body(reqwest::Body::wrap_stream(BodyDataStream::new(body)));
    }
    request.send().await
}

/// Glance's answer for the client: status and end-to-end headers, `Location` pointed at the
/// proxy, and the body streamed — or, for version documents, read and rewritten.
pub(super) async fn answer(
    shared: &Shared,
    upstream: reqwest::Response,
    rewrite: bool,
) -> Response<ProxyBody> {
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    strip_hop_by_hop(&mut headers);
    let glance_base = shared.upstream.as_str().trim_end_matches('/');
    if let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && location.starts_with(glance_base)
    {
        let moved = location.replacen(glance_base, &shared.public_base, 1);
        if let Ok(value) = HeaderValue::from_str(&moved) {
            headers.insert(header::LOCATION, value);
        }
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let body = if rewrite && is_json {
        let text = upstream.text().await.unwrap_or_default();
        let text = text.replace(glance_base, &shared.public_base);
        headers.remove(header::CONTENT_LENGTH);
        full(Bytes::from(text))
    } else {
        let stream = upstream
            .bytes_stream()
            .map_ok(Frame::data)
            .map_err(|e| Box::new(e) as BoxError);
        BodyExt::boxed(StreamBody::new(stream))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Version discovery reads `/` (300 Multiple Choices) or `/versions`; Glance fills their
/// `links` with its `public_endpoint`, i.e. its own address. A client following those links
/// would go around the proxy, so they are rewritten. Image listings need nothing: their
/// `next`/`first` links are relative.
pub(super) fn rewrites_body(method: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    method == "GET" && matches!(path, "/" | "/versions" | "/versions/")
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1): each side of the proxy
/// sets its own.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}
