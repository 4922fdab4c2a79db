//! scs-0104 standard images: `scs-0104-source-X` and `scs-0104-image-X` for every entry of
//! [`scs::STANDARD_IMAGES`].
//!
//! As in the official code, images are found through the name look-up (the last image of a
//! name wins, so a duplicate name hides all but one image), by exact name or by the name
//! scheme with Python `re.match` semantics (anchored at the start only, see
//! [`scs::NameMatch`]). A matched image without `image_source` aborts the source testcase
//! (the official code indexes `properties['image_source']`).

use super::{Abort, Images, Log, Outcome};
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
fn matches<'a>(images: &'a Images, standard: &StandardImage) -> Vec<&'a super::Image> {
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
            return Err(Abort(format!(
                "image {} has no image_source (the official check raises KeyError)",
                image.name
            )));
        };
        if !standard
            .source_prefixes
            .iter()
            .any(|p| source.starts_with(p))
        {
            log.error(format!(
                "Image '{}' source mismatch: {source} matches none of these prefixes: {}",
                image.name,
                standard.source_prefixes.join(", ")
            ));
            errors += 1;
        }
    }
    Ok(errors == 0)
}

/// At least one image the standard applies to exists (visible, public or community).
pub(crate) fn image(images: &Images, standard: &StandardImage, log: &mut Log) -> Outcome {
    if matches(images, standard).is_empty() {
        log.error(format!("Missing image '{}'", display(standard)));
        return Ok(false);
    }
    Ok(true)
}
