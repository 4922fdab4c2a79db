//! `image-manager apply`: plan, show, confirm, execute, report.
//!
//! The same pipeline as `plan` up to the plan itself (the same functions), then
//! `apply::apply` with the terminal's progress hooks. Deletes are never implicit: a plan that
//! prunes by deleting needs `--yes`, or a "yes" typed at a terminal. Step failures do not stop
//! the run; they make it exit 1 after everything else was done.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::SecondsFormat;

use super::Exit;
use super::args::{ApplyArgs, OutputFormat};
use super::cloud::connect;
use super::output;
use super::progress::{ProgressMode, hooks};
use super::reconcile::{self, Config};
use crate::apply::{self, Outcome, Report, Target};
use crate::glance::{GlanceClient, Held, Holder, LockOptions};
use crate::plan::{Action, Phase, Plan};
use crate::transfer::fetch::FetchOptions;

/// The top-level entry point for `apply`: takes every cloud's apply lock, then plans and
/// executes under it, and releases the locks however the run ends.
pub async fn run(args: &ApplyArgs, quiet: bool, fetch: FetchOptions) -> anyhow::Result<Exit> {
    let config = Config::resolve(&args.selection, "applied")?;
    let clients = connect(&config.clouds).await?;
    let locks = lock(&clients, args).await?;
    let result = locked(args, &config, &clients, quiet, fetch).await;
    for held in locks {
        held.release().await;
    }
    result
}

/// Takes the apply lock of every cloud, in the order of their names so that two runs over
/// overlapping sets of clouds cannot wait for each other in a circle.
async fn lock(clients: &[Arc<GlanceClient>], args: &ApplyArgs) -> anyhow::Result<Vec<Held>> {
    let options = LockOptions {
        scope: args.selection.tag.clone(),
        lease: Duration::from_secs(args.lock_lease),
        wait: Duration::from_secs(args.lock_wait),
    };
    let mut order: Vec<&Arc<GlanceClient>> = clients.iter().collect();
    order.sort_by_key(|c| c.cloud().to_owned());
    let mut locks = Vec::new();
    for client in order {
        let waiting = |holder: &Holder| {
            eprintln!(
                "cloud {}: another apply holds the lock ({}, lease until {}); waiting up to {} s",
                client.cloud(),
                holder.who,
                holder.expires.to_rfc3339_opts(SecondsFormat::Secs, true),
                args.lock_wait
            );
        };
        match client.lock(&options, &waiting).await {
            Ok(held) => locks.push(held),
            Err(error) => {
                for held in locks {
                    held.release().await;
                }
                return Err(anyhow::Error::new(error).context(format!(
                    "cloud `{}`: taking the apply lock (nothing was changed)",
                    client.cloud()
                )));
            }
        }
    }
    Ok(locks)
}

/// Observe, plan, confirm, execute and report, with the locks held.
async fn locked(
    args: &ApplyArgs,
    config: &Config,
    clients: &[Arc<GlanceClient>],
    quiet: bool,
    fetch: FetchOptions,
) -> anyhow::Result<Exit> {
    let observed = config.observe(clients).await?;
    let targets: Vec<Target> = clients
        .iter()
        .zip(&observed)
        .map(|(client, observed)| Target {
            plan: config.plan(observed),
            client: Arc::clone(client),
        })
        .collect();
    let plans: Vec<Plan> = targets.iter().map(|t| t.plan.clone()).collect();
    if args.output == OutputFormat::Text {
        reconcile::print(&plans, OutputFormat::Text)?;
    }
    confirm_deletes(&plans, args.yes)?;
    let options = apply::Options {
        parallel: usize::from(args.parallel),
        import_timeout: Duration::from_secs(args.import_timeout),
        fetch,
    };
    let report = apply::apply(targets, &options, hooks(ProgressMode::detect(quiet)))
        .await
        .context("starting apply")?;
    summarize(&report, args.output)?;
    Ok(if report.failed() > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// Refuses a plan that deletes images unless `--yes` was given or a person at a terminal
/// agrees. The deletes of never-published leftovers (the tool's own) need no confirmation.
fn confirm_deletes(plans: &[Plan], yes: bool) -> anyhow::Result<()> {
    let deletes = plans
        .iter()
        .flat_map(|p| &p.steps)
        .filter(|s| s.phase == Phase::Prune && matches!(s.action, Action::Delete { .. }))
        .count();
    if deletes == 0 || yes {
        return Ok(());
    }
    let images = if deletes == 1 { "image" } else { "images" };
    if io::stdin().is_terminal() && io::stderr().is_terminal() {
        eprint!("The plan deletes {deletes} {images}. Type `yes` to go on: ");
        io::stderr().flush()?;
        let mut answer = String::new();
        io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() == "yes" {
            return Ok(());
        }
    }
    anyhow::bail!(
        "the plan deletes {deletes} {images}; pass --yes to allow it (nothing was changed)"
    )
}

/// The report as JSON, or one summary line per cloud.
fn summarize(report: &Report, format: OutputFormat) -> anyhow::Result<()> {
    output::stdout(|stdout| match format {
        OutputFormat::Json => output::json(stdout, report),
        OutputFormat::Text => report.clouds.iter().try_for_each(|cloud| {
            let count = |outcome: fn(&Outcome) -> bool| {
                cloud.entries.iter().filter(|e| outcome(&e.outcome)).count()
            };
            writeln!(
                stdout,
                "\nApply {}: {} done, {} failed, {} skipped, {} in use ({} Glance API calls, \
                 {} retried, {} uploads recreated)",
                cloud.cloud,
                count(|o| matches!(o, Outcome::Done)),
                count(|o| matches!(o, Outcome::Failed { .. })),
                count(|o| matches!(o, Outcome::Skipped { .. })),
                count(|o| matches!(o, Outcome::InUse { .. })),
                cloud.api_calls,
                cloud.retries,
                cloud.recreated_uploads
            )
        }),
    })
}
