//! Property tests of checksum parsing: every real sums file of the fixtures, mutated, and
//! arbitrary digest strings. Sums files come from upstream servers (untrusted); whatever
//! they hold gives entries or an error, never a panic, and every entry is a well-formed digest.

use proptest::prelude::*;

use super::*;
use crate::catalog::tests_props::config;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/upstream/");

/// Every sums file of the fixtures, with the name it is published under.
fn seeds() -> &'static [(&'static str, String)] {
    static SEEDS: std::sync::LazyLock<Vec<(&str, String)>> = std::sync::LazyLock::new(|| {
        [
            "almalinux9/CHECKSUM",
            "centos7/sha256sum.txt",
            "centos_stream9/CHECKSUM",
            "debian13/SHA512SUMS",
            "rocky9/CHECKSUM",
            "ubuntu2404/SHA256SUMS",
        ]
        .into_iter()
        .map(|rel| {
            let text = std::fs::read_to_string(format!("{FIXTURES}{rel}")).expect(rel);
            (rel.rsplit('/').next().unwrap_or(rel), text)
        })
        .collect()
    });
    &SEEDS
}

/// A line-level or byte-level edit; positions are taken modulo the size when applied.
#[derive(Clone, Debug)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceLine(usize, String),
    Insert(usize, String),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        at.prop_map(Edit::DeleteLine),
        at.prop_map(Edit::DuplicateLine),
        (at, "\\PC{0,40}|[0-9a-fA-F]{20,140}( [*]?\\PC{0,10})?|SHA[0-9]{1,3} ?\\(\\PC{0,10}\\) ?= ?[0-9a-f]{0,130}")
            .prop_map(|(a, s)| Edit::ReplaceLine(a, s)),
        (at, "[\r\n\t %*()=#\u{feff}é٣-]{1,4}|\\PC{0,6}").prop_map(|(a, s)| Edit::Insert(a, s)),
        at.prop_map(Edit::Truncate),
    ]
}

/// Applies `e`, keeping the text valid UTF-8 (positions snap to character boundaries).
fn apply(text: &mut String, e: &Edit) {
    let boundary = |text: &str, at: usize| {
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let n = lines.len();
    match e {
        Edit::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Edit::DuplicateLine(i) => lines.insert(i % n, lines[i % n].clone()),
        Edit::ReplaceLine(i, line) => lines[i % n].clone_from(line),
        Edit::Insert(at, inserted) => {
            let at = boundary(text, *at);
            text.insert_str(at, inserted);
            return;
        }
        Edit::Truncate(at) => {
            let at = boundary(text, *at);
            text.truncate(at);
            return;
        }
    }
    *text = lines.join("\n");
}

/// The parse of `text` under `source` and every look-up on it, checked for shape.
fn parse_and_look_up(text: &str, source: Option<&str>, wanted: &str) -> Result<(), TestCaseError> {
    let Ok(sums) = ChecksumFile::parse(text, source) else {
        return Ok(());
    };
    prop_assert!(!sums.entries.is_empty());
    for entry in &sums.entries {
        let d = &entry.digest;
        prop_assert_eq!(d.hex.len(), d.algorithm.hex_len());
        prop_assert!(
            d.hex
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        // Its own text form reads back as itself.
        let again = Digest::parse(&d.to_string());
        prop_assert_eq!(again.as_ref(), Ok(d));
        prop_assert!(
            sums.find(&entry.file_name).is_some(),
            "{:?}",
            entry.file_name
        );
    }
    sums.find(wanted);
    sums.single();
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn prop_mutated_real_sums_files_never_panic(
        seed in 0..6usize,
        edits in prop::collection::vec(edit(), 0..6),
        wanted in "\\PC{0,12}|https://h/[a-z%0-9é]{0,12}(\\?x)?",
        named in any::<bool>(),
    ) {
        let (name, text) = &seeds()[seed];
        let mut text = text.clone();
        for e in &edits {
            apply(&mut text, e);
        }
        parse_and_look_up(&text, named.then_some(*name), &wanted)?;
    }

    #[test]
    fn prop_arbitrary_text_never_panics(text in "\\PC{0,400}", source in "\\PC{0,20}", wanted in "\\PC{0,20}") {
        parse_and_look_up(&text, Some(&source), &wanted)?;
        parse_and_look_up(&text, None, &wanted)?;
    }

    #[test]
    fn prop_digest_strings_never_panic(s in "\\PC{0,20}(:\\PC{0,140})?|(md5|SHA-256|sha2_512):[0-9a-fA-Fé]{0,130}") {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(d.hex.len(), d.algorithm.hex_len());
        }
        Algorithm::from_name(&s);
    }

    #[test]
    fn prop_percent_decoding_never_panics(s in "([%][0-9a-fA-Fé%]{0,3}|\\PC){0,20}") {
        percent_decode(&s);
        algorithm_from_source_name(&s);
    }
}
