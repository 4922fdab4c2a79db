//! `image-manager validate` end to end: the real binary on real and broken catalogs.

use std::path::{Path, PathBuf};

use std::process::Command;

use assert_cmd::assert::OutputAssertExt;

use crate::cli::image_manager;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validate() -> Command {
    let mut cmd = image_manager();
    cmd.arg("validate");
    cmd
}

/// Runs `validate --output json` and returns the parsed report and the exit code.
fn json_report(args: &[&Path]) -> (serde_json::Value, i32) {
    let output = validate()
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (report, output.status.code().unwrap())
}

#[test]
fn starter_catalog_is_valid() {
    let output = validate().output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains(": error:"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("4 files, 6 definitions: 0 errors"),
        "{stderr}"
    );
}

#[test]
fn osism_catalogs_load_unchanged_with_zero_errors() {
    let fixtures = repo().join("../shared/fixtures/osism-catalog");
    let files: Vec<PathBuf> = ["ubuntu.yml", "debian.yml", "cirros.yml"]
        .iter()
        .map(|f| fixtures.join(f))
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (report, code) = json_report(&refs);
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(code, 0);
    assert_eq!(report["files"].as_array().unwrap().len(), 3);
    // Every definition of every file loaded (disabled ones too).
    assert!(report["definitions"].as_u64().unwrap() >= 16, "{report:#}");
}

/// One catalog with every class of mistake; each must be reported at its exact position.
const BROKEN: &str = r#"images:
  - name: Ubuntu 24.04
    format: qcow2
    login: ubuntu
    min_disk: 8
    min_ram: 512
    visiblity: public
    meta:
      architecture: x86_64
      os_distro: ubuntu
      os_version: 24.10
      os_purpose: generic
      replace_frequency: quarterly
      provided_until: none
      hypervisor_type: hyperv
    versions:
      - version: '20260108'
        url: https://cloud-images.ubuntu.com/noble/20260108/noble-server-cloudimg-amd64.img
        checksum: sha256:00786c0936a7dd91a6b07941ca60bb56652975e0e72f9dacf73c887ada42096
        build_date: 2026-01-08
      - version: '20260108'
        url: ftp://example.org/noble.img
        checksum: sha256:00786c0936a7dd91a6b07941ca60bb56652975e0e72f9dacf73c887ada420966
        build_date: 2026-01-08
      - version: latest
        url: https://cloud-images.ubuntu.com/releases/24.04/release/ubuntu-24.04-server-cloudimg-amd64.img
        checksum: md5:0123456789abcdef0123456789abcdef
        build_date: 2026-01-09
  - name: Ubuntu 24.04
    format: qcow2
    versions:
      - version: 20260108
        url: gopher://example.org/x.img
  - name: Cirros
    multi: false
    format: qcow2
    versions:
      - version: '0.6.2'
        url: file:///srv/cirros.img
        checksum: sha1:0123456789abcdef0123456789abcdef01234567
  - name: Cirros 0.6.2
    format: qcow2
    hidden: yes
    versions:
      - version: '1'
        url: https://example.org/c.img
        checksum: sha256:XYZ
"#;

#[test]
fn every_class_of_mistake_is_reported_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, BROKEN).unwrap();
    let output = validate().arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let f = file.display();
    let expected = [
        // schema: unknown key, at the key
        format!("{f}:7:5: error: unknown key `visiblity` in an image definition"),
        // YAML number where a string is meant, with the text written
        format!(
            "{f}:11:19: error: `os_version` must be a string, but YAML read the number 24.1 (written `24.10`); quote it: '24.10'"
        ),
        format!(
            "{f}:32:18: error: `version` must be a string, but YAML read the number 20260108; quote it: '20260108'"
        ),
        // checksum shape vs algorithm
        format!(
            "{f}:19:19: error: checksum `sha256:00786c0936a7dd91a6b07941ca60bb56652975e0e72f9dacf73c887ada42096`: sha256 digest must be 64 hex characters, found 63"
        ),
        // duplicate version
        format!(
            "{f}:21:18: error: version `20260108` of `Ubuntu 24.04` is listed twice (first at {f}:17:18)"
        ),
        // ftp cannot be downloaded
        format!(
            "{f}:22:14: error: `url`: downloads over ftp are not supported; add an http(s) `mirror_url`"
        ),
        // latest without a checksum URL
        format!("{f}:25:18: error: `latest` needs `checksum_url` or `checksums_url`"),
        // duplicate definition
        format!("{f}:29:11: error: image `Ubuntu 24.04` is defined twice (first at {f}:2:11)"),
        // unsupported scheme
        format!("{f}:33:14: error: `url` uses the unsupported scheme `gopher:`"),
        // file: accepted with a warning
        format!("{f}:39:14: warning: `url` is a file: URL"),
        // Glance-name collision under the naming rules
        format!(
            "{f}:45:18: error: `Cirros 0.6.2` version `1` would be named `Cirros 0.6.2` in Glance, like `Cirros` version `0.6.2` (at {f}:38:18)"
        ),
        format!(
            "{f}:47:19: error: checksum `sha256:XYZ`: digest contains characters that are not hexadecimal"
        ),
        // SCS lint (check's testcases; private images judged alone): hypervisor spelling, a
        // missing key at the definition's name
        format!(
            "{f}:15:7: warning: scs-0102-prop-hypervisor_type fails: property hypervisor_type not correct"
        ),
        format!(
            "{f}:34:11: warning: scs-0102-prop-os_distro fails: property os_distro not set for image(s): Cirros 0.6.2 (a private, shared or hidden image"
        ),
    ];
    for line in &expected {
        assert!(
            stdout.lines().any(|l| l.starts_with(line.as_str())),
            "missing `{line}` in:\n{stdout}"
        );
    }
}

#[test]
fn strict_turns_warnings_into_errors() {
    // The starter catalog has warnings (CAPI build dates) but no errors.
    validate().assert().code(0);
    validate().arg("--strict").assert().code(1);
}

#[test]
fn json_output_lists_diagnostics_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yml");
    std::fs::write(
        &file,
        "images:\n  - name: X\n    format: qcow2\n    versions:\n      - version: latest\n        url: https://e/x.img\n",
    )
    .unwrap();
    let (report, code) = json_report(&[&file]);
    assert_eq!(code, 1);
    let latest = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "latest-without-checksum-url")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(latest["line"], 5);
    assert_eq!(latest["column"], 18);
    assert_eq!(latest["severity"], "error");
    assert_eq!(latest["file"], file.display().to_string());
}

#[test]
fn yaml_syntax_errors_and_missing_paths_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "images:\n  - name: [X\n    format: qcow2\n").unwrap();
    let output = validate().arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("{}:", file.display());
    let line = stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(&prefix) && line.contains(": error: "),
        "{stdout}"
    );

    let missing = dir.path().join("nope");
    let output = validate().arg(&missing).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");

    let empty = tempfile::tempdir().unwrap();
    let output = validate().arg(empty.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no catalog files"));
}

#[test]
fn usage_errors_exit_64() {
    validate().arg("--no-such-flag").assert().code(64);
    image_manager().arg("--help").assert().code(0);
}

/// Regression (issue #13): a valid definition followed by one the loader cannot repair (here
/// `format: qcow3`), then a second file, made every catalog-reading command exit 101 with
/// "index out of bounds" and no diagnostics. Now each reports the position and exits 1.
#[test]
fn an_unrepairable_definition_is_a_diagnostic_in_every_command() {
    let definition = |name: &str, format: &str| {
        format!(
            "  - name: {name}\n    format: {format}\n    login: x\n    min_disk: 1\n    \
             min_ram: 64\n    versions:\n      - version: '1'\n        url: https://h/{name}.img\n        \
             checksum: sha256:{}\n",
            "a".repeat(64)
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("a.yaml");
    let second = dir.path().join("b.yaml");
    let text = format!(
        "images:\n{}{}",
        definition("A", "qcow2"),
        definition("B", "qcow3")
    );
    std::fs::write(&first, text).unwrap();
    std::fs::write(&second, format!("images:\n{}", definition("C", "qcow2"))).unwrap();
    let at = format!("{}:12:13: error:", first.display());
    let (a, b) = (first.to_str().unwrap(), second.to_str().unwrap());
    let commands: [&[&str]; 5] = [
        &["validate", a, b],
        &["plan", "--cloud", "nowhere", "--images", a, "--images", b],
        &["apply", "--cloud", "nowhere", "--images", a, "--images", b],
        &["check", "--offline", "--images", a, "--images", b],
        &["update", "--images", a, "--images", b],
    ];
    for args in commands {
        let output = image_manager()
            .current_dir(dir.path())
            .env("OS_CLIENT_CONFIG_FILE", dir.path().join("clouds.yaml"))
            .args(args)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(1), "{args:?}: {all}");
        // `update` only counts the errors and points at `validate`.
        if args[0] != "update" {
            assert!(all.contains(&at), "{args:?}: {all}");
        }
        assert!(!all.contains("panicked"), "{args:?}: {all}");
    }
}

/// `image-manager validate | head`: a reader that closed the pipe is not an error (exit 0,
/// no `error:` line), in text and JSON output alike.
#[test]
fn a_closed_stdout_pipe_is_not_an_error() {
    let fixtures = repo().join("../shared/fixtures/osism-catalog");
    for output in ["text", "json"] {
        let mut child = image_manager()
            .args(["validate", "--output", output])
            .arg(&fixtures)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the tool writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{output}: {stderr}");
        assert!(!stderr.contains("error:"), "{output}: {stderr}");
    }
}
