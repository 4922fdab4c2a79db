//! Property and mutation tests of catalog loading: real catalogs (the osism ones and the
//! starter catalog), broken the ways people and editors break them, alone and in multi-file
//! runs. Whatever the bytes, loading and validation must not panic, and every diagnostic and
//! every definition position must point at a place that exists in the file it names.
//!
//! A normal test run tries a bounded number of cases; `ci/fuzz.sh` runs them for longer.

use std::path::Path;

use proptest::prelude::*;

use super::{Loaded, Severity, from_files};

/// `cases` per property in a normal run. `PROPTEST_CASES` (set by `ci/fuzz.sh`) overrides it;
/// every other `PROPTEST_*` variable (e.g. `PROPTEST_RNG_SEED`) is honoured as usual. Failures
/// are not saved under `proptest-regressions/`: each finding becomes a plain regression test.
pub(crate) fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// Real catalogs: the osism repository's files and this repository's starter catalog.
fn seeds() -> &'static [String] {
    static SEEDS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let osism = root.join("../shared/fixtures/osism-catalog");
        ["ubuntu.yml", "debian.yml", "cirros.yml"]
            .iter()
            .map(|f| osism.join(f))
            .chain(["cirros.yaml", "capi.yaml"].map(|f| root.join("images.d").join(f)))
            .map(|p| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}")))
            .collect()
    });
    &SEEDS
}

/// Values a hand-edited catalog ends up with where another type belongs.
const SCALARS: &[&str] = &[
    "[]",
    "{}",
    "x",
    "\"x\"",
    "''",
    "-1",
    "0",
    "18446744073709551616",
    "1.5e300",
    ".nan",
    "true",
    "no",
    "null",
    "~",
    "qcow3",
    "2026-13-45",
    "sha256:",
    "md5:zz",
    "[1, [2, {a: b}]]",
    "&a x",
    "*a",
    "!!binary aGk=",
    "|\n  text",
    "'unterminated",
    "- name: B",
];

/// One edit of a catalog's text. Positions are taken modulo the text's length when applied.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// The value after a line's first `: ` becomes another scalar or collection.
    ReplaceValue(usize, &'static str),
    /// The value after a line's first `: ` becomes arbitrary text.
    ReplaceValueWith(usize, String),
    /// Indentation grows or shrinks (tabs included: YAML forbids them for indentation).
    Indent(usize, &'static str),
    Dedent(usize, usize),
    ReplaceLine(usize, String),
    Truncate(usize),
    InsertText(usize, String),
    InsertBytes(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        at.prop_map(Mutation::DeleteLine),
        at.prop_map(Mutation::DuplicateLine),
        (at, at).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (at, prop::sample::select(SCALARS)).prop_map(|(a, s)| Mutation::ReplaceValue(a, s)),
        (at, "\\PC{0,12}").prop_map(|(a, s)| Mutation::ReplaceValueWith(a, s)),
        (at, prop::sample::select(&["  ", "\t", " ", "    - "][..]))
            .prop_map(|(a, s)| Mutation::Indent(a, s)),
        (at, 1..8usize).prop_map(|(a, n)| Mutation::Dedent(a, n)),
        (at, prop::sample::select(SCALARS))
            .prop_map(|(a, s)| Mutation::ReplaceLine(a, format!("  - name: {s}"))),
        at.prop_map(Mutation::Truncate),
        (at, ".{0,8}").prop_map(|(a, s)| Mutation::InsertText(a, s)),
        (
            at,
            "[\t\r\n \u{feff}\u{2028}\u{85}:#&*!|>'\"%@`{}\\[\\],-]{1,4}"
        )
            .prop_map(|(a, s)| Mutation::InsertText(a, s)),
        (at, prop::collection::vec(any::<u8>(), 1..6))
            .prop_map(|(a, b)| Mutation::InsertBytes(a, b)),
    ]
}

/// Applies `m` to `bytes`; line edits split on `\n` and work on any bytes.
fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let n = lines.len();
    let value_start = |line: &[u8]| line.windows(2).position(|w| w == b": ").map(|i| i + 2);
    match m {
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => lines.insert(i % n, lines[i % n].clone()),
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::ReplaceValue(i, value) => {
            let line = &mut lines[i % n];
            let start = value_start(line).unwrap_or(line.len());
            line.truncate(start);
            line.extend_from_slice(value.as_bytes());
        }
        Mutation::ReplaceValueWith(i, value) => {
            let line = &mut lines[i % n];
            let start = value_start(line).unwrap_or(line.len());
            line.truncate(start);
            line.extend_from_slice(value.as_bytes());
        }
        Mutation::Indent(i, prefix) => {
            lines[i % n].splice(0..0, prefix.bytes());
        }
        Mutation::Dedent(i, k) => {
            let line = &mut lines[i % n];
            let spaces = line.iter().take_while(|b| **b == b' ').count();
            line.drain(..spaces.min(*k));
        }
        Mutation::ReplaceLine(i, text) => lines[i % n] = text.as_bytes().to_vec(),
        Mutation::Truncate(at) => {
            let keep = at % (bytes.len() + 1);
            bytes.truncate(keep);
            return;
        }
        Mutation::InsertText(at, text) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, text.bytes());
            return;
        }
        Mutation::InsertBytes(at, inserted) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, inserted.iter().copied());
            return;
        }
    }
    *bytes = lines.join(&b'\n');
}

/// File content that prints as text in a failure report (proptest shows `Debug`).
#[derive(Clone)]
pub(crate) struct File(pub(crate) Vec<u8>);

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// A mutated copy of a seed catalog: 0–4 edits (0 keeps it valid, as most files of a run are).
fn catalog_file() -> impl Strategy<Value = File> {
    (0..seeds().len(), prop::collection::vec(mutation(), 0..5)).prop_map(|(seed, mutations)| {
        let mut bytes = seeds()[seed].as_bytes().to_vec();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        File(bytes)
    })
}

/// The lines of `text` as a YAML parser counts them (`\r\n`, `\r` and `\n` end a line).
fn lines_of(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        match rest.find(['\r', '\n']) {
            Some(i) => {
                out.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                out.push(rest);
                return out;
            }
        }
    }
}

/// Whether `line:column` exists in `bytes`: a real line (or the empty one after the last line
/// break) and a column at most one past its last character.
fn exists(bytes: &[u8], line: u32, column: u32) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let lines = lines_of(&text);
    let (Ok(line), Ok(column)) = (usize::try_from(line), usize::try_from(column)) else {
        return false;
    };
    line >= 1
        && column >= 1
        && lines
            .get(line - 1)
            .is_some_and(|l| column <= l.chars().count() + 1)
}

/// Loads `files` (named `f0.yaml`, `f1.yaml`, …) and checks every position the result holds.
pub(crate) fn load_and_check(files: &[Vec<u8>]) -> Result<Loaded, TestCaseError> {
    let names: Vec<String> = (0..files.len()).map(|i| format!("f{i}.yaml")).collect();
    let named: Vec<(&str, &[u8])> = names
        .iter()
        .zip(files)
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let loaded = from_files(&named);
    let bytes_of = |path: &Path| {
        names
            .iter()
            .position(|n| Path::new(n) == path)
            .map(|i| &files[i])
    };
    // The SCS lint of `validate` (check's testcases over the catalog) points into it too.
    let scs = crate::check::lint(&loaded.catalog, chrono::Utc::now());
    for d in loaded.diagnostics.iter().chain(&scs) {
        let at = &d.location;
        let bytes = bytes_of(&at.file);
        prop_assert!(bytes.is_some(), "{d}: no such file");
        prop_assert!(
            exists(bytes.unwrap_or(&Vec::new()), at.line, at.column),
            "{d}: no such position"
        );
    }
    let catalog = &loaded.catalog;
    for definition in &catalog.definitions {
        let origin = definition.origin;
        let bytes = bytes_of(catalog.path_of(origin));
        prop_assert!(bytes.is_some(), "{}: file not loaded", definition.name);
        let bytes = bytes.unwrap_or(&files[0]);
        for relative in ["", "name", "versions/0/url", "meta/os_distro"] {
            let at = catalog.locate(origin, relative);
            prop_assert_eq!(at.file.as_path(), catalog.path_of(origin));
            prop_assert!(exists(bytes, at.line, at.column), "{relative}: {at}");
        }
        // The key `name` and its value are where this file says: positions come from the
        // definition's own file, not from another one with the same shape.
        let text = String::from_utf8_lossy(bytes);
        let line_at = |at: &super::Location| lines_of(&text)[at.line as usize - 1].to_owned();
        let key = catalog.locate_key(origin, "name");
        prop_assert!(line_at(&key).contains("name"), "{key}: {:?}", line_at(&key));
        let name = &definition.name;
        let simple = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " .-_()".contains(c));
        let value = catalog.locate(origin, "name");
        let line = line_at(&value);
        // A tag (`!!binary aGk=`) or an alias (`*a`) writes a name other than it reads.
        let literal = !line.contains(['!', '*']);
        if simple && literal && !name.is_empty() {
            prop_assert!(line.contains(name.as_str()), "{value}: {name}");
        }
    }
    // What `plan`, `apply` and `check` do next with a catalog that passed.
    if !loaded.has_errors() {
        let options = crate::desired::Options::test("managed_by_image_manager");
        crate::desired::resolve(catalog, &options);
    }
    Ok(loaded)
}

proptest! {
    #![proptest_config(config(64))]

    /// One mutated real catalog.
    #[test]
    fn prop_one_mutated_catalog_never_panics(file in catalog_file()) {
        load_and_check(&[file.0])?;
    }

    /// Several files, some broken: positions never cross from one file into another.
    #[test]
    fn prop_multi_file_runs_keep_positions_in_their_file(
        files in prop::collection::vec(catalog_file(), 2..5)
    ) {
        load_and_check(&files.into_iter().map(|f| f.0).collect::<Vec<_>>())?;
    }

    /// Arbitrary text and bytes, not derived from a catalog.
    #[test]
    fn prop_arbitrary_bytes_never_panic(
        head in prop::sample::select(&["", "images:\n", "images:\n  - ", "---\nimages:\n  - name: A\n"][..]),
        tail in prop::collection::vec(any::<u8>(), 0..200),
        text in "\\PC{0,200}",
    ) {
        let mut a = head.as_bytes().to_vec();
        a.extend(tail);
        let b = format!("{head}{text}").into_bytes();
        load_and_check(&[a, b])?;
    }
}

/// The definition of a valid one-image file, with `name` and one extra line.
fn definition(name: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    format: qcow2\n    login: x\n    min_disk: 1\n    min_ram: 64\n\
         {extra}    versions:\n      - version: '1'\n        url: https://h/{name}.img\n        \
         checksum: sha256:{}\n",
        "a".repeat(64)
    )
}

/// Regression (issue #13): a valid definition followed by one the loader cannot repair made
/// every command exit 101 ("index out of bounds" in `Catalog::locate`). Each of these is such
/// a second definition; a second file follows, as in a multi-file run.
#[test]
fn an_unrepairable_definition_after_a_valid_one_gives_diagnostics() {
    let broken = [
        definition("B", "").replace("format: qcow2", "format: qcow3"),
        "  - name: B\n    format: qcow2\n    login: x\n    versions: []\n".to_owned(),
        definition("B", "    min_ram: \"x\"\n").replace("    min_ram: 64\n", ""),
        "  - name: B\n".to_owned(),
    ];
    for second in broken {
        let first = format!(
            "images:\n{}{second}{}",
            definition("A", ""),
            definition("C", "")
        );
        let other = format!("images:\n{}", definition("D", ""));
        let loaded = load_and_check(&[first.clone().into_bytes(), other.into_bytes()])
            .unwrap_or_else(|e| panic!("{e}\n{first}"));
        assert!(loaded.has_errors(), "{first}");
        let names: Vec<&str> = loaded
            .catalog
            .definitions
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["A", "C", "D"], "{first}");
        for d in loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
        {
            assert_eq!(d.location.file, Path::new("f0.yaml"), "{d}");
        }
    }
}

/// The exact files: `format: qcow3` after a valid definition, in the first of two
/// files; the second file's definitions must keep their own positions.
#[test]
fn positions_stay_in_their_own_file_after_a_rejected_definition() {
    let first = format!(
        "images:\n{}{}",
        definition("A", ""),
        definition("B", "").replace("qcow2", "qcow3")
    );
    let second = format!("images:\n{}{}", definition("C", ""), definition("D", ""));
    let loaded = load_and_check(&[first.into_bytes(), second.into_bytes()]).unwrap();
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("f0.yaml:12:13: error:"), "{errors:?}");
    let catalog = &loaded.catalog;
    let d = &catalog.definitions[2];
    assert_eq!(d.name, "D");
    assert_eq!(
        catalog.locate(d.origin, "name").to_string(),
        "f1.yaml:11:11"
    );
    let a = &catalog.definitions[0];
    assert_eq!(catalog.locate(a.origin, "name").to_string(), "f0.yaml:2:11");
}

/// A URL that does not parse is quoted in its diagnostic, but never with a password in it.
#[test]
fn invalid_urls_are_quoted_without_their_password() {
    let text = format!(
        "images:\n{}",
        definition("A", "").replace("https://h/A.img", "https://u:s3cret@[h/A.img")
    );
    let loaded = load_and_check(&[text.into_bytes()]).unwrap();
    let shown: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        shown
            .iter()
            .any(|d| d.contains("invalid-url") || d.contains("not a valid URL")),
        "{shown:?}"
    );
    assert!(!shown.iter().any(|d| d.contains("s3cret")), "{shown:?}");
}
