//! The one error type of `mirror`.
//!
//! S3 messages come from object_store and the services behind it; they may quote request URLs,
//! so they are stored as text that the CLI passes through [`crate::redact::text`] and the
//! secret scrubber before it is shown. Upstream failures keep the `transfer` error (already
//! redacted) as their source.

use super::layout::LayoutError;
use crate::transfer;

/// Why a version could not be mirrored, or the mirror could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The S3 client cannot be set up: credentials, endpoint, CA bundle, an invalid key.
    #[error("{0}")]
    Config(String),
    /// An S3 request failed after object_store's retries.
    #[error("{what} {object} failed: {message}")]
    S3 {
        what: &'static str,
        object: String,
        message: String,
    },
    /// The upstream could not be read, or its bytes did not verify (digest, format).
    #[error("the upstream file could not be mirrored")]
    Transfer(#[source] transfer::Error),
    /// No object key can be made for this version with the layout.
    #[error("no object key")]
    Layout(#[source] LayoutError),
}
