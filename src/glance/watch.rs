//! Waiting on many images at once: one status read answers for all of them.
//!
//! An apply imports up to `--parallel` images into a cloud at a time, and each must be seen
//! `active` (and its digest read) before it is published. Polling each image on its own costs
//! a `GET /v2/images/{id}` per image and poll — for small images as many calls as the rest of
//! their create. A [`Watcher`] reads every image waited on at that moment with ONE listing
//! call (`GET /v2/images?id=in:…`), and schedules reads by what this run has seen:
//!
//! - an image's first read is due after the import time typical of this run so far (reading
//!   earlier only finds it importing) — or, for a large image, after most of the time Glance
//!   took to receive its bytes, since the import copies and hashes them all once more (but no
//!   later than a fast store would need for that many bytes: a slow upstream makes the stage
//!   slow, not the import);
//! - later reads back off: each waits half the time waited so far (an eighth for a large image,
//!   whose end is well predicted), between [`MIN_INTERVAL`] and [`MAX_INTERVAL`];
//! - a read that is due answers for every image the listing returns, so an image whose import
//!   ended before its own read was due is done without a call of its own, and one whose read
//!   was due soon is read on from there; an image read on its own (GET) only when it is due.
//!
//! Listings filter on `os_hidden` (see `observe.rs`); the images an apply waits on are hidden
//! (staging), and an image the listing does not return (visible, deleted, an id the `in:`
//! syntax cannot carry) is read on its own. A Glance that refuses the listing (400) is read
//! image by image from then on.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::image_api::image::list;
use super::observed::ObservedImage;
use super::wait::{Condition, MAX_INTERVAL, Readiness};
use super::{Error, GlanceClient};

/// First read of an import when this run has not seen one end yet (the sandbox's small
/// imports take 0.2–1 s).
const FIRST_GUESS: Duration = Duration::from_millis(300);
/// Shortest pause between two reads of one image.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Import times remembered for the first-read estimate.
const REMEMBERED: usize = 8;
/// Of the time Glance took to receive a large image's bytes, the part its import is expected
/// to take at least (on the sandbox it takes 1.1–1.3 times as long).
const SHARE_OF_STAGE: f64 = 0.8;
/// Bytes per second a fast Glance store imports (copy and hash): the first read of a large
/// image is due no later than its size at this rate (2 GiB: 8 s; the sandbox takes 16 s).
const FAST_IMPORT_RATE: f64 = 256.0 * 1024.0 * 1024.0;
/// Ids per listing call (the URL stays short: 50 × 37 characters).
const IDS_PER_READ: usize = 50;

/// When an image's first read is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum First {
    /// Now: the image should already be there (after an upload, which activates it).
    Now,
    /// After an import, when this run's imports typically end; `staged`: how long Glance took
    /// to receive the `bytes` (zero when Glance fetched them itself).
    AfterImport { staged: Duration, bytes: u64 },
}

/// What waiting ended with.
#[derive(Debug)]
pub struct Waited {
    pub image: ObservedImage,
    /// Reads that saw the image (several images share a listing call: see `api_calls`).
    pub reads: u32,
    /// From the last read that found the image not ready to the one that found it ready: at
    /// most this long it was ready unnoticed (zero when the first read found it ready).
    pub slack: Duration,
}

/// Waits on images of one cloud; cheap to clone. The reads run in one background task,
/// which ends when the last clone is dropped.
#[derive(Clone)]
pub struct Watcher {
    requests: mpsc::UnboundedSender<Request>,
}

struct Request {
    id: String,
    condition: Box<dyn Condition + Send>,
    timeout: Duration,
    first: First,
    reply: oneshot::Sender<Result<Waited, Error>>,
}

impl Watcher {
    /// Starts the watcher of `client`'s cloud (inside a Tokio runtime).
    pub fn new(client: Arc<GlanceClient>) -> Watcher {
        let (requests, incoming) = mpsc::unbounded_channel();
        tokio::spawn(Reader::new(client).run(incoming));
        Watcher { requests }
    }

    /// Waits until `condition` holds for image `id` (that observation is returned), fails
    /// ([`Error::WaitFailed`]), or `timeout` passes ([`Error::WaitTimeout`] with the last
    /// status seen). A vanished image is [`Error::NotFound`].
    pub async fn wait(
        &self,
        id: &str,
        condition: impl Condition + Send + 'static,
        timeout: Duration,
        first: First,
    ) -> Result<Waited, Error> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            id: id.to_owned(),
            condition: Box::new(condition),
            timeout,
            first,
            reply,
        };
        let stopped = || Error::InvalidRequest {
            message: "internal error: the image watcher stopped".into(),
        };
        self.requests.send(request).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// One image being waited on.
struct Waiter {
    request: Request,
    started: Instant,
    deadline: Instant,
    due: Instant,
    /// The first read was predicted by the image's size (a large image): later reads come in
    /// finer steps, and its time does not teach the typical import.
    by_size: bool,
    reads: u32,
    /// When a read last found the image not ready.
    not_ready: Option<Instant>,
}

/// How long this run's imports took to be seen ready: when to read a new one first.
#[derive(Default)]
struct Imports {
    /// The last [`REMEMBERED`], newest last.
    seen: VecDeque<Duration>,
}

impl Imports {
    /// A little under the median of the imports seen, so the estimate follows imports that
    /// get faster (a read that comes too early costs one more); [`FIRST_GUESS`] before any.
    fn typical(&self) -> Duration {
        if self.seen.is_empty() {
            return FIRST_GUESS;
        }
        let mut seen: Vec<Duration> = self.seen.iter().copied().collect();
        seen.sort_unstable();
        (seen[seen.len() / 2] * 9 / 10).max(MIN_INTERVAL)
    }

    fn remember(&mut self, took: Duration) {
        if self.seen.len() == REMEMBERED {
            self.seen.pop_front();
        }
        self.seen.push_back(took);
    }
}

/// The background task: owns the schedule, reads, answers.
struct Reader {
    client: Arc<GlanceClient>,
    waiters: Vec<Waiter>,
    imports: Imports,
    /// False once Glance refused an `id=in:` listing.
    listing: bool,
}

impl Reader {
    fn new(client: Arc<GlanceClient>) -> Reader {
        Reader {
            client,
            waiters: Vec::new(),
            imports: Imports::default(),
            listing: true,
        }
    }

    async fn run(mut self, mut incoming: mpsc::UnboundedReceiver<Request>) {
        loop {
            let Some(next) = self.waiters.iter().map(|w| w.due).min() else {
                match incoming.recv().await {
                    Some(request) => self.add(request),
                    None => return,
                }
                continue;
            };
            tokio::select! {
                biased;
                request = incoming.recv() => match request {
                    Some(request) => self.add(request),
                    // Every watcher is gone, and with it everyone waiting.
                    None => return,
                },
                () = tokio::time::sleep_until(next) => {
                    // Whoever asked meanwhile is read in the same call.
                    while let Ok(request) = incoming.try_recv() {
                        self.add(request);
                    }
                    self.read().await;
                }
            }
        }
    }

    fn add(&mut self, request: Request) {
        let now = Instant::now();
        let (first, by_size) = match request.first {
            First::Now => (Duration::ZERO, false),
            First::AfterImport { staged, bytes } => {
                let typical = self.imports.typical();
                let fast = Duration::from_secs_f64(bytes as f64 / FAST_IMPORT_RATE);
                let sized = staged.mul_f64(SHARE_OF_STAGE).min(fast);
                if sized > typical {
                    (sized, true)
                } else {
                    (typical, false)
                }
            }
        };
        self.waiters.push(Waiter {
            started: now,
            deadline: now + request.timeout,
            due: (now + first).min(now + request.timeout),
            by_size,
            reads: 0,
            not_ready: None,
            request,
        });
    }

    /// Reads every waiting image (one call per [`IDS_PER_READ`]) and answers those done.
    async fn read(&mut self) {
        let ids: Vec<String> = self.waiters.iter().map(|w| w.request.id.clone()).collect();
        let mut found = self.list(&ids).await;
        let now = Instant::now();
        let mut still = Vec::with_capacity(self.waiters.len());
        for mut waiter in std::mem::take(&mut self.waiters) {
            // Nobody waits any more (the caller gave up).
            if waiter.request.reply.is_closed() {
                continue;
            }
            let observed = match found.iter().position(|i| i.id == waiter.request.id) {
                Some(at) => Ok(found.swap_remove(at)),
                None if waiter.due <= now => self.client.get_image(&waiter.request.id).await,
                // Not listed and not due: its own read comes later.
                None => {
                    still.push(waiter);
                    continue;
                }
            };
            let image = match observed {
                Ok(image) => image,
                Err(error) => {
                    let _ = waiter.request.reply.send(Err(error));
                    continue;
                }
            };
            waiter.reads += 1;
            let id = waiter.request.id.clone();
            let done = match waiter.request.condition.evaluate(&image) {
                Readiness::Ready => {
                    // Large images are predicted by their size: only the others teach the
                    // typical import.
                    if matches!(waiter.request.first, First::AfterImport { .. }) && !waiter.by_size
                    {
                        self.imports.remember(now - waiter.started);
                    }
                    Ok(Waited {
                        image,
                        reads: waiter.reads,
                        slack: waiter.not_ready.map_or(Duration::ZERO, |t| now - t),
                    })
                }
                Readiness::Failed(reason) => Err(Error::WaitFailed {
                    image_id: id,
                    reason,
                }),
                Readiness::NotYet if now >= waiter.deadline => Err(Error::WaitTimeout {
                    image_id: id,
                    timeout: waiter.request.timeout,
                    status: image.status.to_string(),
                }),
                Readiness::NotYet => {
                    waiter.not_ready = Some(now);
                    let share = if waiter.by_size { 0.125 } else { 0.5 };
                    let pause = (now - waiter.started)
                        .mul_f64(share)
                        .clamp(MIN_INTERVAL, MAX_INTERVAL);
                    // Read a little early for another image: that counts as this image's read
                    // (no call of its own a moment later); read much earlier, its own schedule
                    // stands.
                    if waiter.due <= now + pause / 2 {
                        waiter.due = (now + pause).min(waiter.deadline);
                    }
                    still.push(waiter);
                    continue;
                }
            };
            let _ = waiter.request.reply.send(done);
        }
        self.waiters = still;
    }

    /// The images among `ids` one hidden-image listing per [`IDS_PER_READ`] returns; nothing
    /// when the listing is unavailable (each image is then read on its own).
    async fn list(&mut self, ids: &[String]) -> Vec<ObservedImage> {
        let listable: Vec<&String> = ids.iter().filter(|id| listable(id)).collect();
        // One image: its own GET is the same one call.
        if !self.listing || listable.len() < 2 {
            return Vec::new();
        }
        let mut found = Vec::new();
        for chunk in listable.chunks(IDS_PER_READ) {
            let filter = chunk
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(",");
            match self.client.list_hidden_by_id(&filter, chunk.len()).await {
                Ok(images) => found.extend(images),
                Err(error) => {
                    tracing::debug!(
                        "cloud {}: listing images by id failed ({error}); reading them one by one",
                        self.client.cloud()
                    );
                    if matches!(error, Error::Api { status: 400, .. }) {
                        self.listing = false;
                    }
                    return found;
                }
            }
        }
        found
    }
}

/// Ids the `in:` syntax carries as they are (Glance's own ids are UUIDs; a catalog's fixed id
/// with a comma or quote would need quoting).
fn listable(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl GlanceClient {
    /// `GET /v2/images?id=in:<ids>&os_hidden=true&limit=<n>`: the hidden images among `ids`
    /// (a comma-separated list of [`listable`] ids), one call.
    async fn list_hidden_by_id(&self, ids: &str, n: usize) -> Result<Vec<ObservedImage>, Error> {
        const OP: &str = "read images by id";
        let mut builder = list::Request::builder();
        builder
            .id(format!("in:{ids}"))
            .os_hidden(true)
            .limit(i32::try_from(n).unwrap_or(i32::MAX));
        let ep = Self::build(builder.build())?;
        let body = self.query_body(OP, &ep).await?;
        let (images, _) = super::observe::parse_page(&body)?;
        Ok(images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reads_follow_the_imports_seen() {
        let mut imports = Imports::default();
        assert_eq!(imports.typical(), FIRST_GUESS);
        for ms in [900, 1000, 1100] {
            imports.remember(Duration::from_millis(ms));
        }
        assert_eq!(imports.typical(), Duration::from_millis(900));
        // Only the last few count: imports that became fast are read early again.
        for _ in 0..REMEMBERED {
            imports.remember(Duration::from_millis(200));
        }
        assert_eq!(imports.typical(), Duration::from_millis(180));
        for _ in 0..REMEMBERED {
            imports.remember(Duration::from_millis(10));
        }
        assert_eq!(imports.typical(), MIN_INTERVAL);
    }

    #[test]
    fn only_plain_ids_go_into_a_listing() {
        assert!(listable("d118473f-2e0c-48d9-8b11-265a94750623"));
        assert!(!listable("a,b"));
        assert!(!listable("\"quoted\""));
        assert!(!listable(""));
    }
}
