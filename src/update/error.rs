//! Errors that stop `update` as a whole. Problems with one definition's upstream are not here:
//! they become that definition's [`super::Outcome`] and the others proceed.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalog paths cannot be read.
    #[error(transparent)]
    Load(#[from] crate::catalog::Error),
    /// The catalog has errors before any edit: edits could not be checked against it.
    #[error(
        "the catalog has {errors} error(s); fix them first (`image-manager validate` lists them)"
    )]
    InvalidCatalog { errors: usize },
    /// The HTTP client could not be set up (CA bundle, `--allow-file-urls` directory, …).
    #[error("cannot set up the HTTP client")]
    Client(#[source] crate::transfer::Error),
    /// A catalog file could not be read again for editing.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The scratch copy used to validate edits could not be made.
    #[error("cannot write the scratch copy {}", path.display())]
    Scratch {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `mirror_url` could not be recorded in a catalog file (`mirror --write`).
    #[error("cannot record a mirror_url in {}", path.display())]
    Edit {
        path: PathBuf,
        #[source]
        source: super::RewriteError,
    },
    /// Writing an edited catalog file failed.
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
