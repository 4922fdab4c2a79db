//! `mirror`: copy every catalog version from its upstream `url` into S3-compatible object
//! storage, so the catalog keeps working when upstreams delete old builds.
//!
//! Why a module of its own: it is the one place that writes to object storage, and the one
//! promise it keeps is that a `mirror_url` names an object that exists and holds exactly the
//! bytes the catalog's checksum names. The pieces: [`layout`] turns a version into an object
//! key (the osism layout by default), [`store`] talks to the bucket (object_store: signing,
//! retries, multipart), [`copy`] streams one version through the verifying pipeline into a
//! multipart upload that is completed only when the digest matched. This file plans the work
//! over a catalog and reports one [`Outcome`] per version; recording `mirror_url`s in the
//! catalog files is `update`'s comment-preserving editor ([`crate::update::record_mirror_urls`]).
//! `update --mirror` uses the same [`Mirror`] for the builds it adds.

mod copy;
mod error;
pub mod layout;
pub mod store;

use std::sync::Arc;

use futures::StreamExt;
use regex::Regex;
use serde::Serialize;

pub use copy::{Copied, Job};
pub use error::Error;
pub use layout::Layout;
pub use store::{Requests, S3Config, Store};

use crate::apply::Hooks;
use crate::apply::error::chain;
use crate::catalog::checksums::Digest;
use crate::catalog::{Catalog, Compression, Definition, Origin, Version};
use crate::desired::{self, Checksum};
use crate::transfer::checksum::Resolver;
use crate::transfer::fetch::{FetchOptions, Fetcher};
use crate::transfer::pipeline::Expected;

/// A bucket, the layout of keys in it, and the URL the objects are read from.
pub struct Mirror {
    store: Store,
    fetcher: Fetcher,
    layout: Layout,
    /// What a `mirror_url` starts with: `--mirror-base`, else the bucket's path-style URL.
    base: String,
    hooks: Arc<dyn Hooks>,
    /// The S3 secret key and session token, scrubbed out of every message ([`Mirror::describe`]).
    secrets: Vec<String>,
}

impl Mirror {
    pub fn new(
        config: &S3Config,
        layout: Layout,
        base: Option<String>,
        fetch: &FetchOptions,
        hooks: Arc<dyn Hooks>,
    ) -> Result<Mirror, Error> {
        Ok(Mirror {
            store: Store::new(config)?,
            fetcher: Fetcher::new(fetch).map_err(Error::Transfer)?,
            layout,
            base: base.unwrap_or_else(|| config.public_base()),
            hooks,
            secrets: config.secrets(),
        })
    }

    /// `error` and its causes on one line, fit for output: URLs redacted, and the S3 secrets
    /// removed should a service have echoed them.
    pub fn describe(&self, error: &Error) -> String {
        let text = crate::redact::text(&chain(error));
        crate::redact::secrets(&text, self.secrets.iter().map(String::as_str))
    }

    /// What `mirror_url`s start with.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// S3 requests sent so far, by method.
    pub fn requests(&self) -> Requests {
        self.store.requests()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The `mirror_url` of `key`.
    pub fn url_of(&self, key: &str) -> String {
        layout::url(&self.base, key)
    }

    /// Copies one build (a catalog version, or one `update` is about to add) unless its
    /// object is there with its digest already; returns its key and how it went.
    pub async fn copy_build(
        &self,
        definition: &Definition,
        build: Build<'_>,
    ) -> Result<(String, Copied), Error> {
        let key = self
            .layout
            .key(definition, build.version)
            .map_err(Error::Layout)?;
        let job = Job {
            key: key.clone(),
            url: build.url.to_owned(),
            compression: build.compression,
            expected: Expected {
                digest: build.digest,
                disk_format: definition.format,
            },
        };
        let label = format!("{} {} → mirror", definition.name, build.version);
        let copied = copy::copy(&self.store, &self.fetcher, &job, &*self.hooks, &label).await?;
        Ok((key, copied))
    }
}

/// One build of a definition to copy.
#[derive(Clone, Debug)]
pub struct Build<'a> {
    pub version: &'a str,
    /// The upstream URL (never a mirror).
    pub url: &'a str,
    /// Compression of `url`; the object holds the decompressed image.
    pub compression: Option<Compression>,
    /// What the decompressed bytes must hash to.
    pub digest: Digest,
}

/// What `mirror` does, resolved from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only definitions whose name matches (unanchored).
    pub filter: Option<Regex>,
    /// Versions copied at once.
    pub parallel: usize,
}

/// How one version fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Copied and verified now.
    Mirrored,
    /// Copied and verified now, over an object without our digest (or with another one).
    Replaced,
    /// Already there with the right digest (one `HEAD`, nothing sent).
    Present,
    /// Not mirrored; see `message`. Nothing was left in the bucket.
    Failed,
    /// Not attempted: `version: latest` (a moving target), or no checksum to verify against.
    Skipped,
}

/// The result for one version (also its JSON form).
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub definition: String,
    pub version: String,
    /// The object key, when the layout gives one.
    pub key: Option<String>,
    /// Where the object is read from; set when it exists (mirrored, replaced, present).
    pub mirror_url: Option<String>,
    pub status: Status,
    /// Bytes uploaded (the decompressed image).
    pub bytes: Option<u64>,
    /// Why it failed or was skipped.
    pub message: Option<String>,
    /// Where the version is in the catalog, for recording `mirror_url`.
    #[serde(skip)]
    pub origin: Origin,
}

impl Outcome {
    /// Whether the object exists as `mirror_url` says.
    pub fn exists(&self) -> bool {
        matches!(
            self.status,
            Status::Mirrored | Status::Replaced | Status::Present
        )
    }
}

/// The top-level entry point of `mirror`: every version of the enabled, selected definitions,
/// at most `options.parallel` at once, in catalog order. A failed version does not stop the
/// others.
pub async fn mirror(catalog: &Catalog, mirror: &Mirror, options: &Options) -> Vec<Outcome> {
    let resolver = Resolver::new(mirror.fetcher.clone());
    let versions = catalog
        .enabled()
        .filter(|d| options.filter.as_ref().is_none_or(|f| f.is_match(&d.name)))
        .flat_map(|d| d.versions.iter().map(move |v| (d, v)));
    futures::stream::iter(versions)
        .map(|(definition, version)| one(mirror, &resolver, definition, version))
        .buffered(options.parallel.max(1))
        .collect()
        .await
}

async fn one(
    mirror: &Mirror,
    resolver: &Resolver,
    definition: &Definition,
    version: &Version,
) -> Outcome {
    let key = mirror.layout.key(definition, &version.version).ok();
    let mut outcome = Outcome {
        definition: definition.name.clone(),
        version: version.version.clone(),
        key: key.clone(),
        mirror_url: None,
        status: Status::Skipped,
        bytes: None,
        message: None,
        origin: definition.origin,
    };
    if version.is_latest() {
        outcome.message = Some("`latest` is a moving target: pin a version to mirror it".into());
        return outcome;
    }
    let checksum = desired::checksum_of(version);
    if matches!(checksum, Checksum::Missing) {
        outcome.message = Some("no checksum to verify the copy against".into());
        return outcome;
    }
    let result = match resolver.resolve(&checksum).await {
        Ok(digest) => {
            let build = Build {
                version: &version.version,
                url: &version.url,
                compression: desired::compression_of_url(definition, version),
                digest,
            };
            mirror.copy_build(definition, build).await
        }
        Err(error) => Err(Error::Transfer(error)),
    };
    match result {
        Ok((key, copied)) => {
            outcome.mirror_url = Some(mirror.url_of(&key));
            (outcome.status, outcome.bytes) = match copied {
                Copied::Present => (Status::Present, None),
                Copied::Uploaded { bytes, replaced } => (
                    if replaced {
                        Status::Replaced
                    } else {
                        Status::Mirrored
                    },
                    Some(bytes),
                ),
            };
        }
        Err(error) => {
            outcome.status = Status::Failed;
            outcome.message = Some(mirror.describe(&error));
        }
    }
    outcome
}
