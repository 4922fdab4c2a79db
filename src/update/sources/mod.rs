//! Upstream discovery: where each kind of upstream publishes builds, and how to read it.
//!
//! One file per layout. Each has pure functions that interpret fetched text (an index page, a
//! sums file, a pointer file) and one thin async `discover` that fetches what they need. The
//! base URLs always come from the definition itself (`latest_url`, `latest_checksum_url`, a
//! version's `url`), so a mirror or a local test server works exactly like the real host.

mod capi;
mod cirros;
mod dated;
mod debian;
mod generic;
mod index;
#[cfg(test)]
mod props;
mod ubuntu;

use super::rewrite::NewVersion;
use crate::catalog::checksums::{ChecksumFile, ChecksumFileError, Digest};
use crate::catalog::version::compare;
use crate::catalog::{Definition, UpstreamKind, Version};
use crate::transfer::checksum::MAX_CHECKSUM_FILE;
use crate::transfer::fetch::Fetcher;

/// Why discovery failed for one definition (the others proceed).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Fetch(#[from] crate::transfer::Error),
    /// The definition does not say where its upstream is.
    #[error("cannot tell where the upstream is: {0}")]
    NoBase(String),
    /// A sums file that cannot be parsed.
    #[error("checksum file {url}")]
    Sums {
        url: String,
        #[source]
        source: ChecksumFileError,
    },
    /// A sums file that does not list the image.
    #[error("{url} does not list {file}")]
    NotListed { url: String, file: String },
    /// A file whose content is not what this upstream publishes there.
    #[error("{url}: {message}")]
    Unexpected { url: String, message: String },
    /// A listing in which not one build of this upstream's layout was recognised: a junk page
    /// or a wrong mirror, never "current".
    #[error("{url}: no build recognised in this listing (expected {expected})")]
    NoBuilds { url: String, expected: &'static str },
}

/// The upstream layout of `definition`: its `upstream` field, else guessed from
/// `meta.os_distro`, else `generic` when it has `latest_url` and `latest_checksum_url`.
pub(crate) fn kind_of(definition: &Definition) -> Option<UpstreamKind> {
    if definition.upstream.is_some() {
        return definition.upstream;
    }
    let by_distro = match definition.meta.get("os_distro").map(String::as_str) {
        Some("ubuntu") => Some(UpstreamKind::Ubuntu),
        Some("debian") => Some(UpstreamKind::Debian),
        Some("cirros") => Some(UpstreamKind::Cirros),
        _ => None,
    };
    by_distro.or_else(|| {
        (definition.latest_url.is_some() && definition.latest_checksum_url.is_some())
            .then_some(UpstreamKind::Generic)
    })
}

/// Largest index page or pointer file read (a real one is a few KiB to a few hundred KiB):
/// reading stops there, so an endless page cannot exhaust memory.
pub(super) const MAX_PAGE: u64 = 4 * 1024 * 1024;

/// Finds builds newer than the definition's newest version; empty when it is current.
pub(crate) async fn discover(
    fetcher: &Fetcher,
    definition: &Definition,
    kind: UpstreamKind,
) -> Result<Vec<NewVersion>, SourceError> {
    match kind {
        UpstreamKind::Ubuntu => dated::discover(fetcher, definition, &ubuntu::LAYOUT).await,
        UpstreamKind::Debian => dated::discover(fetcher, definition, &debian::LAYOUT).await,
        UpstreamKind::Capi => capi::discover(fetcher, definition).await,
        UpstreamKind::Cirros => cirros::discover(fetcher, definition).await,
        UpstreamKind::Generic => generic::discover(fetcher, definition).await,
    }
}

/// The newest version of a definition (natural order; `latest` entries do not count).
fn newest(definition: &Definition) -> Option<&Version> {
    definition
        .versions
        .iter()
        .filter(|v| !v.is_latest())
        .max_by(|a, b| compare(&a.version, &b.version))
}

/// `url` without its last `n` path segments (no trailing slash).
fn parent(url: &str, n: usize) -> Option<&str> {
    let mut rest = url.split(['?', '#']).next().unwrap_or(url);
    for _ in 0..n {
        let (head, _) = rest.rsplit_once('/')?;
        if head.ends_with('/') || !head.contains("://") {
            return None;
        }
        rest = head;
    }
    Some(rest)
}

/// The last path segment of `url`.
fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// `YYYYMMDD` → `YYYY-MM-DD`; anything else (which the ASCII-only patterns never let
/// through) is returned as it is rather than cut inside a character.
fn dashed(date: &str) -> String {
    match (date.get(..4), date.get(4..6), date.get(6..8)) {
        (Some(year), Some(month), Some(day)) if date.len() == 8 => format!("{year}-{month}-{day}"),
        _ => date.to_owned(),
    }
}

/// Fetches and parses the sums file at `url` and returns the digest it lists for `file`
/// (`None` for `file`: the file's only digest, for single-digest files).
async fn digest_from(
    fetcher: &Fetcher,
    url: &str,
    file: Option<&str>,
) -> Result<Digest, SourceError> {
    let text = fetcher
        .text(url, MAX_CHECKSUM_FILE, "a checksum file")
        .await?;
    digest_in(&text, url, file)
}

/// The digest `text` (a sums file fetched from `url`) lists for `file`.
fn digest_in(text: &str, url: &str, file: Option<&str>) -> Result<Digest, SourceError> {
    let sums =
        ChecksumFile::parse(text, Some(file_name(url))).map_err(|source| SourceError::Sums {
            url: url.to_owned(),
            source,
        })?;
    let entry = match file {
        Some(file) => sums.find(file),
        None => sums.single(),
    };
    entry
        .map(|e| e.digest.clone())
        .ok_or_else(|| SourceError::NotListed {
            url: url.to_owned(),
            file: file.unwrap_or("exactly one image").to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_and_file_name() {
        let url = "https://h/a/noble/current/x.img";
        assert_eq!(parent(url, 2), Some("https://h/a/noble"));
        assert_eq!(parent(url, 1), Some("https://h/a/noble/current"));
        assert_eq!(parent("https://h/x.img", 2), None);
        assert_eq!(parent("relative/x", 1), None);
        assert_eq!(file_name("https://h/a/x.img?y=1"), "x.img");
        assert_eq!(dashed("20260717"), "2026-07-17");
    }

    #[test]
    fn kind_comes_from_the_field_the_distro_or_latest_urls() {
        let text = "images:\n  - name: A\n    format: qcow2\n    meta:\n      os_distro: ubuntu\n    versions:\n      - version: '1'\n        url: https://h/a\n        checksum: sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
        let loaded = crate::catalog::from_text("a.yaml", text);
        let mut definition = loaded.catalog.definitions[0].clone();
        assert_eq!(kind_of(&definition), Some(UpstreamKind::Ubuntu));
        definition.upstream = Some(UpstreamKind::Capi);
        assert_eq!(kind_of(&definition), Some(UpstreamKind::Capi));
        definition.upstream = None;
        definition
            .meta
            .insert("os_distro".into(), "almalinux".into());
        assert_eq!(kind_of(&definition), None);
        definition.latest_url = Some("https://h/l.img".into());
        definition.latest_checksum_url = Some("https://h/SUMS".into());
        assert_eq!(kind_of(&definition), Some(UpstreamKind::Generic));
    }

    #[test]
    fn digests_from_real_sums_files() {
        let dir = format!("{}/../shared/fixtures/upstream", env!("CARGO_MANIFEST_DIR"));
        let ubuntu = std::fs::read_to_string(format!("{dir}/ubuntu2404/SHA256SUMS")).unwrap();
        let digest = digest_in(
            &ubuntu,
            "https://h/SHA256SUMS",
            Some("noble-server-cloudimg-amd64.img"),
        )
        .unwrap();
        assert_eq!(
            digest.to_string(),
            "sha256:ffe6203da54deeb6db5d2a98a83f9ec8e55f149d3f7ba622e1abe5fa966ee3d6"
        );
        let missing = digest_in(&ubuntu, "https://h/SHA256SUMS", Some("nope.img"));
        assert!(matches!(missing, Err(SourceError::NotListed { .. })));
        assert!(matches!(
            digest_in("<html>", "https://h/SUMS", None),
            Err(SourceError::Sums { .. })
        ));
    }
}
