//! Finding and reaching the cloud: clouds.yaml discovery (as python-openstacksdk does it), the
//! HTTP client every Keystone and Glance request is sent with, and the secrets to scrub.
//!
//! The same clouds.yaml that `openstack image list` uses works unchanged: clouds.yaml +
//! secure.yaml (+ clouds-public.yaml profiles) from the current directory,
//! `~/.config/openstack` and `/etc/openstack`, parsed by `openstack_sdk`; `region_name`,
//! `interface`, `cacert`, `verify` (TLS verification stays on unless the cloud says
//! `verify: false`). Logging in is `login.rs` (with `keystone.rs`).
//!
//! What we add on top of the SDK's configuration, and why:
//! - `OS_CLIENT_CONFIG_FILE` (python-openstacksdk's variable; the Rust SDK only knows
//!   `OS_CLIENT_CONFIG_PATH`): when set, that file *replaces* the clouds.yaml search, as in
//!   python-openstacksdk.
//! - No token or discovery result is ever cached on disk (the SDK's session, which had such a
//!   cache, is not used): every run logs in afresh, and a CI job never picks up what another
//!   run left behind.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use openstack_sdk::config::{CloudConfig, ConfigFile};

use super::error::Error;
use super::retry::RetryPolicy;

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
    /// What the command line overrides of the cloud's entry (openstackclient's
    /// `--os-region-name`, `--os-cacert`, `--insecure`).
    pub overrides: Overrides,
}

/// Command-line overrides of a clouds.yaml entry, with openstackclient's meaning: they win
/// over the file for this run only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `region_name`: which region's endpoints to use.
    pub region: Option<String>,
    /// `cacert`: the CA bundle that verifies Keystone's and Glance's certificates.
    pub cacert: Option<PathBuf>,
    /// `verify: false`: no TLS certificate verification (logged as a warning).
    pub insecure: bool,
}

impl Overrides {
    fn apply(&self, config: &mut CloudConfig) {
        if let Some(region) = &self.region {
            config.region_name = Some(region.clone());
        }
        if let Some(cacert) = &self.cacert {
            config.cacert = Some(cacert.display().to_string());
        }
        if self.insecure {
            config.verify = Some(false);
        }
    }
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
            overrides: Overrides::default(),
        }
    }
}

/// A cloud entry resolved from clouds.yaml (or from `OS_*` variables).
pub(crate) struct ResolvedCloud {
    pub(crate) name: String,
    pub(crate) config: CloudConfig,
}

/// Finds the cloud's configuration the way python-openstacksdk does, with the command line's
/// overrides applied.
pub(crate) fn resolve_cloud(opts: &ConnectOptions) -> Result<ResolvedCloud, Error> {
    let mut cloud = find_cloud(opts)?;
    opts.overrides.apply(&mut cloud.config);
    Ok(cloud)
}

fn find_cloud(opts: &ConnectOptions) -> Result<ResolvedCloud, Error> {
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

/// The reqwest client every Keystone and Glance request is sent with: the cloud's TLS
/// settings (`cacert`, `verify`), a connect timeout, redirects only within one origin, and no
/// total timeout (JSON calls set one per request; streamed bodies have an idle watchdog in
/// `upload.rs` instead).
pub(crate) fn http_client(
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
        tracing::warn!("TLS certificate verification is disabled (`verify: false` or --insecure)");
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

/// The secret values of one cloud entry, kept only to scrub them out of error
/// messages we did not write ourselves. Debug never shows them.
#[derive(Clone, Default)]
pub(crate) struct Secrets(pub(super) Vec<String>);

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
            crate::redact::secrets(
                "password hunter2 rejected",
                secrets.0.iter().map(String::as_str)
            ),
            "password <redacted> rejected"
        );
        assert!(!format!("{secrets:?}").contains("hunter2"));
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
