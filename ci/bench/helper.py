"""Small helpers for ci/bench.sh (run with the sandbox venv's Python, which has PyYAML).

  helper.py auth CLOUD HEADER_FILE
      Password-authenticates CLOUD of $OS_CLIENT_CONFIG_FILE against Keystone, writes the token as
      one header line ("X-Auth-Token: ...", for `curl -H @HEADER_FILE`) to HEADER_FILE (mode 600),
      and prints "GLANCE_URL PROJECT_ID" on stdout. Never prints the token or the password.

  helper.py sweep HEADER_FILE GLANCE_URL PROJECT_ID PREFIX
      Deletes every image owned by PROJECT_ID whose name starts with PREFIX (hidden ones included);
      prints how many it deleted.

  helper.py report REPORT_JSON
      Reads an `image-manager apply --output json` report and prints one line:
      "DONE TOTAL BYTES API_CALLS" (API_CALLS "-" when the report has none). Exit 1 when an entry
      did not end "done" (its errors go to stderr).

  helper.py phases REPORT_JSON...
      Where the creates of apply reports spent their time: per phase (create, stage, import
      wait, verify, publish) the seconds summed over the images and per image, and the status
      reads per image; the median over the reports.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 60


def die(msg):
    print(f"bench helper: {msg}", file=sys.stderr)
    sys.exit(1)


def auth(cloud_name, header_file):
    import yaml

    path = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if not path:
        die("OS_CLIENT_CONFIG_FILE is not set")
    with open(path) as f:
        clouds = yaml.safe_load(f).get("clouds", {})
    cloud = clouds.get(cloud_name) or die(f"no cloud {cloud_name!r} in {path}")
    a = cloud.get("auth", {})
    if cloud.get("auth_type", "password") != "password":
        die(f"cloud {cloud_name!r} does not use password auth")
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": a["username"],
                        "domain": {"name": a.get("user_domain_name", "Default")},
                        "password": a["password"],
                    }
                },
            },
            "scope": {
                "project": {
                    "name": a["project_name"],
                    "domain": {"name": a.get("project_domain_name", "Default")},
                }
            },
        }
    }
    url = a["auth_url"].rstrip("/")
    if not url.endswith("/v3"):
        url += "/v3"
    req = urllib.request.Request(
        url + "/auth/tokens",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            token = resp.headers["X-Subject-Token"]
            doc = json.load(resp)["token"]
    except urllib.error.HTTPError as e:
        die(f"Keystone refused the credentials of cloud {cloud_name!r}: HTTP {e.code}")
    interface = cloud.get("interface", "public")
    region = cloud.get("region_name")
    glance = None
    for svc in doc.get("catalog", []):
        if svc.get("type") != "image":
            continue
        for ep in svc.get("endpoints", []):
            if ep.get("interface") == interface and (not region or ep.get("region_id", ep.get("region")) == region):
                glance = ep["url"]
    if not glance:
        die(f"no {interface} image endpoint in the service catalog")
    glance = glance.rstrip("/")
    for suffix in ("/v2", "/v2.0"):
        if glance.endswith(suffix):
            glance = glance[: -len(suffix)]
    fd = os.open(header_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"X-Auth-Token: {token}\n")
    print(glance, doc["project"]["id"])


def read_token(header_file):
    with open(header_file) as f:
        return f.read().split(":", 1)[1].strip()


def glance_request(token, url, method="GET"):
    req = urllib.request.Request(url, headers={"X-Auth-Token": token}, method=method)
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        data = resp.read()
    return json.loads(data) if data else None


def sweep(header_file, glance, project, prefix):
    token = read_token(header_file)
    found = {}
    for hidden in ("false", "true"):
        query = urllib.parse.urlencode({"owner": project, "limit": 1000, "os_hidden": hidden})
        url = f"{glance}/v2/images?{query}"
        while url:
            page = glance_request(token, url)
            for img in page.get("images", []):
                if img.get("owner") == project and (img.get("name") or "").startswith(prefix):
                    found[img["id"]] = img.get("name")
            nxt = page.get("next")
            url = f"{glance}{nxt}" if nxt else None
    deleted = 0
    for image_id, name in sorted(found.items()):
        try:
            if glance_request(token, f"{glance}/v2/images/{image_id}", method="GET").get("protected"):
                print(f"bench helper: {name} ({image_id}) is protected; left alone", file=sys.stderr)
                continue
            glance_request(token, f"{glance}/v2/images/{image_id}", method="DELETE")
            deleted += 1
        except urllib.error.HTTPError as e:
            if e.code != 404:
                print(f"bench helper: could not delete {name} ({image_id}): HTTP {e.code}", file=sys.stderr)
    print(deleted)


def count_calls(value):
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("total"), int):
            return value["total"]
        return sum(count_calls(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_calls(v) for v in value)
    return 0


def report(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        die(f"cannot read the apply report {path}: {e}")
    done = total = nbytes = 0
    calls = None
    bad = []
    for cloud in doc.get("clouds", []):
        if "api_calls" in cloud:
            calls = (calls or 0) + count_calls(cloud["api_calls"])
        for entry in cloud.get("entries", []):
            total += 1
            outcome = entry.get("outcome") or {}
            if outcome.get("status") == "done":
                done += 1
            else:
                bad.append(f"{entry.get('name')}: {json.dumps(outcome)}")
            nbytes += (entry.get("transfer") or {}).get("bytes") or 0
    print(done, total, nbytes, "-" if calls is None else calls)
    for line in bad[:10]:
        print(f"  not done: {line}", file=sys.stderr)
    sys.exit(1 if bad or total == 0 else 0)


def median(values):
    values = sorted(values)
    n = len(values)
    if n == 0:
        return 0.0
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def phases(paths):
    rows = [
        ("create", "create", "POST /v2/images"),
        ("transfer", "stage", "download + verify + PUT /stage, in one pass"),
        ("import", "import wait", "import request until seen active"),
        ("poll_slack", "  of it: polls", "active but not yet seen (upper bound)"),
        ("verify", "verify", "Glance's os_hash_value compared with ours"),
        ("publish", "publish", "one PATCH: final name, visibility, marker off"),
    ]
    runs = []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        sums = {key: 0.0 for key, _, _ in rows}
        images = polls = calls = 0
        for cloud in doc.get("clouds", []):
            calls += count_calls(cloud.get("api_calls", 0))
            for entry in cloud.get("entries", []):
                if entry.get("action") == "publish":
                    sums["publish"] += entry.get("duration", 0) / 1000
                timings = (entry.get("transfer") or {}).get("timings")
                if entry.get("action") != "create" or not timings:
                    continue
                images += 1
                polls += timings.get("polls", 0)
                for key in ("create", "transfer", "import", "poll_slack", "verify"):
                    sums[key] += timings.get(key, 0) / 1000
        runs.append((sums, images, polls, calls))
    if not runs or not any(images for _, images, _, _ in runs):
        print("(no timings in the reports: a build before they were recorded)")
        return
    print(f"{'phase':<15} {'s (sum)':>8} {'s/image':>8}  what")
    for key, label, what in rows:
        total = median([sums[key] for sums, _, _, _ in runs])
        each = median([sums[key] / max(images, 1) for sums, images, _, _ in runs])
        print(f"{label:<15} {total:8.2f} {each:8.3f}  {what}")
    per_image = median([polls / max(images, 1) for _, images, polls, _ in runs])
    calls = median([calls / max(images, 1) for _, images, _, calls in runs])
    print(f"status reads seen per image: {per_image:.2f}; Glance calls per image, all included: {calls:.2f}")


def main():
    args = sys.argv[1:]
    if args[:1] == ["auth"] and len(args) == 3:
        auth(*args[1:])
    elif args[:1] == ["sweep"] and len(args) == 5:
        sweep(*args[1:])
    elif args[:1] == ["report"] and len(args) == 2:
        report(args[1])
    elif args[:1] == ["phases"] and len(args) >= 2:
        phases(args[1:])
    else:
        die(__doc__)


if __name__ == "__main__":
    main()
