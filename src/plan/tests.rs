//! Table tests of the planner: catalog text + crafted Glance images in, steps out.

use chrono::{TimeZone, Utc};

use super::*;
use crate::desired::{self, DesiredImage};
use crate::glance::{
    MemberStatus, ObservedImage, ObservedMember, ProjectName, Resolved, Visibility,
};

pub(super) const TAG: &str = "managed_by_image_manager";

pub(super) fn desired_from(text: &str) -> DesiredState {
    desired::from_text(text, &desired::Options::test(TAG))
}

/// A catalog with one multi definition; `UUID` and `VERSIONS` are filled in per test.
pub(super) const MULTI: &str = r#"images:
  - name: Ubuntu 24.04
    format: qcow2
    login: ubuntu
    min_disk: 8
    min_ram: 512
    visibility: public
    meta:
      os_distro: ubuntu
      os_version: '24.04'
      os_purpose: generic
      uuid_validity: UUID
    versions:
VERSIONS"#;

pub(super) fn version_yaml(version: &str) -> String {
    format!(
        "      - version: '{version}'\n        url: https://cloud-images.ubuntu.com/noble/{version}/noble.img\n        checksum: sha256:{}\n        build_date: 2026-01-01\n",
        "a".repeat(64)
    )
}

pub(super) fn multi(uuid_validity: &str, versions: &[&str]) -> DesiredState {
    let versions: String = versions.iter().map(|v| version_yaml(v)).collect();
    desired_from(
        &MULTI
            .replace("UUID", uuid_validity)
            .replace("VERSIONS", &versions),
    )
}

/// The image `apply` would have made for `image`: the planner must find nothing to change.
pub(super) fn observed_as(image: &DesiredImage) -> ObservedImage {
    let mut o = ObservedImage::test(&image.name)
        .with_id(&format!("id-{}", image.identity.version))
        .with_visibility(Visibility::from(image.visibility.as_str()))
        .with_hidden(image.hidden)
        .with_protected(image.protected.unwrap_or(false))
        .with_min_disk(image.min_disk)
        .with_min_ram(image.min_ram);
    for (key, value) in &image.properties {
        o = o.with_property(key, value);
    }
    for tag in &image.tags {
        o = o.with_tag(tag);
    }
    o.members = image.members.as_ref().map(|members| {
        let member = |m: &desired::DesiredMember| ObservedMember {
            project_id: project_id(&m.project),
            status: match m.status {
                crate::catalog::MemberStatus::Accepted => MemberStatus::Accepted,
                crate::catalog::MemberStatus::Pending => MemberStatus::Pending,
            },
        };
        members.iter().map(member).collect()
    });
    o
}

/// The id a project has in the tests' Keystone: its id, or `id-of-<name>`.
pub(super) fn project_id(project: &desired::ProjectRef) -> String {
    match project {
        desired::ProjectRef::Id { id } => id.clone(),
        desired::ProjectRef::Name { name, .. } => format!("id-of-{name}"),
    }
}

/// The tests' Keystone: every project name the catalog shares with resolves ([`project_id`]).
pub(super) fn keystone(desired: &DesiredState) -> Resolved {
    desired
        .project_names()
        .into_iter()
        .map(|(name, domain)| {
            let key = ProjectName {
                name: name.into(),
                domain: domain.into(),
            };
            (key, Ok(format!("id-of-{name}")))
        })
        .collect()
}

/// Observed images exactly as the desired state wants them, except prunable ones.
pub(super) fn in_sync(desired: &DesiredState) -> Vec<ObservedImage> {
    desired.definitions[0]
        .images
        .iter()
        .filter(|i| i.retention != Retention::Prunable)
        .map(observed_as)
        .collect()
}

pub(super) fn plan_with(desired: &DesiredState, images: Vec<ObservedImage>, prune: Prune) -> Plan {
    let observed = ObservedState {
        projects: keystone(desired),
        import_methods: Vec::new(),
        cloud: "test".into(),
        project_id: None,
        images,
    };
    plan(
        desired,
        &observed,
        &Policy {
            managed_tag: TAG.into(),
            prune,
            method: None,
        },
    )
}

/// `(phase, symbol, image name, reason kind)` of a step, for compact assertions.
pub(super) type Row = (Phase, &'static str, String, String);

pub(super) fn summary(plan: &Plan) -> Vec<Row> {
    plan.steps
        .iter()
        .map(|s| {
            let target = s.action.name().to_owned();
            let reason = serde_json::to_value(&s.reason).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned();
            (s.phase, s.action.symbol(), target, reason)
        })
        .collect()
}

pub(super) fn changes(step: &Step) -> &[Change] {
    match &step.action {
        Action::Update { changes, .. } => changes,
        other => panic!("not an update: {other:?}"),
    }
}

pub(super) fn step(phase: Phase, symbol: &'static str, target: &str, reason: &str) -> Row {
    (phase, symbol, target.to_owned(), reason.to_owned())
}

#[test]
fn empty_glance_creates_every_version_that_is_kept() {
    let desired = multi("last-1", &["20260101", "20260201", "20260301"]);
    let plan = plan_with(&desired, vec![], Prune::Delete);
    assert_eq!(
        summary(&plan),
        [
            step(Phase::Upload, "+", "Ubuntu 24.04 (20260201)", "missing"),
            step(Phase::Upload, "+", "Ubuntu 24.04", "missing"),
            step(Phase::Publish, "*", "Ubuntu 24.04 (20260201)", "uploaded"),
            step(Phase::Publish, "*", "Ubuntu 24.04", "uploaded"),
        ],
        "the prunable 20260101 is not created only to be pruned"
    );
    assert!(plan.warnings.is_empty());
}

#[test]
fn a_glance_that_matches_the_catalog_needs_nothing() {
    let desired = multi("forever", &["20260101", "20260201"]);
    let plan = plan_with(&desired, in_sync(&desired), Prune::Delete);
    assert!(plan.is_empty(), "{:#?}", plan.steps);
    assert!(plan.warnings.is_empty(), "{:#?}", plan.warnings);
}

#[test]
fn drift_is_one_patch_with_every_change_and_foreign_keys_untouched() {
    let desired = multi("forever", &["20260101"]);
    let mut image = in_sync(&desired).remove(0);
    image.min_ram = 128;
    image.visibility = Visibility::Private;
    image.tags.retain(|t| !t.starts_with("os:"));
    image
        .properties
        .insert("os_purpose".into(), "custom".into());
    image.properties.insert("hotfix_hours".into(), "4".into()); // managed key, not in the catalog
    image
        .properties
        .insert("hw_qemu_guest_agent".into(), "yes".into()); // foreign
    image.properties.remove("image_original_user");
    let plan = plan_with(&desired, vec![image], Prune::None);
    assert_eq!(
        summary(&plan),
        [step(Phase::Publish, "~", "Ubuntu 24.04", "drift")]
    );
    let got = changes(&plan.steps[0]);
    let expected = [
        Change::Visibility {
            from: "private".into(),
            to: "public".into(),
        },
        Change::MinRam { from: 128, to: 512 },
        Change::Tags {
            from: vec![TAG.into()],
            to: vec![TAG.into(), "os:ubuntu".into()],
        },
        Change::Property {
            key: "image_original_user".into(),
            from: None,
            to: Some("ubuntu".into()),
        },
        Change::Property {
            key: "os_purpose".into(),
            from: Some("custom".into()),
            to: Some("generic".into()),
        },
        Change::Property {
            key: "hotfix_hours".into(),
            from: Some("4".into()),
            to: None,
        },
    ];
    assert_eq!(got, expected);
}

#[test]
fn the_build_date_apply_recorded_stays_until_the_catalog_gives_one() {
    let undated = desired_from(
        &MULTI
            .replace("UUID", "forever")
            .replace("VERSIONS", &version_yaml("20260101"))
            .replace("        build_date: 2026-01-01\n", ""),
    );
    // apply recorded the upstream's Last-Modified day: no change, and no removal.
    let image = in_sync(&undated)
        .remove(0)
        .with_property("image_build_date", "2025-12-30");
    let plan = plan_with(&undated, vec![image.clone()], Prune::None);
    assert!(plan.is_empty(), "{:#?}", plan.steps);
    // A build_date added to the catalog replaces it.
    let dated = multi("forever", &["20260101"]);
    let plan = plan_with(&dated, vec![image], Prune::None);
    assert_eq!(
        changes(&plan.steps[0]),
        [Change::Property {
            key: "image_build_date".into(),
            from: Some("2025-12-30".into()),
            to: Some("2026-01-01".into()),
        }]
    );
}

#[test]
fn a_new_version_rotates_the_old_one_after_the_upload() {
    // Glance holds 20260101 as the current image; the catalog adds 20260201.
    let before = multi("forever", &["20260101"]);
    let old = in_sync(&before).remove(0);
    let desired = multi("forever", &["20260101", "20260201"]);
    let plan = plan_with(&desired, vec![old], Prune::None);
    assert_eq!(
        summary(&plan),
        [
            step(Phase::Upload, "+", "Ubuntu 24.04", "missing"),
            step(Phase::Rotate, "~", "Ubuntu 24.04", "superseded"),
            step(Phase::Publish, "*", "Ubuntu 24.04", "uploaded"),
        ]
    );
    assert_eq!(
        plan.steps[1].reason,
        Reason::Superseded {
            by: "Ubuntu 24.04".into()
        }
    );
    assert_eq!(
        changes(&plan.steps[1]),
        [
            Change::Name {
                from: "Ubuntu 24.04".into(),
                to: "Ubuntu 24.04 (20260101)".into()
            },
            Change::Property {
                key: "os_purpose".into(),
                from: Some("generic".into()),
                to: Some("oldgeneric".into())
            },
        ]
    );
}

#[test]
fn natural_version_order_decides_the_current_image() {
    let desired = multi("forever", &["0.6.10", "0.6.9"]);
    let names: Vec<(&str, &str)> = desired.definitions[0]
        .images
        .iter()
        .map(|i| (i.identity.version.as_str(), i.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("0.6.9", "Ubuntu 24.04 (0.6.9)"),
            ("0.6.10", "Ubuntu 24.04")
        ]
    );
}

#[test]
fn leftovers_are_cleaned_and_the_image_recreated() {
    let desired = multi("forever", &["20260101"]);
    let base = in_sync(&desired).remove(0);
    let queued = base.clone().with_id("q").with_status(ImageStatus::Queued);
    let importing = base
        .clone()
        .with_id("i")
        .with_status(ImageStatus::Importing);
    let killed = base
        .with_id("k")
        .with_status(ImageStatus::Killed)
        .with_protected(true);
    let plan = plan_with(&desired, vec![queued, importing, killed], Prune::None);
    assert_eq!(
        summary(&plan),
        [
            step(Phase::Cleanup, "-", "Ubuntu 24.04", "leftover"),
            step(Phase::Cleanup, "-", "Ubuntu 24.04", "leftover"),
            step(Phase::Upload, "+", "Ubuntu 24.04", "missing"),
            step(Phase::Publish, "*", "Ubuntu 24.04", "uploaded"),
        ]
    );
    assert!(
        matches!(&plan.warnings[..], [Warning::Stuck { id, status, .. }] if id == "k" && status == "killed")
    );
}

#[test]
fn an_active_image_still_marked_unverified_is_a_leftover() {
    // An interrupted apply (or a web-download nobody verified) left an active image whose
    // bytes were never checked: it is deleted and re-uploaded, never published.
    let desired = multi("forever", &["20260101"]);
    let unverified = in_sync(&desired)
        .remove(0)
        .with_id("u")
        .with_property(properties::UNVERIFIED, "true");
    let plan = plan_with(&desired, vec![unverified], Prune::None);
    assert_eq!(
        summary(&plan),
        [
            step(Phase::Cleanup, "-", "Ubuntu 24.04", "leftover"),
            step(Phase::Upload, "+", "Ubuntu 24.04", "missing"),
            step(Phase::Publish, "*", "Ubuntu 24.04", "uploaded"),
        ]
    );
    assert!(matches!(
        &plan.steps[0].reason,
        Reason::Leftover { status } if status == "active, unverified"
    ));
}

#[test]
fn duplicates_keep_the_oldest_active_image_and_clean_up_the_others() {
    let desired = multi("forever", &["20260101"]);
    let base = in_sync(&desired).remove(0);
    let at = |month| Utc.with_ymd_and_hms(2026, month, 1, 0, 0, 0).unwrap();
    let old = base.clone().with_id("older").with_created_at(at(1));
    let mut new = base.clone().with_id("newer").with_created_at(at(2));
    new.min_ram = 1;
    let mut protected = base.clone().with_id("guarded").with_created_at(at(3));
    protected.protected = true;
    // Listing order must not matter.
    for observed in [
        vec![old.clone(), new.clone(), protected.clone()],
        vec![protected.clone(), new.clone(), old.clone()],
    ] {
        let plan = plan_with(&desired, observed, Prune::None);
        assert_eq!(
            summary(&plan),
            [step(Phase::Cleanup, "-", "Ubuntu 24.04", "duplicate")]
        );
        assert_eq!(plan.steps[0].action.image_id(), Some("newer"));
        assert_eq!(
            plan.steps[0].reason,
            Reason::Duplicate {
                kept: "older".into()
            }
        );
        assert!(matches!(
            &plan.warnings[..],
            [Warning::DuplicateIdentity { kept, ids, .. }] if kept == "older" && ids == &["guarded"]
        ));
    }
}

#[test]
fn among_duplicates_the_image_holding_the_catalog_name_is_kept() {
    let desired = multi("forever", &["20260101"]);
    let base = in_sync(&desired).remove(0);
    let mut renamed = base
        .clone()
        .with_id("first")
        .with_created_at(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    renamed.name = "Ubuntu 24.04 [image-manager: pending]".into();
    let named = base
        .with_id("second")
        .with_created_at(Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap());
    let plan = plan_with(&desired, vec![renamed, named], Prune::None);
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].action.image_id(), Some("first"));
    assert_eq!(
        plan.steps[0].reason,
        Reason::Duplicate {
            kept: "second".into()
        }
    );
    assert!(plan.warnings.is_empty());
}

#[test]
fn deactivated_images_are_reactivated_when_the_catalog_wants_them_active() {
    let desired = multi("forever", &["20260101"]);
    let image = in_sync(&desired)
        .remove(0)
        .with_status(ImageStatus::Deactivated);
    let plan = plan_with(&desired, vec![image], Prune::None);
    assert_eq!(
        summary(&plan),
        [step(Phase::Publish, "^", "Ubuntu 24.04", "status")]
    );

    let deactivate = desired_from(
        &MULTI
            .replace("UUID", "forever")
            .replace("VERSIONS", &version_yaml("20260101"))
            .replace(
                "    visibility: public\n",
                "    visibility: public\n    status: deactivated\n",
            ),
    );
    let plan = plan_with(&deactivate, in_sync(&deactivate), Prune::None);
    assert_eq!(
        summary(&plan),
        [step(Phase::Publish, "-", "Ubuntu 24.04", "status")]
    );
}

#[test]
fn untagged_images_are_never_touched_even_with_a_managed_name() {
    let desired = multi("forever", &["20260101"]);
    let mut stranger = in_sync(&desired).remove(0).with_id("stranger");
    stranger.tags.clear();
    let plan = plan_with(&desired, vec![stranger], Prune::Delete);
    assert_eq!(
        summary(&plan),
        [
            step(Phase::Upload, "+", "Ubuntu 24.04", "missing"),
            step(Phase::Publish, "*", "Ubuntu 24.04", "uploaded"),
        ]
    );
    assert_eq!(
        plan.warnings,
        [Warning::UnmanagedNameClash {
            id: "stranger".into(),
            name: "Ubuntu 24.04".into()
        }]
    );
}

#[test]
fn a_cloud_managed_by_the_python_tool_is_adopted_without_uploads() {
    let desired = multi("forever", &["20260101"]);
    let mut image = in_sync(&desired).remove(0);
    image.tags = vec!["managed_by_osism".into(), "os:ubuntu".into()];
    let observed = ObservedState {
        projects: Default::default(),
        import_methods: Vec::new(),
        cloud: "test".into(),
        project_id: None,
        images: vec![image],
    };
    let mut adopting = desired.clone();
    for image in &mut adopting.definitions[0].images {
        image.tags = ["managed_by_osism", "os:ubuntu"].map(String::from).into();
    }
    let policy = Policy {
        managed_tag: "managed_by_osism".into(),
        prune: Prune::None,
        method: None,
    };
    let plan = plan(&adopting, &observed, &policy);
    assert!(
        plan.steps
            .iter()
            .all(|s| !matches!(s.action, Action::Create { .. })),
        "{:#?}",
        plan.steps
    );
    assert!(plan.is_empty());
}

#[test]
fn images_of_other_definitions_are_left_alone() {
    let desired = multi("none", &["20260101"]);
    let other = ObservedImage::test("Debian 12")
        .with_tag(TAG)
        .with_property("image_name", "Debian 12")
        .with_property("internal_version", "20250101");
    let plan = plan_with(&desired, vec![other], Prune::Delete);
    assert_eq!(
        summary(&plan),
        [
            step(Phase::Upload, "+", "Ubuntu 24.04", "missing"),
            step(Phase::Publish, "*", "Ubuntu 24.04", "uploaded"),
        ]
    );
}

#[test]
fn tagged_images_of_other_projects_are_never_managed() {
    // An admin lists every project's images; a tagged image in another project is not ours:
    // not adopted, not corrected, not pruned, and our own copy is created.
    let desired = multi("none", &["20260101"]);
    let mut theirs = in_sync(&desired).remove(0);
    theirs.owner = Some("other-project".into());
    theirs.visibility = Visibility::Shared;
    let observed = ObservedState {
        projects: Default::default(),
        import_methods: Vec::new(),
        cloud: "test".into(),
        project_id: Some("test-project".into()),
        images: vec![theirs.clone()],
    };
    let policy = Policy {
        managed_tag: "managed_by_image_manager".into(),
        prune: Prune::Delete,
        method: None,
    };
    let first = plan(&desired, &observed, &policy);
    assert_eq!(
        summary(&first),
        [
            step(Phase::Upload, "+", "Ubuntu 24.04", "missing"),
            step(Phase::Publish, "*", "Ubuntu 24.04", "uploaded"),
        ]
    );
    assert!(
        first
            .steps
            .iter()
            .all(|s| s.action.image_id() != Some(theirs.id.as_str()))
    );

    // The same image in our project is managed as before (no create).
    theirs.owner = Some("test-project".into());
    let observed = ObservedState {
        projects: Default::default(),
        import_methods: Vec::new(),
        images: vec![theirs],
        ..observed
    };
    let second = plan(&desired, &observed, &policy);
    assert!(
        second
            .steps
            .iter()
            .all(|s| !matches!(s.action, Action::Create { .. }))
    );
}
