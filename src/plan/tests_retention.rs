//! Table tests of retention: every `uuid_validity` class under every `--prune` mode, versions
//! the catalog no longer lists, and protected prune targets.

use super::tests::{Row, changes, in_sync, multi, observed_as, plan_with, step, summary};
use super::*;
use crate::glance::ObservedImage;

/// Glance holds three superseded versions the catalog still lists, plus the current one.
fn with_superseded(uuid_validity: &str, prune: Prune) -> Plan {
    let desired = multi(
        uuid_validity,
        &["20260101", "20260201", "20260301", "20260401"],
    );
    let images = desired.definitions[0]
        .images
        .iter()
        .map(observed_as)
        .collect();
    plan_with(&desired, images, prune)
}

#[test]
fn every_retention_class_with_every_prune_mode() {
    use Phase::{Prune as P, Rotate as R};
    let name = |v: &str| format!("Ubuntu 24.04 ({v})");
    // last-1: 20260301 is kept; 20260201 and 20260101 are past their promise.
    let cases: [(&str, Prune, Vec<Row>); 8] = [
        ("forever", Prune::Delete, vec![]),
        ("notice", Prune::Delete, vec![]),
        ("2026-12-31", Prune::Delete, vec![]),
        ("last-1", Prune::None, vec![]),
        (
            "last-1",
            Prune::Hide,
            vec![
                step(R, "~", &name("20260101"), "expired"),
                step(R, "~", &name("20260201"), "expired"),
            ],
        ),
        (
            "last-1",
            Prune::Deactivate,
            vec![
                step(P, "-", &name("20260101"), "expired"),
                step(P, "-", &name("20260201"), "expired"),
            ],
        ),
        (
            "none",
            Prune::Delete,
            vec![
                step(P, "-", &name("20260101"), "expired"),
                step(P, "-", &name("20260201"), "expired"),
                step(P, "-", &name("20260301"), "expired"),
            ],
        ),
        (
            "2026-11-01",
            Prune::Delete,
            vec![
                step(P, "-", &name("20260101"), "expired"),
                step(P, "-", &name("20260201"), "expired"),
                step(P, "-", &name("20260301"), "expired"),
            ],
        ),
    ];
    for (uuid_validity, prune, expected) in cases {
        let plan = with_superseded(uuid_validity, prune);
        assert_eq!(summary(&plan), expected, "{uuid_validity} / {prune:?}");
    }
    // --prune none only reports.
    let plan = with_superseded("last-1", Prune::None);
    assert_eq!(plan.warnings.len(), 2);
    assert!(
        plan.warnings
            .iter()
            .all(|w| matches!(w, Warning::PruneSkipped { .. }))
    );
    // Deactivate is a separate call; delete leaves no update behind.
    let plan = with_superseded("none", Prune::Delete);
    assert!(
        plan.steps
            .iter()
            .all(|s| matches!(s.action, Action::Delete { .. }))
    );
}

#[test]
fn unlisted_versions_follow_the_definition_policy() {
    // Glance still has 20251101 and 20251201; the catalog lists only 20260101 (current).
    let desired = multi("last-1", &["20260101"]);
    let mut images = in_sync(&desired);
    for (version, name) in [
        ("20251101", "Ubuntu 24.04 (20251101)"),
        ("20251201", "Ubuntu 24.04"),
    ] {
        let old = multi("last-1", &[version]);
        let mut image =
            observed_as(&old.definitions[0].images[0]).with_id(&format!("old-{version}"));
        image.name = name.to_owned();
        images.push(image);
    }
    let plan = plan_with(&desired, images, Prune::Delete);
    assert_eq!(
        summary(&plan),
        [
            step(Phase::Rotate, "~", "Ubuntu 24.04", "superseded"),
            step(Phase::Prune, "-", "Ubuntu 24.04 (20251101)", "unlisted"),
        ]
    );
    // The kept one is renamed out of the way and becomes oldgeneric; nothing else changes.
    assert_eq!(
        changes(&plan.steps[0]),
        [
            Change::Name {
                from: "Ubuntu 24.04".into(),
                to: "Ubuntu 24.04 (20251201)".into()
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
fn protected_prune_targets_are_reported_not_pruned() {
    let desired = multi("none", &["20260101", "20260201"]);
    let mut images: Vec<ObservedImage> = desired.definitions[0]
        .images
        .iter()
        .map(observed_as)
        .collect();
    images[0].protected = true;
    let plan = plan_with(&desired, images, Prune::Delete);
    assert!(plan.steps.is_empty(), "{:#?}", plan.steps);
    assert_eq!(
        plan.warnings,
        [Warning::ProtectedPruneTarget {
            id: "id-20260101".into(),
            name: "Ubuntu 24.04 (20260101)".into()
        }]
    );
}
