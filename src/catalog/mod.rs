//! The catalog: image definitions read from YAML files, validated, with positions.
//!
//! This is the first stage of every command. It owns the file format (the osism
//! openstack-image-manager format plus optional extensions), loading with source positions,
//! JSON-Schema validation and the semantic lint. It does no I/O beyond reading the files, so
//! everything here is tested with plain `#[test]`s. Later stages read [`Catalog`] only.

pub mod checksums;
mod diagnostic;
mod lint;
mod load;
mod model;
pub mod naming;
mod node;
mod schema;
#[cfg(test)]
pub(crate) mod tests_props;
pub mod version;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Location, Severity};
pub use load::{Error, load};
#[cfg(test)]
pub(crate) use load::{from_files, from_text};
pub use model::{
    Compression, Definition, DiskFormat, MemberStatus, Method, Naming, OnRotate, Origin, Share,
    Status, UpstreamKind, Version, Visibility,
};
pub use schema::SCHEMA_TEXT;

/// The default catalog location, relative to the working directory.
pub const DEFAULT_PATH: &str = "images.d";

/// One loaded catalog file and where each value sits in it.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    map: node::SourceMap,
}

/// Every definition of every loaded file that passed the schema.
#[derive(Debug, Default)]
pub struct Catalog {
    pub files: Vec<SourceFile>,
    pub definitions: Vec<Definition>,
}

/// The result of loading: what could be read, and every problem found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub catalog: Catalog,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

impl Catalog {
    /// Definitions that later stages act on (`enable: false` ones are loaded but skipped).
    pub fn enabled(&self) -> impl Iterator<Item = &Definition> {
        self.definitions.iter().filter(|d| d.enable)
    }

    /// The file a definition came from.
    pub fn path_of(&self, origin: Origin) -> &Path {
        &self.files[origin.file].path
    }

    /// The position of a value inside a definition, e.g. `versions/1/checksum`; `""` is the
    /// definition itself. Falls back to the nearest enclosing value that exists.
    pub fn locate(&self, origin: Origin, relative: &str) -> Location {
        let file = &self.files[origin.file];
        let pointer = pointer_of(origin, relative);
        self.location(origin, file.map.nearest(&pointer))
    }

    /// Like [`Catalog::locate`], but points at the key of a mapping entry when there is one.
    pub fn locate_key(&self, origin: Origin, relative: &str) -> Location {
        let file = &self.files[origin.file];
        let pointer = pointer_of(origin, relative);
        match file.map.key(&pointer) {
            Some(pos) => self.location(origin, pos),
            None => self.locate(origin, relative),
        }
    }

    fn location(&self, origin: Origin, pos: node::Pos) -> Location {
        Location {
            file: self.files[origin.file].path.clone(),
            line: pos.line,
            column: pos.column,
        }
    }
}

fn pointer_of(origin: Origin, relative: &str) -> String {
    if relative.is_empty() {
        format!("/images/{}", origin.index)
    } else {
        format!("/images/{}/{relative}", origin.index)
    }
}
