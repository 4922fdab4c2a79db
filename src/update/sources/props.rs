//! Property tests of everything `update` reads from upstreams: directory listings, pointer
//! files, sums files and the names in them. Upstream text is untrusted (a mirror, a proxy's
//! error page, a hostile server), so whatever it holds must give an answer or an error, never
//! a panic, and what is taken from it keeps the shape later code relies on (ASCII dates).

use proptest::prelude::*;
use semver::Version as Semver;

use super::dated::{Dated, Style, dated_folders, file_in};
use super::index::{Folder, folders};
use super::{capi, cirros, dashed, debian, digest_in, file_name, generic, parent, ubuntu};
use crate::catalog::checksums::{Algorithm, ChecksumFile, Digest};
use crate::catalog::tests_props::config;

/// Folder-name material: ASCII and non-ASCII digits (fullwidth, Arabic-Indic, Devanagari,
/// mathematical), separators and the prefixes real listings use.
fn name_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,9}",
        "[０-９]{1,8}",
        "[٠-٩]{1,8}",
        "[०-९]{1,8}",
        "[𝟎-𝟗]{1,8}",
        Just("release-".to_owned()),
        Just("latest".to_owned()),
        Just("20260717".to_owned()),
        "[-._]",
        "\\PC{0,4}",
    ]
}

fn folder_name() -> impl Strategy<Value = String> {
    prop::collection::vec(name_piece(), 1..4).prop_map(|parts| parts.concat())
}

/// A "Last modified" column: well-formed, with foreign digits, or junk.
fn date_column() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}",
        "[0-9]{2}-(Jan|Feb|Xyz|Dec)-[0-9]{4} [0-9]{2}:[0-9]{2}",
        "[０-９]{4}-[０-９]{2}-[０-９]{2} [0-9]{2}:[0-9]{2}",
        "[0-9٠-٩]{2}-[A-Z][a-zé]{2}-[0-9०-९]{4} [0-9]{2}:[0-9]{2}",
        "\\PC{0,12}",
    ]
}

/// An autoindex page: rows of links with dates, plus arbitrary text between rows.
fn listing() -> impl Strategy<Value = String> {
    let row = (folder_name(), date_column(), any::<bool>(), "\\PC{0,6}").prop_map(
        |(name, date, slash, noise)| {
            let slash = if slash { "/" } else { "" };
            format!("<a href=\"{name}{slash}\">{name}{slash}</a>{noise} {date}  -\n")
        },
    );
    (prop::collection::vec(row, 0..8), "\\PC{0,40}")
        .prop_map(|(rows, noise)| format!("<pre>{noise}\n{}</pre>", rows.concat()))
}

fn is_ascii_date(s: &str, dashes: bool) -> bool {
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if dashes {
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() == 3 && digits(parts[0], 4) && digits(parts[1], 2) && digits(parts[2], 2)
    } else {
        digits(s, 8)
    }
}

/// Every use `update` makes of a listing, checked for shape.
fn read_listing(html: &str) -> Result<(), TestCaseError> {
    let found = folders(html);
    for folder in &found {
        prop_assert!(!folder.name.is_empty() && !folder.name.contains('/'));
        if let Some(modified) = &folder.modified {
            prop_assert!(is_ascii_date(modified, true), "{modified:?}");
        }
    }
    for dated in dated_folders(&found) {
        prop_assert!(is_ascii_date(&dated.date, false), "{:?}", dated.date);
        for version in [
            None,
            Some("20260101"),
            Some("20260101-1"),
            Some("2026-01-01"),
        ] {
            Style::of(version).version(&dated);
        }
        for layout in [&ubuntu::LAYOUT, &debian::LAYOUT] {
            for old in [None, Some("20260101"), Some(dated.folder.as_str())] {
                file_in(layout, "x-20260101.qcow2", old, &dated);
                file_in(layout, "noext", old, &dated);
            }
        }
    }
    cirros::newest_release(&found);
    Ok(())
}

/// Digest material of every supported length, and near misses.
fn hex() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{32}",
        "[0-9a-f]{40}",
        "[0-9A-F]{64}",
        "[0-9a-f]{128}",
        "[0-9a-fé٣]{30,70}",
    ]
}

/// A sums-file line: GNU, BSD, bare, comment, armour, or junk.
fn sums_line() -> impl Strategy<Value = String> {
    let name = "[ -~]{0,20}|\\PC{0,10}";
    prop_oneof![
        (hex(), name).prop_map(|(h, n)| format!("{h}  {n}")),
        (hex(), name).prop_map(|(h, n)| format!("{h} *{n}")),
        (
            "SHA256|SHA512|MD5|SHA1|SHA2-256|BLAKE2b|\\PC{0,4}",
            name,
            hex()
        )
            .prop_map(|(t, n, h)| format!("{t} ({n}) = {h}")),
        hex(),
        "# (SHA512|MD5|\\PC{0,4}) HASH",
        Just("-----BEGIN PGP SIGNED MESSAGE-----".to_owned()),
        Just("Hash: SHA256".to_owned()),
        Just(String::new()),
        Just("-----BEGIN PGP SIGNATURE-----".to_owned()),
        Just("-----END PGP SIGNATURE-----".to_owned()),
        "- \\PC{0,20}",
        "\\PC{0,40}",
    ]
}

fn source_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("https://h/SHA256SUMS".to_owned()),
        Just("https://h/x/MD5SUMS?a=b#c".to_owned()),
        Just("CHECKSUM".to_owned()),
        Just("x.qcow2.sha512".to_owned()),
        "\\PC{0,16}",
    ]
}

/// Every look-up `update` makes in a parsed sums file.
fn read_sums(text: &str, source: &str, wanted: &str) -> Result<(), TestCaseError> {
    if let Ok(sums) = ChecksumFile::parse(text, Some(file_name(source))) {
        for entry in &sums.entries {
            let d = &entry.digest;
            prop_assert_eq!(d.hex.len(), d.algorithm.hex_len());
            prop_assert!(
                d.hex
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
            let name = file_name(&entry.file_name);
            generic::date_in(name);
            if let Some(latest) = name.get(..name.len().min(12)) {
                generic::pinned_name(&sums, latest, d);
            }
        }
        sums.single();
        sums.find(wanted);
    }
    for file in [None, Some(wanted)] {
        let _ = digest_in(text, source, file);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn prop_listings_never_panic(html in listing()) {
        read_listing(&html)?;
    }

    #[test]
    fn prop_arbitrary_text_as_a_listing(text in "\\PC{0,300}") {
        read_listing(&text)?;
        read_listing(&format!("<a href=\"{text}/\">x</a> {text}"))?;
    }

    #[test]
    fn prop_sums_files_never_panic(
        lines in prop::collection::vec(sums_line(), 0..12),
        crlf in any::<bool>(),
        source in source_name(),
        wanted in "\\PC{0,20}",
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        read_sums(&text, &source, &wanted)?;
    }

    #[test]
    fn prop_pointer_files_never_panic(
        date in "[0-9]{4}-[0-9]{2}-[0-9]{2}|[０-９]{4}-[0-9]{2}-[0-9]{2}|\\PC{0,10}",
        path in "(\\./)?[a-z0-9-]{0,12}(/[a-z0-9.-]{0,20})?-v[0-9٠-٩]{1,20}\\.[0-9]{1,20}\\.[0-9]{1,20}(\\.qcow2)?|\\PC{0,30}",
        noise in "\\PC{0,20}",
    ) {
        for text in [format!("{date} {path}\n"), format!("\n {date}\t{path} \n{noise}"), noise.clone()] {
            if let Some(pointer) = capi::parse_pointer(&text) {
                prop_assert!(is_ascii_date(&pointer.date, true), "{:?}", pointer.date);
                capi::minors(&[pointer.version]);
            }
        }
    }

    #[test]
    fn prop_minors_never_overflow(versions in prop::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 0..5)) {
        let versions: Vec<Semver> = versions.into_iter().map(|(a, b, c)| Semver::new(a, b, c)).collect();
        capi::minors(&versions);
    }

    #[test]
    fn prop_url_helpers_never_panic(url in "(https?://)?\\PC{0,30}", name in "\\PC{0,12}", n in 0..4usize) {
        parent(&url, n);
        file_name(&url);
        generic::pinned_url(&url, &name);
        dashed(&name);
    }
}

/// Regression (issue #13): folder names of non-ASCII digits matched `\d{8}` and were then
/// cut at byte 4 (`dashed`), inside a character: `update` panicked.
#[test]
fn fullwidth_digit_folders_are_not_dated() {
    let html = "<pre><a href=\"２０２５０１０１/\">２０２５０１０１/</a> ２０２５-０１-０１ 10:00  -\n\
                <a href=\"20250102/\">20250102/</a> 2025-01-02 10:00  -\n</pre>";
    let found = folders(html);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].modified, None);
    let dated = dated_folders(&found);
    assert_eq!(
        dated,
        [Dated {
            folder: "20250102".into(),
            date: "20250102".into()
        }]
    );
    assert_eq!(dashed("２０２５０１０１"), "２０２５０１０１");
    assert_eq!(generic::date_in("x-２０２６０５２６.qcow2"), None);
    assert_eq!(
        capi::parse_pointer("２０２６-０７-３０ a/b-v1.33.10.qcow2"),
        None
    );
    let folder = |name: &str| Folder {
        name: name.into(),
        modified: None,
    };
    assert!(cirros::newest_release(&[folder("０.６.３")]).is_none());
}

/// Regression: a Kubernetes minor of `u64::MAX` overflowed computing the next one to probe.
#[test]
fn the_last_possible_minor_has_no_next() {
    let v = Semver::new(1, u64::MAX, 0);
    assert_eq!(capi::minors(&[v]), [((1, u64::MAX), false)]);
}

/// Regression: the pinned URL was cut at the length of the file name, which a query made
/// land inside a character.
#[test]
fn pinned_urls_keep_the_folder_and_query() {
    assert_eq!(
        generic::pinned_url("https://h/a/x-latest.img", "x-1.img"),
        "https://h/a/x-1.img"
    );
    assert_eq!(
        generic::pinned_url("https://h/a/x-latest.img?éééééééa", "x-1.img"),
        "https://h/a/x-1.img?éééééééa"
    );
    assert_eq!(generic::pinned_url("x-latest.img", "x-1.img"), "x-1.img");
}

/// A sums file that names only the algorithm's digest length it was built for.
#[test]
fn digests_are_lowercase_of_the_right_length() {
    let hex = "A".repeat(64);
    let sums = ChecksumFile::parse(&format!("{hex}  x.img\n"), Some("SHA256SUMS")).unwrap();
    assert_eq!(
        sums.find("x.img").map(|e| &e.digest),
        Some(&Digest::new(Algorithm::Sha256, &hex.to_lowercase()).unwrap())
    );
}
