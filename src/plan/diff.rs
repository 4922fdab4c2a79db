//! Differences between an image in Glance and what it should be, as [`Change`]s (pure).
//!
//! Only what the tool manages is compared: the name, visibility, `os_hidden`, `protected`,
//! `min_disk`, `min_ram`, the tag list, the catalog's properties, and removal of properties in
//! the definition's managed-key set (but never `image_build_date` of a version without
//! `build_date`: `apply` recorded it from the upstream). Everything else on an image is none
//! of its business.

use std::collections::{BTreeMap, BTreeSet};

use super::Change;
use crate::desired::properties::BUILD_DATE;
use crate::desired::{DesiredDefinition, DesiredImage};
use crate::glance::ObservedImage;

/// Every change that turns `observed` into `desired`.
pub fn changes(
    desired: &DesiredImage,
    observed: &ObservedImage,
    managed_keys: &BTreeSet<String>,
) -> Vec<Change> {
    let mut out = Vec::new();
    if observed.name != desired.name {
        out.push(Change::Name {
            from: observed.name.clone(),
            to: desired.name.clone(),
        });
    }
    attributes(
        observed,
        Some(desired.visibility.as_str()),
        Some(desired.hidden),
        &mut out,
    );
    if let Some(protected) = desired.protected.filter(|p| *p != observed.protected) {
        out.push(Change::Protected {
            from: observed.protected,
            to: protected,
        });
    }
    if observed.min_disk != desired.min_disk {
        out.push(Change::MinDisk {
            from: observed.min_disk,
            to: desired.min_disk,
        });
    }
    if observed.min_ram != desired.min_ram {
        out.push(Change::MinRam {
            from: observed.min_ram,
            to: desired.min_ram,
        });
    }
    let have: BTreeSet<&str> = observed.tags.iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = desired.tags.iter().map(String::as_str).collect();
    if have != want {
        out.push(Change::Tags {
            from: have.iter().map(|t| (*t).to_owned()).collect(),
            to: want.iter().map(|t| (*t).to_owned()).collect(),
        });
    }
    properties(observed, &desired.properties, &mut out);
    for key in managed_keys {
        // Without a catalog `build_date`, the date `apply` recorded from the upstream stays.
        if !desired.properties.contains_key(key)
            && key != BUILD_DATE
            && let Some(old) = observed.properties.get(key)
        {
            out.push(Change::Property {
                key: key.clone(),
                from: Some(old.clone()),
                to: None,
            });
        }
    }
    out
}

/// The changes that turn an image of a version the catalog no longer lists into a superseded
/// image: its superseded name and the definition's rotation. Nothing else is known about what
/// such an image should look like, so nothing else is touched.
pub fn superseded(
    definition: &DesiredDefinition,
    observed: &ObservedImage,
    version: &str,
) -> Vec<Change> {
    let mut out = Vec::new();
    let build_date = observed.property("image_build_date");
    let name = definition.scheme.name(version, build_date, false);
    if observed.name != name {
        out.push(Change::Name {
            from: observed.name.clone(),
            to: name,
        });
    }
    let rotation = &definition.rotation;
    attributes(
        observed,
        rotation.visibility.map(|v| v.as_str()),
        rotation.hidden,
        &mut out,
    );
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    if let Some(purpose) = observed.property("os_purpose") {
        wanted.insert("os_purpose".into(), purpose.to_owned());
    }
    rotation.apply(&mut wanted);
    properties(observed, &wanted, &mut out);
    out
}

/// Adds `Hidden: → true`, merging with a hidden change already in `changes`.
pub fn hide(observed: &ObservedImage, changes: &mut Vec<Change>) {
    changes.retain(|c| !matches!(c, Change::Hidden { .. }));
    if !observed.os_hidden {
        changes.push(Change::Hidden {
            from: false,
            to: true,
        });
    }
}

fn attributes(
    observed: &ObservedImage,
    visibility: Option<&str>,
    hidden: Option<bool>,
    out: &mut Vec<Change>,
) {
    if let Some(visibility) = visibility.filter(|v| *v != observed.visibility.as_str()) {
        out.push(Change::Visibility {
            from: observed.visibility.as_str().to_owned(),
            to: visibility.to_owned(),
        });
    }
    if let Some(hidden) = hidden.filter(|h| *h != observed.os_hidden) {
        out.push(Change::Hidden {
            from: observed.os_hidden,
            to: hidden,
        });
    }
}

fn properties(observed: &ObservedImage, wanted: &BTreeMap<String, String>, out: &mut Vec<Change>) {
    for (key, value) in wanted {
        let old = observed.property(key);
        if old != Some(value.as_str()) {
            out.push(Change::Property {
                key: key.clone(),
                from: old.map(str::to_owned),
                to: Some(value.clone()),
            });
        }
    }
}
