//! `image-manager plan`: what `apply` would change in Glance, and nothing else.
//!
//! Read-only by construction: the only Glance calls are one observation per cloud
//! (`GlanceClient::observe`: the listing and the import methods); the plan itself is the pure
//! `plan::plan`. A plan with versions it cannot serve (`Plan::errors`) is printed and the run
//! fails (exit 1), as `apply` would. A catalog with
//! errors is never planned from: its diagnostics go to stderr and the run fails. Plans go to
//! stdout (text or JSON), logs and errors to stderr.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;

use super::Exit;
use super::args::{OutputFormat, PlanArgs, Selection};
use crate::catalog::Catalog;
use crate::check;
use crate::desired::{self, DesiredState};
use crate::glance::retry::RetryPolicy;
use crate::glance::{self, ConnectOptions, GlanceClient, ObservedState};
use crate::plan::{self, Plan, Policy, json, render};

/// The top-level entry point for `plan`: load, resolve, observe, plan, render.
pub async fn run(args: &PlanArgs) -> anyhow::Result<Exit> {
    let catalog = super::valid_catalog(&args.selection.catalog_paths(), "planned")?;
    let desired = resolve(&catalog, &args.selection);
    let clients = connect(&args.selection).await?;
    let observed = observe(&clients).await?;
    let policy = policy(&args.selection);
    let plans: Vec<Plan> = observed
        .iter()
        .map(|state| plan::plan(&desired, state, &policy))
        .collect();
    for state in &observed {
        warn_scs_regressions(state, &desired, &policy.managed_tag);
    }
    print(&plans, args.output).context("writing the plan to stdout")?;
    let changes = plans.iter().any(|p| !p.is_empty());
    Ok(if plans.iter().any(|p| !p.errors.is_empty()) {
        Exit::Failure
    } else if changes && args.detailed_exitcode {
        Exit::Changes
    } else {
        Exit::Success
    })
}

/// The desired state of the definitions `--filter` selects, with retention as of today (UTC).
pub(super) fn resolve(catalog: &Catalog, args: &Selection) -> DesiredState {
    let options = desired::Options {
        managed_tag: args.tag.clone(),
        filter: args.filter.clone(),
        today: Utc::now().date_naive(),
    };
    let desired = desired::resolve(catalog, &options);
    if let Some(filter) = &args.filter
        && desired.definitions.is_empty()
    {
        tracing::warn!("--filter {filter} matches no enabled definition");
    }
    desired
}

/// What `--tag` and `--prune` ask of the planner.
pub(super) fn policy(args: &Selection) -> Policy {
    Policy {
        managed_tag: args.tag.clone(),
        prune: args.prune,
        method: args.method,
    }
}

/// Connects to every cloud, all at once. No `--cloud`: the cloud `OS_CLOUD` names, or the
/// `OS_*` variables. The retry schedule and budget of `--retries`/`--retry-budget` go to
/// every client.
pub(super) async fn connect(args: &Selection) -> anyhow::Result<Vec<Arc<GlanceClient>>> {
    let clouds: Vec<Option<&str>> = if args.clouds.is_empty() {
        vec![None]
    } else {
        args.clouds.iter().map(|c| Some(c.as_str())).collect()
    };
    let options = |cloud: Option<&str>| ConnectOptions {
        cloud: cloud.map(str::to_owned),
        retry: RetryPolicy {
            max_attempts: args.retries,
            ..glance::retry::default_policy()
        },
        retry_budget: args.retry_budget,
        ..ConnectOptions::default()
    };
    futures::future::try_join_all(clouds.into_iter().map(|cloud| async move {
        let label = cloud.unwrap_or("from OS_CLOUD / OS_* variables");
        GlanceClient::connect(&options(cloud))
            .await
            .map(Arc::new)
            .map_err(|e| in_cloud(label, e))
    }))
    .await
}

/// Lists every cloud once, all at once.
pub(super) async fn observe(clients: &[Arc<GlanceClient>]) -> anyhow::Result<Vec<ObservedState>> {
    futures::future::try_join_all(clients.iter().map(|client| async move {
        let observed = client
            .observe()
            .await
            .map_err(|e| in_cloud(client.cloud(), e))?;
        tracing::info!(
            "cloud {}: {} images observed in {} Glance API calls",
            client.cloud(),
            observed.images.len(),
            client.api_calls()
        );
        Ok(observed)
    }))
    .await
}

/// Warns (stderr) about SCS main testcases that pass now and would fail once Glance matches
/// the catalog, so an operator hears it before the certification run does.
pub(super) fn warn_scs_regressions(
    observed: &ObservedState,
    desired: &DesiredState,
    managed_tag: &str,
) {
    let now = Utc::now();
    let before = check::Images::from_observed(observed);
    let after = check::after(observed, desired, managed_tag, now);
    for regression in check::regressions(&before, &after, now) {
        tracing::warn!(
            "cloud {}: after this plan, SCS testcase {} would fail (it passes now): {}",
            observed.cloud,
            regression.testcase,
            regression.messages.join("; ")
        );
    }
}

/// Names the cloud in an error, unless the error already does (or is about configuration).
fn in_cloud(cloud: &str, error: glance::Error) -> anyhow::Error {
    match error {
        glance::Error::Auth { .. }
        | glance::Error::Endpoint { .. }
        | glance::Error::Config { .. } => error.into(),
        _ => anyhow::Error::new(error).context(format!("cloud `{cloud}`")),
    }
}

/// Writes the plans to stdout; a closed pipe (`plan | head`) is not an error.
pub(super) fn print(plans: &[Plan], output: OutputFormat) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    let written = match output {
        OutputFormat::Text => {
            let color = io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            plans.iter().enumerate().try_for_each(|(n, plan)| {
                let gap = if n == 0 { "" } else { "\n" };
                write!(stdout, "{gap}{}", render::text(plan, color))
            })
        }
        OutputFormat::Json => writeln!(stdout, "{}", json::to_string(plans)),
    };
    match written.and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
