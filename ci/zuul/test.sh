#!/usr/bin/env bash
# Tests the Zuul jobs of this repository (zuul.d/, ci/zuul/playbooks/) without a Zuul, for real:
#
#   1. ansible-lint on the playbooks and the role (config: ci/zuul/.ansible-lint);
#   2. Zuul's own parser (the `zuul` package) loads zuul.d/ and the operators' example
#      ci/zuul/examples/image-manager.yaml; a clouds.yaml is encrypted as `zuul-client encrypt`
#      does, parsed as a secret and decrypted by Zuul's code into the job's variables;
#   3. the jobs run as Zuul runs them (pre-run, run, post-run: one ansible-playbook each, with
#      the `zuul` variables, the secret and zuul_output_dir of a build) on localhost against the
#      sandbox's real Keystone + Glance and a local upstream (python3 -m http.server):
#      validate (clean, then a catalog error), plan, apply with one upstream answering 404 (the
#      build fails, the other images are applied), apply once the upstream is fixed (passes);
#      the artifacts, the data returned with zuul_return (a test-only stand-in, merged and
#      checked with Zuul's own code) and Glance are asserted, and no secret of the clouds.yaml
#      may appear in any output.
#
# usage: ci/zuul/test.sh     (ci/test.sh runs it after the cargo tests, while the sandbox is up;
#                             alone: ci/sandbox.sh up first)
# Environment:
#   IMAGE_MANAGER_BIN  the binary the jobs get as image_manager_binary (default
#                      debug/image-manager under $CARGO_TARGET_DIR, else target/; built when missing). The
#                      validate job builds from source instead (cargo, dev profile: a no-op
#                      when target/debug is current).
#   PYTHON             interpreter for the venvs (default python3; >= 3.11)
#   ZUUL_TEST_KEEP=1   keep .zuul-test/run/ (job logs, artifacts, returned data) afterwards
# Venvs (pinned by ci/zuul/test/constraints-*.txt) live in .zuul-test/ and are reused.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
HERE="$ROOT/ci/zuul"
TESTS="$HERE/test"
WORK="$ROOT/.zuul-test"
RUN="$WORK/run"
AVENV="$WORK/ansible"
ZVENV="$WORK/zuul"
t_start=$(date +%s)
tag=""
# shellcheck source=ci/lib.sh
. "$ROOT/ci/lib.sh"

say() { printf 'zuul-test: %s\n' "$*" >&2; }
die() {
  say "FAIL: $*"
  exit 1
}
phase() { say "== $* ($(($(date +%s) - t_start)) s)"; }

cleanup() {
  local rc=$?
  upstream_stop
  if [[ -n $tag ]]; then
    "$ZVENV/bin/python" "$TESTS/glance.py" purge "$tag" "${tag}_foreign" >&2 || say "could not delete the images of tag $tag"
  fi
  # the decrypted secret and the clouds.yaml copies never outlive the run
  rm -f "$RUN/secret-vars.json" "$RUN/home/.image-manager/clouds.yaml"
  if [[ ${ZUUL_TEST_KEEP:-0} != 1 ]]; then
    rm -rf "$RUN"
  else
    say "kept $RUN"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ venvs ----

ensure_python() {
  PY=${PYTHON:-python3}
  command -v "$PY" >/dev/null 2>&1 || die "no $PY: install Python >= 3.11 or set PYTHON"
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
    die "$PY is $("$PY" -V 2>&1); zuul 14 and ansible-core 2.18 need Python >= 3.11 (set PYTHON)"
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
      say "installing python3-venv with apt-get"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || die "$PY cannot create venvs: apt-get install python3-venv"
  fi
}

# ensure_venv DIR CONSTRAINTS REQUIREMENT...: a venv with exactly these pins, reused when unchanged
ensure_venv() {
  local dir=$1 constraints=$2 want log
  shift 2
  want=$({ cat "$constraints"; printf '%s\n' "$@"; "$PY" -V 2>&1; } | sha256sum | cut -d' ' -f1)
  [[ -f $dir/.installed && $(<"$dir/.installed") == "$want" ]] && return 0
  log="$WORK/install-$(basename "$dir").log"
  rm -rf "$dir"
  if ! { "$PY" -m venv "$dir" >"$log" 2>&1 &&
    "$dir/bin/python" -m pip install -q -c "$constraints" "$@" >>"$log" 2>&1; }; then
    tail -20 "$log" >&2
    return 1
  fi
  echo "$want" >"$dir/.installed"
}

phase "venvs: ansible-core + ansible-lint, zuul (pinned; log: .zuul-test/install-*.log)"
mkdir -p "$WORK"
ensure_python
ensure_venv "$AVENV" "$TESTS/constraints-ansible.txt" ansible-core ansible-lint &
apid=$!
ensure_venv "$ZVENV" "$TESTS/constraints-zuul.txt" zuul &
zpid=$!
arc=0 zrc=0
wait "$apid" || arc=$?
wait "$zpid" || zrc=$?
((arc == 0)) || die "installing ansible-core and ansible-lint failed"
((zrc == 0)) || die "installing zuul failed"
say "$("$AVENV/bin/python" -c 'import importlib.metadata as m; print(", ".join(p + " " + m.version(p) for p in ("ansible-core", "ansible-lint")))'), $("$ZVENV/bin/python" -c 'import importlib.metadata as m; print("zuul", m.version("zuul"))')"

rm -rf "$RUN"
mkdir -p "$RUN"/{logs,returned,tmp,home/src/example.org/ops/image-catalog/images.d,home/src/example.org/example,upstream,zuul-output,executor}
: >"$RUN/passed"
: >"$RUN/tmp/ansible.cfg" # no ansible.cfg of the machine or the user
export CHECK_COUNT_FILE="$RUN/passed"

# ------------------------------------------------------------ static checks ----

phase "ansible-lint (ci/zuul/.ansible-lint)"
lint_rc=0
(cd "$HERE" && PATH="$AVENV/bin:$PATH" XDG_CACHE_HOME="$WORK/cache" ANSIBLE_HOME="$WORK/ansible-home" \
  "$AVENV/bin/ansible-lint" --nocolor) >"$RUN/logs/ansible-lint.log" 2>&1 || lint_rc=$?
grep -E 'Passed|Failed' "$RUN/logs/ansible-lint.log" | sed 's/^/  /' >&2 || true
((lint_rc == 0)) || {
  cat "$RUN/logs/ansible-lint.log" >&2
  die "ansible-lint failed"
}
echo 1 >>"$RUN/passed"

phase "Zuul's parser: zuul.d/ and ci/zuul/examples/image-manager.yaml"
"$ZVENV/bin/python" "$TESTS/zuul_check.py" config "$ROOT" "$ROOT"/zuul.d/*.yaml "$HERE/examples/image-manager.yaml" ||
  die "Zuul's parser rejects the Zuul configuration"
echo 1 >>"$RUN/passed"

phase "README: the operators' example is ci/zuul/examples/image-manager.yaml, verbatim"
"$ZVENV/bin/python" - "$ROOT/README.md" "$HERE/examples/image-manager.yaml" <<'EOF' || die "README's example differs"
import re, sys
readme, example = (open(p, encoding="utf-8").read() for p in sys.argv[1:])
blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
if example not in blocks:
    sys.exit("README.md has no ```yaml block equal to ci/zuul/examples/image-manager.yaml")
EOF
echo 1 >>"$RUN/passed"

# ----------------------------------------------------------------- sandbox ----

if [[ -z ${OS_CLIENT_CONFIG_FILE:-} || -z ${SANDBOX_GLANCE_URL:-} ]]; then
  eval "$("$ROOT/ci/sandbox.sh" env)"
fi
[[ -s $OS_CLIENT_CONFIG_FILE ]] || die "no sandbox clouds.yaml at $OS_CLIENT_CONFIG_FILE: run ci/sandbox.sh up"
for url in "$SANDBOX_KEYSTONE_URL/v3" "$SANDBOX_GLANCE_URL/healthcheck"; do
  curl -fs -m 10 -o /dev/null "$url" || die "the sandbox does not answer at $url: run ci/sandbox.sh up"
done

phase "the secret: the sandbox clouds.yaml, encrypted, parsed and decrypted by Zuul's code"
"$ZVENV/bin/python" "$TESTS/zuul_check.py" secret "$OS_CLIENT_CONFIG_FILE" "$RUN" ||
  die "the secret did not survive Zuul's encryption, parser and decryption"
echo 1 >>"$RUN/passed"

# ---------------------------------------------------------------- binary ----

bin=${IMAGE_MANAGER_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/image-manager}
if [[ ! -x $bin ]]; then
  phase "cargo build (no $bin yet)"
  (cd "$ROOT" && cargo build --quiet --locked --bin image-manager)
fi
[[ -x $bin ]] || die "no image-manager binary at $bin"

# ----------------------------------------------------------- upstream, catalog ----

phase "upstream: python3 -m http.server on 127.0.0.1 (a free port), catalog of 3 images"
run_id=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
tag="zuul_test_$run_id"
alpha="ZuulTest $run_id Alpha"
beta="ZuulTest $run_id Beta"
broken="ZuulTest $run_id Broken"
make_raw() { # a raw disk: zeroed first 4 KiB (no signature for Glance's inspector), then 1 MiB random
  { head -c 4096 /dev/zero; head -c 1048576 /dev/urandom; } >"$1"
}
make_raw "$RUN/upstream/alpha-1.0.raw"
make_raw "$RUN/upstream/beta-2.0.raw"
make_raw "$RUN/broken-3.0.raw" # served only from the second apply on: 404 until then
sha() { sha256sum "$1" | cut -d' ' -f1; }
upstream_start "$RUN/upstream" "$RUN/logs/upstream.log" || die "the upstream server did not start"
base=$UPSTREAM
curl -fs -m 5 -o /dev/null "$base/alpha-1.0.raw" || die "the upstream does not serve $base/alpha-1.0.raw"

catalog_dir="$RUN/home/src/example.org/ops/image-catalog"
definition() { # NAME VERSION FILE CHECKSUM [os_version]
  cat <<EOF
  - name: $1
    format: raw
    login: root
    min_disk: 1
    min_ram: 64
    visibility: private
    multi: false
    meta:
      architecture: x86_64
      hypervisor_type: qemu
      hw_disk_bus: virtio
      os_distro: cirros
      os_purpose: minimal
      replace_frequency: never
      uuid_validity: none
      provided_until: none
    versions:
      - version: '$2'
        url: $base/$3
        checksum: sha256:$4
EOF
}
{
  echo "images:"
  definition "$alpha" 1.0 alpha-1.0.raw "$(sha "$RUN/upstream/alpha-1.0.raw")"
  echo "        build_date: 2026-01-01"
  definition "$beta" 2.0 beta-2.0.raw "$(sha "$RUN/upstream/beta-2.0.raw")"
  definition "$broken" 3.0 broken-3.0.raw "$(sha "$RUN/broken-3.0.raw")"
  echo "        build_date: 2026-01-01"
} >"$catalog_dir/images.d/catalog.yaml"
# image-manager as a required project of the build: its checkout on the "node" is this tree
ln -s "$ROOT" "$RUN/home/src/example.org/example/image-manager"

# ------------------------------------------------------------------ jobs ----

# vars FILE JOB PIPELINE [NAME=JSON...]: the variables of one build
vars() {
  local out=$1
  shift
  "$ZVENV/bin/python" "$TESTS/zuul_vars.py" "$out" "$RUN" "$AVENV/bin/python" "$@"
}

# playbook LOG PLAYBOOK VARS [ansible-playbook args]: one playbook as Zuul's executor runs it
playbook() {
  local log=$1 pb=$2 vars=$3
  shift 3
  # a node has no OS_CLOUD / OS_CLIENT_CONFIG_FILE: the jobs must use their own clouds.yaml
  (cd "$RUN/tmp" && env -u OS_CLOUD -u OS_CLIENT_CONFIG_FILE ANSIBLE_LIBRARY="$TESTS/library" ANSIBLE_HOME="$RUN/tmp/ansible-home" \
    ANSIBLE_LOCAL_TEMP="$RUN/tmp/ansible-local" ANSIBLE_REMOTE_TEMP="$RUN/tmp/ansible-remote" \
    ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_CONFIG="$RUN/tmp/ansible.cfg" \
    ZUUL_RETURN_LOG="$RUN/returned/$(basename "$log" .log).jsonl" \
    "$AVENV/bin/ansible-playbook" -i localhost, -c local -e "@$vars" "$@" "$HERE/playbooks/$pb") \
    >>"$RUN/logs/$log" 2>&1
}

# job NAME RUN_PLAYBOOK VARS [ansible-playbook args]: pre-run, run (if pre-run passed), post-run
# (always); JOB_RC = the build's result (0 = SUCCESS). The pre-run (which writes clouds.yaml)
# runs at -vvv.
job() {
  local name=$1 pb=$2 vars=$3 t0 rc=0
  shift 3
  t0=$(date +%s)
  : >"$RUN/logs/$name.log"
  playbook "$name.log" pre.yaml "$vars" -vvv "$@" || rc=$?
  cp "$RUN/logs/$name.log" "$RUN/logs/$name-pre.log"
  if [[ -n ${AFTER_PRE:-} ]]; then "$AFTER_PRE"; fi
  if ((rc == 0)); then playbook "$name.log" "$pb" "$vars" -v "$@" || rc=$?; fi
  playbook "$name.log" post.yaml "$vars" -v "$@" || die "$name: post-run failed (see $RUN/logs/$name.log)"
  JOB_RC=$rc
  say "$name: build $( ((rc == 0)) && echo SUCCESS || echo FAILURE) in $(($(date +%s) - t0)) s"
}

# returned NAME: the zuul_return calls of job NAME, merged and checked with Zuul's code
returned() {
  cat "$RUN/returned/$1.jsonl" >"$RUN/returned/$1.all" 2>/dev/null || : >"$RUN/returned/$1.all"
  "$ZVENV/bin/python" "$TESTS/zuul_check.py" returned "$RUN/returned/$1.all" "$RUN/returned/$1.json" ||
    die "$1: the returned data fails Zuul's schemas"
}

check() { "$ZVENV/bin/python" "$TESTS/check_run.py" "$@" || die "check $1 failed (logs: ZUUL_TEST_KEEP=1)"; }
show_on_failure() { say "job output:"; tail -60 "$RUN/logs/$1.log" >&2; }

# the secret as the executor hands it to the playbooks: a variable (here from Zuul's decryption)
secret=(-e "@$RUN/secret-vars.json")
home_out="$RUN/home/zuul-output/logs/image-manager"
given_out="$RUN/zuul-output/logs/image-manager"

phase "job image-manager-validate (built from source: cargo, dev profile; no secret)"
vars "$RUN/validate.json" image-manager-validate check \
  'image_manager_cargo_profile="dev"'
job validate validate.yaml "$RUN/validate.json"
((JOB_RC == 0)) || {
  show_on_failure validate
  die "validate: the build failed"
}
returned validate
check validate artifacts="$home_out" returned="$RUN/returned/validate.json" log="$RUN/logs/validate.log"

phase "job image-manager-validate on a catalog error (os_version: 24.10 unquoted)"
cp "$catalog_dir/images.d/catalog.yaml" "$RUN/catalog.good"
bad_line=$(($(grep -n 'os_distro: cirros' "$catalog_dir/images.d/catalog.yaml" | head -1 | cut -d: -f1) + 1))
sed -i "${bad_line}i\\      os_version: 24.10" "$catalog_dir/images.d/catalog.yaml"
vars "$RUN/validate-error.json" image-manager-validate check "image_manager_binary=\"$bin\""
job validate-error validate.yaml "$RUN/validate-error.json"
((JOB_RC != 0)) || die "validate-error: the build passed on a catalog error"
returned validate-error
check validate-error returned="$RUN/returned/validate-error.json" log="$RUN/logs/validate-error.log" line="$bad_line"
cp "$RUN/catalog.good" "$catalog_dir/images.d/catalog.yaml"

clouds_mode() { stat -c %a "$RUN/home/.image-manager/clouds.yaml" >"$RUN/clouds-mode"; }

job_vars=(
  "image_manager_binary=\"$bin\""
  'image_manager_clouds=["admin"]'
  "image_manager_tag=\"$tag\""
  "zuul_output_dir=\"$RUN/zuul-output\""
)

phase "job image-manager-plan (prebuilt binary, the secret, zuul_output_dir, cloud admin)"
vars "$RUN/plan.json" image-manager-plan check "${job_vars[@]}" 'image_manager_method="upload"'
AFTER_PRE=clouds_mode job plan plan.yaml "$RUN/plan.json" "${secret[@]}"
((JOB_RC == 0)) || {
  show_on_failure plan
  die "plan: the build failed"
}
[[ $(cat "$RUN/clouds-mode") == 600 ]] || die "clouds.yaml had mode $(cat "$RUN/clouds-mode") during the job, not 600"
[[ ! -e $RUN/home/.image-manager/clouds.yaml ]] || die "clouds.yaml is still on the node after post-run"
say "ok: clouds.yaml was 0600 during the job and is gone after post-run"
echo 1 >>"$RUN/passed"
returned plan
check plan artifacts="$given_out" returned="$RUN/returned/plan.json" log="$RUN/logs/plan.log" tag="$tag" \
  names="$alpha,$beta,$broken"

phase "job image-manager-apply, one upstream answering 404, a foreign image with a managed name (periodic)"
rm -rf "$given_out"
# not tagged $tag: the plan leaves it alone and warns (unmanaged_name_clash)
"$ZVENV/bin/python" "$TESTS/glance.py" foreign "$beta 2.0" "${tag}_foreign" >/dev/null
vars "$RUN/apply.json" image-manager-apply periodic "${job_vars[@]}" 'image_manager_parallel=2' \
  'image_manager_prune="delete"'
job apply-broken apply.yaml "$RUN/apply.json" "${secret[@]}"
((JOB_RC != 0)) || die "apply-broken: the build passed although an image failed"
returned apply-broken
"$ZVENV/bin/python" "$TESTS/glance.py" list "$tag" >"$RUN/glance-1.jsonl"
check apply-broken artifacts="$given_out" returned="$RUN/returned/apply-broken.json" \
  log="$RUN/logs/apply-broken.log" glance="$RUN/glance-1.jsonl" broken="$broken" good="$alpha,$beta"

phase "job image-manager-apply, upstream fixed (post)"
mv "$RUN/broken-3.0.raw" "$RUN/upstream/"
rm -rf "$given_out"
vars "$RUN/apply2.json" image-manager-apply post "${job_vars[@]}"
job apply-fixed apply.yaml "$RUN/apply2.json" "${secret[@]}"
((JOB_RC == 0)) || {
  show_on_failure apply-fixed
  die "apply-fixed: the build failed"
}
returned apply-fixed
"$ZVENV/bin/python" "$TESTS/glance.py" list "$tag" >"$RUN/glance-2.jsonl"
check apply-fixed artifacts="$given_out" returned="$RUN/returned/apply-fixed.json" \
  glance="$RUN/glance-2.jsonl" broken="$broken" good="$alpha,$beta"

phase "no secret in any output"
check no-secrets clouds="$OS_CLIENT_CONFIG_FILE" secret_vars="$RUN/secret-vars.json" base="$RUN" \
  dirs="$RUN/logs,$RUN/returned,$RUN/zuul-output,$RUN/home/zuul-output" pre_log="$RUN/logs/plan-pre.log"

phase "cleanup: the test's images leave Glance"
"$ZVENV/bin/python" "$TESTS/glance.py" purge "$tag" "${tag}_foreign" >&2
left=$("$ZVENV/bin/python" "$TESTS/glance.py" list "$tag"; "$ZVENV/bin/python" "$TESTS/glance.py" list "${tag}_foreign")
[[ -z $left ]] || die "images of tag $tag are left in Glance: $left"
tag=""
echo 1 >>"$RUN/passed"

passed=$(awk '{s += $1} END {print s + 0}' "$RUN/passed")
say "done in $(($(date +%s) - t_start)) s"
echo "zuul-test: $passed passed, 0 failed"
