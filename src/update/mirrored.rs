//! `mirror_url`s in the catalog: for the builds `update` adds, so a mirrored definition stays
//! mirrored, and for the copies `mirror --write` records ([`record_mirror_urls`]).
//!
//! A definition whose versions use `mirror_url` gets one for each new build too, named with the
//! mirror's layout (the same [`Layout`] `image-manager mirror` names its objects with) below the
//! base its newest `mirror_url` shows (that URL minus its own key), or `--mirror-base`. With
//! `--mirror` the build is first copied into the bucket through the verifying pipeline; a
//! build that cannot be copied (or whose `mirror_url` cannot be derived) fails its definition
//! and is not added, so `update` never writes a `mirror_url` that should exist and does not.
//! Without `--mirror` the entry names where `image-manager mirror` will put the copy, and
//! `apply` falls back to `url` until then; the outcome says which.

use std::sync::Arc;

use super::rewrite::{self, NewVersion};
use super::{Error, Update, edit_files};
use crate::catalog::checksums::Digest;
use crate::catalog::version::compare;
use crate::catalog::{Catalog, Compression, Definition, Origin};
use crate::mirror::{Build, Layout, Mirror, layout};
use crate::redact;

/// `mirror_url`s for new builds: a definition any of whose versions has one gets one for each
/// build `update` adds, named with `layout` below `base`.
#[derive(Clone, Default)]
pub struct MirrorOptions {
    /// The layout the catalog's mirror uses (`--mirror-layout`; default osism).
    pub layout: Layout,
    /// `--mirror-base`; else the base of the definition's newest `mirror_url` (that URL minus
    /// its key), else the bucket's URL when `copy` is set.
    pub base: Option<String>,
    /// `--mirror`: copy each new build into the bucket (verified) before it is written; a build
    /// that cannot be copied is not added.
    pub copy: Option<Arc<Mirror>>,
}

impl std::fmt::Debug for MirrorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorOptions")
            .field("layout", &self.layout.to_string())
            .field("base", &self.base)
            .field("copy", &self.copy.is_some())
            .finish()
    }
}

/// A version and the `mirror_url` to record for it (`mirror --write`).
#[derive(Debug, Clone)]
pub struct MirrorUrl {
    pub origin: Origin,
    pub version: String,
    pub url: String,
}

/// The catalog files with `mirror_url` set for `urls` (where it differs), edited in place like
/// `update`'s own edits, and validated as a whole: [`Update::write`] writes them.
pub fn record_mirror_urls(catalog: &Catalog, urls: &[MirrorUrl]) -> Result<Update, Error> {
    let (files, invalid) = edit_files(catalog, |index, text, path| {
        for entry in urls.iter().filter(|u| u.origin.file == index) {
            *text = rewrite::set_mirror_url(text, entry.origin.index, &entry.version, &entry.url)
                .map_err(|source| Error::Edit {
                path: path.to_owned(),
                source,
            })?;
        }
        Ok(())
    })?;
    Ok(Update {
        outcomes: Vec::new(),
        files,
        invalid,
    })
}

/// `builds` with their `mirror_url` (and copied, with `--mirror`), or why not.
pub(super) async fn attach(
    definition: &Definition,
    mut builds: Vec<NewVersion>,
    options: &MirrorOptions,
) -> Result<Vec<NewVersion>, String> {
    let newest = definition
        .versions
        .iter()
        .filter(|v| v.mirror_url.is_some())
        .max_by(|a, b| compare(&a.version, &b.version));
    let Some(newest) = newest else {
        return Ok(builds);
    };
    let derived = || {
        let url = newest.mirror_url.as_deref().unwrap_or_default();
        layout::base_of(&options.layout, definition, newest, url)
    };
    let base = options
        .base
        .clone()
        .or_else(derived)
        .or_else(|| options.copy.as_ref().map(|m| m.base().to_owned()))
        .ok_or_else(|| {
            format!(
                "cannot name the new builds' mirror_url: `{}` does not end in the key the layout \
                 `{}` gives its version; pass --mirror-base (or --mirror-layout)",
                redact::url(newest.mirror_url.as_deref().unwrap_or_default()),
                options.layout
            )
        })?;
    for build in &mut builds {
        let key = options
            .layout
            .key(definition, &build.version)
            .map_err(|e| format!("no mirror_url for {}: {e}", build.version))?;
        if let Some(mirror) = &options.copy {
            let digest = Digest::parse(&build.checksum)
                .map_err(|e| format!("cannot mirror {}: its checksum: {e}", build.version))?;
            let compression = definition
                .decompress
                .or_else(|| Compression::from_suffix(&build.url))
                .filter(|c| *c != Compression::None);
            let copied = Build {
                version: &build.version,
                url: &build.url,
                compression,
                digest,
            };
            mirror.copy_build(definition, copied).await.map_err(|e| {
                format!(
                    "mirroring {} failed: {}",
                    build.version,
                    mirror.describe(&e)
                )
            })?;
            build.mirrored = true;
        }
        build.mirror_url = Some(layout::url(&base, &key));
    }
    Ok(builds)
}
