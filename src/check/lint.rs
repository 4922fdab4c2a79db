//! The SCS lint of `validate`: `check --offline` over a catalog, its findings as warnings at
//! the definitions behind the offending images.
//!
//! There is one implementation of each SCS rule, its testcase in `check`: the lint runs
//! [`run_everything`] on [`Images::from_catalog`], exactly what `check --offline` runs, so
//! `validate` cannot call a catalog clean that `check --offline` fails (the osism catalog's
//! two `generic` CentOS 9 images, say).
//!
//! Every ERROR or WARNING line that names images becomes one warning per catalog position:
//! the value the testcase reads (`meta/hypervisor_type`, a version's `url`, `min_disk`, …)
//! where the catalog sets it, else the definition's name. A failing main testcase that
//! names no image (a missing standard image) is reported at the top of the first file.
//! Images the official suite does not see (private, shared, hidden) are judged too, but only
//! by the testcases that judge each image on its own, and the warning says so: the suite
//! would fail them once they are published, while uniqueness, recency and the standard
//! images are about what a member sees. These are warnings, not errors: a private cloud may
//! not care about SCS; `validate --strict` makes them fatal.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Images, Level, Module, TestcaseReport, Verdict, evaluate, run_everything, spec};
use crate::catalog::{self, Catalog, Definition, Location, naming};
use crate::desired::Identity;

/// Said of an image the official suite does not see yet.
const UNPUBLISHED: &str =
    "(a private, shared or hidden image: the official suite judges it once visible and public)";

/// The SCS findings of `check --offline` on `catalog` at `now`, at catalog positions.
pub fn lint(catalog: &Catalog, now: DateTime<Utc>) -> Vec<catalog::Diagnostic> {
    let mut found = Found::default();
    let published = Images::from_catalog(catalog, now);
    let deciding: Vec<&str> = Module::defaults()
        .into_iter()
        .flat_map(Module::testcases)
        .filter(|(_, main)| *main)
        .map(|(id, _)| id)
        .collect();
    for testcase in &run_everything(&published, now).testcases {
        let failing = matches!(testcase.verdict, Verdict::Fail | Verdict::Abort);
        let at_top = failing && deciding.contains(&testcase.id.as_str());
        found.add(catalog, testcase, at_top, None);
    }
    let unpublished = Images::unchecked_in(catalog, now);
    if !unpublished.images.is_empty() {
        for id in spec::testcases().filter(|id| judges_each_image(id)) {
            let testcase = evaluate(id, &unpublished, now).expect("the spec's testcases have code");
            found.add(catalog, &testcase, false, Some(UNPUBLISHED));
        }
    }
    found.warnings()
}

/// Whether a testcase judges every image on its own (a property, a standard image's
/// source), rather than the listing as a whole (uniqueness compares images, recency looks
/// for replacements, `scs-0104-image-*` for one image).
fn judges_each_image(id: &str) -> bool {
    id.starts_with("scs-0102-prop-") || id.starts_with("scs-0104-source-")
}

/// The warnings so far: one per (position, testcase, message), however many versions share
/// the value, with its hint.
#[derive(Default)]
struct Found(BTreeMap<(Location, &'static str, String), Option<String>>);

impl Found {
    /// The ERROR and WARNING lines of `testcase`, at the positions behind the images they
    /// name; `at_top`: a line naming none at the top of the first file. `note`
    /// ends every message. A line of a testcase that judges each image alone names, at each
    /// position, only the images behind it (a line of uniqueness names the whole group).
    fn add(
        &mut self,
        catalog: &Catalog,
        testcase: &TestcaseReport,
        at_top: bool,
        note: Option<&str>,
    ) {
        let code = spec::testcase(&testcase.id).expect("reported testcases are the spec's");
        for line in &testcase.diagnostics {
            if line.level == Level::Info {
                continue;
            }
            // The official `<cause> for image(s): a, b` line (`Log::offenders`).
            let offenders = format!(" for image(s): {}", line.images.join(", "));
            let cause = line
                .message
                .strip_suffix(&offenders)
                .filter(|_| judges_each_image(code));
            let mut at: BTreeMap<Location, Vec<&str>> = BTreeMap::new();
            for (name, identity) in line.images.iter().zip(&line.identities) {
                let Some(location) = identity
                    .as_ref()
                    .and_then(|identity| position(catalog, identity, code))
                else {
                    continue;
                };
                let names = at.entry(location).or_default();
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
            if let Some(file) = catalog.files.first().filter(|_| at.is_empty() && at_top) {
                let top = Location {
                    file: file.path.clone(),
                    line: 1,
                    column: 1,
                };
                at.insert(top, Vec::new());
            }
            for (location, names) in at {
                let text = match cause {
                    Some(cause) => format!("{cause} for image(s): {}", names.join(", ")),
                    None => line.message.clone(),
                };
                let mut message = match (line.level, testcase.verdict) {
                    (Level::Error, Verdict::Abort) => format!("{code} aborts: {text}"),
                    (Level::Error, _) => format!("{code} fails: {text}"),
                    _ => format!("{code}: {text}"),
                };
                if let Some(note) = note {
                    message = format!("{message} {note}");
                }
                self.0.insert((location, code, message), line.hint.clone());
            }
        }
    }

    fn warnings(self) -> Vec<catalog::Diagnostic> {
        self.0
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
}

/// Where the catalog sets what `testcase` read on the image of `identity`.
fn position(catalog: &Catalog, identity: &Identity, testcase: &str) -> Option<Location> {
    let definition = catalog.enabled().find(|d| d.name == identity.definition)?;
    let index = definition
        .versions
        .iter()
        .position(|v| v.version == identity.version)?;
    Some(field(catalog, definition, index, testcase))
}

/// Where the catalog sets what `testcase` reads for version `index` of `definition`: the
/// key of a property or number (as other lint warnings point), the value of a URL.
fn field(catalog: &Catalog, definition: &Definition, index: usize, testcase: &str) -> Location {
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
