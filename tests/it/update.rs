//! `image-manager update` against a local upstream laid out like each real one (dated folders
//! with sums files, pointer files, release folders), on copies of the repo's `images.d/`.
//!
//! The golden files in `tests/data/update/` are the starter catalogs after one update, with the
//! server's address written as `http://upstream.test`: comparing them byte for byte proves that
//! comments, key order, quoting and blank lines survive. Regenerate them with
//! `UPDATE_GOLDEN=1 cargo test --test it update::`, then review the diff.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use image_manager::update::{self, Options, Status};

use crate::upstream::{Algo, Fault, SumsFormat, Upstream};

const HOST: &str = "http://upstream.test";
const CATALOGS: [&str; 4] = ["capi.yaml", "cirros.yaml", "debian.yaml", "ubuntu.yaml"];
const NOBLE_IMAGE: &str = "/noble/20260801/noble-server-cloudimg-amd64.img";
const TRIXIE: &str = "/cdimage/cloud/trixie/daily";
const TRIXIE_IMAGE: &str = "/cdimage/cloud/trixie/daily/20260801-2557/debian-13-genericcloud-amd64-daily-20260801-2557.qcow2";
const CAPI: &str = "/osism/openstack-k8s-capi-images";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    fs::read_to_string(repo().join("../shared/fixtures/upstream").join(name)).unwrap()
}

/// A real listing with rows for `new` folders added after the row of `like` (same markup).
fn listing_with(real: &str, like: &str, new: &[&str]) -> String {
    let row = real
        .lines()
        .find(|l| l.contains(&format!("href=\"{like}/\"")))
        .expect("row to copy");
    let rows: String = new
        .iter()
        .map(|f| format!("{}\n", row.replace(like, f)))
        .collect();
    real.replacen(&format!("{row}\n"), &format!("{row}\n{rows}"), 1)
}

/// An Apache `<pre>` listing of `folders`.
fn listing(folders: &[&str]) -> String {
    let rows: String = folders
        .iter()
        .map(|f| format!("<a href=\"{f}/\">{f}/</a>               2026-07-13 16:27    -   \n"))
        .collect();
    format!(
        "<html><body><pre><a href=\"?C=N;O=D\">Name</a>\n<a href=\"/\">Parent Directory</a>\n{rows}</pre></body></html>\n"
    )
}

/// Serves every upstream layout the starter catalog uses, each with newer builds, except
/// Ubuntu 22.04 (current) and Debian 12 (its listing answers 500).
fn serve_all(up: &Upstream) {
    // Ubuntu: the real noble listing plus 20260801 and a 20260802 still being published.
    let noble = listing_with(
        &fixture("ubuntu2404/index.html"),
        "20260705",
        &["20260801", "20260802"],
    );
    up.add_file("/noble/", noble);
    up.add_file(NOBLE_IMAGE, &b"noble 20260801"[..]);
    up.add_sums(
        "/noble/20260801/SHA256SUMS",
        SumsFormat::GnuBinary(Algo::Sha256),
        &[NOBLE_IMAGE],
    );
    up.add_file("/jammy/", listing(&["20260105", "20260119", "current"]));

    // Debian: the real trixie listing plus 20260801-2557; bookworm is down.
    let trixie = listing_with(
        &fixture("debian13/index.html"),
        "20260717-2542",
        &["20260801-2557"],
    );
    up.add_file(&format!("{TRIXIE}/"), trixie);
    up.add_file(TRIXIE_IMAGE, &b"trixie 20260801"[..]);
    let sums = format!("{TRIXIE}/20260801-2557/SHA512SUMS");
    up.add_sums(&sums, SumsFormat::GnuText(Algo::Sha512), &[TRIXIE_IMAGE]);
    up.fault("/cdimage/cloud/bookworm/daily/", Fault::Status(500));

    // Cluster-API: a new patch for 1.33, 1.34 current, a first 1.35 build; no 1.36 yet.
    for (minor, date, version) in [
        ("1.33", "2026-08-01", "1.33.10"),
        ("1.34", "2026-07-20", "1.34.12"),
        ("1.35", "2026-08-02", "1.35.0"),
    ] {
        let path = format!("ubuntu-2404-kube-v{minor}/ubuntu-2404-kube-v{version}.qcow2");
        up.add_file(&format!("{CAPI}/last-{minor}"), format!("{date} {path}\n"));
        let image = format!("{CAPI}/{path}");
        up.add_file(&image, format!("capi {version}"));
        up.add_sums(&format!("{image}.CHECKSUM"), SumsFormat::Capi, &[&image]);
    }

    // CirrOS: release folders with dates, as download.cirros-cloud.net lists them.
    up.add_file(
        "/cirros/",
        "<a href=\"../\">../</a>\n<a href=\"0.6.2/\">0.6.2/</a>  30-May-2023 09:00  -\n\
         <a href=\"0.6.3/\">0.6.3/</a>  26-Sep-2024 10:00  -\n\
         <a href=\"0.6.4/\">0.6.4/</a>  01-Aug-2026 12:00  -\n",
    );
    let cirros = "/cirros/0.6.4/cirros-0.6.4-x86_64-disk.img";
    up.add_file(cirros, &b"cirros 0.6.4"[..]);
    up.add_sums(
        "/cirros/0.6.4/SHA256SUMS",
        SumsFormat::GnuText(Algo::Sha256),
        &[cirros],
    );
}

/// `images.d/<name>` with every real upstream host pointed at `base`.
fn local_copy(name: &str, base: &str) -> String {
    fs::read_to_string(repo().join("images.d").join(name))
        .unwrap()
        .replace("https://cloud-images.ubuntu.com", base)
        .replace("https://cdimage.debian.org", base)
        .replace("https://nbg1.your-objectstorage.com", base)
        .replace(
            "https://github.com/cirros-dev/cirros/releases/download",
            &format!("{base}/cirros"),
        )
}

fn catalog_dir(base: &str, names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        fs::write(dir.path().join(name), local_copy(name, base)).unwrap();
    }
    dir
}

fn options() -> Options {
    Options {
        timeout: Duration::from_secs(5),
        ..Options::default()
    }
}

fn compare_golden(name: &str, actual: &str) {
    let path = repo().join("tests/data/update").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
    }
    let expected = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{name} differs from its golden file:\n{}",
        update::unified(name, &expected, actual)
    );
}

#[tokio::test]
async fn adds_the_newest_build_of_each_upstream_keeping_the_files_layout() {
    let up = Upstream::start().await;
    serve_all(&up);
    let dir = catalog_dir(&up.base_url(), &CATALOGS);
    let paths = [dir.path().to_path_buf()];

    let found = update::update(&paths, &options()).await.unwrap();
    assert!(found.invalid.is_empty(), "{:?}", found.invalid);
    let status = |name: &str| {
        let outcome = found
            .outcomes
            .iter()
            .find(|o| o.definition == name)
            .unwrap();
        (
            outcome.status,
            outcome
                .added
                .iter()
                .map(|a| a.version.as_str())
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(status("Ubuntu 24.04"), (Status::Updated, vec!["20260801"]));
    assert_eq!(status("Ubuntu 22.04"), (Status::Current, vec![]));
    assert_eq!(status("Debian 13"), (Status::Updated, vec!["20260801"]));
    assert_eq!(status("Debian 12"), (Status::Failed, vec![]));
    assert_eq!(
        status("ubuntu-capi-image"),
        (Status::Updated, vec!["v1.33.10", "v1.35.0"])
    );
    assert_eq!(status("Cirros"), (Status::Updated, vec!["0.6.4"]));
    let debian12 = found
        .outcomes
        .iter()
        .find(|o| o.definition == "Debian 12")
        .unwrap();
    assert!(
        debian12.message.as_deref().unwrap().contains("HTTP 500"),
        "{debian12:?}"
    );

    // The checksums are those of the served bytes, in `algo:hex` form.
    let added = |name: &str| {
        found
            .outcomes
            .iter()
            .find(|o| o.definition == name)
            .unwrap()
            .added[0]
            .clone()
    };
    let noble = added("Ubuntu 24.04");
    assert_eq!(
        noble.checksum,
        format!("sha256:{}", up.digest(NOBLE_IMAGE, Algo::Sha256))
    );
    assert_eq!(noble.url, up.url(NOBLE_IMAGE));
    assert_eq!(noble.build_date, "2026-08-01");
    let trixie = added("Debian 13");
    assert_eq!(
        trixie.checksum,
        format!("sha512:{}", up.digest(TRIXIE_IMAGE, Algo::Sha512))
    );
    // 20260802 had no sums file yet: tried, then skipped for 20260801.
    up.assert_hit("/noble/20260802/SHA256SUMS");
    up.assert_hit(&format!("{CAPI}/last-1.36"));

    // Only lines were added: every line of each file is still there, in order.
    for change in &found.files {
        let diff = change.diff();
        assert!(
            !diff
                .lines()
                .any(|l| l.starts_with('-') && !l.starts_with("---")),
            "{diff}"
        );
    }
    found.write().unwrap();
    for name in CATALOGS {
        let written = fs::read_to_string(dir.path().join(name)).unwrap();
        compare_golden(name, &written.replace(&up.base_url(), HOST));
    }
    let loaded = image_manager::catalog::load(&paths).unwrap();
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);

    // A second run finds everything current and changes nothing.
    let again = update::update(&paths, &options()).await.unwrap();
    assert!(!again.changed());
    assert!(
        again
            .outcomes
            .iter()
            .all(|o| matches!(o.status, Status::Current | Status::Failed))
    );
}

fn image_manager_update(dir: &Path, args: &[&str]) -> std::process::Output {
    crate::cli::image_manager()
        .args(["update", "--images"])
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dry_run_prints_a_diff_and_exits_2_write_applies_it_then_0() {
    let up = Upstream::start_blocking();
    serve_all(&up);
    let dir = catalog_dir(&up.base_url(), &["ubuntu.yaml"]);
    let file = dir.path().join("ubuntu.yaml");
    let before = fs::read_to_string(&file).unwrap();

    let dry = image_manager_update(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(
        dry.status.code(),
        Some(2),
        "{stdout}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(stdout.starts_with("--- a/"), "{stdout}");
    assert!(
        stdout.contains("+      - version: '20260801'\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+        build_date: 2026-08-01\n"),
        "{stdout}"
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), before, "dry run wrote");

    let write = image_manager_update(dir.path(), &["--write"]);
    assert_eq!(
        write.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&write.stderr)
    );
    assert_ne!(fs::read_to_string(&file).unwrap(), before);

    let current = image_manager_update(dir.path(), &[]);
    assert_eq!(current.status.code(), Some(0));
    assert!(current.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&current.stderr);
    assert!(stderr.contains("Ubuntu 24.04: current"), "{stderr}");
}

#[test]
fn keep_versions_drops_the_oldest_entries_and_nothing_else() {
    let up = Upstream::start_blocking();
    serve_all(&up);
    let dir = catalog_dir(&up.base_url(), &["ubuntu.yaml"]);
    let file = dir.path().join("ubuntu.yaml");
    let out = image_manager_update(
        dir.path(),
        &["--filter", "^Ubuntu 24", "--keep-versions", "2", "--write"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Ubuntu 24.04: added 20260801 (2026-08-01); dropped 20260108"),
        "{stderr}"
    );
    assert!(!stderr.contains("Ubuntu 22.04"), "filtered out: {stderr}");
    let text = fs::read_to_string(&file).unwrap();
    assert!(!text.contains("version: '20260108'"), "{text}");
    assert!(text.contains("version: '20260705'") && text.contains("version: '20260801'"));
    // The comment that mentions the dropped version stays: comments are never edited.
    assert!(text.contains("# When 20260705 becomes current, 20260108 is renamed"));
}

#[test]
fn failures_are_per_definition_and_reported_in_json() {
    let up = Upstream::start_blocking();
    serve_all(&up);
    up.fault("/jammy/", Fault::Hang(Duration::from_secs(10)));
    let dir = catalog_dir(&up.base_url(), &["ubuntu.yaml", "debian.yaml"]);
    let started = std::time::Instant::now();
    let out = image_manager_update(dir.path(), &["--output", "json", "--timeout", "1"]);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the timeout did not apply"
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |name: &str| {
        report["definitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["definition"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("Ubuntu 22.04")["status"], "failed");
    assert_eq!(by_name("Debian 12")["status"], "failed");
    assert_eq!(by_name("Ubuntu 24.04")["status"], "updated");
    assert_eq!(by_name("Debian 13")["added"][0]["version"], "20260801");
    assert_eq!(report["written"], false);
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["format_version"], "2",
        "a string, like every JSON document"
    );
}

/// A listing in which no build of the layout is recognised (a login page, a wrong mirror) is
/// an error for that definition, not "current".
#[test]
fn a_listing_without_any_build_is_an_error_not_current() {
    let up = Upstream::start_blocking();
    serve_all(&up);
    up.add_file("/jammy/", &b"<html><body>Please log in</body></html>"[..]);
    up.add_file("/cirros/", &b"<html><body>Not a mirror</body></html>"[..]);
    let dir = catalog_dir(&up.base_url(), &["ubuntu.yaml", "cirros.yaml"]);
    let out = image_manager_update(dir.path(), &["--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let definitions = report["definitions"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = definitions
        .iter()
        .filter(|d| d["status"] == "failed")
        .collect();
    assert!(!failed.is_empty(), "{report:#}");
    for definition in failed {
        let message = definition["message"].as_str().unwrap();
        assert!(message.contains("no build recognised"), "{message}");
    }
    let ubuntu = |name: &str| {
        definitions
            .iter()
            .find(|d| d["definition"] == name)
            .unwrap()
    };
    assert_eq!(ubuntu("Ubuntu 22.04")["status"], "failed", "{report:#}");
    assert_eq!(ubuntu("Ubuntu 24.04")["status"], "updated", "{report:#}");
}

#[test]
fn an_edit_that_would_not_validate_writes_nothing() {
    let up = Upstream::start_blocking();
    serve_all(&up);
    let dir = catalog_dir(&up.base_url(), &["ubuntu.yaml"]);
    // Valid today; once 20260801 is added, 20260705 becomes "Ubuntu 24.04 (20260705)" in Glance
    // and collides with this definition.
    let clash = local_copy("cirros.yaml", &up.base_url())
        .replace("name: Cirros", "name: Ubuntu 24.04 (20260705)")
        .replace("multi: false", "multi: true");
    fs::write(dir.path().join("clash.yaml"), clash).unwrap();
    let before = fs::read_to_string(dir.path().join("ubuntu.yaml")).unwrap();
    let out = image_manager_update(dir.path(), &["--write", "--filter", "^Ubuntu 24.04$"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("name-collision") || stderr.contains("would be named"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing written"), "{stderr}");
    assert_eq!(
        fs::read_to_string(dir.path().join("ubuntu.yaml")).unwrap(),
        before
    );
}

#[tokio::test]
async fn osism_catalogs_keep_their_layout_and_mirrored_definitions_keep_a_mirror() {
    let up = Upstream::start().await;
    serve_all(&up);
    let dir = tempfile::tempdir().unwrap();
    let osism = repo().join("../shared/fixtures/osism-catalog/ubuntu.yml");
    let text = fs::read_to_string(osism)
        .unwrap()
        .replace("https://cloud-images.ubuntu.com", &up.base_url());
    fs::write(dir.path().join("ubuntu.yml"), &text).unwrap();
    let options = Options {
        filter: Some(regex::Regex::new("^Ubuntu 24.04$").unwrap()),
        ..options()
    };
    let found = update::update(&[dir.path().to_path_buf()], &options)
        .await
        .unwrap();
    assert!(found.invalid.is_empty(), "{:?}", found.invalid);
    let [change] = &found.files[..] else {
        panic!("one file changes: {:?}", found.outcomes)
    };
    let diff = change.diff();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| &l[1..])
        .collect();
    let base = up.base_url();
    let digest = up.digest(NOBLE_IMAGE, Algo::Sha256);
    // ruamel's layout (value on the next line, trailing space after the colon) is copied;
    // the new build gets its own mirror_url, derived with the osism layout from the old one.
    let mirror = "https://nbg1.your-objectstorage.com/osism/openstack-images/ubuntu-24.04";
    assert_eq!(
        added,
        [
            "      - version: '20260801'".to_owned(),
            "        url: ".to_owned(),
            format!("          {base}/noble/20260801/noble-server-cloudimg-amd64.img"),
            "        mirror_url: ".to_owned(),
            format!("          {mirror}/20260801-ubuntu-24.04.qcow2"),
            "        checksum: ".to_owned(),
            format!("          sha256:{digest}"),
            "        build_date: 2026-08-01".to_owned(),
        ]
    );
    // Not copied (no --mirror): the outcome says so, apply falls back to url until then.
    let new = &found
        .outcomes
        .iter()
        .find(|o| !o.added.is_empty())
        .unwrap()
        .added[0];
    assert!(!new.mirrored);
    assert_eq!(
        new.mirror_url.as_deref(),
        Some(format!("{mirror}/20260801-ubuntu-24.04.qcow2").as_str())
    );

    // A mirror_url the layout does not explain, and no --mirror-base: the definition fails
    // rather than losing its mirror.
    fs::write(
        dir.path().join("ubuntu.yml"),
        text.replace("/20260108-ubuntu-24.04.qcow2", "/noble-20260108.qcow2"),
    )
    .unwrap();
    let found = update::update(&[dir.path().to_path_buf()], &options)
        .await
        .unwrap();
    let outcome = &found.outcomes[0];
    assert_eq!(outcome.status, Status::Failed, "{outcome:?}");
    assert!(
        outcome
            .message
            .as_deref()
            .unwrap()
            .contains("pass --mirror-base"),
        "{outcome:?}"
    );
    assert!(found.files.is_empty());
    // With --mirror-base the same layout names the new build below that base.
    let options = Options {
        mirror: update::MirrorOptions {
            base: Some("https://mirror.example/images".into()),
            ..Default::default()
        },
        ..options
    };
    let found = update::update(&[dir.path().to_path_buf()], &options)
        .await
        .unwrap();
    let added = &found.outcomes[0].added[0];
    assert_eq!(
        added.mirror_url.as_deref(),
        Some(
            "https://mirror.example/images/openstack-images/ubuntu-24.04/20260801-ubuntu-24.04.qcow2"
        )
    );
}

#[tokio::test]
async fn generic_upstreams_pin_latest_to_its_dated_twin() {
    let up = Upstream::start().await;
    let images = "/almalinux/9/cloud/x86_64/images";
    let dated = format!("{images}/AlmaLinux-9-GenericCloud-9.8-20260526.x86_64.qcow2");
    let latest = format!("{images}/AlmaLinux-9-GenericCloud-latest.x86_64.qcow2");
    up.add_file(&dated, &b"alma 9.8"[..]);
    up.add_file(&latest, &b"alma 9.8"[..]);
    up.add_sums(
        &format!("{images}/CHECKSUM"),
        SumsFormat::GnuText(Algo::Sha256),
        &[&dated, &latest],
    );
    let catalog = format!(
        "images:\n  - name: AlmaLinux 9  # generic: latest_url + latest_checksum_url\n    format: qcow2\n    visibility: public\n    meta:\n      os_distro: almalinux\n      os_version: '9'\n    latest_url: {latest_url}\n    latest_checksum_url: {sums}\n    versions:\n      - version: '20260301'\n        url: {old}\n        checksum: sha256:{zero}\n        build_date: 2026-03-01\n",
        latest_url = up.url(&latest),
        sums = up.url(&format!("{images}/CHECKSUM")),
        old = up.url(&format!(
            "{images}/AlmaLinux-9-GenericCloud-9.7-20260301.x86_64.qcow2"
        )),
        zero = "0".repeat(64),
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("alma.yaml"), &catalog).unwrap();
    let found = update::update(&[dir.path().to_path_buf()], &options())
        .await
        .unwrap();
    let outcome = &found.outcomes[0];
    assert_eq!(outcome.status, Status::Updated, "{outcome:?}");
    let added = &outcome.added[0];
    assert_eq!(added.version, "20260526");
    assert_eq!(added.url, up.url(&dated));
    assert_eq!(
        added.checksum,
        format!("sha256:{}", up.digest(&dated, Algo::Sha256))
    );
    assert_eq!(added.build_date, "2026-05-26");
    assert!(found.invalid.is_empty(), "{:?}", found.invalid);
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        &["--keep-versions", "0"][..],
        &["--timeout", "0"],
        &["--filter", "("],
        &["--output", "yaml"],
    ] {
        let out = image_manager_update(dir.path(), bad);
        assert_eq!(out.status.code(), Some(64), "{bad:?}");
    }
}
