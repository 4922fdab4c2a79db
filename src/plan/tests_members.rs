//! Table tests of the member steps: catalog `shared` lists + crafted Glance members in, steps
//! out.

use super::tests::{TAG, desired_from, in_sync, keystone, observed_as, plan_with};
use super::*;
use crate::glance::ProjectName;

/// One shared multi definition; `SHARED` is its `shared` list (indented 4), `VERSIONS` its
/// versions, `EXTRA` more definition keys.
const SHARED: &str = r#"images:
  - name: Shared
    format: qcow2
    visibility: shared
    meta:
      os_distro: testos
      uuid_validity: forever
EXTRA
SHARED
    versions:
VERSIONS"#;

const DEMO: &str = "    shared:\n      - project_id: p-ops\n      - project: demo\n        \
                    domain: Default\n        status: accepted\n";

fn version(v: &str, extra: &str) -> String {
    format!(
        "      - version: '{v}'\n        url: https://e.org/{v}.img\n        checksum: \
         sha256:{}\n{extra}",
        "a".repeat(64)
    )
}

fn catalog(shared: &str, versions: &[&str], extra: &str) -> DesiredState {
    let versions: String = versions.iter().map(|v| version(v, "")).collect();
    desired_from(
        &SHARED
            .replace("EXTRA\n", extra)
            .replace("SHARED\n", shared)
            .replace("VERSIONS", &versions),
    )
}

/// `(phase, symbol, image id, project id, accept)` of each member step.
fn member_steps(plan: &Plan) -> Vec<MemberRow> {
    plan.steps
        .iter()
        .filter_map(|s| {
            let project = s.action.member()?;
            let accept = matches!(s.action, Action::AddMember { accept: true, .. });
            let id = s.action.image_id().map(str::to_owned);
            Some((s.phase, s.action.symbol(), id, project.id.clone(), accept))
        })
        .collect()
}

fn share(symbol: &'static str, id: Option<&str>, project: &str, accept: bool) -> MemberRow {
    (
        Phase::Share,
        symbol,
        id.map(str::to_owned),
        project.to_owned(),
        accept,
    )
}

type MemberRow = (Phase, &'static str, Option<String>, String, bool);

/// Members in Glance, and the member steps expected.
type Case = (&'static [(&'static str, &'static str)], Vec<MemberRow>);

#[test]
fn a_new_shared_image_gets_its_members_after_its_publish() {
    let desired = catalog(DEMO, &["1"], "");
    let plan = plan_with(&desired, vec![], Prune::None);
    let kinds: Vec<ActionKind> = plan.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(
        kinds,
        [
            ActionKind::Create,
            ActionKind::Publish,
            ActionKind::AddMember,
            ActionKind::AddMember
        ]
    );
    assert_eq!(
        member_steps(&plan),
        [
            share("+", None, "p-ops", false),
            share("+", None, "id-of-demo", true)
        ]
    );
    let named = plan.steps[3].action.member().unwrap();
    assert_eq!(
        (named.name.as_deref(), named.domain.as_deref()),
        (Some("demo"), Some("Default"))
    );
    assert!(plan.steps[2].action.on_created_image());
    assert_eq!(plan.steps[2].reason, Reason::MemberListed);
    let summary = json::Summary::of(&plan);
    assert_eq!((summary.create, summary.members), (1, 2));
}

#[test]
fn members_in_glance_are_reconciled_and_a_member_s_own_decision_is_kept() {
    let desired = catalog(DEMO, &["1"], "");
    // In sync: nothing to do.
    assert!(plan_with(&desired, in_sync(&desired), Prune::None).is_empty());
    let wanted = &desired.definitions[0].images[0];
    let cases: [Case; 5] = [
        // Missing: added (demo accepted for it).
        (
            &[],
            vec![
                share("+", Some("id-1"), "p-ops", false),
                share("+", Some("id-1"), "id-of-demo", true),
            ],
        ),
        // Not listed any more: removed.
        (
            &[
                ("p-ops", "pending"),
                ("id-of-demo", "accepted"),
                ("p-gone", "accepted"),
            ],
            vec![share("-", Some("id-1"), "p-gone", false)],
        ),
        // Accepted wanted, still pending: accepted.
        (
            &[("p-ops", "pending"), ("id-of-demo", "pending")],
            vec![share("~", Some("id-1"), "id-of-demo", false)],
        ),
        // A pending entry leaves the member project's decision alone, either way.
        (&[("p-ops", "rejected"), ("id-of-demo", "accepted")], vec![]),
        (&[("p-ops", "accepted"), ("id-of-demo", "accepted")], vec![]),
    ];
    for (members, expected) in cases {
        let image = observed_as(wanted).with_members(members);
        let plan = plan_with(&desired, vec![image], Prune::None);
        assert_eq!(member_steps(&plan), expected, "{members:?}");
        assert!(plan.steps.iter().all(|s| s.phase == Phase::Share));
    }
    let image = observed_as(wanted).with_members(&[("p-ops", "pending"), ("id-of-demo", "x")]);
    let plan = plan_with(&desired, vec![image], Prune::None);
    let Action::AcceptMember { from, .. } = &plan.steps[0].action else {
        panic!("{:#?}", plan.steps)
    };
    assert_eq!(
        (from.as_str(), &plan.steps[0].reason),
        ("x", &Reason::MemberStatus)
    );
}

#[test]
fn members_are_left_alone_where_the_catalog_does_not_manage_them() {
    // No `shared` key: whatever members Glance has stay.
    let unmanaged = catalog("", &["1"], "");
    let image = observed_as(&unmanaged.definitions[0].images[0]).with_members(&[("p", "x")]);
    assert!(plan_with(&unmanaged, vec![image], Prune::None).is_empty());
    // `shared: []`: exactly no members.
    let none = catalog("    shared: []\n", &["1"], "");
    let image = observed_as(&none.definitions[0].images[0]).with_members(&[("p", "accepted")]);
    let plan = plan_with(&none, vec![image], Prune::None);
    assert_eq!(member_steps(&plan), [share("-", Some("id-1"), "p", false)]);
    // A superseded version made private by `on_rotate` has no members to manage.
    let rotated = catalog(
        DEMO,
        &["1", "2"],
        "    on_rotate:\n      visibility: private\n",
    );
    let old = &rotated.definitions[0].images[0];
    assert_eq!(old.members, None);
    let images = vec![
        observed_as(old).with_members(&[("p-left-over", "accepted")]),
        observed_as(&rotated.definitions[0].images[1]),
    ];
    assert!(plan_with(&rotated, images, Prune::None).is_empty());
}

#[test]
fn a_version_s_list_replaces_the_definition_s() {
    let own = version("2", "        shared:\n          - project_id: p-beta\n");
    let text = SHARED
        .replace("EXTRA\n", "")
        .replace("SHARED\n", DEMO)
        .replace("VERSIONS", &(version("1", "") + &own));
    let desired = desired_from(&text);
    let images = &desired.definitions[0].images;
    let ids = |i: usize| -> Vec<String> {
        let members = images[i].members.as_ref().unwrap();
        members
            .iter()
            .map(|m| super::tests::project_id(&m.project))
            .collect()
    };
    assert_eq!(ids(0), ["p-ops", "id-of-demo"]);
    assert_eq!(ids(1), ["p-beta"]);
}

#[test]
fn one_project_listed_by_id_and_by_name_is_one_member() {
    let both = "    shared:\n      - project_id: id-of-demo\n      - project: demo\n        \
                domain: Default\n        status: accepted\n";
    let desired = catalog(both, &["1"], "");
    let plan = plan_with(&desired, vec![], Prune::None);
    assert_eq!(member_steps(&plan), [share("+", None, "id-of-demo", true)]);
}

#[test]
fn a_project_that_does_not_resolve_is_an_error_of_its_definition_only() {
    let text = SHARED
        .replace("EXTRA\n", "")
        .replace("SHARED\n", DEMO)
        .replace("VERSIONS", &(version("1", "") + &version("2", "")));
    let other = "  - name: Other\n    format: qcow2\n    visibility: shared\n    shared:\n      \
                 - project_id: p-ops\n    meta:\n      uuid_validity: forever\n    versions:\n";
    let desired = desired_from(&format!("{text}{other}{}", version("1", "")));
    let mut projects = keystone(&desired);
    let demo = ProjectName {
        name: "demo".into(),
        domain: "Default".into(),
    };
    projects.insert(
        demo,
        Err("Keystone has no project demo (domain Default)".into()),
    );
    let observed = ObservedState {
        cloud: "test".into(),
        project_id: None,
        images: vec![observed_as(&desired.definitions[0].images[0])],
        import_methods: Vec::new(),
        projects,
    };
    let policy = Policy {
        managed_tag: TAG.into(),
        prune: Prune::None,
        method: None,
    };
    let plan = plan(&desired, &observed, &policy);
    // One error for the definition, though both its versions list the project.
    let [error] = &plan.errors[..] else {
        panic!("{:#?}", plan.errors)
    };
    assert_eq!(error.identity.definition, "Shared");
    assert_eq!(
        error.message,
        "cannot share the image: Keystone has no project demo (domain Default)"
    );
    // `Shared` keeps only its upload; `Other` is planned in full.
    let rows: Vec<(&str, ActionKind)> = plan
        .steps
        .iter()
        .map(|s| {
            (
                s.identity.as_ref().unwrap().definition.as_str(),
                s.action.kind(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("Shared", ActionKind::Create),
            ("Other", ActionKind::Create),
            ("Other", ActionKind::Publish),
            ("Other", ActionKind::AddMember),
        ]
    );
    // Not looked up at all (a caller that skipped Keystone) is an error too, not a guess.
    let unresolved = ObservedState {
        projects: Default::default(),
        ..observed
    };
    let plan = super::plan(&desired, &unresolved, &policy);
    assert!(
        plan.errors[0].message.contains("was not looked up"),
        "{:?}",
        plan.errors
    );
}

#[test]
fn an_image_pruned_by_delete_gets_no_member_steps() {
    let versions = version("1", "") + &version("2", "");
    let text = SHARED
        .replace("EXTRA\n", "")
        .replace("SHARED\n", DEMO)
        .replace("VERSIONS", &versions)
        .replace("uuid_validity: forever", "uuid_validity: none");
    let desired = desired_from(&text);
    // uuid_validity none: the superseded version 1 is prunable.
    let images = &desired.definitions[0].images;
    assert_eq!(images[0].retention, crate::desired::Retention::Prunable);
    let members = [
        ("p-ops", "pending"),
        ("id-of-demo", "accepted"),
        ("p-gone", "accepted"),
    ];
    let glance = vec![
        observed_as(&images[0]).with_members(&members),
        observed_as(&images[1]),
    ];
    let deleting = plan_with(&desired, glance.clone(), Prune::Delete);
    assert!(member_steps(&deleting).is_empty(), "{:#?}", deleting.steps);
    // Kept (hidden), its members are still reconciled.
    let hiding = plan_with(&desired, glance, Prune::Hide);
    assert_eq!(
        member_steps(&hiding),
        [share("-", Some("id-1"), "p-gone", false)]
    );
}
