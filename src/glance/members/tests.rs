//! Parsers of the sharing answers — Glance's member list, Keystone's project and domain
//! look-ups — on real shapes, edge cases and mutated answers.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::catalog::tests_props::config;
use crate::glance::json_props;
use crate::glance::projects::{parse_listing, parse_one};

/// `GET /v2/images/{id}/members` as Glance 33 answers it (the list under `members`).
fn members_answer() -> Value {
    json!([
        {"member_id": "ab232963bfc44369bff0dac650020968", "image_id": "ea98",
         "status": "pending", "created_at": "2026-12-06T19:03:49Z",
         "updated_at": "2026-12-06T19:03:49Z", "schema": "/v2/schemas/member"},
        {"member_id": "ba275710f22946fc81e427861e1f9358", "image_id": "ea98",
         "status": "accepted", "created_at": "2026-12-06T19:03:49Z",
         "updated_at": "2026-12-06T19:04:00Z", "schema": "/v2/schemas/member"}
    ])
}

/// `GET /v3/projects?name=demo&domain_id=default` as Keystone 30 answers it.
fn projects_answer() -> Value {
    json!({"projects": [{"id": "ab232963bfc44369bff0dac650020968", "name": "demo",
        "domain_id": "default", "description": "", "enabled": true, "parent_id": "default",
        "is_domain": false, "tags": [], "options": {},
        "links": {"self": "http://k:5000/v3/projects/ab23"}}],
        "links": {"next": null, "self": "http://k:5000/v3/projects?name=demo", "previous": null}})
}

#[test]
fn reads_members_with_their_status() {
    let members = parse_members(&members_answer()).unwrap();
    assert_eq!(
        members,
        [
            ObservedMember {
                project_id: "ab232963bfc44369bff0dac650020968".into(),
                status: MemberStatus::Pending,
            },
            ObservedMember {
                project_id: "ba275710f22946fc81e427861e1f9358".into(),
                status: MemberStatus::Accepted,
            },
        ]
    );
    assert_eq!(parse_members(&json!([])).unwrap(), []);
    let odd = parse_members(&json!([{"member_id": "p", "status": "frozen"}, {"member_id": "q"}]));
    let statuses: Vec<String> = odd.unwrap().iter().map(|m| m.status.to_string()).collect();
    assert_eq!(statuses, ["frozen", ""]);
}

#[test]
fn a_member_without_id_or_a_missing_list_is_refused() {
    assert!(parse_members(&Value::Null).is_err(), "no `members` key");
    assert!(parse_members(&json!({"members": []})).is_err());
    for bad in [
        json!([{"status": "accepted"}]),
        json!([{"member_id": ""}]),
        json!([7]),
    ] {
        assert!(parse_members(&bad).is_err(), "{bad}");
    }
}

#[test]
fn reads_keystone_listings_of_one_domain() {
    let answer = projects_answer();
    assert_eq!(
        parse_listing(&answer, "projects", Some("default")).unwrap(),
        ["ab232963bfc44369bff0dac650020968"]
    );
    // A Keystone (or proxy) that ignored the domain filter: another domain's project is no
    // answer.
    assert!(
        parse_listing(&answer, "projects", Some("other"))
            .unwrap()
            .is_empty()
    );
    let domains = json!({"domains": [{"id": "default", "name": "Default"}]});
    assert_eq!(
        parse_listing(&domains, "domains", None).unwrap(),
        ["default"]
    );
    assert!(parse_listing(&json!({"domains": [{"name": "x"}]}), "domains", None).is_err());
    assert!(parse_listing(&json!({"error": {}}), "projects", None).is_err());
    assert_eq!(
        parse_one(&json!({"domain": {"id": "default"}}), "domain").unwrap(),
        "default"
    );
    assert!(parse_one(&json!({"domain": {"id": 7}}), "domain").is_err());
}

/// Keys and values of the three answers.
const KEYS: &[&str] = &[
    "members",
    "member_id",
    "status",
    "image_id",
    "projects",
    "domains",
    "domain",
    "domain_id",
    "id",
    "name",
    "links",
];
const STRINGS: &[&str] = &["accepted", "pending", "rejected", "default", "demo", ""];

fn json_value() -> impl Strategy<Value = Value> {
    json_props::json_value(STRINGS, KEYS)
}

proptest! {
    #![proptest_config(config(256))]

    /// Any JSON where an answer belongs: a result or an error, never a panic, and every id
    /// read is non-empty.
    #[test]
    fn prop_sharing_answers_of_any_shape_never_panic(value in json_value()) {
        if let Ok(members) = parse_members(&value) {
            prop_assert!(members.iter().all(|m| !m.project_id.is_empty()));
        }
        for key in ["projects", "domains"] {
            for domain in [None, Some("default")] {
                if let Ok(ids) = parse_listing(&value, key, domain) {
                    prop_assert!(ids.iter().all(|id| !id.is_empty()));
                }
            }
        }
        let _ = parse_one(&value, "domain");
    }

    /// Real-shaped answers with up to four values replaced by arbitrary JSON.
    #[test]
    fn prop_sharing_mutated_answers_never_panic(
        mutations in prop::collection::vec((any::<prop::sample::Index>(), json_value()), 1..4),
    ) {
        let mut members = members_answer();
        json_props::mutate(&mut members, mutations.clone());
        if let Ok(read) = parse_members(&members) {
            prop_assert!(read.len() <= 2);
        }
        let mut projects = projects_answer();
        json_props::mutate(&mut projects, mutations);
        if let Ok(ids) = parse_listing(&projects, "projects", Some("default")) {
            prop_assert!(ids.iter().all(|id| !id.is_empty()));
        }
    }
}
