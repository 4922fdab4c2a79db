//! The Glance names a definition's versions get.
//!
//! Names are not identity (the `image_name` + `internal_version` properties are), but they are
//! what users and the SCS checks see, so the lint needs them to find collisions before a plan
//! would create two images of one name, and the planner needs the same rules to rename.

use super::model::{Definition, Naming, Version};
use super::version;

/// The versions of a definition from oldest to newest (natural order).
pub fn ordered(definition: &Definition) -> Vec<&Version> {
    let mut versions: Vec<&Version> = definition.versions.iter().collect();
    versions.sort_by(|a, b| version::compare(&a.version, &b.version));
    versions
}

/// The newest version of a definition, which carries the plain name when `multi` is true.
pub fn newest(definition: &Definition) -> Option<&Version> {
    ordered(definition).pop()
}

/// The Glance name of `version`, given whether it is the current (newest) one.
///
/// - `multi: true`: current → `Name`; older → `Name (version)` (osism) or `Name YYYYMMDD`
///   (`naming: build-date`, falling back to the version when there is no build date).
/// - `multi: false`: every version → `Name<separator><version>`.
pub fn glance_name(definition: &Definition, version: &Version, current: bool) -> String {
    Scheme::of(definition).name(&version.version, version.build_date.as_deref(), current)
}

/// The naming inputs of a definition, detached from the catalog so later stages can name
/// versions the catalog no longer lists (from their Glance properties).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Scheme {
    pub name: String,
    pub multi: bool,
    pub separator: String,
    pub naming: Naming,
}

impl Scheme {
    pub fn of(definition: &Definition) -> Scheme {
        Scheme {
            name: definition.name.clone(),
            multi: definition.multi,
            separator: definition.separator.clone(),
            naming: definition.naming,
        }
    }

    /// The Glance name of `version` (see [`glance_name`]).
    pub fn name(&self, version: &str, build_date: Option<&str>, current: bool) -> String {
        if !self.multi {
            return format!("{}{}{version}", self.name, self.separator);
        }
        if current {
            return self.name.clone();
        }
        match (self.naming, build_date) {
            (Naming::BuildDate, Some(date)) => {
                let compact: String = date.chars().take(10).filter(|c| *c != '-').collect();
                format!("{} {compact}", self.name)
            }
            _ => format!("{} ({version})", self.name),
        }
    }
}

/// Every name a definition may put into Glance, with the version each belongs to.
pub fn all_names(definition: &Definition) -> Vec<(String, &Version)> {
    let versions = ordered(definition);
    let last = versions.len().saturating_sub(1);
    versions
        .into_iter()
        .enumerate()
        .map(|(i, v)| (glance_name(definition, v, i == last), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::Definition;

    fn definition(yaml: &str) -> Definition {
        let value: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn multi_names_current_plain_and_older_with_version() {
        let d = definition(
            "name: Ubuntu 24.04\nformat: qcow2\nversions:\n  - {version: '20260108', url: u, build_date: 2026-01-08}\n  - {version: '20251120', url: u}\n",
        );
        let names: Vec<String> = all_names(&d).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Ubuntu 24.04 (20251120)", "Ubuntu 24.04"]);
        assert_eq!(newest(&d).unwrap().version, "20260108");
    }

    #[test]
    fn build_date_scheme_uses_compact_dates() {
        let d = definition(
            "name: Ubuntu 24.04\nformat: qcow2\nnaming: build-date\nversions:\n  - {version: '20260108', url: u, build_date: 2026-01-08}\n  - {version: '20251120', url: u, build_date: 2025-11-20}\n",
        );
        assert_eq!(
            glance_name(&d, &d.versions[1], false),
            "Ubuntu 24.04 20251120"
        );
    }

    #[test]
    fn non_multi_joins_with_the_separator() {
        let d = definition(
            "name: ubuntu-capi-image\nformat: raw\nmulti: false\nseparator: '-'\nversions:\n  - {version: v1.33.10, url: u}\n  - {version: v1.33.9, url: u}\n",
        );
        let names: Vec<String> = all_names(&d).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["ubuntu-capi-image-v1.33.9", "ubuntu-capi-image-v1.33.10"]
        );
    }
}
