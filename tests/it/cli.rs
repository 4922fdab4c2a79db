//! The one way tests run the real binary: a `Command` with a clean environment (no colour,
//! no `OS_CLOUD`, no `SSL_CERT_FILE` from the caller, stdin closed, the repository as working
//! directory), optionally pointed at the sandbox's clouds.yaml, and one way to collect what it
//! printed. Tests add the subcommand and its arguments; `spawn` works for tests that kill or
//! race runs.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::sandbox;

/// `image-manager` with a clean environment; reaches no cloud unless a test says which.
pub(crate) fn image_manager() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_image-manager"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("OS_CLOUD")
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null());
    cmd
}

/// `image-manager` with the sandbox's clouds.yaml (clouds `admin`, `member`, `appcred`).
pub(crate) fn against_sandbox() -> Command {
    let mut cmd = image_manager();
    cmd.env("OS_CLIENT_CONFIG_FILE", sandbox::clouds_yaml());
    cmd
}

/// Runs `cmd` to its end: exit code, stdout, stderr (lossy UTF-8).
pub(crate) fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("running image-manager");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        out.status.code().expect("exited, not killed"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Runs `image-manager COMMAND --images <catalog> ARGS` against the sandbox with `env` added.
pub(crate) fn run_cli(
    command: &str,
    catalog: &Path,
    args: &[&str],
    env: &[(&str, &OsStr)],
) -> (i32, String, String) {
    run(against_sandbox()
        .envs(env.iter().copied())
        .arg(command)
        .arg("--images")
        .arg(catalog)
        .args(args))
}

/// `image-manager apply --cloud member --output json --images <catalog> ARGS` against the
/// sandbox, for tests that race, kill or wait for runs: stdout piped (the JSON report),
/// stderr (progress, lock messages) to the file `log`.
pub(crate) fn apply_logged(catalog: &Path, args: &[&str], log: &Path) -> Command {
    let mut cmd = against_sandbox();
    cmd.args(["apply", "--cloud", "member", "--output", "json", "--images"])
        .arg(catalog)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"));
    cmd
}

/// The JSON report of an [`apply_logged`] run that must have exited 0, and its stderr.
pub(crate) fn apply_report(output: &Output, log: &Path) -> (Value, String) {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "apply failed ({}):\n{stdout}\n{log}",
        output.status
    );
    let json =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("no JSON report ({e}):\n{stdout}"));
    (json, log)
}
