//! The command-line surface a new user meets: `--version`, shell completions, the man page,
//! openstackclient's flags (`--os-cloud`, `--os-region-name`, `--os-cacert`, `--insecure`),
//! one JSON contract (`format_version` a string everywhere, fatal errors as a JSON document
//! with the exit code unchanged) and usage errors.

use serde_json::Value;

use crate::catalogs::{definition, write_catalog};
use crate::cli::{against_sandbox, image_manager, run};
use crate::sandbox::unique_name;

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}"))
}

/// A fatal error under `--output json`: one document on stdout with `format_version` "1" and
/// the error's kind; the message also on stderr.
fn assert_error_document(stdout: &str, kind: &str, message: &str) {
    let doc = json(stdout);
    assert_eq!(doc["format_version"], "1", "{doc:#}");
    assert_eq!(doc["error"]["kind"], kind, "{doc:#}");
    let text = doc["error"]["message"].as_str().unwrap();
    assert!(text.contains(message), "`{message}` not in: {text}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let (code, stdout, _) = run(image_manager().arg("--version"));
    assert_eq!(code, 0);
    assert!(stdout.starts_with("image-manager 0."), "{stdout}");
    // The tests run from a git checkout, so the build recorded its commit.
    assert!(stdout.contains("(commit "), "{stdout}");
}

#[test]
fn completions_for_each_shell_and_the_man_pages() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, stdout, stderr) = run(image_manager().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {stderr}");
        for word in ["image-manager", "validate", "images", "os-cloud"] {
            assert!(stdout.contains(word), "{shell}: no {word}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("image-manager.bash");
    std::fs::write(
        &script,
        run(image_manager().args(["completions", "bash"])).1,
    )
    .unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status();
    assert!(
        syntax.unwrap().success(),
        "the bash completion script does not parse"
    );

    let (code, page, _) = run(image_manager().arg("man"));
    assert_eq!(code, 0);
    assert!(
        page.contains(".TH image-manager 1") && page.contains("validate"),
        "{page}"
    );
    let (code, _, stderr) = run(image_manager().args(["man", "--dir"]).arg(dir.path()));
    assert_eq!(code, 0, "{stderr}");
    for page in [
        "image-manager.1",
        "image-manager-plan.1",
        "image-manager-apply.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.starts_with(".ie"), "{page}: {text}");
    }
}

#[test]
fn openstackclient_flags_reach_the_cloud() {
    let name = unique_name("surface");
    let (_dir, catalog) = write_catalog(&[definition(&name, &["1"], "none", "")]);
    // --os-cloud is --cloud.
    let (code, stdout, stderr) = run(against_sandbox()
        .args(["plan", "--os-cloud", "member", "--tag", &name, "--images"])
        .arg(&catalog));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("to create"), "{stdout}");
    // --os-region-name overrides the cloud's region: the sandbox has no such region.
    let (code, stdout, stderr) = run(against_sandbox()
        .args(["plan", "--cloud", "member", "--os-region-name", "Nowhere"])
        .args(["--output", "json", "--images"])
        .arg(&catalog));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("region `Nowhere`"), "{stderr}");
    assert_error_document(&stdout, "auth", "region `Nowhere`");
    // --os-cacert overrides `cacert`; --insecure is accepted (the sandbox is plain HTTP).
    let (code, stdout, _) = run(against_sandbox()
        .args([
            "check",
            "--cloud",
            "member",
            "--os-cacert",
            "/nonexistent/ca.pem",
        ])
        .args(["--output", "json"]));
    assert_eq!(code, 1);
    assert_error_document(&stdout, "config", "reading cacert /nonexistent/ca.pem");
    let (code, _, stderr) = run(against_sandbox()
        .args([
            "plan",
            "--cloud",
            "member",
            "--insecure",
            "--tag",
            &name,
            "--images",
        ])
        .arg(&catalog));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("TLS certificate verification is disabled"),
        "{stderr}"
    );
}

#[test]
fn every_json_document_has_a_string_format_version_and_fatal_errors_are_documents() {
    let (code, stdout, _) = run(image_manager().args(["validate", "--output", "json", "images.d"]));
    assert_eq!(code, 0);
    assert_eq!(json(&stdout)["format_version"], "1");

    let (code, stdout, stderr) =
        run(image_manager().args(["validate", "--output", "json", "/nonexistent"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("/nonexistent does not exist"), "{stderr}");
    assert_error_document(&stdout, "catalog", "/nonexistent does not exist");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "images:\n  - name: X\n    format: qcow3\n").unwrap();
    let (code, stdout, _) = run(image_manager()
        .args(["plan", "--output", "json", "--images"])
        .arg(&broken));
    assert_eq!(code, 1);
    assert_error_document(&stdout, "catalog", "nothing was planned");

    // A usage error keeps its exit code (64) and is a document too.
    let (code, stdout, _) = run(image_manager().args(["plan", "--output", "json", "--bogus"]));
    assert_eq!(code, 64);
    assert_error_document(&stdout, "usage", "--bogus");
    let (code, stdout, _) =
        run(image_manager().args(["update", "--output=json", "--timeout", "0"]));
    assert_eq!(code, 64);
    assert_error_document(&stdout, "usage", "0");
    // Without --output json a usage error prints no JSON.
    let (code, stdout, _) = run(image_manager().args(["update", "--timeout", "0"]));
    assert_eq!((code, stdout.as_str()), (64, ""));
}
