//! Logging in and staying logged in: the Keystone token (requested with our own client, see
//! `keystone.rs` for why), the Glance v2 endpoint found with it, the token's freshness and
//! the one re-login after a 401.
//!
//! Token freshness: before each request the token's expiry is checked; when it is within
//! [`TOKEN_MARGIN`] of expiring we log in again with the configured credentials
//! (single-flight). Streamed uploads cannot be replayed after a 401, so this check is what
//! keeps them safe. A cloud with `auth_type: token` cannot log in again: its token's lifetime
//! is final.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use url::Url;

use super::error::Error;
use super::retry::Repeat;
use super::{GlanceClient, capped_body, keystone, message_of};

/// Log in again when the token expires within this margin, so that no request (in particular
/// no streamed upload, which cannot be replayed) starts with a token about to expire. For
/// tokens that live less than twice as long, the margin is half their lifetime.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);

/// One login's result: the token and the Glance v2 base URL found with it.
pub(crate) struct Session {
    token: keystone::Token,
    /// The image endpoint as the catalog lists it (unversioned, usually).
    catalog_url: Url,
    /// The versioned base URL requests are joined to (ends in `/`).
    v2: Url,
}

impl GlanceClient {
    /// The current login; set by `connect` before the client is handed out.
    pub(crate) fn session(&self) -> Result<Arc<Session>, Error> {
        self.session
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| Error::Auth {
                cloud: self.cloud.clone(),
                message: "not logged in".into(),
            })
    }

    /// The Glance v2 base URL (ends in `/`).
    pub(crate) fn image_endpoint(&self) -> Result<Url, Error> {
        Ok(self.session()?.v2.clone())
    }

    /// Logs in with the configured credentials and finds the Glance v2 endpoint in the new
    /// token's catalog. Both requests are reads for the retry policy (a second token request
    /// is harmless). Version discovery is skipped when the catalog URL did not change since
    /// the last login, or already names v2.
    pub(crate) async fn log_in(&self) -> Result<(), Error> {
        let token = self
            .retrying
            .run(Repeat::Read, || self.request_token())
            .await
            .map_err(|e| self.auth_error(&self.login.url, e))?;
        let endpoint = |message: String| Error::Endpoint {
            cloud: self.cloud.clone(),
            message,
        };
        let catalog_url = token
            .image_endpoint(self.interface.as_deref(), self.region.as_deref())
            .map_err(endpoint)?;
        let previous = self.session.read().ok().and_then(|s| s.clone());
        let v2 = match previous {
            Some(p) if p.catalog_url == catalog_url => p.v2.clone(),
            _ if keystone::is_versioned_v2(&catalog_url) => {
                let mut url = catalog_url.clone();
                keystone::with_slash(&mut url);
                url
            }
            _ => self
                .retrying
                .run(Repeat::Read, || self.discover(&catalog_url))
                .await
                .map_err(|e| {
                    endpoint(format!("version discovery: {}", describe(&catalog_url, &e)))
                })?,
        };
        let session = Session {
            token,
            catalog_url,
            v2,
        };
        *self
            .session
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(session));
        Ok(())
    }

    /// One token request (`POST /v3/auth/tokens`), not counted as a Glance call.
    async fn request_token(&self) -> Result<keystone::Token, Error> {
        const OPERATION: &str = "authenticate";
        let transport = |source| Error::Transport {
            operation: OPERATION,
            image_id: None,
            source,
        };
        let rsp = self
            .transfer
            .post(self.login.url.clone())
            .header(ACCEPT, "application/json")
            .json(&self.login.body)
            .timeout(self.api_timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = rsp.status();
        let subject = rsp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_capped(OPERATION, rsp, keystone::MAX_TOKEN_ANSWER).await?;
        if !status.is_success() {
            return Err(self.api_error(OPERATION, status, &body));
        }
        keystone::token(subject.as_deref(), &body).map_err(|message| Error::Response {
            operation: OPERATION,
            message,
        })
    }

    /// Version discovery of the image endpoint: an unauthenticated read of its version
    /// document (no token is sent; Glance serves it to anyone).
    async fn discover(&self, catalog_url: &Url) -> Result<Url, Error> {
        const OPERATION: &str = "image API version discovery";
        let transport = |source| Error::Transport {
            operation: OPERATION,
            image_id: None,
            source,
        };
        let rsp = self
            .transfer
            .get(catalog_url.clone())
            .header(ACCEPT, "application/json")
            .timeout(self.api_timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = rsp.status();
        let body = read_capped(OPERATION, rsp, keystone::MAX_VERSIONS_ANSWER).await?;
        // Glance answers the unversioned root with 300 Multiple Choices.
        if !status.is_success() && status.as_u16() != 300 {
            return Err(self.api_error(OPERATION, status, &body));
        }
        keystone::v2_from_versions(catalog_url, &body).map_err(|message| Error::Response {
            operation: OPERATION,
            message,
        })
    }

    /// A refusal on the login path, its message scrubbed of every secret (Keystone may quote
    /// the request).
    pub(super) fn api_error(
        &self,
        operation: &'static str,
        status: reqwest::StatusCode,
        body: &[u8],
    ) -> Error {
        Error::Api {
            operation,
            image_id: None,
            status: status.as_u16(),
            message: self.scrub(&message_of(&String::from_utf8_lossy(body))),
        }
    }

    /// A failed login as a person reads it: the (redacted) Keystone URL and what happened.
    fn auth_error(&self, url: &Url, error: Error) -> Error {
        let message = match &error {
            Error::Api {
                status: 401,
                message,
                ..
            } => format!(
                "{}: Keystone rejected the credentials (HTTP 401: {message})",
                crate::redact::url(url.as_str())
            ),
            other => describe(url, other),
        };
        Error::Auth {
            cloud: self.cloud.clone(),
            message,
        }
    }

    /// Makes sure the token is valid for at least [`TOKEN_MARGIN`], logging in again with the
    /// configured credentials otherwise. Cheap when the token is fresh (an in-memory check).
    pub(crate) async fn ensure_fresh_token(&self) -> Result<(), Error> {
        let seen = self.session()?;
        let lifetime = seen.token.lifetime;
        let margin = if lifetime.is_zero() {
            TOKEN_MARGIN
        } else {
            TOKEN_MARGIN.min(lifetime / 2)
        };
        if remaining(&seen) > margin {
            return Ok(());
        }
        if self.token_auth {
            // A plain token cannot be renewed; use it while it lasts.
            return if remaining(&seen) > Duration::ZERO {
                Ok(())
            } else {
                Err(Error::Auth {
                    cloud: self.cloud.clone(),
                    message: "the configured token has expired (auth_type token cannot \
                              re-authenticate)"
                        .into(),
                })
            };
        }
        self.log_in_again(&seen).await
    }

    /// Logs in again unless another task already did since `seen` (single-flight).
    pub(crate) async fn log_in_again(&self, seen: &Arc<Session>) -> Result<(), Error> {
        let _single_flight = self.reauth_lock.lock().await;
        if !Arc::ptr_eq(&self.session()?, seen) {
            return Ok(());
        }
        tracing::debug!(cloud = %self.cloud, "re-authenticating");
        self.log_in().await
    }

    /// Forces a new Keystone token from the configured credentials, as happens automatically
    /// before a token expires and after a 401. Public so tests and long runs can exercise it.
    pub async fn reauthenticate(&self) -> Result<(), Error> {
        let seen = self.session()?;
        self.log_in_again(&seen).await
    }

    /// Removes every configured secret and the token in use from a message we did not write
    /// ourselves (a Glance or proxy error body may echo the `X-Auth-Token` header or the
    /// request body).
    pub(crate) fn scrub(&self, text: &str) -> String {
        let session = self.session().ok();
        let token = session.as_ref().map(|s| s.token.value.expose_secret());
        crate::redact::secrets(text, self.secrets.0.iter().map(String::as_str).chain(token))
    }

    /// The project the current token is scoped to (`None` for domain or system tokens).
    pub fn project_id(&self) -> Option<String> {
        self.session().ok()?.token.project_id.clone()
    }

    /// `X-Auth-Token` (marked sensitive, so reqwest never prints it) for the requests we send.
    pub(crate) fn auth_headers(&self) -> Result<HeaderMap, Error> {
        let session = self.session()?;
        let mut value =
            HeaderValue::from_str(session.token.value.expose_secret()).map_err(|_| {
                Error::Auth {
                    cloud: self.cloud.clone(),
                    message: "Keystone issued a token that is not a valid header value".into(),
                }
            })?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-token", value);
        Ok(headers)
    }
}

/// How long the session's token is still valid.
fn remaining(session: &Session) -> Duration {
    (session.token.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO)
}

/// `url: what happened`, with the root cause a person can act on: connection refused, timed
/// out, a TLS certificate problem, an HTTP status, or the cause's own words.
fn describe(url: &Url, error: &Error) -> String {
    let shown = crate::redact::url(url.as_str());
    let cause = match error {
        Error::Transport { source, .. } => transport_cause(source),
        Error::Api {
            status, message, ..
        } => format!("HTTP {status}: {message}"),
        Error::Response { message, .. } => message.clone(),
        other => other.to_string(),
    };
    format!("{shown}: {cause}")
}

/// The cause of a request that got no answer, in a few words.
pub(crate) fn transport_cause(error: &reqwest::Error) -> String {
    if crate::transfer::retry::is_certificate(error) {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        let mut last = error.to_string();
        while let Some(cause) = source {
            last = cause.to_string();
            source = cause.source();
        }
        return format!("TLS certificate not accepted ({last})");
    }
    if error.is_timeout() {
        return "timed out".into();
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut last = error.to_string();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                std::io::ErrorKind::TimedOut => return "timed out".into(),
                _ => {}
            }
        }
        last = cause.to_string();
        source = cause.source();
    }
    if error.is_connect() {
        format!("cannot connect ({last})")
    } else {
        last
    }
}

/// The whole answer of a login-path call, or an error once it passes `cap` (reading stops
/// there: an endless answer cannot fill memory).
pub(super) async fn read_capped(
    operation: &'static str,
    rsp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, Error> {
    let too_large = || Error::Response {
        operation,
        message: if cap >= 1 << 20 {
            format!("the answer is larger than {} MiB", cap >> 20)
        } else {
            format!("the answer is larger than {} KiB", cap >> 10)
        },
    };
    capped_body(rsp, cap)
        .await
        .map_err(|source| Error::Transport {
            operation,
            image_id: None,
            source,
        })?
        .ok_or_else(too_large)
}
