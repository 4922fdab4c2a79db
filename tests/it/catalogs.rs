//! Catalog builders shared by the integration tests: a definition with generic test metadata
//! ([`Def`], its versions [`Ver`]), the two shorthands most tests use, and one way to write a
//! catalog file.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// One catalog version: its YAML lines after `- version:`.
pub(crate) struct Ver {
    version: String,
    lines: String,
}

impl Ver {
    /// For images the test creates itself: never downloaded.
    pub(crate) fn fake(name: &str, version: &str) -> Ver {
        let url = format!("https://example.org/{name}/{version}/disk.img");
        let checksum = format!("checksum: sha256:{}", "ab".repeat(32));
        Ver::with(version, &url, &checksum)
    }

    /// At `url`, verified by the catalog line `checksum` (`checksum: …` or `checksums_url: …`).
    pub(crate) fn with(version: &str, url: &str, checksum: &str) -> Ver {
        Ver {
            version: version.to_owned(),
            lines: format!("        url: {url}\n        {checksum}\n"),
        }
    }
}

/// One definition: generic test metadata, and `extra` definition keys and `meta` keys
/// (indented 4 and 6) as a test needs them.
pub(crate) struct Def {
    pub(crate) name: String,
    pub(crate) format: String,
    pub(crate) min_disk: u64,
    pub(crate) min_ram: u64,
    pub(crate) uuid_validity: String,
    pub(crate) extra: String,
    pub(crate) meta: String,
    pub(crate) versions: Vec<Ver>,
}

impl Def {
    pub(crate) fn new(name: &str, format: &str, versions: Vec<Ver>) -> Def {
        Def {
            name: name.to_owned(),
            format: format.to_owned(),
            min_disk: 1,
            min_ram: 64,
            uuid_validity: "forever".into(),
            extra: String::new(),
            meta: String::new(),
            versions,
        }
    }

    pub(crate) fn yaml(&self) -> String {
        let mut yaml = format!(
            "  - name: {}\n    format: {}\n    login: tester\n    min_disk: {}\n    \
             min_ram: {}\n{}    meta:\n      architecture: x86_64\n      os_distro: testos\n      \
             os_version: '1'\n      os_purpose: generic\n      hw_rng_model: virtio\n      \
             uuid_validity: '{}'\n{}    versions:\n",
            self.name,
            self.format,
            self.min_disk,
            self.min_ram,
            self.extra,
            self.uuid_validity,
            self.meta
        );
        for v in &self.versions {
            yaml.push_str(&format!(
                "      - version: '{}'\n{}        build_date: 2026-01-01\n",
                v.version, v.lines
            ));
        }
        yaml
    }
}

/// One definition of never-downloaded test images (`versions` with fake URLs and digests), with
/// `uuid_validity` and more definition keys in `extra` (indented 4).
pub(crate) fn definition(
    name: &str,
    versions: &[&str],
    uuid_validity: &str,
    extra: &str,
) -> String {
    let versions = versions.iter().map(|v| Ver::fake(name, v)).collect();
    Def {
        uuid_validity: uuid_validity.to_owned(),
        extra: extra.to_owned(),
        ..Def::new(name, "raw", versions)
    }
    .yaml()
}

/// One private definition `name` with the single version `version`, whose bytes are at `url`
/// with sha256 `sha256`; retention `none`.
pub(crate) fn private_definition(
    name: &str,
    format: &str,
    version: &str,
    url: &str,
    sha256: &str,
) -> String {
    let checksum = format!("checksum: sha256:{sha256}");
    Def {
        uuid_validity: "none".into(),
        extra: "    visibility: private\n".into(),
        ..Def::new(name, format, vec![Ver::with(version, url, &checksum)])
    }
    .yaml()
}

/// Writes `images:` + `definitions` as `catalog.yaml` into `dir`; returns its path.
pub(crate) fn write_catalog_in(dir: &Path, definitions: &[String]) -> PathBuf {
    let path = dir.join("catalog.yaml");
    std::fs::write(&path, format!("images:\n{}", definitions.concat())).unwrap();
    path
}

/// A catalog file in a fresh temporary directory.
pub(crate) fn write_catalog(definitions: &[String]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_catalog_in(dir.path(), definitions);
    (dir, path)
}
