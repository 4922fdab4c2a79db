//! The Glance properties the tool sets, and the ones it must never touch.
//!
//! The key names are the osism tool's (`image_name`, `internal_version`, …) so a cloud it
//! managed can be adopted without re-uploading: the same keys mean the same identity.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::catalog::{Definition, Version, Visibility};

/// Property holding the definition name: half of a managed image's identity.
pub const IMAGE_NAME: &str = "image_name";
/// Property holding the version string: the other half of a managed image's identity.
pub const INTERNAL_VERSION: &str = "internal_version";
/// The scs-0102 build date: the version's `build_date`, else the day the upstream last changed
/// the file (`Last-Modified`), recorded by `apply` when it uploads the image. A version without
/// `build_date` never has this property removed.
pub const BUILD_DATE: &str = "image_build_date";
/// Set on every image `apply` creates and removed once its bytes are verified: an image that
/// still carries it (an interrupted run, a web-download nobody checked) is never published and
/// the next plan deletes it as a leftover, whatever its status.
pub const UNVERIFIED: &str = "image_manager_unverified";

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
    set("image_source", &published_source(&version.url));
    set(
        "image_description",
        version
            .image_description
            .as_deref()
            .unwrap_or(&definition.name),
    );
    if let Some(date) = &version.build_date {
        set(BUILD_DATE, date);
    }
    if let Some(login) = &definition.login {
        set("image_original_user", login);
    }
    props.retain(|key, _| !is_reserved(key));
    props
}

/// `url` as published in `image_source`, which every tenant reads on a public image: without
/// userinfo (`validate` refuses it in `url`, this is the last line of defence). Otherwise
/// exactly as written, so existing images keep matching; a URL that may hide credentials the
/// parser cannot find is replaced by its redacted form.
fn published_source(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            if parsed.set_username("").is_ok() && parsed.set_password(None).is_ok() {
                parsed.to_string()
            } else {
                crate::redact::url(url)
            }
        }
        Ok(parsed) if parsed.cannot_be_a_base() && url.contains('@') => crate::redact::url(url),
        Err(_) if url.contains('@') => crate::redact::url(url),
        _ => url.to_owned(),
    }
}

/// What a superseded image gets (`on_rotate`), detached from the catalog so the planner can
/// apply it to versions the catalog no longer lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rotation {
    pub meta: BTreeMap<String, String>,
    pub visibility: Option<Visibility>,
    pub hidden: Option<bool>,
}

impl Rotation {
    pub fn of(definition: &Definition) -> Rotation {
        definition
            .on_rotate
            .as_ref()
            .map(|r| Rotation {
                meta: r
                    .meta
                    .iter()
                    .filter(|(k, _)| !is_reserved(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                visibility: r.visibility,
                hidden: r.hidden,
            })
            .unwrap_or_default()
    }

    /// Applies the rotation to a superseded image's properties. Without an explicit
    /// `os_purpose` in `on_rotate.meta`, a `generic` image becomes `oldgeneric`: SCS allows one
    /// visible generic image per (architecture, distro, version); the osism tool does the same.
    pub fn apply(&self, props: &mut BTreeMap<String, String>) {
        if !self.meta.contains_key("os_purpose")
            && props.get("os_purpose").is_some_and(|p| p == "generic")
        {
            props.insert("os_purpose".into(), "oldgeneric".into());
        }
        props.extend(self.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Properties the tool may remove from a managed image when the catalog no longer sets them:
/// its own keys, the keys the catalog schema knows, and every key any `meta` of the
/// definition mentions. Anything else on the image (set by hand or by Glance) is left alone.
pub fn managed_keys(definition: &Definition) -> BTreeSet<String> {
    const KNOWN: &[&str] = &[
        IMAGE_NAME,
        INTERNAL_VERSION,
        "image_source",
        "image_description",
        BUILD_DATE,
        "image_original_user",
        "architecture",
        "hw_disk_bus",
        "hw_scsi_model",
        "hypervisor_type",
        "hw_rng_model",
        "os_purpose",
        "os_distro",
        "os_version",
        "replace_frequency",
        "uuid_validity",
        "provided_until",
        "hotfix_hours",
        "maintained_until",
    ];
    let mut keys: BTreeSet<String> = KNOWN.iter().map(|k| (*k).to_owned()).collect();
    keys.extend(definition.meta.keys().cloned());
    for version in &definition.versions {
        keys.extend(version.meta.keys().cloned());
    }
    if let Some(on_rotate) = &definition.on_rotate {
        keys.extend(on_rotate.meta.keys().cloned());
    }
    keys.retain(|k| !is_reserved(k));
    keys
}

#[cfg(test)]
mod tests {
    use super::published_source;

    #[test]
    fn image_source_never_carries_userinfo() {
        let cases = [
            ("https://u:secret@host/a.img", "https://host/a.img"),
            ("https://token@host/a.img?x=1", "https://host/a.img?x=1"),
            ("https://Host/a b.img", "https://Host/a b.img"),
            ("u:secret@host/a.img", "<unparsable URL>"),
            ("https://u:secret@host:99999/a.img", "<unparsable URL>"),
        ];
        for (url, want) in cases {
            assert_eq!(published_source(url), want, "{url}");
        }
    }
}
