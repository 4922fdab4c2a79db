//! Phase by phase, at most `--parallel` steps at once, failures isolated per definition.
//!
//! The plan's phases are barriers: every step of a phase, in every cloud, ends before the next
//! phase starts, so a new image is active and verified before the image it supersedes is
//! renamed, and renamed before the new one takes the plain name. Within a phase steps run
//! concurrently under one semaphore — the only place concurrency is bounded.
//!
//! A failure stops nothing else, with one rule: once any step of a definition failed in a
//! cloud, that definition's later steps in that cloud are skipped (reported as skipped). A
//! failed upload therefore never costs the image it would have replaced, and a failed rename
//! never leaves two images under one name. The next run plans from what is there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::{Id, JoinSet};

use super::create::{self, Context, Destination};
use super::error::chain;
use super::report::{CloudReport, Entry, FORMAT_VERSION, Outcome, Report, Transfer};
use super::{Hooks, Options, Target, steps};
use crate::desired::{DesiredImage, Identity};
use crate::plan::DataPath;
use crate::plan::{Action, Phase, Step};
use crate::transfer::checksum::Resolver;
use crate::transfer::fetch::Fetcher;

const PHASES: [Phase; 6] = [
    Phase::Cleanup,
    Phase::Upload,
    Phase::Rotate,
    Phase::Publish,
    Phase::Share,
    Phase::Prune,
];

/// (target index, step index).
type Key = (usize, usize);

/// What one finished task reports for one step.
struct Done {
    key: Key,
    outcome: Outcome,
    image_id: Option<String>,
    transfer: Option<Transfer>,
    duration: Duration,
}

pub(super) async fn run(
    targets: Vec<Target>,
    options: &Options,
    hooks: Arc<dyn Hooks>,
) -> Result<Report, crate::transfer::Error> {
    let fetcher = Fetcher::new(&options.fetch)?;
    let ctx = Arc::new(Context {
        resolver: Resolver::new(fetcher.clone()),
        fetcher,
        import_timeout: options.import_timeout,
        hooks: Arc::clone(&hooks),
    });
    let mut run = Run {
        entries: targets
            .iter()
            .map(|t| vec![None; t.plan.steps.len()])
            .collect(),
        created: HashMap::new(),
        failed: plan_errors(&targets),
        semaphore: Arc::new(Semaphore::new(options.parallel.max(1))),
        targets,
        ctx,
        hooks,
    };
    for phase in PHASES {
        run.phase(phase).await;
    }
    Ok(run.report())
}

struct Run {
    targets: Vec<Target>,
    ctx: Arc<Context>,
    hooks: Arc<dyn Hooks>,
    semaphore: Arc<Semaphore>,
    /// Final entries, by target and step.
    entries: Vec<Vec<Option<Entry>>>,
    /// The images this run's creates made and verified, by (target, identity): what their
    /// publish steps act on.
    created: HashMap<(usize, Identity), String>,
    /// (target, definition) pairs with a failed step, or a version the plan could not serve.
    failed: HashSet<(usize, String)>,
}

/// Definitions whose plan has an error count as failed from the start: their later steps
/// are skipped like those after a failed step (the planner already left out the rest).
fn plan_errors(targets: &[Target]) -> HashSet<(usize, String)> {
    targets
        .iter()
        .enumerate()
        .flat_map(|(t, target)| {
            target
                .plan
                .errors
                .iter()
                .map(move |e| (t, e.identity.definition.clone()))
        })
        .collect()
}

impl Run {
    async fn phase(&mut self, phase: Phase) {
        let mut tasks = JoinSet::new();
        let mut keys: HashMap<Id, Vec<Key>> = HashMap::new();
        let mut creates: BTreeMap<Identity, Vec<Key>> = BTreeMap::new();
        for t in 0..self.targets.len() {
            for s in 0..self.targets[t].plan.steps.len() {
                let step = &self.targets[t].plan.steps[s];
                if step.phase != phase {
                    continue;
                }
                if let Some(reason) = self.blocked(t, step) {
                    let staged = step.identity.as_ref().and_then(|identity| {
                        matches!(step.action, Action::Publish { .. })
                            .then(|| self.created.get(&(t, identity.clone())))
                            .flatten()
                    });
                    let (reason, id) = match staged {
                        Some(id) => (
                            format!(
                                "{reason}; the verified image {id} stays hidden under its \
                                 staging name"
                            ),
                            Some(id.clone()),
                        ),
                        None => (reason, None),
                    };
                    self.finish(
                        (t, s),
                        Outcome::Skipped { reason },
                        id,
                        None,
                        Duration::ZERO,
                    );
                    continue;
                }
                match &step.action {
                    Action::Create { image, .. } => {
                        creates
                            .entry(image.identity.clone())
                            .or_default()
                            .push((t, s));
                    }
                    action if action.on_created_image() => {
                        let staged = step
                            .identity
                            .as_ref()
                            .and_then(|identity| self.created.get(&(t, identity.clone())));
                        let Some(id) = staged.cloned() else {
                            // Only when the create is missing from the plan: a bug, not Glance.
                            self.skip((t, s), "no image of this run to act on".into());
                            continue;
                        };
                        let handle = tasks.spawn(self.plain((t, s), Some(id), action.clone()));
                        keys.insert(handle.id(), vec![(t, s)]);
                    }
                    action => {
                        let handle = tasks.spawn(self.plain((t, s), None, action.clone()));
                        keys.insert(handle.id(), vec![(t, s)]);
                    }
                }
            }
        }
        for group in creates.into_values() {
            let handle = tasks.spawn(self.create(&group));
            keys.insert(handle.id(), group);
        }
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((_, done)) => done.into_iter().for_each(|d| self.record(d)),
                Err(error) => {
                    let failed = Outcome::Failed {
                        error: format!("internal error: {error}"),
                    };
                    for key in keys.remove(&error.id()).unwrap_or_default() {
                        self.finish(key, failed.clone(), None, None, Duration::ZERO);
                    }
                }
            }
        }
    }

    /// Why a step must not run: an earlier step of its definition failed in its cloud.
    fn blocked(&self, target: usize, step: &Step) -> Option<String> {
        let definition = &step.identity.as_ref()?.definition;
        self.failed
            .contains(&(target, definition.clone()))
            .then(|| format!("an earlier step of `{definition}` failed in this cloud"))
    }

    /// A step of one call or patch; `created`: the image a publish step (or a new image's
    /// member step) acts on.
    fn plain(
        &self,
        key: Key,
        created: Option<String>,
        action: Action,
    ) -> impl Future<Output = Vec<Done>> + use<> {
        let client = Arc::clone(&self.targets[key.0].client);
        let semaphore = Arc::clone(&self.semaphore);
        async move {
            let _permit = semaphore.acquire_owned().await;
            let started = Instant::now();
            let outcome = steps::run(&client, &action, created.as_deref()).await;
            vec![Done {
                key,
                outcome,
                image_id: created.or_else(|| action.image_id().map(str::to_owned)),
                transfer: None,
                duration: started.elapsed(),
            }]
        }
    }

    /// One transfer for every cloud in `group` (the same catalog version).
    fn create(&self, group: &[Key]) -> impl Future<Output = Vec<Done>> + use<> {
        let image = self.desired(group[0]).clone();
        let destinations: Vec<(Key, Destination)> = group
            .iter()
            .map(|&key| {
                let path = self.path(key);
                let destination = Destination {
                    index: key.0,
                    client: Arc::clone(&self.targets[key.0].client),
                    way: path.method,
                    hash_algo: path.hash_algo,
                };
                (key, destination)
            })
            .collect();
        let keys: HashMap<usize, Key> = destinations.iter().map(|(k, d)| (d.index, *k)).collect();
        let (ctx, semaphore) = (Arc::clone(&self.ctx), Arc::clone(&self.semaphore));
        async move {
            let _permit = semaphore.acquire_owned().await;
            let started = Instant::now();
            let destinations = destinations.into_iter().map(|(_, d)| d).collect();
            let results = create::create(&ctx, &image, destinations).await;
            let duration = started.elapsed();
            results
                .into_iter()
                .map(|(index, result)| {
                    let key = keys[&index];
                    match result {
                        Ok(uploaded) => Done {
                            key,
                            outcome: Outcome::Done,
                            image_id: Some(uploaded.id),
                            transfer: Some(uploaded.transfer),
                            duration,
                        },
                        Err(failed) => Done {
                            key,
                            outcome: Outcome::Failed {
                                error: chain(&failed.error),
                            },
                            image_id: failed.id,
                            transfer: failed.transfer,
                            duration,
                        },
                    }
                })
                .collect()
        }
    }

    fn desired(&self, key: Key) -> &DesiredImage {
        match &self.targets[key.0].plan.steps[key.1].action {
            Action::Create { image, .. } => image,
            _ => unreachable!("only creates are uploaded"),
        }
    }

    fn path(&self, key: Key) -> &DataPath {
        match &self.targets[key.0].plan.steps[key.1].action {
            Action::Create { path, .. } => path,
            _ => unreachable!("only creates are uploaded"),
        }
    }

    fn record(&mut self, done: Done) {
        let step = &self.targets[done.key.0].plan.steps[done.key.1];
        if let (Action::Create { image, .. }, Outcome::Done, Some(id)) =
            (&step.action, &done.outcome, &done.image_id)
        {
            self.created
                .insert((done.key.0, image.identity.clone()), id.clone());
        }
        self.finish(
            done.key,
            done.outcome,
            done.image_id,
            done.transfer,
            done.duration,
        );
    }

    fn skip(&mut self, key: Key, reason: String) {
        self.finish(key, Outcome::Skipped { reason }, None, None, Duration::ZERO);
    }

    fn finish(
        &mut self,
        key: Key,
        outcome: Outcome,
        image_id: Option<String>,
        transfer: Option<Transfer>,
        duration: Duration,
    ) {
        let target = &self.targets[key.0];
        let step = &target.plan.steps[key.1];
        if matches!(outcome, Outcome::Failed { .. })
            && let Some(identity) = &step.identity
        {
            self.failed.insert((key.0, identity.definition.clone()));
        }
        let entry = Entry {
            phase: step.phase,
            action: step.action.kind(),
            identity: step.identity.clone(),
            image_id: image_id.or_else(|| step.action.image_id().map(str::to_owned)),
            name: step.action.name().to_owned(),
            outcome,
            duration,
            transfer,
            member: step.action.member().map(|p| p.id.clone()),
        };
        self.hooks.step_finished(target.client.cloud(), &entry);
        self.entries[key.0][key.1] = Some(entry);
    }

    fn report(self) -> Report {
        let clouds = self
            .targets
            .iter()
            .zip(self.entries)
            .map(|(target, entries)| CloudReport {
                cloud: target.client.cloud().to_owned(),
                api_calls: target.client.api_calls(),
                retries: target.client.retrying().retries(),
                recreated_uploads: target.client.retrying().recreated(),
                errors: target.plan.errors.clone(),
                entries: entries
                    .into_iter()
                    .zip(&target.plan.steps)
                    .map(|(entry, step)| entry.unwrap_or_else(|| unreached(step)))
                    .collect(),
            })
            .collect();
        Report {
            format_version: FORMAT_VERSION,
            clouds,
        }
    }
}

/// An entry for a step no phase ran (cannot happen unless a phase is missing from [`PHASES`]).
fn unreached(step: &Step) -> Entry {
    Entry {
        phase: step.phase,
        action: step.action.kind(),
        identity: step.identity.clone(),
        image_id: step.action.image_id().map(str::to_owned),
        name: step.action.name().to_owned(),
        outcome: Outcome::Skipped {
            reason: "not reached".into(),
        },
        duration: Duration::ZERO,
        transfer: None,
        member: step.action.member().map(|p| p.id.clone()),
    }
}
