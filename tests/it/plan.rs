//! `plan` against the real sandbox: images created directly through the Glance API with
//! crafted properties must give exactly the documented steps and warnings; `plan` must
//! change nothing in Glance; the CLI's output, JSON and exit codes. The scale test is in
//! `plan_scale.rs`.
//!
//! Every test uses its own definition names (`unique_name`), so tests running in parallel
//! (and images other tests leave in Glance) never meet in one plan.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;

use bytes::Bytes;
use chrono::Utc;
use futures::stream;
use image_manager::catalog;
use image_manager::desired::{self, DesiredImage, DesiredState};
use image_manager::glance::{GlanceClient, NewImage, ObservedImage, Visibility};
use image_manager::plan::{self, Action, Change, Phase, Plan, Policy, Prune, Reason, Step, render};
use serde_json::Value;

use crate::catalogs::{definition, write_catalog};
use crate::sandbox::{self, Cleanup, unique_name};

const TAG: &str = "managed_by_image_manager";
const OSISM_TAG: &str = "managed_by_osism";
const NOT_MULTI: &str = "    multi: false\n    separator: '-'\n";

// ---------------------------------------------------------------- catalogs ----

pub(crate) fn resolve(path: &Path, tag: &str) -> DesiredState {
    let loaded = catalog::load(&[path.to_path_buf()]).unwrap();
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let options = desired::Options {
        managed_tag: tag.into(),
        filter: None,
        today: Utc::now().date_naive(),
    };
    desired::resolve(&loaded.catalog, &options)
}

pub(crate) fn desired_image<'a>(
    state: &'a DesiredState,
    definition: &str,
    version: &str,
) -> &'a DesiredImage {
    state
        .definitions
        .iter()
        .flat_map(|d| &d.images)
        .find(|i| i.identity.definition == definition && i.identity.version == version)
        .unwrap_or_else(|| panic!("{definition} {version} not in the desired state"))
}

// ------------------------------------------------------------------ glance ----

/// The image `apply` would leave behind for `desired`: every attribute as desired.
pub(crate) fn exact(desired: &DesiredImage) -> NewImage {
    let mut image = NewImage::new(&desired.name, desired.disk_format.as_str());
    image.visibility = Visibility::from(desired.visibility.as_str());
    image.os_hidden = desired.hidden;
    image.protected = desired.protected.unwrap_or(false);
    image.min_disk = desired.min_disk;
    image.min_ram = desired.min_ram;
    image.tags = desired.tags.iter().cloned().collect();
    image.properties = desired.properties.clone();
    image
}

/// Creates an image and uploads a few bytes of raw data: it is `active`.
pub(crate) async fn create_active(
    client: &GlanceClient,
    cleanup: &Cleanup,
    image: &NewImage,
) -> String {
    let id = create_queued(client, cleanup, image).await;
    let data = stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 4096]))]);
    client.upload(&id, data).await.unwrap();
    let observed = client.get_image(&id).await.unwrap();
    assert_eq!(observed.status.as_str(), "active", "{observed:?}");
    id
}

/// Creates an image without data: it stays `queued`, like the remains of an interrupted run.
async fn create_queued(client: &GlanceClient, cleanup: &Cleanup, image: &NewImage) -> String {
    let created = client.create_image(image).await.unwrap();
    cleanup.track(&created.id);
    created.id
}

/// The library pipeline `plan` runs: resolve, observe once, plan.
pub(crate) async fn plan_with(client: &GlanceClient, path: &Path, tag: &str, prune: Prune) -> Plan {
    let desired = resolve(path, tag);
    let observed = client.observe().await.unwrap();
    let policy = Policy {
        managed_tag: tag.into(),
        prune,
        method: None,
    };
    plan::plan(&desired, &observed, &policy)
}

/// Each step as (action type, target, reason kind, phase); the target is the image id, or
/// the name of the image a create makes.
fn step_set(plan: &Plan) -> BTreeSet<(String, String, String, String)> {
    plan.steps
        .iter()
        .map(|step| {
            let v = serde_json::to_value(step).unwrap();
            let target = match &step.action {
                Action::Create { image, .. } => image.name.clone(),
                Action::Publish { name, .. } => name.clone(),
                other => other.image_id().unwrap().to_owned(),
            };
            let text = |path: &str| v.pointer(path).and_then(Value::as_str).unwrap().to_owned();
            (
                text("/action/type"),
                target,
                text("/reason/kind"),
                text("/phase"),
            )
        })
        .collect()
}

/// Each warning as (kind, image ids sorted and comma-joined).
fn warning_set(plan: &Plan) -> BTreeSet<(String, String)> {
    let warning = |w| {
        let v = serde_json::to_value(w).unwrap();
        let mut ids: Vec<&str> = match v["ids"].as_array() {
            Some(ids) => ids.iter().map(|i| i.as_str().unwrap()).collect(),
            None => vec![v["id"].as_str().unwrap()],
        };
        ids.sort();
        (v["kind"].as_str().unwrap().to_owned(), ids.join(","))
    };
    plan.warnings.iter().map(warning).collect()
}

fn step(kind: &str, target: &str, reason: &str, phase: &str) -> (String, String, String, String) {
    (kind.into(), target.into(), reason.into(), phase.into())
}

fn warning(kind: &str, ids: &str) -> (String, String) {
    (kind.into(), ids.into())
}

// --------------------------------------------------------------------- cli ----

/// Runs `image-manager plan --images <catalog> ARGS` with the sandbox clouds.yaml, no
/// `OS_CLOUD` and `env` added; returns the exit code, stdout and stderr.
pub(crate) fn plan_cli(
    catalog: &Path,
    args: &[&str],
    env: &[(&str, &OsStr)],
) -> (i32, String, String) {
    crate::cli::run_cli("plan", catalog, args, env)
}

/// The items of a JSON list.
fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().expect("a JSON list").iter()
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

// ------------------------------------------------------------------- tests ----

#[test]
fn new_catalog_plans_a_create_per_image_with_exit_code_2() {
    let [x, y, z] = ["x", "y", "z"].map(|s| unique_name(&format!("plan-{s}")));
    let (_dir, path) = write_catalog(&[
        definition(&x, &["1.0", "2.0"], "forever", ""),
        definition(&y, &["1.0"], "forever", NOT_MULTI),
        definition(&z, &["1.0"], "forever", ""),
    ]);
    let filter = format!("^({}|{})$", regex::escape(&x), regex::escape(&y));
    let base = ["--cloud", "admin", "--filter", &filter];
    let (code, out, err) = plan_cli(&path, &[&base[..], &["--detailed-exitcode"]].concat(), &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    for name in [x.clone(), format!("{x} (1.0)"), format!("{y}-1.0")] {
        assert!(
            out.contains(&format!("  + \"{name}\"\n")),
            "no + line for {name}:\n{out}"
        );
    }
    assert!(!out.contains(&z), "--filter let {z} through:\n{out}");
    assert!(
        out.contains(
            "Plan for cloud \"admin\": 3 to create, 3 to publish, 0 to update, 0 to rename, 0 to \
             prune;"
        ),
        "{out}"
    );
    assert!(err.contains("Glance API calls"), "{err}");

    let (code, out, err) = plan_cli(&path, &[&base[..], &["--output", "json"]].concat(), &[]);
    assert_eq!(code, 0, "without --detailed-exitcode changes exit 0: {err}");
    let doc = json_of(&out);
    assert_eq!(doc["format_version"], "1");
    let plan = &doc["plans"][0];
    assert_eq!(plan["cloud"], "admin");
    assert_eq!(plan["changes"], true);
    assert_eq!(plan["summary"]["create"], 3, "{doc:#}");
    assert_eq!(plan["summary"]["publish"], 3, "{doc:#}");
    let names: BTreeSet<&str> = items(&plan["steps"])
        .filter(|s| s["category"] != "publish")
        .map(|s| {
            assert_eq!(s["category"], "create");
            assert_eq!(s["reason"]["kind"], "missing");
            s["action"]["image"]["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names.len(), 3, "{doc:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_images_give_the_expected_plan() {
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let [a, b, c, d, e, f, g, h] =
        ["a", "b", "c", "d", "e", "f", "g", "h"].map(|s| unique_name(&format!("plan-{s}")));
    // What Glance was made from: C's 1.0 while it was current; E's and F's 1.0 superseded.
    let (_prior_dir, prior) = write_catalog(&[
        definition(&c, &["1.0"], "forever", ""),
        definition(&e, &["1.0", "2.0"], "none", ""),
        definition(&f, &["1.0", "2.0"], "none", ""),
    ]);
    let (_dir, path) = write_catalog(&[
        definition(&a, &["1.0"], "forever", ""),
        definition(&b, &["1.0"], "forever", ""),
        definition(&c, &["1.0", "2.0"], "forever", ""),
        definition(&d, &["1.0"], "forever", ""),
        definition(&e, &["2.0"], "none", ""),
        definition(&f, &["2.0"], "none", ""),
        definition(&g, &["1.0"], "forever", "    status: deactivated\n"),
        definition(&h, &["1.0"], "forever", ""),
    ]);
    let (before, now) = (resolve(&prior, TAG), resolve(&path, TAG));

    // A: managed and current, one drifted property, one property the catalog never set.
    let mut image = exact(desired_image(&now, &a, "1.0"));
    image
        .properties
        .insert("os_purpose".into(), "minimal".into());
    image
        .properties
        .insert("site_note".into(), "keep me".into());
    let a1 = create_active(&client, &cleanup, &image).await;
    // B: not in Glance; an untagged image carries its name (and even its identity).
    let mut image = exact(desired_image(&now, &b, "1.0"));
    image.tags.clear();
    let b_untagged = create_active(&client, &cleanup, &image).await;
    // C: 1.0 as it was before 2.0 existed.
    let c1 = create_active(&client, &cleanup, &exact(desired_image(&before, &c, "1.0"))).await;
    // D: the queued remains of an interrupted upload.
    let d_left = create_queued(&client, &cleanup, &exact(desired_image(&now, &d, "1.0"))).await;
    // E, F: current 2.0 matches; 1.0 is no longer listed and `uuid_validity: none`.
    let e2 = create_active(&client, &cleanup, &exact(desired_image(&now, &e, "2.0"))).await;
    let e1 = create_active(&client, &cleanup, &exact(desired_image(&before, &e, "1.0"))).await;
    let f2 = create_active(&client, &cleanup, &exact(desired_image(&now, &f, "2.0"))).await;
    let mut image = exact(desired_image(&before, &f, "1.0"));
    image.protected = true;
    let f1 = create_active(&client, &cleanup, &image).await;
    // G: the catalog wants it deactivated. H: two managed images claim one identity; the
    // younger one (Glance dates to the second) is the duplicate.
    let g1 = create_active(&client, &cleanup, &exact(desired_image(&now, &g, "1.0"))).await;
    let h_image = exact(desired_image(&now, &h, "1.0"));
    let _h1 = create_active(&client, &cleanup, &h_image).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let h2 = create_active(&client, &cleanup, &h_image).await;
    let _ = (e2, f2);

    let plan = plan_with(&client, &path, TAG, Prune::None).await;
    let shown = render::text(&plan, false).to_string();
    let mut expected = BTreeSet::from([
        step("update", &a1, "drift", "publish"),
        step("create", &b, "missing", "upload"),
        step("publish", &b, "uploaded", "publish"),
        step("create", &c, "missing", "upload"),
        step("publish", &c, "uploaded", "publish"),
        step("update", &c1, "superseded", "rotate"),
        step("delete", &d_left, "leftover", "cleanup"),
        step("create", &d, "missing", "upload"),
        step("publish", &d, "uploaded", "publish"),
        step("deactivate", &g1, "status", "publish"),
        step("delete", &h2, "duplicate", "cleanup"),
    ]);
    assert_eq!(step_set(&plan), expected, "{shown}");
    let mut warnings = BTreeSet::from([
        warning("unmanaged_name_clash", &b_untagged),
        warning("prune_skipped", &e1),
        warning("protected_prune_target", &f1),
    ]);
    assert_eq!(warning_set(&plan), warnings, "{shown}");

    // A's patch is exactly the drifted property: `site_note` and Glance's own keys stay.
    let changes_of = |id: &str| match plan.steps.iter().find(|s| s.action.image_id() == Some(id)) {
        Some(Step {
            action: Action::Update { changes, .. },
            reason,
            ..
        }) => (changes, reason),
        _ => panic!("no update of {id}:\n{shown}"),
    };
    let (changes, _) = changes_of(&a1);
    assert_eq!(
        changes,
        &[Change::Property {
            key: "os_purpose".into(),
            from: Some("minimal".into()),
            to: Some("generic".into()),
        }],
        "{shown}"
    );
    // C's 1.0 takes its old-version name and the rotation metadata, after 2.0 is up.
    let (changes, reason) = changes_of(&c1);
    assert!(
        changes.contains(&Change::Name {
            from: c.clone(),
            to: format!("{c} (1.0)")
        }),
        "{shown}"
    );
    assert!(
        changes.contains(&Change::Property {
            key: "os_purpose".into(),
            from: Some("generic".into()),
            to: Some("oldgeneric".into()),
        }),
        "{shown}"
    );
    assert!(matches!(reason, Reason::Superseded { .. }), "{shown}");
    assert!(
        plan.steps
            .iter()
            .all(|s| s.action.image_id() != Some(&b_untagged)),
        "an untagged image must never be touched:\n{shown}"
    );

    // With --prune delete, E's unlisted 1.0 goes; F's protected 1.0 still stays.
    let plan = plan_with(&client, &path, TAG, Prune::Delete).await;
    let shown = render::text(&plan, false).to_string();
    expected.insert(step("delete", &e1, "unlisted", "prune"));
    assert_eq!(step_set(&plan), expected, "{shown}");
    warnings.remove(&warning("prune_skipped", &e1));
    assert_eq!(warning_set(&plan), warnings, "{shown}");
    let last = plan.steps.last().unwrap();
    assert_eq!(last.phase, Phase::Prune, "pruning comes last:\n{shown}");
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tool_images_are_adopted_without_uploads() {
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let o = unique_name("plan-osism");
    let (_dir, path) = write_catalog(&[definition(&o, &["1.0", "2.0"], "forever", "")]);
    let desired = resolve(&path, OSISM_TAG);
    // What the Python tool leaves: its tag, image_name + internal_version, fewer properties.
    let mut ids = Vec::new();
    for version in ["1.0", "2.0"] {
        let mut image = exact(desired_image(&desired, &o, version));
        image.tags = vec![OSISM_TAG.into()];
        image.properties.remove("hw_rng_model");
        ids.push(create_active(&client, &cleanup, &image).await);
    }
    let filter = format!("^{}$", regex::escape(&o));
    let base = ["--cloud", "admin", "--output", "json", "--filter", &filter];

    let (code, out, err) = plan_cli(&path, &[&base[..], &["--tag", OSISM_TAG]].concat(), &[]);
    assert_eq!(code, 0, "{err}");
    let plan = &json_of(&out)["plans"][0];
    assert_eq!(plan["managed_tag"], OSISM_TAG);
    assert_eq!(
        plan["summary"]["create"], 0,
        "adoption must not upload:\n{plan:#}"
    );
    for step in items(&plan["steps"]) {
        assert_eq!(step["action"]["type"], "update", "{plan:#}");
        assert!(
            ids.iter().any(|id| step["action"]["id"] == id.as_str()),
            "{plan:#}"
        );
    }
    assert_eq!(
        plan["summary"]["update"], 2,
        "tags and hw_rng_model drifted:\n{plan:#}"
    );

    // Under the default tag the same images are not ours: two creates, two name clashes.
    let (code, out, err) = plan_cli(&path, &base, &[]);
    assert_eq!(code, 0, "{err}");
    let plan = &json_of(&out)["plans"][0];
    assert_eq!(plan["summary"]["create"], 2, "{plan:#}");
    let clashes = items(&plan["warnings"])
        .filter(|w| w["kind"] == "unmanaged_name_clash")
        .count();
    assert_eq!(clashes, 2, "{plan:#}");
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_changes_nothing_in_glance() {
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let (r, s) = (unique_name("plan-ro-r"), unique_name("plan-ro-s"));
    let (_prior_dir, prior) = write_catalog(&[definition(&s, &["1.0", "2.0"], "none", "")]);
    let (_dir, path) = write_catalog(&[
        definition(&r, &["1.0"], "forever", ""),
        definition(&s, &["2.0"], "none", ""),
    ]);
    let (before, now) = (resolve(&prior, TAG), resolve(&path, TAG));
    let mut drifted = exact(desired_image(&now, &r, "1.0"));
    drifted.min_ram = 1;
    drifted.visibility = Visibility::Shared;
    let ids = [
        create_active(&client, &cleanup, &drifted).await,
        create_queued(&client, &cleanup, &exact(desired_image(&now, &r, "1.0"))).await,
        create_active(&client, &cleanup, &exact(desired_image(&before, &s, "1.0"))).await,
        create_active(&client, &cleanup, &exact(desired_image(&before, &s, "2.0"))).await,
    ];
    let snapshot = || async {
        let mut images = Vec::new();
        for id in &ids {
            images.push(client.get_image(id).await.unwrap());
        }
        images
    };
    let observed_before: Vec<ObservedImage> = snapshot().await;

    let filter = format!("^({}|{})$", regex::escape(&r), regex::escape(&s));
    let base = ["--cloud", "admin", "--prune", "delete", "--filter", &filter];
    let (code, text, err) = plan_cli(&path, &[&base[..], &["--detailed-exitcode"]].concat(), &[]);
    assert_eq!(code, 2, "{text}\n{err}");
    let (code, out, err) = plan_cli(&path, &[&base[..], &["--output", "json"]].concat(), &[]);
    assert_eq!(code, 0, "{err}");
    let summary = &json_of(&out)["plans"][0]["summary"];
    assert!(
        summary["prune"].as_u64().unwrap() >= 2,
        "a delete and a leftover:\n{text}"
    );
    assert!(summary["update"].as_u64().unwrap() >= 1, "{text}");

    assert_eq!(
        snapshot().await,
        observed_before,
        "plan changed Glance:\n{text}"
    );
    cleanup.run(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glance_matching_the_catalog_is_no_change_and_exit_0() {
    let client = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let m = unique_name("plan-match");
    let (_dir, path) = write_catalog(&[definition(&m, &["1.0", "2.0"], "forever", "")]);
    let desired = resolve(&path, TAG);
    for version in ["1.0", "2.0"] {
        let image = exact(desired_image(&desired, &m, version));
        create_active(&client, &cleanup, &image).await;
    }
    let filter = format!("^{}$", regex::escape(&m));
    // No --cloud: OS_CLOUD picks it.
    let os_cloud = [("OS_CLOUD", OsStr::new("admin"))];
    let (code, out, err) = plan_cli(
        &path,
        &["--filter", &filter, "--detailed-exitcode"],
        &os_cloud,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out, "No changes. Glance matches the catalog (cloud \"admin\"; 0 warnings).\n",
        "{err}"
    );
    let args = ["--cloud", "admin", "--output", "json", "--filter", &filter];
    let (_, out, _) = plan_cli(&path, &args, &[]);
    assert_eq!(json_of(&out)["plans"][0]["changes"], false);
    cleanup.run(&client).await;
}

#[test]
fn several_clouds_give_one_plan_each() {
    let n = unique_name("plan-multi");
    let (_dir, path) = write_catalog(&[definition(&n, &["1.0"], "forever", "")]);
    let base = ["--cloud", "admin", "--cloud", "member", "--filter", &n];
    let (code, out, err) = plan_cli(&path, &[&base[..], &["--detailed-exitcode"]].concat(), &[]);
    assert_eq!(code, 2, "{err}");
    for cloud in ["admin", "member"] {
        let line = format!("Plan for cloud \"{cloud}\": 1 to create");
        assert!(out.contains(&line), "{out}");
    }
    let (_, out, _) = plan_cli(&path, &[&base[..], &["--output", "json"]].concat(), &[]);
    let doc = json_of(&out);
    let clouds: Vec<&str> = items(&doc["plans"])
        .map(|p| p["cloud"].as_str().unwrap())
        .collect();
    assert_eq!(clouds, ["admin", "member"]);
}

#[test]
fn an_invalid_catalog_is_never_planned() {
    let (_dir, path) =
        write_catalog(&["  - name: broken\n    format: raw\n    versions: []\n".into()]);
    let (code, out, err) = plan_cli(&path, &["--cloud", "admin"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("catalog.yaml:") && err.contains(": error: "),
        "{err}"
    );
    assert!(err.contains("nothing was planned"), "{err}");
}

#[test]
fn cloud_errors_are_one_clear_line_without_secrets() {
    let name = unique_name("plan-err");
    let (_catalog_dir, path) = write_catalog(&[definition(&name, &["1.0"], "forever", "")]);
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("wrong-{}", unique_name("secret"));
    let cloud = |auth_url: &str| {
        format!(
            "    auth:\n      auth_url: \"{auth_url}\"\n      username: admin\n      \
             password: \"{secret}\"\n      project_name: admin\n      user_domain_name: Default\n      \
             project_domain_name: Default\n    region_name: RegionOne\n"
        )
    };
    // The sandbox's Keystone, as its clouds.yaml names it.
    let sandbox_yaml = std::fs::read_to_string(sandbox::clouds_yaml()).unwrap();
    let keystone = sandbox_yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("auth_url:"))
        .map(|u| u.trim().trim_matches('"').to_owned())
        .expect("auth_url in the sandbox clouds.yaml");
    let yaml = format!(
        "clouds:\n  badpass:\n{}  nowhere:\n{}",
        cloud(&keystone),
        cloud("http://127.0.0.1:9/v3")
    );
    let clouds = dir.path().join("clouds.yaml");
    std::fs::write(&clouds, yaml).unwrap();
    for (name, expected) in [
        ("badpass", "authentication"),
        ("nowhere", "authentication"),
        ("absent", "not found"),
    ] {
        let env = [("OS_CLIENT_CONFIG_FILE", clouds.as_os_str())];
        let (code, out, err) = plan_cli(&path, &["--cloud", name], &env);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(out.is_empty(), "{name}: {out}");
        assert!(!err.contains(&secret), "{name}: secret leaked: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{name}: {err}");
        assert_eq!(
            err.lines().last(),
            Some(errors[0]),
            "{name}: one line, last: {err}"
        );
        assert!(errors[0].contains(expected), "{name}: {err}");
        println!("{name}: {}", errors[0]);
    }
}

// ------------------------------------------------------------------- scale ----
