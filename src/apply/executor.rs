//! Step by step as the plan orders them, at most `--parallel` at once, failures isolated per
//! definition.
//!
//! The plan's phases order the steps of one catalog definition in one cloud: every step of a
//! phase ends before that definition's next phase starts there, so a new image is active and
//! verified before the image it supersedes is renamed, and renamed before the new one takes
//! the plain name. Different definitions do not wait for each other: while one image still
//! imports, another is already published. Of the steps that may start, later phases go first
//! (a verified image is published as soon as it may be), then plan order. The bound on
//! concurrent steps is here and nowhere else.
//!
//! A failure stops nothing else, with one rule: once any step of a definition failed in a
//! cloud, that definition's later steps in that cloud are skipped (reported as skipped). A
//! failed upload therefore never costs the image it would have replaced, and a failed rename
//! never leaves two images under one name. The next run plans from what is there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::task::{Id, JoinSet};

use super::create::{self, Context, Created, Destination};
use super::error::chain;
use super::report::{CloudReport, Entry, FORMAT_VERSION, Outcome, Report, Transfer};
use super::{Hooks, Options, Target, steps};
use crate::desired::{DesiredImage, Identity};
use crate::glance::Watcher;
use crate::plan::DataPath;
use crate::plan::{Action, Phase, Step};
use crate::transfer::checksum::Resolver;
use crate::transfer::fetch::Fetcher;

/// (target index, step index).
type Key = (usize, usize);

/// The steps one phase orders: one definition's (or the steps without one) in one cloud.
type Lane = (usize, Option<String>);

/// What starts as one task: a create for every cloud lacking one catalog version (one
/// download), or one other step.
struct Unit {
    keys: Vec<Key>,
    phase: Phase,
}

/// What one finished task reports for one step.
struct Done {
    key: Key,
    outcome: Outcome,
    image_id: Option<String>,
    transfer: Option<Transfer>,
    created: Option<Created>,
    duration: Duration,
}

impl Done {
    fn of(key: Key, outcome: Outcome, image_id: Option<String>, duration: Duration) -> Done {
        Done {
            key,
            outcome,
            image_id,
            transfer: None,
            created: None,
            duration,
        }
    }
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
    let mut open: HashMap<Lane, BTreeMap<Phase, usize>> = HashMap::new();
    for (t, target) in targets.iter().enumerate() {
        for step in &target.plan.steps {
            *open
                .entry(lane(t, step))
                .or_default()
                .entry(step.phase)
                .or_default() += 1;
        }
    }
    let mut run = Run {
        entries: targets
            .iter()
            .map(|t| vec![None; t.plan.steps.len()])
            .collect(),
        created: HashMap::new(),
        failed: plan_errors(&targets),
        watchers: targets
            .iter()
            .map(|t| Watcher::new(Arc::clone(&t.client)))
            .collect(),
        open,
        parallel: options.parallel.max(1),
        targets,
        ctx,
        hooks,
    };
    run.all().await;
    Ok(run.report())
}

fn lane(target: usize, step: &Step) -> Lane {
    (target, step.identity.as_ref().map(|i| i.definition.clone()))
}

struct Run {
    targets: Vec<Target>,
    ctx: Arc<Context>,
    hooks: Arc<dyn Hooks>,
    /// One per target: waits for its imports.
    watchers: Vec<Watcher>,
    parallel: usize,
    /// Steps not finished yet, by lane and phase: a step may start once its lane has none
    /// in an earlier phase.
    open: HashMap<Lane, BTreeMap<Phase, usize>>,
    /// Final entries, by target and step.
    entries: Vec<Vec<Option<Entry>>>,
    /// The images this run's creates made and verified, by (target, identity): what their
    /// publish steps act on.
    created: HashMap<(usize, Identity), Created>,
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
    async fn all(&mut self) {
        let mut waiting = self.units();
        let mut tasks = JoinSet::new();
        let mut keys: HashMap<Id, Vec<Key>> = HashMap::new();
        loop {
            while tasks.len() < self.parallel {
                let Some(at) = self.next(&waiting) else { break };
                let unit = waiting.remove(at);
                if let Some((running, task)) = self.start(&unit) {
                    let handle = tasks.spawn(task);
                    keys.insert(handle.id(), running);
                }
            }
            let Some(joined) = tasks.join_next_with_id().await else {
                // Nothing runs and nothing may start: every step has ended (a step left
                // waiting would be a missing phase; the report shows it "not reached").
                return;
            };
            match joined {
                Ok((_, done)) => done.into_iter().for_each(|d| self.finish(d)),
                Err(error) => {
                    let failed = Outcome::Failed {
                        error: format!("internal error: {error}"),
                    };
                    for key in keys.remove(&error.id()).unwrap_or_default() {
                        self.finish(Done::of(key, failed.clone(), None, Duration::ZERO));
                    }
                }
            }
        }
    }

    /// The plan's steps as units, in plan order: the creates of one catalog version in every
    /// cloud make one unit.
    fn units(&self) -> Vec<Unit> {
        let mut units: Vec<Unit> = Vec::new();
        let mut creates: HashMap<Identity, usize> = HashMap::new();
        for (t, target) in self.targets.iter().enumerate() {
            for (s, step) in target.plan.steps.iter().enumerate() {
                if let Action::Create { image, .. } = &step.action {
                    if let Some(&at) = creates.get(&image.identity) {
                        units[at].keys.push((t, s));
                        continue;
                    }
                    creates.insert(image.identity.clone(), units.len());
                }
                units.push(Unit {
                    keys: vec![(t, s)],
                    phase: step.phase,
                });
            }
        }
        units
    }

    /// The waiting unit to start next: of those whose lanes have no open step in an earlier
    /// phase, the latest phase, then the first in plan order.
    fn next(&self, waiting: &[Unit]) -> Option<usize> {
        let ready = |unit: &Unit| {
            unit.keys.iter().all(|&(t, s)| {
                let lane = lane(t, &self.targets[t].plan.steps[s]);
                self.open[&lane]
                    .range(..unit.phase)
                    .all(|(_, &count)| count == 0)
            })
        };
        let mut best: Option<usize> = None;
        for (at, unit) in waiting.iter().enumerate() {
            if ready(unit) && best.is_none_or(|b| unit.phase > waiting[b].phase) {
                best = Some(at);
            }
        }
        best
    }

    /// The task of a unit and the steps it runs (those not skipped); `None` when all of it was
    /// skipped (recorded here).
    fn start(&mut self, unit: &Unit) -> Option<(Vec<Key>, BoxFuture<'static, Vec<Done>>)> {
        let mut keys = Vec::new();
        for &key in &unit.keys {
            let step = &self.targets[key.0].plan.steps[key.1];
            match self.blocked(key.0, step) {
                Some(reason) => {
                    // A publish is a unit of its own: its verified image keeps what it needs.
                    if matches!(step.action, Action::Publish { .. })
                        && let Some(created) = self.staged(key, step)
                    {
                        return Some((vec![key], self.held(key, created, reason)));
                    }
                    self.finish(Done::of(
                        key,
                        Outcome::Skipped { reason },
                        None,
                        Duration::ZERO,
                    ));
                }
                None => keys.push(key),
            }
        }
        let &first = keys.first()?;
        let step = &self.targets[first.0].plan.steps[first.1];
        let task = match &step.action {
            Action::Create { .. } => self.create(&keys),
            action if action.on_created_image() => {
                let Some(created) = self.staged(first, step) else {
                    // Only when the create is missing from the plan: a bug, not Glance.
                    let reason = "no image of this run to act on".into();
                    self.finish(Done::of(
                        first,
                        Outcome::Skipped { reason },
                        None,
                        Duration::ZERO,
                    ));
                    return None;
                };
                self.plain(first, Some(created), action.clone())
            }
            action => self.plain(first, None, action.clone()),
        };
        Some((keys, task))
    }

    /// The image this run made for the publish (or member) step at `key`.
    fn staged(&self, key: Key, step: &Step) -> Option<Created> {
        if !step.action.on_created_image() {
            return None;
        }
        let identity = step.identity.as_ref()?;
        self.created.get(&(key.0, identity.clone())).cloned()
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
        created: Option<Created>,
        action: Action,
    ) -> BoxFuture<'static, Vec<Done>> {
        let client = Arc::clone(&self.targets[key.0].client);
        async move {
            let started = Instant::now();
            let outcome = steps::run(&client, &action, created.as_ref()).await;
            let image_id = created
                .map(|c| c.id)
                .or_else(|| action.image_id().map(str::to_owned));
            vec![Done::of(key, outcome, image_id, started.elapsed())]
        }
        .boxed()
    }

    /// The publish of `created` may not run: its marker comes off alone, so the next run
    /// publishes the verified image instead of uploading it again.
    fn held(&self, key: Key, created: Created, reason: String) -> BoxFuture<'static, Vec<Done>> {
        let client = Arc::clone(&self.targets[key.0].client);
        async move {
            let kept = create::unmark(&client, &created.id, created.built.as_deref()).await;
            let reason = if kept {
                format!(
                    "{reason}; the verified image {} stays hidden under its staging name",
                    created.id
                )
            } else {
                format!("{reason}; the image {} stays marked unverified", created.id)
            };
            vec![Done::of(
                key,
                Outcome::Skipped { reason },
                Some(created.id),
                Duration::ZERO,
            )]
        }
        .boxed()
    }

    /// One transfer for every cloud in `group` (the same catalog version).
    fn create(&self, group: &[Key]) -> BoxFuture<'static, Vec<Done>> {
        let image = self.desired(group[0]).clone();
        let destinations: Vec<(Key, Destination)> = group
            .iter()
            .map(|&key| {
                let path = self.path(key);
                let destination = Destination {
                    index: key.0,
                    client: Arc::clone(&self.targets[key.0].client),
                    watcher: self.watchers[key.0].clone(),
                    way: path.method,
                    hash_algo: path.hash_algo,
                };
                (key, destination)
            })
            .collect();
        let keys: HashMap<usize, Key> = destinations.iter().map(|(k, d)| (d.index, *k)).collect();
        let ctx = Arc::clone(&self.ctx);
        async move {
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
                            image_id: Some(uploaded.created.id.clone()),
                            transfer: Some(uploaded.transfer),
                            created: Some(uploaded.created),
                            duration,
                        },
                        Err(failed) => Done {
                            key,
                            outcome: Outcome::Failed {
                                error: chain(&failed.error),
                            },
                            image_id: failed.id,
                            transfer: failed.transfer,
                            created: None,
                            duration,
                        },
                    }
                })
                .collect()
        }
        .boxed()
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

    /// Records a step's end: its entry, a failure that blocks its definition, the image a
    /// create made, and one open step less in its lane.
    fn finish(&mut self, mut done: Done) {
        let key = done.key;
        let target = &self.targets[key.0];
        let step = &target.plan.steps[key.1];
        if let (Some(created), Some(identity)) = (done.created.take(), &step.identity) {
            self.created.insert((key.0, identity.clone()), created);
        }
        if matches!(done.outcome, Outcome::Failed { .. })
            && let Some(identity) = &step.identity
        {
            self.failed.insert((key.0, identity.definition.clone()));
        }
        if let Some(count) = self
            .open
            .get_mut(&lane(key.0, step))
            .and_then(|phases| phases.get_mut(&step.phase))
        {
            *count = count.saturating_sub(1);
        }
        let entry = Entry {
            phase: step.phase,
            action: step.action.kind(),
            identity: step.identity.clone(),
            image_id: done
                .image_id
                .or_else(|| step.action.image_id().map(str::to_owned)),
            name: step.action.name().to_owned(),
            outcome: done.outcome,
            duration: done.duration,
            transfer: done.transfer,
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

/// An entry for a step that never ran (cannot happen: every step becomes ready in turn).
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
