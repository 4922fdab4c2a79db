//! `plan` at scale: observing 1,000 images costs list pages, not requests per definition.

use std::time::Instant;

use chrono::Utc;
use futures::{StreamExt, stream};
use image_manager::glance::NewImage;
use image_manager::plan::{Prune, Reason, render};

use crate::catalogs::{definition, write_catalog};
use crate::plan::{plan_cli, plan_with};
use crate::sandbox::{self, Cleanup, list_pages, unique_name};

/// Every scale-test image carries this tag, so a later run can find the remains of a crash.
const SCALE_TAG: &str = "it-plan-scale";
const SCALE_IMAGES: usize = 1000;
const SCALE_IN_FLIGHT: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn observing_1000_images_costs_list_pages_not_definitions() {
    let client = sandbox::admin().await;
    // Remains of a crashed earlier run (older than two hours, so parallel runs are safe).
    let stale = Cleanup::new();
    client
        .list_images()
        .await
        .unwrap()
        .images
        .into_iter()
        .filter(|i| i.has_tag(SCALE_TAG))
        .filter(|i| {
            i.created_at
                .is_some_and(|t| Utc::now() - t > chrono::TimeDelta::hours(2))
        })
        .for_each(|i| stale.track(&i.id));
    stale.run(&client).await;

    let run_tag = unique_name("scale");
    let images = Cleanup::new();
    let started = Instant::now();
    let results: Vec<_> = stream::iter(0..SCALE_IMAGES)
        .map(|i| {
            let mut image = NewImage::new(&format!("{run_tag}-{i:04}"), "raw");
            image.tags = vec![SCALE_TAG.into(), run_tag.clone()];
            image
                .properties
                .insert("image_name".into(), format!("{run_tag}-d{i:04}"));
            image
                .properties
                .insert("internal_version".into(), "1".into());
            // A fixed id makes a retried create idempotent: Glance answers 409 if the
            // first attempt did land. Retries cover connection resets from the one-worker
            // sandbox while other tests load it too; they are set-up, not what is tested.
            image.id = Some(scale_id(&run_tag, i));
            let (client, images) = (&client, &images);
            async move {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match client.create_image(&image).await {
                        Ok(_) => break,
                        Err(e) if e.http_status() == Some(409) && attempt > 1 => break,
                        Err(e) if e.http_status().is_none() && attempt < 4 => continue,
                        Err(e) => return Err(e),
                    }
                }
                images.track(image.id.as_deref().unwrap());
                Ok::<_, image_manager::glance::Error>(())
            }
        })
        .buffer_unordered(SCALE_IN_FLIGHT)
        .collect()
        .await;
    let create_time = started.elapsed();
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );

    let started = Instant::now();
    let calls_before = client.api_calls();
    let observed = client.list_images().await.unwrap();
    let (list_calls, list_time) = (client.api_calls() - calls_before, started.elapsed());
    let ours = observed.tagged(&run_tag).count();
    assert_eq!(ours, SCALE_IMAGES);
    assert_eq!(list_calls as usize, list_pages(&observed.images));

    // The whole plan pipeline with 1 and with 50 definitions: the same requests.
    let mut figures = Vec::new();
    for definitions in [1, 50] {
        let catalog: Vec<String> = (0..definitions)
            .map(|i| definition(&format!("{run_tag}-d{i:04}"), &["1"], "forever", ""))
            .collect();
        let (_dir, path) = write_catalog(&catalog);
        let fresh = sandbox::admin().await;
        let before = fresh.api_calls();
        let plan = plan_with(&fresh, &path, &run_tag, Prune::None).await;
        let calls = fresh.api_calls() - before;
        // Each definition found its (queued) image: the plan cleans it up and recreates it.
        let leftovers = plan
            .steps
            .iter()
            .filter(|s| matches!(s.reason, Reason::Leftover { .. }))
            .count();
        assert_eq!(leftovers, definitions, "{}", render::summary_line(&plan));
        let (code, _, err) = plan_cli(&path, &["--cloud", "admin", "--tag", &run_tag], &[]);
        assert_eq!(code, 0, "{err}");
        let cli_calls: u64 = err
            .lines()
            .find_map(|l| l.split(" images observed in ").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no API-call count in the log: {err}"));
        figures.push((definitions, calls, cli_calls));
    }
    let started = Instant::now();
    let deleted = images.run(&client).await;
    println!(
        "scale: created {SCALE_IMAGES} images in {create_time:.1?} ({SCALE_IN_FLIGHT} in flight); \
         listed {} images in {list_time:.1?} with {list_calls} requests (= list pages); \
         plan API calls (definitions, library, CLI): {figures:?}; deleted {deleted} in {:.1?}",
        observed.images.len(),
        started.elapsed()
    );
    let (_, calls_1, cli_1) = figures[0];
    let (_, calls_50, cli_50) = figures[1];
    assert_eq!(calls_1, calls_50, "requests grew with the definitions");
    assert_eq!(cli_1, cli_50, "requests grew with the definitions (CLI)");
    assert!(calls_1 >= 2, "{figures:?}");
}

/// A UUID for scale image `index` of run `run_tag`: unique per run, the same on a retry.
fn scale_id(run_tag: &str, index: usize) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    run_tag.hash(&mut hasher);
    let run = hasher.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        run >> 32,
        (run >> 16) & 0xffff,
        run & 0xfff,
        (run >> 12) & 0xfff,
        index
    )
}
