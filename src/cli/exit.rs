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
