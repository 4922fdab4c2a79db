//! What Glance will hold once a plan ran: a pure `Plan` → [`ObservedState`].
//!
//! Why one projection derived from the steps: the SCS regression warnings judge the cloud
//! as the plan leaves it, and the planner's correctness is stated against it (planning again
//! against the projection plans nothing). A second simulation of the planner's rules — which
//! images it keeps, renames or prunes — would drift from the planner; replaying its steps
//! cannot.
//!
//! What the plan cannot know gets a stand-in: a new image's size (0), its registration time
//! and, for a version without `build_date`, the `image_build_date` apply records (the
//! upstream's `Last-Modified` day: a past date; `now` stands in for it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::action::{Action, Change, Plan, Step};
use crate::desired::properties::BUILD_DATE;
use crate::desired::{DesiredImage, Identity};
use crate::glance::{
    ImageStatus, MemberStatus, ObservedImage, ObservedMember, ObservedState, Visibility,
};

/// Glance as `observed` after every step of `plan` succeeded.
pub fn project(observed: &ObservedState, plan: &Plan, now: DateTime<Utc>) -> ObservedState {
    let mut after = observed.clone();
    // The image each create makes, by identity: what its publish acts on.
    let mut created: BTreeMap<&Identity, String> = BTreeMap::new();
    for step in &plan.steps {
        match &step.action {
            Action::Create { image, path } => {
                let mut new = created_image(image, observed.project_id.clone(), now);
                new.os_hash_algo = Some(path.hash_algo.name().to_owned());
                created.insert(&image.identity, new.id.clone());
                after.images.push(new);
            }
            Action::Publish {
                name,
                visibility,
                hidden,
                protected,
                deactivate,
            } => {
                if let Some(image) = target(&mut after, &created, step) {
                    image.name.clone_from(name);
                    image.visibility = Visibility::from(visibility.as_str());
                    image.os_hidden = *hidden;
                    image.protected |= *protected;
                    if *deactivate {
                        image.status = ImageStatus::Deactivated;
                    }
                }
            }
            Action::Update { id, changes, .. } => {
                if let Some(image) = find(&mut after, id) {
                    changes.iter().for_each(|change| apply(image, change));
                }
            }
            Action::Deactivate { id, .. } => {
                if let Some(image) = find(&mut after, id) {
                    image.status = ImageStatus::Deactivated;
                }
            }
            Action::Reactivate { id, .. } => {
                if let Some(image) = find(&mut after, id) {
                    image.status = ImageStatus::Active;
                }
            }
            Action::Delete { id, .. } => after.images.retain(|image| image.id != *id),
            Action::AddMember {
                project, accept, ..
            } => {
                if let Some(image) = target(&mut after, &created, step) {
                    let members = image.members.get_or_insert_with(Vec::new);
                    let status = if *accept {
                        MemberStatus::Accepted
                    } else {
                        MemberStatus::Pending
                    };
                    match members.iter_mut().find(|m| m.project_id == project.id) {
                        // Already a member (Glance answers 409): only an accept changes it.
                        Some(member) if *accept => member.status = status,
                        Some(_) => {}
                        None => members.push(ObservedMember {
                            project_id: project.id.clone(),
                            status,
                        }),
                    }
                }
            }
            Action::AcceptMember { id, project, .. } => {
                let members = find(&mut after, id).and_then(|image| image.members.as_mut());
                let member =
                    members.and_then(|m| m.iter_mut().find(|m| m.project_id == project.id));
                if let Some(member) = member {
                    member.status = MemberStatus::Accepted;
                }
            }
            Action::RemoveMember { id, project, .. } => {
                if let Some(members) = find(&mut after, id).and_then(|i| i.members.as_mut()) {
                    members.retain(|m| m.project_id != project.id);
                }
            }
        }
    }
    after
}

fn find<'a>(state: &'a mut ObservedState, id: &str) -> Option<&'a mut ObservedImage> {
    state.images.iter_mut().find(|image| image.id == id)
}

/// The image a step acts on: its id, or the image the create of its identity made.
fn target<'a>(
    state: &'a mut ObservedState,
    created: &BTreeMap<&Identity, String>,
    step: &Step,
) -> Option<&'a mut ObservedImage> {
    let id = match step.action.image_id() {
        Some(id) => id,
        None => created.get(step.identity.as_ref()?)?,
    };
    find(state, id)
}

/// The image a create leaves behind once verified: all catalog metadata, the staging
/// attributes (private, hidden, unprotected) until its publish, no marker.
fn created_image(image: &DesiredImage, owner: Option<String>, now: DateTime<Utc>) -> ObservedImage {
    let mut properties = image.properties.clone();
    properties
        .entry(BUILD_DATE.to_owned())
        .or_insert_with(|| now.format("%Y-%m-%d").to_string());
    ObservedImage {
        id: image.id.clone().unwrap_or_else(|| {
            format!(
                "planned:{}:{}",
                image.identity.definition, image.identity.version
            )
        }),
        name: image.name.clone(),
        status: ImageStatus::Active,
        visibility: Visibility::Private,
        os_hidden: true,
        protected: false,
        disk_format: Some(image.disk_format.as_str().to_owned()),
        container_format: Some("bare".into()),
        min_disk: image.min_disk,
        min_ram: image.min_ram,
        size: Some(0),
        virtual_size: None,
        checksum: None,
        os_hash_algo: None,
        os_hash_value: None,
        owner,
        created_at: Some(now),
        updated_at: Some(now),
        tags: image.tags.iter().cloned().collect(),
        properties,
        members: None,
    }
}

/// One change of an update, as Glance applies its JSON patch op.
fn apply(image: &mut ObservedImage, change: &Change) {
    match change {
        Change::Name { to, .. } => image.name.clone_from(to),
        Change::Visibility { to, .. } => image.visibility = Visibility::from(to.as_str()),
        Change::Hidden { to, .. } => image.os_hidden = *to,
        Change::Protected { to, .. } => image.protected = *to,
        Change::MinDisk { to, .. } => image.min_disk = *to,
        Change::MinRam { to, .. } => image.min_ram = *to,
        Change::Tags { to, .. } => image.tags.clone_from(to),
        Change::Property { key, to, .. } => match to {
            Some(value) => {
                image.properties.insert(key.clone(), value.clone());
            }
            None => {
                image.properties.remove(key);
            }
        },
    }
}
