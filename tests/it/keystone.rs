//! Logging in to the real sandbox Keystone through our own HTTP client, with the faults a
//! Keystone behind a load balancer or a wrong `auth_url` produce: 503s and lost answers
//! (retried), a redirect to another host (not followed: the password would travel there),
//! a closed port (the URL and the reason), rejected credentials (no password in the text)
//! and an answer too large to read (capped).
//!
//! The fault proxy stands in front of Keystone here (not Glance): the clouds.yaml of each
//! test points `auth_url` at it, the way a production load balancer is configured.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use image_manager::glance::retry::RetryPolicy;
use image_manager::glance::{self, ConnectOptions, Error, GlanceClient};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::proxy::{FaultProxy, Faults};
use crate::sandbox;

/// The sandbox Keystone: `SANDBOX_KEYSTONE_URL`, else the `auth_url` of the sandbox clouds.
fn keystone_url() -> Url {
    if let Some(url) = std::env::var("SANDBOX_KEYSTONE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Url::parse(&url).expect("SANDBOX_KEYSTONE_URL");
    }
    let auth_url = sandbox::clouds()["member"]["auth"]["auth_url"]
        .as_str()
        .expect("auth_url")
        .to_owned();
    let mut url = Url::parse(&auth_url).expect("auth_url");
    url.set_path("/");
    url
}

/// A clouds.yaml with the sandbox `member` cloud whose `auth_url` is `auth_url`; `edit`
/// changes the cloud entry further (e.g. a wrong password).
struct Clouds {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Clouds {
    fn member_at(auth_url: &str, edit: impl FnOnce(&mut Value)) -> Clouds {
        let mut cloud = sandbox::clouds()["member"].clone();
        cloud["auth"]["auth_url"] = Value::String(auth_url.to_owned());
        edit(&mut cloud);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("clouds.yaml");
        // JSON is YAML; the temp dir is private (0700).
        let text = serde_json::to_string(&json!({ "clouds": { "member": cloud } })).unwrap();
        std::fs::write(&path, text).expect("write clouds.yaml");
        Clouds { path, _dir: dir }
    }

    fn options(&self, attempts: u32) -> ConnectOptions {
        ConnectOptions {
            cloud: Some("member".into()),
            config_file: Some(self.path.clone()),
            retry: RetryPolicy {
                max_attempts: attempts,
                base_delay: std::time::Duration::from_millis(10),
                ..glance::retry::default_policy()
            },
            ..ConnectOptions::default()
        }
    }
}

fn auth_message(error: Error) -> String {
    match error {
        Error::Auth { message, .. } => message,
        other => panic!("expected an authentication error, got: {other} ({other:?})"),
    }
}

fn v3(proxy: &FaultProxy) -> String {
    format!("{}v3", proxy.url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_keystone_balancer_is_retried() {
    let proxy = FaultProxy::start(keystone_url(), Faults::default());
    let clouds = Clouds::member_at(&v3(&proxy), |_| {});
    // Connect 1: request #1 clean. Connect 2: #2 answered 503 by the proxy, #3 clean.
    // Connect 3: #4 reaches Keystone, its answer is lost (Keystone issued a token the
    // client never saw): asking again is safe, #5 clean.
    proxy.set_faults(Faults {
        fail_every: Some(2),
        ..Faults::default()
    });
    for _ in 0..2 {
        let client = GlanceClient::connect(&clouds.options(3)).await.unwrap();
        client.list_images().await.unwrap();
    }
    assert_eq!(proxy.injected_503(), 1, "{}", proxy.log_text());
    proxy.set_faults(Faults {
        drop_every: Some(4),
        ..Faults::default()
    });
    let client = GlanceClient::connect(&clouds.options(3)).await.unwrap();
    client.list_images().await.unwrap();
    assert_eq!(proxy.dropped(), 1, "{}", proxy.log_text());
    assert_eq!(proxy.requests(), 5, "{}", proxy.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keystone_that_keeps_failing_is_a_clear_auth_error() {
    let proxy = FaultProxy::start(
        keystone_url(),
        Faults {
            fail_every: Some(1),
            ..Faults::default()
        },
    );
    let clouds = Clouds::member_at(&v3(&proxy), |_| {});
    let error = GlanceClient::connect(&clouds.options(2)).await.unwrap_err();
    let message = auth_message(error);
    assert!(message.contains("503"), "{message}");
    assert!(message.contains(&v3(&proxy)), "{message}");
    assert_eq!(proxy.requests(), 2, "one retry: {}", proxy.log_text());
}

/// The password is in the request body: a redirect to another host must not carry it there
/// (reqwest would repeat the POST body on a 307).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_is_not_followed() {
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", elsewhere.local_addr().unwrap());
    let reached = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&reached);
    tokio::spawn(async move {
        while let Ok((socket, _)) = elsewhere.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let proxy = FaultProxy::start(
        keystone_url(),
        Faults {
            redirect_to: Some(other),
            ..Faults::default()
        },
    );
    let clouds = Clouds::member_at(&v3(&proxy), |_| {});
    let message = auth_message(GlanceClient::connect(&clouds.options(1)).await.unwrap_err());
    assert!(message.contains("307"), "{message}");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_names_the_url_and_the_reason() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v3");
    let clouds = Clouds::member_at(&url, |_| {});
    let message = auth_message(GlanceClient::connect(&clouds.options(1)).await.unwrap_err());
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("connection refused"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_say_so_without_the_password() {
    let password = "wrong-\"pass\\word-7f3a";
    let url = format!("{}v3", keystone_url());
    let clouds = Clouds::member_at(&url, |cloud| {
        cloud["auth"]["password"] = Value::String(password.to_owned());
    });
    let error = GlanceClient::connect(&clouds.options(1)).await.unwrap_err();
    let text = format!("{error} {error:?}");
    let message = auth_message(error);
    assert!(
        message.contains("Keystone rejected the credentials (HTTP 401"),
        "{message}"
    );
    assert!(message.contains(&url), "{message}");
    assert!(!text.contains("wrong-"), "password leaked: {text}");
}

/// A "Keystone" whose token answer never ends: the client stops reading at its cap instead
/// of filling memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_token_answer_is_capped() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v3", listener.local_addr().unwrap());
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut request = [0u8; 16 * 1024];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\
                            X-Subject-Token: gAAAAfake\r\nTransfer-Encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                let framed =
                    [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                // Up to 64 MiB: far past the cap, bounded so a broken client cannot hang the test.
                for _ in 0..1024 {
                    if socket.write_all(&framed).await.is_err() {
                        return;
                    }
                    counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let clouds = Clouds::member_at(&url, |_| {});
    let message = auth_message(GlanceClient::connect(&clouds.options(1)).await.unwrap_err());
    assert!(message.contains("larger than 4 MiB"), "{message}");
    assert!(
        sent.load(Ordering::Relaxed) < 32 << 20,
        "read {} bytes",
        sent.load(Ordering::Relaxed)
    );
}
