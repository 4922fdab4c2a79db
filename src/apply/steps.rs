//! One function per plain action: a JSON patch, a status change, a delete, the publication
//! of an image this run created, and member changes. Each executes what the plan says and
//! decides nothing.

use super::create::{self, Created};
use super::error::chain;
use super::report::Outcome;
use crate::glance::{self, GlanceClient, MemberStatus, PatchOp, Visibility};
use crate::plan::{Action, Change};

/// What a refused member-status change means, and the two ways out.
const ACCEPT_REFUSED: &str = "Glance's policy lets only the member project (or an admin) set \
     a member's status: apply with admin credentials, or leave the entry `pending` and accept \
     from the member project";

/// Runs a plain (non-create) action; `created`: the image this run made, for a publish and
/// the members of a new image.
pub(super) async fn run(
    client: &GlanceClient,
    action: &Action,
    created: Option<&Created>,
) -> Outcome {
    let no_image = || glance::Error::InvalidRequest {
        message: "internal error: no image of this run to act on".into(),
    };
    let result = match action {
        Action::Create { .. } => unreachable!("creates go through apply::create"),
        Action::Publish { .. } => match created {
            Some(created) => publish(client, created, action).await,
            None => Err(no_image()),
        },
        Action::AddMember {
            id,
            project,
            accept,
            ..
        } => match id.as_deref().or(created.map(|c| c.id.as_str())) {
            Some(id) => add_member(client, id, &project.id, *accept).await,
            None => Err(no_image()),
        },
        Action::AcceptMember { id, project, .. } => accept_member(client, id, &project.id).await,
        Action::RemoveMember { id, project, .. } => client.remove_member(id, &project.id).await,
        Action::Update { id, changes, .. } => {
            client.patch_image(id, &patch_ops(changes)).await.map(drop)
        }
        Action::Deactivate { id, .. } => client.deactivate(id).await,
        Action::Reactivate { id, .. } => client.reactivate(id).await,
        Action::Delete { id, .. } => match client.delete(id).await {
            // Gone already (e.g. a retried delete whose first attempt landed): done.
            Err(glance::Error::NotFound { .. }) => Ok(()),
            Err(glance::Error::InUse { message, .. }) => return Outcome::InUse { message },
            other => other,
        },
    };
    outcome(result)
}

/// Shares the image with `project` (done when it is a member already), then accepts for it
/// when the plan says so.
async fn add_member(
    client: &GlanceClient,
    id: &str,
    project: &str,
    accept: bool,
) -> Result<(), glance::Error> {
    client.add_member(id, project).await?;
    if accept {
        accept_member(client, id, project).await?;
    }
    Ok(())
}

/// Sets the member's status to `accepted`; a refusal says why and what to do.
async fn accept_member(
    client: &GlanceClient,
    id: &str,
    project: &str,
) -> Result<(), glance::Error> {
    match client
        .set_member_status(id, project, &MemberStatus::Accepted)
        .await
    {
        Err(glance::Error::Forbidden {
            operation,
            image_id,
            message,
        }) => Err(glance::Error::Forbidden {
            operation,
            image_id,
            message: format!("{message}; {ACCEPT_REFUSED}"),
        }),
        other => other,
    }
}

/// Gives an image this run created and verified its final name, visibility, `os_hidden` and
/// protection in one patch that also takes its [`UNVERIFIED`](crate::desired::properties::UNVERIFIED)
/// marker off, then deactivates it when the plan says so. When Glance refuses the patch
/// (e.g. 403 on `public` for a non-admin), the marker comes off alone: the verified image is
/// kept, and the next run tries its publication again without uploading it again.
async fn publish(
    client: &GlanceClient,
    created: &Created,
    action: &Action,
) -> Result<(), glance::Error> {
    let Action::Publish {
        name,
        visibility,
        hidden,
        protected,
        deactivate,
    } = action
    else {
        unreachable!("only publish steps are published")
    };
    let id = created.id.as_str();
    let ops = create::publish_ops(
        created.built.as_deref(),
        name,
        &Visibility::from(visibility.as_str()),
        *hidden,
        *protected,
    );
    if let Err(error) = client.patch_image(id, &ops).await {
        create::unmark(client, id, created.built.as_deref()).await;
        return Err(error);
    }
    if *deactivate {
        client.deactivate(id).await?;
    }
    Ok(())
}

/// The plan's changes as JSON-patch operations, for ONE request.
pub(super) fn patch_ops(changes: &[Change]) -> Vec<PatchOp> {
    changes
        .iter()
        .map(|change| match change {
            Change::Name { to, .. } => PatchOp::set_name(to),
            Change::Visibility { to, .. } => {
                PatchOp::set_visibility(&Visibility::from(to.as_str()))
            }
            Change::Hidden { to, .. } => PatchOp::set_hidden(*to),
            Change::Protected { to, .. } => PatchOp::set_protected(*to),
            Change::MinDisk { to, .. } => PatchOp::set_min_disk(*to),
            Change::MinRam { to, .. } => PatchOp::set_min_ram(*to),
            Change::Tags { to, .. } => PatchOp::set_tags(to),
            Change::Property {
                key,
                to: Some(value),
                ..
            } => PatchOp::set_property(key, value),
            Change::Property { key, to: None, .. } => PatchOp::remove_property(key),
        })
        .collect()
}

pub(super) fn outcome(result: Result<(), glance::Error>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(error) => Outcome::Failed {
            error: chain(&error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_becomes_one_op_in_order() {
        let changes = vec![
            Change::Name {
                from: "a".into(),
                to: "b".into(),
            },
            Change::Hidden {
                from: false,
                to: true,
            },
            Change::Tags {
                from: vec![],
                to: vec!["x".into()],
            },
            Change::Property {
                key: "os_purpose".into(),
                from: Some("generic".into()),
                to: Some("oldgeneric".into()),
            },
            Change::Property {
                key: "gone".into(),
                from: Some("v".into()),
                to: None,
            },
            Change::MinRam { from: 0, to: 512 },
        ];
        let ops = serde_json::to_value(patch_ops(&changes)).unwrap();
        assert_eq!(
            ops,
            serde_json::json!([
                {"op": "replace", "path": "/name", "value": "b"},
                {"op": "replace", "path": "/os_hidden", "value": true},
                {"op": "replace", "path": "/tags", "value": ["x"]},
                {"op": "add", "path": "/os_purpose", "value": "oldgeneric"},
                {"op": "remove", "path": "/gone"},
                {"op": "replace", "path": "/min_ram", "value": 512},
            ])
        );
    }
}
