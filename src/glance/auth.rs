//! Connecting: clouds.yaml discovery, Keystone authentication, the Glance v2
//! endpoint from the service catalog, and keeping the token fresh.
//!
//! Everything here is delegated to `openstack_sdk` where it serves, so that the
//! same clouds.yaml that `openstack image list` uses works unchanged:
//! clouds.yaml + secure.yaml (+ clouds-public.yaml profiles) from the current
//! directory, `~/.config/openstack` and `/etc/openstack`; auth types
//! `password`, `v3applicationcredential` and `token`; `region_name`,
//! `interface`, `cacert`, `verify` (TLS verification stays on unless the
//! cloud says `verify: false`).
//!
//! What we add on top of the SDK, and why:
//! - `OS_CLIENT_CONFIG_FILE` (python-openstacksdk's variable; the Rust SDK only
//!   knows `OS_CLIENT_CONFIG_PATH`): when set, that file *replaces* the
//!   clouds.yaml search, as in python-openstacksdk.
//! - The SDK's on-disk auth cache (`~/.osc/<hash>`, which also caches version
//!   discovery) is disabled before the session reads it, with
//!   `AsyncOpenStackBuilder::disable_auth_cache(true)` plus
//!   `CloudConfig::auth_cache = Some(false)`: a CI job must never pick up a
//!   token or an endpoint another run left behind, nor leave one behind.
//!   (The SDK still creates an empty `~/.osc/` directory; nothing is written.)
//! - Token freshness: before each request the token's expiry is checked; when
//!   it is within [`TOKEN_MARGIN`] of expiring we re-authenticate with the
//!   configured credentials (single-flight). Streamed uploads cannot be
//!   replayed after a 401, so this check is what keeps them safe; JSON calls
//!   additionally have the SDK's own 401 → re-auth → retry-once. A cloud with
//!   `auth_type: token` cannot re-authenticate: its token's lifetime is final.
//! - After any re-authentication the SDK forgets discovered endpoint versions
//!   (it rebuilds its catalog from the new token), so [`GlanceClient::image_endpoint`]
//!   re-runs version discovery whenever the endpoint it gets back is not v2.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use chrono::TimeDelta;
use openstack_sdk::AsyncOpenStack;
use openstack_sdk::api::AsyncClient;
use openstack_sdk::auth::AuthState;
use openstack_sdk::auth::authtoken::AuthToken;
use openstack_sdk::config::{CloudConfig, ConfigFile};
use openstack_sdk::types::{ApiVersion, ServiceType};
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use url::Url;

use super::GlanceClient;
use super::error::Error;
use super::retry::RetryPolicy;

/// Re-authenticate when the token expires within this margin, so that no
/// request (in particular no streamed upload, which cannot be replayed) starts
/// with a token about to expire.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How to find and reach the cloud. `Default` gives the timeouts below and
/// takes the cloud from `OS_CLOUD`.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Cloud name in clouds.yaml; `None` means `OS_CLOUD`, and without that,
    /// plain `OS_*` environment variables (`OS_AUTH_URL`, …).
    pub cloud: Option<String>,
    /// A clouds.yaml to use instead of the search path, like
    /// `OS_CLIENT_CONFIG_FILE` (which is used when this is `None`).
    pub config_file: Option<PathBuf>,
    /// Total time for one JSON API call (auth, list page, create, patch, …).
    pub api_timeout: Duration,
    /// Time to establish a TCP + TLS connection, for every call.
    pub connect_timeout: Duration,
    /// Streamed uploads have no total timeout (multi-GB bodies); instead they
    /// are aborted when no byte moved for this long.
    pub transfer_idle_timeout: Duration,
    /// Attempts and backoff for one call after transient failures (see
    /// `retry.rs`).
    pub retry: RetryPolicy,
    /// Retries (and recreated uploads) this run may spend on this cloud in all.
    pub retry_budget: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            cloud: None,
            config_file: None,
            api_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            transfer_idle_timeout: Duration::from_secs(120),
            retry: super::retry::default_policy(),
            retry_budget: super::retry::DEFAULT_BUDGET,
        }
    }
}

/// A cloud entry resolved from clouds.yaml (or from `OS_*` variables).
pub(crate) struct ResolvedCloud {
    pub(crate) name: String,
    pub(crate) config: CloudConfig,
}

/// Finds the cloud's configuration the way python-openstacksdk does.
pub(crate) fn resolve_cloud(opts: &ConnectOptions) -> Result<ResolvedCloud, Error> {
    let name = opts.cloud.clone().or_else(|| env_nonempty("OS_CLOUD"));
    let Some(name) = name else {
        if env_nonempty("OS_AUTH_URL").is_none() {
            return Err(Error::Config {
                message: "no cloud selected: pass --cloud, set OS_CLOUD, or set OS_AUTH_URL \
                          and the other OS_* variables"
                    .into(),
            });
        }
        let config = CloudConfig::from_env().map_err(|e| Error::Config {
            message: scrub_config_message(&format!("reading OS_* environment variables: {e}")),
        })?;
        return Ok(ResolvedCloud {
            name: "envvars".into(),
            config,
        });
    };
    let explicit = opts
        .config_file
        .clone()
        .or_else(|| env_nonempty("OS_CLIENT_CONFIG_FILE").map(PathBuf::from));
    let files = load_config_files(explicit.as_deref())?;
    match files.get_cloud_config(&name) {
        Ok(Some(config)) => Ok(ResolvedCloud { name, config }),
        Ok(None) => {
            let mut known = files.get_available_clouds();
            known.sort();
            let searched = match &explicit {
                Some(path) => path.display().to_string(),
                None => "clouds.yaml in ., ~/.config/openstack, /etc/openstack".into(),
            };
            Err(Error::Config {
                message: format!(
                    "cloud `{name}` not found in {searched} (known clouds: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            })
        }
        Err(e) => Err(Error::Config {
            message: scrub_config_message(&e.to_string()),
        }),
    }
}

/// Loads clouds.yaml (+ secure.yaml, clouds-public.yaml). With an explicit
/// file, only that clouds.yaml is read (python-openstacksdk semantics of
/// `OS_CLIENT_CONFIG_FILE`); secure.yaml still comes from
/// `OS_CLIENT_SECURE_FILE` or the search path.
fn load_config_files(explicit: Option<&Path>) -> Result<ConfigFile, Error> {
    let config_err = |e: &dyn std::fmt::Display| Error::Config {
        message: scrub_config_message(&e.to_string()),
    };
    let Some(clouds) = explicit else {
        return ConfigFile::new().map_err(|e| config_err(&e));
    };
    if !clouds.is_file() {
        return Err(Error::Config {
            message: format!("clouds file {} does not exist", clouds.display()),
        });
    }
    let secure = env_nonempty("OS_CLIENT_SECURE_FILE")
        .map(PathBuf::from)
        .or_else(openstack_sdk::config::find_secure_file);
    let mut builder = ConfigFile::builder();
    let sources = openstack_sdk::config::find_vendor_file()
        .into_iter()
        .chain(Some(clouds.to_path_buf()))
        .chain(secure);
    for path in sources {
        builder = builder.add_source(&path).map_err(|e| config_err(&e))?;
    }
    builder.build().map_err(|e| config_err(&e))
}

/// Authenticates with Keystone. The on-disk auth cache is off before the
/// session is created (see the module docs).
pub(crate) async fn connect_session(
    cloud: &ResolvedCloud,
    opts: &ConnectOptions,
    secrets: &Secrets,
) -> Result<AsyncOpenStack, Error> {
    link_auth_plugins();
    let mut config = cloud.config.clone();
    config.auth_cache = Some(false);
    let session = AsyncOpenStack::builder(&config)
        .disable_auth_cache(true)
        .http_timeout(opts.api_timeout)
        .http_connect_timeout(opts.connect_timeout)
        .max_auth_retries(1)
        .connect()
        .await
        .map_err(|e| Error::Auth {
            cloud: cloud.name.clone(),
            message: secrets.scrub(&e.to_string()),
        })?;
    Ok(session)
}

/// Keeps the application-credential auth plugin in the binary.
///
/// The SDK finds auth plugins through `inventory` registrations, which the
/// linker drops for a plugin crate nothing refers to. openstack_sdk 0.22.8's
/// build script is meant to generate such references but generates none from
/// the published (normalized) Cargo.toml, so `auth_type:
/// v3applicationcredential` failed with "not a supported type". `password`
/// and `token` stay linked because the SDK's own code refers to them.
fn link_auth_plugins() {
    std::hint::black_box(&openstack_sdk_auth_applicationcredential::ANCHOR);
}

/// The reqwest client every Glance request is sent with: the same TLS settings
/// as the SDK's client (`cacert`, `verify`), a connect timeout, and no total
/// timeout (JSON calls set one per request; streamed bodies have an idle
/// watchdog in `upload.rs` instead).
pub(crate) fn transfer_client(
    config: &CloudConfig,
    opts: &ConnectOptions,
) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        // The token travels in `X-Auth-Token`, which reqwest (unlike `Authorization`) keeps
        // on a redirect to another host: follow redirects only within the same origin.
        .redirect(reqwest::redirect::Policy::custom(same_origin))
        .connect_timeout(opts.connect_timeout)
        .tcp_keepalive(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(30));
    if let Some(cacert) = &config.cacert {
        let path = expand_tilde(cacert);
        let pem = std::fs::read(&path).map_err(|e| Error::Config {
            message: format!("reading cacert {}: {e}", path.display()),
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::Config {
            message: format!("parsing cacert {}: {e}", path.display()),
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if config.verify == Some(false) {
        tracing::warn!("TLS certificate verification is disabled by `verify: false`");
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| Error::Config {
        message: format!("building the HTTP client: {e}"),
    })
}

/// Follows a redirect only to the origin (scheme, host, port) of the request it answers.
fn same_origin(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let same = attempt
        .previous()
        .last()
        .is_some_and(|from| from.origin() == attempt.url().origin());
    if same && attempt.previous().len() < 5 {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

impl GlanceClient {
    /// The Glance v2 base URL (ends in `/`), from the service catalog plus
    /// version discovery. Re-discovers when the SDK forgot the discovered
    /// version (it does after every re-authentication), so a request never
    /// goes to the unversioned catalog URL.
    pub(crate) async fn image_endpoint(&self) -> Result<Url, Error> {
        if let Some(url) = self.discovered_v2().await {
            return Ok(url);
        }
        // Discovery reads the endpoint's version document: a read like any other, so a load
        // balancer's 503 while Glance restarts is retried on the same schedule.
        let mut failures = 0;
        while let Err(e) = self
            .session
            .discover_service_endpoint(&ServiceType::Image)
            .await
        {
            failures += 1;
            let error = Error::Endpoint {
                cloud: self.cloud.clone(),
                message: self.scrub(&e.to_string()),
            };
            if !self.retrying.again_unclassified(&error, failures).await {
                return Err(error);
            }
        }
        self.discovered_v2().await.ok_or_else(|| Error::Endpoint {
            cloud: self.cloud.clone(),
            message: "the catalog's image endpoint does not offer the v2 API".into(),
        })
    }

    async fn discovered_v2(&self) -> Option<Url> {
        let ep = AsyncClient::get_service_endpoint(
            &self.session,
            &ServiceType::Image,
            Some(&ApiVersion::new(2, 0)),
        )
        .await
        .ok()?;
        if ep.version().major != 2 {
            return None;
        }
        let mut url = ep.url().clone();
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Some(url)
    }

    /// Makes sure the token is valid for at least [`TOKEN_MARGIN`],
    /// re-authenticating with the configured credentials otherwise. Cheap when
    /// the token is fresh (an in-memory expiry check).
    pub(crate) async fn ensure_fresh_token(&self) -> Result<(), Error> {
        let margin = TimeDelta::from_std(TOKEN_MARGIN).unwrap_or(TimeDelta::zero());
        if matches!(
            self.session.get_auth_state(Some(margin)),
            Some(AuthState::Valid)
        ) {
            return Ok(());
        }
        let _single_flight = self.reauth_lock.lock().await;
        match self.session.get_auth_state(Some(margin)) {
            Some(AuthState::Valid) => Ok(()),
            // A plain token cannot be renewed; use it while it lasts.
            Some(AuthState::AboutToExpire) if self.token_auth => Ok(()),
            _ if self.token_auth => Err(Error::Auth {
                cloud: self.cloud.clone(),
                message: "the configured token has expired (auth_type token cannot \
                          re-authenticate)"
                    .into(),
            }),
            _ => self.reauthenticate_locked().await,
        }
    }

    /// Forces a new Keystone token from the configured credentials, as happens
    /// automatically before a token expires. Public so tests and long runs can
    /// exercise the path; afterwards the image endpoint is rediscovered.
    pub async fn reauthenticate(&self) -> Result<(), Error> {
        let _single_flight = self.reauth_lock.lock().await;
        self.reauthenticate_locked().await?;
        self.image_endpoint().await.map(|_| ())
    }

    async fn reauthenticate_locked(&self) -> Result<(), Error> {
        tracing::debug!(cloud = %self.cloud, "re-authenticating");
        // Clearing the SDK's in-memory token store forces a login with the
        // credentials; otherwise the SDK would exchange the old token for a
        // new one, which Keystone gives the *old* expiry.
        self.session.disable_auth_cache();
        self.session
            .authorize(None, false, true)
            .await
            .map_err(|e| Error::Auth {
                cloud: self.cloud.clone(),
                message: self.scrub(&e.to_string()),
            })
    }

    /// Removes every configured secret and the token in use from a message we
    /// did not write ourselves (a Glance or proxy error body may echo the
    /// `X-Auth-Token` header or the request body).
    pub(crate) fn scrub(&self, text: &str) -> String {
        let token = self.session.get_auth_token();
        let token = token.as_ref().map(|t| t.expose_secret());
        scrub_all(text, self.secrets.0.iter().map(String::as_str).chain(token))
    }

    /// `X-Auth-Token` (marked sensitive, so reqwest never prints it) for the
    /// requests we send ourselves.
    /// The project the current token is scoped to (`None` for unscoped or system tokens).
    pub fn project_id(&self) -> Option<String> {
        self.session.get_auth_info()?.token.project?.id
    }

    pub(crate) fn auth_headers(&self) -> Result<HeaderMap, Error> {
        let token = self.session.get_auth_token().ok_or_else(|| Error::Auth {
            cloud: self.cloud.clone(),
            message: "no token available".into(),
        })?;
        let mut headers = HeaderMap::new();
        AuthToken::new(token, None)
            .set_header(&mut headers)
            .map_err(|e| Error::Auth {
                cloud: self.cloud.clone(),
                message: self.scrub(&e.to_string()),
            })?;
        Ok(headers)
    }
}

/// The secret values of one cloud entry, kept only to scrub them out of error
/// messages we did not write ourselves. Debug never shows them.
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    pub(crate) fn from_config(config: &CloudConfig) -> Self {
        Secrets(
            config
                .get_sensitive_values()
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Replaces every occurrence of every secret with `<redacted>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        scrub_all(text, self.0.iter().map(String::as_str))
    }
}

/// Replaces each secret in `text` with `<redacted>`, in every form an error message may
/// quote it: as is, and JSON-escaped (a password with `"` or `\\` inside a JSON body that
/// Keystone or Glance echoes). Longer secrets first, so one that contains another is not
/// left half-redacted.
pub(crate) fn scrub_all<'a>(text: &str, secrets: impl Iterator<Item = &'a str>) -> String {
    let mut forms: Vec<String> = Vec::new();
    for secret in secrets.filter(|s| !s.is_empty()) {
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        if escaped != secret && !escaped.is_empty() {
            forms.push(escaped.to_owned());
        }
        forms.push(secret.to_owned());
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut out = text.to_owned();
    for form in &forms {
        out = out.replace(form.as_str(), "<redacted>");
    }
    out
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets(<{} redacted>)", self.0.len())
    }
}

/// Config parse errors quote the offending value ("invalid type: integer
/// `1234`, expected a string for key `clouds.x.auth.password`"): that value
/// may be a secret, so it is removed before the message goes anywhere.
fn scrub_config_message(message: &str) -> String {
    static QUOTED_VALUE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"(invalid (?:type|value|length): [^`]*)`[^`]*`")
            .expect("static regex is valid")
    });
    QUOTED_VALUE
        .replace_all(message, "$1`<redacted>`")
        .into_owned()
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn expand_tilde(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_and_not_debug_printed() {
        let secrets = Secrets(vec!["hunter2".into()]);
        assert_eq!(
            secrets.scrub("password hunter2 rejected"),
            "password <redacted> rejected"
        );
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_are_scrubbed_in_their_json_escaped_form_too() {
        let secrets = Secrets(vec![r#"hu"nt\er2"#.into(), "hunt".into()]);
        let body = serde_json::json!({"password": r#"hu"nt\er2"#, "other": "hunt"});
        let scrubbed = secrets.scrub(&body.to_string());
        assert_eq!(
            scrubbed,
            r#"{"other":"<redacted>","password":"<redacted>"}"#
        );
        let scrubbed = scrub_all("token gAAAA-x and gAAAA", ["gAAAA-x", "gAAAA"].into_iter());
        assert_eq!(scrubbed, "token <redacted> and <redacted>");
    }

    #[test]
    fn config_values_are_scrubbed() {
        let msg = "invalid type: integer `1234`, expected a string for key \
                   `clouds.x.auth.password`";
        let scrubbed = scrub_config_message(msg);
        assert!(!scrubbed.contains("1234"), "{scrubbed}");
        assert!(scrubbed.contains("clouds.x.auth.password"), "{scrubbed}");
    }
}
