//! The Glance properties the tool sets, and the ones it must never touch.
//!
//! The key names are the osism tool's (`image_name`, `internal_version`, …) so a cloud it
//! managed can be adopted without re-uploading: the same keys mean the same identity.

use std::collections::BTreeMap;

use crate::catalog::{Definition, Version};

/// Property holding the definition name: half of a managed image's identity.
pub const IMAGE_NAME: &str = "image_name";
/// Property holding the version string: the other half of a managed image's identity.
pub const INTERNAL_VERSION: &str = "internal_version";

/// Properties Glance owns or computes; a patch touching them is refused (403) or dangerous.
pub fn is_reserved(key: &str) -> bool {
    key.starts_with("os_glance_")
        || key.starts_with("os_hash_")
        || key.starts_with("owner_specified.")
        || matches!(
            key,
            "checksum" | "stores" | "os_hidden" | "direct_url" | "locations"
        )
}

/// Every property one version's image carries: its metadata
/// ([`Definition::version_meta`]), then the tool's own keys.
pub fn of(definition: &Definition, version: &Version) -> BTreeMap<String, String> {
    let mut props = definition.version_meta(version);
    let mut set = |key: &str, value: &str| {
        props.insert(key.to_owned(), value.to_owned());
    };
    set(IMAGE_NAME, &definition.name);
    set(INTERNAL_VERSION, &version.version);
    set("image_source", &version.url);
    set(
        "image_description",
        version
            .image_description
            .as_deref()
            .unwrap_or(&definition.name),
    );
    if let Some(date) = &version.build_date {
        set("image_build_date", date);
    }
    if let Some(login) = &definition.login {
        set("image_original_user", login);
    }
    props.retain(|key, _| !is_reserved(key));
    props
}

/// Applies `on_rotate` to the properties of a superseded image. Without an explicit
/// `os_purpose` in `on_rotate.meta`, a `generic` image becomes `oldgeneric`: SCS allows one
/// visible generic image per (architecture, distro, version), and the osism tool does the same.
pub fn rotate(definition: &Definition, props: &mut BTreeMap<String, String>) {
    let on_rotate = definition.on_rotate.as_ref();
    let explicit = on_rotate.is_some_and(|r| r.meta.contains_key("os_purpose"));
    if !explicit && props.get("os_purpose").is_some_and(|p| p == "generic") {
        props.insert("os_purpose".into(), "oldgeneric".into());
    }
    if let Some(on_rotate) = on_rotate {
        props.extend(
            on_rotate
                .meta
                .iter()
                .filter(|(k, _)| !is_reserved(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
}
