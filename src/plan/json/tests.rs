//! Golden tests of the JSON document: every variant, redaction, the documented fields.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::*;
use crate::catalog::checksums::{Algorithm, Digest};
use crate::catalog::{Compression, DiskFormat, Method, Status, Visibility};
use crate::desired::{Checksum, DesiredImage, Identity, Retention, Source};
use crate::plan::{Change, MemberProject, Phase};
use crate::plan::{DataPath, Way};

#[test]
fn golden_small_plan() {
    let value: Value = serde_json::from_str(&to_string(&[small_plan()])).unwrap();
    assert_eq!(value, small_plan_json());
}

/// The README example's shape; changing this test means changing the documented schema.
fn small_plan_json() -> Value {
    json!({
      "format_version": "1",
      "plans": [{
        "cloud": "prod",
        "managed_tag": "managed_by_image_manager",
        "changes": true,
        "summary": {"create": 1, "publish": 1, "update": 1, "rename": 0, "prune": 1,
                    "members": 0, "warnings": 1, "errors": 0},
        "steps": [
          {
            "category": "create",
            "phase": "upload",
            "identity": {"definition": "Cirros", "version": "0.6.3"},
            "action": {"type": "create", "image": {
              "identity": {"definition": "Cirros", "version": "0.6.3"},
              "name": "Cirros 0.6.3",
              "disk_format": "qcow2",
              "visibility": "public",
              "hidden": false,
              "protected": null,
              "status": "active",
              "min_disk": 1,
              "min_ram": 128,
              "properties": {
                "image_name": "Cirros",
                "image_source": "https://example.org/cirros-0.6.3.img",
                "internal_version": "0.6.3",
                "os_distro": "cirros"
              },
              "tags": ["managed_by_image_manager", "os:cirros"],
              "id": null,
              "source": {
                "download_url": "https://example.org/cirros-0.6.3.img",
                "checksum": {"kind": "inline", "digest": {
                  "algorithm": "sha256",
                  "hex": "7d6355852aeb6dbcd191bcda7cd74f1536cfe5cbf8a10495a7283a8396e4b75b"
                }},
                "compression": null,
                "method": "auto"
              },
              "retention": "current",
              "members": null
            },
            "path": {"method": "glance-direct", "hash_algo": "sha512"}},
            "reason": {"kind": "missing"}
          },
          {
            "category": "update",
            "phase": "publish",
            "identity": {"definition": "Cirros", "version": "0.6.2"},
            "action": {"type": "update", "id": "1111", "name": "Cirros 0.6.2", "changes": [
              {"field": "property", "key": "os_purpose", "from": "generic", "to": "minimal"},
              {"field": "min_ram", "from": 64, "to": 128}
            ]},
            "reason": {"kind": "drift"}
          },
          {
            "category": "publish",
            "phase": "publish",
            "identity": {"definition": "Cirros", "version": "0.6.3"},
            "action": {"type": "publish", "name": "Cirros 0.6.3", "visibility": "public",
                       "hidden": false, "protected": false, "deactivate": false},
            "reason": {"kind": "uploaded"}
          },
          {
            "category": "prune",
            "phase": "prune",
            "identity": {"definition": "Cirros", "version": "0.5.2"},
            "action": {"type": "delete", "id": "2222", "name": "Cirros 0.5.2"},
            "reason": {"kind": "unlisted", "uuid_validity": "none"}
          }
        ],
        "warnings": [
          {"kind": "unmanaged_name_clash", "id": "3333", "name": "Cirros 0.6.3"}
        ],
        "errors": []
      }]
    })
}

#[test]
fn every_variant_serialises_with_its_snake_case_tag() {
    let value = serde_json::to_value(document(&[every_variant()])).unwrap();
    let plan = &value["plans"][0];
    // The tags of every list, space-separated.
    let pick = |list: &Value, path: &str| -> String {
        let tags = list.as_array().unwrap().iter();
        let tags = tags.map(|v| v.pointer(path).and_then(Value::as_str).unwrap());
        tags.collect::<Vec<_>>().join(" ")
    };
    let (steps, warnings) = (&plan["steps"], &plan["warnings"]);
    let cases = [
        (
            pick(steps, "/action/type"),
            "delete create update update publish reactivate deactivate add_member accept_member \
             remove_member update deactivate delete",
        ),
        (
            pick(steps, "/reason/kind"),
            "leftover missing superseded drift uploaded status status member_listed \
             member_status member_unlisted expired unlisted expired",
        ),
        (
            pick(steps, "/category"),
            "prune create rename update publish update update member member member prune prune \
             prune",
        ),
        (
            pick(steps, "/phase"),
            "cleanup upload rotate publish publish publish publish share share share prune prune \
             prune",
        ),
        (
            pick(warnings, "/kind"),
            "unmanaged_name_clash protected_prune_target duplicate_identity stuck prune_skipped",
        ),
        (
            pick(&steps[3]["action"]["changes"], "/field"),
            "name visibility hidden protected min_disk min_ram tags property property property",
        ),
    ];
    for (actual, expected) in cases {
        assert_eq!(actual, expected);
    }
    assert_eq!(
        plan["summary"],
        json!({"create": 1, "publish": 1, "update": 3, "rename": 1, "prune": 4,
                   "members": 3, "warnings": 5, "errors": 1})
    );
    assert_eq!(
        plan["steps"][7]["action"],
        json!({"type": "add_member", "id": null, "name": "Ubuntu 24.04", "accept": true,
               "project": {"id": "5e1ec7ed", "name": "demo", "domain": "Default"}})
    );
    assert_eq!(
        plan["steps"][8]["action"],
        json!({"type": "accept_member", "id": "aaaa", "name": "Ubuntu 24.04 (20260601)",
               "from": "pending",
               "project": {"id": "5e1ec7ed", "name": "demo", "domain": "Default"}})
    );
    assert_eq!(
        plan["steps"][9]["action"]["project"],
        json!({"id": "0ld0ld", "name": null, "domain": null})
    );
    assert_eq!(
        plan["steps"][1]["action"]["path"],
        json!({"method": "glance-direct", "hash_algo": "sha256"})
    );
    assert_eq!(
        plan["steps"][4]["action"],
        json!({"type": "publish", "name": "Ubuntu 24.04", "visibility": "private",
                   "hidden": true, "protected": true, "deactivate": true})
    );
    assert_eq!(plan["errors"][0]["identity"]["definition"], "Fedora 41");
    // Reason and warning payloads.
    assert_eq!(plan["steps"][2]["reason"]["by"], "Ubuntu 24.04");
    assert_eq!(plan["steps"][0]["reason"]["status"], "queued");
    assert_eq!(
        plan["warnings"][2],
        json!({"kind": "duplicate_identity",
                   "identity": {"definition": "Ubuntu 24.04", "version": "20260601"},
                   "kept": "aaaa", "ids": ["bbbb"]})
    );
    assert_eq!(plan["warnings"][3]["status"], "killed");
    // A property change keeps explicit nulls for add/remove.
    assert_eq!(
        plan["steps"][3]["action"]["changes"][8],
        json!({"field": "property", "key": "hw_rng_model", "from": null, "to": "virtio"})
    );
}

#[test]
fn empty_plan_has_no_changes_and_several_clouds_keep_their_order() {
    let empty = |cloud: &str| Plan {
        cloud: cloud.into(),
        managed_tag: "managed_by_osism".into(),
        steps: Vec::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let value = serde_json::to_value(document(&[empty("a"), small_plan(), empty("c")])).unwrap();
    let plans = value["plans"].as_array().unwrap();
    let clouds: Vec<&str> = plans.iter().map(|p| p["cloud"].as_str().unwrap()).collect();
    assert_eq!(clouds, ["a", "prod", "c"]);
    assert_eq!(plans[0]["changes"], false);
    assert_eq!(plans[0]["steps"], json!([]));
    assert_eq!(plans[0]["managed_tag"], "managed_by_osism");
    assert_eq!(
        plans[0]["summary"],
        json!({"create": 0, "publish": 0, "update": 0, "rename": 0, "prune": 0,
                   "members": 0, "warnings": 0, "errors": 0})
    );
    assert_eq!(plans[1]["changes"], true);
}

// ---- fixtures, shared with the render tests: every variant of every plan type ----

fn id(definition: &str, version: &str) -> Option<Identity> {
    let (definition, version) = (definition.into(), version.into());
    Some(Identity {
        definition,
        version,
    })
}

fn step(phase: Phase, identity: Option<Identity>, action: Action, reason: Reason) -> Step {
    Step {
        phase,
        identity,
        action,
        reason,
    }
}

fn update(id: &str, name: &str, changes: Vec<Change>) -> Action {
    let (id, name) = (id.into(), name.into());
    Action::Update { id, name, changes }
}

/// `Deactivate`, `Reactivate` or `Delete` of `id`, `name`.
fn on(kind: fn(String, String) -> Action, id: &str, name: &str) -> Action {
    kind(id.into(), name.into())
}

fn deactivate(id: String, name: String) -> Action {
    Action::Deactivate { id, name }
}

fn reactivate(id: String, name: String) -> Action {
    Action::Reactivate { id, name }
}

fn delete(id: String, name: String) -> Action {
    Action::Delete { id, name }
}

fn property(key: &str, from: Option<&str>, to: Option<&str>) -> Change {
    let (key, from, to) = (key.into(), from.map(Into::into), to.map(Into::into));
    Change::Property { key, from, to }
}

fn strings<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).into()
}

fn cirros_063() -> DesiredImage {
    let url = "https://example.org/cirros-0.6.3.img";
    let hex = "7d6355852aeb6dbcd191bcda7cd74f1536cfe5cbf8a10495a7283a8396e4b75b";
    DesiredImage {
        identity: id("Cirros", "0.6.3").unwrap(),
        name: "Cirros 0.6.3".into(),
        disk_format: DiskFormat::Qcow2,
        visibility: Visibility::Public,
        hidden: false,
        protected: None,
        status: Status::Active,
        min_disk: 1,
        min_ram: 128,
        properties: strings([
            ("image_name", "Cirros"),
            ("internal_version", "0.6.3"),
            ("image_source", url),
            ("os_distro", "cirros"),
        ]),
        tags: BTreeSet::from(["managed_by_image_manager".into(), "os:cirros".into()]),
        id: None,
        source: Source {
            download_url: url.into(),
            checksum: Checksum::Inline {
                digest: Digest::parse(&format!("sha256:{hex}")).unwrap(),
            },
            compression: None,
            method: Method::Auto,
            fallback: None,
        },
        retention: Retention::Current,
        members: None,
    }
}

/// Four steps and a warning: the README's example plan.
pub(crate) fn small_plan() -> Plan {
    let create = Action::Create {
        image: Box::new(cirros_063()),
        path: DataPath {
            method: Way::GlanceDirect,
            hash_algo: Algorithm::Sha512,
        },
    };
    let publish = Action::Publish {
        name: "Cirros 0.6.3".into(),
        visibility: "public".into(),
        hidden: false,
        protected: false,
        deactivate: false,
    };
    let drift = vec![
        property("os_purpose", Some("generic"), Some("minimal")),
        Change::MinRam { from: 64, to: 128 },
    ];
    let unlisted = Reason::Unlisted {
        uuid_validity: "none".into(),
    };
    Plan {
        cloud: "prod".into(),
        managed_tag: "managed_by_image_manager".into(),
        steps: vec![
            step(
                Phase::Upload,
                id("Cirros", "0.6.3"),
                create,
                Reason::Missing,
            ),
            step(
                Phase::Publish,
                id("Cirros", "0.6.2"),
                update("1111", "Cirros 0.6.2", drift),
                Reason::Drift,
            ),
            step(
                Phase::Publish,
                id("Cirros", "0.6.3"),
                publish,
                Reason::Uploaded,
            ),
            step(
                Phase::Prune,
                id("Cirros", "0.5.2"),
                on(delete, "2222", "Cirros 0.5.2"),
                unlisted,
            ),
        ],
        warnings: vec![Warning::UnmanagedNameClash {
            id: "3333".into(),
            name: "Cirros 0.6.3".into(),
        }],
        errors: Vec::new(),
    }
}

/// Every Action, Change, Reason and Warning variant at least once, in phase order.
pub(crate) fn every_variant() -> Plan {
    const U: &str = "Ubuntu 24.04";
    let mut image = cirros_063();
    image.identity = id(U, "20260705").unwrap();
    image.name = U.into();
    image.visibility = Visibility::Private;
    (image.hidden, image.protected) = (true, Some(true));
    image.status = Status::Deactivated;
    image.id = Some("0c0ffee0-0000-4000-8000-000000000001".into());
    image.properties = strings([
        ("architecture", "x86_64"),
        ("hw_rng_model", "virtio"),
        ("image_build_date", "2026-07-05"),
        ("image_name", U),
        (
            "image_source",
            "https://cloud-images.ubuntu.com/noble/20260705/noble.img",
        ),
        ("internal_version", "20260705"),
        ("os_distro", "ubuntu"),
        ("os_purpose", "generic"),
        ("os_version", "24.04"),
    ]);
    image.tags = ["managed_by_image_manager", "os:ubuntu", "scs"]
        .map(Into::into)
        .into();
    image.source = Source {
        download_url: "https://mirror.example/noble.img.xz".into(),
        checksum: Checksum::Sums {
            url: "https://cloud-images.ubuntu.com/noble/20260705/SHA256SUMS".into(),
            file_name: "noble.img".into(),
        },
        compression: Some(Compression::Xz),
        method: Method::GlanceDirect,
        fallback: None,
    };
    let old = |version: &str| format!("{U} ({version})");
    let rename = vec![Change::Name {
        from: U.into(),
        to: old("20260601"),
    }];
    let drift = vec![
        Change::Name {
            from: old("20260601"),
            to: old("20260501"),
        },
        Change::Visibility {
            from: "shared".into(),
            to: "public".into(),
        },
        Change::Hidden {
            from: false,
            to: true,
        },
        Change::Protected {
            from: true,
            to: false,
        },
        Change::MinDisk { from: 0, to: 8 },
        Change::MinRam { from: 0, to: 512 },
        Change::Tags {
            from: vec!["managed_by_image_manager".into()],
            to: vec!["managed_by_image_manager".into(), "os:ubuntu".into()],
        },
        property("os_purpose", Some("generic"), Some("oldgeneric")),
        property("hw_rng_model", None, Some("virtio")),
        property("hw_vif_model", Some("e1000"), None),
    ];
    let hide = vec![Change::Hidden {
        from: false,
        to: true,
    }];
    let uuid_validity = |v: &str| v.to_owned();
    let (leftover, superseded) = (
        Reason::Leftover {
            status: "queued".into(),
        },
        Reason::Superseded { by: U.into() },
    );
    let expired = |v: &str| Reason::Expired {
        uuid_validity: uuid_validity(v),
    };
    let unlisted = Reason::Unlisted {
        uuid_validity: uuid_validity("none"),
    };
    let publish = Action::Publish {
        name: image.name.clone(),
        visibility: "private".into(),
        hidden: true,
        protected: true,
        deactivate: true,
    };
    let create = Action::Create {
        image: Box::new(image),
        path: DataPath {
            method: Way::GlanceDirect,
            hash_algo: Algorithm::Sha256,
        },
    };
    let demo = MemberProject {
        id: "5e1ec7ed".into(),
        name: Some("demo".into()),
        domain: Some("Default".into()),
    };
    use Phase::{Cleanup, Prune, Publish, Rotate, Share, Upload};
    Plan {
        cloud: "prod".into(),
        managed_tag: "managed_by_image_manager".into(),
        steps: vec![
            step(Cleanup, None, on(delete, "9999", &old("upload")), leftover),
            step(Upload, id(U, "20260705"), create, Reason::Missing),
            step(
                Rotate,
                id(U, "20260601"),
                update("aaaa", U, rename),
                superseded,
            ),
            step(
                Publish,
                id(U, "20260501"),
                update("bbbb", &old("20260601"), drift),
                Reason::Drift,
            ),
            step(Publish, id(U, "20260705"), publish, Reason::Uploaded),
            step(
                Publish,
                id("Debian 12", "20260610"),
                on(reactivate, "cccc", "Debian 12"),
                Reason::Status,
            ),
            step(
                Publish,
                id("Old Fedora", "40"),
                on(deactivate, "dddd", "Old Fedora 40"),
                Reason::Status,
            ),
            step(
                Share,
                id(U, "20260705"),
                Action::AddMember {
                    id: None,
                    name: U.into(),
                    project: demo.clone(),
                    accept: true,
                },
                Reason::MemberListed,
            ),
            step(
                Share,
                id(U, "20260601"),
                Action::AcceptMember {
                    id: "aaaa".into(),
                    name: old("20260601"),
                    project: demo,
                    from: "pending".into(),
                },
                Reason::MemberStatus,
            ),
            step(
                Share,
                id(U, "20260601"),
                Action::RemoveMember {
                    id: "aaaa".into(),
                    name: old("20260601"),
                    project: MemberProject {
                        id: "0ld0ld".into(),
                        name: None,
                        domain: None,
                    },
                },
                Reason::MemberUnlisted,
            ),
            step(
                Prune,
                id(U, "20260101"),
                update("eeee", &old("20260101"), hide),
                expired("2026-03-31"),
            ),
            step(
                Prune,
                id("Cirros", "0.5.2"),
                on(deactivate, "ffff", "Cirros 0.5.2"),
                unlisted,
            ),
            step(
                Prune,
                id(U, "20251201"),
                on(delete, "8888", &old("20251201")),
                expired("last-2"),
            ),
        ],
        warnings: vec![
            Warning::UnmanagedNameClash {
                id: "1234".into(),
                name: U.into(),
            },
            Warning::ProtectedPruneTarget {
                id: "2345".into(),
                name: old("20251101"),
            },
            Warning::DuplicateIdentity {
                identity: id(U, "20260601").unwrap(),
                kept: "aaaa".into(),
                ids: vec!["bbbb".into()],
            },
            Warning::Stuck {
                id: "3456".into(),
                name: "Debian 12 (upload)".into(),
                status: "killed".into(),
            },
            Warning::PruneSkipped {
                id: "4567".into(),
                name: "Cirros 0.5.1".into(),
            },
        ],
        errors: vec![Unplannable {
            identity: id("Fedora 41", "1.4").unwrap(),
            message: "web-download cannot decompress the upstream file (xz); use \
                          glance-direct or upload for compressed images"
                .into(),
        }],
    }
}
