//! Why a step failed, typed so that the executor can tell a Glance hiccup (delete the image,
//! upload again into a new one) from a wrong upstream file (never try again this run).

use crate::glance::{self, retry};
use crate::transfer;

/// What went wrong while creating one image in one cloud.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Glance call failed (after the client's own retries).
    #[error(transparent)]
    Glance(#[from] glance::Error),
    /// The upstream file could not be fetched, or its bytes are not what the catalog says.
    #[error(transparent)]
    Transfer(#[from] transfer::Error),
    /// The import failed or did not finish in time; with Glance's task message when it has one.
    #[error("{source}{}", task.as_ref().map(|t| format!("; Glance task {t}")).unwrap_or_default())]
    Import {
        source: glance::Error,
        task: Option<String>,
    },
    /// The bytes are not proven right: the upstream failed verification, or Glance's
    /// `os_hash_value` disagrees with the verified bytes or cannot be checked.
    #[error("{0}")]
    Verify(String),
    /// One failure reported for every cloud of a fan-out (the upstream's, not a cloud's).
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
}

impl Error {
    /// Whether uploading again into a new image may succeed: Glance failed transiently
    /// (503, a dropped connection, a stalled body). Wrong bytes, refusals and failed imports
    /// would fail the same way again.
    pub fn recreatable(&self) -> bool {
        match self {
            Error::Glance(error) => {
                retry::classify(error, retry::Repeat::Idempotent) == retry::Class::Transient
            }
            _ => false,
        }
    }
}

/// An error and its causes on one line (`a: b: c`), as the report shows them; a cause whose
/// text the message already contains is not repeated.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> glance::Error {
        glance::Error::Api {
            operation: "stage image data",
            image_id: Some("i".into()),
            status,
            message: "m".into(),
        }
    }

    #[test]
    fn only_transient_glance_failures_are_recreated() {
        assert!(Error::Glance(api(503)).recreatable());
        assert!(!Error::Glance(api(400)).recreatable());
        assert!(!Error::Verify("x".into()).recreatable());
        assert!(!Error::Transfer(transfer::Error::NoChecksum).recreatable());
        let import = Error::Import {
            source: api(503),
            task: Some("failure: boom".into()),
        };
        assert!(!import.recreatable());
        assert_eq!(
            import.to_string(),
            "stage image data on image i: HTTP 503: m; Glance task failure: boom"
        );
    }
}
