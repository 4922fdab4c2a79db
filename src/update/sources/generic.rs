//! Any upstream described by the osism fields `latest_url` + `latest_checksum_url` (AlmaLinux,
//! Rocky, CentOS, …): the sums file names the current image. When it also lists a dated name
//! with the same digest (AlmaLinux `…-9.8-20260526.x86_64.qcow2` next to `…-latest.…`), the
//! new version is pinned to that file; otherwise (Rocky) `latest_url` itself is written.
//! The build date comes from a `YYYYMMDD` in the file name, else from `Last-Modified`.

use std::sync::LazyLock;

use regex::Regex;

use super::dated::{Dated, Style};
use super::{SourceError, dashed, file_name, newest};
use crate::catalog::Definition;
use crate::catalog::checksums::{ChecksumFile, Digest};
use crate::catalog::version::compare;
use crate::transfer::checksum::MAX_CHECKSUM_FILE;
use crate::transfer::fetch::Fetcher;
use crate::update::rewrite::NewVersion;

/// A `YYYYMMDD` not inside a longer number; ASCII digits only (`\d` is every Unicode digit).
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^0-9])(20[0-9]{2}[01][0-9][0-3][0-9])(?:[^0-9]|$)").expect("regex")
});

/// The dated file listed with the same digest as `latest` (`AlmaLinux-9-GenericCloud-latest…`
/// → `AlmaLinux-9-GenericCloud-9.8-20260526…`): same text before and after `latest`.
pub(super) fn pinned_name(sums: &ChecksumFile, latest: &str, digest: &Digest) -> Option<String> {
    let (before, after) = latest.split_once("latest")?;
    sums.entries
        .iter()
        .map(|e| (file_name(&e.file_name), &e.digest))
        .filter(|(name, d)| {
            *d == digest
                && *name != latest
                && name.starts_with(before)
                && name.ends_with(after)
                && DATE.is_match(name)
        })
        .map(|(name, _)| name)
        .max_by(|a, b| compare(a, b))
        .map(str::to_owned)
}

/// `latest_url` with its file name replaced by `name` (a query or fragment is kept).
pub(super) fn pinned_url(latest_url: &str, name: &str) -> String {
    let path = latest_url.split(['?', '#']).next().unwrap_or(latest_url);
    let suffix = latest_url.strip_prefix(path).unwrap_or_default();
    match path.rsplit_once('/') {
        Some((folder, _)) => format!("{folder}/{name}{suffix}"),
        None => format!("{name}{suffix}"),
    }
}

/// `YYYYMMDD` in a file name.
pub(super) fn date_in(name: &str) -> Option<String> {
    DATE.captures(name).map(|c| c[1].to_owned())
}

pub(super) async fn discover(
    fetcher: &Fetcher,
    definition: &Definition,
) -> Result<Vec<NewVersion>, SourceError> {
    let (Some(latest_url), Some(sums_url)) = (
        definition.latest_url.as_deref(),
        definition.latest_checksum_url.as_deref(),
    ) else {
        return Err(SourceError::NoBase(
            "a generic upstream needs `latest_url` and `latest_checksum_url`".into(),
        ));
    };
    let text = fetcher
        .text(sums_url, MAX_CHECKSUM_FILE, "a checksum file")
        .await?;
    let sums = ChecksumFile::parse(&text, Some(file_name(sums_url))).map_err(|source| {
        SourceError::Sums {
            url: sums_url.to_owned(),
            source,
        }
    })?;
    let latest = file_name(latest_url);
    let entry = sums.find(latest).ok_or_else(|| SourceError::NotListed {
        url: sums_url.to_owned(),
        file: latest.to_owned(),
    })?;
    let pinned = pinned_name(&sums, latest, &entry.digest);
    let url = match &pinned {
        Some(name) => pinned_url(latest_url, name),
        None => latest_url.to_owned(),
    };
    let date = match pinned.as_deref().and_then(date_in) {
        Some(date) => date,
        None => fetcher
            .modified(&url)
            .await?
            .map(|modified| modified.format("%Y%m%d").to_string())
            .ok_or_else(|| SourceError::Unexpected {
                url: url.clone(),
                message: "no date in the file name and no Last-Modified header".into(),
            })?,
    };
    let style = Style::of(newest(definition).map(|v| v.version.as_str()));
    let dated = Dated {
        folder: date.clone(),
        date,
    };
    Ok(vec![NewVersion {
        version: style.version(&dated),
        url,
        checksum: entry.digest.to_string(),
        build_date: dashed(&dated.date),
        sums_url: None,
        mirror_url: None,
        mirrored: false,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> ChecksumFile {
        let path = format!(
            "{}/../shared/fixtures/upstream/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        ChecksumFile::parse(&text, Some(file_name(&path))).unwrap()
    }

    #[test]
    fn almalinux_latest_is_pinned_to_its_dated_twin() {
        let sums = fixture("almalinux9/CHECKSUM");
        let latest = "AlmaLinux-9-GenericCloud-latest.x86_64.qcow2";
        let digest = &sums.find(latest).unwrap().digest;
        let pinned = pinned_name(&sums, latest, digest).unwrap();
        assert_eq!(pinned, "AlmaLinux-9-GenericCloud-9.8-20260526.x86_64.qcow2");
        assert_eq!(date_in(&pinned).as_deref(), Some("20260526"));
    }

    #[test]
    fn rocky_has_no_dated_twin() {
        let sums = fixture("rocky9/CHECKSUM");
        let latest = "Rocky-9-GenericCloud.latest.x86_64.qcow2";
        let digest = &sums.find(latest).unwrap().digest;
        assert_eq!(pinned_name(&sums, latest, digest), None);
        assert_eq!(date_in(latest), None);
    }
}
