//! Cluster-API node images built by OSISM: `<base>/ubuntu-<NNNN>-kube-v<MAJ.MIN>/…-v<X.Y.Z>.qcow2`
//! with a `.qcow2.CHECKSUM` next to each image, and a pointer file `<base>/last-<MAJ.MIN>` per
//! Kubernetes minor holding `YYYY-MM-DD <path of the newest build>`.
//!
//! Each minor the definition already has is followed on its own (a cluster stack pins a
//! minor), and the next minors are probed too: a pointer that does not exist yet (404) only
//! means that minor is not released. Versions compare as semver.

use std::collections::{BTreeSet, VecDeque};
use std::sync::LazyLock;

use regex::Regex;
use semver::Version as Semver;

use super::{SourceError, digest_from, file_name, newest, parent};
use crate::catalog::Definition;
use crate::transfer::fetch::Fetcher;
use crate::update::rewrite::NewVersion;

/// How many minors past the highest one the catalog has are followed in one run.
const MAX_NEW_MINORS: usize = 3;

// ASCII digits only: Rust's `\d` matches every Unicode digit (`２０２５`), which no date or
// version here is, and which later code would then have to handle.
static POINTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*([0-9]{4}-[0-9]{2}-[0-9]{2})\s+(\S+)\s*$").expect("regex"));
static KUBE_VERSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"v([0-9]+\.[0-9]+\.[0-9]+)").expect("regex"));

/// What a `last-<MAJ.MIN>` pointer file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pointer {
    /// `YYYY-MM-DD`.
    pub(super) date: String,
    /// Relative to the base, e.g. `ubuntu-2404-kube-v1.33/ubuntu-2404-kube-v1.33.9.qcow2`.
    pub(super) path: String,
    pub(super) version: Semver,
}

/// Parses a pointer file: one line `YYYY-MM-DD <path>` whose file name carries `vX.Y.Z`.
pub(super) fn parse_pointer(text: &str) -> Option<Pointer> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let found = POINTER.captures(line)?;
    let path = found[2].trim_start_matches("./").to_owned();
    let version = semver_in(file_name(&path))?;
    Some(Pointer {
        date: found[1].to_owned(),
        path,
        version,
    })
}

/// The `X.Y.Z` in a version string or file name (`v1.33.9`, `…-kube-v1.33.9.qcow2`).
fn semver_in(text: &str) -> Option<Semver> {
    let found = KUBE_VERSION
        .captures(text)
        .map(|c| c[1].to_owned())
        .or_else(|| {
            Semver::parse(text.trim_start_matches('v'))
                .ok()
                .map(|v| v.to_string())
        })?;
    Semver::parse(&found).ok()
}

/// The minors to look at: every one the definition has, plus the next after the highest.
pub(super) fn minors(versions: &[Semver]) -> Vec<((u64, u64), bool)> {
    let have: BTreeSet<(u64, u64)> = versions.iter().map(|v| (v.major, v.minor)).collect();
    let mut out: Vec<((u64, u64), bool)> = have.iter().map(|m| (*m, false)).collect();
    // A version written with an absurd minor (`1.18446744073709551615.0`) has no next one.
    if let Some(&(major, minor)) = have.last()
        && let Some(next) = minor.checked_add(1)
    {
        out.push(((major, next), true));
    }
    out
}

pub(super) async fn discover(
    fetcher: &Fetcher,
    definition: &Definition,
) -> Result<Vec<NewVersion>, SourceError> {
    let current = newest(definition)
        .ok_or_else(|| SourceError::NoBase("no version to find the base URL from".into()))?;
    let base = parent(&current.url, 2)
        .ok_or_else(|| SourceError::NoBase(format!("`{}` has no folder", current.url)))?;
    let prefix = if current.version.starts_with('v') {
        "v"
    } else {
        ""
    };
    let have: Vec<Semver> = definition
        .versions
        .iter()
        .filter_map(|v| semver_in(&v.version))
        .collect();
    let mut out = Vec::new();
    let mut queue: VecDeque<_> = minors(&have).into();
    let mut probes = 0;
    while let Some(((major, minor), probe)) = queue.pop_front() {
        let pointer_url = format!("{base}/last-{major}.{minor}");
        let text = match fetcher
            .text(&pointer_url, super::MAX_PAGE, "a pointer file")
            .await
        {
            Ok(text) => text,
            Err(error) if probe && error.is_not_found() => continue,
            Err(error) => return Err(error.into()),
        };
        let pointer = parse_pointer(&text).ok_or_else(|| SourceError::Unexpected {
            url: pointer_url.clone(),
            message: "expected one line `YYYY-MM-DD <folder>/<image>-vX.Y.Z.qcow2`".into(),
        })?;
        // A new minor exists: the one after it may, too.
        if probe
            && probes < MAX_NEW_MINORS
            && let Some(next) = minor.checked_add(1)
        {
            probes += 1;
            queue.push_back(((major, next), true));
        }
        let same_minor = |v: &&Semver| (v.major, v.minor) == (major, minor);
        if have
            .iter()
            .filter(same_minor)
            .any(|v| *v >= pointer.version)
        {
            continue;
        }
        let url = format!("{base}/{}", pointer.path);
        let sums_url = format!("{url}.CHECKSUM");
        let digest = digest_from(fetcher, &sums_url, None).await?;
        out.push(NewVersion {
            version: format!("{prefix}{}", pointer.version),
            url,
            checksum: digest.to_string(),
            build_date: pointer.date,
            sums_url: Some(sums_url),
            mirror_url: None,
            mirrored: false,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_files() {
        let p =
            parse_pointer("2026-07-30 ubuntu-2404-kube-v1.33/ubuntu-2404-kube-v1.33.10.qcow2\n")
                .unwrap();
        assert_eq!(p.date, "2026-07-30");
        assert_eq!(
            p.path,
            "ubuntu-2404-kube-v1.33/ubuntu-2404-kube-v1.33.10.qcow2"
        );
        assert_eq!(p.version, Semver::new(1, 33, 10));
        let legacy =
            parse_pointer("\n2025-01-02  ./ubuntu-2204-kube-v1.30/ubuntu-2204-kube-v1.30.8.qcow2")
                .unwrap();
        assert_eq!(
            legacy.path,
            "ubuntu-2204-kube-v1.30/ubuntu-2204-kube-v1.30.8.qcow2"
        );
        for bad in [
            "",
            "<html>",
            "2026-07-30",
            "yesterday x-v1.2.3.qcow2",
            "2026-07-30 image.qcow2",
        ] {
            assert_eq!(parse_pointer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn minors_include_the_next_one_as_a_probe() {
        let have = ["v1.33.9", "v1.34.11", "1.34.2"].map(|v| semver_in(v).unwrap());
        assert_eq!(
            minors(&have),
            [((1, 33), false), ((1, 34), false), ((1, 35), true)]
        );
        assert!(minors(&[]).is_empty());
        // Semver, not string order: 1.34.10 > 1.34.9.
        assert!(semver_in("v1.34.10").unwrap() > semver_in("v1.34.9").unwrap());
    }
}
