"""Assertions on one job run of ci/zuul/test.sh: artifacts, data returned to Zuul, Glance.

usage: check_run.py CHECK KEY=VALUE...

Checks (the keys each one reads are in its function):
  validate        the catalog validated with warnings only: artifacts, summary, review comments
  validate-error  a catalog error: failed build, an error comment on the offending line
  plan            plan of 3 new images on cloud admin: plan.txt, plan.json, summary, artifacts
  apply-broken    one upstream answers 404: build failed, 2 of 3 images applied, report, summary
  apply-fixed     the upstream fixed: build passed, the third image applied, nothing failed
  no-secrets      no password or application-credential secret of the clouds.yaml in any
                  output (job logs, artifacts, returned data)

Prints one "ok: ..." line per assertion; exit 1 at the first one that does not hold.
"""

import json
import os
import sys

import yaml

PASSED = 0


def ok(condition, what, detail=""):
    global PASSED
    if not condition:
        print(f"FAIL: {what}" + (f"\n  {detail}" if detail else ""), file=sys.stderr)
        sys.exit(1)
    PASSED += 1
    print(f"ok: {what}")


def read(path):
    ok(os.path.isfile(path), f"{os.path.basename(path)} exists", path)
    with open(path, encoding="utf-8") as f:
        return f.read()


def returned(args):
    with open(args["returned"], encoding="utf-8") as f:
        return json.load(f)


def artifact_urls(data):
    return {a["name"]: a["url"] for a in data.get("zuul", {}).get("artifacts", [])}


def check_artifacts(data, names, art_dir):
    urls = artifact_urls(data)
    resolved = {a["url"] for a in data["_resolved_artifacts"]}
    log_url = data["zuul"]["log_url"]
    for name in names:
        url = "image-manager/" + name
        ok(url in urls.values(), f"artifact {url} returned to Zuul", urls)
        ok(log_url + url in resolved, f"Zuul resolves it to {log_url}{url}", resolved)
        ok(os.path.isfile(os.path.join(art_dir, name)), f"{name} is in {art_dir}")


def log_text(args, key="log"):
    with open(args[key], encoding="utf-8", errors="replace") as f:
        return f.read()


def check_validate(args):
    art = args["artifacts"]
    report = json.loads(read(os.path.join(art, "validate.json")))
    text = read(os.path.join(art, "validate.txt"))
    ok(report["errors"] == 0 and report["definitions"] == 3,
       "validate.json: 3 definitions, 0 errors", report)
    ok(report["warnings"] >= 1, "validate.json: the catalog's warnings", report["warnings"])
    ok("images.d/catalog.yaml:" in text and "warning" in text,
       "validate.txt: FILE:LINE:COL: warning lines", text[:400])
    data = returned(args)
    summary = data["image_manager"]["validate"]
    ok(summary["errors"] == 0 and summary["definitions"] == 3 and summary["warnings"] >= 1,
       "returned image_manager.validate summary", summary)
    check_artifacts(data, ["validate.txt", "validate.json"], art)
    comments = data["zuul"].get("file_comments", {})
    ok(list(comments) == ["images.d/catalog.yaml"],
       "review comments on images.d/catalog.yaml (path relative to the project)", list(comments))
    first = comments["images.d/catalog.yaml"][0]
    ok(first["level"] == "warning" and isinstance(first["line"], int) and first["line"] > 0,
       "review comment: level warning, a line number", first)
    first_line = text.splitlines()[0]
    ok(json.dumps(first_line)[1:-1] in log_text(args), "the diagnostics are in the job output", first_line)


def check_validate_error(args):
    data = returned(args)
    summary = data["image_manager"]["validate"]
    ok(summary["errors"] >= 1, "returned image_manager.validate counts the error", summary)
    comments = data["zuul"]["file_comments"]["images.d/catalog.yaml"]
    errors = [c for c in comments if c["level"] == "error"]
    line = int(args["line"])
    ok(any(c["line"] == line and "quote it" in c["message"] for c in errors),
       f"an error comment on line {line} with the tool's hint", errors)
    ok("image-manager validate found" in log_text(args), "the job output says why it failed")


def check_plan(args):
    art, tag = args["artifacts"], args["tag"]
    names = args["names"].split(",")
    raw = read(os.path.join(art, "plan.json"))
    plan = json.loads(raw)
    ok(raw.startswith('{\n  "format_version"'),
       "plan.json is the tool's output byte for byte (Ansible did not re-serialise it)", raw[:40])
    text = read(os.path.join(art, "plan.txt"))
    read(os.path.join(art, "plan.log"))
    p = plan["plans"][0]
    ok(plan["format_version"] == "1" and len(plan["plans"]) == 1, "plan.json: one plan", plan.keys())
    ok(p["cloud"] == "admin" and p["managed_tag"] == tag, f"plan.json: cloud admin, tag {tag}",
       (p["cloud"], p["managed_tag"]))
    ok(p["changes"] and p["summary"]["create"] == 3 and p["summary"]["errors"] == 0,
       "plan.json: 3 images to create, no error", p["summary"])
    ok('cloud "admin"' in text and all(n in text for n in names),
       "plan.txt: the text plan names the cloud and every image", text[:300])
    data = returned(args)
    ret = data["image_manager"]["plan"]
    ok(ret["changes"] is True and ret["clouds"][0]["summary"]["create"] == 3
       and ret["clouds"][0]["cloud"] == "admin", "returned image_manager.plan summary", ret)
    check_artifacts(data, ["plan.txt", "plan.json", "plan.log"], art)
    meta = [a.get("metadata") for a in data["zuul"]["artifacts"] if a["url"].endswith("plan.json")]
    ok(meta == [{"type": "image_manager_plan", "format_version": "1"}],
       "plan.json artifact metadata", meta)
    ok(all(n in log_text(args) for n in names), "the plan is in the job output")


def glance_images(args):
    with open(args["glance"], encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def entries(report, definition):
    return [e for e in report["clouds"][0]["entries"]
            if e.get("identity") and e["identity"]["definition"] == definition]


def check_apply_broken(args):
    art, broken = args["artifacts"], args["broken"]
    good = args["good"].split(",")
    report = json.loads(read(os.path.join(art, "apply.json")))
    summary = read(os.path.join(art, "apply-summary.txt"))
    read(os.path.join(art, "apply.log"))
    statuses = {e["action"]: e["outcome"]["status"] for e in entries(report, broken)}
    ok(statuses.get("create") == "failed", f"apply.json: the create of {broken} failed", statuses)
    error = [e for e in entries(report, broken) if e["action"] == "create"][0]["outcome"]["error"]
    ok("404" in error, "apply.json: the failure names the upstream's 404", error)
    for name in good:
        done = {e["action"]: e["outcome"]["status"] for e in entries(report, name)}
        ok(done.get("create") == "done" and done.get("publish") == "done",
           f"apply.json: {name} still created and published", done)
    ok("FAILED" in summary and broken in summary and "404" in summary,
       "apply-summary.txt: failed, with the image and the reason", summary[:600])
    ok('Cloud "admin": 4 done, 1 failed' in summary, "apply-summary.txt: counts per cloud",
       summary[:600])
    data = returned(args)
    ret = data["image_manager"]["apply"]
    ok(ret["exit_code"] == 1 and ret["clouds"][0]["failed"] == 1 and ret["clouds"][0]["done"] == 4,
       "returned image_manager.apply: exit 1, 4 done, 1 failed", ret["clouds"])
    ok(ret["failed"][0]["identity"]["definition"] == broken, "returned: the failed step",
       ret["failed"])
    warnings = data["zuul"].get("warnings", [])
    ok(any("step failed" in w and "404" in w for w in warnings),
       "returned zuul.warnings: the failed step", warnings)
    check_artifacts(data, ["apply.json", "apply-summary.txt", "apply.log"], art)
    log = log_text(args)
    ok("image-manager apply exited 1: 1 step(s) failed" in log, "the job output says why it failed")
    ok(json.dumps('Cloud "admin": 4 done, 1 failed')[1:-1] in log, "the summary is in the job output")
    clash = [w for w in warnings if "unmanaged_name_clash" in w and f"{good[1]} 2.0" in w]
    ok(clash, "returned zuul.warnings: the plan's warning about the foreign image", warnings)
    ok(json.dumps(clash[0])[1:-1] in log and clash[0] in summary,
       "the warning is in the job output and in apply-summary.txt", clash[0])
    images = glance_images(args)
    active = {i["image_name"] for i in images if i["status"] == "active"}
    ok(set(good) <= active, "Glance: the other images are active", images)
    ok(broken not in {i["image_name"] for i in images}, f"Glance: no image of {broken}", images)


def check_apply_fixed(args):
    art, broken = args["artifacts"], args["broken"]
    report = json.loads(read(os.path.join(art, "apply.json")))
    statuses = [e["outcome"]["status"] for e in report["clouds"][0]["entries"]]
    ok(statuses and set(statuses) == {"done"}, "apply.json: every step done", statuses)
    done = {e["action"] for e in entries(report, broken)}
    ok(done == {"create", "publish"}, f"apply.json: {broken} created and published", done)
    data = returned(args)
    ret = data["image_manager"]["apply"]
    ok(ret["exit_code"] == 0 and ret["failed"] == [], "returned: exit 0, nothing failed", ret)
    ok("succeeded (exit 0)" in read(os.path.join(art, "apply-summary.txt")),
       "apply-summary.txt: succeeded")
    images = glance_images(args)
    active = {i["image_name"] for i in images if i["status"] == "active"}
    names = set(args["good"].split(",")) | {broken}
    ok(names <= active and len(images) == 3, "Glance: all 3 images active, nothing else", images)


def secrets_of(clouds_yaml):
    with open(clouds_yaml, encoding="utf-8") as f:
        clouds = yaml.safe_load(f)["clouds"]
    found = []
    for cloud in clouds.values():
        for key, value in cloud.get("auth", {}).items():
            if key in ("password", "application_credential_secret") and value:
                found.append(str(value))
    return found


def check_no_secrets(args):
    secrets = secrets_of(args["clouds"])
    ok(len(secrets) >= 3, "the sandbox clouds.yaml has the admin and demo passwords and an "
       "application-credential secret", len(secrets))
    with open(args["secret_vars"], encoding="utf-8") as f:
        given = f.read()
    ok(all(s in given for s in secrets),
       "control: the variables the job got hold the secrets (so a leak would be found)")
    scanned = 0
    for top in args["dirs"].split(","):
        for dirpath, _, files in os.walk(top):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                scanned += 1
                leaked = [i for i, s in enumerate(secrets)
                          if s in text or json.dumps(s)[1:-1] in text]
                ok(not leaked, f"no secret in {os.path.relpath(path, args['base'])}", leaked)
    ok(scanned >= 10, f"{scanned} files of job output, artifacts and returned data scanned")
    hidden = log_text(args, "pre_log")
    ok("the output has been hidden due to the fact that 'no_log: true'" in hidden,
       "the tasks that touch the secret ran with no_log (seen at -vvv)")


CHECKS = {
    "validate": check_validate,
    "validate-error": check_validate_error,
    "plan": check_plan,
    "apply-broken": check_apply_broken,
    "apply-fixed": check_apply_fixed,
    "no-secrets": check_no_secrets,
}


def main(argv):
    if not argv or argv[0] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 64
    args = dict(a.split("=", 1) for a in argv[1:])
    CHECKS[argv[0]](args)
    with open(os.environ.get("CHECK_COUNT_FILE", os.devnull), "a", encoding="utf-8") as f:
        f.write(f"{PASSED}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
