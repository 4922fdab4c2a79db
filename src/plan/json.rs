//! The machine form of plans (`plan --output json`): versioned, stable, documented in the
//! README ("JSON plan format").
//!
//! The document wraps the [`Plan`] types rather than copying them: the steps and warnings
//! serialise exactly as `plan::action` defines them, and this module only adds what a reader
//! of the file needs around them — the `format_version`, per-plan `summary` counts and each
//! step's summary `category`. The counting lives here ([`Summary::of`]) and the text
//! renderer uses the same function, so the text summary line and the JSON counts cannot
//! disagree (terraform renders its human view from its JSON plan for the same reason).
//!
//! Compatibility: within format version `"1"` fields are only ever added, never renamed,
//! removed or given another meaning; readers must ignore fields they do not know.

use serde::Serialize;

use super::action::{Action, Plan, Reason, Step, Warning};

/// The version of the JSON document; bumped only for incompatible changes.
pub const FORMAT_VERSION: &str = "1";

/// The whole `--output json` document: one plan per cloud, in the order of `--cloud`.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub format_version: &'static str,
    pub plans: Vec<PlanJson<'a>>,
}

/// One cloud's plan.
#[derive(Debug, Serialize)]
pub struct PlanJson<'a> {
    /// clouds.yaml name the plan was computed for.
    pub cloud: &'a str,
    /// The ownership tag the plan was computed with (`--tag`).
    pub managed_tag: &'a str,
    /// `true` when there is at least one step (what `--detailed-exitcode` reports as 2).
    pub changes: bool,
    pub summary: Summary,
    /// In execution order.
    pub steps: Vec<StepJson<'a>>,
    pub warnings: &'a [Warning],
}

/// One step as planned, plus the summary counter it counts in.
#[derive(Debug, Serialize)]
pub struct StepJson<'a> {
    pub category: Category,
    #[serde(flatten)]
    pub step: &'a Step,
}

/// The summary counter a step counts in: what a person reads as "to create", "to update",
/// "to rename" and "to prune".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A new image is uploaded.
    Create,
    /// An image is corrected in place (properties, visibility, status, …).
    Update,
    /// An image only changes its name.
    Rename,
    /// An image is hidden, deactivated or deleted because retention allows it, or is the
    /// leftover of an interrupted run.
    Prune,
}

impl Category {
    /// Sorts a step into its counter. Retention and leftover reasons make a step a prune
    /// whatever its action; otherwise the action decides.
    pub fn of(step: &Step) -> Category {
        match (&step.reason, &step.action) {
            (Reason::Expired { .. } | Reason::Unlisted { .. } | Reason::Leftover { .. }, _) => {
                Category::Prune
            }
            (_, Action::Create { .. }) => Category::Create,
            (_, Action::Delete { .. }) => Category::Prune,
            (_, action @ Action::Update { .. }) if action.symbol() == "→" => Category::Rename,
            (
                _,
                Action::Update { .. } | Action::Deactivate { .. } | Action::Reactivate { .. },
            ) => Category::Update,
        }
    }
}

/// How many steps of each category, and how many warnings, one plan has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub rename: usize,
    pub prune: usize,
    pub warnings: usize,
}

impl Summary {
    pub fn of(plan: &Plan) -> Summary {
        let mut summary = Summary {
            warnings: plan.warnings.len(),
            ..Summary::default()
        };
        for step in &plan.steps {
            match Category::of(step) {
                Category::Create => summary.create += 1,
                Category::Update => summary.update += 1,
                Category::Rename => summary.rename += 1,
                Category::Prune => summary.prune += 1,
            }
        }
        summary
    }
}

/// The JSON document for the plans of one run.
pub fn document(plans: &[Plan]) -> Document<'_> {
    Document {
        format_version: FORMAT_VERSION,
        plans: plans
            .iter()
            .map(|plan| PlanJson {
                cloud: &plan.cloud,
                managed_tag: &plan.managed_tag,
                changes: !plan.is_empty(),
                summary: Summary::of(plan),
                steps: plan
                    .steps
                    .iter()
                    .map(|step| StepJson {
                        category: Category::of(step),
                        step,
                    })
                    .collect(),
                warnings: &plan.warnings,
            })
            .collect(),
    }
}

/// The document as pretty-printed JSON text (no trailing newline).
pub fn to_string(plans: &[Plan]) -> String {
    serde_json::to_string_pretty(&document(plans))
        .expect("plans serialise: string keys and plain values only")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::plan::render::tests::{every_variant, small_plan};

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
            "summary": {"create": 1, "update": 1, "rename": 0, "prune": 1, "warnings": 1},
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
                  "protected": false,
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
                  "retention": "current"
                }},
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
                "category": "prune",
                "phase": "prune",
                "identity": {"definition": "Cirros", "version": "0.5.2"},
                "action": {"type": "delete", "id": "2222", "name": "Cirros 0.5.2"},
                "reason": {"kind": "unlisted", "uuid_validity": "none"}
              }
            ],
            "warnings": [
              {"kind": "unmanaged_name_clash", "id": "3333", "name": "Cirros 0.6.3"}
            ]
          }]
        })
    }

    #[test]
    fn every_variant_serialises_with_its_snake_case_tag() {
        let value = serde_json::to_value(document(&[every_variant()])).unwrap();
        let plan = &value["plans"][0];
        let pick = |list: &str, path: &str| -> Vec<String> {
            plan[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.pointer(path).and_then(Value::as_str).unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            pick("steps", "/action/type"),
            [
                "create",
                "update",
                "update",
                "reactivate",
                "update",
                "deactivate",
                "deactivate",
                "delete",
                "update"
            ]
        );
        assert_eq!(
            pick("steps", "/reason/kind"),
            [
                "missing",
                "superseded",
                "drift",
                "status",
                "expired",
                "status",
                "unlisted",
                "leftover",
                "expired"
            ]
        );
        assert_eq!(
            pick("steps", "/category"),
            [
                "create", "rename", "update", "update", "prune", "update", "prune", "prune", "prune"
            ]
        );
        assert_eq!(
            pick("steps", "/phase"),
            [
                "upload", "rotate", "publish", "publish", "prune", "publish", "prune", "prune",
                "prune"
            ]
        );
        assert_eq!(
            pick("warnings", "/kind"),
            [
                "unmanaged_name_clash",
                "protected_prune_target",
                "duplicate_identity",
                "stuck",
                "prune_skipped"
            ]
        );
        let fields: Vec<&str> = plan["steps"][2]["action"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "visibility",
                "hidden",
                "protected",
                "min_disk",
                "min_ram",
                "tags",
                "property",
                "property",
                "property"
            ]
        );
        assert_eq!(
            plan["summary"],
            json!({"create": 1, "update": 3, "rename": 1, "prune": 4, "warnings": 5})
        );
        // Reason and warning payloads.
        assert_eq!(plan["steps"][1]["reason"]["by"], "20260705");
        assert_eq!(plan["steps"][7]["reason"]["status"], "queued");
        assert_eq!(
            plan["warnings"][2],
            json!({"kind": "duplicate_identity",
                   "identity": {"definition": "Ubuntu 24.04", "version": "20260601"},
                   "ids": ["aaaa", "bbbb"]})
        );
        assert_eq!(plan["warnings"][3]["status"], "killed");
        // A property change keeps explicit nulls for add/remove.
        assert_eq!(
            plan["steps"][2]["action"]["changes"][8],
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
            json!({"create": 0, "update": 0, "rename": 0, "prune": 0, "warnings": 0})
        );
        assert_eq!(plans[1]["changes"], true);
    }
}
