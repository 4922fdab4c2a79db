//! Executing a plan: streamed, verified uploads, then renames, publication and pruning.
//!
//! `apply` carries out exactly the steps `plan` decided, phase by phase, with bounded
//! concurrency; it never decides anything itself (it does not read `Reason`). What it adds is
//! mechanism: how bytes get in (`create`) and are proven right (`verify`), why a step failed
//! (`error`), how a plain step runs (`steps`), in what order and how many at once
//! (`executor`), and what is told to whom (`hooks`, `report`).
//!
//! Several clouds are applied together: their plans run phase by phase side by side, and one
//! catalog version missing in several clouds is downloaded once for all of them.

mod create;
pub mod error;
mod executor;
pub mod hooks;
pub mod report;
mod steps;
mod verify;

use std::sync::Arc;
use std::time::Duration;

pub use hooks::{Hooks, NoHooks, TransferProgress};
pub use report::{CloudReport, Entry, Outcome, Report, Transfer};

use crate::catalog::Method;
use crate::catalog::checksums::Algorithm;
use crate::glance::{GlanceClient, ObservedState};
use crate::plan::Plan;
use crate::transfer::fetch::FetchOptions;

/// One cloud and what to do there.
pub struct Target {
    pub client: Arc<GlanceClient>,
    pub plan: Plan,
    /// The cloud's `os_hash_algo`, computed while streaming so `os_hash_value` can be compared
    /// without reading the image back ([`hash_algorithm`]).
    pub hash_algo: Algorithm,
}

/// How to apply (operator choices, not catalog content).
#[derive(Clone, Debug)]
pub struct Options {
    /// Steps (and transfers) running at once, across clouds (`--parallel`).
    pub parallel: usize,
    /// `--method` for every new image; `None`: each version's catalog `method`.
    pub method: Option<Method>,
    /// Bound on an import (or an upload's activation) once the bytes are in.
    pub import_timeout: Duration,
    pub fetch: FetchOptions,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            parallel: 4,
            method: None,
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

/// The algorithm a cloud hashes with, guessed from the images it holds (Glance's
/// `hashing_algorithm`, sha512 unless an operator changed it).
pub fn hash_algorithm(observed: &ObservedState) -> Algorithm {
    let mut counts = std::collections::BTreeMap::new();
    for image in &observed.images {
        if let Some(algorithm) = image.os_hash_algo.as_deref().and_then(Algorithm::from_name) {
            *counts.entry(algorithm).or_insert(0usize) += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map_or(Algorithm::Sha512, |(algorithm, _)| algorithm)
}
