//! scs-0104 standard images: `scs-0104-source-X` and `scs-0104-image-X` for every entry of
//! [`scs::STANDARD_IMAGES`].
//!
//! As in the official code, images are found through the name look-up (the last image of a
//! name wins, so a duplicate name hides all but one image), by exact name or by the name
//! scheme with Python `re.match` semantics (anchored at the start only, see
//! [`scs::NameMatch`]). A matched image without `image_source` aborts the source testcase
//! (the official code indexes `properties['image_source']`).

use super::spec::{MODULES, Role};
use super::{Abort, Image, Images, Level, Log, Outcome};
use crate::scs::{self, NameMatch, StandardImage};

/// The standard image whose `X` is `id`.
pub(crate) fn standard(id: &str) -> Option<&'static StandardImage> {
    scs::STANDARD_IMAGES.iter().find(|s| s.id == id)
}

/// How the standard image is named in messages: its exact name, or its name scheme.
fn display(standard: &StandardImage) -> &str {
    match &standard.name {
        NameMatch::Exact(name) => name,
        NameMatch::Prefix(re) => re.as_str(),
    }
}

/// Every listed image `standard` applies to, in name order of the look-up.
fn matches<'a>(images: &'a Images, standard: &StandardImage) -> Vec<&'a Image> {
    images
        .by_name()
        .into_iter()
        .filter(|(name, _)| standard.name.matches(name))
        .map(|(_, image)| image)
        .collect()
}

/// Every image the standard applies to has `image_source` starting with one of its prefixes.
pub(crate) fn source(images: &Images, standard: &StandardImage, log: &mut Log) -> Outcome {
    let mut errors = 0;
    for image in matches(images, standard) {
        let Some(source) = image.property("image_source") else {
            return Err(Abort::at(
                image,
                format!(
                    "image {} has no image_source (the official check raises KeyError)",
                    image.name
                ),
            ));
        };
        if !standard
            .source_prefixes
            .iter()
            .any(|p| source.starts_with(p))
        {
            log.about(
                Level::Error,
                &[image],
                format!(
                    "Image '{}' source mismatch: {source} matches none of these prefixes: {}",
                    image.name,
                    standard.source_prefixes.join(", ")
                ),
            );
            if standard.id.starts_with("ubuntu") {
                log.hint("use the codename path (e.g. .../noble/), not the release number");
            }
            errors += 1;
        }
    }
    Ok(errors == 0)
}

/// At least one image the standard applies to exists (visible, public or community). The
/// official message names the name or scheme; the hint says what would match, which names
/// nearly did, and — when the images are only part of a cloud's — how `--module` leaves the
/// testcase out.
pub(crate) fn image(images: &Images, standard: &StandardImage, log: &mut Log) -> Outcome {
    if !matches(images, standard).is_empty() {
        return Ok(true);
    }
    log.error(format!("Missing image '{}'", display(standard)));
    let id = format!("scs-0104-image-{}", standard.id);
    let mut hint = match &standard.name {
        NameMatch::Exact(name) => {
            format!("publish a visible public or community image named exactly `{name}`")
        }
        NameMatch::Prefix(re) => format!(
            "publish a visible public or community image whose name starts with a match of \
             `{}` (Python re.match)",
            re.as_str()
        ),
    };
    let near = near_misses(images, standard);
    if !near.is_empty() {
        hint.push_str(&format!("; not matching: `{}`", near.join("`, `")));
    }
    let needed_by: Vec<&str> = MODULES
        .iter()
        .filter(|m| m.with(Role::Main).contains(&id.as_str()))
        .map(|m| m.id)
        .collect();
    if images.partial && !needed_by.is_empty() {
        let others: Vec<String> = MODULES
            .iter()
            .filter(|m| {
                !m.with(Role::Main)
                    .iter()
                    .any(|t| t.starts_with("scs-0104-image-"))
            })
            .map(|m| format!("--module {}", m.id))
            .collect();
        hint.push_str(&format!(
            "; required by {}; this run sees only part of the cloud (a catalog, or --tag): if \
             the rest publishes it, check this part with {}",
            needed_by.join(", "),
            others.join(" ")
        ));
    }
    log.hint(hint);
    Ok(false)
}

/// Names that look like the standard image's but do not match: another separator or case,
/// or a suffix after an exact name (`Ubuntu 24.04 (20260108)`).
fn near_misses<'a>(images: &'a Images, standard: &StandardImage) -> Vec<&'a str> {
    let fold = |text: &str| text.to_lowercase().replace(['-', '_'], " ");
    let stem = match &standard.name {
        NameMatch::Exact(name) => fold(name),
        // The literal start of the scheme: `ubuntu-capi-image v` of `ubuntu-capi-image v[0-9]…`.
        NameMatch::Prefix(re) => fold(
            re.as_str()
                .split(|c| "[\\(.*+?{|^$".contains(c))
                .next()
                .unwrap_or(""),
        ),
    };
    let mut names: Vec<&str> = images
        .images
        .iter()
        .map(|i| i.name.as_str())
        .filter(|name| fold(name).starts_with(&stem) && !standard.name.matches(name))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}
