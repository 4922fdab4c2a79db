//! The plan as the whole truth: data paths resolved from what was observed, versions the
//! plan cannot serve, and the projection (planning again against what the plan leaves behind
//! plans nothing, members of shared images included).

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::tests::{
    MULTI, TAG, desired_from, in_sync, keystone, multi, observed_as, plan_with, version_yaml,
};
use super::*;
use crate::catalog::checksums::Algorithm;
use crate::catalog::{Compression, Method};
use crate::glance::{ImageStatus, MemberStatus, ObservedImage, ObservedMember, Visibility};

// ---- data path: resolved in the plan from the catalog, --method and the observed cloud ----

fn observed_with(import_methods: &[&str], images: Vec<ObservedImage>) -> ObservedState {
    ObservedState {
        projects: Default::default(),
        cloud: "test".into(),
        project_id: None,
        images,
        import_methods: import_methods.iter().map(|m| m.to_string()).collect(),
    }
}

fn policy(method: Option<Method>) -> Policy {
    Policy {
        managed_tag: TAG.into(),
        prune: Prune::None,
        method,
    }
}

fn paths(plan: &Plan) -> Vec<DataPath> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Create { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn auto_takes_glance_direct_only_where_the_cloud_offers_it() {
    let desired = multi("forever", &["20260101"]);
    let offered = observed_with(&["glance-direct", "web-download"], vec![]);
    let path = DataPath {
        method: Way::GlanceDirect,
        hash_algo: Algorithm::Sha512,
    };
    assert_eq!(paths(&plan(&desired, &offered, &policy(None))), [path]);
    let plain = observed_with(&["web-download"], vec![]);
    assert_eq!(
        paths(&plan(&desired, &plain, &policy(None)))[0].method,
        Way::Upload
    );
    // --method wins over the catalog and over what auto would pick.
    let forced = plan(&desired, &offered, &policy(Some(Method::WebDownload)));
    assert_eq!(paths(&forced)[0].method, Way::WebDownload);
}

#[test]
fn the_cloud_hash_algorithm_is_the_one_its_images_carry() {
    let desired = multi("forever", &["20260101"]);
    let hashed = |id: &str, algo: &str| {
        let mut image = ObservedImage::test(id).with_id(id);
        image.os_hash_algo = Some(algo.into());
        image
    };
    let images = vec![
        hashed("a", "sha256"),
        hashed("b", "sha256"),
        hashed("c", "sha512"),
    ];
    let observed = observed_with(&[], images);
    assert_eq!(
        paths(&plan(&desired, &observed, &policy(None)))[0].hash_algo,
        Algorithm::Sha256
    );
    // An empty cloud: Glance's default.
    let empty = observed_with(&[], vec![]);
    assert_eq!(
        paths(&plan(&desired, &empty, &policy(None)))[0].hash_algo,
        Algorithm::Sha512
    );
}

#[test]
fn a_version_without_a_way_in_is_a_plan_error_and_holds_its_definition_back() {
    // 20260101 is in Glance; the new 20260201 is xz-compressed and forced to web-download,
    // which Glance cannot decompress: no upload, no publish, and the old image is not
    // rotated out of the way for an image that will not come.
    let before = multi("forever", &["20260101"]);
    let old = in_sync(&before).remove(0);
    let mut desired = multi("forever", &["20260101", "20260201"]);
    let new = &mut desired.definitions[0].images[1];
    new.source.compression = Some(Compression::Xz);
    new.source.method = Method::WebDownload;
    let plan = plan_with(&desired, vec![old], Prune::None);
    assert!(plan.steps.is_empty(), "{:#?}", plan.steps);
    let [error] = &plan.errors[..] else {
        panic!("{:#?}", plan.errors);
    };
    assert_eq!(error.identity.version, "20260201");
    assert!(
        error.message.contains("web-download cannot decompress"),
        "{}",
        error.message
    );
    // Uncompressed, the same catalog plans its upload, rotation and publish.
    desired.definitions[0].images[1].source.compression = None;
    let plan = plan_with(&desired, in_sync(&before), Prune::None);
    assert!(plan.errors.is_empty());
    assert_eq!(plan.steps.len(), 3, "{:#?}", plan.steps);
}

// ---- projection: what the plan leaves behind needs no further plan ----

/// Versions a catalog may list, oldest first; `20251201` is never listed (an unlisted image
/// when Glance has it).
const POOL: [&str; 5] = ["20251201", "20260101", "20260201", "20260301", "20260401"];

/// How one observed image differs from what the catalog wants.
#[derive(Clone, Debug)]
enum Mutation {
    None,
    Renamed,
    Visibility(Visibility),
    Hidden,
    MinRam,
    TagMissing,
    ForeignProperty,
    OsPurpose,
    Status(ImageStatus),
    Unverified,
    Protected,
    Duplicate,
    Untagged,
    /// Of a shared image: a listed member missing, an unlisted one present, a member still
    /// pending where the catalog wants it accepted, or members nobody read (`None`).
    MemberMissing,
    MemberExtra,
    MemberPending,
    MembersUnread,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => Just(Mutation::None),
        1 => Just(Mutation::Renamed),
        1 => prop_oneof![
            Just(Visibility::Private),
            Just(Visibility::Shared),
            Just(Visibility::Community)
        ]
        .prop_map(Mutation::Visibility),
        1 => Just(Mutation::Hidden),
        1 => Just(Mutation::MinRam),
        1 => Just(Mutation::TagMissing),
        1 => Just(Mutation::ForeignProperty),
        1 => Just(Mutation::OsPurpose),
        1 => prop_oneof![
            Just(ImageStatus::Deactivated),
            Just(ImageStatus::Queued),
            Just(ImageStatus::Importing),
            Just(ImageStatus::Killed),
        ]
        .prop_map(Mutation::Status),
        1 => Just(Mutation::Unverified),
        1 => Just(Mutation::Protected),
        1 => Just(Mutation::Duplicate),
        1 => Just(Mutation::Untagged),
        1 => Just(Mutation::MemberMissing),
        1 => Just(Mutation::MemberExtra),
        1 => Just(Mutation::MemberPending),
        1 => Just(Mutation::MembersUnread),
    ]
}

/// The prop test's catalog: [`multi`], or the same definition shared with a project by id
/// (pending) and one by name (accepted).
fn catalog(uuid_validity: &str, versions: &[&str], shared: bool) -> DesiredState {
    if !shared {
        return multi(uuid_validity, versions);
    }
    let versions: String = versions.iter().map(|v| version_yaml(v)).collect();
    let sharing = "    visibility: shared\n    shared:\n      - project_id: p-ops\n      - project: \
                   demo\n        domain: Default\n        status: accepted\n";
    desired_from(
        &MULTI
            .replace("    visibility: public\n", sharing)
            .replace("UUID", uuid_validity)
            .replace("VERSIONS", &versions),
    )
}

fn prune() -> impl Strategy<Value = Prune> {
    prop_oneof![
        Just(Prune::None),
        Just(Prune::Hide),
        Just(Prune::Deactivate),
        Just(Prune::Delete)
    ]
}

/// Glance's images: for each pool version, maybe an image as the catalog of every pool
/// version would have it, with one mutation.
fn glance_images(present: &[Option<Mutation>], shared: bool) -> Vec<ObservedImage> {
    let all = catalog("forever", &POOL, shared);
    let mut images = Vec::new();
    for (wanted, mutation) in all.definitions[0].images.iter().zip(present) {
        let Some(mutation) = mutation else { continue };
        let mut image = observed_as(wanted);
        match mutation {
            Mutation::None => {}
            Mutation::Renamed => image.name = format!("{} (renamed)", image.name),
            Mutation::Visibility(v) => image.visibility = v.clone(),
            Mutation::Hidden => image.os_hidden = !image.os_hidden,
            Mutation::MinRam => image.min_ram += 1,
            Mutation::TagMissing => image.tags.retain(|t| !t.starts_with("os:")),
            Mutation::ForeignProperty => {
                image.properties.insert("site_note".into(), "x".into());
            }
            Mutation::OsPurpose => {
                image
                    .properties
                    .insert("os_purpose".into(), "custom".into());
            }
            Mutation::Status(status) => image.status = status.clone(),
            Mutation::Unverified => {
                image
                    .properties
                    .insert(crate::desired::properties::UNVERIFIED.into(), "true".into());
            }
            Mutation::Protected => image.protected = true,
            Mutation::Duplicate => {
                let mut twin = image.clone().with_id(&format!("{}-twin", image.id));
                twin.created_at = Some(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap());
                images.push(twin);
            }
            Mutation::Untagged => image.tags.retain(|t| t != TAG),
            Mutation::MemberMissing => {
                if let Some(members) = &mut image.members {
                    members.pop();
                }
            }
            Mutation::MemberExtra => {
                if let Some(members) = &mut image.members {
                    members.push(ObservedMember {
                        project_id: "p-gone".into(),
                        status: MemberStatus::Accepted,
                    });
                }
            }
            Mutation::MemberPending => {
                for member in image.members.iter_mut().flatten() {
                    member.status = MemberStatus::Pending;
                }
            }
            Mutation::MembersUnread => image.members = None,
        }
        images.push(image);
    }
    images
}

proptest! {
    #![proptest_config(crate::catalog::tests_props::config(256))]

    /// For any catalog, Glance and `--prune`: once the plan ran, planning again finds nothing
    /// to do — the projection is the state the planner aims at, and the planner reaches it
    /// in one run.
    #[test]
    fn prop_planning_against_the_projection_plans_nothing(
        uuid_validity in prop_oneof![
            Just("forever"), Just("none"), Just("last-1"), Just("last-2"), Just("2026-03-31"),
        ],
        listed in prop::sample::subsequence(POOL[1..].to_vec(), 1..=4),
        present in prop::collection::vec(prop::option::of(mutation()), POOL.len()),
        prune in prune(),
        glance_direct in any::<bool>(),
        shared in any::<bool>(),
    ) {
        let desired = catalog(uuid_validity, &listed, shared);
        let methods: &[&str] = if glance_direct { &["glance-direct"] } else { &[] };
        let observed = ObservedState {
            projects: keystone(&desired),
            cloud: "test".into(),
            project_id: None,
            images: glance_images(&present, shared),
            import_methods: methods.iter().map(|m| m.to_string()).collect(),
        };
        let policy = policy(None);
        let policy = Policy { prune, ..policy };
        let first = plan(&desired, &observed, &policy);
        let now = Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
        let after = project(&observed, &first, now);
        let again = plan(&desired, &after, &policy);
        prop_assert!(
            again.steps.is_empty(),
            "first plan:\n{}\nplan against the projection:\n{}",
            render::text(&first, false),
            render::text(&again, false)
        );
    }
}
