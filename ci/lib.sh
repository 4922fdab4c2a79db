# shellcheck shell=bash
# Shared by ci/test.sh, ci/demo.sh and ci/bench.sh (source it; needs ROOT = the repository root):
# who owns the sandbox, and the local upstream HTTP server.
#
# Sandbox ownership: a script stops at exit only a sandbox it started itself. "Running" is decided
# by the sandbox's processes, not its readiness (`status` also fails for a running sandbox that is
# slow to answer on a loaded machine), and the PIDs it had when this script started it must still
# be its PIDs at the end (someone may have restarted it meanwhile).

SANDBOX_OURS="" # PIDs of the sandbox this script started; empty: not ours, never stopped

sandbox_pids() {
  cat "$ROOT/.sandbox/run/keystone.pid" "$ROOT/.sandbox/run/glance.pid" "$ROOT/.sandbox/s3/run/weed.pid" \
    2>/dev/null | tr '\n' ' ' || true
}

sandbox_running() {
  "$ROOT/ci/sandbox.sh" status 2>/dev/null | grep -q ': running, pid'
}

# sandbox_claim UP_OUTPUT: after a `ci/sandbox.sh up` this script ran because none was running,
# takes ownership unless that `up` found another one started meanwhile.
sandbox_claim() {
  if grep -q 'already running' <<<"$1"; then
    echo "sandbox was started by someone else meanwhile; it stays up afterwards" >&2
  else
    SANDBOX_OURS=$(sandbox_pids)
  fi
}

# sandbox_up: starts the sandbox (or waits until a running one is ready); owns it if it started it.
sandbox_up() {
  local out
  if sandbox_running; then
    echo "sandbox already running; it stays up afterwards" >&2
    "$ROOT/ci/sandbox.sh" up >&2
    return
  fi
  out=$("$ROOT/ci/sandbox.sh" up 2>&1) || {
    printf '%s\n' "$out" >&2
    return 1
  }
  printf '%s\n' "$out" >&2
  sandbox_claim "$out"
}

# sandbox_release: stops the sandbox if this script owns it and it is still the same one.
sandbox_release() {
  if [[ -n $SANDBOX_OURS && $(sandbox_pids) == "$SANDBOX_OURS" ]]; then
    "$ROOT/ci/sandbox.sh" down >/dev/null 2>&1 || "$ROOT/ci/sandbox.sh" down || true
  fi
  SANDBOX_OURS=""
}

UPSTREAM="" UPSTREAM_PID=""

# upstream_start DIR LOG [PORT]: serves DIR on 127.0.0.1:PORT (default 0: a free port) with
# python3's http.server; sets UPSTREAM (the base URL) and UPSTREAM_PID. Fails when it does not answer.
upstream_start() {
  local dir=$1 log=$2 port=${3:-0} found=""
  : >"$log"
  (cd "$dir" && exec python3 -u -m http.server "$port" --bind 127.0.0.1) >>"$log" 2>&1 &
  UPSTREAM_PID=$!
  for _ in $(seq 100); do
    found=$(sed -n 's/^Serving HTTP on [0-9.]* port \([0-9]*\).*/\1/p' "$log" | head -n1)
    [[ -n $found ]] && break
    kill -0 "$UPSTREAM_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $found ]]; then
    tail -n 15 "$log" >&2
    echo "the upstream http.server did not start (port $port)" >&2
    return 1
  fi
  UPSTREAM="http://127.0.0.1:$found"
  curl -fsS -m 5 -o /dev/null "$UPSTREAM/"
}

# upstream_stop: stops the server upstream_start started (only if that PID is still our server).
upstream_stop() {
  [[ -n $UPSTREAM_PID ]] || return 0
  if [[ -r /proc/$UPSTREAM_PID/cmdline ]] && tr '\0' ' ' <"/proc/$UPSTREAM_PID/cmdline" | grep -q 'http.server'; then
    kill "$UPSTREAM_PID" 2>/dev/null || true
    wait "$UPSTREAM_PID" 2>/dev/null || true
  fi
  UPSTREAM_PID=""
}
