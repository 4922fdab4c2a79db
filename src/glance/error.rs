//! The one error type of the `glance` module.
//!
//! Every failure of a Keystone or Glance call ends up here, already sorted
//! into what a caller decides on: a missing image, a forbidden action, a
//! protected or in-use image on delete, a transport failure (maybe worth a
//! retry), a stalled transfer, the caller's own data stream failing, or a
//! wait that ran out of time. Messages carry Glance's own JSON `message`.
//!
//! Secrets never reach this type: errors coming out of the SDK are turned into
//! strings with every configured secret (password, token, application
//! credential secret) replaced by `<redacted>` before they are stored, and
//! errors from our own requests only hold URLs (tokens travel in headers).

use std::time::Duration;

/// A boxed error from the caller's side, e.g. the upstream download that feeds
/// an upload.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong while talking to Keystone or Glance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// clouds.yaml / secure.yaml could not be read, or no usable cloud was
    /// selected.
    #[error("cloud configuration: {message}")]
    Config { message: String },

    /// Keystone rejected the credentials, or could not be reached while
    /// authenticating.
    #[error("authentication to cloud `{cloud}` failed: {message}")]
    Auth { cloud: String, message: String },

    /// The service catalog has no usable image (Glance v2) endpoint for the
    /// configured region and interface.
    #[error("no usable image endpoint for cloud `{cloud}`: {message}")]
    Endpoint { cloud: String, message: String },

    /// Glance answered 404 for this image.
    #[error("{operation}: image {image_id} not found")]
    NotFound {
        operation: &'static str,
        image_id: String,
    },

    /// Glance answered 403: the credentials may not do this (e.g. a member
    /// publishing an image, or patching a read-only attribute).
    #[error("{operation}{}: forbidden: {message}", on_image(image_id))]
    Forbidden {
        operation: &'static str,
        image_id: Option<String>,
        message: String,
    },

    /// Delete refused because the image is `protected` (Glance 403).
    #[error("cannot delete image {image_id}: it is protected ({message})")]
    Protected { image_id: String, message: String },

    /// Delete refused because the image is in use, e.g. by a volume or a
    /// server snapshot chain (Glance 409). Reported, not fatal.
    #[error("cannot delete image {image_id}: it is in use ({message})")]
    InUse { image_id: String, message: String },

    /// Any other non-success HTTP answer from Glance, with its message.
    #[error("{operation}{}: HTTP {status}: {message}", on_image(image_id))]
    Api {
        operation: &'static str,
        image_id: Option<String>,
        status: u16,
        message: String,
    },

    /// The request never got an HTTP answer: connect failure, timeout, reset.
    #[error("{operation}{}: request failed", on_image(image_id))]
    Transport {
        operation: &'static str,
        image_id: Option<String>,
        #[source]
        source: reqwest::Error,
    },

    /// A streamed upload made no progress for the idle timeout and was
    /// aborted. The image is now poisoned: delete and recreate it.
    #[error(
        "{operation} on image {image_id}: no progress for {idle:?}, aborted after {bytes} bytes"
    )]
    Stalled {
        operation: &'static str,
        image_id: String,
        idle: Duration,
        bytes: u64,
    },

    /// The caller's data stream failed, so the upload was aborted before its
    /// end (Glance never sees a complete body). Delete and recreate the image.
    #[error("{operation} on image {image_id}: image data stream failed after {bytes} bytes")]
    Source {
        operation: &'static str,
        image_id: String,
        bytes: u64,
        #[source]
        source: BoxError,
    },

    /// A wait (`wait_for`, a [`Watcher`](super::Watcher)) ran out of time; `status` is the last
    /// status seen.
    #[error(
        "image {image_id} did not reach the expected state within {timeout:?} (last status: {status})"
    )]
    WaitTimeout {
        image_id: String,
        timeout: Duration,
        status: String,
    },

    /// A wait saw a state that can never become the expected one, e.g. a
    /// failed import or a killed image.
    #[error("image {image_id} failed: {reason}")]
    WaitFailed { image_id: String, reason: String },

    /// Another run holds the apply lock of this cloud (see `lock.rs`) and did not let go
    /// within the wait.
    #[error(
        "cloud `{cloud}` is locked by another image-manager apply ({holder}; lease until \
         {expires}); gave up after waiting {waited:?}"
    )]
    Locked {
        cloud: String,
        holder: String,
        expires: String,
        waited: Duration,
    },

    /// Glance answered, but not in the shape we expected (bad JSON, missing
    /// fields), or the SDK failed in a way that is not one of the above.
    #[error("{operation}: unexpected response: {message}")]
    Response {
        operation: &'static str,
        message: String,
    },

    /// The request could not be built from the arguments given (e.g. an image
    /// id that is not a valid URL path segment).
    #[error("invalid request: {message}")]
    InvalidRequest { message: String },
}

impl Error {
    /// The HTTP status Glance answered with, when the error is an HTTP answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::NotFound { .. } => Some(404),
            Error::Forbidden { .. } | Error::Protected { .. } => Some(403),
            Error::InUse { .. } => Some(409),
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Formats ` on image <id>` when an id is known, for error messages.
fn on_image(image_id: &Option<String>) -> String {
    match image_id {
        Some(id) => format!(" on image {id}"),
        None => String::new(),
    }
}

/// Turns Glance's error `message` into one readable line: Glance wraps some
/// messages in HTML line breaks and repeats the status line.
pub(crate) fn clean_message(raw: &str) -> String {
    let text = raw.replace("<br />", " ").replace("<br/>", " ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_message_collapses_html_breaks() {
        let raw = "403 Forbidden\n\nImage is protected<br /><br />\n\n  ";
        assert_eq!(clean_message(raw), "403 Forbidden Image is protected");
    }

    #[test]
    fn display_names_operation_and_image() {
        let err = Error::Api {
            operation: "patch image",
            image_id: Some("abc".into()),
            status: 409,
            message: "Property x does not exist.".into(),
        };
        assert_eq!(
            err.to_string(),
            "patch image on image abc: HTTP 409: Property x does not exist."
        );
        assert_eq!(err.http_status(), Some(409));
    }
}
