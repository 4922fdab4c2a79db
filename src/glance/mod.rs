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
//! - JSON calls (list, get, create, patch, tags, delete, deactivate,
//!   reactivate, import, info/import, tasks) go through the SDK session and,
//!   except three body-less actions (see `images.rs`), its generated
//!   `openstack_sdk::api::image::v2` endpoints: they bring the catalog
//!   endpoint, `Accept: application/json`, Glance's error `message`, and the
//!   SDK's 401 → re-auth → retry-once.
//! - Streamed bodies (`PUT /stage`, `PUT /file`) use reqwest directly with the
//!   session's token and catalog endpoint, because the SDK's client has a total
//!   request timeout (fatal for multi-GB bodies), its stage endpoint sends a
//!   JSON body, and its streaming path reads an `AsyncRead` rather than a
//!   `Stream` of `Bytes`. See `upload.rs`.
//!
//! Files: `auth.rs` (clouds.yaml, session, token freshness, endpoint),
//! `observe.rs` (the one listing per run), `observed.rs` (plain data),
//! `images.rs` (JSON calls), `upload.rs` (streamed bodies), `wait.rs`
//! (polling until a condition holds), `error.rs`.

mod auth;
mod error;
mod images;
mod lock;
mod observe;
mod observed;
mod patch;
pub mod retry;
mod upload;
mod wait;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openstack_sdk::AsyncOpenStack;
use openstack_sdk::RestError;
use openstack_sdk::api::{ApiError, QueryAsync, RestEndpoint, ignore, raw};
use serde_json::Value;

pub use auth::{ConnectOptions, TOKEN_MARGIN};
pub use error::{BoxError, Error};
pub use images::{ImageTask, ImportMethod, NewImage};
pub use lock::{Held, Holder, LOCK_TAG, LockOptions};
pub use observed::{ImageStatus, ObservedImage, ObservedState, Visibility};
pub use patch::PatchOp;
pub use wait::{Condition, Readiness, conditions};

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
    session: AsyncOpenStack,
    /// For streamed bodies only (no total timeout); see `upload.rs`.
    transfer: reqwest::Client,
    transfer_idle_timeout: Duration,
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
    /// Reads clouds.yaml (see [`ConnectOptions`]), authenticates with Keystone
    /// and discovers the Glance v2 endpoint. The SDK's on-disk auth cache is
    /// disabled: every run authenticates afresh and writes no token to disk.
    pub async fn connect(opts: &ConnectOptions) -> Result<GlanceClient, Error> {
        let cloud = auth::resolve_cloud(opts)?;
        let secrets = Secrets::from_config(&cloud.config);
        let transfer = auth::transfer_client(&cloud.config, opts)?;
        let session = auth::connect_session(&cloud, opts, &secrets).await?;
        let token_auth = matches!(cloud.config.auth_type.as_deref(), Some("token" | "v3token"));
        let client = GlanceClient {
            region: session.get_region_name(),
            cloud: cloud.name,
            session,
            transfer,
            transfer_idle_timeout: opts.transfer_idle_timeout,
            token_auth,
            reauth_lock: tokio::sync::Mutex::new(()),
            secrets,
            api_calls: AtomicU64::new(0),
            retrying: Retrying::new(opts.retry.clone(), opts.retry_budget),
        };
        client.image_endpoint().await?;
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
    /// discovery do not count, nor does the SDK's internal retry after a 401).
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

    /// One request, counted.
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
        self.before_call().await?;
        self.count_call();
        let failed = |e| self.api_error(operation, image_id, e);
        match answer {
            Answer::Json => endpoint.query_async(&self.session).await.map_err(failed),
            Answer::Empty => ignore(endpoint.clone())
                .query_async(&self.session)
                .await
                .map(|()| Value::Null)
                .map_err(failed),
            Answer::Body => {
                let rsp = raw(endpoint.clone())
                    .query_async(&self.session)
                    .await
                    .map_err(failed)?;
                serde_json::from_slice(rsp.body()).map_err(|e| Error::Response {
                    operation,
                    message: format!("invalid JSON: {e}"),
                })
            }
        }
    }

    /// Retries and recreated uploads of this run, for the report.
    pub fn retrying(&self) -> &Retrying {
        &self.retrying
    }

    /// Token freshness and a versioned endpoint before every request.
    async fn before_call(&self) -> Result<(), Error> {
        self.ensure_fresh_token().await?;
        self.image_endpoint().await.map(|_| ())
    }

    /// Sorts an SDK error into our variants, keeping Glance's message.
    fn api_error(
        &self,
        operation: &'static str,
        image_id: Option<&str>,
        err: ApiError<RestError>,
    ) -> Error {
        let image_id = image_id.map(str::to_owned);
        let (status, message) = match err {
            ApiError::OpenStack { status, msg, .. } => (status.as_u16(), message_of(&msg)),
            ApiError::OpenStackService { status, data, .. } => (status.as_u16(), message_of(&data)),
            ApiError::OpenStackUnrecognized { status, obj, .. } => {
                (status.as_u16(), clean_message(&obj.to_string()))
            }
            ApiError::Client {
                source: RestError::Communication { source },
            } => {
                return Error::Transport {
                    operation,
                    image_id,
                    source,
                };
            }
            other => {
                return Error::Response {
                    operation,
                    message: self.scrub(&other.to_string()),
                };
            }
        };
        http_error(operation, image_id, status, self.scrub(&message))
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

impl fmt::Debug for GlanceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlanceClient")
            .field("cloud", &self.cloud)
            .field("region", &self.region)
            .field("api_calls", &self.api_calls())
            .finish_non_exhaustive()
    }
}
