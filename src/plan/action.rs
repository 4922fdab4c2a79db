//! The plan's vocabulary: a closed set of actions, each carrying the reason it was planned.
//!
//! Every variant maps to Glance operations `apply` performs without further decisions: a
//! `Create` uploads and verifies one image along its resolved data path, its `Publish` gives it
//! its final name and visibility, an `Update` is ONE JSON patch, `Deactivate`, `Reactivate`
//! and `Delete` are one call each, and the member steps (`AddMember`, `AcceptMember`,
//! `RemoveMember`) one or two calls on one image's members. Reasons and warnings explain the plan to
//! people (text and JSON); apply never reads them (terraform's `ActionReason` rule).

use serde::Serialize;

use super::data_path::DataPath;
use crate::desired::{DesiredImage, Identity};

/// Everything that should change in one cloud, in execution order.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// The cloud (clouds.yaml name) this plan was computed for.
    pub cloud: String,
    /// The ownership tag the plan was computed with.
    pub managed_tag: String,
    /// In the order apply must respect: creates, then updates that move superseded images out
    /// of the way, then everything else (see `plan::order`). Apply may run independent steps
    /// concurrently but never reorders across `Step::phase`.
    pub steps: Vec<Step>,
    /// Things a person should know that the tool will not act on.
    pub warnings: Vec<Warning>,
    /// Catalog versions this plan cannot serve in this cloud; nothing is planned for their
    /// definitions' other versions either (as after a failed step), and the run fails.
    pub errors: Vec<Unplannable>,
}

impl Plan {
    /// No step at all: Glance already matches the catalog.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// A catalog version the plan cannot serve, and why (e.g. a web-download of a compressed
/// file, which Glance cannot decompress).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unplannable {
    pub identity: Identity,
    pub message: String,
}

/// One action on one image.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Execution phase; steps of a lower phase finish before a higher phase starts.
    pub phase: Phase,
    /// The catalog identity the step serves (`None` for images no definition claims).
    pub identity: Option<Identity>,
    pub action: Action,
    /// Why this step exists. For people only: apply must not branch on it.
    pub reason: Reason,
}

/// Rotation order, per definition and cloud: a new image is uploaded and verified before
/// anything else of its definition changes, the image it supersedes is renamed next, and only
/// then does the new one take the plain name. Different definitions do not wait for each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Delete leftovers of interrupted runs (never-activated managed images), so a retried
    /// upload with a fixed image id does not collide with its own remains.
    Cleanup,
    /// Upload and verify new images (created private and hidden under a staging name).
    Upload,
    /// Superseded images take their old-version names and `on_rotate` metadata.
    Rotate,
    /// New images take their final names and visibility; drift is corrected.
    Publish,
    /// Members of shared images: after publishing, because Glance gives members only to images
    /// that are `shared` already, and a new image is private until its publish.
    Share,
    /// Pruning and leftover cleanup, last, so a failed upload never costs an old image.
    Prune,
}

/// What to do. Closed vocabulary; `symbol` is what the text plan shows.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Upload a new image from its source along `path`, and verify it: private, hidden,
    /// under a staging name until its `Publish` step.
    Create {
        image: Box<DesiredImage>,
        path: DataPath,
    },
    /// The image the `Create` of the same identity made in this run takes its final name,
    /// visibility, `os_hidden` and protection in one patch (and is deactivated after, when the
    /// catalog says so).
    Publish {
        name: String,
        visibility: String,
        hidden: bool,
        /// Set only when the catalog asks for protection (new images start unprotected).
        protected: bool,
        deactivate: bool,
    },
    /// Correct an existing image with ONE JSON patch.
    Update {
        id: String,
        /// The image's name in Glance now.
        name: String,
        changes: Vec<Change>,
    },
    Deactivate {
        id: String,
        name: String,
    },
    Reactivate {
        id: String,
        name: String,
    },
    Delete {
        id: String,
        name: String,
    },
    /// Share the image with a project (`POST …/members`), then set the member's status to
    /// `accepted` when `accept`.
    AddMember {
        /// `None`: the image the `Create` of the same identity makes in this run.
        id: Option<String>,
        name: String,
        project: MemberProject,
        accept: bool,
    },
    /// Set a member's status to `accepted` (`PUT …/members/{project}`).
    AcceptMember {
        id: String,
        name: String,
        project: MemberProject,
        /// The member's status now.
        from: String,
    },
    /// Stop sharing the image with a project (`DELETE …/members/{project}`).
    RemoveMember {
        id: String,
        name: String,
        project: MemberProject,
    },
}

/// A member project as the plan names it: the id Glance knows, and the catalog's name and
/// domain for it when the catalog named it so (for people; apply uses the id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberProject {
    pub id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
}

/// Which Glance operation an action is, without its data: what the report names and the
/// progress hooks show. Serialised as the action's `type` in the plan JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Create,
    Publish,
    Update,
    Deactivate,
    Reactivate,
    Delete,
    AddMember,
    AcceptMember,
    RemoveMember,
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActionKind::Create => "create",
            ActionKind::Publish => "publish",
            ActionKind::Update => "update",
            ActionKind::Deactivate => "deactivate",
            ActionKind::Reactivate => "reactivate",
            ActionKind::Delete => "delete",
            ActionKind::AddMember => "add member",
            ActionKind::AcceptMember => "accept member",
            ActionKind::RemoveMember => "remove member",
        })
    }
}

impl Action {
    /// One character for the text plan: `+` create or add a member, `*` publish, `~` update
    /// or accept a member, `→` rename only, `-` delete, deactivate or remove a member, `^`
    /// reactivate.
    pub fn symbol(&self) -> &'static str {
        match self {
            Action::Create { .. } | Action::AddMember { .. } => "+",
            Action::Publish { .. } => "*",
            Action::Update { .. } if self.is_rename() => "→",
            Action::Update { .. } | Action::AcceptMember { .. } => "~",
            Action::Deactivate { .. } | Action::Delete { .. } | Action::RemoveMember { .. } => "-",
            Action::Reactivate { .. } => "^",
        }
    }

    /// The operation, without its data.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Create { .. } => ActionKind::Create,
            Action::Publish { .. } => ActionKind::Publish,
            Action::Update { .. } => ActionKind::Update,
            Action::Deactivate { .. } => ActionKind::Deactivate,
            Action::Reactivate { .. } => ActionKind::Reactivate,
            Action::Delete { .. } => ActionKind::Delete,
            Action::AddMember { .. } => ActionKind::AddMember,
            Action::AcceptMember { .. } => ActionKind::AcceptMember,
            Action::RemoveMember { .. } => ActionKind::RemoveMember,
        }
    }

    /// An update that changes nothing but the name (a rotation's rename).
    pub fn is_rename(&self) -> bool {
        matches!(self, Action::Update { changes, .. }
            if changes.iter().all(|c| matches!(c, Change::Name { .. })))
    }

    /// The image's name as planned: a create's and a publish's final name, else its name in
    /// Glance now.
    pub fn name(&self) -> &str {
        match self {
            Action::Create { image, .. } => &image.name,
            Action::Publish { name, .. }
            | Action::Update { name, .. }
            | Action::Deactivate { name, .. }
            | Action::Reactivate { name, .. }
            | Action::Delete { name, .. }
            | Action::AddMember { name, .. }
            | Action::AcceptMember { name, .. }
            | Action::RemoveMember { name, .. } => name,
        }
    }

    /// The Glance image the action targets (`None` for a create, its publish and its members:
    /// the id is known once the create ran).
    pub fn image_id(&self) -> Option<&str> {
        match self {
            Action::Create { .. } | Action::Publish { .. } => None,
            Action::AddMember { id, .. } => id.as_deref(),
            Action::Update { id, .. }
            | Action::Deactivate { id, .. }
            | Action::Reactivate { id, .. }
            | Action::Delete { id, .. }
            | Action::AcceptMember { id, .. }
            | Action::RemoveMember { id, .. } => Some(id),
        }
    }

    /// Whether the action acts on the image the `Create` of its identity makes in this run
    /// (whose id the plan cannot know).
    pub fn on_created_image(&self) -> bool {
        matches!(
            self,
            Action::Publish { .. } | Action::AddMember { id: None, .. }
        )
    }

    /// The member project a member step is about.
    pub fn member(&self) -> Option<&MemberProject> {
        match self {
            Action::AddMember { project, .. }
            | Action::AcceptMember { project, .. }
            | Action::RemoveMember { project, .. } => Some(project),
            _ => None,
        }
    }
}

/// One difference between an image and the catalog; all of one image's changes go into one
/// JSON patch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "field", rename_all = "snake_case")]
pub enum Change {
    Name {
        from: String,
        to: String,
    },
    Visibility {
        from: String,
        to: String,
    },
    Hidden {
        from: bool,
        to: bool,
    },
    Protected {
        from: bool,
        to: bool,
    },
    MinDisk {
        from: u64,
        to: u64,
    },
    MinRam {
        from: u64,
        to: u64,
    },
    /// The whole tag list is replaced in one patch op.
    Tags {
        from: Vec<String>,
        to: Vec<String>,
    },
    /// `from: None` adds, `to: None` removes, both set replaces.
    Property {
        key: String,
        from: Option<String>,
        to: Option<String>,
    },
}

/// Why a step was planned (rendered by `plan::render`, serialised snake_case).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// No image in Glance has this identity.
    Missing,
    /// This run uploads and verifies the image first (its `Create` step).
    Uploaded,
    /// The image differs from what the catalog says.
    Drift,
    /// A newer version became current; this image takes its superseded name and `on_rotate`.
    Superseded {
        /// The Glance name of the image that is current now.
        by: String,
    },
    /// Superseded and past its `uuid_validity` promise.
    Expired { uuid_validity: String },
    /// The catalog no longer lists this version, and its `uuid_validity` allows pruning.
    Unlisted { uuid_validity: String },
    /// The catalog asks for another status (`active` / `deactivated`).
    Status,
    /// Left behind by an interrupted run: a managed image that never became active.
    Leftover { status: String },
    /// Another managed image holds the same catalog version and is kept (overlapping runs of
    /// older versions of this tool, or of the Python tool, can leave such twins).
    Duplicate { kept: String },
    /// The catalog's `shared` list names this project.
    MemberListed,
    /// The catalog's `shared` list does not name this project (any more).
    MemberUnlisted,
    /// The catalog asks for member status `accepted`.
    MemberStatus,
}

/// Something the plan will not act on, that a person should see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// An image without the managed tag carries a name the catalog manages: left alone.
    UnmanagedNameClash { id: String, name: String },
    /// A prune target is `protected`: left alone.
    ProtectedPruneTarget { id: String, name: String },
    /// Several managed images claim one identity and some of them are protected, so they
    /// cannot be cleaned up: `kept` is managed as the image, `ids` are left alone.
    DuplicateIdentity {
        identity: Identity,
        kept: String,
        ids: Vec<String>,
    },
    /// A managed image in `queued`, `saving`, `importing` or `killed` that this run will not
    /// clean up (e.g. it is protected).
    Stuck {
        id: String,
        name: String,
        status: String,
    },
    /// Prunable images exist but `--prune none` (the default) only reports them.
    PruneSkipped { id: String, name: String },
}
