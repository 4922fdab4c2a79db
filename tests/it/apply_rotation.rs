//! `apply` on images already in Glance, against the real sandbox: rotation, retention,
//! drift, and images that are not ours.
//!
//! Rotation: a multi definition applied at v1, then again with v2 listed: v2 takes the plain
//! name, v1 its superseded name and `on_rotate` (default: `os_purpose` generic → oldgeneric),
//! and v1 is the same image as before (never uploaded again).
//!
//! Retention: every `uuid_validity` class with every `--prune`, on images created through the
//! API exactly as apply leaves them, with `today` fixed so dates are deterministic. Each
//! image's final state is asserted exactly: untouched (equal, `updated_at` included), hidden,
//! deactivated or deleted.
//!
//! Drift made through the API is reverted in one PATCH per image; untagged images under managed
//! names, and other projects' images, are never touched.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;

use image_manager::glance::{self, GlanceClient, ImageStatus, ObservedImage, Visibility};
use image_manager::plan::{Action, ActionKind, Change, Phase, Prune, Warning};

use crate::apply_support::{
    TAG, assert_as_desired, assert_created, assert_holds, catalog_of, created, day, desired_now,
    desired_on, finish, options, raw_disk, run, serve, shown, target,
};
use crate::catalogs::{Def, Ver};
use crate::plan::{create_active, desired_image, exact};
use crate::sandbox::{self, Cleanup, unique_name};
use crate::upstream::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_renames_the_old_version_and_applies_on_rotate() {
    let client = Arc::new(sandbox::admin().await);
    let cleanup = Cleanup::new();
    let upstream = Upstream::start().await;
    let (r, h) = (unique_name("apply-rot"), unique_name("apply-rot-hide"));
    let served: BTreeMap<(&str, &str), _> = [
        ((r.as_str(), "1.0"), 61),
        ((r.as_str(), "2.0"), 62),
        ((h.as_str(), "1.0"), 63),
        ((h.as_str(), "2.0"), 64),
    ]
    .into_iter()
    .map(|((name, v), seed)| {
        let path = format!("/{seed}/{v}/disk.raw");
        (
            (name, v),
            serve(&upstream, &path, raw_disk(96 * 1024, seed)),
        )
    })
    .collect();
    let def = |name: &str, versions: &[&str], extra: &str| {
        let versions = versions
            .iter()
            .map(|v| Ver::inline(v, &served[&(name, *v)], "sha256"))
            .collect();
        let mut def = Def::new(name, "raw", versions);
        def.extra = extra.to_owned();
        def
    };
    // H is shared while current; superseded it becomes private, hidden, and marked.
    let on_rotate = "    visibility: shared\n    on_rotate:\n      visibility: private\n      \
                     hidden: true\n      meta:\n        image_lifecycle: superseded\n";

    let (_dir1, path1) = catalog_of(&[&def(&r, &["1.0"], ""), &def(&h, &["1.0"], on_rotate)]);
    let v1 = desired_now(&path1);
    let report = run(
        vec![target(&client, &v1, Prune::None).await],
        &options(),
        &cleanup,
    )
    .await;
    assert_eq!(
        report.done(),
        4,
        "two creates and their publishes: {report:#?}"
    );
    let (r1, h1) = (
        created(&report, &r).image_id.clone().unwrap(),
        created(&report, &h).image_id.clone().unwrap(),
    );
    let before_r1 = client.get_image(&r1).await.unwrap();
    assert_as_desired(&before_r1, desired_image(&v1, &r, "1.0"));
    let before_h1 = client.get_image(&h1).await.unwrap();
    assert_eq!(before_h1.visibility, Visibility::Shared);
    assert_eq!(before_h1.property("os_purpose"), Some("generic"));

    let (_dir2, path2) = catalog_of(&[
        &def(&r, &["1.0", "2.0"], ""),
        &def(&h, &["1.0", "2.0"], on_rotate),
    ]);
    let v2 = desired_now(&path2);
    let rotating = target(&client, &v2, Prune::None).await;
    let text = shown(&rotating);
    let report = run(vec![rotating], &options(), &cleanup).await;
    assert_eq!(
        (report.done(), report.clouds[0].entries.len()),
        (6, 6),
        "{text}\n{report:#?}"
    );
    for name in [&r, &h] {
        let served = &served[&(name.as_str(), "2.0")];
        assert_created(
            created(&report, name),
            "glance-direct",
            served,
            &["sha256", "sha512"],
        );
    }
    // The updates are the rotations of the v1 images, in the rotate phase.
    for (id, name) in [(&r1, &r), (&h1, &h)] {
        let update = report.clouds[0]
            .entries
            .iter()
            .find(|e| e.image_id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("{name} 1.0 not rotated: {report:#?}"));
        assert_eq!(update.action, ActionKind::Update, "{update:#?}");
        assert_eq!(update.phase, Phase::Rotate, "{update:#?}");
        assert_eq!(update.name, *name, "the name it had: {update:#?}");
    }

    // Glance: the new versions under the plain names, the old ones renamed in place.
    let r2 = created(&report, &r).image_id.clone().unwrap();
    let h2 = created(&report, &h).image_id.clone().unwrap();
    for (id, name, version) in [
        (&r1, &r, "1.0"),
        (&r2, &r, "2.0"),
        (&h1, &h, "1.0"),
        (&h2, &h, "2.0"),
    ] {
        let image = client.get_image(id).await.unwrap();
        assert_as_desired(&image, desired_image(&v2, name, version));
        assert_holds(&image, &served[&(name.as_str(), version)]);
    }
    let after_r1 = client.get_image(&r1).await.unwrap();
    assert_eq!(after_r1.name, format!("{r} (1.0)"));
    assert_eq!(after_r1.property("os_purpose"), Some("oldgeneric"));
    assert_eq!(after_r1.visibility, Visibility::Private);
    assert!(!after_r1.os_hidden);
    assert_eq!(after_r1.created_at, before_r1.created_at);
    let after_h1 = client.get_image(&h1).await.unwrap();
    assert_eq!(after_h1.name, format!("{h} (1.0)"));
    assert_eq!(after_h1.property("os_purpose"), Some("oldgeneric"));
    assert_eq!(after_h1.property("image_lifecycle"), Some("superseded"));
    assert_eq!(after_h1.visibility, Visibility::Private);
    assert!(after_h1.os_hidden);
    let new_h = client.get_image(&h2).await.unwrap();
    assert_eq!(new_h.name, h);
    assert_eq!(new_h.visibility, Visibility::Shared);
    assert_eq!(new_h.property("os_purpose"), Some("generic"));
    assert_eq!(new_h.property("image_lifecycle"), None);
    assert!(!new_h.os_hidden);
    // Order: the new image exists before the old one is renamed, which happens no later than
    // the new one's publication (Glance's timestamps have one-second resolution).
    let new_r = client.get_image(&r2).await.unwrap();
    assert!(
        new_r.created_at <= after_r1.updated_at,
        "{new_r:#?}\n{after_r1:#?}"
    );
    assert!(
        after_r1.updated_at <= new_r.updated_at,
        "{new_r:#?}\n{after_r1:#?}"
    );
    // v1 was not downloaded again.
    for (key, s) in &served {
        assert_eq!(upstream.hits(&s.path), 1, "{key:?}");
    }
    let again = target(&client, &v2, Prune::None).await;
    assert!(again.plan.is_empty(), "{}", shown(&again));
    finish(&client, &cleanup, &[&r, &h]).await;
}

// --------------------------------------------------------------- retention ----

/// What happens to one superseded image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Untouched,
    Hidden,
    Deactivated,
    Deleted,
}

/// Every `uuid_validity` class (and a protected prunable image) under one `--prune`.
async fn retention(prune: Prune) {
    let today = day("2026-11-22");
    let client = Arc::new(sandbox::admin().await);
    let cleanup = Cleanup::new();
    let word = format!("{prune:?}").to_lowercase();
    // (label, uuid_validity, versions, prunable superseded version)
    let classes: [(&str, &str, &[&str], Option<&str>); 8] = [
        ("forever", "forever", &["1.0", "2.0"], None),
        ("notice", "notice", &["1.0", "2.0"], None),
        ("past", "2026-11-21", &["1.0", "2.0"], Some("1.0")),
        ("today", "2026-11-22", &["1.0", "2.0"], None),
        ("future", "2026-11-23", &["1.0", "2.0"], None),
        ("last1", "last-1", &["1.0", "2.0", "3.0"], Some("1.0")),
        ("none", "none", &["1.0", "2.0"], Some("1.0")),
        ("protected", "none", &["1.0", "2.0"], None),
    ];
    let names: Vec<String> = classes
        .iter()
        .map(|(label, ..)| unique_name(&format!("apply-keep-{word}-{label}")))
        .collect();
    let defs: Vec<Def> = classes
        .iter()
        .zip(&names)
        .map(|((_, validity, versions, _), name)| {
            let versions = versions.iter().map(|v| Ver::fake(name, v)).collect();
            let mut def = Def::new(name, "raw", versions);
            def.uuid_validity = (*validity).to_owned();
            def
        })
        .collect();
    let (_dir, path) = catalog_of(&defs.iter().collect::<Vec<_>>());
    let desired = desired_on(&path, today);

    // Every version exactly as apply leaves it; the protected class's old image protected.
    let mut wanted = Vec::new();
    for ((label, _, versions, prunable), name) in classes.iter().zip(&names) {
        for version in *versions {
            let mut image = exact(desired_image(&desired, name, version));
            image.protected = *label == "protected" && *version == "1.0";
            let fate = match (prune, *prunable == Some(*version)) {
                (_, false) | (Prune::None, true) => Fate::Untouched,
                (Prune::Hide, true) => Fate::Hidden,
                (Prune::Deactivate, true) => Fate::Deactivated,
                (Prune::Delete, true) => Fate::Deleted,
            };
            wanted.push((image, fate));
        }
    }
    let expected: Vec<(ObservedImage, Fate)> = join_all(wanted.iter().map(|(image, fate)| async {
        let id = create_active(&client, &cleanup, image).await;
        (client.get_image(&id).await.unwrap(), *fate)
    }))
    .await;
    let protected_id = expected
        .iter()
        .find(|(i, _)| i.protected)
        .map(|(i, _)| i.id.clone())
        .unwrap();

    let planned = target(&client, &desired, prune).await;
    let text = shown(&planned);
    let protected_warned = planned
        .plan
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::ProtectedPruneTarget { id, .. } if *id == protected_id));
    assert!(protected_warned, "{text}");
    let skipped = planned
        .plan
        .warnings
        .iter()
        .filter(|w| matches!(w, Warning::PruneSkipped { .. }))
        .count();
    assert_eq!(skipped, if prune == Prune::None { 3 } else { 0 }, "{text}");
    let report = run(vec![planned], &options(), &cleanup).await;
    let action = match prune {
        Prune::None => None,
        Prune::Hide => Some("update"),
        Prune::Deactivate => Some("deactivate"),
        Prune::Delete => Some("delete"),
    };
    let mut done: Vec<(String, String)> = report.clouds[0]
        .entries
        .iter()
        .map(|e| {
            assert_eq!(e.outcome, image_manager::apply::Outcome::Done, "{e:#?}");
            (e.action.to_string(), e.image_id.clone().unwrap())
        })
        .collect();
    done.sort();
    let mut wanted: Vec<(String, String)> = expected
        .iter()
        .filter(|(_, fate)| *fate != Fate::Untouched)
        .map(|(image, _)| (action.unwrap().to_owned(), image.id.clone()))
        .collect();
    wanted.sort();
    assert_eq!(done, wanted, "{text}\n{report:#?}");

    for (before, fate) in &expected {
        let what = format!("{} {fate:?} under --prune {word}", before.name);
        let after = get(&client, &before.id).await;
        let Some(after) = after else {
            assert_eq!(*fate, Fate::Deleted, "{what}: deleted");
            continue;
        };
        let mut want = before.clone();
        match fate {
            Fate::Untouched => {}
            Fate::Hidden => want.os_hidden = true,
            Fate::Deactivated => want.status = ImageStatus::Deactivated,
            Fate::Deleted => panic!("{what}: still there: {after:#?}"),
        }
        if *fate != Fate::Untouched {
            assert!(after.updated_at >= before.updated_at, "{what}");
            want.updated_at = after.updated_at;
        }
        assert_eq!(after, want, "{what}");
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let again = target(&client, &desired, prune).await;
    assert!(again.plan.is_empty(), "{}", shown(&again));
    // Deactivated images can be deleted; protected ones are unprotected by the cleanup.
    finish(&client, &cleanup, &names).await;
}

/// The image, or `None` once it is deleted.
async fn get(client: &GlanceClient, id: &str) -> Option<ObservedImage> {
    match client.get_image(id).await {
        Ok(image) => Some(image),
        Err(glance::Error::NotFound { .. }) => None,
        Err(e) => panic!("get {id}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_with_prune_none_only_reports() {
    retention(Prune::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_with_prune_hide_hides_expired_images() {
    retention(Prune::Hide).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_with_prune_deactivate_deactivates_expired_images() {
    retention(Prune::Deactivate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_with_prune_delete_deletes_expired_images() {
    retention(Prune::Delete).await;
}

// ------------------------------------------------- drift and ownership ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reverted_in_one_patch_per_image() {
    let client = Arc::new(sandbox::admin().await);
    let cleanup = Cleanup::new();
    let (d, e) = (unique_name("apply-drift-d"), unique_name("apply-drift-e"));
    let def_d = Def::new(&d, "raw", vec![Ver::fake(&d, "1.0"), Ver::fake(&d, "2.0")]);
    let mut def_e = Def::new(&e, "raw", vec![Ver::fake(&e, "7")]);
    def_e.extra = "    multi: false\n    hidden: true\n    visibility: shared\n".into();
    def_e.meta = "      site_flavor: large\n".into();
    let (_dir, path) = catalog_of(&[&def_d, &def_e]);
    let desired = desired_now(&path);
    let (want_d2, want_d1, want_e) = (
        desired_image(&desired, &d, "2.0"),
        desired_image(&desired, &d, "1.0"),
        desired_image(&desired, &e, "7"),
    );
    // D 2.0: a property changed, one removed, min_ram, visibility and tags drifted, and a
    // property the catalog never set. D 1.0: hidden. E: shown, private, its own meta changed.
    let mut image = exact(want_d2);
    image
        .properties
        .insert("os_purpose".into(), "minimal".into());
    image.properties.remove("hw_rng_model");
    image
        .properties
        .insert("site_note".into(), "keep me".into());
    image.min_ram = 1;
    image.visibility = Visibility::Shared;
    image.tags = vec![TAG.into(), "stray".into()];
    let d2 = create_active(&client, &cleanup, &image).await;
    let mut image = exact(want_d1);
    image.os_hidden = true;
    let d1 = create_active(&client, &cleanup, &image).await;
    let mut image = exact(want_e);
    image.os_hidden = false;
    image.visibility = Visibility::Private;
    image.properties.insert("site_flavor".into(), "tiny".into());
    let e7 = create_active(&client, &cleanup, &image).await;

    let drifted = target(&client, &desired, Prune::None).await;
    let changes = |id: &str| -> Vec<&Change> {
        let steps: Vec<_> = drifted
            .plan
            .steps
            .iter()
            .filter(|s| s.action.image_id() == Some(id))
            .collect();
        assert_eq!(steps.len(), 1, "{}", shown(&drifted));
        match &steps[0].action {
            Action::Update { changes, .. } => changes.iter().collect(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(drifted.plan.steps.len(), 3, "{}", shown(&drifted));
    assert_eq!(changes(&d2).len(), 5, "{}", shown(&drifted));
    assert_eq!(changes(&d1).len(), 1, "{}", shown(&drifted));
    assert_eq!(changes(&e7).len(), 3, "{}", shown(&drifted));
    let calls = client.api_calls();
    let report = run(vec![drifted], &options(), &cleanup).await;
    assert_eq!(
        (report.done(), report.clouds[0].entries.len()),
        (3, 3),
        "{report:#?}"
    );
    assert_eq!(
        report.clouds[0].api_calls - calls,
        3,
        "one PATCH per image, nothing else: {report:#?}"
    );

    for (id, want) in [(&d2, want_d2), (&d1, want_d1), (&e7, want_e)] {
        let mut image = client.get_image(id).await.unwrap();
        if id == &d2 {
            let note = image.properties.remove("site_note");
            assert_eq!(
                note.as_deref(),
                Some("keep me"),
                "never managed, never touched"
            );
        }
        assert_as_desired(&image, want);
    }
    let again = target(&client, &desired, Prune::None).await;
    assert!(again.plan.is_empty(), "{}", shown(&again));
    finish(&client, &cleanup, &[&d, &e]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn untagged_images_with_managed_names_are_left_alone() {
    let client = Arc::new(sandbox::admin().await);
    let cleanup = Cleanup::new();
    let upstream = Upstream::start().await;
    let u = unique_name("apply-untagged");
    let s2 = serve(&upstream, "/u/2.0/disk.raw", raw_disk(128 * 1024, 31));
    let (_prior_dir, prior) = catalog_of(&[&Def::new(&u, "raw", vec![Ver::fake(&u, "1.0")])]);
    let def = Def::new(
        &u,
        "raw",
        vec![Ver::fake(&u, "1.0"), Ver::inline("2.0", &s2, "sha256")],
    );
    let (_dir, path) = catalog_of(&[&def]);
    let (before, desired) = (desired_now(&prior), desired_now(&path));
    // Ours: 1.0 while it was current. Not ours: images under both names the run will give,
    // one even claiming 2.0's identity, none with the managed tag.
    let ours = create_active(&client, &cleanup, &exact(desired_image(&before, &u, "1.0"))).await;
    let mut strangers = Vec::new();
    for (name, version) in [(u.clone(), "2.0"), (format!("{u} (1.0)"), "1.0")] {
        let mut image = exact(desired_image(&desired, &u, version));
        image.name = name;
        image.tags = vec!["someone-else".into()];
        strangers.push(create_active(&client, &cleanup, &image).await);
    }
    let mut snapshot = Vec::new();
    for id in &strangers {
        snapshot.push(client.get_image(id).await.unwrap());
    }

    let planned = target(&client, &desired, Prune::None).await;
    let text = shown(&planned);
    assert!(
        planned
            .plan
            .steps
            .iter()
            .all(|s| s.action.image_id().is_none_or(|id| id == ours)),
        "{text}"
    );
    let report = run(vec![planned], &options(), &cleanup).await;
    assert_eq!(
        (report.done(), report.clouds[0].entries.len()),
        (3, 3),
        "{report:#?}"
    );
    // Both entries carry the name `u`: the create's final name, the update's current one.
    let entries = &report.clouds[0].entries;
    let create = entries
        .iter()
        .find(|e| e.action == ActionKind::Create)
        .unwrap();
    assert_eq!(
        create.identity.as_ref().unwrap().version,
        "2.0",
        "{report:#?}"
    );
    let created = create.image_id.clone().unwrap();
    let update = entries
        .iter()
        .find(|e| e.action == ActionKind::Update)
        .unwrap();
    assert_eq!(
        update.image_id.as_deref(),
        Some(ours.as_str()),
        "{report:#?}"
    );

    for (id, was) in strangers.iter().zip(&snapshot) {
        let now = client.get_image(id).await.unwrap();
        assert_eq!(&now, was, "an untagged image was changed");
    }
    let new = client.get_image(&created).await.unwrap();
    assert_as_desired(&new, desired_image(&desired, &u, "2.0"));
    assert_holds(&new, &s2);
    let old = client.get_image(&ours).await.unwrap();
    assert_as_desired(&old, desired_image(&desired, &u, "1.0"));
    finish(&client, &cleanup, &[&u]).await;
}

/// Glance lists every project's images to an admin. A tagged image of ANOTHER project is not
/// this cloud's: it must neither satisfy the catalog (the admin's project still needs its own
/// image) nor be patched, hidden or deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_never_adopts_another_projects_images() {
    let admin = Arc::new(sandbox::admin().await);
    let member = sandbox::member().await;
    let cleanup = Cleanup::new();
    let x = unique_name("apply-owner");
    let mut def = Def::new(&x, "raw", vec![Ver::fake(&x, "1.0")]);
    def.extra = "    visibility: shared\n".into();
    let (_dir, path) = catalog_of(&[&def]);
    let desired = desired_now(&path);
    let mut image = exact(desired_image(&desired, &x, "1.0"));
    image.visibility = Visibility::Private;
    let theirs = create_active(&member, &cleanup, &image).await;
    let planned = target(&admin, &desired, Prune::Delete).await;
    let text = shown(&planned);
    cleanup.run(&member).await;
    assert!(
        planned
            .plan
            .steps
            .iter()
            .all(|s| s.action.image_id() != Some(theirs.as_str())),
        "the admin's plan touches the member's image:\n{text}"
    );
    assert_eq!(
        planned.plan.steps.len(),
        2,
        "the admin's own create and its publish:\n{text}"
    );
    assert!(
        matches!(planned.plan.steps[0].action, Action::Create { .. }),
        "{text}"
    );
}
