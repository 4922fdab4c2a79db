//! Comment-preserving edits of catalog text: add a version entry, drop old ones.
//!
//! The file is never re-serialised. Each edit parses the current text into byte ranges
//! ([`super::spans`]) and splices text in or out at whole lines, so every comment, key order,
//! quoting and indentation outside the edited entry stays byte for byte. A new entry is built
//! from the newest existing entry of the same list (its keys, their order, the text between a
//! key and its value, the quoting style of each value), so it looks like its neighbours.

use std::cmp::Ordering;

use super::spans::{self, Kind, Node};
use crate::catalog::version::compare;

/// The values of a version entry `update` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewVersion {
    pub(crate) version: String,
    pub(crate) url: String,
    /// `algo:hex`.
    pub(crate) checksum: String,
    /// `YYYY-MM-DD`.
    pub(crate) build_date: String,
    /// The sums (or single-digest) file next to `url`; written only where the template entry
    /// has `checksums_url`/`checksum_url`.
    pub(crate) sums_url: Option<String>,
    /// The copy of this build in the definition's mirror (derived with the mirror layout).
    pub(crate) mirror_url: Option<String>,
    /// Whether that copy was verified into the bucket (`update --mirror`); not written.
    pub(crate) mirrored: bool,
}

/// Why an edit could not be made; the file is then left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The text is not YAML (it was valid when loaded, so this follows an earlier edit).
    #[error("cannot parse the catalog text: {0}")]
    Syntax(String),
    /// No `images[index].versions` list in the text.
    #[error("no `versions:` list for definition #{0} in the file")]
    NotFound(usize),
    /// `versions:` is empty, so there is no entry whose layout a new one could copy.
    #[error("the `versions:` list is empty: there is no entry to copy the layout from")]
    NoTemplate,
    /// A layout this editor does not touch (flow style, a key that holds a collection).
    #[error("cannot edit this layout: {0}")]
    Unsupported(String),
}

/// Adds `new` as an entry of `images[image].versions`, where it belongs in the list's order
/// (ascending, or newest first when the list runs that way).
pub(crate) fn add_version(
    text: &str,
    image: usize,
    new: &NewVersion,
) -> Result<String, RewriteError> {
    let root = spans::parse(text).map_err(RewriteError::Syntax)?;
    let entries = versions(&root, text, image)?;
    let template = newest(entries).ok_or(RewriteError::NoTemplate)?;
    let dash = dash_prefix(text, template)?;
    let indent = " ".repeat(template.start - line_start(text, template.start));
    let entry = render_entry(text, template, new)?;
    let entry = format!("{dash}{}\n", entry.join(&format!("\n{indent}")));

    // Keep the list's order: after the last older entry (ascending lists), or before the first
    // older one (newest-first lists).
    let (first, last) = (&entries[0], &entries[entries.len() - 1]);
    let newest_first =
        entries.len() > 1 && compare(version_of(first), version_of(last)) == Ordering::Greater;
    let older = |e: &&Node| compare(version_of(e), &new.version) == Ordering::Less;
    let at = if newest_first {
        match entries.iter().find(older) {
            Some(before) => line_start(text, before.start),
            None => line_end(text, last.end),
        }
    } else {
        match entries.iter().rev().find(older) {
            Some(after) => line_end(text, after.end),
            None => line_start(text, first.start),
        }
    };
    let mut out = String::with_capacity(text.len() + entry.len() + 1);
    out.push_str(&text[..at]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&entry);
    out.push_str(&text[at..]);
    Ok(out)
}

/// Removes all but the newest `keep` versions of `images[image]` (natural version order;
/// `latest` entries are always kept). Returns the new text and the versions removed.
pub(crate) fn keep_newest(
    text: &str,
    image: usize,
    keep: usize,
) -> Result<(String, Vec<String>), RewriteError> {
    let root = spans::parse(text).map_err(RewriteError::Syntax)?;
    let entries = versions(&root, text, image)?;
    let mut dated: Vec<&Node> = entries
        .iter()
        .filter(|e| version_of(e) != "latest")
        .collect();
    dated.sort_by(|a, b| compare(version_of(b), version_of(a)));
    let mut dropped: Vec<&Node> = dated.into_iter().skip(keep).collect();
    dropped.sort_by_key(|e| std::cmp::Reverse(e.start));
    let mut out = text.to_owned();
    for entry in &dropped {
        dash_prefix(text, entry)?;
        let (from, to) = (line_start(text, entry.start), line_end(text, entry.end));
        out.replace_range(from..to, "");
    }
    let mut names: Vec<String> = dropped.iter().map(|e| version_of(e).to_owned()).collect();
    names.reverse();
    Ok((out, names))
}

/// Sets `mirror_url` of the entry `version` of `images[image]` to `url`: the value is replaced
/// in its quoting style when the key exists, else a line is added after `url`, laid out like
/// it (same indentation, same text between key and value).
pub(crate) fn set_mirror_url(
    text: &str,
    image: usize,
    version: &str,
    url: &str,
) -> Result<String, RewriteError> {
    let root = spans::parse(text).map_err(RewriteError::Syntax)?;
    let entries = versions(&root, text, image)?;
    let entry = entries
        .iter()
        .find(|e| version_of(e) == version)
        .ok_or_else(|| RewriteError::Unsupported(format!("no version `{version}` in the list")))?;
    let mut out = text.to_owned();
    if let Some(found) = entry.entry("mirror_url") {
        let (_, value) = scalar_entry(found)?;
        let written = &text[value.start..value.end];
        out.replace_range(value.start..value.end, &quote_like(url, written));
        return Ok(out);
    }
    let found = entry.entry("url").ok_or(RewriteError::NoTemplate)?;
    let (key, value) = scalar_entry(found)?;
    let indent = " ".repeat(key.start - line_start(text, key.start));
    let line = format!(
        "{indent}mirror_url{}{}\n",
        &text[key.end..value.start],
        plain_or_quoted(url)
    );
    let mut at = line_end(text, value.end);
    if at == text.len() && !text.ends_with('\n') {
        out.push('\n');
        at = out.len();
    }
    out.insert_str(at, &line);
    Ok(out)
}

/// A mapping entry whose value is a scalar written after its key.
fn scalar_entry<'a>(
    (key, value): (&'a Node, &'a Node),
) -> Result<(&'a Node, &'a Node), RewriteError> {
    if matches!(value.kind, Kind::Scalar(_)) && value.start >= key.end {
        Ok((key, value))
    } else {
        let name = key.scalar().unwrap_or_default();
        Err(RewriteError::Unsupported(format!(
            "`{name}` is not a scalar"
        )))
    }
}

/// The entries of `images[image].versions`, checked to be block mappings.
fn versions<'a>(root: &'a Node, text: &str, image: usize) -> Result<&'a [Node], RewriteError> {
    let list = root
        .get("images")
        .and_then(|images| images.items().get(image))
        .and_then(|definition| definition.get("versions"))
        .ok_or(RewriteError::NotFound(image))?;
    if !matches!(list.kind, Kind::Seq(_)) || text[list.start..].starts_with('[') {
        return Err(RewriteError::Unsupported(
            "`versions:` is not a block list (`- version: …` lines)".into(),
        ));
    }
    let entries = list.items();
    for entry in entries {
        if !matches!(entry.kind, Kind::Map(_)) || text[entry.start..].starts_with('{') {
            return Err(RewriteError::Unsupported(
                "a version entry is not a block mapping".into(),
            ));
        }
    }
    Ok(entries)
}

/// The entry with the newest version (not `latest`), else the last one.
fn newest(entries: &[Node]) -> Option<&Node> {
    entries
        .iter()
        .filter(|e| version_of(e) != "latest")
        .max_by(|a, b| compare(version_of(a), version_of(b)))
        .or(entries.last())
}

fn version_of(entry: &Node) -> &str {
    entry.get("version").and_then(Node::scalar).unwrap_or("")
}

/// The text before an entry's first key on its line, e.g. `      - `.
fn dash_prefix<'a>(text: &'a str, entry: &Node) -> Result<&'a str, RewriteError> {
    let prefix = &text[line_start(text, entry.start)..entry.start];
    let dash = prefix.trim_start_matches(' ');
    if dash.starts_with('-') && dash.len() > 1 && dash[1..].bytes().all(|b| b == b' ') {
        Ok(prefix)
    } else {
        Err(RewriteError::Unsupported(
            "a version entry does not start with `- key:` on its line".into(),
        ))
    }
}

/// The lines (without the dash prefix and indentation) of a new entry shaped like `template`.
fn render_entry(
    text: &str,
    template: &Node,
    new: &NewVersion,
) -> Result<Vec<String>, RewriteError> {
    let Kind::Map(fields) = &template.kind else {
        return Err(RewriteError::NoTemplate);
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    for (key, value) in fields {
        let name = key.scalar().unwrap_or_default();
        let set = |new_value: &str| -> Result<String, RewriteError> {
            if !matches!(value.kind, Kind::Scalar(_)) || value.start < key.end {
                return Err(RewriteError::Unsupported(format!(
                    "`{name}` is not a scalar"
                )));
            }
            let written = &text[value.start..value.end];
            Ok(format!(
                "{}{}{}",
                &text[key.start..key.end],
                &text[key.end..value.start],
                quote_like(new_value, written)
            ))
        };
        let line = match name {
            "version" => set(&new.version)?,
            "url" => set(&new.url)?,
            "checksum" => set(&new.checksum)?,
            "build_date" => set(&new.build_date)?,
            "checksums_url" | "checksum_url" => match &new.sums_url {
                Some(url) => set(url)?,
                None => continue,
            },
            "mirror_url" => match &new.mirror_url {
                Some(url) => set(url)?,
                None => continue,
            },
            // A fixed image UUID belongs to the old build only.
            "id" => continue,
            _ => text[key.start..value.end.max(key.end)].to_owned(),
        };
        lines.push((name.to_owned(), line));
    }
    // Keys the template lacks: the checksum after the url, the build date after the checksum.
    let separator = |of: &str| {
        fields
            .iter()
            .find(|(k, v)| k.scalar() == Some(of) && v.start >= k.end)
            .map_or(": ", |(k, v)| &text[k.end..v.start])
    };
    let position = |lines: &[(String, String)], after: &str| {
        lines
            .iter()
            .position(|(n, _)| n == after)
            .map_or(lines.len(), |i| i + 1)
    };
    if !lines.iter().any(|(n, _)| n == "checksum") {
        let at = position(&lines, "url");
        let line = format!(
            "checksum{}{}",
            separator("url"),
            plain_or_quoted(&new.checksum)
        );
        lines.insert(at, ("checksum".into(), line));
    }
    if let Some(url) = &new.mirror_url
        && !lines.iter().any(|(n, _)| n == "mirror_url")
    {
        let at = position(&lines, "url");
        let line = format!("mirror_url{}{}", separator("url"), plain_or_quoted(url));
        lines.insert(at, ("mirror_url".into(), line));
    }
    if !lines.iter().any(|(n, _)| n == "build_date") {
        let at = position(&lines, "checksum");
        let line = format!(
            "build_date{}{}",
            separator("version"),
            plain_or_quoted(&new.build_date)
        );
        lines.insert(at, ("build_date".into(), line));
    }
    Ok(lines.into_iter().map(|(_, line)| line).collect())
}

/// `value` in the quoting style of `written` (a template's value as written): single or double
/// quotes when it used them, plain when it was plain and plain reads back as the same string.
fn quote_like(value: &str, written: &str) -> String {
    match written.chars().next() {
        Some('\'') => single_quoted(value),
        Some('"') => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
        _ => plain_or_quoted(value),
    }
}

fn plain_or_quoted(value: &str) -> String {
    if plain_is_string(value) {
        value.to_owned()
    } else {
        single_quoted(value)
    }
}

fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Whether `value` written without quotes reads back as this same string (not a number, bool,
/// null, or YAML syntax).
fn plain_is_string(value: &str) -> bool {
    const WORDS: [&str; 13] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", ".nan",
    ];
    let Some(first) = value.chars().next() else {
        return false;
    };
    !(value.trim() != value
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || value.contains(": ")
        || value.contains(" #")
        || value.ends_with(':')
        || value.contains('\n')
        || value.parse::<f64>().is_ok()
        || value.parse::<i64>().is_ok()
        || value.starts_with("0x")
        || value.starts_with("0o")
        || WORDS.contains(&value.to_ascii_lowercase().as_str()))
}

/// Byte index of the start of the line holding `pos`.
fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// Byte index just past the newline ending the line that holds the byte before `end`.
fn line_end(text: &str, end: usize) -> usize {
    let last = end.saturating_sub(1);
    let bytes = &text.as_bytes()[last..];
    bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| last + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = "\
# top comment
images:
  - name: A  # trailing comment
    versions:
      # oldest first
      - version: '20260101'
        url: https://h/x/20260101/a.img
        checksum: sha256:aaaa
        build_date: 2026-01-01
      - version: '20260201'
        url: https://h/x/20260201/a.img
        mirror_url: https://mirror/a.img
        checksum: sha256:bbbb
        build_date: 2026-02-01
        image_description: \"kept as written\"

  - name: B
    versions:
      - version: v1.2.3
        url:
          https://h/b/v1.2/b-v1.2.3.qcow2
        checksums_url:
          https://h/b/v1.2/b-v1.2.3.qcow2.CHECKSUM
";

    fn new(version: &str) -> NewVersion {
        NewVersion {
            version: version.into(),
            url: format!("https://h/x/{version}/a.img"),
            checksum: "sha256:cccc".into(),
            build_date: "2026-03-01".into(),
            sums_url: Some("https://h/x/SUMS".into()),
            mirror_url: None,
            mirrored: false,
        }
    }

    #[test]
    fn appends_an_entry_shaped_like_the_newest() {
        let out = add_version(CATALOG, 0, &new("20260301")).unwrap();
        let expected = CATALOG.replace(
            "\"kept as written\"\n",
            "\"kept as written\"\n      - version: '20260301'\n        url: https://h/x/20260301/a.img\n        checksum: sha256:cccc\n        build_date: 2026-03-01\n        image_description: \"kept as written\"\n",
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn adds_missing_keys_with_the_layout_of_their_neighbours() {
        let mut b = new("v1.2.4");
        b.url = "https://h/b/v1.2/b-v1.2.4.qcow2".into();
        b.sums_url = Some("https://h/b/v1.2/b-v1.2.4.qcow2.CHECKSUM".into());
        let out = add_version(CATALOG, 1, &b).unwrap();
        assert!(out.starts_with(CATALOG), "{out}");
        assert_eq!(
            &out[CATALOG.len()..],
            "      - version: v1.2.4\n        url:\n          https://h/b/v1.2/b-v1.2.4.qcow2\n        checksum:\n          sha256:cccc\n        build_date: 2026-03-01\n        checksums_url:\n          https://h/b/v1.2/b-v1.2.4.qcow2.CHECKSUM\n"
        );
    }

    #[test]
    fn newest_first_lists_get_the_entry_on_top() {
        let text = "images:\n  - name: A\n    versions:\n      - version: \"2\"\n        url: u2\n      - version: \"1\"\n        url: u1\n";
        let out = add_version(text, 0, &new("3")).unwrap();
        assert!(out.contains("versions:\n      - version: \"3\"\n        url: https://h/x/3/a.img\n        checksum: sha256:cccc\n        build_date: 2026-03-01\n      - version: \"2\""), "{out}");
    }

    #[test]
    fn an_entry_goes_where_its_version_sorts() {
        let text = "images:\n  - name: A\n    versions:\n      - version: v1.33.9\n        url: a\n      - version: v1.34.2\n        url: b\n";
        let out = add_version(text, 0, &new("v1.33.10")).unwrap();
        let positions: Vec<usize> = ["v1.33.9", "v1.33.10", "v1.34.2"]
            .iter()
            .map(|v| out.find(&format!("version: {v}\n")).unwrap())
            .collect();
        assert!(positions.is_sorted(), "{out}");
    }

    #[test]
    fn keep_newest_removes_whole_entries_only() {
        let (out, dropped) = keep_newest(CATALOG, 0, 1).unwrap();
        assert_eq!(dropped, ["20260101"]);
        let start = CATALOG.find("      - version: '20260101'").unwrap();
        let end = CATALOG.find("      - version: '20260201'").unwrap();
        let mut expected = CATALOG.to_owned();
        expected.replace_range(start..end, "");
        assert_eq!(out, expected);
        let (same, none) = keep_newest(CATALOG, 0, 5).unwrap();
        assert_eq!((same.as_str(), none.len()), (CATALOG, 0));
    }

    #[test]
    fn refuses_flow_style_and_empty_lists() {
        let flow = "images:\n  - name: A\n    versions: [{version: '1', url: u}]\n";
        assert!(matches!(
            add_version(flow, 0, &new("2")),
            Err(RewriteError::Unsupported(_))
        ));
        let empty = "images:\n  - name: A\n    versions: []\n";
        assert!(add_version(empty, 0, &new("2")).is_err());
        assert_eq!(
            add_version(CATALOG, 7, &new("2")),
            Err(RewriteError::NotFound(7))
        );
    }

    #[test]
    fn a_new_version_gets_its_mirror_url_where_the_template_has_one() {
        let mut build = new("20260301");
        build.mirror_url = Some("https://mirror/20260301-a.img".into());
        let out = add_version(CATALOG, 0, &build).unwrap();
        assert!(
            out.contains("      - version: '20260301'\n        url: https://h/x/20260301/a.img\n        mirror_url: https://mirror/20260301-a.img\n        checksum: sha256:cccc\n"),
            "{out}"
        );
        // Without a mirror_url in the template it goes after `url`, laid out like `url`.
        let mut b = new("v1.2.4");
        b.mirror_url = Some("https://mirror/b.qcow2".into());
        let out = add_version(CATALOG, 1, &b).unwrap();
        assert!(
            out.ends_with("        url:\n          https://h/x/v1.2.4/a.img\n        mirror_url:\n          https://mirror/b.qcow2\n        checksum:\n          sha256:cccc\n        build_date: 2026-03-01\n        checksums_url:\n          https://h/x/SUMS\n"),
            "{out}"
        );
    }

    #[test]
    fn mirror_urls_are_replaced_or_added_in_place() {
        let out = set_mirror_url(CATALOG, 0, "20260201", "https://m/new.img").unwrap();
        assert_eq!(
            out,
            CATALOG.replace(
                "mirror_url: https://mirror/a.img",
                "mirror_url: https://m/new.img"
            )
        );
        let out = set_mirror_url(CATALOG, 0, "20260101", "https://m/old.img").unwrap();
        assert_eq!(
            out,
            CATALOG.replace(
                "url: https://h/x/20260101/a.img\n",
                "url: https://h/x/20260101/a.img\n        mirror_url: https://m/old.img\n"
            )
        );
        let out = set_mirror_url(CATALOG, 1, "v1.2.3", "https://m/b.qcow2").unwrap();
        assert_eq!(
            out,
            CATALOG.replace(
                "https://h/b/v1.2/b-v1.2.3.qcow2\n",
                "https://h/b/v1.2/b-v1.2.3.qcow2\n        mirror_url:\n          https://m/b.qcow2\n"
            )
        );
        let no_newline =
            "images:\n  - name: A\n    versions:\n      - version: '1'\n        url: u";
        let out = set_mirror_url(no_newline, 0, "1", "https://m/1").unwrap();
        assert_eq!(
            out,
            format!("{no_newline}\n        mirror_url: https://m/1\n")
        );
        assert!(set_mirror_url(CATALOG, 0, "nope", "https://m/x").is_err());
    }

    #[test]
    fn quoting_follows_the_template_and_stays_a_string() {
        assert_eq!(quote_like("20260301", "'20260101'"), "'20260301'");
        assert_eq!(quote_like("a\"b", "\"x\""), "\"a\\\"b\"");
        assert_eq!(quote_like("v1.2.4", "v1.2.3"), "v1.2.4");
        assert_eq!(quote_like("0.6.4", "0.6.3"), "0.6.4");
        for needs_quotes in ["24.04", "20260101", "yes", "", "a: b", "#x", "1e3"] {
            assert!(
                quote_like(needs_quotes, "plain").starts_with('\''),
                "{needs_quotes}"
            );
        }
        assert_eq!(plain_or_quoted("2026-03-01"), "2026-03-01");
    }
}
