//! Executing a plan: streamed, verified uploads, then renames, publication and pruning.
//!
//! `apply` carries out exactly the steps `plan` decided, each definition phase by phase, with
//! bounded concurrency; it never decides anything itself (it does not read `Reason`). What it adds is
//! mechanism: how bytes get in (`create`) and are proven right (`verify`), why a step failed
//! (`error`), how a plain step runs (`steps`), in what order and how many at once
//! (`executor`), and what is told to whom (`hooks`, `report`).
//!
//! Several clouds are applied together: their plans run side by side, and one catalog version
//! missing in several clouds is downloaded once for all of them.

mod create;
pub mod error;
mod executor;
pub mod hooks;
pub mod report;
mod source;
mod steps;
mod verify;

use std::sync::Arc;
use std::time::Duration;

pub use hooks::{Hooks, NoHooks, TransferProgress};
pub use report::{CloudReport, Entry, Outcome, Report, SourceKind, Transfer};

use crate::glance::GlanceClient;
use crate::plan::Plan;
use crate::transfer::fetch::FetchOptions;

/// One cloud and what to do there.
pub struct Target {
    pub client: Arc<GlanceClient>,
    pub plan: Plan,
}

/// How to apply (operator choices, not catalog content).
#[derive(Clone, Debug)]
pub struct Options {
    /// Steps (and transfers) running at once, across clouds (`--parallel`).
    pub parallel: usize,
    /// Bound on an import (or an upload's activation) once the bytes are in.
    pub import_timeout: Duration,
    pub fetch: FetchOptions,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            parallel: 4,
            import_timeout: Duration::from_secs(30 * 60),
            fetch: FetchOptions::default(),
        }
    }
}

/// Executes every target's plan and reports each step's outcome. Fails only when the run
/// cannot start (the HTTP client for upstream cannot be built); step failures are in the
/// report.
pub async fn apply(
    targets: Vec<Target>,
    options: &Options,
    hooks: Arc<dyn Hooks>,
) -> Result<Report, crate::transfer::Error> {
    executor::run(targets, options, hooks).await
}
