//! Single-image JSON calls: get, create, one JSON-patch for many changes,
//! tags, delete, deactivate/reactivate, import, and the import-related reads
//! (`/v2/info/import`, `/v2/images/{id}/tasks`).
//!
//! All of them go through the SDK session (see `mod.rs` for why), using its
//! generated image endpoints except for tag-add, deactivate and reactivate,
//! whose generated endpoints send a body Glance rejects ([`NoBody`] instead). The request types here ([`NewImage`], [`PatchOp`],
//! [`ImportMethod`]) are ours rather than the SDK's: the SDK's create request
//! has closed enums for disk formats and its patch type comes from a crate we
//! do not depend on, while the planner needs plain, comparable data.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use openstack_sdk::api::RestEndpoint;
use openstack_sdk::types::ServiceType;

use super::image_api::image::{create, delete, get, import, patch, tag, task};
use super::image_api::info;
use super::observed::{ImageStatus, ObservedImage, Visibility};
use super::patch::PatchOp;
use super::retry::Repeat;
use super::{Error, GlanceClient};

/// An image to create. `Default`-free on purpose: name and disk format are
/// always the caller's decision; [`NewImage::new`] fills in the rest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewImage {
    /// An id of our choice (UUID); Glance never reuses the id of a deleted
    /// image, so this makes a retried create detectable.
    pub id: Option<String>,
    pub name: String,
    pub disk_format: String,
    /// `bare` unless the catalog says otherwise.
    pub container_format: String,
    /// Always sent: without it Glance picks `shared`, not `private`.
    pub visibility: Visibility,
    pub os_hidden: bool,
    pub protected: bool,
    /// GiB.
    pub min_disk: u64,
    /// MiB.
    pub min_ram: u64,
    pub tags: Vec<String>,
    /// Custom properties; Glance only accepts string values.
    pub properties: BTreeMap<String, String>,
}

impl NewImage {
    /// A private, visible, unprotected `bare` image with no properties.
    pub fn new(name: &str, disk_format: &str) -> NewImage {
        NewImage {
            id: None,
            name: name.to_owned(),
            disk_format: disk_format.to_owned(),
            container_format: "bare".into(),
            visibility: Visibility::Private,
            os_hidden: false,
            protected: false,
            min_disk: 0,
            min_ram: 0,
            tags: Vec::new(),
            properties: BTreeMap::new(),
        }
    }
}

/// Image attributes that are not custom properties: a property with one of
/// these names would collide with the attribute in the create body.
const CORE_ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "disk_format",
    "container_format",
    "visibility",
    "os_hidden",
    "protected",
    "min_disk",
    "min_ram",
    "tags",
    "owner",
    "locations",
    "status",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
];

/// How Glance gets the data of an image in `POST /v2/images/{id}/import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportMethod {
    /// Data was staged with [`GlanceClient::stage`] first.
    GlanceDirect,
    /// Glance downloads `uri` itself. Glance checks no digest for this
    /// method: verify `os_hash_value` afterwards.
    WebDownload { uri: String },
}

impl ImportMethod {
    pub fn name(&self) -> &'static str {
        match self {
            ImportMethod::GlanceDirect => "glance-direct",
            ImportMethod::WebDownload { .. } => "web-download",
        }
    }
}

/// One task Glance ran for an image (imports run as tasks); a failed import
/// says why only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageTask {
    pub id: String,
    /// Glance's `type`, e.g. `api_image_import`.
    pub kind: String,
    /// `pending`, `processing`, `success` or `failure`.
    pub status: String,
    pub message: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl GlanceClient {
    /// `GET /v2/images/{id}`.
    pub async fn get_image(&self, id: &str) -> Result<ObservedImage, Error> {
        const OP: &str = "get image";
        check_path_segment("image id", id)?;
        let ep = Self::build(get::Request::builder().id(id).build())?;
        let value = self
            .query_json(OP, Some(id), &ep, Some(Repeat::Read))
            .await?;
        parse_image(OP, &value)
    }

    /// `POST /v2/images`: an image in status `queued`, ready for data.
    ///
    /// With an id of the caller's choice the create is safe to repeat: when an attempt's
    /// fate is unknown (transient failure), the image is read back by id, and a 409 on a
    /// repeated attempt means the lost one landed. Without an id it is sent once.
    pub async fn create_image(&self, image: &NewImage) -> Result<ObservedImage, Error> {
        const OP: &str = "create image";
        if let Some(key) = image
            .properties
            .keys()
            .find(|k| CORE_ATTRIBUTES.contains(&k.as_str()))
        {
            return Err(Error::InvalidRequest {
                message: format!("`{key}` is an image attribute, not a custom property"),
            });
        }
        let mut builder = create::Request::builder();
        builder
            .name(Some(image.name.clone().into()))
            .min_disk(to_i32("min_disk", image.min_disk)?)
            .min_ram(to_i32("min_ram", image.min_ram)?)
            .os_hidden(image.os_hidden)
            .protected(image.protected)
            .tags(
                image
                    .tags
                    .iter()
                    .map(|t| t.clone().into())
                    .collect::<Vec<_>>(),
            )
            .visibility(sdk_enum(image.visibility.as_str())?);
        if let Some(id) = &image.id {
            check_path_segment("image id", id)?;
            builder.id(id.clone());
        }
        // The SDK's disk/container format enums are closed; a format an
        // operator enabled that the SDK does not know goes in as a plain
        // string key instead (Glance sees the same JSON).
        let mut extra = image.properties.clone();
        match sdk_enum(&image.disk_format) {
            Ok(format) => {
                builder.disk_format(format);
            }
            Err(_) => {
                extra.insert("disk_format".into(), image.disk_format.clone());
            }
        }
        match sdk_enum(&image.container_format) {
            Ok(format) => {
                builder.container_format(format);
            }
            Err(_) => {
                extra.insert("container_format".into(), image.container_format.clone());
            }
        }
        builder.properties(extra.into_iter());
        let ep = Self::build(builder.build())?;
        let Some(id) = image.id.as_deref() else {
            let value = self.query_json(OP, None, &ep, None).await?;
            return parse_image(OP, &value);
        };
        let mut failures = 0;
        loop {
            match self.query_json(OP, Some(id), &ep, None).await {
                Ok(value) => return parse_image(OP, &value),
                Err(Error::Api { status: 409, .. }) if failures > 0 => {
                    return self.get_image(id).await;
                }
                Err(error) => {
                    failures += 1;
                    if !self
                        .retrying
                        .again(&error, Repeat::Idempotent, failures)
                        .await
                    {
                        return Err(error);
                    }
                    match self.get_image(id).await {
                        Err(Error::NotFound { .. }) => {}
                        landed => return landed,
                    }
                }
            }
        }
    }

    /// `PATCH /v2/images/{id}` with all `ops` in ONE request; returns the
    /// image as Glance stored it. Glance applies all ops or none.
    ///
    /// When an attempt's fate is unknown (transient failure), the image is read
    /// back and only the ops that do not hold yet are sent again.
    pub async fn patch_image(&self, id: &str, ops: &[PatchOp]) -> Result<ObservedImage, Error> {
        const OP: &str = "patch image";
        check_path_segment("image id", id)?;
        let mut ops = ops.to_vec();
        let mut failures = 0;
        loop {
            let ep = patch_request(id, &ops)?;
            match self.query_json(OP, Some(id), &ep, None).await {
                Ok(value) => return parse_image(OP, &value),
                Err(error) => {
                    failures += 1;
                    if !self
                        .retrying
                        .again(&error, Repeat::Idempotent, failures)
                        .await
                    {
                        return Err(error);
                    }
                    let current = self.get_image(id).await?;
                    ops.retain(|op| !op.holds(&current));
                    if ops.is_empty() {
                        return Ok(current);
                    }
                }
            }
        }
    }

    /// `PUT /v2/images/{id}/tags/{tag}`. Prefer [`PatchOp::set_tags`] inside
    /// one patch when other changes go along.
    pub async fn add_tag(&self, id: &str, tag: &str) -> Result<(), Error> {
        check_path_segment("image id", id)?;
        check_path_segment("tag", tag)?;
        let ep = NoBody::put(format!("images/{id}/tags/{tag}"));
        self.query_empty("add tag", Some(id), &ep, Some(Repeat::Idempotent))
            .await
    }

    /// `DELETE /v2/images/{id}/tags/{tag}` (404 when the tag is not there).
    pub async fn remove_tag(&self, id: &str, tag: &str) -> Result<(), Error> {
        check_path_segment("image id", id)?;
        check_path_segment("tag", tag)?;
        let ep = Self::build(
            tag::delete::Request::builder()
                .image_id(id)
                .tag_value(tag)
                .build(),
        )?;
        self.query_empty("remove tag", Some(id), &ep, Some(Repeat::Idempotent))
            .await
    }

    /// `DELETE /v2/images/{id}`. A protected image gives [`Error::Protected`],
    /// an image in use gives [`Error::InUse`]: both are reported, not fatal.
    /// Repeated after transient failures; a 404 then means an attempt whose
    /// answer was lost deleted it, so callers treat [`Error::NotFound`] as done.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        check_path_segment("image id", id)?;
        let ep = Self::build(delete::Request::builder().id(id).build())?;
        match self
            .query_empty("delete image", Some(id), &ep, Some(Repeat::Idempotent))
            .await
        {
            Err(Error::Forbidden {
                image_id: Some(image_id),
                message,
                ..
            }) if message.to_ascii_lowercase().contains("protected") => {
                Err(Error::Protected { image_id, message })
            }
            Err(Error::Api {
                status: 409,
                image_id: Some(image_id),
                message,
                ..
            }) => Err(Error::InUse { image_id, message }),
            other => other,
        }
    }

    /// `POST /v2/images/{id}/actions/deactivate` (idempotent; 403 on a
    /// `queued` image).
    pub async fn deactivate(&self, id: &str) -> Result<(), Error> {
        check_path_segment("image id", id)?;
        let ep = NoBody::post(format!("images/{id}/actions/deactivate"));
        self.query_empty("deactivate image", Some(id), &ep, Some(Repeat::Idempotent))
            .await
    }

    /// `POST /v2/images/{id}/actions/reactivate` (idempotent).
    pub async fn reactivate(&self, id: &str) -> Result<(), Error> {
        check_path_segment("image id", id)?;
        let ep = NoBody::post(format!("images/{id}/actions/reactivate"));
        self.query_empty("reactivate image", Some(id), &ep, Some(Repeat::Idempotent))
            .await
    }

    /// `POST /v2/images/{id}/import`. Glance answers 202 and works
    /// asynchronously: wait with a [`Watcher`](super::Watcher) (or
    /// [`GlanceClient::wait_for`] for one image), and read
    /// [`GlanceClient::image_tasks`] when it fails.
    ///
    /// When an attempt's fate is unknown, the image is read back: an import
    /// that started (status `importing`/`active`, or an import task holding
    /// the image) is not posted again.
    pub async fn import(&self, id: &str, method: &ImportMethod) -> Result<(), Error> {
        check_path_segment("image id", id)?;
        let mut sdk_method = import::create::MethodBuilder::default();
        sdk_method.name(method.name());
        if let ImportMethod::WebDownload { uri } = method {
            sdk_method.uri(uri.clone());
        }
        let sdk_method = Self::build(sdk_method.build())?;
        let ep = Self::build(
            import::create::Request::builder()
                .image_id(id)
                .method(sdk_method)
                .build(),
        )?;
        let mut failures = 0;
        loop {
            match self.query_empty("import image", Some(id), &ep, None).await {
                Ok(()) => return Ok(()),
                // "Image status transition from importing to importing is not allowed": the
                // lost attempt started the import.
                Err(Error::Api { status: 409, .. }) if failures > 0 => return Ok(()),
                Err(error) => {
                    failures += 1;
                    if !self
                        .retrying
                        .again(&error, Repeat::Idempotent, failures)
                        .await
                    {
                        return Err(error);
                    }
                    if import_started(&self.get_image(id).await?) {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// `GET /v2/info/import`: the import methods this Glance has enabled
    /// (e.g. `glance-direct`, `web-download`); empty when the interoperable
    /// import API is off, in which case only `PUT /file` uploads work.
    pub async fn import_methods(&self) -> Result<Vec<String>, Error> {
        const OP: &str = "list import methods";
        let ep = Self::build(info::import::get::Request::builder().build())?;
        let value = self.query_json(OP, None, &ep, Some(Repeat::Read)).await?;
        let methods = value["value"].as_array().ok_or_else(|| Error::Response {
            operation: OP,
            message: format!("no `value` list in {value}"),
        })?;
        Ok(methods
            .iter()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect())
    }

    /// `GET /v2/images/{id}/tasks`: the import tasks of an image, newest last
    /// as Glance returns them.
    pub async fn image_tasks(&self, id: &str) -> Result<Vec<ImageTask>, Error> {
        check_path_segment("image id", id)?;
        let ep = Self::build(task::list::Request::builder().image_id(id).build())?;
        let value = self
            .query_json("list image tasks", Some(id), &ep, Some(Repeat::Read))
            .await?;
        let text = |t: &Value, key: &str| t[key].as_str().map(str::to_owned);
        Ok(value
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|t| ImageTask {
                id: text(t, "id").unwrap_or_default(),
                kind: text(t, "type").unwrap_or_default(),
                status: text(t, "status").unwrap_or_default(),
                message: text(t, "message").unwrap_or_default(),
                created_at: text(t, "created_at"),
                updated_at: text(t, "updated_at"),
            })
            .collect())
    }
}

/// Whether an import was started on `image` (by an attempt whose answer was lost).
fn import_started(image: &ObservedImage) -> bool {
    let held = |key: &str| image.property(key).is_some_and(|v| !v.is_empty());
    matches!(image.status, ImageStatus::Importing | ImageStatus::Active)
        || held("os_glance_import_task")
        || held("os_glance_failed_import")
}

/// A body-less `PUT`/`POST` of the image API. The SDK's generated tag-set,
/// deactivate and reactivate endpoints always send `{}`, which Glance 33
/// answers with 400 "A body is not expected with this request".
#[derive(Clone)]
struct NoBody {
    method: reqwest::Method,
    path: String,
}

impl NoBody {
    fn put(path: String) -> NoBody {
        NoBody {
            method: reqwest::Method::PUT,
            path,
        }
    }

    fn post(path: String) -> NoBody {
        NoBody {
            method: reqwest::Method::POST,
            path,
        }
    }
}

impl RestEndpoint for NoBody {
    fn method(&self) -> reqwest::Method {
        self.method.clone()
    }

    fn endpoint(&self) -> Cow<'static, str> {
        self.path.clone().into()
    }

    fn service_type(&self) -> ServiceType {
        ServiceType::Image
    }
}

/// The SDK's patch endpoint for `ops` (its patch type is `json_patch::Patch`,
/// reached through serde so that we need not depend on that crate).
fn patch_request<'a>(id: &'a str, ops: &[PatchOp]) -> Result<patch::Request<'a>, Error> {
    let patch = serde_json::to_value(ops)
        .and_then(serde_json::from_value)
        .map_err(|e| Error::InvalidRequest {
            message: format!("invalid JSON patch: {e}"),
        })?;
    GlanceClient::build(patch::Request::builder().id(id).patch(patch).build())
}

pub(super) fn parse_image(operation: &'static str, value: &Value) -> Result<ObservedImage, Error> {
    ObservedImage::from_json(value).map_err(|message| Error::Response { operation, message })
}

/// Ids and tags go into URL paths; refuse what would change the path.
pub(super) fn check_path_segment(what: &str, value: &str) -> Result<(), Error> {
    let bad = value.is_empty()
        || value == "."
        || value == ".."
        || value.contains(['/', '?', '#', '%', '\\']);
    if bad {
        return Err(Error::InvalidRequest {
            message: format!("{what} {value:?} cannot be used in a URL path"),
        });
    }
    Ok(())
}

/// One of the SDK's closed string enums (disk/container format, visibility)
/// from its wire name.
fn sdk_enum<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, Error> {
    serde_json::from_value(json!(name)).map_err(|_| Error::InvalidRequest {
        message: format!("unsupported value {name:?}"),
    })
}

fn to_i32(field: &str, value: u64) -> Result<i32, Error> {
    i32::try_from(value).map_err(|_| Error::InvalidRequest {
        message: format!("{field} {value} is too large"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_body_reaches_the_sdk_unchanged() {
        let ops = [
            PatchOp::set_property("a/b", "x"),
            PatchOp::remove_property("y"),
            PatchOp::set_hidden(true),
            PatchOp::set_tags(["t"]),
        ];
        let (mime, body) = patch_request("i", &ops).unwrap().body().unwrap().unwrap();
        assert_eq!(mime, "application/openstack-images-v2.1-json-patch");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            serde_json::to_value(ops).unwrap()
        );
    }

    #[test]
    fn path_segments_are_checked() {
        assert!(check_path_segment("image id", "3f2a-11").is_ok());
        assert!(check_path_segment("tag", "has space").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a%2f"] {
            assert!(check_path_segment("tag", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sdk_enums_map_wire_names() {
        assert!(sdk_enum::<create::DiskFormat>("qcow2").is_ok());
        assert!(sdk_enum::<create::DiskFormat>("gpt").is_err());
        assert!(sdk_enum::<create::Visibility>("community").is_ok());
    }
}
