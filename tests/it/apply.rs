//! `apply` against the real sandbox and the in-process upstream: what a run leaves in Glance,
//! exactly. First applies (every attribute, verified bytes, the report, then a no-op), every
//! data path, one download fanned out to two clouds, and the binary (JSON report, deletes
//! refused without `--yes`). What apply does to images already there (rotation, retention,
//! drift, untagged images) is in `apply_rotation.rs`; the helpers of both are in `apply_support.rs`.
//!
//! Every test has its own definition names (`unique_name`), so parallel tests never meet in
//! one plan, and deletes what it (or apply) created.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use image_manager::apply::{self, NoHooks};
use image_manager::catalog::Method;
use image_manager::glance::{self, Visibility};
use image_manager::plan::{ActionKind, Prune};
use serde_json::Value;

use crate::apply_support::*;
use crate::catalogs::{Def, Ver};
use crate::plan::{create_active, desired_image, exact};
use crate::sandbox::{self, Cleanup, unique_name};
use crate::upstream::{self, Algo, SumsFormat, Upstream};

// ------------------------------------------------------------------- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_apply_creates_every_image_verified_and_a_second_does_nothing() {
    let client = Arc::new(sandbox::admin().await);
    let cleanup = Cleanup::new();
    let upstream = Upstream::start().await;
    let (a, b) = (unique_name("apply-a"), unique_name("apply-b"));
    let a1 = serve(&upstream, "/a/1.0/disk.qcow2", upstream::qcow2(1, 11));
    let sums = "/a/1.0/SHA256SUMS";
    upstream.add_sums(sums, SumsFormat::GnuBinary(Algo::Sha256), &[&a1.path]);
    let a2 = serve(&upstream, "/a/2.0/disk.qcow2", upstream::qcow2(2, 12));
    let b1 = serve(&upstream, "/b/3.1/disk.raw", raw_disk(300 * 1024 + 7, 13));
    let mut def_a = Def::new(
        &a,
        "qcow2",
        vec![
            Ver::sums("1.0", &a1, &upstream.url(sums)),
            Ver::inline("2.0", &a2, "sha256"),
        ],
    );
    def_a.extra = "    visibility: shared\n    tags: [it-apply]\n".into();
    def_a.meta = "      site_flavor: small\n".into();
    let mut def_b = Def::new(&b, "raw", vec![Ver::inline("3.1", &b1, "sha512")]);
    def_b.extra = "    multi: false\n    separator: '-'\n    hidden: true\n".into();
    (def_b.min_disk, def_b.min_ram) = (2, 128);
    let (_dir, path) = catalog_of(&[&def_a, &def_b]);
    let desired = desired_now(&path);

    let first = target(&client, &desired, Prune::None).await;
    let report = run(vec![first], &options(), &cleanup).await;
    let (a_old, b_name) = (format!("{a} (1.0)"), format!("{b}-3.1"));
    // Three creates, each with its publish.
    assert_eq!(report.clouds[0].entries.len(), 6, "{report:#?}");
    assert_eq!((report.done(), report.failed()), (6, 0), "{report:#?}");
    let both = ["sha256", "sha512"];
    assert_created(created(&report, &a), "glance-direct", &a2, &both);
    assert_created(created(&report, &a_old), "glance-direct", &a1, &both);
    assert_created(created(&report, &b_name), "glance-direct", &b1, &["sha512"]);
    let fetched = [a1.path.as_str(), a2.path.as_str(), b1.path.as_str(), sums];
    for path in fetched {
        assert_eq!(upstream.hits(path), 1, "{path} fetched once");
    }

    let images = mine(&client, &[&a, &b]).await;
    assert_eq!(images.len(), 3, "no leftovers, no duplicates: {images:#?}");
    let by_id = |name: &str| {
        let id = created(&report, name).image_id.clone().unwrap();
        images.iter().find(|i| i.id == id).unwrap().clone()
    };
    let (current, old, single) = (by_id(&a), by_id(&a_old), by_id(&b_name));
    assert_as_desired(&current, desired_image(&desired, &a, "2.0"));
    assert_as_desired(&old, desired_image(&desired, &a, "1.0"));
    assert_as_desired(&single, desired_image(&desired, &b, "3.1"));
    assert_holds(&current, &a2);
    assert_holds(&old, &a1);
    assert_holds(&single, &b1);
    // The same, spelled out.
    assert_eq!(current.visibility, Visibility::Shared);
    assert!(!current.os_hidden && single.os_hidden);
    assert_eq!(single.visibility, Visibility::Private);
    assert_eq!((current.min_disk, current.min_ram), (1, 64));
    assert_eq!((single.min_disk, single.min_ram), (2, 128));
    let tags: BTreeSet<&str> = current.tags.iter().map(String::as_str).collect();
    assert_eq!(tags, BTreeSet::from([TAG, "os:testos", "it-apply"]));
    let tags: BTreeSet<&str> = single.tags.iter().map(String::as_str).collect();
    assert_eq!(tags, BTreeSet::from([TAG, "os:testos"]));
    let expect = [
        (&current, "image_name", a.as_str()),
        (&current, "internal_version", "2.0"),
        (&current, "os_purpose", "generic"),
        (&current, "site_flavor", "small"),
        (&current, "image_source", a2.url.as_str()),
        (&current, "image_original_user", "tester"),
        (&current, "image_build_date", "2026-01-01"),
        (&current, "hw_rng_model", "virtio"),
        (&old, "internal_version", "1.0"),
        (&old, "os_purpose", "oldgeneric"),
        (&single, "os_version", "3.1"),
        (&single, "image_description", b.as_str()),
    ];
    for (image, key, value) in expect {
        assert_eq!(image.property(key), Some(value), "{key}: {image:#?}");
    }
    assert_eq!(current.disk_format.as_deref(), Some("qcow2"));
    assert_eq!(single.disk_format.as_deref(), Some("raw"));

    // Nothing left to do: an empty plan, and an apply that sends nothing anywhere.
    let second = target(&client, &desired, Prune::None).await;
    assert!(second.plan.is_empty(), "{}", shown(&second));
    let calls = client.api_calls();
    let report = run(vec![second], &options(), &cleanup).await;
    assert!(report.clouds[0].entries.is_empty(), "{report:#?}");
    assert_eq!(
        report.clouds[0].api_calls, calls,
        "a no-op apply calls Glance"
    );
    for path in fetched {
        assert_eq!(upstream.hits(path), 1, "{path} fetched again");
    }
    finish(&client, &cleanup, &[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_method_gets_verified_bytes_in() {
    let client = Arc::new(sandbox::member().await);
    let cleanup = Cleanup::new();
    let upstream = Upstream::start().await;
    let [auto, up, web, forced] =
        ["auto", "up", "web", "forced"].map(|m| unique_name(&format!("apply-{m}")));
    let s_auto = serve(&upstream, "/auto/disk.raw", raw_disk(200 * 1024, 21));
    let s_up = serve(&upstream, "/up/disk.qcow2", upstream::qcow2(1, 22));
    let s_web = serve(&upstream, "/web/disk.raw", raw_disk(700 * 1024 + 3, 23));
    let sums = "/web/SHA256SUMS";
    upstream.add_sums(sums, SumsFormat::GnuText(Algo::Sha256), &[&s_web.path]);
    let s_forced = serve(&upstream, "/forced/disk.raw", raw_disk(100 * 1024, 24));
    let def_auto = Def::new(&auto, "raw", vec![Ver::inline("1", &s_auto, "sha256")]);
    let mut def_up = Def::new(&up, "qcow2", vec![Ver::inline("1", &s_up, "sha512")]);
    def_up.extra = "    method: upload\n".into();
    let mut def_web = Def::new(
        &web,
        "raw",
        vec![Ver::sums("1", &s_web, &upstream.url(sums))],
    );
    def_web.extra = "    method: web-download\n".into();
    let mut def_forced = Def::new(&forced, "raw", vec![Ver::inline("1", &s_forced, "sha256")]);
    def_forced.extra = "    method: web-download\n".into();

    // Each version's catalog method.
    let (_dir, path) = catalog_of(&[&def_auto, &def_up, &def_web]);
    let desired = desired_now(&path);
    let report = run(
        vec![target(&client, &desired, Prune::None).await],
        &options(),
        &cleanup,
    )
    .await;
    assert_eq!(
        (report.done(), report.clouds[0].entries.len()),
        (6, 6),
        "three creates and their publishes: {report:#?}"
    );
    let both = ["sha256", "sha512"];
    assert_created(created(&report, &auto), "glance-direct", &s_auto, &both);
    assert_created(created(&report, &up), "upload", &s_up, &["sha512"]);
    // Glance pulled the bytes; the tool read them back to verify them.
    assert_created(created(&report, &web), "web-download", &s_web, &both);
    let web_gets = upstream.requests(&s_web.path);
    assert!(
        !web_gets.is_empty() && web_gets.iter().all(|h| h.status == 200),
        "Glance fetched the web-download source: {:?}",
        web_gets
            .iter()
            .map(|h| (&h.method, h.status))
            .collect::<Vec<_>>()
    );
    // `--method` overrides the catalog's web-download.
    let (_dir2, path2) = catalog_of(&[&def_forced]);
    let forced_desired = desired_now(&path2);
    let report2 = run(
        vec![target_with(&client, &forced_desired, Prune::None, Some(Method::Upload)).await],
        &options(),
        &cleanup,
    )
    .await;
    assert_created(created(&report2, &forced), "upload", &s_forced, &both);
    assert_eq!(upstream.hits(&s_forced.path), 1);

    let images = mine(&client, &[&auto, &up, &web, &forced]).await;
    assert_eq!(images.len(), 4, "{images:#?}");
    for (name, served, state) in [
        (&auto, &s_auto, &desired),
        (&up, &s_up, &desired),
        (&web, &s_web, &desired),
        (&forced, &s_forced, &forced_desired),
    ] {
        let image = images.iter().find(|i| &i.name == name).expect(name);
        assert_as_desired(image, desired_image(state, name, "1"));
        assert_holds(image, served);
    }
    finish(&client, &cleanup, &[&auto, &up, &web, &forced]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_download_feeds_every_cloud() {
    let admin = Arc::new(sandbox::admin().await);
    let member = Arc::new(sandbox::member().await);
    let (admin_cleanup, member_cleanup) = (Cleanup::new(), Cleanup::new());
    let upstream = Upstream::start().await;
    let f = unique_name("apply-fanout");
    let served = serve(&upstream, "/f/disk.qcow2", upstream::qcow2(2, 41));
    let def = Def::new(&f, "qcow2", vec![Ver::inline("1.0", &served, "sha256")]);
    let (_dir, path) = catalog_of(&[&def]);
    let desired = desired_now(&path);
    let targets = vec![
        target(&admin, &desired, Prune::None).await,
        target(&member, &desired, Prune::None).await,
    ];
    for t in &targets {
        assert_eq!(
            t.plan.steps.len(),
            2,
            "a create and its publish: {}",
            shown(t)
        );
    }
    let report = apply::apply(targets, &options(), Arc::new(NoHooks))
        .await
        .unwrap();
    for (cloud, cleanup) in report.clouds.iter().zip([&admin_cleanup, &member_cleanup]) {
        for entry in &cloud.entries {
            if let Some(id) = &entry.image_id {
                cleanup.track(id);
            }
        }
    }
    assert_eq!(upstream.hits(&served.path), 1, "one GET for both clouds");
    let clouds: Vec<&str> = report.clouds.iter().map(|c| c.cloud.as_str()).collect();
    assert_eq!(clouds, ["admin", "member"]);
    let mut owners = BTreeSet::new();
    for (cloud, client) in report.clouds.iter().zip([&admin, &member]) {
        assert_eq!(cloud.entries.len(), 2, "{report:#?}");
        assert_eq!(cloud.entries[1].action, ActionKind::Publish, "{report:#?}");
        let e = &cloud.entries[0];
        assert_created(e, "glance-direct", &served, &["sha256", "sha512"]);
        let image = client
            .get_image(e.image_id.as_ref().unwrap())
            .await
            .unwrap();
        assert_as_desired(&image, desired_image(&desired, &f, "1.0"));
        assert_holds(&image, &served);
        owners.insert(image.owner.clone());
    }
    assert_eq!(owners.len(), 2, "one image per project");
    // Nothing left to do in either cloud. (The admin listing also shows the member's private
    // image, hence a duplicate-identity warning there: see
    // `admin_never_adopts_another_projects_images`.)
    for client in [&admin, &member] {
        let again = target(client, &desired, Prune::None).await;
        assert!(again.plan.is_empty(), "{}", shown(&again));
    }
    let again = target(&member, &desired, Prune::None).await;
    assert!(again.plan.warnings.is_empty(), "{:#?}", again.plan.warnings);
    finish(&member, &member_cleanup, &[&f]).await;
    finish(&admin, &admin_cleanup, &[&f]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_applies_and_reports_json() {
    let client = sandbox::member().await;
    let cleanup = Cleanup::new();
    let upstream = Upstream::start().await;
    let c = unique_name("apply-cli");
    let served = serve(&upstream, "/c/disk.raw", raw_disk(256 * 1024, 51));
    let def = Def::new(&c, "raw", vec![Ver::inline("1.0", &served, "sha256")]);
    let (dir, path) = catalog_of(&[&def]);
    let images = dir.path().to_str().unwrap();
    let args = ["--cloud", "member", "--output", "json"];
    let (code, out, err) = apply_cli(Path::new(images), &args);
    let doc = json_of(&out);
    for entry in doc["clouds"][0]["entries"].as_array().into_iter().flatten() {
        if let Some(id) = entry["image_id"].as_str() {
            cleanup.track(id);
        }
    }
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(doc["format_version"], "1", "{doc:#}");
    assert_eq!(doc["clouds"].as_array().unwrap().len(), 1, "{doc:#}");
    let cloud = &doc["clouds"][0];
    assert_eq!(cloud["cloud"], "member");
    assert!(cloud["api_calls"].as_u64().unwrap() > 0, "{doc:#}");
    let entries = cloud["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{doc:#}");
    assert_eq!(entries[1]["action"], "publish", "{doc:#}");
    assert_eq!(entries[1]["phase"], "publish", "{doc:#}");
    assert_eq!(entries[1]["outcome"]["status"], "done", "{doc:#}");
    assert_eq!(entries[1]["image_id"], entries[0]["image_id"], "{doc:#}");
    let e = &entries[0];
    assert_eq!(e["action"], "create");
    assert_eq!(e["phase"], "upload");
    assert_eq!(e["name"], c.as_str());
    assert_eq!(e["outcome"]["status"], "done", "{doc:#}");
    assert_eq!(e["identity"]["definition"], c.as_str());
    assert_eq!(e["identity"]["version"], "1.0");
    assert_eq!(e["transfer"]["method"], "glance-direct");
    assert_eq!(e["transfer"]["bytes"], served.len);
    assert_eq!(e["transfer"]["digests"]["sha256"], served.sha256.as_str());
    assert_eq!(e["transfer"]["digests"]["sha512"], served.sha512.as_str());
    assert!(e["duration"].is_u64(), "{doc:#}");
    let image = client
        .get_image(e["image_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_as_desired(&image, desired_image(&desired_now(&path), &c, "1.0"));
    assert_holds(&image, &served);

    // Once more: nothing to do, an empty report, exit 0.
    let (code, out, err) = apply_cli(Path::new(images), &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        json_of(&out)["clouds"][0]["entries"],
        Value::Array(vec![]),
        "{out}"
    );
    assert_eq!(upstream.hits(&served.path), 1);
    finish(&client, &cleanup, &[&c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_refuses_deletes_without_yes_and_changes_nothing() {
    let client = sandbox::member().await;
    let cleanup = Cleanup::new();
    let p = unique_name("apply-yes");
    let mut def = Def::new(&p, "raw", vec![Ver::fake(&p, "1.0"), Ver::fake(&p, "2.0")]);
    def.uuid_validity = "none".into();
    let (_dir, path) = catalog_of(&[&def]);
    let desired = desired_now(&path);
    let old = create_active(
        &client,
        &cleanup,
        &exact(desired_image(&desired, &p, "1.0")),
    )
    .await;
    let mut drifted = exact(desired_image(&desired, &p, "2.0"));
    drifted.min_ram = 1;
    let current = create_active(&client, &cleanup, &drifted).await;
    let snapshot = [
        client.get_image(&old).await.unwrap(),
        client.get_image(&current).await.unwrap(),
    ];

    let base = ["--cloud", "member", "--prune", "delete"];
    let (code, out, err) = apply_cli(&path, &base);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("the plan deletes 1 image; pass --yes to allow it (nothing was changed)"),
        "{err}"
    );
    for was in &snapshot {
        let now = client.get_image(&was.id).await.unwrap();
        assert_eq!(&now, was, "a refused apply changed Glance");
    }

    // With --yes: the superseded image is deleted and the drift corrected.
    let (code, out, err) = apply_cli(&path, &[&base[..], &["--yes", "--output", "json"]].concat());
    assert_eq!(code, 0, "{out}\n{err}");
    let doc = json_of(&out);
    let mut actions: Vec<(String, String)> = doc["clouds"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["outcome"]["status"], "done", "{doc:#}");
            (
                e["action"].as_str().unwrap().to_owned(),
                e["image_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    actions.sort();
    let mut expected = vec![
        ("delete".to_owned(), old.clone()),
        ("update".to_owned(), current.clone()),
    ];
    expected.sort();
    assert_eq!(actions, expected, "{doc:#}");
    assert!(matches!(
        client.get_image(&old).await,
        Err(glance::Error::NotFound { .. })
    ));
    let image = client.get_image(&current).await.unwrap();
    assert_as_desired(&image, desired_image(&desired, &p, "2.0"));
    finish(&client, &cleanup, &[&p]).await;
}
