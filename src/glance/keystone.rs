//! Keystone v3 without the SDK's HTTP client: the token request, the service catalog, and the
//! version discovery of the image endpoint — the pure halves (requests to build, answers to
//! read); `auth.rs` sends them.
//!
//! Why not the SDK's session: `openstack_sdk` 0.22 sends these with an internal reqwest client
//! that cannot be configured, and that client follows redirects to any host (a 307/308 from a
//! hijacked `auth_url` would resend the password body there) and reads answers of any size.
//! Our client (`auth::http_client`) follows redirects only within one origin, caps every
//! answer and has a per-call timeout. What the SDK still gives us: clouds.yaml parsing
//! ([`CloudConfig`]) and the Glance request builders.
//!
//! Supported `auth_type`s: `password`/`v3password` (the default, as in python-openstacksdk),
//! `v3applicationcredential`, `token`/`v3token`. Scope: `project_id`, or `project_name` with
//! `project_domain_id`/`project_domain_name` (falling back to the user's domain, then
//! `default`), `domain_id`/`domain_name`, or `system_scope`. Application credentials carry
//! their own scope and take none.

use chrono::{DateTime, Utc};
use openstack_sdk::config::CloudConfig;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

/// The most of a Keystone token answer that is read. A token with the service catalog of a
/// large public cloud is some hundreds of KiB.
pub(crate) const MAX_TOKEN_ANSWER: usize = 4 << 20;

/// The most of a version-discovery document that is read.
pub(crate) const MAX_VERSIONS_ANSWER: usize = 1 << 20;

/// A token request ready to send: where, and the JSON body (which holds the credentials, so
/// it has no `Debug` and is never logged).
pub(crate) struct Login {
    /// `…/v3/auth/tokens`.
    pub(crate) url: Url,
    pub(crate) body: Value,
}

/// What a token answer tells us.
pub(crate) struct Token {
    pub(crate) value: SecretString,
    pub(crate) expires_at: DateTime<Utc>,
    /// `expires_at - issued_at` (zero when Keystone does not say when it issued the token).
    pub(crate) lifetime: std::time::Duration,
    /// The project the token is scoped to (`None` for a domain or system scope).
    pub(crate) project_id: Option<String>,
    catalog: Vec<Value>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// The token request for a cloud entry. Errors are messages for a person (the entry is
/// incomplete or asks for what we do not support).
pub(crate) fn login(config: &CloudConfig) -> Result<Login, String> {
    let auth = config
        .auth
        .as_ref()
        .ok_or("the cloud entry has no `auth` section")?;
    let auth_url = auth
        .auth_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or("the cloud entry has no `auth.auth_url`")?;
    let url = tokens_url(auth_url)?;
    let kind = auth_kind(config)?;
    let identity = match kind {
        AuthKind::Password => {
            let password = auth
                .password
                .as_ref()
                .ok_or("`auth_type: password` needs `auth.password`")?;
            let mut user = user_ref(
                auth.user_id.as_deref(),
                auth.username.as_deref(),
                domain_ref(
                    auth.user_domain_id.as_deref(),
                    auth.user_domain_name.as_deref(),
                ),
            )
            .ok_or("`auth_type: password` needs `auth.username` or `auth.user_id`")?;
            user["password"] = json!(password.expose_secret());
            json!({"methods": ["password"], "password": {"user": user}})
        }
        AuthKind::ApplicationCredential => {
            let secret = auth.application_credential_secret.as_ref().ok_or(
                "`auth_type: v3applicationcredential` needs `auth.application_credential_secret`",
            )?;
            let mut credential = match (
                auth.application_credential_id.as_deref(),
                auth.application_credential_name.as_deref(),
            ) {
                (Some(id), _) if !id.is_empty() => json!({"id": id}),
                (_, Some(name)) if !name.is_empty() => {
                    let user = user_ref(
                        auth.user_id.as_deref(),
                        auth.username.as_deref(),
                        domain_ref(auth.user_domain_id.as_deref(), auth.user_domain_name.as_deref()),
                    )
                    .ok_or("an application credential given by name also needs `auth.username` or `auth.user_id`")?;
                    json!({"name": name, "user": user})
                }
                _ => {
                    return Err("`auth_type: v3applicationcredential` needs \
                                `auth.application_credential_id` (or `_name`)"
                        .into());
                }
            };
            credential["secret"] = json!(secret.expose_secret());
            // An application credential carries its own scope; Keystone refuses another.
            return Ok(Login {
                url,
                body: json!({"auth": {"identity": {
                    "methods": ["application_credential"],
                    "application_credential": credential,
                }}}),
            });
        }
        AuthKind::Token => {
            let token = auth
                .token
                .as_ref()
                .ok_or("`auth_type: token` needs `auth.token`")?;
            json!({"methods": ["token"], "token": {"id": token.expose_secret()}})
        }
    };
    let mut body = json!({"auth": {"identity": identity}});
    if let Some(scope) = scope(config) {
        body["auth"]["scope"] = scope;
    }
    Ok(Login { url, body })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthKind {
    Password,
    ApplicationCredential,
    Token,
}

/// The kind of login a cloud entry asks for. Without `auth_type`, python-openstacksdk assumes
/// `password`; we do the same unless only an application-credential secret or a token is given.
pub(crate) fn auth_kind(config: &CloudConfig) -> Result<AuthKind, String> {
    match config
        .auth_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") => {
            let auth = config.auth.as_ref();
            let has = |field: Option<&SecretString>| field.is_some();
            Ok(match auth {
                Some(a) if has(a.password.as_ref()) => AuthKind::Password,
                Some(a) if has(a.application_credential_secret.as_ref()) => {
                    AuthKind::ApplicationCredential
                }
                Some(a) if has(a.token.as_ref()) => AuthKind::Token,
                _ => AuthKind::Password,
            })
        }
        Some("password" | "v3password") => Ok(AuthKind::Password),
        Some(
            "v3applicationcredential"
            | "applicationcredential"
            | "application_credential"
            | "v3_application_credential",
        ) => Ok(AuthKind::ApplicationCredential),
        Some("token" | "v3token" | "tokenv3") => Ok(AuthKind::Token),
        Some(other) => Err(format!(
            "`auth_type: {other}` is not supported (supported: password, \
             v3applicationcredential, token)"
        )),
    }
}

/// `…/v3/auth/tokens` for an `auth_url` given with or without its version (`…/v3`, `…/v3/`,
/// `…/identity`, `…:5000`).
fn tokens_url(auth_url: &str) -> Result<Url, String> {
    let shown = crate::redact::url(auth_url);
    let mut url = Url::parse(auth_url).map_err(|e| format!("auth_url {shown}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!("auth_url {shown}: not an http(s) URL"));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    let last = path.rsplit('/').next().unwrap_or_default();
    let path = if last == "v3" || last.starts_with("v3.") {
        format!("{path}/auth/tokens")
    } else if last == "v2.0" {
        return Err(format!(
            "auth_url {shown}: Keystone v2.0 is not supported; use the v3 endpoint"
        ));
    } else {
        format!("{path}/v3/auth/tokens")
    };
    url.set_path(&path);
    Ok(url)
}

fn domain_ref(id: Option<&str>, name: Option<&str>) -> Option<Value> {
    match (id.filter(|s| !s.is_empty()), name.filter(|s| !s.is_empty())) {
        (Some(id), _) => Some(json!({"id": id})),
        (None, Some(name)) => Some(json!({"name": name})),
        (None, None) => None,
    }
}

/// A user by id, or by name within a domain (Keystone's default domain when none is given).
fn user_ref(id: Option<&str>, name: Option<&str>, domain: Option<Value>) -> Option<Value> {
    match (id.filter(|s| !s.is_empty()), name.filter(|s| !s.is_empty())) {
        (Some(id), _) => Some(json!({"id": id})),
        (None, Some(name)) => Some(json!({
            "name": name,
            "domain": domain.unwrap_or_else(|| json!({"id": "default"})),
        })),
        (None, None) => None,
    }
}

/// The scope the entry asks for: a project (by id, or by name in its domain), a domain, or the
/// system; `None` for an unscoped token.
fn scope(config: &CloudConfig) -> Option<Value> {
    let auth = config.auth.as_ref()?;
    let nonempty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(id) = nonempty(&auth.project_id) {
        return Some(json!({"project": {"id": id}}));
    }
    if let Some(name) = nonempty(&auth.project_name) {
        let domain = domain_ref(
            auth.project_domain_id.as_deref(),
            auth.project_domain_name.as_deref(),
        )
        .or_else(|| {
            domain_ref(
                auth.user_domain_id.as_deref(),
                auth.user_domain_name.as_deref(),
            )
        })
        .unwrap_or_else(|| json!({"id": "default"}));
        return Some(json!({"project": {"name": name, "domain": domain}}));
    }
    if let Some(domain) = domain_ref(auth.domain_id.as_deref(), auth.domain_name.as_deref()) {
        return Some(json!({"domain": domain}));
    }
    nonempty(&auth.system_scope).map(|system| json!({"system": {system: true}}))
}

/// Reads a token answer: the token from the `X-Subject-Token` header, the rest from the body.
pub(crate) fn token(subject_token: Option<&str>, body: &[u8]) -> Result<Token, String> {
    let value = subject_token
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no X-Subject-Token header")?;
    let body: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let token = body
        .get("token")
        .ok_or("the answer has no `token` object")?;
    let expires_at = token
        .get("expires_at")
        .and_then(Value::as_str)
        .ok_or("the token has no `expires_at`")?;
    let expires_at = DateTime::parse_from_rfc3339(expires_at)
        .map_err(|e| format!("the token's `expires_at` is not a timestamp: {e}"))?
        .with_timezone(&Utc);
    let lifetime = token
        .get("issued_at")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .and_then(|issued| (expires_at - issued.with_timezone(&Utc)).to_std().ok())
        .unwrap_or_default();
    let project_id = token
        .pointer("/project/id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let catalog = match token.get("catalog") {
        Some(Value::Array(services)) => services.clone(),
        _ => Vec::new(),
    };
    Ok(Token {
        value: SecretString::from(value.to_owned()),
        expires_at,
        lifetime,
        project_id,
        catalog,
    })
}

impl Token {
    /// The catalog URL of the image service for this interface and region: an endpoint of a
    /// service of type `image` whose interface matches (`publicURL` is read as `public`) and,
    /// when a region is given, whose region matches; without a region, the first one.
    pub(crate) fn image_endpoint(
        &self,
        interface: Option<&str>,
        region: Option<&str>,
    ) -> Result<Url, String> {
        let interface = interface
            .unwrap_or("public")
            .trim_end_matches("URL")
            .to_ascii_lowercase();
        if self.catalog.is_empty() {
            return Err(
                "the token has no service catalog (is the cloud entry scoped to a \
                        project? set `auth.project_name` or `auth.project_id`)"
                    .into(),
            );
        }
        let mut regions: Vec<&str> = Vec::new();
        for service in &self.catalog {
            if service.get("type").and_then(Value::as_str) != Some("image") {
                continue;
            }
            let endpoints = service.get("endpoints").and_then(Value::as_array);
            for endpoint in endpoints.into_iter().flatten() {
                let field = |k: &str| endpoint.get(k).and_then(Value::as_str);
                if field("interface").map(str::to_ascii_lowercase).as_deref()
                    != Some(interface.as_str())
                {
                    continue;
                }
                let here = field("region_id").or_else(|| field("region"));
                if region.is_some() && here != region && field("region") != region {
                    regions.extend(here);
                    continue;
                }
                let raw = field("url").ok_or("an image endpoint has no `url`")?;
                let url = Url::parse(raw)
                    .map_err(|e| format!("image endpoint {}: {e}", crate::redact::url(raw)))?;
                if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                    return Err(format!(
                        "image endpoint {}: not an http(s) URL",
                        crate::redact::url(raw)
                    ));
                }
                return Ok(url);
            }
        }
        regions.sort_unstable();
        regions.dedup();
        Err(match (region, regions.is_empty()) {
            (Some(region), false) => format!(
                "the catalog has no {interface} image endpoint in region `{region}` \
                 (regions with one: {})",
                regions.join(", ")
            ),
            (Some(region), true) => {
                format!("the catalog has no {interface} image endpoint in region `{region}`")
            }
            (None, _) => format!("the catalog has no {interface} image endpoint"),
        })
    }
}

/// Whether a catalog URL already names the v2 API (`…/v2`, `…/v2/`, `…/v2.0`), so that no
/// discovery is needed.
pub(crate) fn is_versioned_v2(url: &Url) -> bool {
    let last = url.path().trim_end_matches('/').rsplit('/').next();
    last.is_some_and(|l| l == "v2" || l.starts_with("v2."))
}

/// The Glance v2 base URL (ending in `/`) from the endpoint's version document (Glance answers
/// `300 Multiple Choices` with `{"versions": [{"id": "v2.17", "links": [{"rel": "self",
/// "href": …}]}, …]}`).
///
/// The `self` link is used when it points to the catalog URL's own origin; otherwise (a
/// Glance behind a proxy or load balancer that does not know its public name, a classic
/// misconfiguration) the version's path is appended to the catalog URL — the catalog is what
/// the operator configured, and the token must not go to a host it does not name.
pub(crate) fn v2_from_versions(catalog_url: &Url, body: &[u8]) -> Result<Url, String> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the version document is not JSON: {e}"))?;
    let versions = match doc.get("versions") {
        Some(Value::Array(list)) => list.as_slice(),
        Some(Value::Object(o)) => match o.get("values") {
            Some(Value::Array(list)) => list.as_slice(),
            _ => &[],
        },
        _ => &[],
    };
    let v2 = versions.iter().find(|v| {
        let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
        let status = v.get("status").and_then(Value::as_str).unwrap_or_default();
        (id == "v2" || id.starts_with("v2.")) && !status.eq_ignore_ascii_case("deprecated")
    });
    let Some(v2) = v2 else {
        return Err("the endpoint does not offer the image API v2".into());
    };
    let href = v2
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|l| l.get("rel").and_then(Value::as_str) == Some("self"))
        .and_then(|l| l.get("href").and_then(Value::as_str))
        .and_then(|h| catalog_url.join(h).ok());
    let mut url = match href {
        Some(href) if href.origin() == catalog_url.origin() => href,
        _ => {
            let mut url = catalog_url.clone();
            let path = format!("{}/v2/", url.path().trim_end_matches('/'));
            url.set_path(&path);
            url
        }
    };
    with_slash(&mut url);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// `url` with a path ending in `/`, so that relative joins stay below it.
pub(crate) fn with_slash(url: &mut Url) {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
}

#[cfg(test)]
mod tests;
