//! `apply` and `plan` through a misbehaving load balancer: the fault proxy (`proxy.rs`) sits
//! in front of the real sandbox Glance and is reached through the Keystone catalog, as in
//! production. It answers every N-th call with 503 (Glance never sees it) and drops the answer
//! of every M-th call after Glance acted. One run must still converge: exit 0, one image per
//! version, and the next plan (through the proxy too) empty.

use std::time::{Duration, Instant};

use image_manager::glance::retry::RetryPolicy;
use image_manager::glance::{self, ConnectOptions, GlanceClient};

use crate::apply_faults::MIB;
use crate::apply_overlap::{Scenario, entries, output};
use crate::cli::apply_report as report;
use crate::proxy::{FaultProxy, Faults, ProxiedCloud, glance_url};
use crate::sandbox;

/// The load balancer: every 7th call a 503, every 11th answer lost.
fn flaky() -> Faults {
    Faults {
        fail_every: Some(7),
        drop_every: Some(11),
        ..Faults::default()
    }
}

/// Runs one apply of `n` images through the proxy with `faults` and checks convergence;
/// prints the figures an operator would look at (calls, retries, recreated uploads, time).
async fn converges_through_the_proxy(prefix: &str, n: usize, faults: Faults) {
    let proxy = FaultProxy::start(glance_url().await, Faults::default());
    let cloud = ProxiedCloud::register(proxy.url()).await;
    let mut scenario = Scenario::new(prefix, n, MIB).await;
    scenario.clouds = cloud.clouds_yaml.clone();
    let faulty = faults.fail_every.is_some();
    proxy.set_faults(faults);

    let started = Instant::now();
    let output = output(scenario.apply("apply", &[])).await;
    let wall = started.elapsed();
    let log = scenario.log("apply");
    if !output.status.success() {
        eprintln!("proxy log:\n{}", proxy.log_text());
    }
    let (json, _) = report(&output, &log);
    let cloud_report = &json["clouds"][0];
    let done = entries(&json)
        .iter()
        .filter(|(_, action, status)| action == "create" && status == "done")
        .count();
    assert_eq!(done, n, "{json:#}");
    eprintln!(
        "{n} images through the proxy: {} Glance calls, {} retried, {} uploads recreated, \
         {} 503s and {} dropped answers injected, {:.1} s",
        cloud_report["api_calls"],
        cloud_report["retries"],
        cloud_report["recreated_uploads"],
        proxy.injected_503(),
        proxy.dropped(),
        wall.as_secs_f64()
    );
    if faulty {
        assert!(
            proxy.injected_503() > 0 && proxy.dropped() > 0,
            "{}",
            proxy.log_text()
        );
        assert!(cloud_report["retries"].as_u64().unwrap() > 0, "{json:#}");
    }

    // The truth, read directly from Glance (not through the proxy).
    let client = sandbox::member().await;
    scenario.assert_one_image_per_version(&client).await;
    // The next plan goes through the same flaky proxy and finds nothing to do.
    scenario.assert_plan_empty().await;
    scenario.sweep().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_apply_of_8_images_converges_through_a_flaky_glance() {
    converges_through_the_proxy("it-flaky-8", 8, flaky()).await;
}

/// The figures for the README at a larger scale, flaky and clean, side by side:
/// `ci/test.sh --run-ignored only -E 'test(/figures_/)' --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures, not a check: run by hand"]
async fn figures_50_images_flaky_and_clean() {
    converges_through_the_proxy("it-flaky-50", 50, flaky()).await;
    converges_through_the_proxy("it-clean-50", 50, Faults::default()).await;
    converges_through_the_proxy("it-clean-8", 8, Faults::default()).await;
}

/// `plan`'s listing is a read: retried on 503s and lost answers, so a plan during a Glance
/// restart still succeeds (it failed outright before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_survives_a_glance_answering_every_other_call_with_503() {
    let proxy = FaultProxy::start(glance_url().await, Faults::default());
    let cloud = ProxiedCloud::register(proxy.url()).await;
    let mut scenario = Scenario::new("it-flaky-plan", 2, MIB).await;
    scenario.clouds = cloud.clouds_yaml.clone();
    proxy.set_faults(Faults {
        fail_every: Some(2),
        ..Faults::default()
    });
    let (code, out, err) = scenario.plan(&["--detailed-exitcode"]).await;
    assert_eq!(code, 2, "plan failed:\n{out}\n{err}\n{}", proxy.log_text());
    assert!(out.contains("2 to create"), "{out}");
    assert!(proxy.injected_503() > 0);
}

/// A Glance that never recovers: the per-call attempts and the run's budget end the run with
/// a clear error instead of retrying forever, and nothing is left behind half-done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glance_that_keeps_failing_fails_the_run_within_the_budget() {
    let proxy = FaultProxy::start(glance_url().await, Faults::default());
    let cloud = ProxiedCloud::register(proxy.url()).await;
    let mut scenario = Scenario::new("it-flaky-dead", 1, MIB).await;
    scenario.clouds = cloud.clouds_yaml.clone();
    // The default schedule with short waits (the waits themselves are unit-tested).
    let options = ConnectOptions {
        cloud: Some("member".into()),
        config_file: Some(cloud.clouds_yaml.clone()),
        retry: RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..glance::retry::default_policy()
        },
        ..ConnectOptions::default()
    };
    // Connected while Glance was healthy; then every call fails.
    let client = GlanceClient::connect(&options).await.unwrap();
    proxy.set_faults(Faults {
        fail_every: Some(1),
        ..Faults::default()
    });
    let before = proxy.requests();
    let error = client.list_images().await.unwrap_err();
    assert_eq!(error.http_status(), Some(503), "{error}");
    // Two listings (visible, hidden) × 6 attempts each (a connection the proxy closed after
    // a 503 can fail an attempt before it reaches the proxy).
    assert_eq!(client.retrying().retries(), 10);
    let seen = proxy.requests() - before;
    assert!((10..=12).contains(&seen), "{seen}: {}", proxy.log_text());

    let output = output(scenario.apply("apply", &["--retries", "2", "--retry-budget", "3"])).await;
    assert_eq!(output.status.code(), Some(1));
    let log = std::fs::read_to_string(scenario.log("apply")).unwrap();
    assert!(log.contains("version discovery"), "{log}");
    proxy.set_faults(Faults::default());
    let direct = sandbox::member().await;
    assert!(scenario.images(&direct).await.is_empty());
}

/// Re-authentication (what happens when a token nears its expiry during a long import)
/// rediscovers the image endpoint through the proxy, retried like any read, and the client
/// keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthentication_through_a_flaky_glance_keeps_the_client_working() {
    let proxy = FaultProxy::start(glance_url().await, Faults::default());
    let cloud = ProxiedCloud::register(proxy.url()).await;
    let options = cloud.options("member");
    let client = GlanceClient::connect(&options).await.unwrap();
    proxy.set_faults(Faults {
        fail_every: Some(2),
        ..Faults::default()
    });
    for _ in 0..3 {
        client.reauthenticate().await.unwrap();
        client.list_images().await.unwrap();
    }
    assert!(proxy.injected_503() > 0, "{}", proxy.log_text());
}

/// A Glance (or a proxy) whose error page quotes the request, token included: the error the
/// client reports names the 503 but never the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_page_echoing_the_token_does_not_leak_it() {
    let proxy = FaultProxy::start(glance_url().await, Faults::default());
    let cloud = ProxiedCloud::register(proxy.url()).await;
    let options = ConnectOptions {
        cloud: Some("member".into()),
        config_file: Some(cloud.clouds_yaml.clone()),
        retry: RetryPolicy {
            max_attempts: 1,
            ..glance::retry::default_policy()
        },
        ..ConnectOptions::default()
    };
    let client = GlanceClient::connect(&options).await.unwrap();
    client.list_images().await.unwrap();
    let token = proxy.last_token();
    assert!(token.len() > 20, "no token seen: {token:?}");
    proxy.set_faults(Faults {
        fail_every: Some(1),
        echo_headers: true,
        ..Faults::default()
    });
    let error = client
        .get_image("00000000-0000-0000-0000-000000000000")
        .await;
    let text = format!("{:?} {}", error, error.as_ref().unwrap_err());
    assert!(text.contains("503"), "{text}");
    assert!(text.contains("x-auth-token: <redacted>"), "{text}");
    assert!(!text.contains(&token), "token leaked: {text}");
}

/// An image endpoint that redirects to another host never gets the token carried there: the
/// client follows redirects only within one origin, and reports the redirect as an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_is_not_followed() {
    // The "other host": counts the requests that reach it.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", elsewhere.local_addr().unwrap());
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = std::sync::Arc::clone(&reached);
    tokio::spawn(async move {
        while let Ok((socket, _)) = elsewhere.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    let proxy = FaultProxy::start(glance_url().await, Faults::default());
    let cloud = ProxiedCloud::register(proxy.url()).await;
    let options = cloud.options("member");
    let client = GlanceClient::connect(&options).await.unwrap();
    proxy.set_faults(Faults {
        redirect_to: Some(other),
        ..Faults::default()
    });
    let error = client.list_images().await.unwrap_err();
    assert_eq!(error.http_status(), Some(307), "{error}");
    let error = client
        .get_image("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), Some(307), "{error}");
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0);
}
