//! Who a shared image is shared with: the catalog's `shared` lists as desired members.
//!
//! Members are managed only where the catalog says so: an image whose `visibility` is
//! `shared` (Glance refuses members on any other) and whose definition or version has a
//! `shared` list. Everywhere else [`DesiredImage::members`](super::DesiredImage) is `None` and
//! the planner leaves Glance's members alone — a cloud adopted from the Python tool keeps the
//! members its share mode added until the catalog lists them.
//!
//! Project names stay names here: this stage is pure, and Keystone resolves them once per run
//! at the observation (see `glance/projects.rs`); the planner joins the two.

use std::collections::BTreeSet;

use serde::Serialize;

use super::DesiredState;
use crate::catalog::{Definition, MemberStatus, Share, Version, Visibility};

/// One project the image should have as a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DesiredMember {
    pub project: ProjectRef,
    /// `accepted`: the tool sets it; `pending`: the member project decides.
    pub status: MemberStatus,
}

/// A project as the catalog names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum ProjectRef {
    Id {
        id: String,
    },
    /// Resolved through Keystone; `domain` is a domain name or id.
    Name {
        name: String,
        domain: String,
    },
}

impl std::fmt::Display for ProjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProjectRef::Id { id } => write!(f, "project {id}"),
            ProjectRef::Name { name, domain } => write!(f, "project {name} (domain {domain})"),
        }
    }
}

/// The members of one version's image, or `None` when they are not managed (see the module
/// docs). `visibility` is the image's desired visibility, after rotation.
pub(super) fn members(
    definition: &Definition,
    version: &Version,
    visibility: Visibility,
) -> Option<Vec<DesiredMember>> {
    if visibility != Visibility::Shared {
        return None;
    }
    let list = definition.version_shares(version)?;
    Some(list.iter().filter_map(member).collect())
}

/// The schema guarantees one of the two forms; anything else is left out.
fn member(share: &Share) -> Option<DesiredMember> {
    let project = match (&share.project_id, &share.project, &share.domain) {
        (Some(id), _, _) => ProjectRef::Id { id: id.clone() },
        (None, Some(name), Some(domain)) => ProjectRef::Name {
            name: name.clone(),
            domain: domain.clone(),
        },
        _ => return None,
    };
    Some(DesiredMember {
        project,
        status: share.status,
    })
}

impl DesiredState {
    /// Definitions with at least one image whose members are managed: the observation reads
    /// the members of their shared images (one request per image), and of no other image.
    pub fn sharing_definitions(&self) -> BTreeSet<&str> {
        self.definitions
            .iter()
            .filter(|d| d.images.iter().any(|i| i.members.is_some()))
            .map(|d| d.name.as_str())
            .collect()
    }

    /// Every project the catalog names by name, as `(name, domain)`: what the observation
    /// resolves through Keystone, each once.
    pub fn project_names(&self) -> BTreeSet<(&str, &str)> {
        self.definitions
            .iter()
            .flat_map(|d| &d.images)
            .flat_map(|i| i.members.iter().flatten())
            .filter_map(|m| match &m.project {
                ProjectRef::Name { name, domain } => Some((name.as_str(), domain.as_str())),
                ProjectRef::Id { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{Options, from_text};

    const CATALOG: &str = "images:
  - name: A
    format: raw
    visibility: shared
    shared:
      - project: demo
        domain: Default
        status: accepted
      - project_id: p1
    versions:
      - version: '1'
        url: https://e.org/1
      - version: '2'
        url: https://e.org/2
        visibility: public
      - version: '3'
        url: https://e.org/3
        shared:
          - project: demo
            domain: Default
          - project: ops
            domain: admins
  - name: B
    format: raw
    visibility: shared
    versions:
      - version: '1'
        url: https://e.org/b
";

    #[test]
    fn members_follow_the_lists_of_shared_versions_only() {
        let desired = from_text(CATALOG, &Options::test("t"));
        let images = &desired.definitions[0].images;
        let demo = |status| DesiredMember {
            project: ProjectRef::Name {
                name: "demo".into(),
                domain: "Default".into(),
            },
            status,
        };
        let p1 = DesiredMember {
            project: ProjectRef::Id { id: "p1".into() },
            status: MemberStatus::Pending,
        };
        assert_eq!(
            images[0].members,
            Some(vec![demo(MemberStatus::Accepted), p1])
        );
        // Public: Glance has no members for it to manage.
        assert_eq!(images[1].members, None);
        // Its own list, not the definition's.
        let own = images[2].members.as_ref().unwrap();
        assert_eq!(own[0], demo(MemberStatus::Pending));
        assert_eq!(own.len(), 2);
        // No `shared` key: not managed.
        assert_eq!(desired.definitions[1].images[0].members, None);
        assert_eq!(desired.sharing_definitions(), BTreeSet::from(["A"]));
        assert_eq!(
            desired.project_names(),
            BTreeSet::from([("demo", "Default"), ("ops", "admins")])
        );
    }
}
