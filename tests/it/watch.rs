//! The image watcher (`glance::Watcher`) against the sandbox: one listing answers for every
//! hidden image waited on, a visible image is read on its own, a deleted one ends its wait as
//! not found, and a condition that never holds times out with the last status seen.

use std::sync::Arc;
use std::time::Duration;

use image_manager::glance::conditions::has_status;
use image_manager::glance::{
    Error, First, GlanceClient, ImageStatus, NewImage, ObservedImage, Watcher,
};

use crate::sandbox::{self, Cleanup, unique_name};

const PATIENCE: Duration = Duration::from_secs(60);

async fn queued(client: &GlanceClient, cleanup: &Cleanup, prefix: &str, hidden: bool) -> String {
    let mut image = NewImage::new(&unique_name(prefix), "raw");
    image.os_hidden = hidden;
    let id = client.create_image(&image).await.unwrap().id;
    cleanup.track(&id);
    id
}

// One thread: the three waits are all asked before the watcher's task first runs.
#[tokio::test]
async fn one_listing_answers_for_every_hidden_image_waited_on() {
    let client = Arc::new(sandbox::member().await);
    let cleanup = Cleanup::new();
    let a = queued(&client, &cleanup, "watch-a", true).await;
    let b = queued(&client, &cleanup, "watch-b", true).await;
    let visible = queued(&client, &cleanup, "watch-visible", false).await;
    let watcher = Watcher::new(Arc::clone(&client));
    let wait = |id: String| {
        let watcher = watcher.clone();
        async move {
            let is_queued = has_status(ImageStatus::Queued);
            watcher.wait(&id, is_queued, PATIENCE, First::Now).await
        }
    };
    let before = client.api_calls();
    let (ra, rb, rv) = tokio::join!(wait(a.clone()), wait(b.clone()), wait(visible.clone()));
    let calls = client.api_calls() - before;
    for (id, waited) in [(&a, ra), (&b, rb), (&visible, rv)] {
        let waited = waited.unwrap();
        assert_eq!(&waited.image.id, id);
        assert_eq!(waited.reads, 1);
        assert_eq!(waited.slack, Duration::ZERO);
    }
    assert_eq!(
        calls, 2,
        "one listing for the hidden images, one GET for the visible one"
    );
    cleanup.run(&client).await;
}

#[tokio::test]
async fn a_deleted_image_is_not_found_and_a_condition_never_met_times_out() {
    let client = Arc::new(sandbox::member().await);
    let cleanup = Cleanup::new();
    let gone = queued(&client, &cleanup, "watch-gone", true).await;
    let stays = queued(&client, &cleanup, "watch-stays", true).await;
    client.delete(&gone).await.unwrap();
    let watcher = Watcher::new(Arc::clone(&client));
    let never = |_: &ObservedImage| false;
    let (gone, stays) = tokio::join!(
        watcher.wait(&gone, never, PATIENCE, First::Now),
        watcher.wait(&stays, never, Duration::from_secs(1), First::Now),
    );
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    match stays {
        Err(Error::WaitTimeout { status, .. }) => assert_eq!(status, "queued"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    cleanup.run(&client).await;
}
