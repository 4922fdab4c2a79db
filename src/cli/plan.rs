//! `image-manager plan`: what `apply` would change in Glance, and nothing else.
//!
//! Read-only by construction: the only Glance calls are one observation per cloud
//! (`GlanceClient::observe`: the listing and the import methods); the plan itself is the pure
//! `plan::plan`. A plan with versions it cannot serve (`Plan::errors`) is printed and the run
//! fails (exit 1), as `apply` would. A catalog with
//! errors is never planned from: its diagnostics go to stderr and the run fails. Plans go to
//! stdout (text or JSON), logs and errors to stderr.

use super::Exit;
use super::args::PlanArgs;
use super::cloud::connect;
use super::reconcile::{self, Config};
use crate::plan::Plan;

/// The top-level entry point for `plan`: resolve, observe, plan, render.
pub async fn run(args: &PlanArgs) -> anyhow::Result<Exit> {
    let config = Config::resolve(&args.selection, "planned")?;
    let clients = connect(&config.clouds).await?;
    let observed = config.observe(&clients).await?;
    let plans: Vec<Plan> = observed.iter().map(|state| config.plan(state)).collect();
    reconcile::print(&plans, args.output)?;
    let changes = plans.iter().any(|p| !p.is_empty());
    Ok(if plans.iter().any(|p| !p.errors.is_empty()) {
        Exit::Failure
    } else if changes && args.detailed_exitcode {
        Exit::Changes
    } else {
        Exit::Success
    })
}
