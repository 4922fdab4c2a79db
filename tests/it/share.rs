//! Sharing against the real sandbox: a catalog `shared` list reconciled as Glance image members.
//!
//! The admin cloud applies (its project owns the images, and under Glance's default policy an
//! admin may set a member's status); the `member` cloud is a plain member of the `demo`
//! project and checks what the demo project sees. Every run goes through the binary, so
//! Keystone's name look-up and the member reads are the ones `plan` and `apply` do.

use serde_json::Value;

use image_manager::glance::{Error, GlanceClient, MemberStatus, NewImage, Visibility};

use crate::apply_support::{Served, apply_cli, catalog_of, json_of, raw_disk, serve};
use crate::catalogs::{Def, Ver};
use crate::plan::plan_cli;
use crate::proxy::{FaultProxy, Faults, ProxiedCloud, glance_url};
use crate::sandbox::{self, Cleanup, unique_name};
use crate::upstream::Upstream;

/// `visibility: shared` with `entries` as its `shared` list (YAML list items, indented 6;
/// none: `shared: []`).
fn shared_with(entries: &str) -> String {
    match entries {
        "" => "    visibility: shared\n    shared: []\n".to_owned(),
        _ => format!("    visibility: shared\n    shared:\n{entries}"),
    }
}

/// Definition `name` with `versions`, shared with `entries` (see [`shared_with`]).
fn shared(name: &str, versions: Vec<Ver>, entries: &str) -> Def {
    Def {
        extra: shared_with(entries),
        ..Def::new(name, "raw", versions)
    }
}

/// A test's definition name with one version the upstream serves, and its cleanup.
struct OneVersion {
    name: String,
    cleanup: Cleanup,
    served: Served,
    _upstream: Upstream,
}

impl OneVersion {
    async fn serve(prefix: &str, seed: u64) -> OneVersion {
        let name = unique_name(prefix);
        let upstream = Upstream::start().await;
        let served = serve(&upstream, "/disk.raw", raw_disk(64 * 1024, seed));
        OneVersion {
            cleanup: Cleanup::claiming(&name),
            name,
            served,
            _upstream: upstream,
        }
    }

    /// The definition, shared with `entries`.
    fn shared(&self, entries: &str) -> Def {
        let version = Ver::inline("1.0", &self.served, "sha256");
        shared(&self.name, vec![version], entries)
    }
}

const DEMO_ACCEPTED: &str =
    "      - project: demo\n        domain: Default\n        status: accepted\n";

/// The steps of the only plan of a `plan --output json` run.
fn steps(plan: &Value) -> Vec<Value> {
    plan["plans"][0]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `(action, outcome)` of every entry of an apply report, and the image the create made.
fn entries(report: &Value) -> (Vec<(String, String)>, Option<String>) {
    let entries = report["clouds"][0]["entries"].as_array().unwrap();
    let rows = entries
        .iter()
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&e["action"]), text(&e["outcome"]["status"]))
        })
        .collect();
    let created = entries
        .iter()
        .find(|e| e["action"] == "create")
        .and_then(|e| e["image_id"].as_str())
        .map(str::to_owned);
    (rows, created)
}

fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
        .collect()
}

/// `plan --detailed-exitcode` as admin: 0 when Glance matches the catalog.
fn assert_no_changes(catalog: &std::path::Path) {
    let (code, out, err) = plan_cli(catalog, &["--cloud", "admin", "--detailed-exitcode"], &[]);
    assert_eq!(code, 0, "the next plan is not empty:\n{out}\n{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_with_demo_lets_its_member_see_the_image_and_unsharing_removes_it() {
    let (admin, member) = (sandbox::admin().await, sandbox::member().await);
    let demo = member
        .project_id()
        .expect("the member cloud is scoped to demo");
    let one = OneVersion::serve("share-demo", 81).await;
    let (name, cleanup) = (&one.name, &one.cleanup);
    let (_dir, path) = catalog_of(&[&one.shared(DEMO_ACCEPTED)]);

    // The plan names the member step after the publish, with the project Keystone resolved.
    let (code, out, err) = plan_cli(&path, &["--cloud", "admin", "--output", "json"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let plan = json_of(&out);
    let kinds: Vec<String> = steps(&plan)
        .iter()
        .map(|s| s["action"]["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["create", "publish", "add_member"], "{out}");
    let add = &steps(&plan)[2];
    assert_eq!(add["phase"], "share", "{add:#}");
    assert_eq!(add["category"], "member", "{add:#}");
    assert_eq!(add["action"]["project"]["id"], demo.as_str(), "{add:#}");
    assert_eq!(add["action"]["project"]["name"], "demo", "{add:#}");
    assert_eq!(add["action"]["accept"], true, "{add:#}");
    assert_eq!(plan["plans"][0]["summary"]["members"], 1, "{out}");

    let (code, out, err) = apply_cli(&path, &["--cloud", "admin", "--output", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let report = json_of(&out);
    let (done, created) = entries(&report);
    assert_eq!(
        done,
        rows(&[
            ("create", "done"),
            ("publish", "done"),
            ("add_member", "done")
        ]),
        "{out}"
    );
    let id = created.expect("the create reports its image");
    cleanup.track(&id);
    let entry = &report["clouds"][0]["entries"][2];
    assert_eq!(entry["member"], demo.as_str(), "{entry:#}");
    assert_eq!(entry["image_id"], id.as_str(), "{entry:#}");

    // The demo project sees the image: by id, and in its default listing (accepted).
    let seen = member.get_image(&id).await.expect("demo reads the image");
    assert_eq!(&seen.name, name);
    let listing = member.list_images().await.unwrap();
    assert!(
        listing.images.iter().any(|i| i.id == id),
        "not listed for demo"
    );
    let members = admin.members(&id).await.unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(
        (members[0].project_id.as_str(), &members[0].status),
        (demo.as_str(), &MemberStatus::Accepted)
    );
    assert_no_changes(&path);

    // Removed from the catalog: the member is removed, and demo no longer sees the image.
    let (_dir2, unshared) = catalog_of(&[&one.shared("")]);
    let (code, out, err) = apply_cli(&unshared, &["--cloud", "admin", "--output", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (done, _) = entries(&json_of(&out));
    assert_eq!(done, rows(&[("remove_member", "done")]), "{out}");
    assert!(admin.members(&id).await.unwrap().is_empty());
    match member.get_image(&id).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("demo still reads the image: {other:?}"),
    }
    assert_no_changes(&unshared);
    cleanup.run(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_share_leaves_accepting_to_the_member_project() {
    let (admin, member) = (sandbox::admin().await, sandbox::member().await);
    let demo = member.project_id().unwrap();
    let one = OneVersion::serve("share-pending", 82).await;
    let (name, cleanup) = (&one.name, &one.cleanup);
    // By id, without a status: Glance's proposal.
    let (_dir, path) = catalog_of(&[&one.shared(&format!("      - project_id: {demo}\n"))]);
    let (code, out, err) = apply_cli(&path, &["--cloud", "admin", "--output", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (done, created) = entries(&json_of(&out));
    assert_eq!(
        done.last(),
        Some(&("add_member".into(), "done".into())),
        "{out}"
    );
    let id = created.unwrap();
    cleanup.track(&id);

    // Pending: usable by id, but not in demo's default listing until demo accepts.
    assert!(member.get_image(&id).await.is_ok());
    let own = member.members(&id).await.unwrap();
    assert_eq!(own[0].status, MemberStatus::Pending, "{own:?}");
    let listed =
        |images: &[image_manager::glance::ObservedImage]| images.iter().any(|i| i.id == id);
    assert!(!listed(&member.list_images().await.unwrap().images));
    assert_no_changes(&path);

    // Demo decides, either way; the next plan leaves its decision alone.
    for status in [MemberStatus::Accepted, MemberStatus::Rejected] {
        member.set_member_status(&id, &demo, &status).await.unwrap();
        assert_no_changes(&path);
    }

    // Until the catalog asks for `accepted`: the admin accepts for demo, over its rejection.
    let accepted = format!("      - project_id: {demo}\n        status: accepted\n");
    let (_dir2, path) = catalog_of(&[&one.shared(&accepted)]);
    let (_, out, _) = plan_cli(&path, &["--cloud", "admin"], &[]);
    assert!(
        out.contains(&format!("~ member {demo} on \"{name}\" (id {id})"))
            && out.contains("~ status: \"rejected\" → \"accepted\""),
        "{out}"
    );
    let (code, out, err) = apply_cli(&path, &["--cloud", "admin", "--output", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        entries(&json_of(&out)).0,
        rows(&[("accept_member", "done")])
    );
    assert!(listed(&member.list_images().await.unwrap().images));
    assert_no_changes(&path);
    cleanup.run(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_that_may_not_set_member_status_is_told_who_may() {
    let (admin, member) = (sandbox::admin().await, sandbox::member().await);
    let admin_project = admin.project_id().unwrap();
    let one = OneVersion::serve("share-refused", 83).await;
    let cleanup = &one.cleanup;
    // Demo (a plain member) owns the image and asks for `accepted` on the admin project's
    // behalf: Glance's default policy lets only the member project or an admin do that.
    let entry = format!("      - project_id: {admin_project}\n        status: accepted\n");
    let (_dir, path) = catalog_of(&[&one.shared(&entry)]);
    let (code, out, err) = apply_cli(&path, &["--cloud", "member", "--output", "json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let report = json_of(&out);
    let (done, created) = entries(&report);
    assert_eq!(
        done.last(),
        Some(&("add_member".into(), "failed".into())),
        "{out}"
    );
    let failed = report["clouds"][0]["entries"][2]["outcome"]["error"]
        .as_str()
        .unwrap();
    assert!(
        failed.contains("forbidden") && failed.contains("only the member project (or an admin)"),
        "{failed}"
    );
    // The member was added all the same (pending); the next plan asks only for the accept.
    let id = created.unwrap();
    cleanup.track(&id);
    let members = member.members(&id).await.unwrap();
    assert_eq!(members[0].status, MemberStatus::Pending, "{members:?}");
    let (code, out, err) = plan_cli(&path, &["--cloud", "member", "--output", "json"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let kinds: Vec<Value> = steps(&json_of(&out))
        .iter()
        .map(|s| s["action"]["type"].clone())
        .collect();
    assert_eq!(kinds, ["accept_member"], "{out}");
    cleanup.run(&admin).await;
}

#[test]
fn a_project_that_does_not_resolve_is_a_plan_error_for_its_definition_only() {
    let (broken, fine) = (unique_name("share-nosuch"), unique_name("share-fine"));
    let nosuch = format!("      - project: {broken}-project\n        domain: Default\n");
    let defs = [
        shared(&broken, vec![Ver::fake(&broken, "1.0")], &nosuch),
        shared(
            &fine,
            vec![Ver::fake(&fine, "1.0")],
            "      - project: demo\n        domain: default\n",
        ),
    ];
    let (_dir, path) = catalog_of(&[&defs[0], &defs[1]]);
    let (code, out, err) = plan_cli(&path, &["--cloud", "admin", "--output", "json"], &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    let plan = json_of(&out);
    let errors = plan["plans"][0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{out}");
    assert_eq!(errors[0]["identity"]["definition"], broken.as_str());
    let message = errors[0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "cannot share the image: Keystone has no project {broken}-project (domain Default)"
        )
    );
    // The broken definition keeps only its upload; the other one (its domain given by id) is
    // planned in full.
    let planned: Vec<(String, String)> = steps(&plan)
        .iter()
        .map(|s| {
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            (
                text(&s["identity"]["definition"]),
                text(&s["action"]["type"]),
            )
        })
        .collect();
    let row = |d: &str, k: &str| (d.to_owned(), k.to_owned());
    assert_eq!(
        planned,
        [
            row(&broken, "create"),
            row(&fine, "create"),
            row(&fine, "publish"),
            row(&fine, "add_member")
        ],
        "{out}"
    );
    // The text plan says it on one line.
    let (code, text, _) = plan_cli(&path, &["--cloud", "admin"], &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains(&format!("x \"{broken}\" version 1.0: {message}")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_read_once_per_shared_image_not_per_member() {
    let admin = sandbox::admin().await;
    let name = unique_name("share-reads");
    let cleanup = Cleanup::claiming(&name);
    let upstream = Upstream::start().await;
    let versions = [("1.0", 90), ("2.0", 91)].map(|(v, seed)| {
        let served = serve(&upstream, &format!("/reads/{v}"), raw_disk(32 * 1024, seed));
        Ver::inline(v, &served, "sha256")
    });
    // Two shared images with two members each; one project by name, one by id.
    let list = format!("{DEMO_ACCEPTED}      - project_id: {name}-partner\n");
    let def = shared(&name, Vec::from(versions), &list);
    let (_dir, path) = catalog_of(&[&def]);
    let (code, out, err) = apply_cli(&path, &["--cloud", "admin", "--output", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (done, _) = entries(&json_of(&out));
    assert_eq!(
        done.iter()
            .filter(|(a, o)| a == "add_member" && o == "done")
            .count(),
        4
    );
    let (code, _, err) = plan_cli(&path, &["--cloud", "admin", "--detailed-exitcode"], &[]);
    assert_eq!(code, 0, "{err}");
    // "N images observed in L Glance API calls", then "members of 2 shared images read, 1
    // project names looked up in Keystone (T Glance API calls in all)": T - L = 2.
    let number_before = |marker: &str| -> u64 {
        let at = err
            .find(marker)
            .unwrap_or_else(|| panic!("no `{marker}` in:\n{err}"));
        let head = err[..at].trim_end();
        let digits = head.rsplit(|c: char| !c.is_ascii_digit()).next().unwrap();
        digits.parse().unwrap()
    };
    let listing = number_before(" Glance API calls\n");
    let total = number_before(" Glance API calls in all)");
    assert!(
        err.contains("members of 2 shared images read, 1 project names looked up"),
        "{err}"
    );
    assert_eq!(total - listing, 2, "{err}");
    cleanup.run(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_calls_whose_answer_was_lost_are_repeated_safely() {
    let proxy = FaultProxy::start(glance_url().await, Faults::default());
    let cloud = ProxiedCloud::register(proxy.url()).await;
    let options = cloud.options("admin");
    let client = GlanceClient::connect(&options).await.unwrap();
    let direct = sandbox::admin().await;
    let cleanup = Cleanup::new();
    let mut image = NewImage::new(&unique_name("share-lost"), "raw");
    image.visibility = Visibility::Shared;
    let id = direct.create_image(&image).await.unwrap().id;
    cleanup.track(&id);
    // Glance takes no project id check: any id is a member.
    let project = unique_name("partner");
    // The next request reaches Glance, which acts; its answer never reaches the client.
    let lose_next_answer = || {
        let next = u32::try_from(proxy.requests()).unwrap() + 1;
        proxy.set_faults(Faults {
            skip_first: next - 1,
            drop_every: Some(next),
            ..Faults::default()
        });
    };

    lose_next_answer();
    client
        .add_member(&id, &project)
        .await
        .expect("the repeat's 409 means added");
    lose_next_answer();
    let accepted = MemberStatus::Accepted;
    client
        .set_member_status(&id, &project, &accepted)
        .await
        .unwrap();
    let members = direct.members(&id).await.unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(
        (members[0].project_id.as_str(), &members[0].status),
        (project.as_str(), &accepted)
    );
    lose_next_answer();
    client
        .remove_member(&id, &project)
        .await
        .expect("the repeat's 404 means gone");
    assert!(direct.members(&id).await.unwrap().is_empty());

    // Each call went twice: the lost one, and its repeat Glance answered 409, 200, 404.
    let log = proxy.log();
    let member_calls: Vec<String> = log
        .iter()
        .filter(|e| e.path.contains("/members"))
        .map(|e| format!("{} {:?}", e.method, e.outcome))
        .collect();
    assert_eq!(
        member_calls,
        [
            "POST Dropped(200)",
            "POST Forwarded(409)",
            "PUT Dropped(200)",
            "PUT Forwarded(200)",
            "DELETE Dropped(204)",
            "DELETE Forwarded(404)",
        ],
        "{}",
        proxy.log_text()
    );
    assert_eq!(client.retrying().retries(), 3);
    cleanup.run(&direct).await;
}
