//! `update`: find newer upstream builds and add them to the catalog files, keeping the files'
//! comments and layout.
//!
//! Three steps, kept apart so each is testable on its own:
//! 1. discovery ([`sources`]): per definition, ask its upstream (Ubuntu, Debian, CirrOS,
//!    Cluster-API, or generic `latest_url` + `latest_checksum_url`) for builds newer than the
//!    newest version; network, with timeouts, and a failure only affects that definition;
//! 2. rewrite ([`rewrite`]): pure text edits at the byte ranges the YAML parser reports: a new
//!    entry shaped like its neighbours, and with `--keep-versions` the oldest entries removed;
//! 3. check: the edited files are loaded and validated together with the untouched ones; if
//!    any has an error, nothing is written ([`Update::write`] refuses).

mod diff;
mod error;
mod mirrored;
mod rewrite;
mod sources;
mod spans;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use regex::Regex;
use serde::Serialize;

pub use diff::unified;
pub use error::Error;
pub use mirrored::{MirrorOptions, MirrorUrl, record_mirror_urls};
pub use rewrite::RewriteError;
pub use sources::SourceError;

use crate::catalog::{self, Catalog, Definition, Diagnostic, Severity, UpstreamKind};
use crate::redact;
use crate::transfer::fetch::{FetchOptions, Fetcher};
use crate::transfer::retry::RetryPolicy;
use rewrite::NewVersion;

/// How many definitions are asked about at once.
const CONCURRENCY: usize = 4;

/// What `update` does, resolved from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only definitions whose name matches (unanchored).
    pub filter: Option<Regex>,
    /// Keep only the newest N versions of each definition that was checked.
    pub keep_versions: Option<usize>,
    /// Bound on each upstream file read, retries included.
    pub timeout: Duration,
    /// Extra CA certificates for private mirrors ([`FetchOptions::ca_bundle`]).
    pub ca_bundle: Option<PathBuf>,
    /// Where `file:` URLs may be read ([`FetchOptions::allow_file_urls`]).
    pub allow_file_urls: Option<PathBuf>,
    /// How new builds of mirrored definitions get their `mirror_url`.
    pub mirror: MirrorOptions,
}

impl Options {
    /// The shared upstream client's options: `timeout` bounds connecting, each wait for bytes,
    /// and each whole (small) file read. Retries are few and quick: a run asks for many small
    /// files, and one failed definition does not hold back the others.
    fn fetch(&self) -> FetchOptions {
        FetchOptions {
            connect_timeout: self.timeout.min(Duration::from_secs(10)),
            read_timeout: self.timeout,
            small_file_timeout: self.timeout,
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(250),
                max_delay: Duration::from_secs(2),
            },
            ca_bundle: self.ca_bundle.clone(),
            allow_file_urls: self.allow_file_urls.clone(),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filter: None,
            keep_versions: None,
            timeout: Duration::from_secs(30),
            ca_bundle: None,
            allow_file_urls: None,
            mirror: MirrorOptions::default(),
        }
    }
}

/// How one definition fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The newest upstream build is already listed.
    Current,
    /// Versions were added or dropped.
    Updated,
    /// The upstream could not be read or the file could not be edited; see `message`.
    Failed,
    /// Not checked: no known upstream, or `enable: false`.
    Skipped,
}

/// A version added to a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Added {
    pub version: String,
    pub url: String,
    pub checksum: String,
    pub build_date: String,
    /// The copy in the definition's mirror, when its versions use one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_url: Option<String>,
    /// Whether that copy exists: verified into the bucket by `--mirror` (or found there).
    /// `false`: `apply` falls back to `url` until `image-manager mirror` copies it.
    pub mirrored: bool,
}

/// The result for one definition (also the JSON form, `--output json`).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub definition: String,
    pub file: PathBuf,
    pub upstream: Option<UpstreamKind>,
    pub status: Status,
    pub added: Vec<Added>,
    pub dropped: Vec<String>,
    /// Why it failed or was skipped.
    pub message: Option<String>,
}

/// One catalog file as it is and as `update` would write it.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: String,
    pub after: String,
}

impl FileChange {
    /// The unified diff of this change.
    pub fn diff(&self) -> String {
        unified(&self.path.display().to_string(), &self.before, &self.after)
    }
}

/// Everything one run found: per-definition outcomes, the edited files, and the validation
/// errors of the edited catalog (non-empty: nothing may be written).
#[derive(Debug)]
pub struct Update {
    pub outcomes: Vec<Outcome>,
    pub files: Vec<FileChange>,
    pub invalid: Vec<Diagnostic>,
}

impl Update {
    /// Whether any file would change.
    pub fn changed(&self) -> bool {
        !self.files.is_empty()
    }

    /// Whether any definition failed.
    pub fn failed(&self) -> bool {
        self.outcomes.iter().any(|o| o.status == Status::Failed)
    }

    /// Writes every edited file, each atomically: the new text goes to a temporary file
    /// created exclusively (`O_EXCL`, random name) next to it, so a symlink or file someone
    /// planted under a predictable name is never followed or overwritten; it gets the original's
    /// permissions and is renamed over it. Refuses, writing nothing, when the edited catalog
    /// does not validate.
    pub fn write(&self) -> Result<(), Error> {
        if !self.invalid.is_empty() {
            return Err(Error::InvalidCatalog {
                errors: self.invalid.len(),
            });
        }
        for change in &self.files {
            write_atomically(&change.path, &change.after).map_err(|source| Error::Write {
                path: change.path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Replaces `path` by `text` through an exclusive temporary file in the same directory (same
/// file system, so the rename is atomic), keeping `path`'s permissions.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let permissions = fs::metadata(path)?.permissions();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".image-manager-update-")
        .tempfile_in(dir)?;
    temporary.write_all(text.as_bytes())?;
    temporary.as_file().set_permissions(permissions)?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The top-level entry point of `update`: loads the catalog under `paths`, asks each selected
/// definition's upstream for newer builds and computes the edited files (without writing).
pub async fn update(paths: &[PathBuf], options: &Options) -> Result<Update, Error> {
    let loaded = catalog::load(paths)?;
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        return Err(Error::InvalidCatalog { errors });
    }
    let catalog = &loaded.catalog;
    let fetcher = Fetcher::new(&options.fetch()).map_err(Error::Client)?;
    let selected = catalog
        .definitions
        .iter()
        .filter(|d| options.filter.as_ref().is_none_or(|f| f.is_match(&d.name)));
    let discovered: Vec<(&Definition, Discovery)> = futures::stream::iter(selected)
        .map(|definition| {
            let fetcher = &fetcher;
            async move {
                let discovery = discover(fetcher, definition).await;
                (
                    definition,
                    with_mirror(definition, discovery, &options.mirror).await,
                )
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;

    let mut outcomes = Vec::new();
    let (files, invalid) = edit_files(catalog, |index, text, _| {
        let in_file = discovered.iter().filter(|(d, _)| d.origin.file == index);
        for (definition, discovery) in in_file {
            outcomes.push(apply(text, catalog, definition, discovery, options));
        }
        Ok(())
    })?;
    Ok(Update {
        outcomes,
        files,
        invalid,
    })
}

/// Every catalog file as `edit(file index, its text, its path)` leaves it; the files that
/// changed, and the errors of the whole catalog after the edits (nothing may be written then).
fn edit_files(
    catalog: &Catalog,
    mut edit: impl FnMut(usize, &mut String, &Path) -> Result<(), Error>,
) -> Result<(Vec<FileChange>, Vec<Diagnostic>), Error> {
    let mut files = Vec::new();
    for (index, file) in catalog.files.iter().enumerate() {
        let before = fs::read_to_string(&file.path).map_err(|source| Error::Read {
            path: file.path.clone(),
            source,
        })?;
        let mut text = before.clone();
        edit(index, &mut text, &file.path)?;
        if text != before {
            files.push(FileChange {
                path: file.path.clone(),
                before,
                after: text,
            });
        }
    }
    let invalid = check(catalog, &files)?;
    Ok((files, invalid))
}

/// What discovery found for one definition: the builds not listed yet (mirrored, where the
/// definition has a mirror), or why there are none.
enum Discovery {
    Skipped(Option<UpstreamKind>, &'static str),
    Found(UpstreamKind, Result<Vec<NewVersion>, String>),
}

async fn discover(fetcher: &Fetcher, definition: &Definition) -> Discovery {
    let kind = sources::kind_of(definition);
    match kind {
        _ if !definition.enable => Discovery::Skipped(kind, "disabled (`enable: false`)"),
        None => Discovery::Skipped(None, "no known upstream (set `upstream:`)"),
        Some(kind) => {
            let found = sources::discover(fetcher, definition, kind).await;
            let found = found
                .map(|builds| fresh(definition, &builds))
                .map_err(|error| redact::text(&chain(&error)));
            if let Err(error) = &found {
                tracing::warn!(definition = %definition.name, %error, "upstream failed");
            }
            Discovery::Found(kind, found)
        }
    }
}

/// Gives the new builds of a mirrored definition their `mirror_url` (and copies them with
/// `--mirror`); a failure fails the definition, so no `mirror_url` is written that should
/// exist and does not.
async fn with_mirror(
    definition: &Definition,
    discovery: Discovery,
    options: &MirrorOptions,
) -> Discovery {
    match discovery {
        Discovery::Found(kind, Ok(builds)) if !builds.is_empty() => {
            let found = mirrored::attach(definition, builds, options).await;
            if let Err(error) = &found {
                tracing::warn!(definition = %definition.name, %error, "mirroring failed");
            }
            Discovery::Found(kind, found)
        }
        other => other,
    }
}

/// Edits `text` for one definition and says what happened; on an edit error `text` is left
/// as it was.
fn apply(
    text: &mut String,
    catalog: &Catalog,
    definition: &Definition,
    discovery: &Discovery,
    options: &Options,
) -> Outcome {
    let mut outcome = Outcome {
        definition: definition.name.clone(),
        file: catalog.path_of(definition.origin).to_path_buf(),
        upstream: None,
        status: Status::Skipped,
        added: Vec::new(),
        dropped: Vec::new(),
        message: None,
    };
    let (kind, found) = match discovery {
        Discovery::Skipped(kind, why) => {
            outcome.upstream = *kind;
            outcome.message = Some((*why).to_owned());
            return outcome;
        }
        Discovery::Found(kind, found) => (kind, found),
    };
    outcome.upstream = Some(*kind);
    let builds = match found {
        Ok(builds) => builds,
        Err(error) => {
            outcome.status = Status::Failed;
            outcome.message = Some(error.clone());
            return outcome;
        }
    };
    match edit(text, definition.origin.index, builds, options.keep_versions) {
        Ok((edited, dropped)) => {
            *text = edited;
            outcome.added = builds.iter().map(added).collect();
            outcome.dropped = dropped;
            let changed = !outcome.added.is_empty() || !outcome.dropped.is_empty();
            outcome.status = if changed {
                Status::Updated
            } else {
                Status::Current
            };
        }
        Err(error) => {
            outcome.status = Status::Failed;
            outcome.message = Some(redact::text(&error.to_string()));
        }
    }
    outcome
}

/// The builds not listed yet (same version, URL or checksum as an entry counts as listed),
/// oldest first so entries land in order.
fn fresh(definition: &Definition, builds: &[NewVersion]) -> Vec<NewVersion> {
    let listed = |b: &NewVersion| {
        definition.versions.iter().any(|v| {
            v.version == b.version || v.url == b.url || v.checksum.as_deref() == Some(&b.checksum)
        })
    };
    let mut out: Vec<NewVersion> = builds.iter().filter(|b| !listed(b)).cloned().collect();
    out.sort_by(|a, b| catalog::version::compare(&a.version, &b.version));
    out
}

fn edit(
    text: &str,
    image: usize,
    builds: &[NewVersion],
    keep: Option<usize>,
) -> Result<(String, Vec<String>), RewriteError> {
    let mut edited = text.to_owned();
    for build in builds {
        edited = rewrite::add_version(&edited, image, build)?;
    }
    match keep {
        Some(keep) => rewrite::keep_newest(&edited, image, keep),
        None => Ok((edited, Vec::new())),
    }
}

fn added(build: &NewVersion) -> Added {
    Added {
        version: build.version.clone(),
        url: redact::text(&build.url),
        checksum: build.checksum.clone(),
        build_date: build.build_date.clone(),
        mirror_url: build.mirror_url.as_deref().map(redact::text),
        mirrored: build.mirrored,
    }
}

/// Loads the whole catalog as it would be after the edits (from a scratch copy) and returns
/// its errors, with positions in the real files.
fn check(catalog: &Catalog, changes: &[FileChange]) -> Result<Vec<Diagnostic>, Error> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let scratch = Scratch::new()?;
    let mut originals: HashMap<PathBuf, &Path> = HashMap::new();
    for (index, file) in catalog.files.iter().enumerate() {
        let copy = scratch.path().join(format!("{index:04}.yaml"));
        let text = match changes.iter().find(|c| c.path == file.path) {
            Some(change) => change.after.clone(),
            None => fs::read_to_string(&file.path).map_err(|source| Error::Read {
                path: file.path.clone(),
                source,
            })?,
        };
        fs::write(&copy, text).map_err(|source| Error::Scratch {
            path: copy.clone(),
            source,
        })?;
        originals.insert(copy, &file.path);
    }
    let loaded = catalog::load(&[scratch.path().to_path_buf()])?;
    Ok(loaded
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|mut d| {
            if let Some(original) = originals.get(&d.location.file) {
                d.location.file = original.to_path_buf();
            }
            d
        })
        .collect())
}

/// A private temporary directory (random name, mode 0700, never an existing one), removed on
/// drop.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Result<Scratch, Error> {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .prefix("image-manager-update-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()
            .map(Scratch)
            .map_err(|source| Error::Scratch {
                path: std::env::temp_dir(),
                source,
            })
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn scratch_directories_are_private_and_never_reused() {
        let (a, b) = (Scratch::new().unwrap(), Scratch::new().unwrap());
        assert_ne!(a.path(), b.path());
        let mode = fs::metadata(a.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let name = a.path().file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with("image-manager-update-") && name.len() > 25,
            "{name}"
        );
    }

    #[test]
    fn writes_keep_the_permissions_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
        write_atomically(&path, "new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o604);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
