//! SCS lint: warnings about metadata the official scs-0102 / scs-0104 checks would reject.
//!
//! Only enabled definitions are linted (disabled ones never reach a cloud). These are warnings,
//! not errors: a private cloud may not care about SCS; `validate --strict` makes them fatal.
//! The full testcases run in `check`; this catches the common mistakes while editing.

use std::collections::BTreeMap;

use super::diagnostic::Diagnostic;
use super::model::{Definition, Version};
use super::{Catalog, naming};
use crate::scs;

/// Keys scs-0102 requires in the properties of every image (v1 main testcases, plus
/// `os_purpose`, which v2 makes main).
const REQUIRED_META: &[&str] = &[
    "architecture",
    "os_distro",
    "os_version",
    "replace_frequency",
    "provided_until",
    "os_purpose",
];

/// Lints every enabled definition.
pub fn check(catalog: &Catalog) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for definition in catalog.enabled() {
        definition_level(catalog, definition, &mut out);
        missing_properties(catalog, definition, &mut out);
        let at = |field: &str| catalog.locate_key(definition.origin, field);
        values(
            &definition.meta,
            &at,
            &format!("`{}`", definition.name),
            &mut out,
        );
        for (name, version) in naming::all_names(definition) {
            let index = definition
                .versions
                .iter()
                .position(|v| std::ptr::eq(v, version))
                .unwrap_or(0);
            version_level(catalog, definition, index, version, &mut out);
            standard_image_source(catalog, definition, index, &name, version, &mut out);
        }
    }
    out
}

fn definition_level(catalog: &Catalog, definition: &Definition, out: &mut Vec<Diagnostic>) {
    let origin = definition.origin;
    let warn = |field: &str, code, message: String| {
        Diagnostic::warning(catalog.locate_key(origin, field), code, message)
    };
    if definition.login.is_none() {
        out.push(warn(
            "name",
            "scs-login",
            format!(
                "`{}` has no `login`: scs-0102 requires image_original_user",
                definition.name
            ),
        ));
    }
    if definition.min_disk == 0 {
        out.push(warn(
            "min_disk",
            "scs-min-disk",
            format!(
                "`{}`: scs-0102 requires a non-zero min_disk",
                definition.name
            ),
        ));
    }
    if definition.min_ram == 0 {
        out.push(warn(
            "min_ram",
            "scs-min-ram",
            format!(
                "`{}`: scs-0102 requires a non-zero min_ram",
                definition.name
            ),
        ));
    }
}

/// Required properties that are missing: once per definition when no version has them, else
/// once per version that lacks them, so a definition without `meta` gives one line, not dozens.
fn missing_properties(catalog: &Catalog, definition: &Definition, out: &mut Vec<Diagnostic>) {
    let missing: Vec<Vec<&str>> = definition
        .versions
        .iter()
        .map(|version| {
            let meta = definition.version_meta(version);
            REQUIRED_META
                .iter()
                .copied()
                .filter(|key| !meta.contains_key(*key))
                .collect()
        })
        .collect();
    let everywhere: Vec<&str> = REQUIRED_META
        .iter()
        .copied()
        .filter(|key| missing.iter().all(|keys| keys.contains(key)))
        .collect();
    let origin = definition.origin;
    if !everywhere.is_empty() {
        out.push(Diagnostic::warning(
            catalog.locate(origin, "name"),
            "scs-missing-property",
            format!(
                "`{}` lacks properties SCS requires: {}",
                definition.name,
                everywhere.join(", ")
            ),
        ));
    }
    for (index, keys) in missing.iter().enumerate() {
        let only_here: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !everywhere.contains(k))
            .collect();
        if !only_here.is_empty() {
            out.push(Diagnostic::warning(
                catalog.locate(origin, &format!("versions/{index}/version")),
                "scs-missing-property",
                format!(
                    "`{}` version `{}` lacks properties SCS requires: {}",
                    definition.name,
                    definition.versions[index].version,
                    only_here.join(", ")
                ),
            ));
        }
    }
}

/// Values the SCS checks reject, in one `meta` map (the definition's or a version's), so a
/// value written once is reported once.
fn values(
    meta: &BTreeMap<String, String>,
    at: &dyn Fn(&str) -> crate::catalog::Location,
    label: &str,
    out: &mut Vec<Diagnostic>,
) {
    let allowed: [(&str, &[&str], Option<&str>); 3] = [
        ("architecture", scs::ARCHITECTURES, None),
        (
            "hypervisor_type",
            scs::HYPERVISOR_TYPES,
            Some("SCS spells hyper-v with a dash and calls vmware esxi"),
        ),
        ("hw_disk_bus", scs::DISK_BUSES, None),
    ];
    for (key, accepted, hint) in allowed {
        if let Some(value) = meta.get(key).filter(|v| !accepted.contains(&v.as_str())) {
            let mut d = Diagnostic::warning(
                at(&format!("meta/{key}")),
                "scs-value",
                format!(
                    "{label}: `{key}: {value}` fails the SCS check (accepted: {})",
                    accepted.join(", ")
                ),
            );
            if let Some(hint) = hint {
                d = d.with_hint(hint);
            }
            out.push(d);
        }
    }
}

/// Per-version facts: build date and image source.
fn version_level(
    catalog: &Catalog,
    definition: &Definition,
    index: usize,
    version: &Version,
    out: &mut Vec<Diagnostic>,
) {
    let origin = definition.origin;
    let label = format!("`{}` version `{}`", definition.name, version.version);
    let at = |field: &str| catalog.locate_key(origin, &format!("versions/{index}/{field}"));
    values(&version.meta, &at, &label, out);
    if version.build_date.is_none() && !version.is_latest() {
        out.push(
            Diagnostic::warning(
                catalog.locate(origin, &format!("versions/{index}/version")),
                "scs-build-date",
                format!("{label} has no `build_date`: scs-0102 requires image_build_date"),
            )
            .with_hint(
                "apply records the upstream file's Last-Modified day instead; set build_date \
             to state the real one",
            ),
        );
    }
    if version.url.starts_with("file:") {
        out.push(Diagnostic::warning(
            catalog.locate(origin, &format!("versions/{index}/url")),
            "scs-image-source",
            format!("{label}: a file: URL as image_source fails scs-0102 (http, https, ftp or `private`)"),
        ));
    }
}

/// scs-0104: standard images must name their upstream by its canonical URL prefix.
fn standard_image_source(
    catalog: &Catalog,
    definition: &Definition,
    index: usize,
    name: &str,
    version: &Version,
    out: &mut Vec<Diagnostic>,
) {
    for rule in scs::STANDARD_IMAGES {
        if !rule.name.matches(name) {
            continue;
        }
        if !rule
            .source_prefixes
            .iter()
            .any(|p| version.url.starts_with(p))
        {
            out.push(
                Diagnostic::warning(
                    catalog.locate(definition.origin, &format!("versions/{index}/url")),
                    "scs-0104-source",
                    format!(
                        "image `{name}` fails scs-0104-source-{}: its url must start with {}",
                        rule.id,
                        rule.source_prefixes.join(" or ")
                    ),
                )
                .with_hint("use the codename path (e.g. .../noble/), not the release number"),
            );
        }
    }
}
