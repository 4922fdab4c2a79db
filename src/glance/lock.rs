//! The apply lock: one `apply` at a time per project and managed tag, held in Glance itself.
//!
//! Why a lock: two runs of one catalog (a periodic pipeline and a person, two pipelines)
//! otherwise both see a version missing and both upload it, or one deletes the other's
//! half-finished image as a leftover. Glance has no locking API, but it has one atomic
//! operation: creating an image with a given id fails with 409 when that id was ever used
//! (Glance never reuses the id of a deleted image). The lock is therefore a series of
//! placeholder images (`queued`, private, hidden, no data), one per *generation*, whose ids
//! are derived from (project, tag, generation). Acquiring means creating generation N+1 after
//! seeing generation N free; of two runs that try at once exactly one create succeeds.
//!
//! A holder keeps the lock alive by renewing a lease (`image_manager_lock_expires`) every
//! third of its length, and releases it by letting the lease end now. A run that crashed
//! (kill -9, a lost node) holds nothing for longer than one lease: its generation then counts
//! as free. The newest generation image stays as the record of the series; older ones are
//! deleted by the next holder. Clocks: leases are compared with the local clock, so hosts that
//! share a cloud need clocks within a small fraction of the lease (NTP).
//!
//! Only `apply` locks; `plan` and `check` read without it. The placeholder images carry
//! [`LOCK_TAG`] and are left out of every [`ObservedState`](super::ObservedState).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::image_api::image::list;
use super::images::NewImage;
use super::observed::{ObservedImage, Visibility};
use super::patch::PatchOp;
use super::{Error, GlanceClient};

/// The tag of lock placeholder images.
pub const LOCK_TAG: &str = "image_manager_lock";
const SCOPE: &str = "image_manager_lock_scope";
const GENERATION: &str = "image_manager_lock_generation";
const HOLDER: &str = "image_manager_lock_holder";
const EXPIRES: &str = "image_manager_lock_expires";
/// Namespace of the derived lock ids (UUID v5).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5d1c_3a0e_7f7b_4c42_9d52_8a51_e3b4_6f10);
/// Ids tried past a generation that was deleted by hand (its id stays used in Glance).
const MAX_SKIPS: u32 = 16;

/// How to take the lock.
#[derive(Clone, Debug)]
pub struct LockOptions {
    /// What is locked within the project: the managed tag, so that two catalogs managed
    /// under different tags do not wait for each other.
    pub scope: String,
    /// How long a holder that stopped renewing still counts as holding.
    pub lease: Duration,
    /// How long to wait for another holder before giving up with [`Error::Locked`].
    pub wait: Duration,
}

/// Who holds (or held) a lock, as the placeholder image says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// `host pid N run R`.
    pub who: String,
    pub generation: u64,
    pub expires: DateTime<Utc>,
}

/// A held lock. Release it with [`Held::release`]; dropping it stops the renewals and leaves
/// the lease to run out.
#[derive(Debug)]
pub struct Held {
    client: Arc<GlanceClient>,
    id: String,
    renewals: JoinHandle<()>,
}

impl GlanceClient {
    /// Takes the apply lock of `options.scope` in this client's project, waiting for another
    /// holder up to `options.wait`. `waiting` is called whenever a new holder is seen to be in
    /// the way, so the caller can say whom it waits for.
    pub async fn lock(
        self: &Arc<Self>,
        options: &LockOptions,
        waiting: &(dyn Fn(&Holder) + Sync),
    ) -> Result<Held, Error> {
        let project = self.project_id().unwrap_or_default();
        let me = holder_name();
        let deadline = Instant::now() + options.wait;
        let mut seen: Option<Holder> = None;
        let mut skip = 0;
        loop {
            let locks = self.lock_images(&project, &options.scope).await?;
            let latest = locks.iter().max_by_key(|l| l.generation);
            if let Some(held) = latest.filter(|l| l.expires > Utc::now()) {
                if Instant::now() >= deadline {
                    return Err(Error::Locked {
                        cloud: self.cloud.clone(),
                        holder: held.who.clone(),
                        expires: held.expires.to_rfc3339(),
                        waited: options.wait,
                    });
                }
                if seen.as_ref() != Some(&held.holder) {
                    waiting(&held.holder);
                    seen = Some(held.holder.clone());
                }
                let pause = Duration::from_secs(2).min(deadline - Instant::now());
                tokio::time::sleep(pause).await;
                continue;
            }
            let generation = latest.map_or(1, |l| l.generation + 1) + u64::from(skip);
            let id = lock_id(&project, &options.scope, generation);
            let expires = Utc::now() + options.lease;
            match self
                .create_image(&placeholder(&id, &options.scope, generation, &me, expires))
                .await
            {
                // A lost answer may be recovered as someone else's image with this id.
                Ok(image) if image.property(HOLDER) == Some(me.as_str()) => {
                    for old in locks.iter().filter(|l| l.generation < generation) {
                        if let Err(error) = self.delete(&old.id).await {
                            tracing::debug!("deleting old lock image {}: {error}", old.id);
                        }
                    }
                    tracing::info!(cloud = %self.cloud, "apply lock taken (generation {generation})");
                    return Ok(Held {
                        client: Arc::clone(self),
                        renewals: renew(Arc::clone(self), id.clone(), options.lease),
                        id,
                    });
                }
                Ok(_) => skip = 0,
                // Another run created this generation first, or it was used before and
                // deleted by hand: look again; past a deleted one, try the next id.
                Err(Error::Api { status: 409, .. }) => {
                    let winner = self.lock_images(&project, &options.scope).await?;
                    if winner.iter().any(|l| l.generation >= generation) {
                        skip = 0;
                    } else if skip < MAX_SKIPS {
                        skip += 1;
                    } else {
                        return Err(Error::Response {
                            operation: "take the apply lock",
                            message: format!("lock ids up to generation {generation} are used"),
                        });
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The lock placeholder images of `scope` owned by `project`.
    async fn lock_images(&self, project: &str, scope: &str) -> Result<Vec<LockImage>, Error> {
        let mut builder = list::Request::builder();
        builder
            .tag([LOCK_TAG].into_iter())
            .owner(project)
            .os_hidden(true)
            .limit(100);
        let ep = Self::build(builder.build())?;
        let body = self.query_body("list lock images", &ep).await?;
        let images = body["images"].as_array().map_or(&[][..], Vec::as_slice);
        Ok(images
            .iter()
            .filter_map(|value| ObservedImage::from_json(value).ok())
            .filter(|image| {
                image.owner.as_deref() == Some(project) && image.property(SCOPE) == Some(scope)
            })
            .filter_map(|image| LockImage::from(&image))
            .collect())
    }
}

impl Held {
    /// Ends the lease now, so the next run need not wait.
    pub async fn release(self) {
        self.renewals.abort();
        let ops = [PatchOp::set_property(EXPIRES, &Utc::now().to_rfc3339())];
        if let Err(error) = self.client.patch_image(&self.id, &ops).await {
            tracing::warn!(
                "cloud {}: releasing the apply lock failed ({error}); it expires with its lease",
                self.client.cloud()
            );
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewals.abort();
    }
}

/// One lock generation as listed.
#[derive(Debug)]
struct LockImage {
    id: String,
    generation: u64,
    holder: Holder,
}

impl std::ops::Deref for LockImage {
    type Target = Holder;
    fn deref(&self) -> &Holder {
        &self.holder
    }
}

impl LockImage {
    fn from(image: &ObservedImage) -> Option<LockImage> {
        let generation = image.property(GENERATION)?.parse().ok()?;
        let expires = DateTime::parse_from_rfc3339(image.property(EXPIRES)?)
            .ok()?
            .with_timezone(&Utc);
        Some(LockImage {
            id: image.id.clone(),
            generation,
            holder: Holder {
                who: image.property(HOLDER).unwrap_or("unknown").to_owned(),
                generation,
                expires,
            },
        })
    }
}

/// The id of one lock generation: the same for every run, so only one create can succeed.
fn lock_id(project: &str, scope: &str, generation: u64) -> String {
    uuid::Uuid::new_v5(
        &NAMESPACE,
        format!("{project}\n{scope}\n{generation}").as_bytes(),
    )
    .to_string()
}

fn placeholder(
    id: &str,
    scope: &str,
    generation: u64,
    holder: &str,
    expires: DateTime<Utc>,
) -> NewImage {
    let mut image = NewImage::new("image-manager apply lock", "raw");
    image.id = Some(id.to_owned());
    image.visibility = Visibility::Private;
    image.os_hidden = true;
    image.tags = vec![LOCK_TAG.to_owned()];
    for (key, value) in [
        (SCOPE, scope.to_owned()),
        (GENERATION, generation.to_string()),
        (HOLDER, holder.to_owned()),
        (EXPIRES, expires.to_rfc3339()),
    ] {
        image.properties.insert(key.to_owned(), value);
    }
    image
}

/// Extends the lease every third of its length until aborted.
fn renew(client: Arc<GlanceClient>, id: String, lease: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(lease / 3).await;
            let ops = [PatchOp::set_property(
                EXPIRES,
                &(Utc::now() + lease).to_rfc3339(),
            )];
            if let Err(error) = client.patch_image(&id, &ops).await {
                tracing::warn!(
                    "cloud {}: renewing the apply lock failed: {error}",
                    client.cloud()
                );
            }
        }
    })
}

/// `host pid N run R`: enough for an operator to find the holder; R tells two runs of one
/// process apart.
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    let run = uuid::Uuid::new_v4().simple().to_string();
    format!("{host} pid {} run {}", std::process::id(), &run[..8])
}

/// Whether a listed image is a lock placeholder (left out of observed state).
pub(super) fn is_lock(value: &Value) -> bool {
    value["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(LOCK_TAG)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_ids_are_stable_and_distinct() {
        assert_eq!(lock_id("p", "t", 1), lock_id("p", "t", 1));
        assert_ne!(lock_id("p", "t", 1), lock_id("p", "t", 2));
        assert_ne!(lock_id("p", "t", 1), lock_id("q", "t", 1));
        assert_ne!(lock_id("p", "t", 1), lock_id("p", "u", 1));
    }

    #[test]
    fn placeholder_round_trips() {
        let expires = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let new = placeholder("id", "managed", 7, "h pid 1 run x", expires);
        let json = serde_json::json!({
            "id": "id", "status": "queued", "owner": "p", "tags": [LOCK_TAG],
            SCOPE: "managed", GENERATION: "7", HOLDER: "h pid 1 run x",
            EXPIRES: new.properties[EXPIRES],
        });
        assert!(is_lock(&json));
        let image = ObservedImage::from_json(&json).unwrap();
        let lock = LockImage::from(&image).unwrap();
        assert_eq!(lock.generation, 7);
        assert_eq!(lock.expires, expires);
        assert_eq!(lock.who, "h pid 1 run x");
        let garbled = serde_json::json!({"id": "x", GENERATION: "seven", EXPIRES: "soon"});
        assert!(LockImage::from(&ObservedImage::from_json(&garbled).unwrap()).is_none());
    }
}
