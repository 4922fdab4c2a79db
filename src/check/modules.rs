//! Modules (scs-0102-v1, scs-0102-v2, scs-0104-v1-2), their main and recommended testcases,
//! and the [`Report`] of one run.
//!
//! A module passes when every MAIN testcase passes; recommended testcases are reported but
//! never decide. A testcase shared by several modules runs once.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::scs0102::{self as p, TestcaseFn};
use super::{Diagnostic, Images, Level, Log, Origin, Verdict, recency, scs0104};

/// The scs-0102 testcases in the official order.
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

/// Recommended in scs-0102-v1 (certificate v5.1); v2 moves the two os_purpose ones to main.
const SCS0102_V1_RECOMMENDED: &[&str] = &[
    "scs-0102-prop-hash_algo",
    "scs-0102-prop-os_purpose",
    "scs-0102-os_purpose-uniqueness",
    "scs-0102-prop-hypervisor_type",
    "scs-0102-prop-hw_rng_model",
    "scs-0102-prop-hotfix_hours",
];
const SCS0102_V2_RECOMMENDED: &[&str] = &[
    "scs-0102-prop-hash_algo",
    "scs-0102-prop-hypervisor_type",
    "scs-0102-prop-hw_rng_model",
    "scs-0102-prop-hotfix_hours",
];
/// scs-0104-v1-2: every source testcase and the Ubuntu 24.04 image are main; the Debian 12
/// and CAPI (dash) images are recommended; other images need not exist.
const SCS0104_RECOMMENDED_IMAGES: &[&str] = &["debian-12", "capi-2"];
const SCS0104_MANDATORY_IMAGES: &[&str] = &["ubuntu-2404"];

/// A set of testcases with a verdict of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Module {
    #[serde(rename = "scs-0102-v1")]
    Scs0102V1,
    #[serde(rename = "scs-0102-v2")]
    Scs0102V2,
    #[serde(rename = "scs-0104-v1-2")]
    Scs0104V1_2,
}

impl Module {
    pub const ALL: &[Module] = &[Module::Scs0102V1, Module::Scs0102V2, Module::Scs0104V1_2];
    /// The ids `--module` accepts.
    pub const IDS: &[&str] = &["scs-0102-v1", "scs-0102-v2", "scs-0104-v1-2"];

    pub fn id(self) -> &'static str {
        match self {
            Module::Scs0102V1 => Self::IDS[0],
            Module::Scs0102V2 => Self::IDS[1],
            Module::Scs0104V1_2 => Self::IDS[2],
        }
    }

    /// Every testcase id of the module with whether it is main (`true`) or recommended.
    pub fn testcases(self) -> Vec<(String, bool)> {
        match self {
            Module::Scs0102V1 | Module::Scs0102V2 => {
                let recommended = if self == Module::Scs0102V1 {
                    SCS0102_V1_RECOMMENDED
                } else {
                    SCS0102_V2_RECOMMENDED
                };
                SCS0102
                    .iter()
                    .map(|(id, _)| ((*id).to_owned(), !recommended.contains(id)))
                    .collect()
            }
            Module::Scs0104V1_2 => {
                let standards = crate::scs::STANDARD_IMAGES;
                let sources = standards
                    .iter()
                    .map(|s| (format!("scs-0104-source-{}", s.id), true));
                let wanted = SCS0104_MANDATORY_IMAGES
                    .iter()
                    .map(|id| (format!("scs-0104-image-{id}"), true))
                    .chain(
                        SCS0104_RECOMMENDED_IMAGES
                            .iter()
                            .map(|id| (format!("scs-0104-image-{id}"), false)),
                    );
                sources.chain(wanted).collect()
            }
        }
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
        Module::ALL
            .iter()
            .copied()
            .find(|m| m.id() == s)
            .ok_or_else(|| format!("unknown module `{s}` (known: {})", Module::IDS.join(", ")))
    }
}

/// One testcase's verdict and what it logged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestcaseReport {
    pub id: String,
    pub verdict: Verdict,
    pub diagnostics: Vec<Diagnostic>,
}

/// One module's verdict: FAIL if a main testcase failed, else ABORT if one aborted, else PASS.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModuleReport {
    pub id: Module,
    pub verdict: Verdict,
    pub main: Vec<String>,
    pub recommended: Vec<String>,
}

/// Everything one `check` run found. Plain data; the CLI renders it as text or JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub format_version: &'static str,
    pub origin: Origin,
    pub checked_at: DateTime<Utc>,
    /// How many images were checked (visible, public or community).
    pub images: usize,
    /// Each testcase once, in module order.
    pub testcases: Vec<TestcaseReport>,
    pub modules: Vec<ModuleReport>,
}

impl Report {
    /// Whether every main testcase of every module passed (exit status 0).
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
        Ok(true) => Verdict::Pass,
        Ok(false) => Verdict::Fail,
        Err(abort) => {
            log.push(Level::Error, format!("testcase aborted: {}", abort.0));
            Verdict::Abort
        }
    };
    Some(TestcaseReport {
        id: id.to_owned(),
        verdict,
        diagnostics: log.0,
    })
}

/// Runs every testcase of `modules` once over `images` and gives each module its verdict.
pub fn run(modules: &[Module], images: &Images, now: DateTime<Utc>) -> Report {
    let mut testcases: Vec<TestcaseReport> = Vec::new();
    let mut reports = Vec::new();
    for &module in modules {
        let mut report = ModuleReport {
            id: module,
            verdict: Verdict::Pass,
            main: Vec::new(),
            recommended: Vec::new(),
        };
        for (id, main) in module.testcases() {
            if !testcases.iter().any(|t| t.id == id) {
                testcases.push(evaluate(&id, images, now).expect("module testcases are known"));
            }
            if main {
                report.main.push(id);
            } else {
                report.recommended.push(id);
            }
        }
        let verdict_of = |id: &String| testcases.iter().find(|t| &t.id == id).map(|t| t.verdict);
        let main: Vec<Verdict> = report.main.iter().filter_map(verdict_of).collect();
        report.verdict = if main.contains(&Verdict::Fail) {
            Verdict::Fail
        } else if main.contains(&Verdict::Abort) {
            Verdict::Abort
        } else {
            Verdict::Pass
        };
        if !reports.iter().any(|r: &ModuleReport| r.id == module) {
            reports.push(report);
        }
    }
    Report {
        format_version: "1",
        origin: images.origin,
        checked_at: now,
        images: images.images.len(),
        testcases,
        modules: reports,
    }
}
