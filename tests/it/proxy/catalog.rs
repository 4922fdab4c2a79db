//! The proxy in the Keystone catalog: a region of its own with one `public` image endpoint,
//! and a clouds.yaml whose `admin` and `member` clouds use that region.
//!
//! Why a region rather than a changed RegionOne endpoint: tests run in parallel on one
//! sandbox, and every other test must keep reaching Glance directly. A region per proxy
//! keeps proxies of parallel tests apart too, and the client takes the same path as in
//! production: token → catalog → endpoint of its region → version discovery.
//!
//! Keystone is driven with its REST API (faster than the `openstack` CLI by seconds).
//! `ci/sandbox/provision.py` leaves endpoints of other regions alone, so re-provisioning a
//! running sandbox does not pull the proxy out from under a test.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use image_manager::glance::ConnectOptions;
use serde_json::{Value, json};
use url::Url;

use crate::sandbox;

/// The proxy registered in the catalog. `Drop` removes the endpoint and the region, also
/// when the test panics.
pub(crate) struct ProxiedCloud {
    /// A clouds.yaml with clouds `admin` and `member`: the sandbox's credentials, with
    /// `region_name` set to [`ProxiedCloud::region`].
    pub(crate) clouds_yaml: PathBuf,
    pub(crate) region: String,
    endpoint_id: String,
    _dir: tempfile::TempDir,
}

impl ProxiedCloud {
    /// Creates region `it-proxy-<pid>-<n>` with a `public` image endpoint at `proxy_url`,
    /// and the clouds.yaml that selects it.
    pub(crate) async fn register(proxy_url: &Url) -> ProxiedCloud {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let region = format!(
            "it-proxy-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let keystone = Keystone::login().await;
        let service_id = keystone.image_service().await;
        keystone
            .call(
                reqwest::Method::POST,
                "regions",
                Some(json!({"region": {
                    "id": region,
                    "description": "image-manager integration test: fault proxy",
                }})),
            )
            .await;
        let endpoint = keystone
            .call(
                reqwest::Method::POST,
                "endpoints",
                Some(json!({"endpoint": {
                    "service_id": service_id,
                    "interface": "public",
                    "region_id": region,
                    // Like the sandbox's own endpoints: no trailing slash.
                    "url": proxy_url.as_str().trim_end_matches('/'),
                    "enabled": true,
                }})),
            )
            .await;
        let endpoint_id = endpoint["endpoint"]["id"].as_str().unwrap().to_owned();

        let dir = tempfile::tempdir().expect("temp dir");
        let clouds_yaml = dir.path().join("clouds.yaml");
        let sandbox_clouds = sandbox::clouds();
        let mut clouds = serde_json::Map::new();
        for name in ["admin", "member"] {
            let mut cloud = sandbox_clouds[name].clone();
            cloud["region_name"] = Value::String(region.clone());
            clouds.insert(name.to_owned(), cloud);
        }
        // JSON is YAML; the temp dir is private (0700), the file holds passwords.
        let text = serde_json::to_string_pretty(&json!({ "clouds": clouds })).unwrap();
        std::fs::write(&clouds_yaml, text).expect("write clouds.yaml");
        ProxiedCloud {
            clouds_yaml,
            region,
            endpoint_id,
            _dir: dir,
        }
    }

    /// How to reach `cloud` (`admin` or `member`) through the proxy, with default timeouts
    /// and retries.
    pub(crate) fn options(&self, cloud: &str) -> ConnectOptions {
        ConnectOptions {
            cloud: Some(cloud.into()),
            config_file: Some(self.clouds_yaml.clone()),
            ..ConnectOptions::default()
        }
    }
}

impl Drop for ProxiedCloud {
    fn drop(&mut self) {
        let endpoint = self.endpoint_id.clone();
        let region = self.region.clone();
        // Drop cannot await and the test's runtime may be unwinding: a thread with its own
        // runtime, as `sandbox::Cleanup` does.
        let cleaner = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                let keystone = Keystone::login().await;
                for path in [format!("endpoints/{endpoint}"), format!("regions/{region}")] {
                    if let Err(e) = keystone.delete(&path).await {
                        eprintln!("proxy cleanup: DELETE {path}: {e}");
                    }
                }
            });
        });
        let _ = cleaner.join();
    }
}

/// A token of the sandbox's `admin` cloud (admin project), for raw requests.
pub(crate) async fn admin_token() -> String {
    Keystone::login().await.token
}

/// The sandbox Glance itself: `SANDBOX_GLANCE_URL` (what `ci/sandbox.sh env` exports), else
/// the RegionOne public image endpoint of the catalog.
pub(crate) async fn glance_url() -> Url {
    if let Some(url) = std::env::var("SANDBOX_GLANCE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Url::parse(&url).expect("SANDBOX_GLANCE_URL");
    }
    let keystone = Keystone::login().await;
    let endpoints = keystone
        .call(
            reqwest::Method::GET,
            "endpoints?interface=public&region_id=RegionOne",
            None,
        )
        .await;
    let service = keystone.image_service().await;
    let url = endpoints["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["service_id"] == service)
        .and_then(|e| e["url"].as_str())
        .expect("a RegionOne public image endpoint");
    Url::parse(url).expect("image endpoint URL")
}

/// An admin session on the sandbox Keystone's v3 API.
struct Keystone {
    http: reqwest::Client,
    /// `…/v3/`
    base: Url,
    token: String,
}

impl Keystone {
    async fn login() -> Keystone {
        let admin = &sandbox::clouds()["admin"]["auth"];
        let field = |key: &str| admin[key].as_str().unwrap_or_default().to_owned();
        let base =
            Url::parse(&format!("{}/", field("auth_url").trim_end_matches('/'))).expect("auth_url");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": field("username"),
                "domain": {"name": field("user_domain_name")},
                "password": field("password"),
            }}},
            "scope": {"project": {
                "name": field("project_name"),
                "domain": {"name": field("project_domain_name")},
            }},
        }});
        let response = http
            .post(base.join("auth/tokens").unwrap())
            .json(&body)
            .send()
            .await
            .expect("Keystone: POST /v3/auth/tokens");
        assert_eq!(
            response.status().as_u16(),
            201,
            "Keystone login as admin failed: is the sandbox up?"
        );
        let token = response.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_owned();
        Keystone { http, base, token }
    }

    /// The id of the `image` service.
    async fn image_service(&self) -> String {
        let services = self
            .call(reqwest::Method::GET, "services?type=image", None)
            .await;
        services["services"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no image service in the catalog: {services}"))
            .to_owned()
    }

    /// One call that must succeed; its JSON answer.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), self.base.join(path).unwrap())
            .header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("Keystone {method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "Keystone {method} {path}: {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A DELETE where 404 (already gone) is fine.
    async fn delete(&self, path: &str) -> Result<(), String> {
        let response = self
            .http
            .delete(self.base.join(path).unwrap())
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            204 | 404 => Ok(()),
            status => Err(format!(
                "{status}: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }
}
