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
//! [`to_string`] shows every URL through [`crate::redact`] (sources, checksum files, property
//! values such as `image_source`): catalog URLs may carry credentials or signatures, and the
//! document is a CI artefact.
//!
//! Compatibility: within format version `"1"` fields are only ever added, never renamed,
//! removed or given another meaning; readers must ignore fields they do not know.

use serde::Serialize;

use super::action::{Action, Change, Plan, Reason, Step, Unplannable, Warning};
use crate::desired::Checksum;
use crate::redact;

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
    /// Catalog versions this plan cannot serve; the run fails for their definitions.
    pub errors: &'a [Unplannable],
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
    /// A new image is uploaded and verified.
    Create,
    /// A new image of this run takes its final name and visibility.
    Publish,
    /// An image is corrected in place (properties, visibility, status, …).
    Update,
    /// An image only changes its name.
    Rename,
    /// An image is hidden, deactivated or deleted because retention allows it, or is the
    /// leftover of an interrupted run.
    Prune,
    /// A shared image gains or loses a member, or a member is accepted.
    Member,
}

impl Category {
    /// Sorts a step into its counter. Retention and leftover reasons make a step a prune
    /// whatever its action; otherwise the action decides.
    pub fn of(step: &Step) -> Category {
        match (&step.reason, &step.action) {
            (
                Reason::Expired { .. }
                | Reason::Unlisted { .. }
                | Reason::Leftover { .. }
                | Reason::Duplicate { .. },
                _,
            ) => Category::Prune,
            (
                _,
                Action::AddMember { .. }
                | Action::AcceptMember { .. }
                | Action::RemoveMember { .. },
            ) => Category::Member,
            (_, Action::Create { .. }) => Category::Create,
            (_, Action::Publish { .. }) => Category::Publish,
            (_, Action::Delete { .. }) => Category::Prune,
            (_, action @ Action::Update { .. }) if action.is_rename() => Category::Rename,
            (_, Action::Update { .. } | Action::Deactivate { .. } | Action::Reactivate { .. }) => {
                Category::Update
            }
        }
    }
}

/// How many steps of each category, and how many warnings, one plan has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub publish: usize,
    pub update: usize,
    pub rename: usize,
    pub prune: usize,
    /// Member steps (added, accepted, removed).
    pub members: usize,
    pub warnings: usize,
    /// Catalog versions the plan cannot serve ([`Plan::errors`]).
    pub errors: usize,
}

impl Summary {
    pub fn of(plan: &Plan) -> Summary {
        let mut summary = Summary {
            warnings: plan.warnings.len(),
            errors: plan.errors.len(),
            ..Summary::default()
        };
        for step in &plan.steps {
            match Category::of(step) {
                Category::Create => summary.create += 1,
                Category::Publish => summary.publish += 1,
                Category::Update => summary.update += 1,
                Category::Rename => summary.rename += 1,
                Category::Prune => summary.prune += 1,
                Category::Member => summary.members += 1,
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
                errors: &plan.errors,
            })
            .collect(),
    }
}

/// The document as pretty-printed JSON text (no trailing newline), with every URL in it
/// redacted.
pub fn to_string(plans: &[Plan]) -> String {
    let plans: Vec<Plan> = plans.iter().map(redacted).collect();
    serde_json::to_string_pretty(&document(&plans))
        .expect("plans serialise: string keys and plain values only")
}

/// A copy of `plan` fit for output: the URLs of created images and every property value (old
/// and new) redacted. The plan itself keeps the real values: apply needs them.
fn redacted(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    for step in &mut plan.steps {
        match &mut step.action {
            Action::Create { image, .. } => {
                let source = &mut image.source;
                source.download_url = redact::url(&source.download_url);
                if let Some(fallback) = &mut source.fallback {
                    fallback.url = redact::url(&fallback.url);
                }
                match &mut source.checksum {
                    Checksum::File { url } | Checksum::Sums { url, .. } => *url = redact::url(url),
                    Checksum::Inline { .. } | Checksum::Missing => {}
                }
                for value in image.properties.values_mut() {
                    *value = redact::text(value);
                }
            }
            Action::Update { changes, .. } => {
                for change in changes {
                    if let Change::Property { from, to, .. } = change {
                        for value in [from, to].into_iter().flatten() {
                            *value = redact::text(value);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    plan
}

#[cfg(test)]
pub(crate) mod tests;
