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

use tokio::sync::{OnceCell, Semaphore};
use tokio::task::{Id, JoinSet};

use super::create::{self, Context, Destination, Uploaded};
use super::error::chain;
use super::report::{CloudReport, Entry, FORMAT_VERSION, Outcome, Report, Transfer};
use super::{Hooks, Options, Target, steps};
use crate::desired::{DesiredImage, Identity};
use crate::glance::GlanceClient;
use crate::plan::{Action, Phase, Step};
use crate::transfer::checksum::Resolver;
use crate::transfer::fetch::Fetcher;

const PHASES: [Phase; 5] = [
    Phase::Cleanup,
    Phase::Upload,
    Phase::Rotate,
    Phase::Publish,
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
    /// A create's verified image, to be published in the publish phase.
    uploaded: Option<Uploaded>,
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
        method: options.method,
        import_timeout: options.import_timeout,
        hooks: Arc::clone(&hooks),
    });
    let mut run = Run {
        import_methods: targets.iter().map(|_| Arc::default()).collect(),
        entries: targets
            .iter()
            .map(|t| vec![None; t.plan.steps.len()])
            .collect(),
        elapsed: HashMap::new(),
        uploaded: BTreeMap::new(),
        failed: HashSet::new(),
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
    import_methods: Vec<Arc<OnceCell<Vec<String>>>>,
    /// Final entries, by target and step.
    entries: Vec<Vec<Option<Entry>>>,
    /// Time already spent on a create (upload) before its publish.
    elapsed: HashMap<Key, Duration>,
    /// Verified, not yet published images.
    uploaded: BTreeMap<Key, Uploaded>,
    /// (target, definition) pairs with a failed step.
    failed: HashSet<(usize, String)>,
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
                    self.skip((t, s), reason);
                    continue;
                }
                match &step.action {
                    Action::Create { image } => {
                        creates
                            .entry(image.identity.clone())
                            .or_default()
                            .push((t, s));
                    }
                    action => {
                        let handle = tasks.spawn(self.plain((t, s), action.clone()));
                        keys.insert(handle.id(), vec![(t, s)]);
                    }
                }
            }
        }
        for group in creates.into_values() {
            let handle = tasks.spawn(self.create(&group));
            keys.insert(handle.id(), group);
        }
        if phase == Phase::Publish {
            for (key, uploaded) in std::mem::take(&mut self.uploaded) {
                let step = &self.targets[key.0].plan.steps[key.1];
                if let Some(reason) = self.blocked(key.0, step) {
                    self.elapsed.remove(&key);
                    let reason = format!(
                        "{reason}; the verified image {} stays hidden under its staging name",
                        uploaded.id
                    );
                    self.finish(
                        key,
                        Outcome::Skipped { reason },
                        Some(uploaded.id),
                        Some(uploaded.transfer),
                        Duration::ZERO,
                    );
                    continue;
                }
                let handle = tasks.spawn(self.publish(key, uploaded));
                keys.insert(handle.id(), vec![key]);
            }
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

    fn plain(&self, key: Key, action: Action) -> impl Future<Output = Vec<Done>> + use<> {
        let client = Arc::clone(&self.targets[key.0].client);
        let semaphore = Arc::clone(&self.semaphore);
        async move {
            let _permit = semaphore.acquire_owned().await;
            let started = Instant::now();
            let outcome = steps::run(&client, &action).await;
            vec![Done {
                key,
                outcome,
                image_id: action.image_id().map(str::to_owned),
                transfer: None,
                uploaded: None,
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
                let target = &self.targets[key.0];
                let destination = Destination {
                    index: key.0,
                    client: Arc::clone(&target.client),
                    hash_algo: target.hash_algo,
                    import_methods: Arc::clone(&self.import_methods[key.0]),
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
                            image_id: Some(uploaded.id.clone()),
                            transfer: None,
                            uploaded: Some(uploaded),
                            duration,
                        },
                        Err(failed) => Done {
                            key,
                            outcome: Outcome::Failed {
                                error: chain(&failed.error),
                            },
                            image_id: failed.id,
                            transfer: failed.transfer,
                            uploaded: None,
                            duration,
                        },
                    }
                })
                .collect()
        }
    }

    fn publish(&self, key: Key, uploaded: Uploaded) -> impl Future<Output = Vec<Done>> + use<> {
        let client: Arc<GlanceClient> = Arc::clone(&self.targets[key.0].client);
        let image = self.desired(key).clone();
        let semaphore = Arc::clone(&self.semaphore);
        async move {
            let _permit = semaphore.acquire_owned().await;
            let started = Instant::now();
            let outcome = steps::publish(&client, &uploaded.id, &image).await;
            vec![Done {
                key,
                outcome,
                image_id: Some(uploaded.id),
                transfer: Some(uploaded.transfer),
                uploaded: None,
                duration: started.elapsed(),
            }]
        }
    }

    fn desired(&self, key: Key) -> &DesiredImage {
        match &self.targets[key.0].plan.steps[key.1].action {
            Action::Create { image } => image,
            _ => unreachable!("only creates are uploaded"),
        }
    }

    fn record(&mut self, done: Done) {
        if let Some(uploaded) = done.uploaded {
            // Uploaded and verified: the entry is final once the image is published.
            self.elapsed.insert(done.key, done.duration);
            self.uploaded.insert(done.key, uploaded);
            return;
        }
        let duration = done.duration + self.elapsed.remove(&done.key).unwrap_or_default();
        self.finish(
            done.key,
            done.outcome,
            done.image_id,
            done.transfer,
            duration,
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
        let (action, name) = describe(&step.action);
        let entry = Entry {
            phase: step.phase,
            action,
            identity: step.identity.clone(),
            image_id: image_id.or_else(|| step.action.image_id().map(str::to_owned)),
            name: name.to_owned(),
            outcome,
            duration,
            transfer,
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

/// The report's action word and the image name a step is about.
fn describe(action: &Action) -> (&'static str, &str) {
    match action {
        Action::Create { image } => ("create", &image.name),
        Action::Update { name, .. } => ("update", name),
        Action::Deactivate { name, .. } => ("deactivate", name),
        Action::Reactivate { name, .. } => ("reactivate", name),
        Action::Delete { name, .. } => ("delete", name),
    }
}

/// An entry for a step no phase ran (cannot happen unless a phase is missing from [`PHASES`]).
fn unreached(step: &Step) -> Entry {
    let (action, name) = describe(&step.action);
    Entry {
        phase: step.phase,
        action,
        identity: step.identity.clone(),
        image_id: step.action.image_id().map(str::to_owned),
        name: name.to_owned(),
        outcome: Outcome::Skipped {
            reason: "not reached".into(),
        },
        duration: Duration::ZERO,
        transfer: None,
    }
}
