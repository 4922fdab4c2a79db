//! Exit codes, documented in one place (README "Exit codes" mirrors this).

use std::process::ExitCode;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; nothing wrong (`validate`: no errors).
    Success,
    /// 1: errors (invalid catalog, failed actions, unreachable cloud).
    Failure,
    /// 2: changes pending (`plan --detailed-exitcode`, `update` without `--write`).
    Changes,
    /// 64: the command line itself is wrong (unknown flag, bad value).
    Usage,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(match exit {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Changes => 2,
            Exit::Usage => 64,
        })
    }
}

/// A catalog with errors: nothing is done from it (its diagnostics were printed).
#[derive(Debug, thiserror::Error)]
#[error("the catalog has {errors} error{}; nothing was {what} (details: image-manager validate)", if *errors == 1 { "" } else { "s" })]
pub struct InvalidCatalog {
    pub errors: usize,
    pub what: &'static str,
}

/// The kind of a fatal error, for the `error.kind` of a JSON error document: `catalog` (the
/// catalog cannot be read or is invalid), `config` (clouds.yaml, no cloud selected), `auth`
/// (Keystone refused or was not reached), `glance` (Glance refused or was not reached, the apply
/// lock), `io` (local files, stdout), `runtime` (anything else). Usage errors are `usage`.
pub fn kind(error: &anyhow::Error) -> &'static str {
    use crate::glance::Error as Glance;
    for cause in error.chain() {
        if cause.is::<InvalidCatalog>() || cause.is::<crate::catalog::Error>() {
            return "catalog";
        }
        if let Some(glance) = cause.downcast_ref::<Glance>() {
            return match glance {
                Glance::Config { .. } => "config",
                Glance::Auth { .. } | Glance::Endpoint { .. } => "auth",
                _ => "glance",
            };
        }
        if cause.is::<std::io::Error>() {
            return "io";
        }
    }
    "runtime"
}
