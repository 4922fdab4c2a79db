#!/usr/bin/env bash
# End-to-end check of a running sandbox (ci/sandbox.sh up): every cloud of clouds.yaml
# authenticates, and Glance does PUT-file upload, glance-direct (stage + import), web-download
# from a local http.server, 16 parallel creates without "database is locked", list, delete.
# Leaves no images and no processes behind. Usage: ci/sandbox/smoke.sh   (exit 0 = all good)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
eval "$("$ROOT/ci/sandbox.sh" env)"
OSC="$SANDBOX_DIR/venv/bin/openstack"
PY="$SANDBOX_DIR/venv/bin/python"
export PYTHONWARNINGS=ignore
G="$SANDBOX_GLANCE_URL/v2"
WORK=$(mktemp -d)
HTTP_PID=""
CREATED=()
FAILS=0
PASSES=0

cleanup() {
  local id
  if [[ -n $HTTP_PID ]]; then kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; fi
  for id in "${CREATED[@]}"; do
    curl -s -o /dev/null -m 10 -X DELETE -H "X-Auth-Token: $ADMIN_TOKEN" "$G/images/$id" || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

ok() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }

token() { "$OSC" --os-cloud "$1" token issue -f value -c id; }

# api TOKEN METHOD PATH [curl args...] -> body in $WORK/body, status printed
api() {
  local tok=$1 method=$2 path=$3
  shift 3
  curl -s -m 120 -o "$WORK/body" -w '%{http_code}' -X "$method" -H "X-Auth-Token: $tok" \
    -H 'Accept: application/json' "$@" "$G$path"
}

jget() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], ""))' "$WORK/body" "$1"; }

create_image() { # TOKEN NAME -> id
  local code
  code=$(api "$1" POST /images -H 'Content-Type: application/json' \
    --data "{\"name\": \"$2\", \"disk_format\": \"raw\", \"container_format\": \"bare\", \"visibility\": \"private\"}")
  [[ $code == 201 ]] || { echo "create $2 -> $code: $(cat "$WORK/body")" >&2; return 1; }
  jget id
}

wait_active() { # TOKEN ID
  local i status
  for ((i = 0; i < 150; i++)); do
    api "$1" GET "/images/$2" >/dev/null
    status=$(jget status)
    [[ $status == active ]] && return 0
    sleep 0.2
  done
  echo "image $2 still '$status'" >&2
  return 1
}

check_checksum() { # TOKEN ID FILE
  api "$1" GET "/images/$2" >/dev/null
  [[ $(jget checksum) == $(md5sum <"$3" | cut -d' ' -f1) ]]
}

head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$WORK/disk.raw"

# 1. every cloud authenticates and can list images
for cloud in admin member appcred; do
  if t=$(token "$cloud" 2>"$WORK/err") && [[ $(api "$t" GET /images) == 200 ]]; then
    ok "cloud $cloud: token + image list"
  else
    fail "cloud $cloud: $(tail -3 "$WORK/err")"
  fi
done
ADMIN_TOKEN=$(token admin)
MEMBER_TOKEN=$(token member)
APPCRED_TOKEN=$(token appcred)
"$OSC" --os-cloud admin image list -f value -c ID >/dev/null && ok "openstack CLI image list (admin)"

# 2. PUT /file, chunked
id=$(create_image "$MEMBER_TOKEN" smoke-put) && CREATED+=("$id")
code=$(api "$MEMBER_TOKEN" PUT "/images/$id/file" -H 'Content-Type: application/octet-stream' \
  -H 'Transfer-Encoding: chunked' --data-binary @- <"$WORK/disk.raw")
if [[ $code == 204 ]] && wait_active "$MEMBER_TOKEN" "$id" && check_checksum "$MEMBER_TOKEN" "$id" "$WORK/disk.raw"; then
  ok "PUT file (chunked) -> active, md5 matches"
else
  fail "PUT file -> $code $(cat "$WORK/body")"
fi

# 3. glance-direct: stage + import
id=$(create_image "$APPCRED_TOKEN" smoke-glance-direct) && CREATED+=("$id")
code=$(api "$APPCRED_TOKEN" PUT "/images/$id/stage" -H 'Content-Type: application/octet-stream' \
  -H 'Transfer-Encoding: chunked' --data-binary @- <"$WORK/disk.raw")
code2=$(api "$APPCRED_TOKEN" POST "/images/$id/import" -H 'Content-Type: application/json' \
  --data '{"method": {"name": "glance-direct"}}')
if [[ $code == 204 && $code2 == 202 ]] && wait_active "$APPCRED_TOKEN" "$id" &&
  check_checksum "$APPCRED_TOKEN" "$id" "$WORK/disk.raw"; then
  ok "glance-direct stage ($code) + import ($code2) -> active, md5 matches"
else
  fail "glance-direct stage $code import $code2 $(cat "$WORK/body")"
fi

# 4. web-download from a local http.server (127.0.0.1 literally; any port is allowed)
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$WORK" && exec "$PY" -m http.server --bind 127.0.0.1 "$port" >"$WORK/http.log" 2>&1) &
HTTP_PID=$!
for ((i = 0; i < 50; i++)); do curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/" && break; sleep 0.1; done
id=$(create_image "$MEMBER_TOKEN" smoke-web-download) && CREATED+=("$id")
code=$(api "$MEMBER_TOKEN" POST "/images/$id/import" -H 'Content-Type: application/json' \
  --data "{\"method\": {\"name\": \"web-download\", \"uri\": \"http://127.0.0.1:$port/disk.raw\"}}")
if [[ $code == 202 ]] && wait_active "$MEMBER_TOKEN" "$id" && check_checksum "$MEMBER_TOKEN" "$id" "$WORK/disk.raw"; then
  ok "web-download import ($code) -> active, md5 matches"
else
  fail "web-download import -> $code $(cat "$WORK/body")"
fi

# 5. 16 parallel creates: no HTTP 500 ("database is locked")
locked_before=$(grep -c 'database is locked' "$SANDBOX_DIR/log/glance.log" || true)
seq 1 16 | xargs -P 16 -I{} curl -s -m 60 -o /dev/null -w '%{http_code}\n' -X POST \
  -H "X-Auth-Token: $MEMBER_TOKEN" -H 'Content-Type: application/json' \
  --data '{"name": "smoke-parallel-{}", "disk_format": "raw", "container_format": "bare"}' \
  "$G/images" >"$WORK/codes"
locked_after=$(grep -c 'database is locked' "$SANDBOX_DIR/log/glance.log" || true)
api "$MEMBER_TOKEN" GET "/images?limit=100" >/dev/null
mapfile -t par < <("$PY" -c 'import json,sys; [print(i["id"]) for i in json.load(open(sys.argv[1]))["images"] if i["name"].startswith("smoke-parallel-")]' "$WORK/body")
CREATED+=("${par[@]}")
if [[ $(grep -c '^201$' "$WORK/codes") == 16 && ${#par[@]} == 16 && $locked_before == "$locked_after" ]]; then
  ok "16 parallel creates: 16 x 201, listed, no 'database is locked'"
else
  fail "parallel creates: $(sort "$WORK/codes" | uniq -c | tr '\n' ' ') listed ${#par[@]}, locked $locked_before -> $locked_after"
fi

# 6. delete everything created here
codes=""
for id in "${CREATED[@]}"; do codes+="$(api "$ADMIN_TOKEN" DELETE "/images/$id") "; done
CREATED=()
if [[ $codes =~ ^(204 )+$ ]]; then ok "delete: all 204"; else fail "delete: $codes"; fi
left=$(api "$ADMIN_TOKEN" GET "/images?limit=100" >/dev/null; "$PY" -c 'import json,sys; print(sum(i["name"].startswith("smoke-") for i in json.load(open(sys.argv[1]))["images"]))' "$WORK/body")
if [[ $left == 0 ]]; then ok "no smoke- images left"; else fail "$left smoke- images left"; fi

echo "$PASSES passed, $FAILS failed"
((FAILS == 0))
