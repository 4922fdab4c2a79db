//! `scs-0102-image-recency`: every image is as recent as its `replace_frequency` promises,
//! or is an outdated image that was rotated out properly and has a fresh replacement.
//!
//! The rules are the official `is_outdated` / `_find_replacement_image`, including the parts
//! the standard's prose does not say:
//! - the build date is `image_build_date`, else the registration time;
//! - `never` / `critical_bug` (and, with a warning, unknown frequencies) are never outdated;
//!   a period may be exceeded by 10 %;
//! - only then is `provided_until` read — and read with `[]`: if it is missing the whole
//!   testcase aborts. `none` / `notice` or a past date: not outdated; anything else that is
//!   not a date: an error for that image;
//! - an outdated image is "marked" when hidden, or when the LAST space-separated token of its
//!   name is `old`, `prev` or a `YYYY-MM-DD` / `YYYYMMDD` date (`Ubuntu 24.04 (20260108)` is
//!   not marked: the token is `(20260108)`); an unmarked one gets a warning;
//! - every outdated image needs a replacement named `name.rsplit(" ", 1)[0]` (right-trimmed)
//!   that is not itself outdated, found by name (the last image of a name wins).

use super::dates::{self, DATE_FORMATS, MARKER_DATE_FORMATS};
use super::scs0102::registered;
use super::{Abort, Image, Images, Level, Log, Outcome};
use crate::scs;

/// The official `is_outdated` result codes 0–3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Staleness {
    /// 0: recent enough, or no promise to keep.
    Fresh,
    /// 1: outdated, but hidden or renamed with a marker.
    Marked,
    /// 2: outdated and still looks current.
    Unmarked,
    /// 3: outdated and `provided_until` is neither a keyword nor a date.
    BadProvidedUntil,
}

/// Whether the last space-separated token of `name` marks an outdated image.
pub(crate) fn has_outdated_marker(name: &str) -> bool {
    name.rsplit_once(' ').is_some_and(|(_, marker)| {
        matches!(marker, "old" | "prev") || dates::parse(marker, MARKER_DATE_FORMATS).is_some()
    })
}

/// The official `is_outdated(img, now)`; `Err` where it raises (no `provided_until`).
pub(crate) fn staleness(image: &Image, now: i64, log: &mut Log) -> Result<Staleness, Abort> {
    let built = dates::parse(
        image.property("image_build_date").unwrap_or(""),
        DATE_FORMATS,
    )
    .unwrap_or_else(|| registered(image));
    let frequency = image.property("replace_frequency").unwrap_or("never");
    let Some(period) = scs::replace_period_secs(frequency) else {
        log.about(
            Level::Warning,
            &[image],
            format!("invalid replace frequency {frequency}"),
        );
        return Ok(Staleness::Fresh);
    };
    // Float arithmetic, as in Python: `now <= bdate + 1.1 * secs`.
    if period == 0 || now as f64 <= built as f64 + 1.1 * period as f64 {
        return Ok(Staleness::Fresh);
    }
    let Some(until) = image.property("provided_until") else {
        return Err(Abort::at(
            image,
            format!(
                "image {} is outdated and has no provided_until (the official check raises \
                 KeyError)",
                image.name
            ),
        ));
    };
    if matches!(until, "none" | "notice") {
        return Ok(Staleness::Fresh);
    }
    let Some(until) = dates::parse(until, DATE_FORMATS) else {
        return Ok(Staleness::BadProvidedUntil);
    };
    if now > until {
        return Ok(Staleness::Fresh);
    }
    if image.os_hidden || has_outdated_marker(&image.name) {
        Ok(Staleness::Marked)
    } else {
        Ok(Staleness::Unmarked)
    }
}

/// The official `_find_replacement_image`: the image named like `name` without its last
/// token, if it exists and is not outdated itself.
fn replacement<'a>(
    images: &'a Images,
    name: &str,
    now: i64,
    log: &mut Log,
) -> Result<Option<&'a Image>, Abort> {
    let short = name
        .rsplit_once(' ')
        .map_or(name, |(head, _)| head)
        .trim_end();
    if short == name {
        return Ok(None);
    }
    let Some(found) = images.by_name().get(short).copied() else {
        return Ok(None);
    };
    Ok((staleness(found, now, log)? == Staleness::Fresh).then_some(found))
}

pub(crate) fn image_recency(images: &Images, now: i64, log: &mut Log) -> Outcome {
    let by_name = images.by_name();
    if by_name.len() != images.images.len() {
        let mut duplicates: Vec<&Image> = Vec::new();
        for image in &images.images {
            let count = images
                .images
                .iter()
                .filter(|i| i.name == image.name)
                .count();
            if count > 1 && !duplicates.iter().any(|d| d.name == image.name) {
                duplicates.push(image);
            }
        }
        let names: Vec<&str> = duplicates.iter().map(|i| i.name.as_str()).collect();
        let message = format!("duplicate names detected: {}", names.join(", "));
        log.about(Level::Warning, &duplicates, message);
    }
    let mut errors = 0;
    for image in &images.images {
        let name = &image.name;
        match staleness(image, now, log)? {
            Staleness::Fresh => continue,
            Staleness::BadProvidedUntil => {
                log.about(
                    Level::Error,
                    &[image],
                    format!("Image \"{name}\" does not provide a valid provided until date"),
                );
                errors += 1;
                continue;
            }
            Staleness::Unmarked => log.about(
                Level::Warning,
                &[image],
                format!(
                    "Image \"{name}\" seems outdated (acc. to its repl freq) but is not hidden \
                     or otherwise marked"
                ),
            ),
            Staleness::Marked => {}
        }
        match replacement(images, name, now, log)? {
            None => {
                log.about(
                    Level::Error,
                    &[image],
                    format!("Image \"{name}\" outdated without replacement"),
                );
                errors += 1;
            }
            Some(found) => log.info(format!(
                "Image \"{}\" is a valid replacement for outdated \"{name}\"",
                found.name
            )),
        }
    }
    Ok(errors == 0)
}
