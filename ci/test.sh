#!/usr/bin/env bash
# The project's one test command: starts the OpenStack sandbox (ci/sandbox.sh), runs every test
# against it, and stops the sandbox again at exit if this script started it.
#
# usage: ci/test.sh [ARGS...]     ARGS go to the test runner:
#   cargo nextest run --all-targets --no-fail-fast ARGS   (if cargo-nextest is installed)
#   cargo test --all-targets --no-fail-fast ARGS          (otherwise)
# The tests see OS_CLIENT_CONFIG_FILE, OS_CLOUD=admin, SANDBOX_KEYSTONE_URL, SANDBOX_GLANCE_URL,
# SANDBOX_DIR and the S3 server's SANDBOX_S3_ENDPOINT, SANDBOX_S3_BUCKET, AWS_* (see ci/sandbox.sh
# env). Without ARGS, ci/zuul/test.sh (the Zuul jobs against the
# same sandbox) runs afterwards. Exit status: the test runner's, else ci/zuul/test.sh's.
#
# While the sandbox boots (Python, mostly waiting on downloads the first time), the test
# binaries are compiled; set SANDBOX_SERIAL=1 to do one after the other instead.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SANDBOX="$ROOT/ci/sandbox.sh"

if cargo nextest --version >/dev/null 2>&1; then
  runner=(cargo nextest run --all-targets --no-fail-fast)
  build=(cargo nextest run --all-targets --no-run)
else
  runner=(cargo test --all-targets --no-fail-fast)
  build=(cargo test --all-targets --no-run)
fi

# Leave a sandbox that was already running as it is; stop one that this script started (ci/lib.sh).
# shellcheck source=ci/lib.sh
. "$ROOT/ci/lib.sh"
if sandbox_running; then
  echo "test.sh: sandbox already running; it stays up afterwards" >&2
  was_running=1
else
  was_running=0
fi
up_pid=""
up_log=""
cleanup() {
  local rc=$?
  if [[ -n $up_pid ]]; then
    kill "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
  fi
  [[ -n $up_log ]] && rm -f "$up_log"
  sandbox_release # quiet: the test runner's summary stays the last thing printed
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ((was_running == 0)) && [[ ${SANDBOX_SERIAL:-0} != 1 ]]; then
  up_log=$(mktemp)
  "$SANDBOX" up >"$up_log" 2>&1 &
  up_pid=$!
  echo "test.sh: sandbox starting in the background; compiling tests meanwhile" >&2
  build_rc=0
  "${build[@]}" "$@" || build_rc=$?
  up_rc=0
  wait "$up_pid" || up_rc=$?
  up_pid=""
  cat "$up_log" >&2
  if ((up_rc != 0)); then
    echo "test.sh: ci/sandbox.sh up failed (exit $up_rc)" >&2
    "$SANDBOX" down >/dev/null 2>&1 || true # what a half-done start left
    exit "$up_rc"
  fi
  sandbox_claim "$(cat "$up_log")"
  if ((build_rc != 0)); then
    # only an early build: the runner below builds again and reports the error itself
    echo "test.sh: early build of the tests failed (exit $build_rc); running the test runner anyway" >&2
  fi
elif ((was_running == 0)); then
  sandbox_up
else
  "$SANDBOX" up
fi

eval "$("$SANDBOX" env)"

rc=0
"${runner[@]}" "$@" || rc=$?

# The Zuul jobs (ci/zuul/test.sh: ansible-lint, Zuul's parser, the playbooks against this
# sandbox), in a full run only: ARGS select cargo tests. ZUUL_TEST=0 skips it.
if (($# == 0)) && [[ ${ZUUL_TEST:-1} != 0 ]]; then
  t0=$(date +%s)
  zrc=0
  "$ROOT/ci/zuul/test.sh" || zrc=$?
  echo "test.sh: ci/zuul/test.sh exited $zrc after $(($(date +%s) - t0)) s" >&2
  ((rc != 0)) || rc=$zrc
fi
exit "$rc"
