//! Finding, reading and parsing catalog files.
//!
//! A directory contributes its `*.yaml`/`*.yml` files (not recursive, sorted, like the osism
//! tool's `etc/images/`); a file given by name is read whatever its suffix. Syntax and schema
//! problems become diagnostics, and a definition that fails the schema is left out while its
//! valid neighbours still load, so one run reports everything and later checks still run.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diagnostic::{Diagnostic, Location};
use super::model::{Definition, Origin};
use super::{Catalog, Loaded, SourceFile, lint, node, schema};

/// A catalog path that cannot be read at all (as opposed to a file with problems in it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path does not exist.
    #[error("catalog path {} does not exist", path.display())]
    NotFound { path: PathBuf },
    /// A directory without any catalog file.
    #[error("no catalog files (*.yaml, *.yml) in {}", path.display())]
    Empty { path: PathBuf },
    /// Reading a file or directory failed.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Loads every catalog file under `paths`, validates it and runs the semantic lint.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, Error> {
    let mut catalog = Catalog::default();
    let mut diagnostics = Vec::new();
    for path in files(paths)? {
        let bytes = fs::read(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        add_file(&mut catalog, &mut diagnostics, path, bytes);
    }
    Ok(finish(catalog, diagnostics))
}

/// Runs the semantic checks over what loaded and orders all findings by position.
fn finish(catalog: Catalog, mut diagnostics: Vec<Diagnostic>) -> Loaded {
    diagnostics.extend(lint::check(&catalog));
    diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
    Loaded {
        catalog,
        diagnostics,
    }
}

/// Parses, validates and reads one file into `catalog`; problems go to `diagnostics`.
fn add_file(
    catalog: &mut Catalog,
    diagnostics: &mut Vec<Diagnostic>,
    path: PathBuf,
    bytes: Vec<u8>,
) {
    let at = |line, column| Location {
        file: path.clone(),
        line,
        column,
    };
    let Ok(text) = String::from_utf8(bytes) else {
        diagnostics.push(Diagnostic::error(
            at(1, 1),
            "not-utf8",
            "the file is not UTF-8 text",
        ));
        return;
    };
    let (document, map) = match node::parse(&text) {
        Ok(parsed) => parsed,
        Err(error) => {
            let pos = error.pos;
            diagnostics.push(Diagnostic::error(
                at(pos.line.max(1), pos.column.max(1)),
                "yaml-syntax",
                error.message,
            ));
            return;
        }
    };
    if document.is_null() {
        diagnostics.push(
            Diagnostic::error(at(1, 1), "empty-file", "the file holds no catalog")
                .with_hint("a catalog starts with `images:`"),
        );
        return;
    }
    let violations = schema::validate(&document, &map, &text);
    for v in &violations {
        let mut d = Diagnostic::error(at(v.pos.line, v.pos.column), v.code, &v.message);
        d.hint = v.hint.clone();
        diagnostics.push(d);
    }
    // Read what the user evidently meant, so the semantic checks still see the definition;
    // the errors above already make the run fail. What cannot be repaired is left out.
    let document = repair(document, &violations, &text);
    let rejected: BTreeSet<Option<usize>> = schema::validate(&document, &map, &text)
        .iter()
        .map(|v| definition_index(&v.pointer))
        .collect();
    // The file goes in first, so every definition's `origin.file` names this file whatever
    // happens below; positions must never be looked up in another file's map.
    let file = catalog.files.len();
    catalog.files.push(SourceFile { path, map });
    if rejected.contains(&None) {
        return;
    }
    let entries = document["images"].as_array().cloned().unwrap_or_default();
    for (index, entry) in entries.into_iter().enumerate() {
        // Its schema errors are already reported; its neighbours still load.
        if rejected.contains(&Some(index)) {
            continue;
        }
        match serde_json::from_value::<Definition>(entry) {
            Ok(mut definition) => {
                definition.origin = Origin { file, index };
                catalog.definitions.push(definition);
            }
            // The schema admits only what the model reads; this is a bug guard.
            Err(error) => {
                let source = &catalog.files[file];
                let pos = source.map.nearest(&format!("/images/{index}"));
                diagnostics.push(Diagnostic::error(
                    Location {
                        file: source.path.clone(),
                        line: pos.line,
                        column: pos.column,
                    },
                    "model",
                    format!("cannot read this definition: {error}"),
                ));
            }
        }
    }
}

/// Loads catalog text as if read from `name` (for tests of later stages).
#[cfg(test)]
pub(crate) fn from_text(name: &str, text: &str) -> Loaded {
    from_files(&[(name, text.as_bytes())])
}

/// Loads several files' bytes as if read from their names, in order, like a multi-file run.
#[cfg(test)]
pub(crate) fn from_files(files: &[(&str, &[u8])]) -> Loaded {
    let mut catalog = Catalog::default();
    let mut diagnostics = Vec::new();
    for (name, bytes) in files {
        add_file(
            &mut catalog,
            &mut diagnostics,
            PathBuf::from(name),
            bytes.to_vec(),
        );
    }
    finish(catalog, diagnostics)
}

/// Undoes the mistakes whose intent is clear: an unquoted scalar where a string belongs
/// becomes the text written (`24.10`, not `24.1`), and an unknown key is dropped.
fn repair(mut document: Value, violations: &[schema::Violation], text: &str) -> Value {
    for v in violations {
        match v.code {
            "not-a-string" if !v.pos.raw(text).is_empty() => {
                if let Some(slot) = document.pointer_mut(&v.pointer) {
                    *slot = Value::String(v.pos.raw(text).to_owned());
                }
            }
            "unknown-key" => {
                let (parent, key) = v.pointer.rsplit_once('/').unwrap_or_default();
                if let Some(Value::Object(map)) = document.pointer_mut(parent) {
                    map.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
            }
            _ => {}
        }
    }
    document
}

/// `Some(i)` when a JSON pointer lies inside `images[i]`, `None` for file-level problems.
fn definition_index(pointer: &str) -> Option<usize> {
    let mut segments = pointer.split('/').skip(1);
    match (segments.next(), segments.next()) {
        (Some("images"), Some(index)) => index.parse().ok(),
        _ => None,
    }
}

/// The catalog files named by `paths`, in a stable order, each once.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { path: path.clone() },
            _ => Error::Read {
                path: path.clone(),
                source,
            },
        })?;
        if !meta.is_dir() {
            out.push(path.clone());
            continue;
        }
        let read_error = |source| Error::Read {
            path: path.clone(),
            source,
        };
        let mut found = Vec::new();
        for entry in fs::read_dir(path).map_err(read_error)? {
            let entry_path = entry.map_err(read_error)?.path();
            if entry_path.is_file() && is_catalog_file(&entry_path) {
                found.push(entry_path);
            }
        }
        if found.is_empty() {
            return Err(Error::Empty { path: path.clone() });
        }
        found.sort();
        out.extend(found);
    }
    let mut seen = BTreeSet::new();
    out.retain(|p| seen.insert(fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

fn is_catalog_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}
