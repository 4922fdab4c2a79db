"""Idempotent Keystone provisioning for the sandbox; writes clouds.yaml.

Run by ci/sandbox.sh after Keystone answers. Standard library only (runs with
any Python >= 3.8). Never prints a secret: passwords and the application
credential secret only go to files under the state directory.

Environment:
  SANDBOX_DIR            absolute path of the state directory (.sandbox)
  SANDBOX_KEYSTONE_URL   e.g. http://127.0.0.1:5000
  SANDBOX_GLANCE_URL     e.g. http://127.0.0.1:9292

Creates (or repairs) in RegionOne:
  identity endpoints   -> $SANDBOX_KEYSTONE_URL/v3 (only updated if the port changed)
  service image/glance -> public/internal/admin endpoints at $SANDBOX_GLANCE_URL
  project service, user glance (roles admin, service)
  project demo, user demo (role member)
  application credential "sandbox-demo" of demo, made with demo's own token
Then checks that every cloud of clouds.yaml can get a token.
"""

import json
import os
import sys
import urllib.error
import urllib.request

REGION = "RegionOne"
DOMAIN = "default"
APPCRED_NAME = "sandbox-demo"

SB = os.environ["SANDBOX_DIR"]
KS = os.environ["SANDBOX_KEYSTONE_URL"].rstrip("/")
GL = os.environ["SANDBOX_GLANCE_URL"].rstrip("/")
AUTH_URL = KS + "/v3"
SECRETS = os.path.join(SB, "secrets")


class HTTPError(Exception):
    def __init__(self, method, path, status, body):
        # The body of a Keystone error never holds a secret we sent.
        super().__init__("%s %s -> HTTP %s: %s" % (method, path, status, body[:300]))
        self.status = status


def call(method, path, token=None, body=None, ok=(200, 201, 204)):
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["X-Auth-Token"] = token
    req = urllib.request.Request(AUTH_URL + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            status = resp.status
            hdrs = resp.headers
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
        hdrs = e.headers
    if status not in ok:
        raise HTTPError(method, path, status, raw.decode(errors="replace"))
    return status, hdrs, (json.loads(raw) if raw.strip() else {})


def token_password(user, password, project):
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": DOMAIN}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": DOMAIN}}},
    }}
    _, hdrs, _ = call("POST", "/auth/tokens", body=body, ok=(201,))
    return hdrs["X-Subject-Token"]


def try_token(body):
    try:
        _, hdrs, data = call("POST", "/auth/tokens", body=body, ok=(201,))
        return hdrs["X-Subject-Token"], data
    except HTTPError as e:
        if e.status in (401, 404):
            return None, None
        raise


def appcred_auth_body(cred_id, secret):
    return {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred_id, "secret": secret}}}}


def read_secret(name):
    with open(os.path.join(SECRETS, name)) as f:
        return f.read().strip()


def write_private(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def find_one(token, collection, **query):
    qs = "&".join("%s=%s" % (k, urllib.request.quote(v)) for k, v in query.items())
    _, _, data = call("GET", "/%s?%s" % (collection, qs), token=token)
    items = data[collection]
    return items[0] if items else None


def ensure_project(token, name, description):
    p = find_one(token, "projects", name=name, domain_id=DOMAIN)
    if p:
        return p["id"]
    _, _, data = call("POST", "/projects", token=token, ok=(201,), body={"project": {
        "name": name, "domain_id": DOMAIN, "description": description, "enabled": True}})
    print("created project %s" % name)
    return data["project"]["id"]


def ensure_user(token, name, password, project_id):
    u = find_one(token, "users", name=name, domain_id=DOMAIN)
    if not u:
        _, _, data = call("POST", "/users", token=token, ok=(201,), body={"user": {
            "name": name, "domain_id": DOMAIN, "password": password,
            "default_project_id": project_id, "enabled": True}})
        print("created user %s" % name)
        return data["user"]["id"]
    uid = u["id"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": uid, "password": password}}}}}
    tok, _ = try_token(body)
    if tok is None:
        call("PATCH", "/users/%s" % uid, token=token,
             body={"user": {"password": password, "enabled": True}})
        print("reset password of user %s" % name)
    return uid


def ensure_roles(token, project_id, user_id, role_ids):
    for rid in role_ids:
        call("PUT", "/projects/%s/users/%s/roles/%s" % (project_id, user_id, rid), token=token)


def ensure_endpoints(token, service_id, url):
    _, _, data = call("GET", "/endpoints?service_id=%s" % service_id, token=token)
    have = {}
    for ep in data["endpoints"]:
        if ep.get("region_id") != REGION:
            # other regions belong to tests (tests/it/proxy: a fault proxy per region)
            continue
        if ep["interface"] in have:
            # duplicates: remove, the sandbox wants exactly three in RegionOne
            call("DELETE", "/endpoints/%s" % ep["id"], token=token)
            continue
        have[ep["interface"]] = ep
    for iface in ("public", "internal", "admin"):
        ep = have.get(iface)
        if ep is None:
            call("POST", "/endpoints", token=token, ok=(201,), body={"endpoint": {
                "service_id": service_id, "interface": iface, "url": url,
                "region_id": REGION, "enabled": True}})
        elif ep["url"] != url or not ep.get("enabled", True):
            call("PATCH", "/endpoints/%s" % ep["id"], token=token,
                 body={"endpoint": {"url": url, "enabled": True}})


def ensure_service(token, stype, name, description):
    s = find_one(token, "services", type=stype)
    if s:
        return s["id"]
    _, _, data = call("POST", "/services", token=token, ok=(201,), body={"service": {
        "type": stype, "name": name, "description": description, "enabled": True}})
    print("created service %s" % stype)
    return data["service"]["id"]


def ensure_appcred(demo_pw, demo_uid):
    id_file = os.path.join(SECRETS, "appcred_id")
    secret_file = os.path.join(SECRETS, "appcred_secret")
    if os.path.exists(id_file) and os.path.exists(secret_file):
        cid, secret = read_secret("appcred_id"), read_secret("appcred_secret")
        tok, _ = try_token(appcred_auth_body(cid, secret))
        if tok:
            return cid, secret
    # An application credential can only be made with the user's own token
    # (a token from an app credential cannot make another one: 403).
    demo_tok = token_password("demo", demo_pw, "demo")
    _, _, data = call("GET", "/users/%s/application_credentials?name=%s" % (demo_uid, APPCRED_NAME),
                      token=demo_tok)
    for old in data.get("application_credentials", []):
        call("DELETE", "/users/%s/application_credentials/%s" % (demo_uid, old["id"]), token=demo_tok)
    _, _, data = call("POST", "/users/%s/application_credentials" % demo_uid, token=demo_tok, ok=(201,),
                      body={"application_credential": {
                          "name": APPCRED_NAME,
                          "description": "image-manager sandbox (ci/sandbox.sh)"}})
    ac = data["application_credential"]
    write_private(secret_file, ac["secret"] + "\n")
    write_private(id_file, ac["id"] + "\n")
    print("created application credential %s for demo" % APPCRED_NAME)
    return ac["id"], ac["secret"]


def q(s):
    # JSON strings are valid YAML double-quoted scalars
    return json.dumps(s)


def clouds_yaml(admin_pw, demo_pw, cid, secret):
    common = ("    region_name: %s\n    interface: public\n    identity_api_version: 3\n"
              % q(REGION))
    return (
        "# Written by ci/sandbox.sh: the local Keystone + Glance sandbox. Holds secrets; do not commit.\n"
        "clouds:\n"
        "  admin:\n"
        "    auth:\n"
        "      auth_url: %(url)s\n"
        "      username: \"admin\"\n"
        "      password: %(admin_pw)s\n"
        "      project_name: \"admin\"\n"
        "      user_domain_name: \"Default\"\n"
        "      project_domain_name: \"Default\"\n"
        "%(common)s"
        "  member:\n"
        "    auth:\n"
        "      auth_url: %(url)s\n"
        "      username: \"demo\"\n"
        "      password: %(demo_pw)s\n"
        "      project_name: \"demo\"\n"
        "      user_domain_name: \"Default\"\n"
        "      project_domain_name: \"Default\"\n"
        "%(common)s"
        "  appcred:\n"
        "    auth_type: v3applicationcredential\n"
        "    auth:\n"
        "      auth_url: %(url)s\n"
        "      application_credential_id: %(cid)s\n"
        "      application_credential_secret: %(secret)s\n"
        "%(common)s"
    ) % {"url": q(AUTH_URL), "admin_pw": q(admin_pw), "demo_pw": q(demo_pw),
         "cid": q(cid), "secret": q(secret), "common": common}


def main():
    admin_pw = read_secret("admin.password")
    glance_pw = read_secret("glance.password")
    demo_pw = read_secret("demo.password")

    tok = token_password("admin", admin_pw, "admin")

    # identity endpoints follow the Keystone port
    ident = ensure_service(tok, "identity", "keystone", "Keystone Identity Service")
    ensure_endpoints(tok, ident, AUTH_URL)

    image = ensure_service(tok, "image", "glance", "Glance Image Service")
    ensure_endpoints(tok, image, GL)

    roles = {}
    for r in ("admin", "service", "member"):
        role = find_one(tok, "roles", name=r)
        if role is None:
            _, _, data = call("POST", "/roles", token=tok, ok=(201,), body={"role": {"name": r}})
            role = data["role"]
        roles[r] = role["id"]

    service_pid = ensure_project(tok, "service", "Service users")
    glance_uid = ensure_user(tok, "glance", glance_pw, service_pid)
    ensure_roles(tok, service_pid, glance_uid, [roles["admin"], roles["service"]])

    demo_pid = ensure_project(tok, "demo", "Unprivileged project for tests")
    demo_uid = ensure_user(tok, "demo", demo_pw, demo_pid)
    ensure_roles(tok, demo_pid, demo_uid, [roles["member"]])

    cid, secret = ensure_appcred(demo_pw, demo_uid)

    write_private(os.path.join(SB, "clouds.yaml"), clouds_yaml(admin_pw, demo_pw, cid, secret))

    # every cloud of clouds.yaml must authenticate and see the image endpoint
    for name, tkn in (("admin", token_password("admin", admin_pw, "admin")),
                      ("member", token_password("demo", demo_pw, "demo")),
                      ("appcred", try_token(appcred_auth_body(cid, secret))[0])):
        if not tkn:
            raise SystemExit("provision: cloud %s cannot authenticate" % name)
    _, _, data = call("GET", "/auth/catalog", token=tok)
    urls = [ep["url"] for svc in data["catalog"] if svc["type"] == "image" for ep in svc["endpoints"]
            if ep.get("region_id") == REGION]
    if sorted(urls) != [GL] * 3:
        raise SystemExit("provision: unexpected image endpoints %r" % urls)


if __name__ == "__main__":
    try:
        main()
    except HTTPError as e:
        print("provision: %s" % e, file=sys.stderr)
        sys.exit(1)
    except (urllib.error.URLError, OSError) as e:
        print("provision: %s" % e, file=sys.stderr)
        sys.exit(1)
