//! The scs-0102 property testcases, `image_build_date`, and os_purpose uniqueness.
//!
//! One function per official testcase, each failing when ANY checked image offends and
//! naming every offender (the official `_log_error` line: `<cause> for image(s): a, b`).
//! Values are compared as the official code compares them: a property set to `""` is set
//! (and fails every "must be one of" rule), an unset one is `None` (allowed where the
//! official tuples contain `None`). `recency.rs` holds `scs-0102-image-recency`.

use std::collections::BTreeMap;

use super::dates::{self, DATE_FORMATS};
use super::{Abort, Image, Images, Level, Log, Origin, Outcome};
use crate::scs;

const GIB: u64 = 1024 * 1024 * 1024;

/// The signature every testcase function has: images, `now` in Unix seconds, the log.
pub(crate) type TestcaseFn = fn(&Images, i64, &mut Log) -> Outcome;

/// Images whose `key` property is not one of `allowed` (`None` in `allowed` = may be unset).
fn not_in<'a>(images: &'a Images, key: &str, allowed: &[Option<&str>]) -> Vec<&'a Image> {
    images
        .images
        .iter()
        .filter(|i| !allowed.contains(&i.property(key)))
        .collect()
}

fn values(list: &[&'static str], unset_ok: bool) -> Vec<Option<&'static str>> {
    let mut allowed: Vec<Option<&str>> = list.iter().map(|v| Some(*v)).collect();
    if unset_ok {
        allowed.push(None);
    }
    allowed
}

/// Fails the images whose `key` property is missing or empty (Python's `not value`).
fn required(images: &Images, key: &str, log: &mut Log) -> Outcome {
    let offenders: Vec<&Image> = images
        .images
        .iter()
        .filter(|i| i.property(key).is_none_or(str::is_empty))
        .collect();
    log.offenders(Level::Error, &format!("property {key} not set"), &offenders);
    Ok(offenders.is_empty())
}

fn one_of(
    images: &Images,
    key: &str,
    allowed: &[Option<&str>],
    cause: &str,
    log: &mut Log,
) -> Outcome {
    let offenders = not_in(images, key, allowed);
    log.offenders(Level::Error, cause, &offenders);
    Ok(offenders.is_empty())
}

pub(crate) fn architecture(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let allowed = values(scs::ARCHITECTURES, false);
    one_of(
        images,
        "architecture",
        &allowed,
        "property architecture not correct",
        log,
    )
}

/// `os_hash_algo` is set by Glance when data is uploaded; offline it is unknown (SKIP).
pub(crate) fn hash_algo(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    if images.origin == Origin::Catalog {
        log.skip("os_hash_algo is chosen by Glance on upload: not checked offline");
        return Ok(true);
    }
    let offenders: Vec<&Image> = images
        .images
        .iter()
        .filter(|i| {
            !i.os_hash_algo
                .as_deref()
                .is_some_and(|a| scs::HASH_ALGOS.contains(&a))
        })
        .collect();
    log.offenders(Level::Error, "property hash_algo invalid", &offenders);
    Ok(offenders.is_empty())
}

/// `min_disk` non-zero and at least the stored size. The official code compares
/// `min_disk * GiB < size` for every image with a non-zero `min_disk`; an image without
/// data has no size there (`None`), which raises in Python: the testcase aborts. Offline the
/// size is unknown, so only the non-zero rule is checked: FAIL on a zero, else SKIP.
pub(crate) fn min_disk(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let unset: Vec<&Image> = images.images.iter().filter(|i| i.min_disk == 0).collect();
    log.offenders(Level::Error, "property min_disk not set", &unset);
    let sized: Vec<&Image> = images.images.iter().filter(|i| i.min_disk != 0).collect();
    if images.origin == Origin::Catalog {
        log.skip("image sizes are unknown before upload: min_disk vs. size not checked offline");
        return Ok(unset.is_empty());
    }
    if let Some(image) = sized.iter().find(|i| i.size.is_none()) {
        return Err(Abort::at(
            image,
            format!(
                "image {} has no size (no data uploaded): the official check cannot compare \
                 min_disk with it",
                image.name
            ),
        ));
    }
    let small: Vec<&Image> = sized
        .into_iter()
        .filter(|i| u128::from(i.min_disk) * u128::from(GIB) < u128::from(i.size.unwrap_or(0)))
        .collect();
    log.offenders(Level::Error, "property min_disk smaller than size", &small);
    Ok(unset.is_empty() && small.is_empty())
}

pub(crate) fn min_ram(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let unset: Vec<&Image> = images.images.iter().filter(|i| i.min_ram == 0).collect();
    log.offenders(Level::Error, "property min_ram not set", &unset);
    let low: Vec<&Image> = images
        .images
        .iter()
        .filter(|i| i.min_ram != 0 && i.min_ram < 64)
        .collect();
    log.offenders(Level::Warning, "property min_ram < 64 MiB", &low);
    Ok(unset.is_empty())
}

pub(crate) fn os_version(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    required(images, "os_version", log)
}

pub(crate) fn os_distro(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    required(images, "os_distro", log)
}

pub(crate) fn os_purpose(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let allowed = values(scs::OS_PURPOSES, false);
    let cause = "property os_purpose not set or not correct";
    one_of(images, "os_purpose", &allowed, cause, log)
}

pub(crate) fn hw_disk_bus(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let allowed = values(scs::DISK_BUSES, true);
    one_of(
        images,
        "hw_disk_bus",
        &allowed,
        "property hw_disk_bus not correct",
        log,
    )
}

/// OpenStack's own spellings `hyperv` and `vmware` are not in the SCS list: they fail.
pub(crate) fn hypervisor_type(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let allowed = values(scs::HYPERVISOR_TYPES, true);
    let cause = "property hypervisor_type not correct";
    let passed = one_of(images, "hypervisor_type", &allowed, cause, log)?;
    if !passed {
        log.hint(format!(
            "accepted: {}; SCS spells hyper-v with a dash and calls vmware esxi",
            scs::HYPERVISOR_TYPES.join(", ")
        ));
    }
    Ok(passed)
}

pub(crate) fn hw_rng_model(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let allowed = values(scs::RNG_MODELS, true);
    one_of(
        images,
        "hw_rng_model",
        &allowed,
        "property hw_rng_model not correct",
        log,
    )
}

/// The registration time in Unix seconds (0 if absent, as the official code gets from an
/// unparsable `created_at`).
pub(crate) fn registered(image: &Image) -> i64 {
    image.created_at.map_or(0, |t| t.timestamp())
}

/// `image_build_date` parses, is not after the registration and not in the future. The
/// future check uses the build date, or the registration time when the build date is
/// invalid (as the official `(bdate or rdate) > now`). Offline, a version without
/// `build_date` is not an offender: `apply` records the upstream's `Last-Modified` day, which
/// is known only then (a WARNING says so).
pub(crate) fn image_build_date(images: &Images, now: i64, log: &mut Log) -> Outcome {
    let mut errors = 0;
    for image in &images.images {
        if images.origin == Origin::Catalog && image.property("image_build_date").is_none() {
            log.about(
                Level::Warning,
                &[image],
                format!(
                    "Image \"{}\": no build_date in the catalog; apply records the upstream \
                     file's Last-Modified day as image_build_date",
                    image.name
                ),
            );
            continue;
        }
        let rdate = registered(image);
        let text = image.property("image_build_date").unwrap_or("");
        let bdate = dates::parse(text, DATE_FORMATS);
        let name = &image.name;
        match bdate {
            None => log.about(
                Level::Error,
                &[image],
                format!("Image \"{name}\": image_build_date \"{text}\" INVALID"),
            ),
            Some(b) if b > rdate => log.about(
                Level::Error,
                &[image],
                format!(
                    "Image \"{name}\": image_build_date {text} AFTER registration date {}",
                    image
                        .created_at
                        .map_or_else(|| "(none)".to_owned(), |t| t.to_rfc3339())
                ),
            ),
            Some(_) => {}
        }
        if bdate.is_none() || bdate.is_some_and(|b| b > rdate) {
            errors += 1;
        }
        if bdate.unwrap_or(rdate) > now {
            let when = if bdate.is_some() {
                text
            } else {
                "(registration)"
            };
            log.about(
                Level::Error,
                &[image],
                format!("Image \"{name}\" has build time in the future: {when}"),
            );
            errors += 1;
        }
    }
    Ok(errors == 0)
}

pub(crate) fn image_original_user(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    required(images, "image_original_user", log)
}

/// The official `is_url`: the text before the first `://` is http, https, ftp or ftps.
fn is_url(text: &str) -> bool {
    text.split_once("://")
        .is_some_and(|(scheme, _)| matches!(scheme, "http" | "https" | "ftp" | "ftps"))
}

pub(crate) fn image_source(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let offenders: Vec<&Image> = images
        .images
        .iter()
        .filter(|i| i.property("image_source") != Some("private"))
        .filter(|i| !is_url(i.property("image_source").unwrap_or("")))
        .collect();
    let cause = "property image_source INVALID (url or \"private\")";
    log.offenders(Level::Error, cause, &offenders);
    Ok(offenders.is_empty())
}

pub(crate) fn image_description(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    required(images, "image_description", log)
}

pub(crate) fn replace_frequency(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let allowed = values(scs::REPLACE_FREQUENCIES, false);
    let cause = "property replace_frequency not correct";
    one_of(images, "replace_frequency", &allowed, cause, log)
}

pub(crate) fn provided_until(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    required(images, "provided_until", log)
}

/// Missing, `none`, `notice`, `forever`, `last-<digits>` or a date. Digits are ASCII here;
/// Python's `isdecimal` also takes other scripts' decimal digits.
pub(crate) fn uuid_validity(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let mut errors = 0;
    for image in &images.images {
        let Some(value) = image.property("uuid_validity") else {
            continue;
        };
        let last_n = value
            .strip_prefix("last-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let ok = matches!(value, "none" | "notice" | "forever")
            || last_n
            || dates::parse(value, DATE_FORMATS).is_some();
        if !ok {
            log.about(
                Level::Error,
                &[image],
                format!(
                    "Image \"{}\": property uuid_validity INVALID: {value}",
                    image.name
                ),
            );
            errors += 1;
        }
    }
    Ok(errors == 0)
}

/// Missing, empty or decimal digits.
pub(crate) fn hotfix_hours(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    let mut errors = 0;
    for image in &images.images {
        let value = image.property("hotfix_hours").unwrap_or("");
        if value.is_empty() || value.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        log.about(
            Level::Error,
            &[image],
            format!(
                "Image \"{}\": property hotfix_hours INVALID: {value}",
                image.name
            ),
        );
        errors += 1;
    }
    Ok(errors == 0)
}

/// At most one public, visible `os_purpose=generic` image per (architecture, os_distro,
/// os_version), counting only images with a non-empty distro and version.
pub(crate) fn os_purpose_uniqueness(images: &Images, _now: i64, log: &mut Log) -> Outcome {
    // Keyed by first appearance, so the log follows the listing like Python's dict.
    let mut order: Vec<(&str, &str, &str)> = Vec::new();
    let mut buckets: BTreeMap<(&str, &str, &str), Vec<&Image>> = BTreeMap::new();
    for image in &images.images {
        if image.visibility != "public" || image.os_hidden {
            continue;
        }
        let distro = image.property("os_distro").unwrap_or("");
        let version = image.property("os_version").unwrap_or("");
        if distro.is_empty()
            || version.is_empty()
            || image.property("os_purpose") != Some("generic")
        {
            continue;
        }
        let key = (
            image.property("architecture").unwrap_or(""),
            distro,
            version,
        );
        let bucket = buckets.entry(key).or_default();
        if bucket.is_empty() {
            order.push(key);
        }
        bucket.push(image);
    }
    let mut faulty = 0;
    for key in order {
        let bucket = &buckets[&key];
        if bucket.len() > 1 {
            faulty += 1;
            let cause = format!(
                "os_purpose=generic not unique ('{}', '{}', '{}')",
                key.0, key.1, key.2
            );
            log.offenders(Level::Error, &cause, bucket);
        }
    }
    Ok(faulty == 0)
}
