//! `image-manager mirror` (and `update --mirror`, and `apply` reading mirrors) against the
//! sandbox's real S3 server (SeaweedFS) and the in-process upstream with its faults.
//!
//! What is proven, each by an independent look into the bucket (curl's SigV4, [`S3`]):
//! a catalog is mirrored verified, with the digest in the object's metadata and `mirror_url`s
//! written in place; a second run sends only one HEAD per version; a wrong checksum leaves no
//! object and no pending multipart upload; a dropped upstream connection is resumed with a
//! `Range` request; `apply` imports from the `mirror_url` into the real Glance, and falls back
//! to `url` when the `mirror_url` answers 404; `update --mirror` copies a new build before it
//! records its `mirror_url`; the S3 secret never reaches the output.

use std::ffi::OsStr;
use std::path::Path;

use image_manager::glance::ImageStatus;
use serde_json::Value;

use crate::apply_support::{json_of, raw_disk, serve};
use crate::catalogs::{Def, Ver, write_catalog};
use crate::cli::{image_manager, run, run_cli};
use crate::s3::S3;
use crate::sandbox::{self, Cleanup, unique_name};
use crate::upstream::{Algo, Compression, Fault, SumsFormat, Upstream};

const MIB: u64 = 1 << 20;

/// `image-manager mirror --images <catalog> --bucket <sandbox bucket> ARGS` with the sandbox's
/// S3 keys in the environment.
fn mirror(s3: &S3, catalog: &Path, args: &[&str]) -> (i32, String, String) {
    let env = s3.env();
    run(image_manager()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("mirror")
        .arg("--images")
        .arg(catalog)
        .args(s3.args())
        .args(args))
}

/// `mirror --output json` that must have exited `code`; its report.
fn mirror_json(s3: &S3, catalog: &Path, args: &[&str], code: i32) -> Value {
    let args: Vec<&str> = args.iter().copied().chain(["--output", "json"]).collect();
    let (status, out, err) = mirror(s3, catalog, &args);
    assert_eq!(status, code, "{out}\n{err}");
    assert!(!out.contains(s3.secret()) && !err.contains(s3.secret()));
    json_of(&out)
}

/// A definition `name` (its `shortname` too, so each test has its own key prefix).
fn definition(name: &str, format: &str, versions: Vec<Ver>) -> Def {
    Def {
        extra: format!("    shortname: {name}\n"),
        ..Def::new(name, format, versions)
    }
}

/// The osism key of `version` of the definition `name` (format raw).
fn key(name: &str, version: &str) -> String {
    format!("openstack-images/{name}/{version}-{name}.raw")
}

fn statuses(report: &Value) -> Vec<&str> {
    let versions = report["versions"].as_array().expect("versions");
    versions
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect()
}

#[test]
fn a_catalog_is_mirrored_verified_and_a_rerun_only_sends_heads() {
    let s3 = S3::sandbox();
    let up = Upstream::start_blocking();
    let name = unique_name("mirror");
    // 20 MiB: three parts of 8 MiB; and a gzip-compressed one, stored decompressed.
    up.add_generated("/big.raw", 20 * MIB, 7);
    up.add_generated("/small.raw", 300_000, 8);
    let gz = up.add_compressed("/small.raw", Compression::Gzip);
    let big = format!("checksum: sha256:{}", up.digest("/big.raw", Algo::Sha256));
    let small = format!("checksum: sha256:{}", up.digest("/small.raw", Algo::Sha256));
    let def = definition(
        &name,
        "raw",
        vec![
            Ver::with("1", &up.url("/big.raw"), &big),
            Ver::with("2", &up.url(&gz), &small),
        ],
    );
    let (dir, path) = write_catalog(&[format!("# mirrored by the test\n{}", def.yaml())]);
    for version in ["1", "2"] {
        s3.forget(&key(&name, version));
    }

    let report = mirror_json(&s3, dir.path(), &["--write"], 0);
    assert_eq!(statuses(&report), ["mirrored", "mirrored"], "{report:#}");
    assert_eq!(report["written"], true);
    assert_eq!(report["versions"][0]["bytes"], 20 * MIB);
    assert_eq!(report["versions"][1]["bytes"], 300_000);
    let requests = &report["s3_requests"];
    // Per version: a HEAD, the initiation and completion (POST), its parts (PUT).
    assert_eq!(requests["head"], 2, "{report:#}");
    assert_eq!(requests["post"], 4, "{report:#}");
    assert_eq!(requests["put"], 3 + 1, "{report:#}");
    assert_eq!(requests["delete"], 0, "{report:#}");
    for (version, file) in [("1", "/big.raw"), ("2", "/small.raw")] {
        let digest = format!("sha256:{}", up.digest(file, Algo::Sha256));
        assert_eq!(s3.recorded_digest(&key(&name, version)), Some(digest));
        // Anonymous reads, as `apply` downloads: the bytes are the decompressed image.
        let body = anonymous_get(&s3.url(&key(&name, version)));
        assert_eq!(hex::encode(sha256(&body)), up.digest(file, Algo::Sha256));
    }
    // The catalog names the copies, written in place (the comment stays).
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("images:\n# mirrored by the test\n"),
        "{text}"
    );
    for version in ["1", "2"] {
        let line = format!("        mirror_url: {}\n", s3.url(&key(&name, version)));
        assert!(text.contains(&line), "{text}");
    }

    // Again: everything is there; one HEAD per version and nothing else, no upstream GET.
    let hits = (up.hits("/big.raw"), up.hits(&gz));
    let report = mirror_json(&s3, dir.path(), &["--write"], 0);
    assert_eq!(statuses(&report), ["present", "present"], "{report:#}");
    let requests = &report["s3_requests"];
    assert_eq!(
        (
            &requests["head"],
            &requests["get"],
            &requests["put"],
            &requests["post"]
        ),
        (
            &Value::from(2),
            &Value::from(0),
            &Value::from(0),
            &Value::from(0)
        ),
        "{report:#}"
    );
    assert_eq!(requests["delete"], 0);
    assert_eq!((up.hits("/big.raw"), up.hits(&gz)), hits);
    assert_eq!(report["written"], false, "nothing to change");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_wrong_checksum_or_a_broken_upstream_leaves_nothing_in_the_bucket() {
    let s3 = S3::sandbox();
    let up = Upstream::start_blocking();
    let name = unique_name("mirror-bad");
    up.add_generated("/wrong.raw", 12 * MIB, 9);
    up.add_generated("/broken.raw", 12 * MIB, 10);
    // The connection breaks after 9 MiB (a part is out), and the file is gone on resume.
    up.fault_times("/broken.raw", Fault::Truncate { keep: 9 * MIB }, 1);
    let zero = format!("checksum: sha256:{}", "0".repeat(64));
    let broken = format!(
        "checksum: sha256:{}",
        up.digest("/broken.raw", Algo::Sha256)
    );
    let def = definition(
        &name,
        "raw",
        vec![
            Ver::with("1", &up.url("/wrong.raw"), &zero),
            Ver::with("2", &up.url("/broken.raw"), &broken),
        ],
    );
    let (dir, path) = write_catalog(&[def.yaml()]);
    for version in ["1", "2"] {
        s3.forget(&key(&name, version));
    }
    let before = std::fs::read_to_string(&path).unwrap();

    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            while up.hits("/broken.raw") == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            up.fault("/broken.raw", Fault::Status(404));
        });
        mirror_json(&s3, dir.path(), &["--write"], 1)
    });
    assert_eq!(statuses(&report), ["failed", "failed"], "{report:#}");
    let message = |i: usize| {
        report["versions"][i]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        message(0).contains("sha256 mismatch after 12582912 bytes"),
        "{report:#}"
    );
    assert!(message(1).ends_with("HTTP 404"), "{report:#}");
    assert_eq!(up.ranges("/broken.raw"), [format!("bytes={}-", 9 * MIB)]);
    // Both uploads sent their first 8 MiB part and were aborted: no object, no upload left.
    let requests = &report["s3_requests"];
    assert_eq!(
        (&requests["put"], &requests["delete"]),
        (&Value::from(2), &Value::from(2))
    );
    for version in ["1", "2"] {
        assert_eq!(s3.recorded_digest(&key(&name, version)), None);
    }
    assert_eq!(s3.pending_uploads(&format!("openstack-images/{name}/")), 0);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "nothing recorded"
    );
}

#[test]
fn a_dropped_upstream_connection_is_resumed() {
    let s3 = S3::sandbox();
    let up = Upstream::start_blocking();
    let name = unique_name("mirror-resume");
    up.add_generated("/img.raw", 10 * MIB, 11);
    up.fault_times("/img.raw", Fault::DropAfter { bytes: 5 * MIB }, 1);
    let sum = format!("checksum: sha256:{}", up.digest("/img.raw", Algo::Sha256));
    let def = definition(
        &name,
        "raw",
        vec![Ver::with("1", &up.url("/img.raw"), &sum)],
    );
    let (dir, _) = write_catalog(&[def.yaml()]);
    s3.forget(&key(&name, "1"));

    let report = mirror_json(&s3, dir.path(), &[], 0);
    assert_eq!(statuses(&report), ["mirrored"], "{report:#}");
    assert_eq!(up.ranges("/img.raw"), [format!("bytes={}-", 5 * MIB)]);
    let digest = format!("sha256:{}", up.digest("/img.raw", Algo::Sha256));
    assert_eq!(s3.recorded_digest(&key(&name, "1")), Some(digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_imports_from_the_mirror_url_and_falls_back_to_url_when_it_is_missing() {
    let s3 = S3::sandbox();
    let client = sandbox::member().await;
    let up = Upstream::start().await;
    let (a, b) = (unique_name("mirror-apply"), unique_name("mirror-fallback"));
    let cleanup = Cleanup::claiming(&a);
    let cleanup_b = Cleanup::claiming(&b);
    let served_a = serve(&up, "/a.raw", raw_disk(3 * MIB as usize, 12));
    let served_b = serve(&up, "/b.raw", raw_disk(MIB as usize, 13));
    let def_a = definition(&a, "raw", vec![Ver::inline("1", &served_a, "sha256")]);
    let (dir, _) = write_catalog(&[def_a.yaml()]);
    s3.forget(&key(&a, "1"));
    let report = mirror_json(&s3, dir.path(), &["--write"], 0);
    assert_eq!(statuses(&report), ["mirrored"], "{report:#}");

    // `b` names a mirror copy that was never made: the bucket answers 404.
    let missing = s3.url(&key(&b, "1"));
    let mut def_b = definition(&b, "raw", vec![Ver::inline("1", &served_b, "sha256")]);
    def_b.versions = vec![Ver::with(
        "1",
        &served_b.url,
        &format!(
            "mirror_url: {missing}\n        checksum: sha256:{}",
            served_b.sha256
        ),
    )];
    std::fs::write(
        dir.path().join("b.yaml"),
        format!("images:\n{}", def_b.yaml()),
    )
    .unwrap();

    let hits_a = up.hits("/a.raw");
    let args = ["--cloud", "member", "--output", "json"];
    let (code, out, err) = run_cli("apply", dir.path(), &args, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let report = json_of(&out);
    let entries = report["clouds"][0]["entries"].as_array().unwrap();
    let created = |name: &str| {
        entries
            .iter()
            .find(|e| e["action"] == "create" && e["name"] == name)
            .unwrap_or_else(|| panic!("no create of {name}: {report:#}"))
    };
    let (ea, eb) = (created(&a), created(&b));
    assert_eq!(ea["outcome"]["status"], "done", "{report:#}");
    assert_eq!(ea["transfer"]["source"], "mirror_url", "{report:#}");
    assert!(ea["transfer"].get("fallback").is_none(), "{report:#}");
    assert_eq!(
        ea["transfer"]["digests"]["sha256"],
        served_a.sha256.as_str()
    );
    assert_eq!(up.hits("/a.raw"), hits_a, "the upstream was not read");
    assert_eq!(eb["outcome"]["status"], "done", "{report:#}");
    assert_eq!(eb["transfer"]["source"], "url", "{report:#}");
    let why = eb["transfer"]["fallback"].as_str().unwrap();
    assert!(
        why.starts_with("mirror_url failed: GET ") && why.ends_with("HTTP 404"),
        "{why}"
    );
    assert_eq!(
        eb["transfer"]["digests"]["sha256"],
        served_b.sha256.as_str()
    );
    let image = client
        .get_image(eb["image_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(image.status, ImageStatus::Active, "{image:#?}");
    assert!(
        err.contains(&format!("{b}: mirror_url failed: GET {missing}: HTTP 404")),
        "{err}"
    );
    cleanup.run(&client).await;
    cleanup_b.run(&client).await;
}

#[test]
fn update_mirror_copies_the_new_build_before_it_records_its_mirror_url() {
    let s3 = S3::sandbox();
    let up = Upstream::start_blocking();
    let name = unique_name("mirror-update");
    let images = "/generic/images";
    let (old, new) = (
        format!("{images}/disk-20260301.raw"),
        format!("{images}/disk-20260526.raw"),
    );
    let latest = format!("{images}/disk-latest.raw");
    up.add_generated(&old, 2 * MIB, 14);
    up.add_generated(&new, 3 * MIB, 15);
    up.add_generated(&latest, 3 * MIB, 15);
    let sums = format!("{images}/SHA256SUMS");
    up.add_sums(&sums, SumsFormat::GnuText(Algo::Sha256), &[&new, &latest]);
    let digest = |path: &str| up.digest(path, Algo::Sha256);
    let catalog = format!(
        "images:\n  - name: {name}\n    shortname: {name}\n    format: raw\n    \
         latest_url: {latest_url}\n    latest_checksum_url: {sums_url}\n    versions:\n      \
         # the first build\n      - version: '20260301'\n        url: {old_url}\n        \
         mirror_url: {old_mirror}\n        checksum: sha256:{old_digest}\n        \
         build_date: 2026-03-01\n",
        latest_url = up.url(&latest),
        sums_url = up.url(&sums),
        old_url = up.url(&old),
        old_mirror = s3.url(&key(&name, "20260301")),
        old_digest = digest(&old),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, &catalog).unwrap();
    s3.forget(&key(&name, "20260526"));

    let owned = s3.env();
    let env: Vec<(&str, &OsStr)> = owned.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
    let args = [
        "--mirror", "--bucket", &s3.bucket, "--write", "--output", "json",
    ];
    let (code, out, err) = run_cli("update", dir.path(), &args, &env);
    assert_eq!(code, 0, "{out}\n{err}");
    let report = json_of(&out);
    let added = &report["definitions"][0]["added"][0];
    let new_mirror = s3.url(&key(&name, "20260526"));
    assert_eq!(added["version"], "20260526", "{report:#}");
    assert_eq!(added["mirror_url"], new_mirror.as_str(), "{report:#}");
    assert_eq!(added["mirrored"], true, "{report:#}");
    let recorded = s3.recorded_digest(&key(&name, "20260526"));
    assert_eq!(recorded, Some(format!("sha256:{}", digest(&new))));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(&format!("        mirror_url: {new_mirror}\n")),
        "{text}"
    );
    assert!(text.contains("# the first build"));

    // A build whose bytes do not match its sums file is neither copied nor added.
    let newer = format!("{images}/disk-20260601.raw");
    up.add_generated(&newer, MIB, 16);
    up.add_generated(&latest, MIB, 16);
    up.add_sums(&sums, SumsFormat::GnuText(Algo::Sha256), &[&newer, &latest]);
    up.fault(&newer, Fault::WrongContent);
    s3.forget(&key(&name, "20260601"));
    let (code, out, err) = run_cli("update", dir.path(), &args, &env);
    assert_eq!(code, 1, "{out}\n{err}");
    let report = json_of(&out);
    let outcome = &report["definitions"][0];
    assert_eq!(outcome["status"], "failed", "{report:#}");
    let message = outcome["message"].as_str().unwrap();
    assert!(
        message.starts_with("mirroring 20260601 failed:"),
        "{message}"
    );
    assert!(message.contains("sha256 mismatch"), "{message}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "nothing written"
    );
    assert_eq!(s3.recorded_digest(&key(&name, "20260601")), None);
    assert!(!out.contains(s3.secret()) && !err.contains(s3.secret()));
}

#[test]
fn the_s3_secret_never_reaches_the_output() {
    let s3 = S3::sandbox();
    let up = Upstream::start_blocking();
    let name = unique_name("mirror-secret");
    up.add_generated("/img.raw", MIB, 17);
    let sum = format!("checksum: sha256:{}", up.digest("/img.raw", Algo::Sha256));
    let def = definition(
        &name,
        "raw",
        vec![Ver::with("1", &up.url("/img.raw"), &sum)],
    );
    let (dir, _) = write_catalog(&[def.yaml()]);
    let secret = format!("SECRET{}", name.replace('-', ""));
    let mut env = s3.env();
    env.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_SECRET_ACCESS_KEY", secret.clone()));
    env.push(("AWS_SESSION_TOKEN", format!("TOKEN{secret}")));
    for args in [&["-vv"][..], &["--output", "json"]] {
        let (code, out, err) = run(image_manager()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["mirror", "--images"])
            .arg(dir.path())
            .args(s3.args())
            .args(args));
        assert_eq!(code, 1, "{out}\n{err}");
        assert!(
            !out.contains(&secret) && !err.contains(&secret),
            "{out}\n{err}"
        );
        assert!(
            out.contains("failed") || err.contains("FAILED"),
            "{out}\n{err}"
        );
    }
    // And without credentials a clear error before anything is sent.
    let (code, _, err) = run(image_manager()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["mirror", "--images"])
        .arg(dir.path())
        .args(s3.args()));
    assert_eq!(code, 1);
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

/// A GET without credentials (curl), as `apply` reads a public mirror.
fn anonymous_get(url: &str) -> Vec<u8> {
    let out = std::process::Command::new("curl")
        .args(["-sf", "-m", "60", url])
        .output()
        .expect("curl");
    assert!(out.status.success(), "GET {url}: {:?}", out.status);
    out.stdout
}
