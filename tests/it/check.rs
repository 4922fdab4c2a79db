//! `image-manager check` against the real sandbox and offline on the starter catalog.
//!
//! Images are created directly through the Glance API as ADMIN (public, full SCS metadata,
//! data uploaded so they have a size and `os_hash_algo`), then the binary runs as MEMBER, as
//! the official suite does. Other tests share the Glance and may publish images that offend
//! some testcases, so assertions are about OUR images: a compliant image is never named in
//! a diagnostic, and a broken one makes its testcase FAIL and is named on stderr.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use image_manager::glance::{
    GlanceClient, NewImage, ObservedImage, PatchOp, Visibility, conditions,
};
use serde_json::Value;

use crate::sandbox::{self, Cleanup, raw_payload, unique_name};

const ACTIVE_TIMEOUT: Duration = Duration::from_secs(90);
const NOBLE: &str =
    "https://cloud-images.ubuntu.com/noble/20261111/noble-server-cloudimg-amd64.img";

/// Full scs-0102 metadata: built yesterday, quarterly, `provided_until: none`.
fn scs_properties(source: &str) -> BTreeMap<String, String> {
    let yesterday = (Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d");
    [
        ("architecture", "x86_64"),
        ("os_distro", "testos"),
        ("os_version", "1"),
        ("os_purpose", "custom"),
        ("hw_disk_bus", "virtio"),
        ("hypervisor_type", "qemu"),
        ("hw_rng_model", "virtio"),
        ("image_build_date", &yesterday.to_string()),
        ("image_original_user", "tester"),
        ("image_source", source),
        ("image_description", "integration test image"),
        ("replace_frequency", "quarterly"),
        ("provided_until", "none"),
        ("uuid_validity", "last-3"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// A private image with SCS metadata (+ `extra`), min_disk 1 GiB, min_ram 512 MiB.
pub(crate) fn scs_image(name: &str, extra: &[(&str, &str)]) -> NewImage {
    let mut image = NewImage::new(name, "raw");
    image.min_disk = 1;
    image.min_ram = 512;
    image.tags = vec!["it-check".into()];
    image.properties = scs_properties("https://example.org/testos/1/disk.img");
    for (k, v) in extra {
        image.properties.insert((*k).to_owned(), (*v).to_owned());
    }
    image
}

/// Creates `image` with 64 KiB of data, then makes it public once active.
pub(crate) async fn publish(
    client: &GlanceClient,
    cleanup: &Cleanup,
    image: &NewImage,
) -> ObservedImage {
    // Private until its data is in: a public image without data aborts min_disk for
    // everyone (as in the official suite), including tests running in parallel.
    let created = client.create_image(image).await.unwrap();
    cleanup.track(&created.id);
    let (body, _) = raw_payload(7, 64 * 1024);
    client.upload(&created.id, body).await.unwrap();
    client
        .wait_for(&created.id, conditions::is_active(), ACTIVE_TIMEOUT)
        .await
        .unwrap();
    let public = [PatchOp::set_visibility(&Visibility::Public)];
    client.patch_image(&created.id, &public).await.unwrap()
}

/// Creates a public image with SCS metadata (+ `extra`) and 64 KiB of data, active.
async fn create(
    client: &GlanceClient,
    cleanup: &Cleanup,
    name: &str,
    extra: &[(&str, &str)],
) -> ObservedImage {
    publish(client, cleanup, &scs_image(name, extra)).await
}

/// Runs the binary; returns exit code, stdout, stderr.
pub(crate) fn check(args: &[&str]) -> (i32, String, String) {
    crate::cli::run(crate::cli::against_sandbox().arg("check").args(args))
}

/// `check --output json` as member for one module: testcase id → (verdict, diagnostic lines).
fn check_json(module: &str) -> (i32, BTreeMap<String, (String, Vec<String>)>) {
    let (code, stdout, stderr) =
        check(&["--cloud", "member", "--module", module, "--output", "json"]);
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(report["subject"]["cloud"], "member");
    let testcases = report["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let lines = t["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    format!(
                        "{}: {}",
                        d["level"].as_str().unwrap(),
                        d["message"].as_str().unwrap()
                    )
                })
                .collect();
            (
                t["id"].as_str().unwrap().to_owned(),
                (t["verdict"].as_str().unwrap().to_owned(), lines),
            )
        })
        .collect();
    (code, testcases)
}

/// No ERROR or WARNING of any testcase names one of `names`.
fn never_named(results: &BTreeMap<String, (String, Vec<String>)>, names: &[&str]) {
    for (id, (_, lines)) in results {
        for line in lines.iter().filter(|l| !l.starts_with("INFO: ")) {
            for name in names {
                assert!(!line.contains(name), "{id} names {name}: {line}");
            }
        }
    }
}

/// The testcase FAILs and an ERROR line names `name`. An ABORT caused by another test's
/// image (e.g. a public image still without data, which aborts min_disk as in the official
/// suite) is accepted as long as our image is named too.
fn fails_naming(results: &BTreeMap<String, (String, Vec<String>)>, id: &str, name: &str) {
    let (verdict, lines) = &results[id];
    let foreign_abort = verdict == "ABORT"
        && lines
            .iter()
            .any(|l| l.starts_with("ERROR: testcase aborted") && !l.contains(name));
    assert!(verdict == "FAIL" || foreign_abort, "{id}: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ERROR: ") && l.contains(name)),
        "{id} does not name {name}: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliant_images_pass_and_broken_properties_fail() {
    let admin = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let hv = create(&admin, &cleanup, &unique_name("check-hv"), &[]).await;
    let user = create(&admin, &cleanup, &unique_name("check-user"), &[]).await;
    let disk = create(&admin, &cleanup, &unique_name("check-disk"), &[]).await;
    let names = [hv.name.as_str(), user.name.as_str(), disk.name.as_str()];

    let (_, results) = check_json("scs-0102-v1");
    assert_eq!(results.len(), 20);
    never_named(&results, &names);
    // The text form: one line per testcase, then the module line.
    let (code, stdout, _) = check(&["--cloud", "member", "--module", "scs-0102-v1"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 21, "{stdout}");
    for line in &lines[..20] {
        let (id, verdict) = line.split_once(": ").unwrap();
        assert!(results.contains_key(id), "{line}");
        assert!(["PASS", "FAIL", "ABORT"].contains(&verdict), "{line}");
    }
    assert!(lines[20].starts_with("module scs-0102-v1: "), "{stdout}");
    assert_eq!(code == 0, lines[20].starts_with("module scs-0102-v1: PASS"));

    // Break one property per image through the API.
    admin
        .patch_image(
            &hv.id,
            &[PatchOp::set_property("hypervisor_type", "hyperv")],
        )
        .await
        .unwrap();
    admin
        .patch_image(&user.id, &[PatchOp::remove_property("image_original_user")])
        .await
        .unwrap();
    admin
        .patch_image(&disk.id, &[PatchOp::set_min_disk(0)])
        .await
        .unwrap();

    let (code, results) = check_json("scs-0102-v1");
    fails_naming(&results, "scs-0102-prop-hypervisor_type", &hv.name);
    fails_naming(&results, "scs-0102-prop-image_original_user", &user.name);
    fails_naming(&results, "scs-0102-prop-min_disk", &disk.name);
    assert_eq!(code, 1, "main testcases fail");
    let (code, stdout, stderr) = check(&["--cloud", "member", "--module", "scs-0102-v1"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("scs-0102-prop-image_original_user: FAIL\n"),
        "{stdout}"
    );
    assert!(stdout.contains("module scs-0102-v1: FAIL"), "{stdout}");
    assert!(
        stderr.lines().any(|l| l.starts_with(
            "ERROR: scs-0102-prop-hypervisor_type: property hypervisor_type not correct"
        ) && l.contains(&hv.name)),
        "{stderr}"
    );
    cleanup.run(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recency_needs_a_fresh_replacement_and_hidden_images_are_not_checked() {
    let admin = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let base = unique_name("check-rec");
    let old_name = format!("{base} 20250101");
    let outdated = [
        ("replace_frequency", "weekly"),
        ("image_build_date", "2025-01-01"),
        ("provided_until", "2099-12-31"),
    ];
    let old = create(&admin, &cleanup, &old_name, &outdated).await;
    let current = create(&admin, &cleanup, &base, &[]).await;

    let (_, results) = check_json("scs-0102-v2");
    never_named(&results, &[base.as_str()]);
    let recency = &results["scs-0102-image-recency"].1;
    assert!(
        recency.iter().any(|l| l.starts_with("INFO: ")
            && l.contains(&format!("valid replacement for outdated \"{old_name}\""))),
        "{recency:#?}"
    );

    // Without its replacement the outdated image fails the testcase.
    admin.delete(&current.id).await.unwrap();
    let (_, results) = check_json("scs-0102-v2");
    fails_naming(
        &results,
        "scs-0102-image-recency",
        &format!("\"{old_name}\" outdated without replacement"),
    );

    // Hidden images are not in the member's listing: nothing names it any more.
    admin
        .patch_image(&old.id, &[PatchOp::set_hidden(true)])
        .await
        .unwrap();
    let (_, results) = check_json("scs-0102-v2");
    never_named(&results, &[base.as_str()]);
    cleanup.run(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scs_0104_wants_ubuntu_2404_from_the_codename_path() {
    // check_apply.rs publishes an `Ubuntu 24.04` too: not at the same time.
    let _lock = sandbox::scs_lock();
    let admin = sandbox::admin().await;
    let member = sandbox::member().await;
    let foreign = member
        .list_images()
        .await
        .unwrap()
        .images
        .iter()
        .filter(|i| i.name == "Ubuntu 24.04" && !i.os_hidden)
        .count();
    let cleanup = Cleanup::new();
    let image = create(&admin, &cleanup, "Ubuntu 24.04", &[("image_source", NOBLE)]).await;

    let (_, results) = check_json("scs-0104-v1-2");
    assert_eq!(results["scs-0104-image-ubuntu-2404"].0, "PASS");
    if foreign == 0 {
        // Only when ours is the one the name look-up finds.
        assert_eq!(results["scs-0104-source-ubuntu-2404"].0, "PASS");
        let numeric = "https://cloud-images.ubuntu.com/releases/24.04/release/ubuntu-24.04-server-cloudimg-amd64.img";
        admin
            .patch_image(&image.id, &[PatchOp::set_property("image_source", numeric)])
            .await
            .unwrap();
        let (code, results) = check_json("scs-0104-v1-2");
        fails_naming(
            &results,
            "scs-0104-source-ubuntu-2404",
            "'Ubuntu 24.04' source mismatch",
        );
        assert_eq!(code, 1);
    } else {
        eprintln!("another `Ubuntu 24.04` is public: only the presence was checked");
    }
    cleanup.run(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_credentials_are_warned_about() {
    let admin = sandbox::admin().await;
    let member = sandbox::member().await;
    let cleanup = Cleanup::new();
    for client in [&admin, &member] {
        let created = client
            .create_image(&NewImage::new(&unique_name("check-private"), "raw"))
            .await
            .unwrap();
        cleanup.track(&created.id);
    }
    let module = ["--module", "scs-0104-v1-2"];
    let (_, _, stderr) = check(&[&["--cloud", "admin"][..], &module].concat());
    assert!(
        stderr.contains("WARNING: cloud `admin` shows private or community images"),
        "{stderr}"
    );
    let (_, _, stderr) = check(&[&["--cloud", "member"][..], &module].concat());
    assert!(!stderr.contains("look like an admin's"), "{stderr}");
    cleanup.run(&admin).await;
}

#[test]
fn offline_starter_catalog() {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("images.d");
    let catalog = catalog.to_str().unwrap();
    let (code, stdout, stderr) = check(&["--offline", "--images", catalog]);
    let verdicts: BTreeMap<&str, &str> =
        stdout.lines().filter_map(|l| l.split_once(": ")).collect();
    // The CAPI versions have no build_date: apply dates them by the upstream's Last-Modified,
    // so offline they are a WARNING, not a failure.
    assert!(
        stderr.contains(
            "WARNING: scs-0102-prop-image_build_date: Image \"ubuntu-capi-image-v1.34.12\": \
             no build_date in the catalog"
        ),
        "{stderr}"
    );
    // Glance picks the hash algorithm and stores the size: offline those are SKIP. The
    // starter catalog names its CAPI images with a dash (capi-2), not a space (capi-1).
    let expected = |id: &str| match id {
        "scs-0102-prop-hash_algo" | "scs-0102-prop-min_disk" => "SKIP",
        "scs-0104-image-capi-1" => "FAIL",
        _ => "PASS",
    };
    for (id, verdict) in &verdicts {
        if id.starts_with("scs-") {
            assert_eq!(*verdict, expected(id), "{id}\n{stdout}\n{stderr}");
        }
    }
    assert_eq!(verdicts.len(), 34 + 4, "{stdout}");
    for line in [
        "module scs-0102-v1: PASS (skipped: scs-0102-prop-min_disk)",
        "module scs-0102-v2: PASS (skipped: scs-0102-prop-min_disk)",
        "module scs-0104-v1-1: PASS (recommended, not passing: scs-0104-image-capi-1)",
        "module scs-0104-v1-2: PASS",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line}\n{stdout}");
    }
    assert_eq!(code, 0);
    assert!(
        stderr.contains("INFO: scs-0102-prop-min_disk: image sizes are unknown"),
        "{stderr}"
    );

    let (_, stdout, _) = check(&["--offline", "--images", catalog, "--output", "json"]);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["origin"], "catalog");
    assert_eq!(report["modules"].as_array().unwrap().len(), 4);
    assert_eq!(report["modules"][0]["skipped"][0], "scs-0102-prop-min_disk");
    assert_eq!(report["testcases"].as_array().unwrap().len(), 34);
    assert_eq!(report["format_version"], "2");
}

/// Runs `validate` on `paths`; returns exit code and the warning lines.
fn validate(paths: &[&Path]) -> (i32, Vec<String>) {
    let (code, stdout, _) =
        crate::cli::run(crate::cli::image_manager().arg("validate").args(paths));
    let warnings = stdout
        .lines()
        .filter(|l| l.contains(": warning: "))
        .map(str::to_owned)
        .collect();
    (code, warnings)
}

#[test]
fn validate_and_check_offline_agree() {
    // The osism AlmaLinux 9 (`os_distro: centos`) and CentOS Stream 9, both `generic`: the
    // uniqueness testcase (main in scs-0102-v2) fails, and `validate` says where.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/scs/almalinux-centos.yaml");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/osism-catalog");
    let ubuntu = fixtures.join("ubuntu.yml");
    let paths = [ubuntu.as_path(), file.as_path()];

    let (code, stdout, _) = check(&[
        "--offline",
        "--images",
        ubuntu.to_str().unwrap(),
        "--images",
        file.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("scs-0102-os_purpose-uniqueness: FAIL\n"),
        "{stdout}"
    );
    assert!(stdout.contains("module scs-0102-v2: FAIL"), "{stdout}");
    assert_eq!(code, 1);
    let (code, warnings) = validate(&paths);
    assert_eq!(code, 0, "warnings only");
    let f = file.display();
    for at in ["16:7", "36:7"] {
        let line = format!(
            "{f}:{at}: warning: scs-0102-os_purpose-uniqueness fails: os_purpose=generic not \
             unique ('x86_64', 'centos', '9') for image(s): AlmaLinux 9, CentOS Stream 9"
        );
        assert!(warnings.contains(&line), "{line}\n{warnings:#?}");
    }
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    // The osism catalogs alone pass every main testcase offline, and validate is quiet.
    let osism: Vec<std::path::PathBuf> = ["ubuntu.yml", "debian.yml", "cirros.yml"]
        .iter()
        .map(|f| fixtures.join(f))
        .collect();
    let osism: Vec<&Path> = osism.iter().map(|p| p.as_path()).collect();
    assert_eq!(validate(&osism), (0, Vec::new()));
}

#[test]
fn a_partial_catalog_is_told_about_module() {
    let capi = Path::new(env!("CARGO_MANIFEST_DIR")).join("images.d/capi.yaml");
    let capi = capi.to_str().unwrap();
    let (code, stdout, stderr) = check(&["--offline", "--images", capi]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("scs-0104-image-ubuntu-2404: FAIL\n"),
        "{stdout}"
    );
    let hint = stderr
        .lines()
        .find(|l| l.starts_with("ERROR: scs-0104-image-ubuntu-2404: Missing image 'Ubuntu 24.04'"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        hint.contains("publish a visible public or community image named exactly `Ubuntu 24.04`"),
        "{hint}"
    );
    assert!(
        hint.contains("check this part with --module scs-0102-v1 --module scs-0102-v2"),
        "{hint}"
    );
    // ... and following it, the catalog passes.
    let (code, stdout, _) = check(&[
        "--offline",
        "--images",
        capi,
        "--module",
        "scs-0102-v1",
        "--module",
        "scs-0102-v2",
    ]);
    assert_eq!(code, 0, "{stdout}");
    // validate agrees: the main image testcases are warnings at the top of the file.
    let (_, warnings) = validate(&[Path::new(capi)]);
    let top: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("capi.yaml:1:1: warning: scs-0104-image-"))
        .collect();
    assert_eq!(top.len(), 2, "{warnings:#?}");
}
