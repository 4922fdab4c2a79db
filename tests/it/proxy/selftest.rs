//! Self-tests of the fault proxy against the real sandbox: the catalog route, each fault
//! once, and a streamed upload. Tests that use the proxy rely on exactly these behaviours.

use std::time::{Duration, Instant};

use image_manager::glance::{ConnectOptions, GlanceClient};
use serde_json::{Value, json};
use url::Url;

use super::{FaultProxy, Faults, Outcome, ProxiedCloud, admin_token, glance_url};
use crate::sandbox::{Cleanup, raw_payload, sent_digest, unique_name};

/// A raw client for requests the library would retry or shape: no retries, no env proxy.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// `POST /v2/images` of a small raw image with a chosen id.
fn create_body(id: &str) -> Value {
    json!({
        "id": id,
        "name": unique_name("proxy"),
        "disk_format": "raw",
        "container_format": "bare",
    })
}

async fn get_image(http: &reqwest::Client, base: &Url, token: &str, id: &str) -> (u16, Value) {
    let response = http
        .get(base.join(&format!("v2/images/{id}")).unwrap())
        .header("X-Auth-Token", token)
        .send()
        .await
        .expect("GET image");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_without_faults_is_reached_through_the_catalog() {
    let proxy = FaultProxy::start(glance_url().await, Faults::default());
    let cloud = ProxiedCloud::register(proxy.url()).await;
    let options = cloud.options("admin");
    let client = GlanceClient::connect(&options)
        .await
        .unwrap_or_else(|e| panic!("connect via proxy: {e}\n{}", proxy.log_text()));
    assert_eq!(client.region(), Some(cloud.region.as_str()));
    let state = client
        .list_images()
        .await
        .unwrap_or_else(|e| panic!("list via proxy: {e}\n{}", proxy.log_text()));
    assert_eq!(state.cloud, "admin");

    let log = proxy.log();
    let text = proxy.log_text();
    // Version discovery went to the catalog URL, i.e. the proxy …
    assert!(
        log.iter().any(|e| e.method == "GET" && e.path == "/"),
        "no version discovery through the proxy:\n{text}"
    );
    // … and every Glance API call followed the rewritten links back through it.
    let api_calls = log.iter().filter(|e| e.path.starts_with("/v2/")).count() as u64;
    assert_eq!(api_calls, client.api_calls(), "{text}");
    assert!(api_calls >= 2, "{text}");
    assert!(
        log.iter()
            .all(|e| matches!(e.outcome, Outcome::Forwarded(200 | 300))),
        "{text}"
    );
    assert_eq!(proxy.requests(), log.len() as u64);
    assert_eq!((proxy.injected_503(), proxy.dropped()), (0, 0));

    // The member cloud of the same file uses the same region.
    let member = ConnectOptions {
        cloud: Some("member".into()),
        ..options
    };
    let member = GlanceClient::connect(&member)
        .await
        .expect("member via proxy");
    let before = proxy.requests();
    member.list_images().await.expect("member lists via proxy");
    assert!(proxy.requests() > before, "{}", proxy.log_text());
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_fail_every_answers_503_without_glance_and_delay_holds_answers() {
    let proxy = FaultProxy::start(
        glance_url().await,
        Faults {
            fail_every: Some(2),
            ..Faults::default()
        },
    );
    let token = admin_token().await;
    let http = raw_client();
    let url = proxy.url().join("v2/images?limit=1").unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = http
            .get(url.clone())
            .header("X-Auth-Token", &token)
            .send()
            .await
            .expect("GET via proxy");
        let status = response.status().as_u16();
        if status == 503 {
            let content_type = response.headers()["content-type"].to_str().unwrap();
            assert!(content_type.starts_with("text/html"), "{content_type}");
            assert!(response.text().await.unwrap().contains("503"));
        }
        statuses.push(status);
    }
    let text = proxy.log_text();
    assert_eq!(statuses, [200, 503, 200, 503], "{text}");
    assert_eq!((proxy.requests(), proxy.injected_503()), (4, 2), "{text}");
    let mut log = proxy.log();
    log.sort_by_key(|e| e.n);
    let outcomes: Vec<_> = log.iter().map(|e| (e.n, e.outcome.clone())).collect();
    assert_eq!(
        outcomes,
        [
            (1, Outcome::Forwarded(200)),
            (2, Outcome::Injected503),
            (3, Outcome::Forwarded(200)),
            (4, Outcome::Injected503),
        ]
    );
    assert!(log.iter().all(|e| e.path == "/v2/images?limit=1"));

    // Faults change while running: no more 503s, every answer held back.
    let delay = Duration::from_millis(400);
    proxy.set_faults(Faults {
        delay: Some(delay),
        ..Faults::default()
    });
    let started = Instant::now();
    let response = http
        .get(url)
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    assert_eq!(proxy.injected_503(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_drop_closes_the_connection_after_glance_acted() {
    let glance = glance_url().await;
    let proxy = FaultProxy::start(
        glance.clone(),
        Faults {
            drop_every: Some(2),
            skip_first: 1,
            ..Faults::default()
        },
    );
    let token = admin_token().await;
    let http = raw_client();
    let cleanup = Cleanup::new();
    let images = proxy.url().join("v2/images").unwrap();

    // #1 is skipped (and not a multiple of 2 anyway): a clean read.
    let first = http
        .get(images.clone())
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);

    // #2 is dropped after Glance created the image.
    let id = uuid::Uuid::new_v4().to_string();
    cleanup.track(&id);
    let error = http
        .post(images)
        .header("X-Auth-Token", &token)
        .json(&create_body(&id))
        .send()
        .await
        .expect_err("the create must lose its answer");
    let chain = error_chain(&error);
    assert!(
        chain.contains("connection closed before message completed"),
        "{chain}\n{}",
        proxy.log_text()
    );
    let mut log = proxy.log();
    log.sort_by_key(|e| e.n);
    assert_eq!(
        log[1].outcome,
        Outcome::Dropped(201),
        "{}",
        proxy.log_text()
    );
    assert_eq!(
        (log[1].method.as_str(), log[1].path.as_str()),
        ("POST", "/v2/images")
    );
    assert_eq!(proxy.dropped(), 1);

    // Glance did act: the image is there, asked directly.
    let (status, image) = get_image(&http, &glance, &token, &id).await;
    assert_eq!(status, 200, "{image}");
    assert_eq!(image["status"], "queued");

    let admin = crate::sandbox::admin().await;
    cleanup.run(&admin).await;
    let (status, _) = get_image(&http, &glance, &token, &id).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_streams_an_8_mib_upload() {
    const SIZE: usize = 8 * 1024 * 1024;
    let glance = glance_url().await;
    let proxy = FaultProxy::start(glance.clone(), Faults::default());
    let token = admin_token().await;
    let http = raw_client();
    let cleanup = Cleanup::new();

    let id = uuid::Uuid::new_v4().to_string();
    cleanup.track(&id);
    let created = http
        .post(proxy.url().join("v2/images").unwrap())
        .header("X-Auth-Token", &token)
        .json(&create_body(&id))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    // Glance's absolute Location comes back pointing at the proxy.
    let location = created.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        proxy
            .url()
            .join(&format!("v2/images/{id}"))
            .unwrap()
            .as_str()
    );

    // A chunked body of unknown length, generated while it is sent.
    let (payload, digest) = raw_payload(0x5eed, SIZE);
    let uploaded = http
        .put(proxy.url().join(&format!("v2/images/{id}/file")).unwrap())
        .header("X-Auth-Token", &token)
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(payload))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload via proxy: {e}\n{}", proxy.log_text()));
    let status = uploaded.status().as_u16();
    let body = uploaded.text().await.unwrap_or_default();
    assert_eq!(status, 204, "{body}\n{}", proxy.log_text());

    let (status, image) = get_image(&http, &glance, &token, &id).await;
    assert_eq!(status, 200);
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["size"], SIZE as u64, "{image}");
    assert_eq!(image["os_hash_value"], sent_digest(&digest), "{image}");
    assert_eq!(proxy.requests(), 2, "{}", proxy.log_text());

    cleanup.run(&crate::sandbox::admin().await).await;
}

/// An error and its causes on one line, for matching hyper's message under reqwest's.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut cause = error.source();
    while let Some(current) = cause {
        parts.push(current.to_string());
        cause = current.source();
    }
    parts.join(": ")
}
