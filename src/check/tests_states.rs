//! One compliant and one violating state for every testcase of the spec: as Glance reports
//! images (every testcase) and as a catalog states them (`check --offline`, where the
//! `validate` lint must warn about each failure too). Both tables must cover every id of
//! the spec's table, so a testcase added to the spec cannot go untested.

use std::collections::BTreeMap;

use super::spec;
use super::tests::{GIB, good, live, now, with};
use super::*;
use crate::scs::{NameMatch, STANDARD_IMAGES};

/// A name the standard image `id` matches (`capi-1` has a space before the version).
fn standard_name(id: &str) -> String {
    let standard = STANDARD_IMAGES.iter().find(|s| s.id == id).unwrap();
    match &standard.name {
        NameMatch::Exact(name) => (*name).to_owned(),
        NameMatch::Prefix(_) if id == "capi-1" => "ubuntu-capi-image v1.30.2".to_owned(),
        NameMatch::Prefix(_) => "ubuntu-capi-image-v1.33.4".to_owned(),
    }
}

/// A compliant cloud: one image per scs-0104 standard image, with its source, each passing
/// every scs-0102 testcase (`custom` purpose: no uniqueness group).
fn compliant() -> Vec<Image> {
    STANDARD_IMAGES
        .iter()
        .map(|s| {
            let source = format!("{}disk.img", s.source_prefixes[0]);
            with(good(&standard_name(s.id)), "image_source", Some(&source))
        })
        .collect()
}

/// Sets `key` on the first image.
fn set(images: &mut [Image], key: &str, value: Option<&str>) {
    images[0] = with(images[0].clone(), key, value);
}

/// The images the standard image `x` applies to.
fn standard_of(x: &str) -> impl Fn(&Image) -> bool {
    let standard = STANDARD_IMAGES.iter().find(|s| s.id == x).unwrap();
    move |image| standard.name.matches(&image.name)
}

/// Breaks `id` in a compliant set of Glance images.
fn violate(id: &str, images: &mut Vec<Image>) {
    let prop = id.strip_prefix("scs-0102-prop-").unwrap_or("");
    match prop {
        "architecture" => set(images, prop, Some("arm64")),
        "hash_algo" => images[0].os_hash_algo = Some("md5".into()),
        // Stored bigger than its min_disk: only Glance knows the size.
        "min_disk" => images[0].size = Some(9 * GIB),
        "min_ram" => images[0].min_ram = 0,
        "os_version" | "image_original_user" | "image_description" | "provided_until" => {
            set(images, prop, None);
        }
        "os_distro" => set(images, prop, Some("")),
        "os_purpose" => set(images, prop, Some("general")),
        "hw_disk_bus" => set(images, prop, Some("ide")),
        "hypervisor_type" => set(images, prop, Some("hyperv")),
        "hw_rng_model" => set(images, prop, Some("random")),
        // After Glance registered it (10 days ago).
        "image_build_date" => set(images, prop, Some("2026-11-20")),
        "image_source" => set(images, prop, Some("file:///srv/disk.img")),
        "replace_frequency" => set(images, prop, Some("biweekly")),
        "uuid_validity" => set(images, prop, Some("last-x")),
        "hotfix_hours" => set(images, prop, Some("1.5")),
        _ if id == "scs-0102-image-recency" => {
            let old = with(
                good("Retired 20250101"),
                "replace_frequency",
                Some("weekly"),
            );
            let old = with(old, "image_build_date", Some("2025-01-01"));
            images.push(with(old, "provided_until", Some("2099-12-31")));
        }
        _ if id == "scs-0102-os_purpose-uniqueness" => {
            for image in &mut images[..2] {
                *image = with(image.clone(), "os_purpose", Some("generic"));
            }
        }
        _ => {
            if let Some(x) = id.strip_prefix("scs-0104-source-") {
                let image = images.iter_mut().find(|i| standard_of(x)(i)).unwrap();
                *image = with(
                    image.clone(),
                    "image_source",
                    Some("https://example.org/x.img"),
                );
            } else if let Some(x) = id.strip_prefix("scs-0104-image-") {
                images.retain(|i| !standard_of(x)(i));
            } else {
                panic!("no violation for {id}");
            }
        }
    }
}

#[test]
fn every_testcase_passes_on_a_compliant_cloud_and_fails_on_its_violation() {
    let report = run_everything(&live(compliant()), now());
    for t in &report.testcases {
        assert_eq!(t.verdict, Verdict::Pass, "{}: {:#?}", t.id, t.diagnostics);
    }
    assert_eq!(report.testcases.len(), 34);
    for id in spec::testcases() {
        let mut images = compliant();
        violate(id, &mut images);
        let t = evaluate(id, &live(images), now()).unwrap();
        assert_eq!(t.verdict, Verdict::Fail, "{id}: {:#?}", t.diagnostics);
        assert!(
            t.diagnostics.iter().any(|d| d.level == Level::Error),
            "{id}: a failure says why"
        );
    }
}

/// One catalog definition passing every testcase offline; `os_version` is its name, so
/// `generic` is unique.
fn definition(name: &str, url: &str) -> String {
    format!(
        "  - name: {name}\n    format: qcow2\n    login: ubuntu\n    min_disk: 8\n    \
         min_ram: 512\n    visibility: public\n    meta:\n      architecture: x86_64\n      \
         os_distro: testos\n      os_version: '{name}'\n      os_purpose: generic\n      \
         hw_disk_bus: scsi\n      hypervisor_type: qemu\n      hw_rng_model: virtio\n      \
         replace_frequency: quarterly\n      provided_until: none\n      \
         uuid_validity: last-3\n      hotfix_hours: '24'\n    versions:\n      \
         - version: '1'\n        url: {url}\n        checksum: sha256:{}\n        \
         build_date: 2026-11-11\n",
        "a".repeat(64)
    )
}

/// The compliant cloud as a catalog: one definition per standard image.
fn catalog() -> Vec<String> {
    STANDARD_IMAGES
        .iter()
        .map(|s| {
            let url = format!("{}disk.img", s.source_prefixes[0]);
            definition(&standard_name(s.id), &url)
        })
        .collect()
}

/// How a catalog can violate a testcase.
enum Offline {
    /// Replace the first `from` in definition `index` by `to`.
    Edit(usize, &'static str, &'static str),
    /// The schema refuses the violating value: `check --offline` refuses the catalog.
    Refused(&'static str, &'static str),
    /// Not decidable before upload: SKIP, compliant or not.
    Skipped,
}

fn offline_violation(id: &str) -> Offline {
    use Offline::{Edit, Refused, Skipped};
    let prop = id.strip_prefix("scs-0102-prop-").unwrap_or(id);
    match prop {
        "architecture" => Edit(0, "architecture: x86_64", "architecture: i686"),
        "hash_algo" => Skipped,
        "min_disk" => Edit(0, "min_disk: 8", "min_disk: 0"),
        "min_ram" => Edit(0, "min_ram: 512", "min_ram: 0"),
        "os_version" => Edit(0, "      os_version: 'Ubuntu 24.04'\n", ""),
        "os_distro" => Edit(0, "      os_distro: testos\n", ""),
        "os_purpose" => Edit(0, "      os_purpose: generic\n", ""),
        "hw_disk_bus" => Edit(0, "hw_disk_bus: scsi", "hw_disk_bus: ide"),
        "hypervisor_type" => Edit(0, "hypervisor_type: qemu", "hypervisor_type: hyperv"),
        "hw_rng_model" => Refused("hw_rng_model: virtio", "hw_rng_model: random"),
        "image_build_date" => Edit(0, "build_date: 2026-11-11", "build_date: 2026-12-01"),
        "image_original_user" => Edit(0, "    login: ubuntu\n", ""),
        "image_source" => Edit(0, "url: https://", "url: file:///srv/"),
        "image_description" => Edit(
            0,
            "        build_date",
            "        image_description: ''\n        build_date",
        ),
        "replace_frequency" => Edit(0, "      replace_frequency: quarterly\n", ""),
        "provided_until" => Edit(0, "      provided_until: none\n", ""),
        "uuid_validity" => Edit(0, "uuid_validity: last-3", "uuid_validity: 2026-02-30"),
        "hotfix_hours" => Refused("hotfix_hours: '24'", "hotfix_hours: '1.5'"),
        "scs-0102-image-recency" => Edit(
            0,
            "replace_frequency: quarterly\n      provided_until: none",
            "replace_frequency: daily\n      provided_until: 2099-12-31",
        ),
        "scs-0102-os_purpose-uniqueness" => Edit(
            1,
            "os_version: 'Ubuntu 22.04'",
            "os_version: 'Ubuntu 24.04'",
        ),
        _ => {
            let (x, to) = match id.strip_prefix("scs-0104-source-") {
                Some(x) => (x, Some("url: https://example.org/")),
                None => (id.strip_prefix("scs-0104-image-").unwrap(), None),
            };
            let index = STANDARD_IMAGES.iter().position(|s| s.id == x).unwrap();
            match to {
                Some(to) => Edit(index, "url: https://", to),
                None => Edit(index, "visibility: public", "visibility: private"),
            }
        }
    }
}

/// The catalog text with `edit` applied (`None`: compliant).
fn catalog_text(edit: Option<(usize, &str, &str)>) -> String {
    let mut definitions = catalog();
    if let Some((index, from, to)) = edit {
        assert!(definitions[index].contains(from), "{from:?} not in {index}");
        definitions[index] = definitions[index].replacen(from, to, 1);
    }
    format!("images:\n{}", definitions.concat())
}

/// `check --offline` of catalog text, and the `validate` lint's warning codes.
fn offline_check(text: &str) -> (Report, Vec<&'static str>) {
    let loaded = crate::catalog::from_text("test.yaml", text);
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let report = run_everything(&Images::from_catalog(&loaded.catalog, now()), now());
    let codes = lint(&loaded.catalog, now())
        .iter()
        .map(|d| d.code)
        .collect();
    (report, codes)
}

#[test]
fn every_testcase_offline_compliant_and_violated_and_the_lint_agrees() {
    let (report, codes) = offline_check(&catalog_text(None));
    let skipped = ["scs-0102-prop-hash_algo", "scs-0102-prop-min_disk"];
    let verdicts: BTreeMap<&str, Verdict> = report
        .testcases
        .iter()
        .map(|t| (t.id.as_str(), t.verdict))
        .collect();
    for (id, verdict) in &verdicts {
        let want = if skipped.contains(id) {
            Verdict::Skip
        } else {
            Verdict::Pass
        };
        assert_eq!(*verdict, want, "{id}: {report:#?}");
    }
    assert!(
        codes.is_empty(),
        "a compliant catalog has no SCS warning: {codes:?}"
    );

    for id in spec::testcases() {
        let (index, from, to) = match offline_violation(id) {
            Offline::Edit(index, from, to) => (index, from, to),
            Offline::Skipped => {
                assert_eq!(verdicts[id], Verdict::Skip, "{id}");
                continue;
            }
            Offline::Refused(from, to) => {
                let text = catalog_text(Some((0, from, to)));
                let loaded = crate::catalog::from_text("test.yaml", &text);
                assert!(loaded.has_errors(), "{id}: the schema lets {to:?} through");
                continue;
            }
        };
        let (report, codes) = offline_check(&catalog_text(Some((index, from, to))));
        let t = report.testcase(id).unwrap();
        assert_eq!(t.verdict, Verdict::Fail, "{id}: {:#?}", t.diagnostics);
        // The lint warns about every failing testcase that names images, and about a missing
        // standard image that a main module needs.
        let names_images = t.diagnostics.iter().any(|d| !d.images.is_empty());
        let deciding = Module::defaults()
            .into_iter()
            .any(|m| m.testcases().contains(&(id, true)));
        if names_images || deciding {
            assert!(codes.contains(&id), "{id}: no lint warning: {codes:?}");
        }
    }
}
