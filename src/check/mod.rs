//! SCS compliance checks (scs-0102 image metadata, scs-0104 standard images). Pure.
//!
//! The official suite (`Tests/iaas/openstack_test.py` of SovereignCloudStack/standards) is
//! the reference: the same testcase ids, the same offenders, the same PASS / FAIL / ABORT. An
//! operator runs `check` to learn what the certification run will say, so where the official
//! code has quirks (the last space-separated name token as the outdated marker, a missing
//! `provided_until` aborting a testcase, Python's date parsing) we reproduce them instead of
//! the standard's prose. Each testcase is a function over [`Images`] — the images as the
//! checker sees them — with `now` as a parameter; the CLI builds [`Images`] from a Glance
//! listing ([`Images::from_observed`]) or from the catalog ([`Images::from_catalog`]), and
//! `validate` runs the same testcases over the catalog ([`lint`]), so each rule has one
//! implementation.
//!
//! Besides the official verdicts there is `SKIP`: a testcase the current mode cannot judge
//! (offline, Glance has not yet chosen `os_hash_algo` nor stored a size). A skip is never a
//! pass in disguise: the module line names it, and it does not change the exit status.
//!
//! Files: `spec.rs` (every testcase id and module, as data), `scs0102.rs` (property
//! testcases, build date, os_purpose uniqueness), `recency.rs` (`scs-0102-image-recency`),
//! `scs0104.rs` (standard images), `dates.rs` (Python `strptime`), `modules.rs` (modules and
//! the report), `lint.rs` (the same testcases over a catalog, as `validate` warnings at the
//! offending definitions).

mod dates;
mod lint;
mod modules;
mod recency;
mod regression;
mod scs0102;
mod scs0104;
mod spec;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_inputs;
#[cfg(test)]
mod tests_lint;
#[cfg(test)]
mod tests_recency;
#[cfg(test)]
mod tests_spec;
#[cfg(test)]
mod tests_states;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::desired::{self, DesiredState, Identity, properties};
use crate::glance::{ObservedState, Visibility};
pub use lint::lint;
pub use modules::{Module, ModuleReport, Report, TestcaseReport, evaluate, run, run_everything};
pub use regression::{Regression, regressions};

/// One image as the official checks see it: the fields they read, nothing else.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Image {
    pub name: String,
    /// `public` or `community` (nothing else is checked).
    pub visibility: String,
    pub os_hidden: bool,
    /// GiB.
    pub min_disk: u64,
    /// MiB.
    pub min_ram: u64,
    /// Bytes stored. `None` from Glance: no data uploaded yet; from the catalog: unknown.
    pub size: Option<u64>,
    /// `None` from Glance: no data yet; from the catalog: unknown (Glance picks it on upload).
    pub os_hash_algo: Option<String>,
    /// Glance's registration time; for catalog images, `now`.
    pub created_at: Option<DateTime<Utc>>,
    pub properties: BTreeMap<String, String>,
}

impl Image {
    /// A property value, if set (an empty string is set, as in Python).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }
}

/// Where the checked images came from, which decides what "unknown" means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A live Glance listing: a missing size or hash algorithm is what Glance reported.
    Glance,
    /// The catalog (`check --offline`): size and hash algorithm exist only after upload, so
    /// the parts of testcases that need them are skipped with a note.
    Catalog,
}

/// The images every testcase looks at, in the order of the official listing: duplicate names
/// resolve to the LAST image of this list, as in the official `{img.name: img}` look-ups.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Images {
    pub origin: Origin,
    pub images: Vec<Image>,
    /// Only part of what a member would see: a catalog (which may be one of several that
    /// publish to the cloud) or a listing scoped to a tag. A missing standard image may be
    /// published by the rest, so its hint names `--module`.
    pub partial: bool,
}

/// The official suite keeps images with these visibilities (and Glance leaves hidden ones
/// out of every listing).
fn is_checked(visibility: &str, hidden: bool) -> bool {
    !hidden && matches!(visibility, "public" | "community")
}

impl Images {
    /// The images of a Glance listing the official suite would check: not hidden, public or
    /// community. Ordered as Glance's default listing (newest `created_at` first, then id
    /// descending), so for duplicate names the OLDEST image is the one a name look-up finds —
    /// as in the official run.
    pub fn from_observed(state: &ObservedState) -> Images {
        let mut listed: Vec<_> = state
            .images
            .iter()
            .filter(|i| is_checked(i.visibility.as_str(), i.os_hidden))
            .collect();
        listed.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        let images = listed
            .into_iter()
            .map(|i| Image {
                name: i.name.clone(),
                visibility: i.visibility.as_str().to_owned(),
                os_hidden: i.os_hidden,
                min_disk: i.min_disk,
                min_ram: i.min_ram,
                size: i.size,
                os_hash_algo: i.os_hash_algo.clone(),
                created_at: i.created_at,
                properties: i.properties.clone(),
            })
            .collect();
        Images {
            origin: Origin::Glance,
            images,
            partial: false,
        }
    }

    /// The images the catalog would put in Glance that the official suite would check (not
    /// hidden, public or community), as if all were registered at `now`. Catalog order; for
    /// duplicate names the newest version of the last definition wins.
    pub fn from_desired(state: &DesiredState, now: DateTime<Utc>) -> Images {
        Images::desired(state, now, true)
    }

    /// The desired images the official suite checks (`checked`), or the others.
    fn desired(state: &DesiredState, now: DateTime<Utc>, checked: bool) -> Images {
        let images = state
            .definitions
            .iter()
            .flat_map(|d| &d.images)
            .filter(|i| is_checked(i.visibility.as_str(), i.hidden) == checked)
            .map(|i| Image {
                name: i.name.clone(),
                visibility: i.visibility.as_str().to_owned(),
                os_hidden: i.hidden,
                min_disk: i.min_disk,
                min_ram: i.min_ram,
                size: None,
                os_hash_algo: None,
                created_at: Some(now),
                properties: i.properties.clone(),
            })
            .collect();
        Images {
            origin: Origin::Catalog,
            images,
            partial: true,
        }
    }

    /// What `check --offline` and the `validate` lint check: [`Images::from_desired`] of every
    /// enabled definition of a catalog, retention evaluated on `now`'s day.
    pub fn from_catalog(catalog: &Catalog, now: DateTime<Utc>) -> Images {
        Images::from_desired(&resolved(catalog, now), now)
    }

    /// The catalog's images the official suite does not see (private, shared, hidden). The
    /// lint still judges each of them on its own: publishing one is a one-line change.
    pub(crate) fn unchecked_in(catalog: &Catalog, now: DateTime<Utc>) -> Images {
        Images::desired(&resolved(catalog, now), now, false)
    }

    /// Name look-up with the official semantics: the last image of a name wins.
    pub(crate) fn by_name(&self) -> BTreeMap<&str, &Image> {
        self.images.iter().map(|i| (i.name.as_str(), i)).collect()
    }
}

/// Every enabled definition of `catalog`, retention evaluated on `now`'s day.
fn resolved(catalog: &Catalog, now: DateTime<Utc>) -> DesiredState {
    let options = desired::Options {
        // No testcase reads tags: any ownership tag gives the same images.
        managed_tag: String::new(),
        filter: None,
        today: now.date_naive(),
    };
    desired::resolve(catalog, &options)
}

/// A testcase's result, as the official harness reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    /// The official code raised an exception (e.g. a missing key it indexes): neither pass
    /// nor fail.
    Abort,
    /// Not ours to judge in this mode: nothing failed, but what decides the testcase is not
    /// known yet (offline: the hash algorithm and sizes Glance sets on upload). Never
    /// reported by the official suite, which always runs against a cloud.
    Skip,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Abort => "ABORT",
            Verdict::Skip => "SKIP",
        })
    }
}

/// Severity of a diagnostic: Python logging's level names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        })
    }
}

/// One `LEVEL: message` line; messages name the offending images.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub level: Level,
    pub message: String,
    /// The names of the images the line is about (also in `message`), so the catalog lint
    /// can point at the definitions behind them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// How to fix it, where the official message does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// For each of `images`, the catalog definition and version behind it, if known (from
    /// `image_name` / `internal_version`): names are not unique, identities are.
    #[serde(skip)]
    pub(crate) identities: Vec<Option<Identity>>,
}

impl Diagnostic {
    /// A line about the given images (none: about the listing as a whole).
    pub(crate) fn about(level: Level, images: &[&Image], message: impl Into<String>) -> Self {
        let identity = |image: &Image| {
            Some(Identity {
                definition: image.property(properties::IMAGE_NAME)?.to_owned(),
                version: image.property(properties::INTERNAL_VERSION)?.to_owned(),
            })
        };
        Diagnostic {
            level,
            message: message.into(),
            images: images.iter().map(|i| i.name.clone()).collect(),
            hint: None,
            identities: images.iter().map(|i| identity(i)).collect(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `message`, then `; hint` (as catalog diagnostics print theirs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// What a testcase function writes while it runs.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) lines: Vec<Diagnostic>,
    /// Part of the testcase could not be judged in this mode: a pass becomes SKIP.
    pub(crate) skipped: bool,
}

impl Log {
    /// A line about the given images (none: about the listing as a whole).
    pub(crate) fn about(&mut self, level: Level, images: &[&Image], message: impl Into<String>) {
        self.lines.push(Diagnostic::about(level, images, message));
    }

    pub(crate) fn push(&mut self, level: Level, message: impl Into<String>) {
        self.about(level, &[], message);
    }

    pub(crate) fn error(&mut self, message: impl Into<String>) {
        self.push(Level::Error, message);
    }

    pub(crate) fn info(&mut self, message: impl Into<String>) {
        self.push(Level::Info, message);
    }

    /// Adds a hint to the last line.
    pub(crate) fn hint(&mut self, hint: impl Into<String>) {
        if let Some(last) = self.lines.last_mut() {
            last.hint = Some(hint.into());
        }
    }

    /// Part of the testcase cannot be judged in this mode; says which, as an INFO line.
    pub(crate) fn skip(&mut self, message: impl Into<String>) {
        self.info(message);
        self.skipped = true;
    }

    /// The official `_log_error(cause, offenders)`: one line naming every offender.
    pub(crate) fn offenders(&mut self, level: Level, cause: &str, offenders: &[&Image]) {
        if offenders.is_empty() {
            return;
        }
        let names: Vec<&str> = offenders.iter().map(|i| i.name.as_str()).collect();
        let message = format!("{cause} for image(s): {}", names.join(", "));
        self.about(level, offenders, message);
    }
}

/// Why a testcase aborted: the exception the official code would have raised, as the ERROR
/// line naming the image that made it raise.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Abort(pub(crate) Diagnostic);

impl Abort {
    pub(crate) fn at(image: &Image, message: impl Into<String>) -> Abort {
        let message = format!("testcase aborted: {}", message.into());
        Abort(Diagnostic::about(Level::Error, &[image], message))
    }
}

/// A testcase function's answer: pass (`true`), fail (`false`) or abort.
pub(crate) type Outcome = Result<bool, Abort>;

/// Whether a Glance listing looks like an admin's view, which the official suite refuses
/// (it runs as a plain member and counts only what a member sees). `GlanceClient` does not
/// expose the token's roles, so this reads the listing: a member sees the private and
/// community images of its own project only, so private or community images of two or more
/// owners mean the credentials see other projects' images. It cannot tell when no other
/// project has such images. Returns the explanation for the warning.
pub fn admin_view_hint(state: &ObservedState) -> Option<String> {
    let owners: BTreeSet<&str> = state
        .images
        .iter()
        .filter(|i| matches!(i.visibility, Visibility::Private | Visibility::Community))
        .filter_map(|i| i.owner.as_deref())
        .collect();
    (owners.len() > 1).then(|| {
        format!(
            "cloud `{}` shows private or community images of {} projects: these credentials \
             look like an admin's; the official suite runs as a plain member and sees only \
             its own project's community images, so verdicts here may differ",
            state.cloud,
            owners.len()
        )
    })
}
