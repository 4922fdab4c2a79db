//! The desired state: what Glance should hold according to the catalog. Pure.
//!
//! This stage turns definitions into concrete images — names after the naming rules, every
//! property, tag, visibility and status, the bytes' source and how to verify them, and the
//! retention class of each version — so the planner only compares two states and never has
//! to know the catalog format. `today` is an input, so retention is testable without a clock.

pub mod properties;
pub mod retention;
pub mod sharing;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use regex::Regex;
use serde::Serialize;

use crate::catalog::checksums::Digest;
use crate::catalog::{
    Catalog, Compression, Definition, DiskFormat, Method, Status, Version, Visibility, naming,
};
pub use retention::{Policy, Retention};
pub use sharing::{DesiredMember, ProjectRef};

/// Inputs that are not in the catalog.
#[derive(Clone, Debug)]
pub struct Options {
    /// The ownership tag every managed image carries.
    pub managed_tag: String,
    /// Only definitions whose name matches (`--filter`).
    pub filter: Option<Regex>,
    /// The date retention rules are evaluated on (UTC).
    pub today: NaiveDate,
}

/// Everything the catalog asks of Glance.
#[derive(Clone, Debug, Serialize)]
pub struct DesiredState {
    pub definitions: Vec<DesiredDefinition>,
    /// The date retention was evaluated on; the planner classifies unlisted versions with it.
    pub today: NaiveDate,
}

/// One enabled definition and the images it wants.
#[derive(Clone, Debug, Serialize)]
pub struct DesiredDefinition {
    /// The definition name (the `image_name` identity property).
    pub name: String,
    /// How versions are named, also for versions the catalog no longer lists.
    pub scheme: naming::Scheme,
    /// How superseded images of this definition are kept, including versions no longer listed.
    pub policy: Policy,
    /// What a superseded image gets.
    pub rotation: properties::Rotation,
    /// Properties the planner may remove when the catalog stops setting them.
    pub managed_keys: BTreeSet<String>,
    /// Oldest to newest.
    pub images: Vec<DesiredImage>,
}

/// One image in Glance, as it should be.
#[derive(Clone, Debug, Serialize)]
pub struct DesiredImage {
    pub identity: Identity,
    pub name: String,
    pub disk_format: DiskFormat,
    pub visibility: Visibility,
    pub hidden: bool,
    /// `None`: the catalog does not say, so an image protected by hand stays protected.
    pub protected: Option<bool>,
    pub status: Status,
    /// GiB.
    pub min_disk: u64,
    /// MiB.
    pub min_ram: u64,
    /// Every property the tool manages on this image.
    pub properties: BTreeMap<String, String>,
    pub tags: BTreeSet<String>,
    /// A fixed image UUID from the catalog.
    pub id: Option<String>,
    pub source: Source,
    pub retention: Retention,
    /// The image's members when the catalog manages them (a `shared` list on a shared
    /// image); `None`: Glance's members are left alone (see `sharing`).
    pub members: Option<Vec<DesiredMember>>,
}

/// Who an image is: definition name + version, stored as `image_name` + `internal_version`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Identity {
    pub definition: String,
    pub version: String,
}

/// Where an image's bytes come from and how they are verified.
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    /// What the bytes are downloaded from (`mirror_url`, else `url`).
    pub download_url: String,
    pub checksum: Checksum,
    /// Compression of `download_url`; `None`: not compressed.
    pub compression: Option<Compression>,
    pub method: Method,
    /// When `download_url` is a mirror: the upstream `url` to read instead if the mirror
    /// cannot be opened (missing, refused, unreachable). Same checksum, so a fallback trusts
    /// nothing the catalog did not already name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

/// The upstream a mirrored source falls back to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fallback {
    pub url: String,
    /// Compression of `url` (`decompress:`, else its suffix).
    pub compression: Option<Compression>,
}

/// The expected digest, or where to read it.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Checksum {
    Inline {
        digest: Digest,
    },
    /// A file holding one digest (`checksum_url`).
    File {
        url: String,
    },
    /// A sums file; the entry named like the download's last path segment (`checksums_url`).
    Sums {
        url: String,
        file_name: String,
    },
    /// The catalog gives no way to verify; apply refuses unless told otherwise.
    Missing,
}

/// Resolves the enabled (and filtered) definitions of a valid catalog.
pub fn resolve(catalog: &Catalog, options: &Options) -> DesiredState {
    let definitions = catalog
        .enabled()
        .filter(|d| {
            options
                .filter
                .as_ref()
                .is_none_or(|re| re.is_match(&d.name))
        })
        .map(|d| definition(d, options))
        .collect();
    DesiredState {
        definitions,
        today: options.today,
    }
}

fn definition(definition: &Definition, options: &Options) -> DesiredDefinition {
    let versions = naming::ordered(definition);
    let newest = versions.last().copied();
    let policy = Policy::parse(
        newest
            .map(|v| definition.version_meta(v))
            .as_ref()
            .and_then(|m| m.get("uuid_validity"))
            .map(String::as_str),
    );
    let superseded = versions.len().saturating_sub(1);
    let images = versions
        .iter()
        .enumerate()
        .map(|(index, version)| {
            let retention = if !definition.multi || index == superseded {
                Retention::Current
            } else {
                // Rank 0 is the newest superseded version.
                policy.classify(superseded - 1 - index, options.today)
            };
            image(definition, version, retention, options)
        })
        .collect();
    DesiredDefinition {
        name: definition.name.clone(),
        scheme: naming::Scheme::of(definition),
        policy,
        rotation: properties::Rotation::of(definition),
        managed_keys: properties::managed_keys(definition),
        images,
    }
}

fn image(
    definition: &Definition,
    version: &Version,
    retention: Retention,
    options: &Options,
) -> DesiredImage {
    let current = retention == Retention::Current;
    let mut props = properties::of(definition, version);
    let mut visibility = definition.version_visibility(version);
    let mut hidden = version.hidden.or(definition.hidden).unwrap_or(false);
    if !current {
        let rotation = properties::Rotation::of(definition);
        rotation.apply(&mut props);
        visibility = rotation.visibility.unwrap_or(visibility);
        hidden = rotation.hidden.unwrap_or(hidden);
    }
    let mut tags: BTreeSet<String> = definition.tags.iter().cloned().collect();
    tags.insert(options.managed_tag.clone());
    if let Some(distro) = props.get("os_distro") {
        tags.insert(format!("os:{distro}"));
    }
    DesiredImage {
        identity: Identity {
            definition: definition.name.clone(),
            version: version.version.clone(),
        },
        name: naming::glance_name(definition, version, current),
        disk_format: definition.format,
        visibility,
        hidden,
        protected: version.protected.or(definition.protected),
        status: definition.status,
        min_disk: definition.min_disk,
        min_ram: definition.min_ram,
        properties: props,
        tags,
        id: version.id.clone(),
        source: source(definition, version),
        retention,
        members: sharing::members(definition, version, visibility),
    }
}

fn source(definition: &Definition, version: &Version) -> Source {
    let method = version.method.or(definition.method).unwrap_or(Method::Auto);
    let upstream = compression_of_url(definition, version);
    let (download_url, compression, fallback) = match &version.mirror_url {
        // A mirror holds what `mirror` made of the upstream file (decompressed), or what the
        // operator put there: its own suffix says whether it is compressed.
        Some(mirror) => (
            mirror.clone(),
            Compression::from_suffix(mirror),
            Some(Fallback {
                url: version.url.clone(),
                compression: upstream,
            }),
        ),
        None => (version.url.clone(), upstream, None),
    };
    Source {
        download_url,
        checksum: checksum_of(version),
        compression,
        method,
        fallback,
    }
}

/// How a version's bytes are verified: the inline digest, else its checksum file, else its
/// sums file (looked up by the file name of `url`).
pub fn checksum_of(version: &Version) -> Checksum {
    if let Some(digest) = version
        .checksum
        .as_deref()
        .and_then(|c| Digest::parse(c).ok())
    {
        Checksum::Inline { digest }
    } else if let Some(url) = &version.checksum_url {
        Checksum::File { url: url.clone() }
    } else if let Some(url) = &version.checksums_url {
        Checksum::Sums {
            url: url.clone(),
            file_name: last_segment(&version.url).to_owned(),
        }
    } else {
        Checksum::Missing
    }
}

/// The compression of the upstream file `url`: `decompress:` (version, then definition), else
/// its suffix; `None` when it is not compressed.
pub fn compression_of_url(definition: &Definition, version: &Version) -> Option<Compression> {
    version
        .decompress
        .or(definition.decompress)
        .or_else(|| Compression::from_suffix(&version.url))
        .filter(|c| *c != Compression::None)
}

/// The file name of a URL: its last path segment, without query or fragment.
fn last_segment(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
impl Options {
    /// Options for tests: the given tag, no filter, retention evaluated on 2026-11-22.
    pub(crate) fn test(managed_tag: &str) -> Options {
        Options {
            managed_tag: managed_tag.to_owned(),
            filter: None,
            today: NaiveDate::from_ymd_opt(2026, 11, 22).expect("a valid date"),
        }
    }
}

/// Resolves catalog text that must be free of errors (for tests of this and later stages).
#[cfg(test)]
pub(crate) fn from_text(text: &str, options: &Options) -> DesiredState {
    let loaded = crate::catalog::from_text("test.yaml", text);
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    resolve(&loaded.catalog, options)
}

#[cfg(test)]
mod tests;
