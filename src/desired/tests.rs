//! Table tests of `desired::resolve`: catalog text in, desired images out.

use super::*;

fn options() -> Options {
    Options::test("managed_by_image_manager")
}

const UBUNTU: &str = r#"images:
  - name: Ubuntu 24.04
    format: qcow2
    login: ubuntu
    min_disk: 8
    min_ram: 512
    visibility: public
    meta:
      architecture: x86_64
      os_distro: ubuntu
      os_version: '24.04'
      os_purpose: generic
      uuid_validity: UUID
    tags: [extra]
    versions:
      - version: '20260705'
        url: https://cloud-images.ubuntu.com/noble/20260705/noble-server-cloudimg-amd64.img
        checksums_url: https://cloud-images.ubuntu.com/noble/20260705/SHA256SUMS
        build_date: 2026-07-05
      - version: '20251120'
        url: https://cloud-images.ubuntu.com/noble/20251120/noble-server-cloudimg-amd64.img
        mirror_url: https://mirror.example.org/noble-20251120.qcow2.xz
        checksum: sha256:ffe6203da54deeb6db5d2a98a83f9ec8e55f149d3f7ba622e1abe5fa966ee3d6
        build_date: 2025-11-20
      - version: '20260108'
        url: https://cloud-images.ubuntu.com/noble/20260108/noble-server-cloudimg-amd64.img
        checksum_url: https://cloud-images.ubuntu.com/noble/20260108/noble.sha256
        build_date: 2026-01-08
"#;

fn ubuntu(uuid_validity: &str) -> DesiredDefinition {
    let text = UBUNTU.replace("UUID", uuid_validity);
    let mut state = from_text(&text, &options());
    assert_eq!(state.definitions.len(), 1);
    state.definitions.remove(0)
}

#[test]
fn multi_definition_names_properties_and_tags() {
    let d = ubuntu("last-1");
    let names: Vec<&str> = d.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Ubuntu 24.04 (20251120)",
            "Ubuntu 24.04 (20260108)",
            "Ubuntu 24.04"
        ]
    );
    let current = &d.images[2];
    assert_eq!(current.retention, Retention::Current);
    assert_eq!(current.identity.version, "20260705");
    let p = &current.properties;
    assert_eq!(p["image_name"], "Ubuntu 24.04");
    assert_eq!(p["internal_version"], "20260705");
    assert_eq!(p["image_source"], current_url("20260705"));
    assert_eq!(p["image_build_date"], "2026-07-05");
    assert_eq!(p["image_description"], "Ubuntu 24.04");
    assert_eq!(p["image_original_user"], "ubuntu");
    assert_eq!(p["os_purpose"], "generic");
    assert_eq!(
        current.tags.iter().map(String::as_str).collect::<Vec<_>>(),
        ["extra", "managed_by_image_manager", "os:ubuntu"]
    );
    assert_eq!(current.visibility, Visibility::Public);
    assert!(!current.hidden);
    assert_eq!((current.min_disk, current.min_ram), (8, 512));
}

fn current_url(date: &str) -> String {
    format!("https://cloud-images.ubuntu.com/noble/{date}/noble-server-cloudimg-amd64.img")
}

#[test]
fn superseded_images_become_oldgeneric_and_follow_retention() {
    let cases = [
        ("forever", [Retention::Retained, Retention::Retained]),
        ("notice", [Retention::Retained, Retention::Retained]),
        ("none", [Retention::Prunable, Retention::Prunable]),
        ("last-1", [Retention::Prunable, Retention::Retained]),
        ("last-2", [Retention::Retained, Retention::Retained]),
        ("2026-11-22", [Retention::Retained, Retention::Retained]),
        ("2026-11-21", [Retention::Prunable, Retention::Prunable]),
    ];
    for (uuid_validity, expected) in cases {
        let d = ubuntu(uuid_validity);
        let got: Vec<Retention> = d.images[..2].iter().map(|i| i.retention).collect();
        assert_eq!(got, expected, "uuid_validity {uuid_validity}");
        for old in &d.images[..2] {
            assert_eq!(
                old.properties["os_purpose"], "oldgeneric",
                "{uuid_validity}"
            );
        }
    }
}

#[test]
fn checksum_sources_and_compression() {
    let d = ubuntu("none");
    // 20251120: inline digest, downloaded from the mirror, xz by suffix; image_source stays url.
    let old = &d.images[0].source;
    assert_eq!(
        old.download_url,
        "https://mirror.example.org/noble-20251120.qcow2.xz"
    );
    assert!(
        matches!(&old.checksum, Checksum::Inline { digest } if digest.hex.starts_with("ffe6203d"))
    );
    assert_eq!(old.compression, Some(Compression::Xz));
    assert_eq!(
        d.images[0].properties["image_source"],
        current_url("20251120")
    );
    // 20260108: a single-digest file.
    assert!(
        matches!(&d.images[1].source.checksum, Checksum::File { url } if url.ends_with("noble.sha256"))
    );
    // 20260705: the sums file, looked up by the upstream file name.
    match &d.images[2].source.checksum {
        Checksum::Sums { file_name, .. } => {
            assert_eq!(file_name, "noble-server-cloudimg-amd64.img")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.images[2].source.compression, None);
    assert_eq!(d.images[2].source.method, Method::Auto);
}

#[test]
fn on_rotate_overrides_metadata_visibility_and_hidden() {
    let text = UBUNTU.replace("UUID", "forever").replace(
        "    tags: [extra]\n",
        "    tags: [extra]\n    on_rotate:\n      hidden: true\n      visibility: community\n      meta:\n        os_purpose: custom\n        replace_frequency: never\n",
    );
    let d = from_text(&text, &options()).definitions.remove(0);
    let old = &d.images[0];
    assert!(old.hidden);
    assert_eq!(old.visibility, Visibility::Community);
    assert_eq!(old.properties["os_purpose"], "custom");
    assert_eq!(old.properties["replace_frequency"], "never");
    let current = &d.images[2];
    assert!(!current.hidden);
    assert_eq!(current.properties["os_purpose"], "generic");
}

#[test]
fn non_multi_versions_are_all_current_with_their_own_os_version() {
    let text = r#"images:
  - name: ubuntu-capi-image
    format: raw
    multi: false
    separator: '-'
    meta: {os_distro: ubuntu, os_version: '24.04', uuid_validity: none}
    versions:
      - {version: v1.33.10, url: https://e/a.qcow2, checksums_url: https://e/a.qcow2.CHECKSUM}
      - {version: v1.33.9, url: https://e/b.qcow2, checksums_url: https://e/b.qcow2.CHECKSUM}
"#;
    let d = from_text(text, &options()).definitions.remove(0);
    let got: Vec<(&str, &str, Retention)> = d
        .images
        .iter()
        .map(|i| {
            (
                i.name.as_str(),
                i.properties["os_version"].as_str(),
                i.retention,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ubuntu-capi-image-v1.33.9", "v1.33.9", Retention::Current),
            ("ubuntu-capi-image-v1.33.10", "v1.33.10", Retention::Current),
        ]
    );
    assert_eq!(d.policy, Policy::None);
}

#[test]
fn disabled_and_filtered_definitions_are_skipped() {
    let text = r#"images:
  - name: A
    format: qcow2
    enable: false
    versions: [{version: '1', url: https://e/a}]
  - name: B
    format: qcow2
    versions: [{version: '1', url: https://e/b}]
  - name: C
    format: qcow2
    versions: [{version: '1', url: https://e/c}]
"#;
    let all = from_text(text, &options());
    let names: Vec<&str> = all.definitions.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["B", "C"]);
    let filtered = from_text(
        text,
        &Options {
            filter: Some(Regex::new("^C$").unwrap()),
            ..options()
        },
    );
    assert_eq!(filtered.definitions.len(), 1);
    assert_eq!(filtered.definitions[0].name, "C");
    assert!(matches!(
        filtered.definitions[0].images[0].source.checksum,
        Checksum::Missing
    ));
    assert_eq!(
        filtered.definitions[0].images[0].visibility,
        Visibility::Private
    );
}
