//! Smoke tests of `image_manager::glance` against the real Keystone + Glance
//! sandbox: authentication with every auth type of the sandbox clouds.yaml,
//! the listing (hidden images included, request count), the three data paths
//! (glance-direct, `PUT /file`, web-download), one-request patches, and the
//! error variants callers branch on (protected, forbidden, failed import).
//! Also: no secret in `Debug` output or in an authentication error.
//!
//! Image data is generated while it is sent, and hashed on the way like the
//! real data path does, so the tests also prove `os_hash_value` end to end
//! (generators in `sandbox.rs`).

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use futures::StreamExt;
use image_manager::glance::{
    ConnectOptions, Error, GlanceClient, ImageStatus, ImportMethod, NewImage, ObservedImage,
    PatchOp, Visibility, conditions,
};
use sha2::{Digest, Sha512};

use crate::sandbox::{self, Cleanup, clouds, raw_payload, sent_digest, unique_name};
use crate::upstream::{Upstream, qcow2};

const ACTIVE_TIMEOUT: Duration = Duration::from_secs(90);
const MANAGED_TAG: &str = "managed_by_image_manager";

fn new_image(prefix: &str, disk_format: &str) -> NewImage {
    let mut image = NewImage::new(&unique_name(prefix), disk_format);
    image.tags = vec![MANAGED_TAG.into()];
    image.properties = BTreeMap::from([
        ("image_name".into(), "Smoke".into()),
        ("internal_version".into(), "1".into()),
    ]);
    image
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cloud_authenticates_and_lists_in_two_requests() {
    let clients = [
        ("admin", sandbox::admin().await),
        ("member", sandbox::member().await),
        ("appcred", sandbox::appcred().await),
    ];
    for (cloud, client) in clients {
        let before = client.api_calls();
        let state = client.list_images().await.expect("list images");
        assert_eq!(state.cloud, cloud);
        // One listing without and one with os_hidden, one request per page. Other tests may
        // hold more than a page of images at the moment (the scale test), so count pages.
        assert_eq!(
            client.api_calls() - before,
            sandbox::list_pages(&state.images) as u64,
            "{cloud}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glance_direct_import_round_trip() {
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let methods = client.import_methods().await.unwrap();
    assert!(methods.iter().any(|m| m == "glance-direct"), "{methods:?}");

    let created = client
        .create_image(&new_image("direct", "raw"))
        .await
        .unwrap();
    cleanup.track(&created.id);
    assert_eq!(created.status, ImageStatus::Queued);
    assert_eq!(created.visibility, Visibility::Private);
    assert!(created.has_tag(MANAGED_TAG));
    assert_eq!(created.property("internal_version"), Some("1"));

    let len = 4 * 1024 * 1024 + 12_345;
    let (body, digest) = raw_payload(1, len);
    let sent = client.stage(&created.id, body).await.unwrap();
    assert_eq!(sent, len as u64);
    client
        .import(&created.id, &ImportMethod::GlanceDirect)
        .await
        .unwrap();
    let active = client
        .wait_for(&created.id, conditions::is_active(), ACTIVE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(active.os_hash_algo.as_deref(), Some("sha512"));
    assert_eq!(active.os_hash_value, Some(sent_digest(&digest)));
    assert_eq!(active.size, Some(len as u64));

    // The listing shows it, and still does once it is hidden.
    let listed = client.list_images().await.unwrap();
    assert!(!listed.image(&created.id).unwrap().os_hidden);
    let before = client.api_calls();
    let patched = client
        .patch_image(
            &created.id,
            &[
                PatchOp::set_hidden(true),
                PatchOp::set_property("os_distro", "debian"),
                PatchOp::set_property("internal_version", "2"),
                PatchOp::remove_property("image_name"),
                PatchOp::set_min_disk(1),
                PatchOp::set_min_ram(128),
                PatchOp::set_tags([MANAGED_TAG, "extra"]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(client.api_calls() - before, 1, "many ops, one request");
    assert!(patched.os_hidden);
    assert_eq!(patched.property("os_distro"), Some("debian"));
    assert_eq!(patched.property("internal_version"), Some("2"));
    assert_eq!(patched.property("image_name"), None);
    assert_eq!((patched.min_disk, patched.min_ram), (1, 128));
    assert!(patched.has_tag("extra"));
    let listed = client.list_images().await.unwrap();
    let hidden = listed.image(&created.id).expect("hidden image is listed");
    assert!(hidden.os_hidden);

    client.delete(&created.id).await.unwrap();
    assert!(matches!(
        client.get_image(&created.id).await,
        Err(Error::NotFound { .. })
    ));
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_upload_round_trip_as_member() {
    let client = sandbox::member().await;
    let cleanup = Cleanup::new();
    let created = client
        .create_image(&new_image("file", "raw"))
        .await
        .unwrap();
    cleanup.track(&created.id);

    let len = 3 * 1024 * 1024 + 7;
    let (body, digest) = raw_payload(2, len);
    assert_eq!(client.upload(&created.id, body).await.unwrap(), len as u64);
    let active = client.get_image(&created.id).await.unwrap();
    assert_eq!(active.status, ImageStatus::Active);
    assert_eq!(active.os_hash_value, Some(sent_digest(&digest)));
    assert!(
        client
            .list_images()
            .await
            .unwrap()
            .image(&created.id)
            .is_some()
    );

    client.add_tag(&created.id, "added").await.unwrap();
    client.remove_tag(&created.id, MANAGED_TAG).await.unwrap();
    let patched = client
        .patch_image(
            &created.id,
            &[
                PatchOp::set_name(&unique_name("renamed")),
                PatchOp::set_property("os_version", "12"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(patched.tags, vec!["added".to_string()]);
    assert!(patched.name.starts_with("it-renamed-"));
    client.deactivate(&created.id).await.unwrap();
    let deactivated = client.get_image(&created.id).await.unwrap();
    assert_eq!(deactivated.status, ImageStatus::Deactivated);
    client.reactivate(&created.id).await.unwrap();

    client.delete(&created.id).await.unwrap();
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_download_import_from_local_server() {
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let virtual_size = 1 << 20;
    let qcow2 = qcow2(1, 7);
    let expected = hex::encode(Sha512::digest(&qcow2));
    let upstream = Upstream::start().await;
    upstream.add_file("/image", qcow2.clone());

    let (_, outcome) = web_download(&client, &cleanup, "web", &upstream.url("/image")).await;
    let active = outcome.unwrap();
    assert_eq!(active.os_hash_value, Some(expected));
    assert_eq!(active.size, Some(qcow2.len() as u64));
    assert_eq!(active.virtual_size, Some(virtual_size));
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_web_download_is_reported() {
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let upstream = Upstream::start().await;
    let missing = upstream.url("/missing");
    let (id, outcome) = web_download(&client, &cleanup, "web404", &missing).await;
    let err = outcome.unwrap_err();
    assert!(matches!(err, Error::WaitFailed { .. }), "{err}");
    // Glance marks the image failed slightly before it closes the task.
    let mut tasks = Vec::new();
    for _ in 0..60 {
        tasks = client.image_tasks(&id).await.unwrap();
        if tasks.iter().any(|t| t.status == "failure") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let failed = tasks.iter().find(|t| t.status == "failure");
    assert!(failed.is_some(), "no failed task in {tasks:?}");
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_or_stalled_body_aborts_the_transfer() {
    let mut opts = sandbox::options("admin");
    opts.transfer_idle_timeout = Duration::from_secs(2);
    let client = GlanceClient::connect(&opts).await.unwrap();
    let cleanup = Cleanup::new();

    // The data path refuses unverified bytes by failing the stream before its
    // end: Glance must never get a complete body.
    let created = client
        .create_image(&new_image("abort", "raw"))
        .await
        .unwrap();
    cleanup.track(&created.id);
    let (head, _) = raw_payload(3, 1024 * 1024);
    let mismatch = futures::stream::once(async { Err(io::Error::other("digest mismatch")) });
    match client.upload(&created.id, head.chain(mismatch)).await {
        Err(Error::Source { bytes, source, .. }) => {
            assert_eq!(bytes, 1024 * 1024);
            assert_eq!(source.to_string(), "digest mismatch");
        }
        other => panic!("expected Error::Source, got {other:?}"),
    }
    let image = client.get_image(&created.id).await.unwrap();
    assert_ne!(image.status, ImageStatus::Active);

    // A body that stops moving is cut after the idle timeout.
    let stalled = client
        .create_image(&new_image("stall", "raw"))
        .await
        .unwrap();
    cleanup.track(&stalled.id);
    let (head, _) = raw_payload(4, 64 * 1024);
    let err = client
        .stage(&stalled.id, head.chain(futures::stream::pending()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Stalled { bytes: 65536, .. }),
        "{err:?}"
    );
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_image_is_not_deleted() {
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let mut image = new_image("protected", "raw");
    image.protected = true;
    let created = client.create_image(&image).await.unwrap();
    cleanup.track(&created.id);
    assert!(created.protected);

    let err = client.delete(&created.id).await.unwrap_err();
    assert!(matches!(err, Error::Protected { .. }), "{err:?}");
    assert_eq!(err.http_status(), Some(403));
    assert!(client.get_image(&created.id).await.is_ok());

    client
        .patch_image(&created.id, &[PatchOp::set_protected(false)])
        .await
        .unwrap();
    client.delete(&created.id).await.unwrap();
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_cannot_publish() {
    let client = sandbox::member().await;
    let cleanup = Cleanup::new();
    let mut image = new_image("public", "raw");
    image.visibility = Visibility::Public;
    let err = client.create_image(&image).await.unwrap_err();
    match &err {
        Error::Forbidden { message, .. } => assert!(!message.is_empty(), "{err}"),
        other => panic!("expected Forbidden, got {other:?}"),
    }

    // The same through a patch of an existing private image.
    let created = client
        .create_image(&new_image("private", "raw"))
        .await
        .unwrap();
    cleanup.track(&created.id);
    let err = client
        .patch_image(&created.id, &[PatchOp::set_visibility(&Visibility::Public)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthentication_keeps_the_client_working() {
    for cloud in ["member", "appcred"] {
        let client = sandbox::connect(cloud).await;
        client.list_images().await.unwrap();
        client.reauthenticate().await.unwrap();
        client.list_images().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_debug_output_and_errors() {
    let clouds = clouds();
    let secrets: Vec<String> = ["admin", "member", "appcred"]
        .iter()
        .flat_map(|c| {
            let auth = &clouds[c]["auth"];
            [&auth["password"], &auth["application_credential_secret"]]
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(
        secrets.len(),
        3,
        "expected two passwords and one app-cred secret"
    );
    for cloud in ["admin", "member", "appcred"] {
        let client = sandbox::connect(cloud).await;
        let debug = format!("{client:?} {client:#?}");
        for secret in &secrets {
            assert!(
                !debug.contains(secret.as_str()),
                "secret in Debug of {cloud}"
            );
        }
    }

    // Wrong password and wrong app-cred secret, from a copy of the clouds.yaml
    // (JSON is YAML).
    let wrong_password = format!("Wr0ng-{}", unique_name("pw"));
    let wrong_secret = format!("Wr0ng-{}", unique_name("secret"));
    let mut edited = clouds.clone();
    edited["member"]["auth"]["password"] = wrong_password.clone().into();
    edited["appcred"]["auth"]["application_credential_secret"] = wrong_secret.clone().into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clouds.yaml");
    std::fs::write(&path, serde_json::json!({ "clouds": edited }).to_string()).unwrap();
    for (cloud, secret) in [("member", &wrong_password), ("appcred", &wrong_secret)] {
        let opts = ConnectOptions {
            cloud: Some(cloud.into()),
            config_file: Some(path.clone()),
            ..ConnectOptions::default()
        };
        let err = GlanceClient::connect(&opts).await.unwrap_err();
        assert!(matches!(err, Error::Auth { .. }), "{cloud}: {err:?}");
        let shown = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
        assert!(
            !shown.contains(secret.as_str()),
            "{cloud}: secret in {shown}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_cloud_is_a_config_error() {
    let opts = sandbox::options("no-such-cloud");
    let err = GlanceClient::connect(&opts).await.unwrap_err();
    match err {
        Error::Config { message } => {
            assert!(message.contains("no-such-cloud"), "{message}");
            assert!(message.contains("member"), "known clouds listed: {message}");
        }
        other => panic!("expected Config, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_cached_on_disk() {
    let started = std::time::SystemTime::now();
    let client = sandbox::appcred().await;
    client.list_images().await.unwrap();
    client.reauthenticate().await.unwrap();
    // The SDK's cache lives in ~/.osc/<hash> (tokens) and <hash>.discovery.
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(std::path::Path::new(&home).join(".osc")) else {
        return; // no cache directory at all
    };
    for entry in entries.flatten() {
        let modified = entry.metadata().and_then(|m| m.modified()).unwrap();
        assert!(
            modified < started,
            "{} was written during the test",
            entry.path().display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_type_works_and_stays_secret() {
    // Get a project-scoped token for the member the way any client would.
    let member = &clouds()["member"]["auth"];
    let scope = serde_json::json!({"name": member["project_name"], "domain": {"name": "Default"}});
    let request = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": member["username"], "domain": {"name": "Default"},
            "password": member["password"]}}},
        "scope": {"project": scope}}});
    let auth_url = member["auth_url"].as_str().unwrap();
    let rsp = reqwest::Client::new()
        .post(format!("{auth_url}/auth/tokens"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 201);
    let token = rsp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();

    let cloud = |token: &str| {
        serde_json::json!({"auth_type": "token", "region_name": "RegionOne", "auth": {
            "auth_url": auth_url, "token": token, "project_name": member["project_name"],
            "project_domain_name": "Default"}})
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clouds.yaml");
    let wrong = format!("gAAAA{}", unique_name("token"));
    let clouds = serde_json::json!({"clouds": {"token": cloud(&token), "bad": cloud(&wrong)}});
    std::fs::write(&path, clouds.to_string()).unwrap();
    let opts = |name: &str| ConnectOptions {
        cloud: Some(name.into()),
        config_file: Some(path.clone()),
        ..ConnectOptions::default()
    };
    let client = GlanceClient::connect(&opts("token")).await.unwrap();
    client.list_images().await.unwrap();
    assert!(!format!("{client:?}").contains(&token));
    let err = GlanceClient::connect(&opts("bad")).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(&wrong));
}

/// Creates a qcow2 image and has Glance import `uri` into it (web-download); returns the
/// image id and the outcome of waiting for it to become active.
async fn web_download(
    client: &GlanceClient,
    cleanup: &Cleanup,
    label: &str,
    uri: &str,
) -> (String, Result<ObservedImage, Error>) {
    let created = client
        .create_image(&new_image(label, "qcow2"))
        .await
        .unwrap();
    cleanup.track(&created.id);
    let method = ImportMethod::WebDownload {
        uri: uri.to_owned(),
    };
    client.import(&created.id, &method).await.unwrap();
    let outcome = client
        .wait_for(&created.id, conditions::is_active(), ACTIVE_TIMEOUT)
        .await;
    (created.id, outcome)
}
