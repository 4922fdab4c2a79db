//! Modules over the testcases of [`spec`], how a testcase id finds its code, and the
//! [`Report`] of one run.
//!
//! A module passes when every testcase that decides it passes; a skipped one is named, not
//! counted. A testcase shared by several modules runs once.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::scs0102::{self as p, TestcaseFn};
use super::spec::{self, ModuleSpec, Role};
use super::{Diagnostic, Images, Log, Origin, Verdict, recency, scs0104};

/// The code of every scs-0102 testcase (scs-0104 ids name their standard image instead).
const SCS0102: &[(&str, TestcaseFn)] = &[
    ("scs-0102-prop-architecture", p::architecture),
    ("scs-0102-prop-hash_algo", p::hash_algo),
    ("scs-0102-prop-min_disk", p::min_disk),
    ("scs-0102-prop-min_ram", p::min_ram),
    ("scs-0102-prop-os_version", p::os_version),
    ("scs-0102-prop-os_distro", p::os_distro),
    ("scs-0102-prop-os_purpose", p::os_purpose),
    ("scs-0102-prop-hw_disk_bus", p::hw_disk_bus),
    ("scs-0102-prop-hypervisor_type", p::hypervisor_type),
    ("scs-0102-prop-hw_rng_model", p::hw_rng_model),
    ("scs-0102-prop-image_build_date", p::image_build_date),
    ("scs-0102-prop-image_original_user", p::image_original_user),
    ("scs-0102-prop-image_source", p::image_source),
    ("scs-0102-prop-image_description", p::image_description),
    ("scs-0102-prop-replace_frequency", p::replace_frequency),
    ("scs-0102-prop-provided_until", p::provided_until),
    ("scs-0102-prop-uuid_validity", p::uuid_validity),
    ("scs-0102-prop-hotfix_hours", p::hotfix_hours),
    ("scs-0102-image-recency", recency::image_recency),
    ("scs-0102-os_purpose-uniqueness", p::os_purpose_uniqueness),
];

/// A set of testcases with a verdict of its own: a module of the spec (`spec.rs`),
/// deciding on its main testcases, or its `-rec` twin, deciding on the recommended ones.
#[derive(Clone, Copy, Debug)]
pub struct Module {
    spec: &'static ModuleSpec,
    rec: bool,
}

impl PartialEq for Module {
    fn eq(&self, other: &Module) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Module {}

impl Hash for Module {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl Serialize for Module {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl Module {
    /// Every module, each main one followed by its `-rec` twin.
    pub fn all() -> Vec<Module> {
        spec::MODULES
            .iter()
            .flat_map(|spec| [Module { spec, rec: false }, Module { spec, rec: true }])
            .collect()
    }

    /// The modules `check` decides on when none is named: the main ones. Their recommended
    /// testcases are still reported (and named in the module line), but, as in the
    /// certification, never decide; a `-rec` module decides only when asked for.
    pub fn defaults() -> Vec<Module> {
        Module::all().into_iter().filter(|m| !m.rec).collect()
    }

    /// The ids `--module` accepts.
    pub fn ids() -> Vec<&'static str> {
        Module::all().into_iter().map(Module::id).collect()
    }

    pub fn id(self) -> &'static str {
        if self.rec {
            self.spec.rec_id
        } else {
            self.spec.id
        }
    }

    /// Every testcase of the module with whether it decides the module (`true`): the main
    /// and then the recommended ones of a main module, the recommended ones of a `-rec` one.
    pub fn testcases(self) -> Vec<(&'static str, bool)> {
        let recommended = self.spec.with(Role::Recommended).into_iter();
        if self.rec {
            return recommended.map(|id| (id, true)).collect();
        }
        let main = self.spec.with(Role::Main).into_iter().map(|id| (id, true));
        main.chain(recommended.map(|id| (id, false))).collect()
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Module {
    type Err = String;

    fn from_str(s: &str) -> Result<Module, String> {
        Module::all()
            .into_iter()
            .find(|m| m.id() == s)
            .ok_or_else(|| format!("unknown module `{s}` (known: {})", Module::ids().join(", ")))
    }
}

/// One testcase's verdict and what it logged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestcaseReport {
    pub id: String,
    pub verdict: Verdict,
    pub diagnostics: Vec<Diagnostic>,
}

/// One module's verdict: FAIL if a deciding testcase failed, else ABORT if one aborted,
/// else PASS — with the deciding testcases that were skipped listed, as a PASS does not cover
/// them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModuleReport {
    pub id: Module,
    pub verdict: Verdict,
    /// The testcases that decide the module.
    pub main: Vec<String>,
    pub recommended: Vec<String>,
    /// Deciding testcases this mode could not judge (SKIP).
    pub skipped: Vec<String>,
}

/// Everything one `check` run found. Plain data; the CLI renders it as text or JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub format_version: &'static str,
    pub origin: Origin,
    pub checked_at: DateTime<Utc>,
    /// How many images were checked (visible, public or community).
    pub images: usize,
    /// Each testcase once, in the spec's order.
    pub testcases: Vec<TestcaseReport>,
    pub modules: Vec<ModuleReport>,
}

impl Report {
    /// Whether every deciding testcase of every module passed or was skipped (exit status 0).
    pub fn passed(&self) -> bool {
        self.modules.iter().all(|m| m.verdict == Verdict::Pass)
    }

    pub fn testcase(&self, id: &str) -> Option<&TestcaseReport> {
        self.testcases.iter().find(|t| t.id == id)
    }
}

/// Runs one testcase by its official id; `None` for an id this tool does not know.
pub fn evaluate(id: &str, images: &Images, now: DateTime<Utc>) -> Option<TestcaseReport> {
    let now_secs = now.timestamp();
    let mut log = Log::default();
    let outcome = if let Some((_, run)) = SCS0102.iter().find(|(known, _)| *known == id) {
        run(images, now_secs, &mut log)
    } else if let Some(x) = id.strip_prefix("scs-0104-source-") {
        scs0104::source(images, scs0104::standard(x)?, &mut log)
    } else if let Some(x) = id.strip_prefix("scs-0104-image-") {
        scs0104::image(images, scs0104::standard(x)?, &mut log)
    } else {
        return None;
    };
    let verdict = match outcome {
        Ok(false) => Verdict::Fail,
        Ok(true) if log.skipped => Verdict::Skip,
        Ok(true) => Verdict::Pass,
        Err(abort) => {
            log.lines.push(abort.0);
            Verdict::Abort
        }
    };
    Some(TestcaseReport {
        id: id.to_owned(),
        verdict,
        diagnostics: log.lines,
    })
}

/// Runs every testcase of `modules` once over `images` and gives each module its verdict.
pub fn run(modules: &[Module], images: &Images, now: DateTime<Utc>) -> Report {
    let wanted: BTreeSet<&str> = modules
        .iter()
        .flat_map(|m| m.testcases())
        .map(|(id, _)| id)
        .collect();
    report(&wanted, modules, images, now)
}

/// What `check` does when no module is named: every testcase the spec declares (also one no
/// module lists, as the official runner reports it), judged by the default modules.
pub fn run_everything(images: &Images, now: DateTime<Utc>) -> Report {
    let every: BTreeSet<&str> = spec::testcases().collect();
    report(&every, &Module::defaults(), images, now)
}

fn report(
    wanted: &BTreeSet<&str>,
    modules: &[Module],
    images: &Images,
    now: DateTime<Utc>,
) -> Report {
    let testcases: Vec<TestcaseReport> = spec::testcases()
        .filter(|id| wanted.contains(id))
        .map(|id| evaluate(id, images, now).expect("the spec's testcases have code"))
        .collect();
    let verdict_of = |id: &str| testcases.iter().find(|t| t.id == id).map(|t| t.verdict);
    let mut reports: Vec<ModuleReport> = Vec::new();
    for &module in modules {
        if reports.iter().any(|r| r.id == module) {
            continue;
        }
        let (main, recommended): (Vec<_>, Vec<_>) =
            module.testcases().into_iter().partition(|(_, main)| *main);
        let ids = |list: Vec<(&str, bool)>| -> Vec<String> {
            list.into_iter().map(|(id, _)| id.to_owned()).collect()
        };
        let (main, recommended) = (ids(main), ids(recommended));
        let deciding: Vec<Verdict> = main.iter().filter_map(|id| verdict_of(id)).collect();
        let verdict = if deciding.contains(&Verdict::Fail) {
            Verdict::Fail
        } else if deciding.contains(&Verdict::Abort) {
            Verdict::Abort
        } else {
            Verdict::Pass
        };
        let skipped = main
            .iter()
            .filter(|id| verdict_of(id) == Some(Verdict::Skip))
            .cloned()
            .collect();
        reports.push(ModuleReport {
            id: module,
            verdict,
            main,
            recommended,
            skipped,
        });
    }
    Report {
        format_version: "2",
        origin: images.origin,
        checked_at: now,
        images: images.images.len(),
        testcases,
        modules: reports,
    }
}
