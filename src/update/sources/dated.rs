//! Upstreams that publish each build in a dated folder next to a sums file: Ubuntu
//! (`<codename>/YYYYMMDD/`, `releases/<codename>/release-YYYYMMDD/`) and Debian
//! (`<codename>/daily/YYYYMMDD-NNNN/`). The two differ only in the details a [`Layout`] holds.
//!
//! The listing folder is the parent of the folder in `latest_url` (`…/noble/current/x.img` →
//! `…/noble/`), else of the newest version's folder. Candidate folders newer than the newest
//! version are tried newest first: a folder still being published (no sums file yet, or the
//! image missing from it) is skipped for the next one.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

use super::index::{self, Folder};
use super::{SourceError, dashed, digest_from, file_name, newest, parent};
use crate::catalog::Definition;
use crate::catalog::version::compare;
use crate::transfer::fetch::Fetcher;
use crate::update::rewrite::NewVersion;

/// How many candidate folders are tried before giving up on a definition.
const ATTEMPTS: usize = 3;

/// A dated folder name. ASCII digits only: `\d` would also take `２０２５０１０１/` from a
/// hostile listing, and a date is always eight ASCII digits after this.
static DATED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:release-)?([0-9]{8})(?:[-.][0-9]+)?$").expect("regex"));

/// What differs between dated upstreams.
pub(super) struct Layout {
    /// The sums file in each folder when the definition names none.
    pub(super) sums: &'static str,
    /// Whether the image file name carries the folder name (Debian:
    /// `debian-13-genericcloud-amd64-daily-20260717-2542.qcow2`).
    pub(super) folder_in_file_name: bool,
}

/// A dated folder of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Dated {
    /// As linked, e.g. `20260717-2542` or `release-20260705`.
    pub(super) folder: String,
    /// `YYYYMMDD`.
    pub(super) date: String,
}

/// How a definition writes its versions; a new one is written the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    /// `20260717`.
    Date,
    /// `20260717-2542` (the folder name).
    Folder,
    /// `2026-07-17`.
    Dashed,
}

impl Style {
    /// The style of `version` (`Date` when it is none of the known ones).
    pub(super) fn of(version: Option<&str>) -> Style {
        let Some(version) = version else {
            return Style::Date;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match version.split_once('-') {
            Some((date, build)) if date.len() == 8 && digits(date) && digits(build) => {
                Style::Folder
            }
            Some(_) if version.len() == 10 && digits(&version.replace('-', "")) => Style::Dashed,
            _ => Style::Date,
        }
    }

    pub(super) fn version(self, dated: &Dated) -> String {
        match self {
            Style::Date => dated.date.clone(),
            Style::Folder => dated.folder.trim_start_matches("release-").to_owned(),
            Style::Dashed => dashed(&dated.date),
        }
    }
}

/// The dated folders of a listing, newest first (natural order of the folder names).
pub(super) fn dated_folders(folders: &[Folder]) -> Vec<Dated> {
    let mut out: Vec<Dated> = folders
        .iter()
        .filter_map(|f| {
            let found = DATED.captures(&f.name)?;
            Some(Dated {
                folder: f.name.clone(),
                date: found[1].to_owned(),
            })
        })
        .collect();
    out.sort_by(|a, b| compare(&b.date, &a.date).then_with(|| compare(&b.folder, &a.folder)));
    out
}

/// The image's file name in `new`'s folder, from the template file name (of `latest_url`, or
/// of the newest version, which sat in `old_folder`).
pub(super) fn file_in(
    layout: &Layout,
    template: &str,
    old_folder: Option<&str>,
    new: &Dated,
) -> String {
    if let Some(old) = old_folder.map(|f| f.trim_start_matches("release-"))
        && DATED.is_match(old)
        && template.contains(old)
    {
        return template.replace(old, new.folder.trim_start_matches("release-"));
    }
    if !layout.folder_in_file_name {
        return template.to_owned();
    }
    match template.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{}.{ext}", new.folder),
        None => format!("{template}-{}", new.folder),
    }
}

pub(super) async fn discover(
    fetcher: &Fetcher,
    definition: &Definition,
    layout: &Layout,
) -> Result<Vec<NewVersion>, SourceError> {
    let current = newest(definition);
    let template_url = definition
        .latest_url
        .as_deref()
        .or(current.map(|v| v.url.as_str()))
        .ok_or_else(|| SourceError::NoBase("no `latest_url` and no version".into()))?;
    let base = parent(template_url, 2)
        .ok_or_else(|| SourceError::NoBase(format!("`{template_url}` has no folder")))?;
    let template = file_name(template_url);
    let old_folder = parent(template_url, 1).map(file_name);
    let sums_name = definition
        .latest_checksum_url
        .as_deref()
        .or(current.and_then(|v| v.checksums_url.as_deref()))
        .map_or(layout.sums, file_name);
    let style = Style::of(current.map(|v| v.version.as_str()));

    let listing_url = format!("{base}/");
    let listing = fetcher
        .text(&listing_url, super::MAX_PAGE, "an index page")
        .await?;
    let folders = dated_folders(&index::folders(&listing));
    if folders.is_empty() {
        return Err(SourceError::NoBuilds {
            url: listing_url,
            expected: "dated folders such as `20260101/` or `release-20260101/`",
        });
    }
    let candidates: Vec<Dated> = folders
        .into_iter()
        .filter(|d| {
            current.is_none_or(|c| compare(&style.version(d), &c.version) == Ordering::Greater)
        })
        .take(ATTEMPTS)
        .collect();
    let mut last_error = None;
    for dated in candidates {
        let file = file_in(layout, template, old_folder, &dated);
        let sums_url = format!("{base}/{}/{sums_name}", dated.folder);
        match digest_from(fetcher, &sums_url, Some(&file)).await {
            Ok(digest) => {
                return Ok(vec![NewVersion {
                    version: style.version(&dated),
                    url: format!("{base}/{}/{file}", dated.folder),
                    checksum: digest.to_string(),
                    build_date: dashed(&dated.date),
                    sums_url: Some(sums_url),
                    mirror_url: None,
                    mirrored: false,
                }]);
            }
            // A folder still being published: no sums file yet, or the image not in it.
            Err(error) if incomplete(&error) => {
                tracing::debug!(definition = %definition.name, %error, "skipping folder");
            }
            Err(error) => last_error = Some(error),
        }
    }
    last_error.map_or(Ok(Vec::new()), Err)
}

/// Whether `error` says the folder is incomplete rather than the upstream broken.
fn incomplete(error: &SourceError) -> bool {
    match error {
        SourceError::Fetch(fetch) => fetch.is_not_found(),
        SourceError::NotListed { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::sources::{debian, ubuntu};

    fn dated(folder: &str) -> Dated {
        let date = DATED.captures(folder).unwrap()[1].to_owned();
        Dated {
            folder: folder.into(),
            date,
        }
    }

    #[test]
    fn folders_newest_first_from_real_listings() {
        let dir = format!("{}/../shared/fixtures/upstream", env!("CARGO_MANIFEST_DIR"));
        let html = std::fs::read_to_string(format!("{dir}/ubuntu2404/index.html")).unwrap();
        let found = dated_folders(&index::folders(&html));
        assert_eq!(found[0], dated("20260705"));
        assert_eq!(found.len(), 6, "current/ is not a dated folder");
        let html = std::fs::read_to_string(format!("{dir}/debian13/index.html")).unwrap();
        let found = dated_folders(&index::folders(&html));
        assert_eq!(found[0], dated("20260717-2542"));
        assert_eq!(found[1], dated("20260716-2541"));
    }

    #[test]
    fn natural_order_beats_string_order() {
        let folders: Vec<Folder> = ["20260101-999", "20260101-1000", "release-20251231"]
            .iter()
            .map(|n| Folder {
                name: (*n).into(),
                modified: None,
            })
            .collect();
        let found = dated_folders(&folders);
        assert_eq!(found[0].folder, "20260101-1000");
        assert_eq!(found[2].folder, "release-20251231");
    }

    #[test]
    fn styles_follow_the_existing_version() {
        let d = dated("20260717-2542");
        assert_eq!(Style::of(Some("20260124")).version(&d), "20260717");
        assert_eq!(
            Style::of(Some("20260124-2367")).version(&d),
            "20260717-2542"
        );
        assert_eq!(Style::of(Some("2026-01-24")).version(&d), "2026-07-17");
        assert_eq!(
            Style::of(None).version(&dated("release-20260705")),
            "20260705"
        );
    }

    #[test]
    fn file_names_per_layout() {
        let new = dated("20260717-2542");
        let daily = "debian-13-genericcloud-amd64-daily.qcow2";
        assert_eq!(
            file_in(&debian::LAYOUT, daily, Some("latest"), &new),
            "debian-13-genericcloud-amd64-daily-20260717-2542.qcow2"
        );
        let pinned = "debian-13-genericcloud-amd64-daily-20260124-2367.qcow2";
        assert_eq!(
            file_in(&debian::LAYOUT, pinned, Some("20260124-2367"), &new),
            "debian-13-genericcloud-amd64-daily-20260717-2542.qcow2"
        );
        let noble = "noble-server-cloudimg-amd64.img";
        assert_eq!(
            file_in(&ubuntu::LAYOUT, noble, Some("current"), &dated("20260801")),
            noble
        );
    }
}
