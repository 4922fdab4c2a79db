//! The one listing per run: every image the credentials can see, hidden
//! images included, as an [`ObservedState`].
//!
//! Hidden images: Glance filters on `os_hidden` in *every* listing. Without the
//! parameter it means `os_hidden=false`; only `true` and `false` are accepted,
//! and no member-status, visibility or other filter lifts it (Glance 33,
//! `ImagesController.index` always sets the filter). So a complete view is
//! exactly two listings, `os_hidden=false` and `os_hidden=true`, which run
//! concurrently. Each asks for pages of [`PAGE_SIZE`] (Glance's default
//! `api_limit_max`; a lower server cap just means more pages).
//!
//! Request count: `ceil((visible + 1) / PAGE_SIZE) + ceil((hidden + 1) / PAGE_SIZE)`
//! — Glance sends a `next` link whenever a page is full, so a listing whose
//! size is an exact multiple of the page size ends with one empty page. Two
//! requests for up to 999 visible and 999 hidden images.
//!
//! Pages are followed by `marker` (the last id) rather than by the `next`
//! link's URL: the link is a bare path that loses a proxy's path prefix, and
//! the SDK's own pager cannot rebuild it for an endpoint with an IP address.

use std::collections::HashSet;

use serde_json::Value;

use super::image_api::image::list;
use super::observed::{ObservedImage, ObservedState};
use super::{Error, GlanceClient};

/// Images per listing page: Glance's default `api_limit_max`.
pub const PAGE_SIZE: i32 = 1000;

const OP: &str = "list images";

impl GlanceClient {
    /// What a plan needs of the cloud, read at once: every image ([`Self::list_images`]) and
    /// the import methods the cloud offers. One request more than the listing.
    pub async fn observe(&self) -> Result<ObservedState, Error> {
        let (mut observed, import_methods) =
            tokio::try_join!(self.list_images(), self.import_methods())?;
        observed.import_methods = import_methods;
        Ok(observed)
    }

    /// Lists every image visible to these credentials (the default Glance
    /// listing: public, own, community-owned and accepted shared images),
    /// hidden ones included. See the module docs for the request count; each
    /// request is counted in [`GlanceClient::api_calls`].
    pub async fn list_images(&self) -> Result<ObservedState, Error> {
        let (visible, hidden) =
            tokio::try_join!(self.list_listing(false), self.list_listing(true))?;
        // An image whose os_hidden flipped between the two listings would
        // appear twice; keep its first sighting.
        let mut seen = HashSet::new();
        let mut images: Vec<ObservedImage> = visible
            .into_iter()
            .chain(hidden)
            .filter(|image| seen.insert(image.id.clone()))
            .collect();
        images.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(ObservedState {
            cloud: self.cloud.clone(),
            project_id: self.project_id(),
            images,
            import_methods: Vec::new(),
            projects: Default::default(),
        })
    }

    /// One listing (`os_hidden` = `hidden`), all pages.
    async fn list_listing(&self, hidden: bool) -> Result<Vec<ObservedImage>, Error> {
        let mut images = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut builder = list::Request::builder();
            builder.limit(PAGE_SIZE);
            if hidden {
                builder.os_hidden(true);
            }
            if let Some(marker) = &marker {
                builder.marker(marker.clone());
            }
            let ep = Self::build(builder.build())?;
            let body = self.query_body(OP, &ep).await?;
            let (page, last_id) = parse_page(&body)?;
            images.extend(page);
            match last_id {
                Some(last) => marker = Some(last),
                _ => return Ok(images),
            }
        }
    }
}

/// One page of `GET /v2/images`: the images (lock placeholders left out) and,
/// when Glance announced a next page, the marker to ask for it with.
pub(super) fn parse_page(body: &Value) -> Result<(Vec<ObservedImage>, Option<String>), Error> {
    let images = body["images"].as_array().ok_or_else(|| Error::Response {
        operation: OP,
        message: "no `images` list in the answer".into(),
    })?;
    let page = images
        .iter()
        .filter(|value| !super::lock::is_lock(value))
        .map(|value| {
            ObservedImage::from_json(value).map_err(|message| Error::Response {
                operation: OP,
                message,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let has_next = body.get("next").and_then(Value::as_str).is_some();
    let last_id = images
        .last()
        .and_then(|v| v["id"].as_str())
        .map(str::to_owned);
    Ok((page, last_id.filter(|_| has_next)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glance::json_props;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn page_with_next_link() {
        let body = json!({
            "images": [{"id": "a"}, {"id": "b"}],
            "next": "/v2/images?limit=2&marker=b",
            "first": "/v2/images?limit=2",
        });
        let (page, marker) = parse_page(&body).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(marker.as_deref(), Some("b"));
    }

    #[test]
    fn last_page_and_bad_body() {
        let (page, marker) = parse_page(&json!({"images": []})).unwrap();
        assert!(page.is_empty() && marker.is_none());
        assert!(parse_page(&json!({"oops": 1})).is_err());
    }

    const KEYS: &[&str] = &[
        "images",
        "next",
        "first",
        "id",
        "name",
        "status",
        "visibility",
        "os_hidden",
        "protected",
        "tags",
        "size",
        "min_disk",
        "os_hash_algo",
        "os_hash_value",
        "created_at",
        "os_glance_import_task",
        "image_manager_unverified",
    ];
    const STRINGS: &[&str] = &[
        "active",
        "importing",
        "sha512",
        "public",
        "image_manager_lock",
        "2026-01-01T00:00:00Z",
        "",
    ];

    /// A page as Glance sends it (the listing by id the watcher reads, and the run's listing).
    fn real_page() -> Value {
        let image = |id: &str, status: &str| {
            json!({
                "id": id, "name": "Debian 13 [image-manager: pending]", "status": status,
                "visibility": "private", "os_hidden": true, "protected": false,
                "disk_format": "raw", "container_format": "bare", "size": 1048576,
                "min_disk": 1, "min_ram": 64, "tags": ["managed_by_image_manager"],
                "os_hash_algo": "sha512", "os_hash_value": "ab", "checksum": "cd",
                "created_at": "2026-12-06T21:00:00Z", "updated_at": "2026-12-06T21:00:01Z",
                "os_glance_import_task": "", "image_manager_unverified": "true",
                "owner": "ab232963bfc44369bff0dac650020968", "self": "/v2/images/x",
            })
        };
        json!({
            "images": [image("a", "active"), image("b", "importing")],
            "first": "/v2/images?id=in%3Aa%2Cb&os_hidden=true&limit=2",
            "next": "/v2/images?marker=b",
            "schema": "/v2/schemas/images",
        })
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_props::json_value(STRINGS, KEYS)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any JSON where a listing page belongs: a page or an error, never a panic.
        #[test]
        fn prop_listing_pages_of_any_shape_never_panic(value in json_value()) {
            if let Ok((images, marker)) = parse_page(&value) {
                let listed = value["images"].as_array().map_or(0, Vec::len);
                prop_assert!(images.len() <= listed);
                prop_assert!(marker.is_none() || !images.is_empty() || listed > 0);
            }
        }

        /// Real-shaped pages with up to four values replaced by arbitrary JSON.
        #[test]
        fn prop_mutated_listing_pages_never_panic(
            mutations in prop::collection::vec((any::<prop::sample::Index>(), json_value()), 1..4),
        ) {
            let mut page = real_page();
            json_props::mutate(&mut page, mutations);
            if let Ok((images, _)) = parse_page(&page) {
                prop_assert!(images.len() <= 2);
            }
        }
    }
}
