//! Retry policy for downloads: which failures are worth another attempt, and how long to wait.
//!
//! Mechanism and policy are apart (kube's `error_policy`, uv's `retry.rs`): [`fetch`](super::fetch)
//! runs the loop, this module only answers "transient or fatal?" ([`classify`]) and "how long
//! until the next attempt?" ([`RetryPolicy::delay`]). Both are plain functions so they are tested
//! without a network. Middleware-style request retries are not enough for us: a download that
//! breaks halfway must be resumed, not re-sent, so the loop lives around the whole stream.
//!
//! What is transient: connection failures, timeouts, bodies that break off, truncation, 5xx,
//! 408 and 429. What is fatal: other 4xx (asking again will not make a missing file appear),
//! TLS certificate problems (a retry cannot fix trust, and retrying hides an attack), a file that
//! changed upstream, and everything that is not about the network.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use super::Error;

/// Whether an error is worth another attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Transient,
    Fatal,
}

/// How often and how patiently to retry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total (the first included) without progress before giving up; at least 1.
    /// A download that received bytes since its last failure starts counting again.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles for every further one.
    pub base_delay: Duration,
    /// Upper bound for one wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th consecutive failure (1-based): `base_delay · 2^(failures-1)`,
    /// capped at `max_delay`. No jitter: one client retrying a handful of mirrors does not cause
    /// the thundering herd jitter is for, and a deterministic schedule is testable.
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay)
    }

    /// Sleeps for [`RetryPolicy::delay`] on tokio's clock (so tests can pause time).
    pub async fn wait(&self, failures: u32) {
        tokio::time::sleep(self.delay(failures)).await;
    }
}

/// Sorts `error` into transient or fatal (see the module docs), walking the `source` chain of
/// transport errors so that a certificate problem deep inside a connect error stays fatal.
pub fn classify(error: &Error) -> Class {
    match error {
        Error::Status { status, .. } => status_class(*status),
        Error::Length {
            expected, received, ..
        } if received < expected => Class::Transient,
        Error::Request { source, .. } => {
            if source.is_builder() || source.is_redirect() || is_certificate(source) {
                Class::Fatal
            } else if source.is_connect() || source.is_timeout() || source.is_request() {
                Class::Transient
            } else {
                chain_class(source)
            }
        }
        Error::Body { source, .. } => {
            if is_certificate(source) {
                Class::Fatal
            } else {
                Class::Transient
            }
        }
        _ => Class::Fatal,
    }
}

/// 5xx, 408 (request timeout) and 429 (too many requests) may pass; other statuses will not.
fn status_class(status: u16) -> Class {
    match status {
        408 | 429 | 500..=599 => Class::Transient,
        _ => Class::Fatal,
    }
}

/// Transient when some cause in the chain is an I/O error of a kind that a new connection can
/// cure (reset, refused, aborted, timed out, early EOF).
fn chain_class(error: &(dyn StdError + 'static)) -> Class {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<io::Error>()
            && matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::UnexpectedEof
            )
        {
            return Class::Transient;
        }
        cause = current.source();
    }
    Class::Fatal
}

/// Whether any cause in the chain is a TLS certificate problem.
///
/// rustls is not a direct dependency, so its error type cannot be downcast to; its messages
/// ("invalid peer certificate: …", "certificate verify failed") are stable enough to match.
pub(crate) fn is_certificate(error: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if current.to_string().to_lowercase().contains("certificate") {
            return true;
        }
        cause = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Error {
        Error::Status {
            url: "http://x/".into(),
            status,
        }
    }

    #[test]
    fn statuses() {
        for code in [500, 502, 503, 504, 408, 429] {
            assert_eq!(classify(&status(code)), Class::Transient, "{code}");
        }
        for code in [400, 401, 403, 404, 410, 416] {
            assert_eq!(classify(&status(code)), Class::Fatal, "{code}");
        }
    }

    #[test]
    fn truncation_is_transient_overlong_is_fatal() {
        let length = |expected, received| Error::Length {
            url: "http://x/".into(),
            expected,
            received,
        };
        assert_eq!(classify(&length(10, 5)), Class::Transient);
        assert_eq!(classify(&length(10, 11)), Class::Fatal);
    }

    #[test]
    fn non_network_errors_are_fatal() {
        let changed = Error::Changed {
            url: "http://x/".into(),
            offset: 3,
        };
        assert_eq!(classify(&changed), Class::Fatal);
        let exhausted = Error::Exhausted {
            url: "http://x/".into(),
            attempts: 3,
            source: Box::new(status(503)),
        };
        assert_eq!(classify(&exhausted), Class::Fatal);
        assert_eq!(classify(&Error::NoChecksum), Class::Fatal);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[test]
    fn chain_walks_to_io_kinds_and_certificates() {
        let reset = Outer(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(chain_class(&reset), Class::Transient);
        let other = Outer(io::Error::other("weird"));
        assert_eq!(chain_class(&other), Class::Fatal);
        let cert = Outer(io::Error::new(
            io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        ));
        assert!(is_certificate(&cert));
        assert!(!is_certificate(&reset));
    }

    #[tokio::test]
    async fn connect_refused_is_transient() {
        // A port that was just free: nothing listens, so the connect is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let source = reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .expect_err("nothing listens");
        let error = Error::Request {
            url: String::new(),
            source,
        };
        assert_eq!(classify(&error), Class::Transient);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let delays: Vec<_> = (1..=6).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_follow_the_schedule_on_tokio_time() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(5),
        };
        let start = tokio::time::Instant::now();
        let mut marks = Vec::new();
        for failures in 1..policy.max_attempts {
            policy.wait(failures).await;
            marks.push(start.elapsed().as_secs());
        }
        assert_eq!(marks, [2, 6, 11]);
    }
}
