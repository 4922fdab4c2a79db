//! The only code that talks to Keystone and Glance.
//!
//! [`GlanceClient`] wraps an `openstack_sdk` session for one cloud (one
//! clouds.yaml entry, one region) and offers exactly the Glance v2 operations
//! the tool needs, each returning plain data ([`ObservedImage`],
//! [`ObservedState`]) or a [`glance::Error`](Error) that already says what
//! happened (not found, forbidden, protected, in use, …). Keeping all network
//! access behind this type is what lets `plan` stay a pure function and what
//! gives us one place to count API calls, scrub secrets and apply timeouts.
//!
//! Where the work is done:
//! - `openstack_sdk` reads clouds.yaml and builds the JSON requests (its
//!   generated `openstack_sdk::api::image::v2` endpoints: paths, query,
//!   bodies), except three body-less actions (see `images.rs`). Its session is
//!   not used: its internal HTTP client cannot be configured.
//! - Every request, Keystone's included, is *sent* with our own reqwest client
//!   (`login.rs` for the token and version discovery, `attempt` here,
//!   `upload.rs` for streamed bodies): it follows redirects only within one
//!   origin (reqwest keeps `X-Auth-Token` on a redirect to another host, and a
//!   307/308 would resend a password body), caps what it reads of an answer,
//!   and has a per-call timeout for JSON calls and an idle watchdog instead of
//!   a total timeout for multi-GB bodies.
//! - Retries: `retry.rs` (classify + policy + run budget), used by every call;
//!   writes whose fate can be unknown recover by re-reading (`images.rs`).
//! - The apply lock: `lock.rs`.
//!
//! Files: `auth.rs` (clouds.yaml, the HTTP client, secrets), `keystone.rs` (token
//! requests and answers, catalog, version discovery: pure), `login.rs` (logging in,
//! token freshness, the endpoint),
//! `observe.rs` (the one listing per run), `observed.rs` (plain data),
//! `images.rs` (JSON calls), `members.rs` (image members: read, add, remove,
//! status), `projects.rs` (Keystone project look-ups for sharing), `upload.rs`
//! (streamed bodies), `wait.rs` (polling until a condition holds), `error.rs`.

mod auth;
mod error;
mod images;
#[cfg(test)]
mod json_props;
mod keystone;
mod lock;
mod login;
mod members;
mod observe;
mod observed;
mod patch;
mod projects;
pub mod retry;
mod upload;
mod wait;
mod watch;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openstack_sdk::api::RestEndpoint;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

pub use auth::{ConnectOptions, Overrides};
pub use error::{BoxError, Error};
pub use images::{ImageTask, ImportMethod, NewImage};
pub use lock::{Held, Holder, LOCK_TAG, LockOptions};
pub use login::TOKEN_MARGIN;
pub use members::{MemberStatus, ObservedMember};
pub use observed::{ImageStatus, ObservedImage, ObservedState, Visibility};
pub use patch::PatchOp;
pub use projects::{ProjectName, Resolved};
pub use wait::{Condition, Readiness, conditions};
pub use watch::{First, Waited, Watcher};

use auth::Secrets;
use error::clean_message;
use retry::{Repeat, Retrying};
// The SDK's generated Glance v2 endpoints, used by the submodules.
use openstack_sdk::api::image::v2 as image_api;

/// An authenticated connection to one cloud's Glance. Cheap to share behind an
/// `Arc`; all methods take `&self` and may run concurrently.
///
/// `Debug` shows the cloud name, region and API-call count only: never a
/// password, token or application-credential secret.
pub struct GlanceClient {
    cloud: String,
    region: Option<String>,
    /// `interface` of the cloud entry (endpoint selection; `public` when absent).
    interface: Option<String>,
    /// The token request, credentials inside; sent again to log in again.
    login: keystone::Login,
    /// The current token and endpoint (`None` only while `connect` runs).
    session: RwLock<Option<Arc<login::Session>>>,
    /// Sends every request (same-origin redirects only; see the module docs).
    transfer: reqwest::Client,
    transfer_idle_timeout: Duration,
    /// Total time for one JSON call.
    api_timeout: Duration,
    /// `auth_type: token` cannot re-authenticate.
    token_auth: bool,
    /// Single-flight for re-authentication.
    reauth_lock: tokio::sync::Mutex<()>,
    secrets: Secrets,
    api_calls: AtomicU64,
    retrying: Retrying,
}

/// What a request reads from Glance's answer.
#[derive(Clone, Copy)]
enum Answer {
    /// The JSON under the endpoint's response key.
    Json,
    /// Nothing (204/202).
    Empty,
    /// The whole JSON body.
    Body,
}

impl GlanceClient {
    /// Reads clouds.yaml (see [`ConnectOptions`]), logs in to Keystone and
    /// finds the Glance v2 endpoint. Nothing is cached on disk: every run logs
    /// in afresh and writes no token anywhere.
    pub async fn connect(opts: &ConnectOptions) -> Result<GlanceClient, Error> {
        let cloud = auth::resolve_cloud(opts)?;
        let secrets = Secrets::from_config(&cloud.config);
        let transfer = auth::http_client(&cloud.config, opts)?;
        let config_error = |message: String| Error::Auth {
            cloud: cloud.name.clone(),
            message,
        };
        let login = keystone::login(&cloud.config).map_err(config_error)?;
        let token_auth =
            keystone::auth_kind(&cloud.config).map_err(config_error)? == keystone::AuthKind::Token;
        let client = GlanceClient {
            region: cloud.config.region_name.clone().filter(|r| !r.is_empty()),
            interface: cloud.config.interface.clone().filter(|i| !i.is_empty()),
            cloud: cloud.name,
            login,
            session: RwLock::new(None),
            transfer,
            transfer_idle_timeout: opts.transfer_idle_timeout,
            api_timeout: opts.api_timeout,
            token_auth,
            reauth_lock: tokio::sync::Mutex::new(()),
            secrets,
            api_calls: AtomicU64::new(0),
            retrying: Retrying::new(opts.retry.clone(), opts.retry_budget),
        };
        client.log_in().await?;
        Ok(client)
    }

    /// The clouds.yaml name this client was built from (`envvars` when the
    /// configuration came from `OS_*` variables).
    pub fn cloud(&self) -> &str {
        &self.cloud
    }

    /// The region used to pick endpoints, if configured.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The number of Glance API requests sent so far (each page of a listing,
    /// each upload, each poll counts one; Keystone authentication and version
    /// discovery do not count).
    /// For tests and benchmarks of API-call budgets.
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    fn count_call(&self) {
        self.api_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs one SDK endpoint and returns its JSON (under the endpoint's
    /// response key, if it has one). `repeat`: whether and how the call is
    /// repeated after a transient failure (see `retry.rs`); `None` for calls
    /// whose callers recover themselves.
    async fn query_json<E>(
        &self,
        operation: &'static str,
        image_id: Option<&str>,
        endpoint: &E,
        repeat: Option<Repeat>,
    ) -> Result<Value, Error>
    where
        E: RestEndpoint + Clone + Send + Sync,
    {
        self.send(operation, image_id, endpoint, Answer::Json, repeat)
            .await
    }

    /// Runs one SDK endpoint whose answer has no body worth reading (204/202).
    async fn query_empty<E>(
        &self,
        operation: &'static str,
        image_id: Option<&str>,
        endpoint: &E,
        repeat: Option<Repeat>,
    ) -> Result<(), Error>
    where
        E: RestEndpoint + Clone + Send + Sync,
    {
        self.send(operation, image_id, endpoint, Answer::Empty, repeat)
            .await
            .map(drop)
    }

    /// Runs one SDK endpoint and returns the whole JSON body, for answers
    /// whose top level matters (the listing's `next`). Always a read.
    async fn query_body<E>(&self, operation: &'static str, endpoint: &E) -> Result<Value, Error>
    where
        E: RestEndpoint + Clone + Send + Sync,
    {
        self.send(operation, None, endpoint, Answer::Body, Some(Repeat::Read))
            .await
    }

    async fn send<E>(
        &self,
        operation: &'static str,
        image_id: Option<&str>,
        endpoint: &E,
        answer: Answer,
        repeat: Option<Repeat>,
    ) -> Result<Value, Error>
    where
        E: RestEndpoint + Clone + Send + Sync,
    {
        let attempt = || self.attempt(operation, image_id, endpoint, answer);
        match repeat {
            Some(repeat) => self.retrying.run(repeat, attempt).await,
            None => attempt().await,
        }
    }

    /// One request, counted. Sent with our own HTTP client (see the module docs): redirects
    /// within one origin, at most [`MAX_JSON`] read, a per-call timeout. The SDK only builds
    /// the request (path, query, body).
    async fn attempt<E>(
        &self,
        operation: &'static str,
        image_id: Option<&str>,
        endpoint: &E,
        answer: Answer,
    ) -> Result<Value, Error>
    where
        E: RestEndpoint + Clone + Send + Sync,
    {
        let invalid = |message: String| Error::InvalidRequest { message };
        let body = endpoint
            .body()
            .map_err(|e| invalid(format!("request body: {e}")))?;
        let mut reauthenticated = false;
        loop {
            self.before_call().await?;
            let seen = self.session()?;
            let mut url = self
                .image_endpoint()?
                .join(&endpoint.endpoint())
                .map_err(|e| invalid(format!("request URL: {e}")))?;
            endpoint.parameters().add_to_url(&mut url);
            let mut headers = self.auth_headers()?;
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            if let Some(extra) = endpoint.request_headers() {
                headers.extend(extra.clone());
            }
            let mut request = self
                .transfer
                .request(endpoint.method(), url)
                .headers(headers)
                .timeout(self.api_timeout);
            if let Some((mime, data)) = &body {
                request = request.header(CONTENT_TYPE, *mime).body(data.clone());
            }
            self.count_call();
            let transport = |source| Error::Transport {
                operation,
                image_id: image_id.map(str::to_owned),
                source,
            };
            let rsp = request.send().await.map_err(transport)?;
            let status = rsp.status();
            let text = capped_body(rsp, MAX_JSON).await.map_err(transport)?;
            // A token revoked before its expiry: log in again, once.
            if status == reqwest::StatusCode::UNAUTHORIZED && !reauthenticated && !self.token_auth {
                reauthenticated = true;
                self.log_in_again(&seen).await?;
                continue;
            }
            let Some(text) = text else {
                return Err(Error::Response {
                    operation,
                    message: format!("the answer is larger than {} MiB", MAX_JSON >> 20),
                });
            };
            if !status.is_success() {
                let message = self.scrub(&message_of(&String::from_utf8_lossy(&text)));
                let owned = image_id.map(str::to_owned);
                return Err(http_error(operation, owned, status.as_u16(), message));
            }
            if matches!(answer, Answer::Empty) {
                return Ok(Value::Null);
            }
            let mut value: Value = serde_json::from_slice(&text).map_err(|e| Error::Response {
                operation,
                message: format!("invalid JSON: {e}"),
            })?;
            if let (Answer::Json, Some(key)) = (answer, endpoint.response_key()) {
                value = value[key.as_ref()].take();
            }
            return Ok(value);
        }
    }

    /// Retries and recreated uploads of this run, for the report.
    pub fn retrying(&self) -> &Retrying {
        &self.retrying
    }

    /// Token freshness before every request.
    async fn before_call(&self) -> Result<(), Error> {
        self.ensure_fresh_token().await
    }

    /// Builds an SDK endpoint, turning builder errors into [`Error::InvalidRequest`].
    fn build<T, E: fmt::Display>(built: Result<T, E>) -> Result<T, Error> {
        built.map_err(|e| Error::InvalidRequest {
            message: e.to_string(),
        })
    }
}

/// Maps an HTTP error status to a variant. Delete's 403/409 are refined by the
/// caller (protected / in use).
fn http_error(
    operation: &'static str,
    image_id: Option<String>,
    status: u16,
    message: String,
) -> Error {
    match (status, image_id) {
        (404, Some(image_id)) => Error::NotFound {
            operation,
            image_id,
        },
        (403, image_id) => Error::Forbidden {
            operation,
            image_id,
            message,
        },
        (status, image_id) => Error::Api {
            operation,
            image_id,
            status,
            message,
        },
    }
}

/// Glance's `{"message": …}` (or the SDK's copy of a whole JSON body, or a
/// plain-text body) as one clean line.
fn message_of(text: &str) -> String {
    let from_json = serde_json::from_str::<Value>(text).ok().and_then(|v| {
        v.get("message")
            .or_else(|| v.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    clean_message(from_json.as_deref().unwrap_or(text))
}

/// The most of one JSON answer that is read: a listing page of 1,000 images with many
/// properties is a few MiB.
const MAX_JSON: usize = 32 << 20;

/// The body of an answer, or `None` when it is longer than `cap` (reading stops there).
pub(crate) async fn capped_body(
    mut rsp: reqwest::Response,
    cap: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = rsp.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

impl fmt::Debug for GlanceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlanceClient")
            .field("cloud", &self.cloud)
            .field("region", &self.region)
            .field("api_calls", &self.api_calls())
            .finish_non_exhaustive()
    }
}
