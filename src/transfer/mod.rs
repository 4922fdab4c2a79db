//! Moving image bytes from upstream to Glance: verified, streamed, in constant memory.
//!
//! The data path of `apply` (design.md "Data path"): upstream stream → (decompress) → hash →
//! Glance. This module knows nothing about plans or parallelism; it turns a source into a
//! verified byte stream. The pieces are separate because each has its own reason to fail and its
//! own tests: [`fetch`] opens a URL as a stream that resumes itself after breaks, with the
//! transient/fatal policy of [`retry`]; [`decompress`] undoes `.gz`/`.xz`/`.bz2`/`.zst` in the
//! stream; [`checksum`] resolves the expected digest (inline, or from a published sums file);
//! [`hash`] computes several digests in one pass; [`sniff`] checks the first bytes against the
//! declared disk format. All failures are one [`Error`], whose messages never show credentials.

pub mod checksum;
pub mod decompress;
mod error;
pub mod fetch;
pub mod hash;
pub mod pipeline;
pub mod retry;
pub mod sniff;

/// The crate's one URL redaction, under the name `transfer` code has always used.
pub use crate::redact::url as redact;
pub use error::Error;
