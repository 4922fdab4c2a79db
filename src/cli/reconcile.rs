//! The front half `plan` and `apply` share: a [`Selection`] resolved into what to reconcile,
//! and one plan per observed cloud.
//!
//! Why apart from both commands: `apply` must plan exactly as `plan` does — the same desired
//! state, policy, clouds and warnings — so neither command owns these steps; each only adds
//! its own ending (print and exit, or lock, confirm and execute).

use std::io::IsTerminal;
use std::sync::Arc;

use chrono::Utc;

use super::args::{OutputFormat, Selection};
use super::{cloud, output};
use crate::check;
use crate::desired::{self, DesiredState, properties};
use crate::glance::retry::{self, RetryPolicy};
use crate::glance::{ConnectOptions, GlanceClient, ObservedState};
use crate::plan::{self, Plan, Policy, json, render};

/// A [`Selection`] resolved: the valid catalog's desired state as of today (UTC), what the
/// planner is asked to do, and how to reach each cloud.
pub(super) struct Config {
    pub desired: DesiredState,
    pub policy: Policy,
    pub clouds: Vec<ConnectOptions>,
}

impl Config {
    /// Loads the catalog (an invalid one is never `what`, e.g. "planned") and resolves the
    /// rest of `selection`. No network.
    pub fn resolve(selection: &Selection, what: &'static str) -> anyhow::Result<Config> {
        let catalog = super::valid_catalog(&selection.catalog.paths(), what)?;
        let options = desired::Options {
            managed_tag: selection.tag.clone(),
            filter: selection.filter.clone(),
            today: Utc::now().date_naive(),
        };
        let desired = desired::resolve(&catalog, &options);
        if let Some(filter) = &selection.filter
            && desired.definitions.is_empty()
        {
            tracing::warn!("--filter {filter} matches no enabled definition");
        }
        Ok(Config {
            desired,
            policy: Policy {
                managed_tag: selection.tag.clone(),
                prune: selection.prune,
                method: selection.method,
            },
            clouds: clouds(selection),
        })
    }

    /// Observes every cloud ([`cloud::observe`]) with what sharing needs on top: the members
    /// of the managed shared images of definitions whose members the catalog manages (one
    /// request per image), and the project names the catalog shares with, resolved through
    /// each cloud's Keystone (each once). Nothing more when the catalog shares nothing.
    pub async fn observe(
        &self,
        clients: &[Arc<GlanceClient>],
    ) -> anyhow::Result<Vec<ObservedState>> {
        let mut observed = cloud::observe(clients).await?;
        let definitions = self.desired.sharing_definitions();
        if definitions.is_empty() {
            return Ok(observed);
        }
        let names = self.desired.project_names();
        let tag = self.policy.managed_tag.as_str();
        let sharing = clients.iter().zip(&mut observed).map(|(client, state)| {
            let (names, definitions) = (&names, &definitions);
            async move {
                let project = state.project_id.clone();
                let ours = move |image: &crate::glance::ObservedImage| {
                    image.has_tag(tag)
                        && image.owned_by(project.as_deref())
                        && image
                            .property(properties::IMAGE_NAME)
                            .is_some_and(|name| definitions.contains(name))
                };
                let (projects, members) = tokio::join!(
                    client.resolve_projects(names),
                    client.read_members(state, ours)
                );
                let read = members.map_err(|e| cloud::in_cloud(client.cloud(), e))?;
                state.projects = projects;
                tracing::info!(
                    "cloud {}: members of {read} shared images read, {} project names looked \
                     up in Keystone ({} Glance API calls in all)",
                    client.cloud(),
                    names.len(),
                    client.api_calls()
                );
                anyhow::Ok(())
            }
        });
        futures::future::try_join_all(sharing).await?;
        Ok(observed)
    }

    /// The plan for one observed cloud. Warns (stderr) about SCS main testcases that pass
    /// now and would fail in the Glance the plan leaves behind ([`plan::project`]), so an
    /// operator hears it before the certification run does.
    pub fn plan(&self, observed: &ObservedState) -> Plan {
        let plan = plan::plan(&self.desired, observed, &self.policy);
        let now = Utc::now();
        let before = check::Images::from_observed(observed);
        let after = check::Images::from_observed(&plan::project(observed, &plan, now));
        for regression in check::regressions(&before, &after, now) {
            tracing::warn!(
                "cloud {}: after this plan, SCS testcase {} would fail (it passes now): {}",
                observed.cloud,
                regression.testcase,
                regression.messages.join("; ")
            );
        }
        plan
    }
}

/// How to reach each `--cloud` (none: the cloud `OS_CLOUD` names, or the `OS_*` variables),
/// with the retry schedule and budget of `--retries` / `--retry-budget`.
fn clouds(selection: &Selection) -> Vec<ConnectOptions> {
    let names: Vec<Option<String>> = if selection.clouds.is_empty() {
        vec![None]
    } else {
        selection.clouds.iter().cloned().map(Some).collect()
    };
    names
        .into_iter()
        .map(|cloud| ConnectOptions {
            cloud,
            retry: RetryPolicy {
                max_attempts: selection.retries,
                ..retry::default_policy()
            },
            retry_budget: selection.retry_budget,
            overrides: selection.openstack.overrides(),
            ..ConnectOptions::default()
        })
        .collect()
}

/// Writes the plans to stdout, text (coloured on a terminal unless `NO_COLOR`) or JSON.
pub(super) fn print(plans: &[Plan], format: OutputFormat) -> anyhow::Result<()> {
    output::stdout(|out| match format {
        OutputFormat::Text => {
            let color = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            plans.iter().enumerate().try_for_each(|(n, plan)| {
                let gap = if n == 0 { "" } else { "\n" };
                write!(out, "{gap}{}", render::text(plan, color))
            })
        }
        OutputFormat::Json => writeln!(out, "{}", json::to_string(plans)),
    })
}
