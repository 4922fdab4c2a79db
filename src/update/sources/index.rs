//! Apache/nginx-style directory listings ("Index of /…" pages), parsed for their links.
//!
//! Only what the sources need: the folders a page links to, and the "Last modified" date shown
//! on a folder's row. Both are read from `href` attributes and the row text, which every
//! autoindex flavour (Apache `<pre>` or `<table>`, nginx) has in common.

use std::sync::LazyLock;

use regex::Regex;

static HREF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)href\s*=\s*["']([^"']*)["']"#).expect("regex"));
/// ASCII digits only: `\d` is every Unicode digit, and a listing is untrusted text.
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T][0-9]{2}:[0-9]{2}|([0-9]{2})-([A-Z][a-z]{2})-([0-9]{4}) [0-9]{2}:[0-9]{2}",
    )
    .expect("regex")
});

/// A sub-folder a listing links to, with the date on its row when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Folder {
    /// The folder's name without slashes, e.g. `20260717-2542`.
    pub(crate) name: String,
    /// `YYYY-MM-DD` from the row's "Last modified" column.
    pub(crate) modified: Option<String>,
}

/// The folders `html` links to (relative links ending in `/`), each once, in page order; sort
/// links (`?C=M;O=A`), the parent directory and off-site links are skipped.
pub(crate) fn folders(html: &str) -> Vec<Folder> {
    let mut out: Vec<Folder> = Vec::new();
    for found in HREF.captures_iter(html) {
        let href = found[1].replace("&amp;", "&");
        // Children are linked relatively; absolute links are the parent directory or elsewhere.
        if href.contains('?')
            || href.contains("://")
            || href.starts_with('/')
            || !href.ends_with('/')
        {
            continue;
        }
        let Some(name) = href.trim_end_matches('/').rsplit('/').next() else {
            continue;
        };
        if name.is_empty() || name == ".." || name == "." {
            continue;
        }
        // The date sits after the link on the same row, before the next link. A row may link
        // a folder twice (icon and name, Apache tables); the date follows the last one.
        let end = found.get(0).map_or(0, |m| m.end());
        let rest = html.get(end..).unwrap_or_default();
        let line = rest.split('\n').next().unwrap_or_default();
        let row = line.split("href").next().unwrap_or_default();
        let modified = DATE.captures(row).and_then(|c| date_of(&c));
        match out.iter_mut().find(|f| f.name == name) {
            Some(seen) => seen.modified = seen.modified.take().or(modified),
            None => out.push(Folder {
                name: name.to_owned(),
                modified,
            }),
        }
    }
    out
}

fn date_of(c: &regex::Captures<'_>) -> Option<String> {
    if let Some(iso) = c.get(1) {
        return Some(iso.as_str().to_owned());
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == &c[3])? + 1;
    Some(format!("{}-{month:02}-{}", &c[4], &c[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../shared/fixtures/upstream/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).expect("fixture")
    }

    fn names(folders: &[Folder]) -> Vec<&str> {
        folders.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn ubuntu_pre_listing() {
        let folders = folders(&fixture("ubuntu2404/index.html"));
        assert_eq!(
            names(&folders),
            [
                "20260307", "20260321", "20260323", "20260518", "20260615", "20260705", "current"
            ]
        );
        assert_eq!(folders[0].modified.as_deref(), Some("2026-03-11"));
    }

    #[test]
    fn debian_table_listing() {
        let folders = folders(&fixture("debian13/index.html"));
        let names = names(&folders);
        assert_eq!(names.first(), Some(&"20260319-2421"));
        assert_eq!(&names[names.len() - 2..], ["20260717-2542", "latest"]);
        assert!(
            !names.contains(&"trixie"),
            "parent directory skipped: {names:?}"
        );
        assert_eq!(folders[0].modified.as_deref(), Some("2026-03-19"));
    }

    #[test]
    fn nginx_listing_with_day_month_year_dates() {
        let html = "<a href=\"../\">../</a>\n<a href=\"0.6.3/\">0.6.3/</a>   26-Sep-2024 10:00  -\n<a href=\"0.6.2/\">0.6.2/</a>   30-May-2023 09:00  -\n<a href=\"README\">README</a>\n";
        let folders = folders(html);
        assert_eq!(names(&folders), ["0.6.3", "0.6.2"]);
        assert_eq!(folders[0].modified.as_deref(), Some("2024-09-26"));
    }
}
