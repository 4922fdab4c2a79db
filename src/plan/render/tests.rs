//! Golden tests on hand-built plans (no planner involved; fixtures in `json::tests`).

use super::*;
use crate::catalog::checksums::Digest;
use crate::plan::json::tests::{every_variant, small_plan};

#[test]
fn golden_small_plan() {
    assert_golden(&text(&small_plan(), false).to_string(), SMALL_PLAN);
}

#[test]
fn golden_every_variant() {
    assert_golden(&text(&every_variant(), false).to_string(), EVERY_VARIANT);
}

#[test]
fn empty_plan_says_no_changes() {
    let mut plan = small_plan();
    plan.steps.clear();
    assert_golden(
        &text(&plan, false).to_string(),
        "Warnings:\n  ! image \"Cirros 0.6.3\" (id 3333) carries a name the catalog manages \
             but not the tag managed_by_image_manager: left alone\n\n\
             No changes. Glance matches the catalog (cloud \"prod\"; 1 warning).\n",
    );
    plan.warnings.clear();
    assert_golden(
        &text(&plan, false).to_string(),
        "No changes. Glance matches the catalog (cloud \"prod\"; 0 warnings).\n",
    );
}

#[test]
fn color_only_when_asked_and_glance_text_cannot_inject_escapes() {
    let mut plan = small_plan();
    let plain_text = text(&plan, false).to_string();
    assert!(!plain_text.contains('\x1b'));
    let colored = text(&plan, true).to_string();
    assert!(
        colored.contains("\x1b[32m+\x1b[0m \"Cirros 0.6.3\""),
        "{colored}"
    );
    assert!(
        colored.contains("\x1b[31m-\x1b[0m \"Cirros 0.5.2\""),
        "{colored}"
    );
    plan.warnings[0] = Warning::Stuck {
        id: "x\x1b[2J".into(),
        name: "evil\x1b[31m\n".into(),
        status: "queued\r".into(),
    };
    let out = text(&plan, false).to_string();
    assert!(!out.contains('\x1b') && !out.contains('\r'), "{out:?}");
    assert!(
        out.contains(r#"image "evil\u{1b}[31m\n" (id x\u{1b}[2J) is stuck in status queued\r"#),
        "{out}"
    );
}

#[test]
fn checksum_kinds_read_as_sentences() {
    let digest = Digest::parse(&format!("sha512:{}", "ab".repeat(64))).unwrap();
    let cases = [
        (Checksum::Inline { digest }, "sha512 (in the catalog)"),
        (
            Checksum::File {
                url: "https://e.org/x.sha256".into(),
            },
            "from https://e.org/x.sha256",
        ),
        (
            Checksum::Sums {
                url: "https://e.org/SUMS".into(),
                file_name: "x.img".into(),
            },
            "\"x.img\" in https://e.org/SUMS",
        ),
        (
            Checksum::Missing,
            "none: apply refuses to upload unverified data",
        ),
    ];
    for (checksum, expected) in cases {
        assert_eq!(checksum_text(&checksum), expected);
    }
}

/// Compares line by line, so a failure shows the first differing line.
fn assert_golden(actual: &str, expected: &str) {
    for (n, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, e, "line {} differs; whole output:\n{actual}", n + 1);
    }
    assert_eq!(actual, expected, "whole output:\n{actual}");
}

const SMALL_PLAN: &str = r#"image-manager will perform these actions on cloud "prod", in this order:

Upload: new images are uploaded and verified before anything else changes
  # "Cirros" version 0.6.3 will be created
  # (because no image in Glance has this identity)
  + "Cirros 0.6.3"
      version:    0.6.3
      source:     https://example.org/cirros-0.6.3.img
      checksum:   sha256 (in the catalog)
      format:     qcow2
      method:     glance-direct (Glance's os_hash_value: sha512)
      visibility: public
      minimum:    1 GiB disk, 128 MiB RAM
      properties: os_distro="cirros" (+3 more)
      tags:       managed_by_image_manager, os:cirros

Publish: final names and visibility, drift corrected
  # "Cirros" version 0.6.2 will be updated in place
  # (because it differs from the catalog)
  ~ "Cirros 0.6.2" (id 1111)
      ~ os_purpose: "generic" → "minimal"
      ~ min_ram: 64 → 128 (MiB)

  # "Cirros" version 0.6.3 will be published
  # (because this run uploads and verifies it first)
  * "Cirros 0.6.3"
      visibility: public

Prune: last, so a failed upload never costs an old image
  # "Cirros" version 0.5.2 will be deleted
  # (because the catalog no longer lists this version and uuid_validity none allows pruning)
  - "Cirros 0.5.2" (id 2222)

Warnings:
  ! image "Cirros 0.6.3" (id 3333) carries a name the catalog manages but not the tag managed_by_image_manager: left alone

Plan for cloud "prod": 1 to create, 1 to publish, 1 to update, 0 to rename, 1 to prune; 1 warning.
"#;

const EVERY_VARIANT: &str = r#"image-manager will perform these actions on cloud "prod", in this order:

Cleanup: leftovers of interrupted runs and duplicates go first
  # an image no definition claims will be deleted
  # (because an interrupted run left it behind in status queued)
  - "Ubuntu 24.04 (upload)" (id 9999)

Upload: new images are uploaded and verified before anything else changes
  # "Ubuntu 24.04" version 20260705 will be created
  # (because no image in Glance has this identity)
  + "Ubuntu 24.04"
      version:    20260705
      source:     https://cloud-images.ubuntu.com/noble/20260705/noble.img
      download:   https://mirror.example/noble.img.xz
      checksum:   "noble.img" in https://cloud-images.ubuntu.com/noble/20260705/SHA256SUMS
      format:     qcow2, decompressed from xz
      method:     glance-direct (Glance's os_hash_value: sha256)
      visibility: private, hidden, protected, deactivated
      minimum:    1 GiB disk, 128 MiB RAM
      id:         0c0ffee0-0000-4000-8000-000000000001
      properties: os_distro="ubuntu" os_version="24.04" architecture="x86_64" os_purpose="generic" image_build_date="2026-07-05" (+4 more)
      tags:       managed_by_image_manager, os:ubuntu, scs

Rotate: superseded images take their old-version names
  # "Ubuntu 24.04" version 20260601 will be renamed
  # (because it is superseded by "Ubuntu 24.04")
  → "Ubuntu 24.04" (id aaaa)
      ~ name: "Ubuntu 24.04" → "Ubuntu 24.04 (20260601)"

Publish: final names and visibility, drift corrected
  # "Ubuntu 24.04" version 20260501 will be updated in place
  # (because it differs from the catalog)
  ~ "Ubuntu 24.04 (20260601)" (id bbbb)
      ~ name: "Ubuntu 24.04 (20260601)" → "Ubuntu 24.04 (20260501)"
      ~ visibility: "shared" → "public"
      ~ os_hidden: false → true
      ~ protected: true → false
      ~ min_disk: 0 → 8 (GiB)
      ~ min_ram: 0 → 512 (MiB)
      ~ tags: ["managed_by_image_manager"] → ["managed_by_image_manager", "os:ubuntu"]
      ~ os_purpose: "generic" → "oldgeneric"
      + hw_rng_model: "virtio"
      - hw_vif_model: "e1000"

  # "Ubuntu 24.04" version 20260705 will be published
  # (because this run uploads and verifies it first)
  * "Ubuntu 24.04"
      visibility: private, hidden, protected, then deactivated

  # "Debian 12" version 20260610 will be reactivated
  # (because the catalog asks for another status)
  ^ "Debian 12" (id cccc)

  # "Old Fedora" version 40 will be deactivated
  # (because the catalog asks for another status)
  - "Old Fedora 40" (id dddd)

Share: members of shared images, once they are published
  # "Ubuntu 24.04" version 20260705 will be shared with a project
  # (because the catalog's `shared` list names this project)
  + member 5e1ec7ed ("demo" in domain "Default") on "Ubuntu 24.04"
      status: accepted (set for the member project)

  # "Ubuntu 24.04" version 20260601 will be accepted for a member project
  # (because the catalog asks for member status accepted)
  ~ member 5e1ec7ed ("demo" in domain "Default") on "Ubuntu 24.04 (20260601)" (id aaaa)
      ~ status: "pending" → "accepted"

  # "Ubuntu 24.04" version 20260601 will be unshared from a project
  # (because the catalog's `shared` list does not name this project)
  - member 0ld0ld on "Ubuntu 24.04 (20260601)" (id aaaa)

Prune: last, so a failed upload never costs an old image
  # "Ubuntu 24.04" version 20260101 will be updated in place
  # (because it is superseded and past its retention, uuid_validity 2026-03-31)
  ~ "Ubuntu 24.04 (20260101)" (id eeee)
      ~ os_hidden: false → true

  # "Cirros" version 0.5.2 will be deactivated
  # (because the catalog no longer lists this version and uuid_validity none allows pruning)
  - "Cirros 0.5.2" (id ffff)

  # "Ubuntu 24.04" version 20251201 will be deleted
  # (because it is superseded and past its retention, uuid_validity last-2)
  - "Ubuntu 24.04 (20251201)" (id 8888)

Warnings:
  ! image "Ubuntu 24.04" (id 1234) carries a name the catalog manages but not the tag managed_by_image_manager: left alone
  ! image "Ubuntu 24.04 (20251101)" (id 2345) could be pruned but is protected: left alone
  ! "Ubuntu 24.04" version 20260601 is also claimed by protected image(s) bbbb: image aaaa is kept, the protected ones are left alone
  ! image "Debian 12 (upload)" (id 3456) is stuck in status killed and this run will not clean it up
  ! image "Cirros 0.5.1" (id 4567) may be pruned, but --prune none only reports it (choose --prune hide, deactivate or delete)

Errors (nothing more is done for these definitions):
  x "Fedora 41" version 1.4: web-download cannot decompress the upstream file (xz); use glance-direct or upload for compressed images

Plan for cloud "prod": 1 to create, 1 to publish, 3 to update, 1 to rename, 4 to prune, 3 member changes; 5 warnings, 1 error.
"#;
