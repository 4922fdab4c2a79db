//! The planner: a pure function from (desired, observed) to the steps that reconcile them.
//!
//! This is the only place that decides what changes. It does no I/O and holds no client, so
//! every decision is covered by table tests. `apply` executes the steps it returns and nothing
//! else; `render` and `json` only read them.

mod action;
pub mod data_path;
mod diff;
pub mod json;
mod members;
mod projection;
pub mod render;

pub use action::{
    Action, ActionKind, Change, MemberProject, Phase, Plan, Reason, Step, Unplannable, Warning,
};
pub use data_path::{DataPath, Way};
pub use projection::project;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalog::{Status, version};
use crate::desired::{
    DesiredDefinition, DesiredImage, DesiredState, Identity, Retention, properties, retention,
};
use crate::glance::{ImageStatus, ObservedImage, ObservedState};

/// Operator choices that shape a plan (not part of the catalog).
#[derive(Clone, Debug)]
pub struct Policy {
    /// Images carrying this tag are managed (`--tag`); no other image is ever touched.
    pub managed_tag: String,
    /// What happens to images past their retention (`--prune`).
    pub prune: Prune,
    /// How new images get their bytes (`--method`); `None`: each version's catalog `method`.
    pub method: Option<crate::catalog::Method>,
}

/// What to do with images past their `uuid_validity` (`--prune`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Prune {
    /// Only report them (the default).
    None,
    /// Set `os_hidden`.
    Hide,
    /// Deactivate them (the data stays; booting is refused).
    Deactivate,
    /// Delete them (needs confirmation at apply time).
    Delete,
}

/// Computes the plan for one cloud. Pure: same inputs, same plan.
pub fn plan(desired: &DesiredState, observed: &ObservedState, policy: &Policy) -> Plan {
    let mut planner = Planner {
        policy,
        observed,
        today: desired.today,
        steps: Vec::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let mut by_identity: BTreeMap<(&str, &str), Vec<&ObservedImage>> = BTreeMap::new();
    for image in observed.tagged(&policy.managed_tag) {
        if let (Some(name), Some(version)) = (
            image.property(properties::IMAGE_NAME),
            image.property(properties::INTERNAL_VERSION),
        ) {
            by_identity.entry((name, version)).or_default().push(image);
        }
    }
    for definition in &desired.definitions {
        planner.definition(definition, &by_identity);
    }
    planner.name_clashes(desired, observed);
    planner.hold_back_failed_definitions();
    // A stable sort: within a phase, catalog order is kept.
    planner.steps.sort_by_key(|step| step.phase);
    Plan {
        cloud: observed.cloud.clone(),
        managed_tag: policy.managed_tag.clone(),
        steps: planner.steps,
        warnings: planner.warnings,
        errors: planner.errors,
    }
}

struct Planner<'a> {
    policy: &'a Policy,
    observed: &'a ObservedState,
    today: NaiveDate,
    steps: Vec<Step>,
    warnings: Vec<Warning>,
    errors: Vec<Unplannable>,
}

impl Planner<'_> {
    fn definition(
        &mut self,
        definition: &DesiredDefinition,
        by_identity: &BTreeMap<(&str, &str), Vec<&ObservedImage>>,
    ) {
        let current = definition
            .images
            .last()
            .map(|i| i.name.clone())
            .unwrap_or_default();
        for image in &definition.images {
            let found = by_identity
                .get(&(definition.name.as_str(), image.identity.version.as_str()))
                .map_or(&[][..], Vec::as_slice);
            self.image(definition, image, found, &current);
        }
        // Versions in Glance that the catalog no longer lists: superseded by their removal,
        // ranked after the listed superseded versions, newest first.
        let mut unlisted: Vec<(&str, &Vec<&ObservedImage>)> = by_identity
            .iter()
            .filter(|((name, version), _)| {
                *name == definition.name
                    && !definition
                        .images
                        .iter()
                        .any(|i| i.identity.version == *version)
            })
            .map(|((_, version), images)| (*version, images))
            .collect();
        unlisted.sort_by(|a, b| version::compare(b.0, a.0));
        let listed_superseded = definition
            .images
            .iter()
            .filter(|i| i.retention != Retention::Current)
            .count();
        for (rank, (version, images)) in unlisted.into_iter().enumerate() {
            let identity = Identity {
                definition: definition.name.clone(),
                version: version.to_owned(),
            };
            let Some(image) = self.sort_out(&identity, images, None, None) else {
                continue;
            };
            let changes = diff::superseded(definition, image, version);
            let retention = definition
                .policy
                .classify(listed_superseded + rank, self.today);
            if retention == Retention::Prunable {
                let reason = Reason::Unlisted {
                    uuid_validity: policy_text(definition.policy),
                };
                self.prune(identity, image, changes, reason, &current);
            } else {
                self.update(identity, image, changes, Phase::Rotate, &current);
            }
        }
    }

    /// Plans one catalog version: create it, correct it, rotate it, or prune it.
    fn image(
        &mut self,
        definition: &DesiredDefinition,
        desired: &DesiredImage,
        found: &[&ObservedImage],
        current: &str,
    ) {
        let identity = desired.identity.clone();
        let usable = self.sort_out(&identity, found, desired.id.as_deref(), Some(&desired.name));
        let Some(image) = usable else {
            if desired.retention != Retention::Prunable {
                self.create(identity, desired);
            }
            return;
        };
        let changes = diff::changes(desired, image, &definition.managed_keys);
        if desired.retention == Retention::Prunable {
            let reason = Reason::Expired {
                uuid_validity: policy_text(definition.policy),
            };
            self.prune(identity.clone(), image, changes, reason, current);
            // An image about to be deleted needs no members.
            if self.policy.prune != Prune::Delete || image.protected {
                self.members(&identity, desired, Some(image));
            }
            return;
        }
        self.status(&identity, desired.status, image);
        let phase = if desired.retention == Retention::Current {
            Phase::Publish
        } else {
            Phase::Rotate
        };
        self.update(identity.clone(), image, changes, phase, current);
        self.members(&identity, desired, Some(image));
    }

    /// Plans a missing version: its upload along the data path this cloud allows, its
    /// publication after older versions moved aside, and its members (or an error when there
    /// is no way in).
    fn create(&mut self, identity: Identity, desired: &DesiredImage) {
        let path = match data_path::resolve(&desired.source, self.observed, self.policy.method) {
            Ok(path) => path,
            Err(message) => {
                self.errors.push(Unplannable { identity, message });
                return;
            }
        };
        self.steps.push(Step {
            phase: Phase::Upload,
            identity: Some(identity.clone()),
            action: Action::Create {
                image: Box::new(desired.clone()),
                path,
            },
            reason: Reason::Missing,
        });
        self.steps.push(Step {
            phase: Phase::Publish,
            identity: Some(identity.clone()),
            action: Action::Publish {
                name: desired.name.clone(),
                visibility: desired.visibility.as_str().to_owned(),
                hidden: desired.hidden,
                protected: desired.protected == Some(true),
                deactivate: desired.status == Status::Deactivated,
            },
            reason: Reason::Uploaded,
        });
        self.members(&identity, desired, None);
    }

    /// A definition with a version this plan cannot serve keeps only the steps before any
    /// image changes name (cleanup and uploads): rotating its older versions would make way
    /// for an image that will not come, as after a failed upload in `apply`.
    fn hold_back_failed_definitions(&mut self) {
        let failed: BTreeSet<&str> = self
            .errors
            .iter()
            .map(|e| e.identity.definition.as_str())
            .collect();
        self.steps.retain(|step| {
            step.phase <= Phase::Upload
                || !step
                    .identity
                    .as_ref()
                    .is_some_and(|i| failed.contains(i.definition.as_str()))
        });
    }

    /// Picks the one image to manage among those claiming one identity and plans the
    /// removal of the rest (cleanup phase): never-activated or unverified leftovers, and
    /// duplicates of the kept image. Kept is, in this order of preference: the catalog's fixed
    /// id; an active (not deactivated) image; one holding the catalog name; the oldest; the
    /// smallest id — a rule that gives the same answer on every run, whatever order Glance
    /// lists in. Protected images are never planned for deletion (a warning instead).
    fn sort_out<'o>(
        &mut self,
        identity: &Identity,
        found: &[&'o ObservedImage],
        fixed_id: Option<&str>,
        name: Option<&str>,
    ) -> Option<&'o ObservedImage> {
        let (mut usable, leftovers): (Vec<&ObservedImage>, Vec<&ObservedImage>) =
            found.iter().partition(|i| {
                matches!(i.status, ImageStatus::Active | ImageStatus::Deactivated)
                    && i.property(properties::UNVERIFIED).is_none()
            });
        self.leftovers(identity, &leftovers);
        usable.sort_by(|a, b| {
            let fixed = |i: &ObservedImage| fixed_id.is_some_and(|id| same_id(id, &i.id));
            let named = |i: &ObservedImage| name == Some(i.name.as_str());
            let active = |i: &ObservedImage| i.status == ImageStatus::Active;
            (fixed(b), active(b), named(b))
                .cmp(&(fixed(a), active(a), named(a)))
                .then_with(|| a.created_at.cmp(&b.created_at))
                .then_with(|| a.id.cmp(&b.id))
        });
        let (kept, duplicates) = usable.split_first()?;
        let mut protected = Vec::new();
        for image in duplicates {
            if image.protected {
                protected.push(image.id.clone());
                continue;
            }
            self.steps.push(Step {
                phase: Phase::Cleanup,
                identity: Some(identity.clone()),
                action: Action::Delete {
                    id: image.id.clone(),
                    name: image.name.clone(),
                },
                reason: Reason::Duplicate {
                    kept: kept.id.clone(),
                },
            });
        }
        if !protected.is_empty() {
            self.warnings.push(Warning::DuplicateIdentity {
                identity: identity.clone(),
                kept: kept.id.clone(),
                ids: protected,
            });
        }
        Some(kept)
    }

    fn leftovers(&mut self, identity: &Identity, leftovers: &[&ObservedImage]) {
        for image in leftovers {
            if image.protected {
                self.warnings.push(Warning::Stuck {
                    id: image.id.clone(),
                    name: image.name.clone(),
                    status: image.status.to_string(),
                });
                continue;
            }
            self.steps.push(Step {
                phase: Phase::Cleanup,
                identity: Some(identity.clone()),
                action: Action::Delete {
                    id: image.id.clone(),
                    name: image.name.clone(),
                },
                reason: Reason::Leftover {
                    status: leftover_status(image),
                },
            });
        }
    }

    /// Deactivates or reactivates an image whose status differs from the catalog's.
    fn status(&mut self, identity: &Identity, wanted: Status, image: &ObservedImage) {
        let (id, name) = (image.id.clone(), image.name.clone());
        let action = match (wanted, &image.status) {
            (Status::Deactivated, ImageStatus::Active) => Action::Deactivate { id, name },
            (Status::Active, ImageStatus::Deactivated) => Action::Reactivate { id, name },
            _ => return,
        };
        self.steps.push(Step {
            phase: Phase::Publish,
            identity: Some(identity.clone()),
            action,
            reason: Reason::Status,
        });
    }

    /// One JSON patch; the reason says whether it rotates the image or corrects drift.
    fn update(
        &mut self,
        identity: Identity,
        image: &ObservedImage,
        changes: Vec<Change>,
        phase: Phase,
        current: &str,
    ) {
        if changes.is_empty() {
            return;
        }
        let renamed = changes.iter().any(|c| matches!(c, Change::Name { .. }));
        let reason = if phase == Phase::Rotate && renamed {
            Reason::Superseded {
                by: current.to_owned(),
            }
        } else {
            Reason::Drift
        };
        self.steps.push(Step {
            phase,
            identity: Some(identity),
            action: Action::Update {
                id: image.id.clone(),
                name: image.name.clone(),
                changes,
            },
            reason,
        });
    }

    /// An image past its retention: rotated out of the current name in any case, then pruned
    /// as `--prune` allows. Protected images are never pruned.
    fn prune(
        &mut self,
        identity: Identity,
        image: &ObservedImage,
        mut changes: Vec<Change>,
        reason: Reason,
        current: &str,
    ) {
        let mode = if image.protected {
            self.warnings.push(Warning::ProtectedPruneTarget {
                id: image.id.clone(),
                name: image.name.clone(),
            });
            Prune::None
        } else {
            self.policy.prune
        };
        let (id, name) = (image.id.clone(), image.name.clone());
        match mode {
            Prune::None => {
                if !image.protected {
                    self.warnings.push(Warning::PruneSkipped { id, name });
                }
                self.update(identity, image, changes, Phase::Rotate, current);
            }
            Prune::Hide => {
                diff::hide(image, &mut changes);
                if !changes.is_empty() {
                    self.steps.push(Step {
                        phase: Phase::Rotate,
                        identity: Some(identity),
                        action: Action::Update { id, name, changes },
                        reason,
                    });
                }
            }
            Prune::Deactivate => {
                self.update(identity.clone(), image, changes, Phase::Rotate, current);
                if image.status == ImageStatus::Active {
                    self.steps.push(Step {
                        phase: Phase::Prune,
                        identity: Some(identity),
                        action: Action::Deactivate { id, name },
                        reason,
                    });
                }
            }
            Prune::Delete => {
                // Only the name matters before a delete: never two images under the current one.
                changes.retain(|c| matches!(c, Change::Name { .. }));
                if image.name == current {
                    self.update(identity.clone(), image, changes, Phase::Rotate, current);
                }
                self.steps.push(Step {
                    phase: Phase::Prune,
                    identity: Some(identity),
                    action: Action::Delete { id, name },
                    reason,
                });
            }
        }
    }

    /// Untagged images carrying a name the catalog manages: reported, never touched.
    fn name_clashes(&mut self, desired: &DesiredState, observed: &ObservedState) {
        let names: BTreeSet<&str> = desired
            .definitions
            .iter()
            .flat_map(|d| d.images.iter().map(|i| i.name.as_str()))
            .collect();
        for image in &observed.images {
            if !image.has_tag(&self.policy.managed_tag) && names.contains(image.name.as_str()) {
                self.warnings.push(Warning::UnmanagedNameClash {
                    id: image.id.clone(),
                    name: image.name.clone(),
                });
            }
        }
    }
}

/// A leftover's status as people should read it: an active image can be a leftover too when
/// its bytes were never verified.
fn leftover_status(image: &ObservedImage) -> String {
    if image.property(properties::UNVERIFIED).is_some() {
        format!("{}, unverified", image.status)
    } else {
        image.status.to_string()
    }
}

/// UUIDs compare without case and dashes (the catalog accepts both spellings).
fn same_id(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.replace('-', "").to_ascii_lowercase();
    norm(a) == norm(b)
}

fn policy_text(policy: retention::Policy) -> String {
    match policy {
        retention::Policy::Forever => "forever".into(),
        retention::Policy::Notice => "notice".into(),
        retention::Policy::Until(date) => date.format("%Y-%m-%d").to_string(),
        retention::Policy::LastN(n) => format!("last-{n}"),
        retention::Policy::None => "none".into(),
        retention::Policy::Unspecified => "unspecified".into(),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_flow;
#[cfg(test)]
mod tests_members;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_retention;
