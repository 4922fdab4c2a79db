//! JSON-patch operations for `PATCH /v2/images/{id}`
//! (`application/openstack-images-v2.1-json-patch`): built by the planner's changes, sent in
//! ONE request per image, and compared with a re-read image when a PATCH's answer was lost
//! ([`PatchOp::holds`]).

use serde::Serialize;
use serde_json::{Value, json};

use super::observed::{ObservedImage, Visibility};

/// One operation of a JSON-patch (`application/openstack-images-v2.1-json-patch`).
/// Build them with the constructors, which know Glance's paths; many ops go
/// to Glance in ONE request ([`GlanceClient::patch_image`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    Add { path: String, value: Value },
    Replace { path: String, value: Value },
    Remove { path: String },
}

impl PatchOp {
    /// Sets a custom property. Uses `add`, which Glance treats as replace when
    /// the property exists, so the caller need not know whether it does.
    pub fn set_property(key: &str, value: &str) -> PatchOp {
        PatchOp::Add {
            path: pointer(key),
            value: json!(value),
        }
    }

    /// Removes a custom property (409 from Glance if it does not exist).
    pub fn remove_property(key: &str) -> PatchOp {
        PatchOp::Remove { path: pointer(key) }
    }

    pub fn set_name(name: &str) -> PatchOp {
        Self::replace("name", json!(name))
    }

    pub fn set_visibility(visibility: &Visibility) -> PatchOp {
        Self::replace("visibility", json!(visibility.as_str()))
    }

    pub fn set_hidden(hidden: bool) -> PatchOp {
        Self::replace("os_hidden", json!(hidden))
    }

    pub fn set_protected(protected: bool) -> PatchOp {
        Self::replace("protected", json!(protected))
    }

    pub fn set_min_disk(gib: u64) -> PatchOp {
        Self::replace("min_disk", json!(gib))
    }

    pub fn set_min_ram(mib: u64) -> PatchOp {
        Self::replace("min_ram", json!(mib))
    }

    /// Replaces the whole tag list (one op instead of a request per tag).
    pub fn set_tags<I, S>(tags: I) -> PatchOp
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<String> = tags.into_iter().map(|t| t.as_ref().to_owned()).collect();
        Self::replace("tags", json!(list))
    }

    fn replace(attribute: &str, value: Value) -> PatchOp {
        PatchOp::Replace {
            path: pointer(attribute),
            value,
        }
    }

    /// Whether `image` already shows what this op sets (or removes): a PATCH whose answer
    /// was lost is re-sent with only the ops that do not hold yet, so that a `remove` that
    /// landed is not sent again (Glance answers 409 to removing a missing property).
    pub fn holds(&self, image: &ObservedImage) -> bool {
        match self {
            PatchOp::Add { path, value } | PatchOp::Replace { path, value } => {
                attribute(image, path).as_ref() == Some(value)
            }
            PatchOp::Remove { path } => attribute(image, path).is_none(),
        }
    }
}

/// The value at a top-level JSON pointer of `image`, as Glance would show it.
fn attribute(image: &ObservedImage, path: &str) -> Option<Value> {
    let key = path
        .strip_prefix('/')
        .unwrap_or(path)
        .replace("~1", "/")
        .replace("~0", "~");
    Some(match key.as_str() {
        "name" => json!(image.name),
        "visibility" => json!(image.visibility.as_str()),
        "os_hidden" => json!(image.os_hidden),
        "protected" => json!(image.protected),
        "min_disk" => json!(image.min_disk),
        "min_ram" => json!(image.min_ram),
        "tags" => json!(image.tags),
        other => json!(image.properties.get(other)?),
    })
}

/// A JSON pointer to a top-level key (`~` → `~0`, `/` → `~1`, RFC 6901).
fn pointer(key: &str) -> String {
    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_ops_serialize_as_json_patch() {
        let ops = vec![
            PatchOp::set_property("os_distro", "ubuntu"),
            PatchOp::set_property("a/b~c", "x"),
            PatchOp::remove_property("old"),
            PatchOp::set_name("Ubuntu 24.04"),
            PatchOp::set_visibility(&Visibility::Public),
            PatchOp::set_hidden(true),
            PatchOp::set_min_disk(8),
            PatchOp::set_tags(["managed", "x"]),
        ];
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([
                {"op": "add", "path": "/os_distro", "value": "ubuntu"},
                {"op": "add", "path": "/a~1b~0c", "value": "x"},
                {"op": "remove", "path": "/old"},
                {"op": "replace", "path": "/name", "value": "Ubuntu 24.04"},
                {"op": "replace", "path": "/visibility", "value": "public"},
                {"op": "replace", "path": "/os_hidden", "value": true},
                {"op": "replace", "path": "/min_disk", "value": 8},
                {"op": "replace", "path": "/tags", "value": ["managed", "x"]},
            ])
        );
    }

    #[test]
    fn ops_that_hold_are_not_sent_again() {
        let image = ObservedImage::from_json(&json!({
            "id": "i", "name": "Ubuntu", "status": "active", "visibility": "public",
            "os_hidden": false, "protected": false, "min_disk": 8, "min_ram": 512,
            "tags": ["a", "b"], "os_distro": "ubuntu", "a/b": "x",
        }))
        .unwrap();
        for op in [
            PatchOp::set_name("Ubuntu"),
            PatchOp::set_visibility(&Visibility::Public),
            PatchOp::set_hidden(false),
            PatchOp::set_min_disk(8),
            PatchOp::set_tags(["a", "b"]),
            PatchOp::set_property("os_distro", "ubuntu"),
            PatchOp::set_property("a/b", "x"),
            PatchOp::remove_property("gone"),
        ] {
            assert!(op.holds(&image), "{op:?}");
        }
        for op in [
            PatchOp::set_name("Ubuntu 24.04"),
            PatchOp::set_protected(true),
            PatchOp::set_min_ram(1024),
            PatchOp::set_tags(["a"]),
            PatchOp::set_property("os_distro", "debian"),
            PatchOp::remove_property("os_distro"),
        ] {
            assert!(!op.holds(&image), "{op:?}");
        }
    }
}
