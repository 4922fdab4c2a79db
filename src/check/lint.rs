//! The SCS lint of `validate`: `check --offline` over a catalog, its findings as warnings at
//! the definitions behind the offending images.
//!
//! There is one implementation of each SCS rule, the testcase in this module: the lint runs
//! [`run_everything`] on [`Images::from_catalog`], exactly what `check --offline` runs, so
//! `validate` cannot call a catalog clean that `check --offline` fails (the osism catalog's
//! two `generic` CentOS 9 images, say). Only what the official suite would see is linted:
//! visible public or community images; a private definition is nobody's SCS business.
//!
//! Every ERROR or WARNING line that names images becomes one warning per catalog position:
//! the value the testcase reads (`meta/hypervisor_type`, a version's `url`, `min_disk`, …)
//! where the catalog sets it, else the definition's name. A failing main testcase that
//! names no image (a missing standard image) is reported at the top of the first file.
//! These are warnings, not errors: a private cloud may not care about SCS; `validate
//! --strict` makes them fatal.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Images, Level, Module, Verdict, run_everything, spec};
use crate::catalog::{self, Catalog, Definition, Location, naming};
use crate::desired::properties;

/// The SCS findings of `check --offline` on `catalog` at `now`, at catalog positions.
pub fn lint(catalog: &Catalog, now: DateTime<Utc>) -> Vec<catalog::Diagnostic> {
    let images = Images::from_catalog(catalog, now);
    let report = run_everything(&images, now);
    let deciding: Vec<&str> = Module::defaults()
        .into_iter()
        .flat_map(Module::testcases)
        .filter(|(_, main)| *main)
        .map(|(id, _)| id)
        .collect();
    // One warning per (position, testcase, message), however many versions share the value.
    let mut found: BTreeMap<(Location, &'static str, String), Option<String>> = BTreeMap::new();
    for testcase in &report.testcases {
        let code = spec::testcase(&testcase.id).expect("reported testcases are the spec's");
        let failing = matches!(testcase.verdict, Verdict::Fail | Verdict::Abort);
        for line in &testcase.diagnostics {
            if line.level == Level::Info {
                continue;
            }
            let message = match (line.level, testcase.verdict) {
                (Level::Error, Verdict::Abort) => format!("{code} aborts: {}", line.message),
                (Level::Error, _) => format!("{code} fails: {}", line.message),
                _ => format!("{code}: {}", line.message),
            };
            let mut at: Vec<Location> = line
                .images
                .iter()
                .flat_map(|name| positions(catalog, &images, name, code))
                .collect();
            if at.is_empty() && failing && deciding.contains(&code) {
                at.extend(catalog.files.first().map(|file| Location {
                    file: file.path.clone(),
                    line: 1,
                    column: 1,
                }));
            }
            for location in at {
                found.insert((location, code, message.clone()), line.hint.clone());
            }
        }
    }
    found
        .into_iter()
        .map(|((location, code, message), hint)| {
            let warning = catalog::Diagnostic::warning(location, code, message);
            match hint {
                Some(hint) => warning.with_hint(hint),
                None => warning,
            }
        })
        .collect()
}

/// Where the catalog sets what `testcase` read on every image named `name`.
fn positions(catalog: &Catalog, images: &Images, name: &str, testcase: &str) -> Vec<Location> {
    images
        .images
        .iter()
        .filter(|image| image.name == name)
        .filter_map(|image| {
            let definition = catalog
                .enabled()
                .find(|d| image.property(properties::IMAGE_NAME) == Some(d.name.as_str()))?;
            let version = image.property(properties::INTERNAL_VERSION)?;
            let index = definition
                .versions
                .iter()
                .position(|v| v.version == version)?;
            Some(position(catalog, definition, index, testcase))
        })
        .collect()
}

/// Where the catalog sets what `testcase` reads for version `index` of `definition`: the
/// key of a property or number (as other lint warnings point), the value of a URL.
fn position(catalog: &Catalog, definition: &Definition, index: usize, testcase: &str) -> Location {
    let origin = definition.origin;
    let version = &definition.versions[index];
    let in_version = |field: &str| format!("versions/{index}/{field}");
    let field = match testcase {
        "scs-0102-prop-min_disk" => "min_disk".to_owned(),
        "scs-0102-prop-min_ram" => "min_ram".to_owned(),
        "scs-0102-prop-image_original_user" if definition.login.is_some() => "login".to_owned(),
        // The URL itself is what is wrong: at the value.
        "scs-0102-prop-image_source" => return catalog.locate(origin, &in_version("url")),
        id if id.starts_with("scs-0104-source-") => {
            return catalog.locate(origin, &in_version("url"));
        }
        "scs-0102-prop-image_build_date" | "scs-0102-image-recency"
            if version.build_date.is_some() =>
        {
            in_version("build_date")
        }
        "scs-0102-prop-image_build_date" | "scs-0102-image-recency" => in_version("version"),
        "scs-0102-prop-image_description" if version.image_description.is_some() => {
            in_version("image_description")
        }
        "scs-0102-os_purpose-uniqueness" => meta_key(definition, index, "os_purpose"),
        id => match id.strip_prefix("scs-0102-prop-") {
            Some(key) => meta_key(definition, index, key),
            None => in_version("version"),
        },
    };
    if field.is_empty() {
        // Not set anywhere: the definition, at its name.
        return catalog.locate(origin, "name");
    }
    catalog.locate_key(origin, &field)
}

/// Where `key` of version `index`'s properties is written: the version's `meta`, for a
/// superseded version `on_rotate.meta`, else the definition's `meta`; `""` if nowhere.
fn meta_key(definition: &Definition, index: usize, key: &str) -> String {
    let version = &definition.versions[index];
    let current =
        !definition.multi || naming::newest(definition).is_some_and(|n| std::ptr::eq(n, version));
    let rotated = definition
        .on_rotate
        .as_ref()
        .is_some_and(|r| r.meta.contains_key(key));
    if key == "os_version" && version.os_version.is_some() {
        format!("versions/{index}/os_version")
    } else if version.meta.contains_key(key) {
        format!("versions/{index}/meta/{key}")
    } else if !current && rotated {
        format!("on_rotate/meta/{key}")
    } else if definition.meta.contains_key(key) {
        format!("meta/{key}")
    } else {
        String::new()
    }
}
