//! Retry policy for Keystone/Glance calls: which failures are worth another attempt, how long
//! to wait, and how many retries one run may spend on one cloud.
//!
//! The same split as [`transfer::retry`](crate::transfer::retry) for downloads: [`classify`]
//! answers "transient or fatal?" for one error and one kind of call, [`Retrying`] holds the
//! schedule (the shared [`RetryPolicy`]) and a per-run budget, and [`Retrying::run`] is the
//! one loop. What may be repeated is decided per call by its [`Repeat`]: reads are repeated on
//! any transient failure, idempotent writes only when their first attempt's fate does not
//! matter, and writes whose fate matters (create, patch, import) are repeated by their own
//! recovery code in `images.rs` (re-read, then re-send only what is still missing).
//!
//! Transient: 502/503/504 (a load balancer while Glance restarts), 500 on a read,
//! connection refused/reset/closed before the answer, timeouts. Everything else — other 4xx,
//! TLS certificate problems, our own request errors — is fatal at once.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub use crate::transfer::retry::RetryPolicy;
use crate::transfer::retry::is_certificate;

use super::Error;

/// Whether an error is worth another attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Transient,
    Fatal,
}

/// How a call may be repeated after a transient failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// A read: repeat on any transient failure, 500 included.
    Read,
    /// A write that gives the same result when done twice (delete, deactivate, tags, PATCH
    /// re-sent after a re-read): repeat on a transient failure other than 500 (a 500 on a
    /// write may mean a half-done change; the caller reports it).
    Idempotent,
}

/// Sorts `error` from a call of kind `repeat` into transient or fatal (see the module docs).
pub fn classify(error: &Error, repeat: Repeat) -> Class {
    match error {
        Error::Transport { source, .. } => {
            // A retry cannot fix trust.
            if source.is_builder() || is_certificate(source) {
                Class::Fatal
            } else {
                Class::Transient
            }
        }
        Error::Api { status, .. } => match (status, repeat) {
            (502..=504, _) | (500, Repeat::Read) => Class::Transient,
            _ => Class::Fatal,
        },
        Error::Stalled { .. } => Class::Transient,
        _ => Class::Fatal,
    }
}

/// The retry schedule of one client plus what it spent: the per-call policy, the per-run
/// budget (retries across all calls to this cloud; once spent, failures are final), and
/// counters for the report.
#[derive(Debug)]
pub struct Retrying {
    policy: RetryPolicy,
    budget: AtomicU32,
    retries: AtomicU64,
    recreated: AtomicU64,
}

/// The default budget of retries per cloud and run: generous for a Glance that restarts
/// once, small enough that a Glance answering 503 to everything fails the run in minutes.
pub const DEFAULT_BUDGET: u32 = 200;

/// The default per-call schedule: 6 attempts, waits of 0.5, 1, 2, 4 and 8 s (15.5 s in all),
/// which rides out a Glance worker restart behind a load balancer.
pub fn default_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: std::time::Duration::from_millis(500),
        max_delay: std::time::Duration::from_secs(8),
    }
}

impl Retrying {
    pub fn new(policy: RetryPolicy, budget: u32) -> Retrying {
        Retrying {
            policy,
            budget: AtomicU32::new(budget),
            retries: AtomicU64::new(0),
            recreated: AtomicU64::new(0),
        }
    }

    /// Retries spent so far (each repeated call counts one).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Uploads that were deleted and started again in a new image.
    pub fn recreated(&self) -> u64 {
        self.recreated.load(Ordering::Relaxed)
    }

    /// Counts an upload recreated by the caller, if the budget allows one more.
    pub fn take_recreate(&self) -> bool {
        let ok = self.take();
        if ok {
            self.recreated.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Takes one retry from the budget; false when it is spent.
    fn take(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    /// Whether the `failures`-th consecutive failure with `error` may be followed by another
    /// attempt; if so, waits the policy's delay first (tokio time) and counts the retry.
    pub async fn again(&self, error: &Error, repeat: Repeat, failures: u32) -> bool {
        if classify(error, repeat) == Class::Fatal
            || failures >= self.policy.max_attempts.max(1)
            || !self.take()
        {
            return false;
        }
        self.retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            attempt = failures + 1,
            "retrying after a transient error: {error}"
        );
        self.policy.wait(failures).await;
        true
    }

    /// [`Retrying::again`] for a failure whose cause is only known as text (the SDK's version
    /// discovery): repeated within the same bounds, without classifying.
    pub async fn again_unclassified(&self, error: &Error, failures: u32) -> bool {
        if failures >= self.policy.max_attempts.max(1) || !self.take() {
            return false;
        }
        self.retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(attempt = failures + 1, "retrying: {error}");
        self.policy.wait(failures).await;
        true
    }

    /// Runs `call` until it succeeds, fails fatally, or the per-call attempts or the run's
    /// budget are spent.
    pub async fn run<T, F, Fut>(&self, repeat: Repeat, mut call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut failures = 0;
        loop {
            match call().await {
                Err(error) => {
                    failures += 1;
                    if !self.again(&error, repeat, failures).await {
                        return Err(error);
                    }
                }
                ok => return ok,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use super::*;

    fn api(status: u16) -> Error {
        Error::Api {
            operation: "op",
            image_id: None,
            status,
            message: String::new(),
        }
    }

    #[test]
    fn statuses_by_kind_of_call() {
        for status in [502, 503, 504] {
            assert_eq!(classify(&api(status), Repeat::Read), Class::Transient);
            assert_eq!(classify(&api(status), Repeat::Idempotent), Class::Transient);
        }
        assert_eq!(classify(&api(500), Repeat::Read), Class::Transient);
        assert_eq!(classify(&api(500), Repeat::Idempotent), Class::Fatal);
        for status in [400, 401, 403, 404, 409, 413, 429] {
            assert_eq!(
                classify(&api(status), Repeat::Read),
                Class::Fatal,
                "{status}"
            );
        }
        let not_found = Error::NotFound {
            operation: "get image",
            image_id: "x".into(),
        };
        assert_eq!(classify(&not_found, Repeat::Read), Class::Fatal);
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let source = reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .expect_err("nothing listens");
        let error = Error::Transport {
            operation: "get image",
            image_id: None,
            source,
        };
        assert_eq!(classify(&error, Repeat::Idempotent), Class::Transient);
    }

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
        }
    }

    /// A call failing with `error` the first `failures` times, then answering its call count.
    async fn flaky(calls: &AtomicU32, failures: u32, error: fn() -> Error) -> Result<u32, Error> {
        let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= failures { Err(error()) } else { Ok(n) }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_on_the_schedule() {
        let retrying = Retrying::new(policy(6), 100);
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let result = retrying
            .run(Repeat::Read, || flaky(&calls, 4, || api(503)))
            .await;
        assert_eq!(result.unwrap(), 5);
        // Waits of 1, 2, 4 and 4 s (capped).
        assert_eq!(start.elapsed(), Duration::from_secs(11));
        assert_eq!(retrying.retries(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_per_call_are_bounded() {
        let retrying = Retrying::new(policy(3), 100);
        let calls = AtomicU32::new(0);
        let result = retrying
            .run(Repeat::Read, || flaky(&calls, 10, || api(502)))
            .await;
        assert_eq!(result.unwrap_err().http_status(), Some(502));
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_run_budget_is_shared_by_all_calls() {
        let retrying = Retrying::new(policy(6), 3);
        let calls = AtomicU32::new(0);
        assert!(
            retrying
                .run(Repeat::Read, || flaky(&calls, 2, || api(503)))
                .await
                .is_ok()
        );
        calls.store(0, Ordering::Relaxed);
        // One retry left: the second call gets two attempts, then fails.
        let result = retrying
            .run(Repeat::Read, || flaky(&calls, 2, || api(503)))
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert!(!retrying.take_recreate());
        assert_eq!(retrying.retries(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_errors_and_500_on_writes_are_not_retried() {
        let retrying = Retrying::new(policy(6), 100);
        let calls = AtomicU32::new(0);
        let result = retrying
            .run(Repeat::Idempotent, || flaky(&calls, 1, || api(500)))
            .await;
        assert!(result.is_err());
        let result = retrying
            .run(Repeat::Read, || flaky(&calls, 5, || api(409)))
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(retrying.retries(), 0);
    }
}
