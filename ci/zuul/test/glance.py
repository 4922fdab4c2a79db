"""What the Zuul job tests left in the sandbox's Glance (stdlib + PyYAML).

usage:
  glance.py list TAG           print the images tagged TAG as JSON lines {id, name, status,
                               image_name, internal_version}
  glance.py foreign NAME TAG   create an image NAME (private, no data) tagged TAG only: not
                               managed by image-manager under any other tag
  glance.py purge TAG...       delete the images tagged TAG (each) and the apply-lock
                               placeholders of the first TAG

Credentials: cloud `admin` of $OS_CLIENT_CONFIG_FILE (ci/sandbox.sh env); Glance at
$SANDBOX_GLANCE_URL. Nothing of the credentials is printed.
"""

import json
import os
import sys
import urllib.request

import yaml


def token():
    with open(os.environ["OS_CLIENT_CONFIG_FILE"], encoding="utf-8") as f:
        auth = yaml.safe_load(f)["clouds"]["admin"]["auth"]
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": auth["username"],
                        "password": auth["password"],
                        "domain": {"name": auth.get("user_domain_name", "Default")},
                    }
                },
            },
            "scope": {
                "project": {
                    "name": auth["project_name"],
                    "domain": {"name": auth.get("project_domain_name", "Default")},
                }
            },
        }
    }
    request = urllib.request.Request(
        auth["auth_url"].rstrip("/") + "/auth/tokens",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.headers["X-Subject-Token"]


def call(tok, method, path, body=None):
    url = os.environ["SANDBOX_GLANCE_URL"].rstrip("/") + path
    headers = {"X-Auth-Token": tok, "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, method=method, headers=headers, data=data)
    with urllib.request.urlopen(request, timeout=60) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def images(tok, query):
    found, path = [], "/v2/images?limit=200&" + query
    while path:
        page = call(tok, "GET", path)
        found.extend(page["images"])
        path = page.get("next")
    return found


def tagged(tok, tag):
    # hidden and visible images (os_hidden filters one or the other)
    return [
        image
        for hidden in ("false", "true")
        for image in images(tok, f"tag={tag}&os_hidden={hidden}")
    ]


def main(argv):
    command = argv[0] if argv else ""
    if not ((command == "list" and len(argv) == 2) or (command == "foreign" and len(argv) == 3)
            or (command == "purge" and len(argv) >= 2)):
        print(__doc__, file=sys.stderr)
        return 64
    tok = token()
    if command == "list":
        for image in tagged(tok, argv[1]):
            print(json.dumps({key: image.get(key) for key in
                              ("id", "name", "status", "image_name", "internal_version")}))
        return 0
    if command == "foreign":
        image = call(tok, "POST", "/v2/images", {
            "name": argv[1], "disk_format": "raw", "container_format": "bare",
            "visibility": "private", "tags": [argv[2]]})
        print(image["id"])
        return 0
    tags = argv[1:]
    doomed = [image for tag in tags for image in tagged(tok, tag)] + [
        image for image in tagged(tok, "image_manager_lock")
        if image.get("image_manager_lock_scope") == tags[0]
    ]
    for image in doomed:
        call(tok, "DELETE", f"/v2/images/{image['id']}")
    print(f"glance.py: deleted {len(doomed)} image(s) tagged {', '.join(tags)} (with lock placeholders)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
