//! Polling one image until a condition holds (kube-runtime `wait` style).
//!
//! A [`Condition`] looks at an image and says ready, not yet, or never; the
//! caller always passes the timeout, because only the caller knows how long a
//! multi-GB import may take. Named conditions live in [`conditions`]; any
//! `Fn(&ObservedImage) -> bool` is a condition too (never "failed").
//!
//! Polls start fast (imports on a small image finish in about a second) and
//! back off to [`MAX_INTERVAL`], so a long import costs few API calls.

use std::time::Duration;

use tokio::time::Instant;

use super::observed::ObservedImage;
use super::{Error, GlanceClient};

const FIRST_INTERVAL: Duration = Duration::from_millis(250);
/// The longest pause between two polls.
pub const MAX_INTERVAL: Duration = Duration::from_secs(5);

/// What a condition concluded from one observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotYet,
    /// The image can no longer reach the condition; the reason is reported.
    Failed(String),
}

/// A predicate over one observation of an image.
pub trait Condition {
    fn evaluate(&self, image: &ObservedImage) -> Readiness;
}

impl<F: Fn(&ObservedImage) -> bool> Condition for F {
    fn evaluate(&self, image: &ObservedImage) -> Readiness {
        if self(image) {
            Readiness::Ready
        } else {
            Readiness::NotYet
        }
    }
}

/// Conditions the apply steps need.
pub mod conditions {
    use super::{Condition, Readiness};
    use crate::glance::observed::{ImageStatus, ObservedImage};

    /// Status `active`, and no import task holding the image any more. Fails
    /// early on `killed`/`deleted`/`deactivated`, and on a failed import
    /// (Glance sets `os_glance_failed_import`, leaves the image in
    /// `importing` (glance-direct) or back in `queued` (web-download); the
    /// task's message is in `image_tasks`).
    ///
    /// An import shows `active` a moment before its task ends: until the task
    /// drops its lock (`os_glance_import_task`) it still saves the whole image
    /// it read earlier, which silently undoes a PATCH made in between
    /// (observed on Glance 33). So the image counts as active only once the
    /// lock is gone.
    pub fn is_active() -> impl Condition {
        IsActive
    }

    struct IsActive;

    /// The property an import task holds the image with, its id as value.
    const IMPORT_LOCK: &str = "os_glance_import_task";

    impl Condition for IsActive {
        fn evaluate(&self, image: &ObservedImage) -> Readiness {
            match &image.status {
                ImageStatus::Active => match image.property(IMPORT_LOCK) {
                    Some(task) if !task.is_empty() => Readiness::NotYet,
                    _ => Readiness::Ready,
                },
                ImageStatus::Killed
                | ImageStatus::Deleted
                | ImageStatus::PendingDelete
                | ImageStatus::Deactivated => {
                    Readiness::Failed(format!("image is {}", image.status))
                }
                _ => match image.property("os_glance_failed_import") {
                    Some(stores) if !stores.is_empty() => Readiness::Failed(format!(
                        "import failed for store(s) {stores} (status {})",
                        image.status
                    )),
                    _ => Readiness::NotYet,
                },
            }
        }
    }

    /// The image has the given status (no early failure).
    pub fn has_status(status: ImageStatus) -> impl Condition {
        move |image: &ObservedImage| image.status == status
    }
}

impl GlanceClient {
    /// Polls `GET /v2/images/{id}` until `condition` is ready (returns that
    /// observation), fails ([`Error::WaitFailed`]) or `timeout` passes
    /// ([`Error::WaitTimeout`] with the last status seen). A vanished image is
    /// [`Error::NotFound`].
    pub async fn wait_for(
        &self,
        id: &str,
        condition: impl Condition,
        timeout: Duration,
    ) -> Result<ObservedImage, Error> {
        let deadline = Instant::now() + timeout;
        let mut interval = FIRST_INTERVAL;
        loop {
            let image = self.get_image(id).await?;
            match condition.evaluate(&image) {
                Readiness::Ready => return Ok(image),
                Readiness::Failed(reason) => {
                    return Err(Error::WaitFailed {
                        image_id: id.to_owned(),
                        reason,
                    });
                }
                Readiness::NotYet => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::WaitTimeout {
                    image_id: id.to_owned(),
                    timeout,
                    status: image.status.to_string(),
                });
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 2).min(MAX_INTERVAL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::conditions::*;
    use super::*;
    use crate::glance::observed::ImageStatus;

    #[test]
    fn is_active_reads_status_and_failed_import() {
        let cond = is_active();
        let image = ObservedImage::test("x");
        assert_eq!(cond.evaluate(&image), Readiness::Ready);
        let importing = image
            .clone()
            .with_status(ImageStatus::Importing)
            .with_property("os_glance_failed_import", "");
        assert_eq!(cond.evaluate(&importing), Readiness::NotYet);
        let failed = importing.with_property("os_glance_failed_import", "local");
        assert!(matches!(cond.evaluate(&failed), Readiness::Failed(_)));
        let locked = image.clone().with_property(
            "os_glance_import_task",
            "d6653152-fd65-4b35-9d42-8315001cdd97",
        );
        assert_eq!(cond.evaluate(&locked), Readiness::NotYet);
        let unlocked = image.clone().with_property("os_glance_import_task", "");
        assert_eq!(cond.evaluate(&unlocked), Readiness::Ready);
        let killed = image.with_status(ImageStatus::Killed);
        assert!(matches!(cond.evaluate(&killed), Readiness::Failed(_)));
    }

    #[test]
    fn closures_are_conditions() {
        let hidden = |image: &ObservedImage| image.os_hidden;
        let image = ObservedImage::test("x");
        assert_eq!(hidden.evaluate(&image), Readiness::NotYet);
        assert_eq!(
            has_status(ImageStatus::Active).evaluate(&image),
            Readiness::Ready
        );
    }
}
