//! What Glance holds, as plain data: [`ObservedImage`] and [`ObservedState`].
//!
//! These types are the planner's input, so they hold no client and do no I/O;
//! planner table tests build them directly with [`ObservedImage::test`] and the
//! `with_*` builders. They are produced from Glance's JSON by
//! [`ObservedImage::from_json`], which is the only place that knows Glance's
//! field names.
//!
//! Custom properties: Glance stores custom property values as strings, and
//! they land in [`ObservedImage::properties`]. Values that are not strings (old
//! v1-era data, or attributes of newer Glance releases we do not model) are
//! stringified when they are numbers or booleans (`1` → `"1"`, `true` →
//! `"true"`) and skipped when they are `null`, arrays or objects. Reserved
//! keys Glance sets itself (`os_glance_*`, `stores`, `owner_specified.*`) are
//! kept there too, because the planner must see them to leave them alone and
//! `wait` reads `os_glance_failed_import`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::members::{MemberStatus, ObservedMember};
use super::projects::Resolved;

/// A string-valued Glance attribute as an enum: the values this tool knows, and `Other` for any
/// other (a newer Glance's), which reads and prints back unchanged.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(into = "String")]
        pub enum $name {
            $($variant,)+
            /// A value this version of the tool does not know.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(super) use open_enum;

open_enum!(
    /// Image status as Glance reports it.
    ImageStatus {
        Queued => "queued",
        Saving => "saving",
        Uploading => "uploading",
        Importing => "importing",
        Active => "active",
        Deactivated => "deactivated",
        Killed => "killed",
        Deleted => "deleted",
        PendingDelete => "pending_delete",
    }
);

open_enum!(
    /// Image visibility (`shared` is Glance's default when none is sent).
    Visibility {
        Public => "public",
        Community => "community",
        Shared => "shared",
        Private => "private",
    }
);

/// One image as Glance reported it. Plain data: no client, no I/O.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedImage {
    pub id: String,
    /// Glance allows `null` names; those read as `""` (catalog names are never
    /// empty, so the two need no distinction).
    pub name: String,
    pub status: ImageStatus,
    pub visibility: Visibility,
    pub os_hidden: bool,
    pub protected: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    /// GiB.
    pub min_disk: u64,
    /// MiB.
    pub min_ram: u64,
    /// Bytes stored; `None` until data was uploaded.
    pub size: Option<u64>,
    /// Guest-visible size Glance read from the image header, when it could.
    pub virtual_size: Option<u64>,
    /// md5 of the stored bytes (legacy).
    pub checksum: Option<String>,
    /// The deployment's hash algorithm (`sha512` by default).
    pub os_hash_algo: Option<String>,
    /// Hex digest of the stored bytes with `os_hash_algo`.
    pub os_hash_value: Option<String>,
    pub owner: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub tags: Vec<String>,
    /// All remaining properties (custom and Glance-reserved ones); see the
    /// module docs for non-string values.
    pub properties: BTreeMap<String, String>,
    /// The image's members, when they were read (`members.rs`: the shared images whose
    /// members the catalog manages); `None`: not read.
    pub members: Option<Vec<ObservedMember>>,
}

/// Top-level keys that are modelled as fields above, or are links / location
/// data rather than properties.
const NOT_PROPERTIES: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "os_hidden",
    "protected",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "owner",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
    "locations",
    "direct_url",
];

impl ObservedImage {
    /// Reads one image object of Glance's v2 API. Fails only when `id` is
    /// missing; every other field is optional so that an odd image does not
    /// break a whole listing.
    pub fn from_json(value: &Value) -> Result<ObservedImage, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("image is not a JSON object: {value}"))?;
        let id = str_field(value, "id").ok_or("image without `id`")?;
        let properties = obj
            .iter()
            .filter(|(key, _)| !NOT_PROPERTIES.contains(&key.as_str()))
            .filter_map(|(key, v)| property_string(v).map(|s| (key.clone(), s)))
            .collect();
        Ok(ObservedImage {
            id,
            name: str_field(value, "name").unwrap_or_default(),
            status: ImageStatus::from(str_field(value, "status").unwrap_or_default().as_str()),
            visibility: Visibility::from(
                str_field(value, "visibility")
                    .unwrap_or_else(|| "shared".into())
                    .as_str(),
            ),
            os_hidden: bool_field(value, "os_hidden"),
            protected: bool_field(value, "protected"),
            disk_format: str_field(value, "disk_format"),
            container_format: str_field(value, "container_format"),
            min_disk: value["min_disk"].as_u64().unwrap_or(0),
            min_ram: value["min_ram"].as_u64().unwrap_or(0),
            size: value["size"].as_u64(),
            virtual_size: value["virtual_size"].as_u64(),
            checksum: str_field(value, "checksum"),
            os_hash_algo: str_field(value, "os_hash_algo"),
            os_hash_value: str_field(value, "os_hash_value"),
            owner: str_field(value, "owner"),
            created_at: time_field(value, "created_at"),
            updated_at: time_field(value, "updated_at"),
            tags: value["tags"]
                .as_array()
                .map(|tags| {
                    tags.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            properties,
            members: None,
        })
    }

    /// A property value, if set.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Whether the image belongs to `project` (true when either side is unknown); see
    /// [`ObservedState::owns`].
    pub fn owned_by(&self, project: Option<&str>) -> bool {
        match (project, &self.owner) {
            (Some(project), Some(owner)) => project == owner,
            _ => true,
        }
    }

    /// A fixture for planner tests: an active, private, visible qcow2 image
    /// named `name` with an id derived from the name, so two fixtures with
    /// different names never share an id.
    pub fn test(name: &str) -> ObservedImage {
        ObservedImage {
            id: format!("test-{name}"),
            name: name.to_owned(),
            status: ImageStatus::Active,
            visibility: Visibility::Private,
            os_hidden: false,
            protected: false,
            disk_format: Some("qcow2".into()),
            container_format: Some("bare".into()),
            min_disk: 0,
            min_ram: 0,
            size: Some(1024),
            virtual_size: Some(4096),
            checksum: None,
            os_hash_algo: Some("sha512".into()),
            os_hash_value: None,
            owner: Some("test-project".into()),
            created_at: None,
            updated_at: None,
            tags: Vec::new(),
            properties: BTreeMap::new(),
            members: None,
        }
    }

    #[must_use]
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = id.to_owned();
        self
    }

    #[must_use]
    pub fn with_property(mut self, key: &str, value: &str) -> Self {
        self.properties.insert(key.to_owned(), value.to_owned());
        self
    }

    #[must_use]
    pub fn with_tag(mut self, tag: &str) -> Self {
        if !self.has_tag(tag) {
            self.tags.push(tag.to_owned());
        }
        self
    }

    #[must_use]
    pub fn with_status(mut self, status: ImageStatus) -> Self {
        self.status = status;
        self
    }

    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    #[must_use]
    pub fn with_hidden(mut self, hidden: bool) -> Self {
        self.os_hidden = hidden;
        self
    }

    #[must_use]
    pub fn with_protected(mut self, protected: bool) -> Self {
        self.protected = protected;
        self
    }

    #[must_use]
    pub fn with_min_disk(mut self, gib: u64) -> Self {
        self.min_disk = gib;
        self
    }

    #[must_use]
    pub fn with_min_ram(mut self, mib: u64) -> Self {
        self.min_ram = mib;
        self
    }

    #[must_use]
    pub fn with_created_at(mut self, at: DateTime<Utc>) -> Self {
        self.created_at = Some(at);
        self
    }

    /// Members as read: `(project id, status)` pairs.
    #[must_use]
    pub fn with_members(mut self, members: &[(&str, &str)]) -> Self {
        let members = members.iter().map(|(project, status)| ObservedMember {
            project_id: (*project).to_owned(),
            status: MemberStatus::from(*status),
        });
        self.members = Some(members.collect());
        self
    }

    #[must_use]
    pub fn with_hash(mut self, algo: &str, value: &str) -> Self {
        self.os_hash_algo = Some(algo.to_owned());
        self.os_hash_value = Some(value.to_owned());
        self
    }
}

/// Everything one listing of one cloud returned. Plain data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedState {
    /// The cloud name the listing came from (clouds.yaml key).
    pub cloud: String,
    /// The project the credentials are scoped to, when known. Only its images can be
    /// managed: an admin lists every project's images, tagged ones included, and must never
    /// adopt or prune another project's.
    pub project_id: Option<String>,
    /// Every image the credentials can list, hidden ones included, ordered by
    /// `created_at` then `id`.
    pub images: Vec<ObservedImage>,
    /// The import methods the cloud offers (`GET /v2/info/import`), read with the listing so
    /// the plan can choose each new image's data path ([`GlanceClient::observe`]); empty when
    /// only the images were listed, or the cloud offers none (then only a plain upload works).
    ///
    /// [`GlanceClient::observe`]: super::GlanceClient::observe
    pub import_methods: Vec<String>,
    /// The project names the catalog shares with, resolved through Keystone
    /// ([`GlanceClient::resolve_projects`]); empty when the catalog names none.
    ///
    /// [`GlanceClient::resolve_projects`]: super::GlanceClient::resolve_projects
    #[serde(serialize_with = "as_list")]
    pub projects: Resolved,
}

impl ObservedState {
    pub fn image(&self, id: &str) -> Option<&ObservedImage> {
        self.images.iter().find(|i| i.id == id)
    }

    /// Images carrying `tag` and owned by the credentials' project (the ownership rule).
    pub fn tagged<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a ObservedImage> + 'a {
        self.images
            .iter()
            .filter(move |i| i.has_tag(tag) && self.owns(i))
    }

    /// Whether `image` belongs to the credentials' project (true when either side is unknown).
    pub fn owns(&self, image: &ObservedImage) -> bool {
        image.owned_by(self.project_id.as_deref())
    }
}

/// A map with structured keys as a JSON list of `[key, value]` pairs.
fn as_list<S: serde::Serializer>(projects: &Resolved, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(projects.iter())
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    value[key].as_str().map(str::to_owned)
}

fn bool_field(value: &Value, key: &str) -> bool {
    match &value[key] {
        Value::Bool(b) => *b,
        // Very old Glance returned some booleans as strings.
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn time_field(value: &Value, key: &str) -> Option<DateTime<Utc>> {
    value[key]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn property_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_glance_json() {
        let image = ObservedImage::from_json(&json!({
            "id": "1b2c", "name": "Ubuntu 24.04", "status": "active",
            "visibility": "public", "os_hidden": true, "protected": false,
            "disk_format": "qcow2", "container_format": "bare",
            "min_disk": 8, "min_ram": 512, "size": 100, "virtual_size": null,
            "checksum": "abc", "os_hash_algo": "sha512", "os_hash_value": "def",
            "owner": "p1", "created_at": "2025-01-02T03:04:05Z",
            "updated_at": "2025-01-02T03:04:06Z", "tags": ["managed_by_image_manager"],
            "self": "/v2/images/1b2c", "file": "/v2/images/1b2c/file",
            "schema": "/v2/schemas/image", "stores": "local",
            "os_distro": "ubuntu", "hw_rng_model": "virtio", "legacy_num": 3,
            "legacy_bool": true, "legacy_list": [1], "legacy_null": null
        }))
        .unwrap();
        assert_eq!(image.status, ImageStatus::Active);
        assert_eq!(image.visibility, Visibility::Public);
        assert!(image.os_hidden);
        assert_eq!((image.min_disk, image.min_ram), (8, 512));
        assert_eq!((image.size, image.virtual_size), (Some(100), None));
        assert!(image.has_tag("managed_by_image_manager"));
        assert_eq!(image.property("os_distro"), Some("ubuntu"));
        assert_eq!(image.property("stores"), Some("local"));
        assert_eq!(image.property("legacy_num"), Some("3"));
        assert_eq!(image.property("legacy_bool"), Some("true"));
        assert_eq!(image.property("legacy_list"), None);
        assert_eq!(image.property("legacy_null"), None);
        assert_eq!(image.property("self"), None);
        assert_eq!(image.property("name"), None);
        assert_eq!(
            image.created_at.unwrap().to_rfc3339(),
            "2025-01-02T03:04:05+00:00"
        );
    }

    #[test]
    fn id_is_required_and_null_name_is_empty() {
        assert!(ObservedImage::from_json(&json!({"name": "x"})).is_err());
        let image = ObservedImage::from_json(&json!({"id": "x", "name": null})).unwrap();
        assert_eq!(image.name, "");
        assert_eq!(image.visibility, Visibility::Shared);
    }

    #[test]
    fn test_builder_composes() {
        let image = ObservedImage::test("Debian 12")
            .with_property("internal_version", "20250101")
            .with_tag("managed_by_image_manager")
            .with_tag("managed_by_image_manager")
            .with_hidden(true)
            .with_status(ImageStatus::Deactivated);
        assert_eq!(image.id, "test-Debian 12");
        assert_eq!(image.tags.len(), 1);
        assert_eq!(image.property("internal_version"), Some("20250101"));
        assert!(image.os_hidden);
        let state = ObservedState {
            projects: Default::default(),
            import_methods: Vec::new(),
            cloud: "c".into(),
            project_id: None,
            images: vec![image, ObservedImage::test("other")],
        };
        assert_eq!(state.tagged("managed_by_image_manager").count(), 1);
        assert!(state.image("test-other").is_some());
    }

    #[test]
    fn status_round_trips() {
        for s in ["queued", "importing", "active", "pending_delete", "weird"] {
            assert_eq!(ImageStatus::from(s).as_str(), s);
        }
        assert_eq!(
            serde_json::to_value(ImageStatus::PendingDelete).unwrap(),
            json!("pending_delete")
        );
    }
}
