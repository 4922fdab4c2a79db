//! Member steps: a shared image gets exactly the members its catalog `shared` list names.
//!
//! Only images whose members the catalog manages ([`DesiredImage::members`] is `Some`) get
//! member steps, and only managed images are planned at all. Project names were resolved
//! through Keystone at the observation ([`ObservedState::projects`]); a name that did not
//! resolve is an error of the definition ([`Unplannable`]), which holds back its steps after
//! the uploads like any other plan error. A member's status is changed only to `accepted`
//! and only where the catalog asks for it: a `pending` entry leaves the decision — accept or
//! reject — to the member project, whatever it decided.
//!
//! The steps run in the `share` phase, after publishing: Glance refuses members on an image
//! that is not `shared` yet, and a new image is private until its publish.

use super::Planner;
use super::action::{Action, MemberProject, Phase, Reason, Step, Unplannable};
use crate::catalog::MemberStatus as Wanted;
use crate::desired::{DesiredImage, DesiredMember, Identity, ProjectRef};
use crate::glance::{MemberStatus, ObservedImage, ProjectName};

impl Planner<'_> {
    /// Plans the member steps of one image: `image` is the image in Glance, `None` for the
    /// image this plan creates (whose members follow its publish).
    pub(super) fn members(
        &mut self,
        identity: &Identity,
        desired: &DesiredImage,
        image: Option<&ObservedImage>,
    ) {
        let Some(listed) = &desired.members else {
            return;
        };
        let mut wanted: Vec<(MemberProject, bool)> = Vec::new();
        for member in listed {
            let project = match self.member_project(member) {
                Ok(project) => project,
                Err(message) => return self.unshareable(identity, message),
            };
            let accept = member.status == Wanted::Accepted;
            match wanted.iter_mut().find(|(p, _)| p.id == project.id) {
                // The same project listed by id and by name: accepted if either says so.
                Some((_, already)) => *already |= accept,
                None => wanted.push((project, accept)),
            }
        }
        let have = image.and_then(|i| i.members.as_deref()).unwrap_or_default();
        let (id, name) = match image {
            Some(image) => (Some(image.id.clone()), image.name.clone()),
            None => (None, desired.name.clone()),
        };
        let mut step = |action: Action, reason: Reason| {
            self.steps.push(Step {
                phase: Phase::Share,
                identity: Some(identity.clone()),
                action,
                reason,
            });
        };
        for (project, accept) in wanted.iter().cloned() {
            match have.iter().find(|m| m.project_id == project.id) {
                None => step(
                    Action::AddMember {
                        id: id.clone(),
                        name: name.clone(),
                        project,
                        accept,
                    },
                    Reason::MemberListed,
                ),
                Some(member) if accept && member.status != MemberStatus::Accepted => step(
                    Action::AcceptMember {
                        id: id.clone().unwrap_or_default(),
                        name: name.clone(),
                        project,
                        from: member.status.to_string(),
                    },
                    Reason::MemberStatus,
                ),
                Some(_) => {}
            }
        }
        for member in have {
            if !wanted.iter().any(|(p, _)| p.id == member.project_id) {
                step(
                    Action::RemoveMember {
                        id: id.clone().unwrap_or_default(),
                        name: name.clone(),
                        project: MemberProject {
                            id: member.project_id.clone(),
                            name: None,
                            domain: None,
                        },
                    },
                    Reason::MemberUnlisted,
                );
            }
        }
    }

    /// A catalog member as the plan names it: its id, from the catalog or from Keystone.
    fn member_project(&self, member: &DesiredMember) -> Result<MemberProject, String> {
        match &member.project {
            ProjectRef::Id { id } => Ok(MemberProject {
                id: id.clone(),
                name: None,
                domain: None,
            }),
            ProjectRef::Name { name, domain } => {
                let key = ProjectName {
                    name: name.clone(),
                    domain: domain.clone(),
                };
                let id = match self.observed.projects.get(&key) {
                    Some(Ok(id)) => id.clone(),
                    Some(Err(reason)) => return Err(reason.clone()),
                    None => {
                        return Err(format!(
                            "project {name} (domain {domain}) was not looked up in Keystone"
                        ));
                    }
                };
                Ok(MemberProject {
                    id,
                    name: Some(name.clone()),
                    domain: Some(domain.clone()),
                })
            }
        }
    }

    /// A project this definition shares with cannot be named to Glance: one error per
    /// definition and reason, however many of its versions list the project.
    fn unshareable(&mut self, identity: &Identity, reason: String) {
        let message = format!("cannot share the image: {reason}");
        let known = self
            .errors
            .iter()
            .any(|e| e.identity.definition == identity.definition && e.message == message);
        if !known {
            self.errors.push(Unplannable {
                identity: identity.clone(),
                message,
            });
        }
    }
}
