//! Creating images: upstream bytes streamed, verified and only then made usable.
//!
//! One [`create`] call serves one catalog version for every cloud that lacks it: the bytes are
//! downloaded ONCE and fanned out to each cloud's upload in the same pass
//! ([`transfer::pipeline`]). Per cloud the way in is the one the plan resolved
//! ([`DataPath`](crate::plan::DataPath)): glance-direct (stage, verify, import), a classic
//! upload whose body fails before its last chunk when the digest is wrong, or web-download
//! (Glance pulls; the tool reads the image back and verifies it).
//!
//! Every new image starts private, hidden, unprotected, under a staging name, with all its
//! metadata and the [`UNVERIFIED`] marker. The marker comes off only after both the upstream
//! digest and Glance's own `os_hash_value` matched, in the same patch that gives the image its
//! final name and visibility (the plan's publish step, after older versions moved aside): one
//! call instead of two per image. A run that ends between verification and publication
//! therefore leaves a marked image, which the next run deletes and uploads again — a
//! re-upload, never an unverified image in use. When the publish cannot happen, the marker
//! comes off alone ([`unmark`]), so the verified image is kept for the next run. An image that
//! fails any check is deleted: Glance poisons failed uploads, so nothing is ever retried in
//! place.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{Error, chain};
use super::hooks::Hooks;
use super::report::{Timings, Transfer};
use super::source::{self, Chosen};
use super::verify::{check_stored, landed, read_back};
use crate::catalog::checksums::Algorithm;
use crate::desired::DesiredImage;
use crate::desired::properties::{BUILD_DATE, UNVERIFIED};
use crate::glance::{
    self, First, GlanceClient, ImportMethod, NewImage, PatchOp, Visibility, Waited, Watcher,
    conditions,
};
use crate::plan::Way;
use crate::transfer;
use crate::transfer::checksum::Resolver;
use crate::transfer::decompress::decompress;
use crate::transfer::fetch::Fetcher;
use crate::transfer::hash::Digests;
use crate::transfer::pipeline::{self, Expected, Fanout, Verified};
use futures::future::join_all;

/// What every create of one run shares.
pub(super) struct Context {
    pub fetcher: Fetcher,
    pub resolver: Resolver,
    /// Bound on an import (or an upload's activation) after the bytes are in.
    pub import_timeout: Duration,
    pub hooks: Arc<dyn Hooks>,
}

/// One cloud the image goes to.
#[derive(Clone)]
pub(super) struct Destination {
    /// The executor's index of this cloud; handed back with the result.
    pub index: usize,
    pub client: Arc<GlanceClient>,
    /// Waits for this cloud's imports, one status read for all of them.
    pub watcher: Watcher,
    /// The way in the plan resolved for this cloud.
    pub way: Way,
    /// The cloud's `os_hash_algo`, computed in the same pass to compare with `os_hash_value`.
    pub hash_algo: Algorithm,
}

/// A verified image, not yet published, and how it got in.
#[derive(Debug)]
pub(super) struct Uploaded {
    pub created: Created,
    pub transfer: Transfer,
}

/// An image this run created and verified, as its publish and member steps act on it: still
/// marked [`UNVERIFIED`] until [`verified_ops`] go out with its publish patch.
#[derive(Clone, Debug)]
pub(super) struct Created {
    pub id: String,
    /// The `image_build_date` its publish records (see [`build_date`]).
    pub built: Option<String>,
}

/// A create that failed; its image (if one was made) is already deleted.
#[derive(Debug)]
pub(super) struct Failed {
    pub id: Option<String>,
    pub error: Error,
    pub transfer: Option<Transfer>,
}

/// Uploads of one version into one cloud started over in a new image after Glance failed
/// transiently (each also takes one retry from the cloud's run budget).
const MAX_RECREATES: u32 = 4;

/// Uploads and verifies `image` into every destination; results carry the destination index.
///
/// A destination whose upload failed because Glance failed transiently (its image is deleted
/// by then) is tried again with a new image, up to [`MAX_RECREATES`] times: the upstream is
/// fetched again, since an upload body is never replayed into a poisoned image.
pub(super) async fn create(
    ctx: &Context,
    image: &DesiredImage,
    destinations: Vec<Destination>,
) -> Vec<(usize, Result<Uploaded, Failed>)> {
    let mut results = Vec::new();
    let mut pending = destinations;
    let mut recreated: BTreeMap<usize, u32> = BTreeMap::new();
    while !pending.is_empty() {
        let by_index: BTreeMap<usize, Destination> =
            pending.iter().map(|d| (d.index, d.clone())).collect();
        pending = Vec::new();
        for (index, result) in create_once(ctx, image, by_index.values().cloned().collect()).await {
            let destination = &by_index[&index];
            let count = recreated.entry(index).or_default();
            match result {
                Err(failed)
                    if failed.error.recreatable()
                        && *count < MAX_RECREATES
                        && destination.client.retrying().take_recreate() =>
                {
                    *count += 1;
                    tracing::warn!(
                        "cloud {}: {}: {}; uploading again into a new image",
                        destination.client.cloud(),
                        image.name,
                        chain(&failed.error)
                    );
                    pending.push(destination.clone());
                }
                other => results.push((index, other)),
            }
        }
    }
    results
}

/// One attempt of [`create`] for every destination.
async fn create_once(
    ctx: &Context,
    image: &DesiredImage,
    destinations: Vec<Destination>,
) -> Vec<(usize, Result<Uploaded, Failed>)> {
    let (streamed, pulled): (Vec<_>, Vec<_>) =
        destinations.into_iter().partition(|d| d.way.streams());
    let pulls = join_all(
        pulled
            .into_iter()
            .map(|d| async move { (d.index, web_download(ctx, image, &d).await) }),
    );
    let (streamed, pulled) = tokio::join!(stream(ctx, image, streamed), pulls);
    streamed.into_iter().chain(pulled).collect()
}

/// Downloads once and streams to every destination that takes the bytes from us.
async fn stream(
    ctx: &Context,
    image: &DesiredImage,
    destinations: Vec<Destination>,
) -> Vec<(usize, Result<Uploaded, Failed>)> {
    if destinations.is_empty() {
        return Vec::new();
    }
    let expected = match expected(ctx, image).await {
        Ok(expected) => expected,
        Err(error) => {
            let error = Arc::new(error);
            return destinations
                .into_iter()
                .map(|d| {
                    (
                        d.index,
                        Err(failed(None, Error::Shared(Arc::clone(&error)))),
                    )
                })
                .collect();
        }
    };
    let mut results = Vec::new();
    let mut live = Vec::new();
    for destination in destinations {
        let started = Instant::now();
        match create_image(&destination.client, image).await {
            Ok(id) => {
                let timings = Timings {
                    create: started.elapsed(),
                    ..Timings::default()
                };
                live.push((destination, id, timings));
            }
            Err(error) => results.push((destination.index, Err(failed(None, error.into())))),
        }
    }
    if live.is_empty() {
        return results;
    }
    let transfer_started = Instant::now();
    let (download, chosen) = match source::open(&ctx.fetcher, &image.source, &image.name).await {
        Ok(opened) => opened,
        Err(error) => {
            let error = Arc::new(Error::from(error));
            for (destination, id, _) in live {
                discard(&destination.client, &id).await;
                results.push((
                    destination.index,
                    Err(failed(Some(id), Error::Shared(Arc::clone(&error)))),
                ));
            }
            return results;
        }
    };
    let built = build_date(image, download.last_modified());
    let clouds: Vec<&str> = live.iter().map(|(d, ..)| d.client.cloud()).collect();
    let progress = ctx.hooks.transfer_started(
        &format!("{} → {}", image.name, clouds.join(", ")),
        download.length(),
    );
    let mut fanout = Fanout::new();
    let uploads: Vec<_> = live
        .iter()
        .map(|(destination, id, _)| {
            let body = fanout.add();
            let (client, id, way) = (Arc::clone(&destination.client), id.clone(), destination.way);
            tokio::spawn(async move {
                if way == Way::GlanceDirect {
                    client.stage(&id, body).await
                } else {
                    client.upload(&id, body).await
                }
            })
        })
        .collect();
    let algorithms: Vec<Algorithm> = live.iter().map(|(d, ..)| d.hash_algo).collect();
    let bytes = decompress(download, chosen.compression);
    let verified = pipeline::run(bytes, &expected, &algorithms, fanout, &|n| {
        progress.advance(n)
    })
    .await;
    progress.finish(verified.is_ok());
    drop(progress);
    let finishing = live
        .into_iter()
        .zip(uploads)
        .map(|((to, id, mut timings), upload)| {
            let (verified, built, chosen) = (&verified, built.clone(), &chosen);
            async move {
                let sent = upload.await.unwrap_or_else(|e| {
                    Err(glance::Error::InvalidRequest {
                        message: e.to_string(),
                    })
                });
                timings.transfer = transfer_started.elapsed();
                let result = finish(ctx, &to, &id, verified, sent, &mut timings).await;
                let created = Created { id, built };
                let settled = settle(&to, created, verified, result, chosen, timings);
                (to.index, settled.await)
            }
        });
    results.extend(join_all(finishing).await);
    results
}

/// After the body: import (glance-direct), wait until active, compare `os_hash_value`.
async fn finish<'v>(
    ctx: &Context,
    to: &Destination,
    id: &str,
    verified: &'v Result<Verified, transfer::Error>,
    sent: Result<u64, glance::Error>,
    timings: &mut Timings,
) -> Result<&'v Verified, Error> {
    let verified = match (verified, sent) {
        (Ok(verified), Ok(_)) => verified,
        // The body failed because the bytes were wrong: that is the cause to report.
        (Err(error), Err(glance::Error::Source { .. }) | Ok(_)) => {
            return Err(Error::Verify(chain(error)));
        }
        // The whole body went out and the answer was lost: did Glance take it?
        (Ok(verified), Err(error @ glance::Error::Transport { .. })) => {
            if !landed(&to.client, id, to.way, verified.digests.bytes).await {
                return Err(error.into());
            }
            verified
        }
        (_, Err(error)) => return Err(error.into()),
    };
    let started = Instant::now();
    let first = if to.way == Way::GlanceDirect {
        to.client.import(id, &ImportMethod::GlanceDirect).await?;
        First::AfterImport {
            staged: timings.transfer,
            bytes: verified.digests.bytes,
        }
    } else {
        // An upload is active when its PUT returns.
        First::Now
    };
    let active = activated(ctx, to, id, first).await?;
    timings.imported(started, &active);
    let started = Instant::now();
    check_stored(&to.client, &active.image, &verified.digests).await?;
    timings.verify = started.elapsed();
    Ok(verified)
}

/// Keeps a verified image, or deletes a failed one and reports why.
async fn settle(
    to: &Destination,
    created: Created,
    verified: &Result<Verified, transfer::Error>,
    result: Result<&Verified, Error>,
    chosen: &Chosen,
    timings: Timings,
) -> Result<Uploaded, Failed> {
    match result {
        Ok(verified) => Ok(Uploaded {
            created,
            transfer: transferred(to.way, &verified.digests, chosen, timings),
        }),
        Err(error) => {
            discard(&to.client, &created.id).await;
            Err(Failed {
                id: Some(created.id),
                error,
                transfer: verified
                    .as_ref()
                    .ok()
                    .map(|v| transferred(to.way, &v.digests, chosen, timings)),
            })
        }
    }
}

/// Glance pulls the upstream file itself; the tool then reads it back and verifies it.
async fn web_download(
    ctx: &Context,
    image: &DesiredImage,
    to: &Destination,
) -> Result<Uploaded, Failed> {
    let expected = expected(ctx, image).await.map_err(|e| failed(None, e))?;
    let chosen = source::probe(&ctx.fetcher, &image.source, &image.name)
        .await
        .map_err(|e| failed(None, e.into()))?;
    let started = Instant::now();
    let id = create_image(&to.client, image)
        .await
        .map_err(|e| failed(None, e.into()))?;
    let mut timings = Timings {
        create: started.elapsed(),
        ..Timings::default()
    };
    let result = async {
        let uri = chosen.url.clone();
        let started = Instant::now();
        to.client
            .import(&id, &ImportMethod::WebDownload { uri })
            .await?;
        let first = First::AfterImport {
            staged: Duration::ZERO,
            bytes: 0,
        };
        let active = activated(ctx, to, &id, first).await?;
        timings.imported(started, &active);
        let started = Instant::now();
        let verified = read_back(
            ctx,
            &to.client,
            &active.image,
            &expected,
            &format!("{} (verifying)", image.name),
        )
        .await?;
        check_stored(&to.client, &active.image, &verified.digests).await?;
        timings.verify = started.elapsed();
        let modified = ctx.fetcher.last_modified(&chosen.url).await;
        Ok((verified, build_date(image, modified)))
    }
    .await;
    match result {
        Ok((verified, built)) => Ok(Uploaded {
            created: Created { id, built },
            transfer: transferred(Way::WebDownload, &verified.digests, &chosen, timings),
        }),
        Err(error) => {
            discard(&to.client, &id).await;
            Err(failed(Some(id), error))
        }
    }
}

/// The catalog's digest (inline or from its sums file) and the declared format.
async fn expected(ctx: &Context, image: &DesiredImage) -> Result<Expected, Error> {
    let digest = ctx.resolver.resolve(&image.source.checksum).await?;
    Ok(Expected {
        digest,
        disk_format: image.disk_format,
    })
}

/// How [`create_image`] makes an image visible until its publish.
const CREATED_VISIBILITY: Visibility = Visibility::Private;

/// Creates the image: private, hidden, unprotected, staging name, all metadata, the
/// [`UNVERIFIED`] marker, and an id chosen here so a create whose answer was lost can be
/// retried without making a second image.
async fn create_image(
    client: &GlanceClient,
    image: &DesiredImage,
) -> Result<String, glance::Error> {
    let id = image
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut properties = image.properties.clone();
    properties.insert(UNVERIFIED.into(), "true".into());
    let new = NewImage {
        id: Some(id.clone()),
        name: staging_name(&image.name),
        disk_format: image.disk_format.as_str().into(),
        container_format: "bare".into(),
        visibility: CREATED_VISIBILITY,
        os_hidden: true,
        protected: false,
        min_disk: image.min_disk,
        min_ram: image.min_ram,
        tags: image.tags.iter().cloned().collect(),
        properties,
    };
    Ok(client.create_image(&new).await?.id)
}

/// The name a new image has until it is verified and published.
fn staging_name(name: &str) -> String {
    format!("{name} [image-manager: pending]")
}

/// Waits until active; a failed or stuck import reports Glance's task message.
async fn activated(
    ctx: &Context,
    to: &Destination,
    id: &str,
    first: First,
) -> Result<Waited, Error> {
    let client = &to.client;
    match to
        .watcher
        .wait(id, conditions::is_active(), ctx.import_timeout, first)
        .await
    {
        Ok(image) => Ok(image),
        // The image is gone or unreachable: nothing to ask about its import.
        Err(error @ (glance::Error::NotFound { .. } | glance::Error::Transport { .. })) => {
            Err(error.into())
        }
        Err(source) => {
            let task = client.image_tasks(id).await.ok().and_then(|tasks| {
                let task = tasks.iter().rev().find(|t| !t.message.is_empty())?;
                Some(format!("{}: {}", task.status, task.message))
            });
            Err(Error::Import { source, task })
        }
    }
}

/// The `image_build_date` to record for a version the catalog gives no `build_date`: the day
/// (UTC) the upstream last changed the file (`Last-Modified`), as `update` dates new versions.
/// scs-0102 requires the property; `None` when the catalog has one or the upstream sent none.
fn build_date(
    image: &DesiredImage,
    modified: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<String> {
    if image.properties.contains_key(BUILD_DATE) {
        return None;
    }
    let Some(modified) = modified else {
        tracing::warn!(
            "{}: no build_date in the catalog and no Last-Modified from {}: the image gets no \
             image_build_date (scs-0102 requires it)",
            image.name,
            crate::transfer::redact(&image.source.download_url)
        );
        return None;
    };
    // A clock ahead of ours must not date the image in the future (scs-0102 refuses that).
    let day = modified.min(chrono::Utc::now());
    Some(day.format("%Y-%m-%d").to_string())
}

/// What makes a verified image count as verified: the marker removed, and `built` (the
/// upstream's date, see [`build_date`]) recorded as `image_build_date`. Sent with the publish
/// patch, or alone by [`unmark`].
pub(super) fn verified_ops(built: Option<&str>) -> Vec<PatchOp> {
    let mut ops = vec![PatchOp::remove_property(UNVERIFIED)];
    if let Some(date) = built {
        ops.push(PatchOp::set_property(BUILD_DATE, date));
    }
    ops
}

/// The publish patch of an image [`create_image`] made: [`verified_ops`], the final name, and of
/// visibility, `os_hidden` and protection only what differs from how it was created (private,
/// hidden, unprotected). Glance checks every op that sets a value against its whole image
/// schema — about 11 ms of its CPU each on the sandbox, most of what a publish costs it.
pub(super) fn publish_ops(
    built: Option<&str>,
    name: &str,
    visibility: &Visibility,
    hidden: bool,
    protected: bool,
) -> Vec<PatchOp> {
    let mut ops = verified_ops(built);
    ops.push(PatchOp::set_name(name));
    if *visibility != CREATED_VISIBILITY {
        ops.push(PatchOp::set_visibility(visibility));
    }
    if !hidden {
        ops.push(PatchOp::set_hidden(false));
    }
    if protected {
        ops.push(PatchOp::set_protected(true));
    }
    ops
}

/// Removes the marker of a verified image whose publish did not happen (blocked or refused),
/// so the next run publishes it instead of uploading it again. Best effort: a marked image
/// costs a re-upload, nothing worse.
pub(super) async fn unmark(client: &GlanceClient, id: &str, built: Option<&str>) -> bool {
    match client.patch_image(id, &verified_ops(built)).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(
                "cloud {}: could not mark verified image {id} as verified: {}; the next run \
                 uploads it again",
                client.cloud(),
                chain(&error)
            );
            false
        }
    }
}

/// Deletes a failed image (best effort: the next plan cleans up what remains, it is marked).
async fn discard(client: &GlanceClient, id: &str) {
    if let Err(error) = client.delete(id).await
        && !matches!(error, glance::Error::NotFound { .. })
    {
        tracing::warn!(
            "cloud {}: could not delete failed image {id}: {}; the next run cleans it up",
            client.cloud(),
            chain(&error)
        );
    }
}

fn failed(id: Option<String>, error: Error) -> Failed {
    Failed {
        id,
        error,
        transfer: None,
    }
}

/// The report's record of a verified transfer.
fn transferred(method: Way, digests: &Digests, chosen: &Chosen, timings: Timings) -> Transfer {
    Transfer {
        method,
        source: chosen.kind,
        fallback: chosen.fallback.clone(),
        bytes: digests.bytes,
        digests: digests
            .iter()
            .map(|(algorithm, hex)| (algorithm, hex.to_owned()))
            .collect(),
        timings,
    }
}

#[cfg(test)]
mod tests;
