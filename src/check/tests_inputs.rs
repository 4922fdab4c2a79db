//! Tests of the checker's inputs: [`Images::from_observed`] (what a member's listing
//! checks, in Glance's order), [`Images::from_desired`] (`check --offline`) and the admin
//! warning's heuristic.

use chrono::{DateTime, Utc};

use super::tests::now;
use super::*;
use crate::glance::{ObservedImage, Visibility as GlanceVisibility};

#[test]
fn from_desired_checks_what_the_catalog_would_publish() {
    let text = r#"images:
  - name: Ubuntu 24.04
    format: qcow2
    login: ubuntu
    min_disk: 8
    min_ram: 512
    visibility: public
    multi: true
    meta:
      architecture: x86_64
      os_distro: ubuntu
      os_version: '24.04'
      os_purpose: generic
      replace_frequency: quarterly
      provided_until: none
      uuid_validity: last-3
    on_rotate:
      hidden: true
    versions:
      - version: '20260108'
        url: https://cloud-images.ubuntu.com/noble/20260108/noble-server-cloudimg-amd64.img
        checksum: sha256:ffe6203da54deeb6db5d2a98a83f9ec8e55f149d3f7ba622e1abe5fa966ee3d6
        build_date: 2026-01-08
      - version: '20261105'
        url: https://cloud-images.ubuntu.com/noble/20261105/noble-server-cloudimg-amd64.img
        checksum: sha256:ffe6203da54deeb6db5d2a98a83f9ec8e55f149d3f7ba622e1abe5fa966ee3d6
        build_date: 2026-11-05
  - name: Private thing
    format: qcow2
    min_disk: 1
    min_ram: 64
    visibility: private
    versions:
      - version: '1'
        url: https://example.org/p.img
        checksum: sha256:ffe6203da54deeb6db5d2a98a83f9ec8e55f149d3f7ba622e1abe5fa966ee3d6
"#;
    let options = crate::desired::Options::test("managed_by_image_manager");
    let desired = crate::desired::from_text(text, &options);
    let images = Images::from_desired(&desired, now());
    assert_eq!(images.origin, Origin::Catalog);
    // The rotated version is hidden and the private definition is not public: one image.
    let names: Vec<&str> = images.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["Ubuntu 24.04"]);
    let image = &images.images[0];
    assert_eq!((image.created_at, image.size), (Some(now()), None));
    assert_eq!(image.property("image_build_date"), Some("2026-11-05"));
    let report = run(&["scs-0102-v2".parse().unwrap()], &images, now());
    let not_passing: Vec<(&str, Verdict)> = report
        .testcases
        .iter()
        .filter(|t| t.verdict != Verdict::Pass)
        .map(|t| (t.id.as_str(), t.verdict))
        .collect();
    // hw_* and hypervisor_type are optional; hash_algo and the size are skipped offline.
    assert_eq!(
        not_passing,
        [
            ("scs-0102-prop-hash_algo", Verdict::Skip),
            ("scs-0102-prop-min_disk", Verdict::Skip)
        ],
        "{report:#?}"
    );
}

#[test]
fn from_observed_keeps_what_a_member_listing_checks() {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let image = |id: &str, visibility, created: &str| {
        ObservedImage::test("dup")
            .with_id(id)
            .with_visibility(visibility)
            .with_created_at(at(created))
    };
    let state = ObservedState {
        projects: Default::default(),
        import_methods: Vec::new(),
        cloud: "c".into(),
        project_id: None,
        images: vec![
            image("old", GlanceVisibility::Public, "2026-01-01T00:00:00Z"),
            image("new", GlanceVisibility::Public, "2026-06-01T00:00:00Z"),
            image("comm", GlanceVisibility::Community, "2026-03-01T00:00:00Z"),
            image("priv", GlanceVisibility::Private, "2026-03-01T00:00:00Z"),
            image("shared", GlanceVisibility::Shared, "2026-03-01T00:00:00Z"),
            image("hidden", GlanceVisibility::Public, "2026-03-01T00:00:00Z").with_hidden(true),
        ],
    };
    let images = Images::from_observed(&state);
    assert_eq!(images.origin, Origin::Glance);
    let created: Vec<_> = images
        .images
        .iter()
        .map(|i| i.created_at.unwrap())
        .collect();
    // Glance's default order: newest first; so the oldest "dup" wins name look-ups.
    assert_eq!(
        created,
        [
            at("2026-06-01T00:00:00Z"),
            at("2026-03-01T00:00:00Z"),
            at("2026-01-01T00:00:00Z")
        ]
    );
    assert_eq!(
        images.by_name()["dup"].created_at,
        Some(at("2026-01-01T00:00:00Z"))
    );
}

#[test]
fn admin_view_is_guessed_from_other_projects_private_images() {
    let owned = |id: &str, owner: &str, visibility| {
        let mut image = ObservedImage::test(id)
            .with_id(id)
            .with_visibility(visibility);
        image.owner = Some(owner.into());
        image
    };
    let member = ObservedState {
        projects: Default::default(),
        import_methods: Vec::new(),
        cloud: "member".into(),
        project_id: None,
        images: vec![
            owned("a", "demo", GlanceVisibility::Private),
            owned("b", "admin", GlanceVisibility::Public),
            owned("c", "other", GlanceVisibility::Shared),
        ],
    };
    assert_eq!(admin_view_hint(&member), None);
    let admin = ObservedState {
        projects: Default::default(),
        import_methods: Vec::new(),
        cloud: "admin".into(),
        project_id: None,
        images: vec![
            owned("a", "demo", GlanceVisibility::Private),
            owned("b", "admin", GlanceVisibility::Community),
        ],
    };
    assert!(admin_view_hint(&admin).unwrap().contains("2 projects"));
}
