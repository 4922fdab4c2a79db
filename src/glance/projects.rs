//! Keystone project look-ups: the project names a catalog shares images with, resolved to ids
//! once per run, at the observation (the planner stays pure and only joins names to ids).
//!
//! A name is looked up in its domain: `GET /v3/domains?name=D` (else `GET /v3/domains/D`: the
//! catalog may give the domain's id, e.g. `default`), then `GET /v3/projects?name=P&domain_id=…`
//! — one request per distinct domain and one per distinct project, however many images and
//! versions list them. The requests go to the Keystone the client logged in to (`auth_url`),
//! with the same HTTP client, token, timeout, answer cap and retry rules as every Glance read.
//!
//! Listing projects and domains is an admin (or domain/system reader) right under Keystone's
//! default policy. A failed look-up never fails the run: each name gets its reason, and the
//! plan makes it an error of the definitions that use it (they can name the project by id).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::header::ACCEPT;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::login::read_capped;
use super::retry::Repeat;
use super::{Error, GlanceClient};

/// The most of one Keystone listing answer that is read (a domain can hold many projects of
/// one name only in theory: names are unique per domain).
pub(crate) const MAX_LOOKUP_ANSWER: usize = 1 << 20;

/// A project as a catalog names it: its name and its domain (a name or an id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProjectName {
    pub name: String,
    pub domain: String,
}

/// What Keystone said about each name: the project id, or why there is none (for people).
pub type Resolved = BTreeMap<ProjectName, Result<String, String>>;

impl GlanceClient {
    /// Resolves every `(name, domain)` of `names`, each domain and each project once. Never
    /// fails as a whole: see the module docs.
    pub async fn resolve_projects(&self, names: &BTreeSet<(&str, &str)>) -> Resolved {
        let domains: BTreeSet<&str> = names.iter().map(|(_, domain)| *domain).collect();
        let mut domain_ids = BTreeMap::new();
        for domain in domains {
            domain_ids.insert(domain, self.domain_id(domain).await);
        }
        let mut resolved = Resolved::new();
        for &(name, domain) in names {
            let id = match &domain_ids[domain] {
                Ok(domain_id) => self.project_id_in(name, domain, domain_id).await,
                Err(message) => Err(message.clone()),
            };
            let key = ProjectName {
                name: name.to_owned(),
                domain: domain.to_owned(),
            };
            resolved.insert(key, id);
        }
        resolved
    }

    /// The id of the domain named (or with the id) `domain`.
    async fn domain_id(&self, domain: &str) -> Result<String, String> {
        let mut url = self.identity_url("domains")?;
        url.query_pairs_mut().append_pair("name", domain);
        let ids = self
            .identity_get("look up domain", &url)
            .await
            .and_then(|body| parse_listing(&body, "domains", None).map_err(response))
            .map_err(|e| lookup_failed(&format!("domain {domain}"), &e))?;
        match ids.as_slice() {
            [id] => return Ok(id.clone()),
            [] => {}
            _ => return Err(format!("Keystone lists several domains named {domain}")),
        }
        // Not a name: maybe the domain's id.
        let by_id = self.identity_url(&format!("domains/{}", segment(domain)))?;
        match self.identity_get("look up domain", &by_id).await {
            Ok(body) => parse_one(&body, "domain").map_err(|e| format!("domain {domain}: {e}")),
            Err(Error::Api { status: 404, .. }) => Err(format!(
                "Keystone has no domain named {domain} (nor with that id)"
            )),
            Err(e) => Err(lookup_failed(&format!("domain {domain}"), &e)),
        }
    }

    /// The id of the project `name` in the domain `domain_id` (`domain` as the catalog wrote it).
    async fn project_id_in(
        &self,
        name: &str,
        domain: &str,
        domain_id: &str,
    ) -> Result<String, String> {
        let mut url = self.identity_url("projects")?;
        url.query_pairs_mut()
            .append_pair("name", name)
            .append_pair("domain_id", domain_id);
        let what = format!("project {name} (domain {domain})");
        let ids = self
            .identity_get("look up project", &url)
            .await
            .and_then(|body| parse_listing(&body, "projects", Some(domain_id)).map_err(response))
            .map_err(|e| lookup_failed(&what, &e))?;
        match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(format!("Keystone has no {what}")),
            _ => Err(format!("Keystone lists several projects for {what}")),
        }
    }

    /// `…/v3/<path>` of the Keystone this client logs in to: the token URL is
    /// `…/v3/auth/tokens`, so its grandparent is the identity API's root.
    fn identity_url(&self, path: &str) -> Result<Url, String> {
        self.login
            .url
            .join(&format!("../{path}"))
            .map_err(|e| format!("cannot build a Keystone URL: {e}"))
    }

    /// One Keystone read with the client's token, under the retry rules of a read; a 401 (a
    /// token revoked early) logs in again once.
    async fn identity_get(&self, operation: &'static str, url: &Url) -> Result<Value, Error> {
        self.retrying
            .run(Repeat::Read, || async {
                let mut reauthenticated = false;
                loop {
                    self.ensure_fresh_token().await?;
                    let seen = self.session()?;
                    let rsp = self
                        .transfer
                        .get(url.clone())
                        .headers(self.auth_headers()?)
                        .header(ACCEPT, "application/json")
                        .timeout(self.api_timeout)
                        .send()
                        .await
                        .map_err(|source| Error::Transport {
                            operation,
                            image_id: None,
                            source,
                        })?;
                    let status = rsp.status();
                    let body = read_capped(operation, rsp, MAX_LOOKUP_ANSWER).await?;
                    if status == reqwest::StatusCode::UNAUTHORIZED
                        && !reauthenticated
                        && !self.token_auth
                    {
                        reauthenticated = true;
                        self.log_in_again(&seen).await?;
                        continue;
                    }
                    if !status.is_success() {
                        return Err(self.api_error(operation, status, &body));
                    }
                    return serde_json::from_slice(&body).map_err(|e| Error::Response {
                        operation,
                        message: format!("invalid JSON: {e}"),
                    });
                }
            })
            .await
    }
}

/// Why `what` could not be looked up, for people: Keystone's refusal (with what to do about
/// it) or the failure.
fn lookup_failed(what: &str, error: &Error) -> String {
    match error.http_status() {
        Some(403) => format!(
            "cannot look up {what}: Keystone refuses these credentials ({error}); name the \
             project by `project_id`, or plan with credentials that may list projects"
        ),
        _ => format!("cannot look up {what}: {error}"),
    }
}

fn response(message: String) -> Error {
    Error::Response {
        operation: "look up project",
        message,
    }
}

/// A catalog value as one URL path segment (a domain id from the catalog).
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The ids of a Keystone listing (`{"projects": [{"id": …, "domain_id": …}, …]}`); with
/// `domain_id`, only entries of that domain (Keystone filtered already; a proxy or an old
/// Keystone that ignores the filter must not make us pick another domain's project).
pub(crate) fn parse_listing(
    body: &Value,
    key: &str,
    domain_id: Option<&str>,
) -> Result<Vec<String>, String> {
    let list = body[key]
        .as_array()
        .ok_or_else(|| format!("no `{key}` list in Keystone's answer"))?;
    list.iter()
        .filter(|entry| domain_id.is_none_or(|d| entry["domain_id"].as_str() == Some(d)))
        .map(|entry| {
            entry["id"]
                .as_str()
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("an entry of `{key}` without `id`"))
        })
        .collect()
}

/// The id of a single-object answer (`{"domain": {"id": …}}`).
pub(crate) fn parse_one(body: &Value, key: &str) -> Result<String, String> {
    body[key]["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("no `{key}.id` in Keystone's answer"))
}
