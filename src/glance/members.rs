//! Image members: the projects a `shared` image is shared with, and their member status.
//!
//! Reading is part of the observation: one `GET /v2/images/{id}/members` per image the caller
//! picks (the managed shared images of definitions whose members the catalog manages), never
//! one per member, at most [`READS_IN_FLIGHT`] at once. Glance answers 403 for the members of
//! an image that is not `shared` ("Only shared images have members"), so only shared images
//! are read; an image made shared later in the same run has members nobody read (`None`).
//!
//! Writes are safe to repeat, which is how the retry rules treat them: adding a member that is
//! already there answers 409 (a repeated add whose first answer was lost, or a member added
//! meanwhile) and counts as done; removing a member that is gone answers 404 and counts as
//! done; setting a status is a `PUT` of the whole status. Who may set the status is Glance's
//! policy (`modify_member`): by default only the member project itself or an admin — an owner
//! that is not an admin gets 403.

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use super::image_api::image::member::{create, delete, list, set};
use super::images::check_path_segment;
use super::observed::{ObservedImage, ObservedState};
use super::retry::Repeat;
use super::{Error, GlanceClient};

/// Member listings read at once during the observation.
pub const READS_IN_FLIGHT: usize = 8;

/// One member of an image, as Glance reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedMember {
    /// The member project's id (Glance's `member_id`).
    pub project_id: String,
    pub status: MemberStatus,
}

super::observed::open_enum!(
    /// Glance's member status. `pending`: proposed, the member project has not decided; it can
    /// use the image by id, but its default listing leaves the image out.
    MemberStatus {
        Pending => "pending",
        Accepted => "accepted",
        Rejected => "rejected",
    }
);

const LIST: &str = "list image members";

impl GlanceClient {
    /// `GET /v2/images/{id}/members`: every member of a shared image, in one request.
    pub async fn members(&self, image_id: &str) -> Result<Vec<ObservedMember>, Error> {
        check_path_segment("image id", image_id)?;
        let ep = Self::build(list::Request::builder().image_id(image_id).build())?;
        let value = self
            .query_json(LIST, Some(image_id), &ep, Some(Repeat::Read))
            .await?;
        parse_members(&value).map_err(|message| Error::Response {
            operation: LIST,
            message,
        })
    }

    /// Reads the members of every image of `observed` that `wanted` picks (only `shared`
    /// images can have members; others are skipped), [`READS_IN_FLIGHT`] at once, into
    /// [`ObservedImage::members`]. One request per image; returns how many were read.
    pub async fn read_members(
        &self,
        observed: &mut ObservedState,
        wanted: impl Fn(&ObservedImage) -> bool,
    ) -> Result<usize, Error> {
        let ids: Vec<String> = observed
            .images
            .iter()
            .filter(|image| image.visibility == super::Visibility::Shared && wanted(image))
            .map(|image| image.id.clone())
            .collect();
        let read: Vec<(String, Vec<ObservedMember>)> = futures::stream::iter(ids)
            .map(|id| async move { self.members(&id).await.map(|m| (id, m)) })
            .buffer_unordered(READS_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let count = read.len();
        for (id, members) in read {
            if let Some(image) = observed.images.iter_mut().find(|i| i.id == id) {
                image.members = Some(members);
            }
        }
        Ok(count)
    }

    /// `POST /v2/images/{id}/members`: shares the image with a project (status `pending`).
    /// A 409 means the project is a member already — a repeated add whose first answer was
    /// lost, or another run's — and counts as done.
    pub async fn add_member(&self, image_id: &str, project_id: &str) -> Result<(), Error> {
        check_path_segment("image id", image_id)?;
        let ep = Self::build(
            create::Request::builder()
                .image_id(image_id)
                .properties([("member", json!(project_id))].into_iter())
                .build(),
        )?;
        match self
            .query_empty(
                "add image member",
                Some(image_id),
                &ep,
                Some(Repeat::Idempotent),
            )
            .await
        {
            Err(Error::Api { status: 409, .. }) => Ok(()),
            other => other,
        }
    }

    /// `DELETE /v2/images/{id}/members/{project}`. A 404 means the member (or the image) is
    /// gone already and counts as done.
    pub async fn remove_member(&self, image_id: &str, project_id: &str) -> Result<(), Error> {
        check_member(image_id, project_id)?;
        let ep = Self::build(
            delete::Request::builder()
                .image_id(image_id)
                .id(project_id)
                .build(),
        )?;
        match self
            .query_empty(
                "remove image member",
                Some(image_id),
                &ep,
                Some(Repeat::Idempotent),
            )
            .await
        {
            Err(Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// `PUT /v2/images/{id}/members/{project}` with the status. Glance's default policy lets
    /// only the member project or an admin do this: an owner that is not an admin gets
    /// [`Error::Forbidden`].
    pub async fn set_member_status(
        &self,
        image_id: &str,
        project_id: &str,
        status: &MemberStatus,
    ) -> Result<(), Error> {
        check_member(image_id, project_id)?;
        let ep = Self::build(
            set::Request::builder()
                .image_id(image_id)
                .id(project_id)
                .properties([("status", json!(status.as_str()))].into_iter())
                .build(),
        )?;
        self.query_empty(
            "set image member status",
            Some(image_id),
            &ep,
            Some(Repeat::Idempotent),
        )
        .await
    }
}

/// Both ids go into the URL path (`…/images/{image}/members/{project}`).
fn check_member(image_id: &str, project_id: &str) -> Result<(), Error> {
    check_path_segment("image id", image_id)?;
    check_path_segment("project id", project_id)
}

/// The `members` list of Glance's answer. A member without a `member_id` makes the answer
/// unusable (planning from a partial view would re-add or keep the wrong members); a missing
/// or odd status is kept as [`MemberStatus::Other`].
pub(crate) fn parse_members(value: &Value) -> Result<Vec<ObservedMember>, String> {
    let list = value.as_array().ok_or("no `members` list in the answer")?;
    list.iter()
        .map(|member| {
            let project_id = member["member_id"]
                .as_str()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| format!("a member without `member_id`: {member}"))?;
            Ok(ObservedMember {
                project_id: project_id.to_owned(),
                status: MemberStatus::from(member["status"].as_str().unwrap_or_default()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
