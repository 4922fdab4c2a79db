//! CirrOS (download.cirros-cloud.net): one folder per release (`0.6.3/`) with `SHA256SUMS`
//! (older releases: only `MD5SUMS`). Catalogs often point at the GitHub release assets, which
//! cannot be listed; the listing then comes from download.cirros-cloud.net, and the new URL is
//! the old one with the version replaced. The build date is the folder's date in the listing.

use std::cmp::Ordering;

use super::index::{self, Folder};
use super::{MAX_PAGE, SourceError, digest_from, file_name, newest, parent};
use crate::catalog::Definition;
use crate::catalog::version::compare;
use crate::transfer::fetch::Fetcher;
use crate::update::rewrite::NewVersion;

/// Where releases are listed when the catalog points at GitHub release assets.
const RELEASE_INDEX: &str = "https://download.cirros-cloud.net";

/// The newest release folder (`X.Y.Z`, natural order), if any.
pub(super) fn newest_release(folders: &[Folder]) -> Option<&Folder> {
    folders
        .iter()
        .filter(|f| {
            let parts: Vec<&str> = f.name.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .max_by(|a, b| compare(&a.name, &b.name))
}

pub(super) async fn discover(
    fetcher: &Fetcher,
    definition: &Definition,
) -> Result<Vec<NewVersion>, SourceError> {
    let current =
        newest(definition).ok_or_else(|| SourceError::NoBase("no version to follow".into()))?;
    let folder = parent(&current.url, 1).map(file_name);
    if folder != Some(current.version.as_str()) {
        return Err(SourceError::NoBase(format!(
            "`{}` is not in a folder named after version {}",
            current.url, current.version
        )));
    }
    let listing_base = if current.url.contains("://github.com/") {
        RELEASE_INDEX
    } else {
        parent(&current.url, 2)
            .ok_or_else(|| SourceError::NoBase(format!("`{}` has no folder", current.url)))?
    };
    let listing_url = format!("{listing_base}/");
    let listing = fetcher
        .text(&listing_url, MAX_PAGE, "an index page")
        .await?;
    let folders = index::folders(&listing);
    let Some(release) = newest_release(&folders) else {
        return Err(SourceError::NoBuilds {
            url: listing_url,
            expected: "release folders such as `0.6.3/`",
        });
    };
    if compare(&release.name, &current.version) != Ordering::Greater {
        return Ok(Vec::new());
    }
    let url = current.url.replace(&current.version, &release.name);
    let file = file_name(&url).to_owned();
    let mut sums_url = format!("{listing_base}/{}/SHA256SUMS", release.name);
    let digest = match digest_from(fetcher, &sums_url, Some(&file)).await {
        Err(SourceError::Fetch(error)) if error.is_not_found() => {
            sums_url = format!("{listing_base}/{}/MD5SUMS", release.name);
            digest_from(fetcher, &sums_url, Some(&file)).await?
        }
        other => other?,
    };
    let build_date = release
        .modified
        .clone()
        .ok_or_else(|| SourceError::Unexpected {
            url: format!("{listing_base}/"),
            message: format!("no date on the row of {}/", release.name),
        })?;
    Ok(vec![NewVersion {
        version: release.name.clone(),
        url,
        checksum: digest.to_string(),
        build_date,
        sums_url: Some(sums_url),
        mirror_url: None,
        mirrored: false,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_release_in_natural_order() {
        let folders: Vec<Folder> = ["0.6.9", "0.6.10", "0.5.3", "latest", "0.6"]
            .iter()
            .map(|n| Folder {
                name: (*n).into(),
                modified: None,
            })
            .collect();
        assert_eq!(newest_release(&folders).unwrap().name, "0.6.10");
        assert!(newest_release(&folders[3..]).is_none());
    }
}
