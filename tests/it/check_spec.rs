//! Every testcase of the spec against the real Glance, where the data comes from: a compliant
//! set of images passes all 34 testcases; the same set with each testcase violated once
//! through the Glance API fails every one the images still exist for; with the standard
//! images hidden, every `scs-0104-image-*` fails.
//!
//! Other tests share the Glance, so `check --tag` scopes the run to this test's images, and
//! the test holds [`sandbox::scs_lock`] while it publishes standard names (`Ubuntu 24.04`, …)
//! that cloud-wide runs of other tests would look up.

use std::collections::BTreeMap;

use image_manager::check::Module;
use image_manager::glance::{GlanceClient, ObservedImage, PatchOp, Visibility};

use crate::check::{check, publish, scs_image};
use crate::sandbox::{self, Cleanup, unique_name};

/// The scs-0104 standard images: a name each matches and a source under its prefixes.
const STANDARD: [(&str, &str); 8] = [
    (
        "Ubuntu 24.04",
        "https://cloud-images.ubuntu.com/noble/20261111/noble-server-cloudimg-amd64.img",
    ),
    (
        "Ubuntu 22.04",
        "https://cloud-images.ubuntu.com/jammy/20261111/jammy-server-cloudimg-amd64.img",
    ),
    (
        "Ubuntu 20.04",
        "https://cloud-images.ubuntu.com/releases/focal/release/ubuntu-20.04-server-cloudimg-amd64.img",
    ),
    (
        "Debian 13",
        "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-generic-amd64.qcow2",
    ),
    (
        "Debian 12",
        "https://cdimage.debian.org/cdimage/cloud/bookworm/latest/debian-12-generic-amd64.qcow2",
    ),
    (
        "Debian 11",
        "https://cloud.debian.org/images/cloud/bullseye/latest/debian-11-generic-amd64.qcow2",
    ),
    (
        "ubuntu-capi-image v1.30.2",
        "https://nbg1.your-objectstorage.com/osism/openstack-k8s-capi-images/ubuntu-2204-kube-v1.30/ubuntu-2204-kube-v1.30.2.qcow2",
    ),
    (
        "ubuntu-capi-image-v1.33.4",
        "https://swift.services.a.regiocloud.tech/swift/v1/AUTH_b182637428444b9aa302bb8d5a5a418c/openstack-k8s-capi-images/ubuntu-2404-kube-v1.33.4.qcow2",
    ),
];

/// Every testcase line and module line of `check --cloud member --tag TAG` (text, as the
/// official runner prints it): id → verdict, in output order; and the stderr.
fn checked(tag: &str) -> (i32, Vec<(String, String)>, String) {
    let (code, stdout, stderr) = check(&["--cloud", "member", "--tag", tag]);
    let lines = stdout
        .lines()
        .map(|l| {
            let (id, verdict) = l.split_once(": ").unwrap_or_else(|| panic!("{l}"));
            (id.to_owned(), verdict.to_owned())
        })
        .collect();
    (code, lines, stderr)
}

/// Publishes `name` with SCS metadata (+ `extra`), tagged `tag`.
async fn image(
    admin: &GlanceClient,
    cleanup: &Cleanup,
    tag: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> ObservedImage {
    let mut new = scs_image(name, extra);
    new.tags.push(tag.to_owned());
    publish(admin, cleanup, &new).await
}

/// Patches the image named `name` among `images`.
async fn patch(admin: &GlanceClient, images: &[ObservedImage], name: &str, ops: &[PatchOp]) {
    let image = images.iter().find(|i| i.name == name).unwrap();
    admin.patch_image(&image.id, ops).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_testcase_passes_on_a_compliant_cloud_and_fails_when_violated() {
    let _lock = sandbox::scs_lock();
    let tag = unique_name("check-spec");
    let cleanup = Cleanup::tagged(&tag);
    let admin = sandbox::admin().await;
    let base = unique_name("check-spec-img");
    let (first, second, retired) = (
        format!("{base} a"),
        format!("{base} b"),
        format!("{base} 20250101"),
    );
    let mut images = Vec::new();
    for (name, source) in STANDARD {
        let extra = [("image_source", source)];
        images.push(image(&admin, &cleanup, &tag, name, &extra).await);
    }
    for name in [&first, &second, &retired] {
        images.push(image(&admin, &cleanup, &tag, name, &[]).await);
    }

    // Compliant: the 34 testcase lines of the spec, then the 4 default modules, all PASS.
    let (code, lines, stderr) = checked(&tag);
    assert_eq!(lines.len(), 34 + 4, "{lines:#?}");
    for (id, verdict) in &lines {
        assert_eq!(verdict, "PASS", "{id}\n{stderr}");
    }
    let modules: Vec<String> = lines[34..].iter().map(|l| l.0.clone()).collect();
    let defaults: Vec<String> = Module::defaults()
        .iter()
        .map(|m| format!("module {m}"))
        .collect();
    assert_eq!(modules, defaults);
    assert_eq!(code, 0);
    let compliant: Vec<&str> = lines[..34].iter().map(|l| l.0.as_str()).collect();

    // Each testcase violated once, through the Glance API, on the data Glance holds.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let set = PatchOp::set_property;
    let remove = PatchOp::remove_property;
    let violations: [(&str, Vec<PatchOp>); 11] = [
        ("Ubuntu 24.04", vec![set("architecture", "arm64")]),
        ("Ubuntu 22.04", vec![remove("os_version")]),
        ("Ubuntu 20.04", vec![remove("os_distro")]),
        ("Debian 13", vec![set("os_purpose", "general")]),
        (
            "Debian 12",
            vec![set("hw_disk_bus", "ide"), set("hypervisor_type", "hyperv")],
        ),
        (
            "Debian 11",
            vec![
                set("hw_rng_model", "random"),
                set("image_build_date", &tomorrow),
            ],
        ),
        (
            "ubuntu-capi-image v1.30.2",
            vec![remove("image_original_user"), remove("image_description")],
        ),
        (
            "ubuntu-capi-image-v1.33.4",
            vec![
                set("replace_frequency", "biweekly"),
                set("uuid_validity", "last-x"),
                set("hotfix_hours", "1.5"),
                PatchOp::set_min_ram(0),
            ],
        ),
        // Two visible generic images of (x86_64, testos, 1).
        (
            first.as_str(),
            vec![
                set("os_purpose", "generic"),
                set("image_source", "file:///srv/disk.img"),
                remove("provided_until"),
                PatchOp::set_min_disk(0),
            ],
        ),
        (second.as_str(), vec![set("os_purpose", "generic")]),
        // Weekly, built long ago, promised until 2099: outdated, and `{base}` is missing.
        (
            retired.as_str(),
            vec![
                set("replace_frequency", "weekly"),
                set("image_build_date", "2025-01-01"),
                set("provided_until", "2099-12-31"),
            ],
        ),
    ];
    for (name, ops) in &violations {
        patch(&admin, &images, name, ops).await;
    }
    // Every standard image's source off its prefixes.
    for (name, _) in STANDARD {
        let ops = [set("image_source", "https://example.org/disk.img")];
        patch(&admin, &images, name, &ops).await;
    }
    // An image without data: Glance has not chosen its os_hash_algo (min_disk 0: no ABORT).
    let mut queued = scs_image(&format!("{base} queued"), &[]);
    queued.tags.push(tag.clone());
    queued.visibility = Visibility::Public;
    queued.min_disk = 0;
    cleanup.track(&admin.create_image(&queued).await.unwrap().id);

    let (code, lines, stderr) = checked(&tag);
    let verdicts: BTreeMap<&str, &str> = lines
        .iter()
        .map(|(id, v)| (id.as_str(), v.as_str()))
        .collect();
    for id in &compliant {
        // The standard images still exist: only their presence passes.
        let want = if id.starts_with("scs-0104-image-") {
            "PASS"
        } else {
            "FAIL"
        };
        assert_eq!(verdicts[id], want, "{id}\n{stderr}");
        if want == "FAIL" {
            let named = stderr
                .lines()
                .any(|l| l.starts_with(&format!("ERROR: {id}: ")));
            assert!(named, "{id} says nothing\n{stderr}");
        }
    }
    for module in Module::defaults() {
        let verdict = verdicts[format!("module {module}").as_str()];
        assert!(verdict.starts_with("FAIL"), "{module}: {verdict}");
    }
    assert_eq!(code, 1);

    // The standard images hidden: a member sees none, every scs-0104-image-* fails.
    for (name, _) in STANDARD {
        patch(&admin, &images, name, &[PatchOp::set_hidden(true)]).await;
    }
    let (_, lines, stderr) = checked(&tag);
    for (id, verdict) in &lines {
        if id.starts_with("scs-0104-image-") {
            assert_eq!(verdict, "FAIL", "{id}\n{stderr}");
        } else if id.starts_with("scs-0104-source-") {
            assert_eq!(verdict, "PASS", "{id}: nothing to check\n{stderr}");
        }
    }
    assert!(
        stderr.contains(
            "ERROR: scs-0104-image-ubuntu-2404: Missing image 'Ubuntu 24.04'; publish a \
             visible public or community image named exactly `Ubuntu 24.04`; required by \
             scs-0104-v1-2; this run sees only part of the cloud (a catalog, or --tag)"
        ),
        "{stderr}"
    );
    cleanup.run(&admin).await;
}
