#!/usr/bin/env bash
# Benchmark of `image-manager apply` against the local Keystone + Glance sandbox (ci/sandbox.sh),
# with a local upstream (python3 -m http.server) serving random raw images. Prints figures; it is
# not a test (missed goals do not change the exit status; failed runs do).
#
#   ci/bench.sh [--size SIZE] [--repeat N] [--only CASE[,CASE...]] [--keep]
#
# Cases (all by default; --only is repeatable or comma-separated):
#   direct    one SIZE image upstream -> active with --method glance-direct, against the shell
#             baseline `curl upstream | curl -T - .../v2/images/ID/stage` + glance-direct import +
#             polling until active; ratio ours/baseline, goal <= 1.10
#   upload    the same with --method upload against `curl upstream | curl -T - .../v2/images/ID/file`
#   baseline  only the shell baselines (no image-manager, no build): the two above, the floor and
#             glance-direct's bound
#   rss       4 SIZE images with --parallel 4: wall time and peak RSS, goal <= 64 MiB
#   small     first import of 50 images of 1-8 MiB (default method, --parallel 4) against the
#             floor: a sequential shell loop doing the same 50 imports the shortest way (curl
#             create with all properties inline, web-download import, status polls every 0.1 s).
#             Prints the ratio (goal <= 0.80), Glance calls per image (goal <= 5), the CPU time
#             Glance spent, and where our run spent its time (create, stage, import wait,
#             verify, publish; polls); then ours against glance-direct's bound: SMALL_PARALLEL
#             shell loops making only the calls the default method needs (create hidden with
#             all properties, curl | curl -T - .../stage, import, polls every 0.1 s, one
#             publishing PATCH), nothing around them; then the same import with --method upload
#
# Options:
#   --size SIZE    image size, IEC suffixes (256M, 2G; default 2G); the rss case uses 4 of them
#   --repeat N     run every measurement N times (default 1) and report the median (RSS: the maximum);
#                  ours and the baseline alternate, so drift on a noisy machine hits both
#   --keep         keep .bench/ (random images, catalogs, reports, logs) for a later run or a look;
#                  a later run reuses kept random images of the same size
#
# Every figure is wall time. The baseline is timed from its image create to `active` (its Keystone
# token is fetched beforehand: the time is printed as a note); ours is the whole `image-manager
# apply` process (start, Keystone, listing, catalog, transfer with checksum verification, publish),
# under /usr/bin/time for the peak RSS. API calls: ours from the apply JSON report (`api_calls`),
# the baseline's counted (Glance requests, including its polls).
#
# It runs `cargo build --release` first (not for --only baseline); a build without `apply` measures
# only the baselines. The sandbox is started if it is not running, and stopped at the end only if
# this script started it. Every image the run creates is named bench-<timestamp>-... in the
# `member` cloud's project and is deleted after its measurement (and again at exit). Big files
# live in .bench/ (gitignored).
# Environment: BENCH_UPSTREAM_PORT (default: any free port), BENCH_BIN (measure this image-manager
# binary instead of building target/release/image-manager), the SANDBOX_* variables of ci/sandbox.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=ci/lib.sh
. ci/lib.sh

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; }

# ------------------------------------------------------------------ options ----

size_arg=2G
repeat=1
keep=false
only=()
while (($#)); do
  case $1 in
    --size) size_arg=${2:?--size needs a value}; shift 2 ;;
    --size=*) size_arg=${1#*=}; shift ;;
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --repeat=*) repeat=${1#*=}; shift ;;
    --only) IFS=, read -ra more <<<"${2:?--only needs a value}"; only+=("${more[@]}"); shift 2 ;;
    --only=*) IFS=, read -ra more <<<"${1#*=}"; only+=("${more[@]}"); shift ;;
    --keep) keep=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
size_num=${size_arg%iB}
size_num=${size_num%B}
SIZE=$(numfmt --from=iec "$size_num" 2>/dev/null) || die "--size '$size_arg' is not a size (e.g. 256M, 2G)"
((SIZE >= 1048576)) || die "--size must be at least 1M"
# human size: "2 GiB", "256 MiB", else numfmt's rounding
human() {
  if (($1 % 1073741824 == 0)); then echo "$(($1 / 1073741824)) GiB"
  elif (($1 % 1048576 == 0)); then echo "$(($1 / 1048576)) MiB"
  else numfmt --to=iec-i --suffix=B "$1"; fi
}
SIZE_H=$(human "$SIZE")
((${#only[@]})) || only=(direct upload rss small)
for c in "${only[@]}"; do
  case $c in direct | upload | baseline | rss | small) ;; *) die "unknown case '$c' (direct upload baseline rss small)" ;; esac
done
want() { [[ " ${only[*]} " == *" $1 "* ]]; }
want_base_direct=false want_base_upload=false need_ours=false
{ want baseline || want direct; } && want_base_direct=true
{ want baseline || want upload; } && want_base_upload=true
{ want direct || want upload || want rss || want small; } && need_ours=true

SMALL_COUNT=50
SMALL_PARALLEL=4
SMALL_RATIO_GOAL=0.80
SMALL_CALLS_GOAL=5
FLOOR_POLL=0.1
# small_size I: the I-th small image is 1..8 MiB, cycling
small_size() { echo $(((($1 - 1) % 8 + 1) * 1048576)); }
SMALL_BYTES=0
for ((i = 1; i <= SMALL_COUNT; i++)); do SMALL_BYTES=$((SMALL_BYTES + $(small_size "$i"))); done
RSS_COUNT=4
RSS_GOAL_MIB=64
RATIO_GOAL=1.10
POLL=0.2

for tool in curl python3 numfmt sha256sum awk; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool"
done
if $need_ours && [[ ! -x /usr/bin/time ]]; then
  die "needs GNU time at /usr/bin/time for the peak RSS (apt-get install time)"
fi

# ------------------------------------------------------------ state, cleanup ----

BENCH="$ROOT/.bench"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
PREFIX="bench-$STAMP-$$"
RUN="$BENCH/run-$STAMP-$$"
DATA="$BENCH/data"
mkdir -p "$RUN" "$DATA"
chmod 700 "$RUN"
HDR="$RUN/token.header" # X-Auth-Token for curl -H @file: never on a command line, never printed
PY="$ROOT/.sandbox/venv/bin/python"
HELPER="$ROOT/ci/bench/helper.py"
GLANCE="" PROJECT=""
created=() # data files this run generated (removed at exit unless --keep)
failures=0

cleanup() {
  local rc=$? n
  set +e
  trap - INT TERM
  upstream_stop
  if [[ -n $GLANCE ]] && auth 2>/dev/null; then
    n=$("$PY" "$HELPER" sweep "$HDR" "$GLANCE" "$PROJECT" "$PREFIX")
    [[ ${n:-0} != 0 ]] && say "deleted $n leftover image(s) named $PREFIX-*"
  fi
  rm -f "$HDR"
  if $keep; then
    say "kept (--keep): $RUN and $DATA"
  else
    rm -rf "$RUN"
    ((${#created[@]})) && rm -f "${created[@]}"
    rmdir "$DATA"/small "$DATA" "$BENCH" 2>/dev/null
  fi
  [[ -n $SANDBOX_OURS ]] && say "stopping the sandbox this run started"
  sandbox_release
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- helpers ----

# secs T0 T1: T1 - T0 in seconds, 2 decimals (EPOCHREALTIME values)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# median V...: the median (mean of the middle two for an even count)
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    if (NR % 2) printf "%.2f\n", v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
maximum() { printf '%s\n' "$@" | sort -g | tail -n1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# auth: a fresh member token in $HDR; sets GLANCE (image endpoint) and PROJECT
auth() {
  local out
  out=$("$PY" "$HELPER" auth member "$HDR") || return 1
  read -r GLANCE PROJECT <<<"$out"
}

# sweep PREFIX: delete the member's images named PREFIX*
sweep() {
  auth
  "$PY" "$HELPER" sweep "$HDR" "$GLANCE" "$PROJECT" "$1" >/dev/null
}

# random_file FILE BYTES: random data, reused when a kept file of that size exists; FILE.sha256
# holds its hex digest
random_file() {
  local f=$1 n=$2
  if [[ -f $f && -s $f.sha256 && $(stat -c %s "$f") == "$n" ]]; then
    return 0
  fi
  created+=("$f" "$f.sha256" "$f.tmp")
  head -c "$n" /dev/urandom >"$f.tmp"
  mv "$f.tmp" "$f"
  sha256sum "$f" | cut -d' ' -f1 >"$f.sha256"
}

# glance_cpu: CPU seconds the sandbox's Glance (gunicorn and its workers) has used so far: how much
# of a run's wall time Glance itself was busy, on a machine where it competes with us for 2 cores
glance_cpu() {
  local pid pids ticks=0 f
  pid=$(cat "$ROOT/.sandbox/run/glance.pid" 2>/dev/null) || { echo 0; return; }
  pids="$pid $(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')"
  for p in $pids; do
    f=/proc/$p/stat
    [[ -r $f ]] || continue
    ticks=$((ticks + $(awk '{ print $14 + $15 }' "$f")))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# glance_workers: how many worker processes the sandbox's Glance runs (SANDBOX_GLANCE_WORKERS)
glance_workers() {
  local pid
  pid=$(cat "$ROOT/.sandbox/run/glance.pid" 2>/dev/null) || { echo "?"; return; }
  pgrep -c -P "$pid" 2>/dev/null || echo "?"
}

# link SRC DST: DST serves SRC's bytes (hard link, else symbolic link)
link() { ln -f "$1" "$2" 2>/dev/null || ln -sf "$1" "$2"; }

show_tail() {
  say "last lines of $1:"
  tail -n "${2:-15}" "$1" | sed 's/^/    /' >&2
}

# ------------------------------------------------------------ build, sandbox ----

BIN=${BENCH_BIN:-$ROOT/target/release/image-manager}
has_apply=false
if $need_ours; then
  if [[ -z ${BENCH_BIN:-} ]]; then
    say "cargo build --release"
    cargo build --release
  fi
  if "$BIN" apply --help >/dev/null 2>&1; then
    has_apply=true
  else
    say "warning: this build of image-manager has no 'apply' command yet: only the baselines are measured"
  fi
fi

# Stops at exit only a sandbox this run started (ci/lib.sh).
sandbox_up || die "ci/sandbox.sh up failed"
eval "$(ci/sandbox.sh env)"
[[ -x $PY ]] || die "no sandbox venv Python at $PY"
t0=$EPOCHREALTIME
auth || die "cannot authenticate as the sandbox's member cloud"
token_secs=$(secs "$t0" "$EPOCHREALTIME")

avail=$(df -PB1 "$BENCH" | awk 'NR == 2 { print $4 }')
need=$((SIZE * 3))
want rss && need=$((SIZE * (2 * RSS_COUNT + 1)))
if ((avail < need)); then
  say "warning: $(human "$avail") free on the disk of .bench/ and .sandbox/; this run may need about $(human "$need")"
fi

# ----------------------------------------------------------- upstream data ----

UP="$RUN/upstream"
mkdir -p "$UP"
BIG="$DATA/random-$SIZE.raw"
if $want_base_direct || $want_base_upload || want rss; then
  say "random image: $SIZE_H ($BIG)"
  random_file "$BIG" "$SIZE"
  BIG_SHA=$(<"$BIG.sha256")
  link "$BIG" "$UP/big.raw"
  for ((i = 1; i <= RSS_COUNT; i++)); do link "$BIG" "$UP/big-$i.raw"; done
fi
if want small || want baseline; then
  mkdir -p "$DATA/small"
  for ((i = 1; i <= SMALL_COUNT; i++)); do
    random_file "$DATA/small/$i.raw" "$(small_size "$i")"
    link "$DATA/small/$i.raw" "$UP/small-$i.raw"
  done
fi

upstream_start "$UP" "$RUN/upstream.log" "${BENCH_UPSTREAM_PORT:-0}" || die "no upstream server"
say "upstream: $UPSTREAM (pid $UPSTREAM_PID), glance: $GLANCE"

# --------------------------------------------------------------- baseline ----

# baseline METHOD NAME URL: curl | curl into a new image, until active. Sets B_SECS, B_STREAM (create
# and streaming only), B_CALLS.
baseline() {
  local method=$1 name=$2 url=$3 t0 body id status target failed size
  local -i calls=0
  auth || die "Keystone authentication failed"
  t0=$EPOCHREALTIME
  body=$(curl -sS -f -H @"$HDR" -H 'Content-Type: application/json' \
    -d "{\"name\": \"$name\", \"disk_format\": \"raw\", \"container_format\": \"bare\", \"visibility\": \"private\"}" \
    "$GLANCE/v2/images")
  calls+=1
  id=$(sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' <<<"$body")
  [[ -n $id ]] || die "baseline: no image id in Glance's answer to the create"
  target=stage
  [[ $method == upload ]] && target="file"
  if ! curl -sS -f "$url" |
    curl -sS -f -T - -H @"$HDR" -H 'Content-Type: application/octet-stream' -o /dev/null \
      "$GLANCE/v2/images/$id/$target"; then
    die "baseline $method: curl $url | curl -T - .../$target failed"
  fi
  B_STREAM=$(secs "$t0" "$EPOCHREALTIME")
  calls+=1
  if [[ $method == glance-direct ]]; then
    curl -sS -f -H @"$HDR" -H 'Content-Type: application/json' -o /dev/null \
      -d '{"method": {"name": "glance-direct"}}' "$GLANCE/v2/images/$id/import"
    calls+=1
  fi
  while :; do
    body=$(curl -sS -f -H @"$HDR" "$GLANCE/v2/images/$id")
    calls+=1
    status=$(sed -n 's/.*"status": *"\([a-z_]*\)".*/\1/p' <<<"$body")
    [[ $status == active ]] && break
    failed=$(sed -n 's/.*"os_glance_failed_import": *"\([^"]*\)".*/\1/p' <<<"$body")
    if [[ -n $failed || $status =~ ^(killed|deleted|pending_delete|deactivated)$ ]]; then
      die "baseline $method: image $id ended '$status' (failed import: '${failed}')"
    fi
    if awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 3600) }'; then
      die "baseline $method: image $id still '$status' after an hour"
    fi
    sleep "$POLL"
  done
  B_SECS=$(secs "$t0" "$EPOCHREALTIME")
  B_CALLS=$calls
  size=$(sed -n 's/.*"size": *\([0-9]*\).*/\1/p' <<<"$body")
  [[ $size == "$SIZE" ]] || die "baseline $method: image $id is active with size '$size', expected $SIZE"
}

# ---------------------------------------------------------------------- ours ----

# catalog FILE NAME URL SHA256 BYTES...: one raw definition per NAME URL SHA256 BYTES group
catalog() {
  local file=$1
  shift
  printf '# Generated by ci/bench.sh\nimages:\n' >"$file"
  while (($#)); do
    cat >>"$file" <<EOF
  - name: $1
    format: raw
    login: bench
    min_disk: $((($4 + 1073741823) / 1073741824))
    min_ram: 64
    visibility: private
    meta:
      architecture: x86_64
      os_distro: linux
      os_version: '1'
      os_purpose: custom
      replace_frequency: never
      uuid_validity: none
      provided_until: none
    versions:
      - version: '1'
        url: $2
        checksum: "sha256:$3"
        build_date: 2026-01-01
EOF
    shift 4
  done
}

# ours TAG METHOD PARALLEL CATALOG EXPECTED_BYTES: image-manager apply under /usr/bin/time.
# Sets O_SECS, O_KIB (peak RSS), O_CALLS; returns 1 (after showing why) when the run failed.
ours() {
  local tag=$1 method=$2 parallel=$3 cat=$4 expect=$5 rc=0 summary n_done n_total bytes
  local tf="$RUN/$tag.time" rep="$RUN/$tag.json" log="$RUN/$tag.log"
  /usr/bin/time -f '%e %M' -o "$tf" \
    env OS_CLIENT_CONFIG_FILE="$OS_CLIENT_CONFIG_FILE" "$BIN" apply --images "$cat" --cloud member \
    --method "$method" --parallel "$parallel" --yes --output json >"$rep" 2>"$log" || rc=$?
  read -r O_SECS O_KIB < <(tail -n1 "$tf")
  if ((rc != 0)); then
    say "$tag: image-manager apply exited $rc"
    show_tail "$log"
    return 1
  fi
  summary=$("$PY" "$HELPER" report "$rep") || {
    say "$tag: the apply report has entries that are not done ($summary)"
    show_tail "$log"
    return 1
  }
  read -r n_done n_total bytes O_CALLS <<<"$summary"
  say "$tag: $n_done of $n_total steps done"
  if [[ $bytes != "$expect" ]]; then
    say "$tag: the report says $bytes bytes were transferred, expected $expect"
    return 1
  fi
}

# ---------------------------------------------------------------- the cases ----

declare -A T=() # results: space-separated values per key

record() { T[$1]="${T[$1]:-} $2"; }

run_base() { # run_base KEY METHOD R
  local name="$PREFIX-base-$1-r$3" target=stage
  [[ $2 == upload ]] && target="file"
  baseline "$2" "$name" "$UPSTREAM/big.raw"
  say "baseline $2 (run $3): $B_SECS s (create + $target: $B_STREAM s), $B_CALLS Glance calls"
  record "base_$1" "$B_SECS"
  record "base_$1_calls" "$B_CALLS"
  sweep "$name"
}

run_ours_single() { # run_ours_single KEY METHOD R
  local name="$PREFIX-ours-$1-r$3" cat="$RUN/ours-$1-r$3.yaml"
  catalog "$cat" "$name" "$UPSTREAM/big.raw" "$BIG_SHA" "$SIZE"
  if ours "ours-$1-r$3" "$2" 1 "$cat" "$SIZE"; then
    say "ours $2 (run $3): $O_SECS s, peak RSS $(mib "$O_KIB") MiB, $O_CALLS Glance calls"
    record "ours_$1" "$O_SECS"
    record "ours_$1_kib" "$O_KIB"
    record "ours_$1_calls" "$O_CALLS"
  else
    failures=$((failures + 1))
    record "ours_$1_failed" 1
  fi
  sweep "$name"
}

for key in direct upload; do
  method=glance-direct
  [[ $key == upload ]] && method=upload
  wb=false wo=false
  [[ $key == direct ]] && $want_base_direct && wb=true
  [[ $key == upload ]] && $want_base_upload && wb=true
  want "$key" && $has_apply && wo=true
  $wb || $wo || continue
  say "== $key: $SIZE_H, --method $method vs curl | curl, $repeat run(s)"
  for ((r = 1; r <= repeat; r++)); do
    if ((r % 2)); then
      if $wb; then run_base "$key" "$method" "$r"; fi
      if $wo; then run_ours_single "$key" "$method" "$r"; fi
    else
      if $wo; then run_ours_single "$key" "$method" "$r"; fi
      if $wb; then run_base "$key" "$method" "$r"; fi
    fi
  done
done

if want rss && $has_apply; then
  say "== rss: $RSS_COUNT x $SIZE_H with --parallel $RSS_COUNT (glance-direct), $repeat run(s)"
  for ((r = 1; r <= repeat; r++)); do
    args=()
    for ((i = 1; i <= RSS_COUNT; i++)); do
      args+=("$PREFIX-rss-r$r-$i" "$UPSTREAM/big-$i.raw" "$BIG_SHA" "$SIZE")
    done
    cat="$RUN/rss-r$r.yaml"
    catalog "$cat" "${args[@]}"
    if ours "rss-r$r" glance-direct "$RSS_COUNT" "$cat" $((SIZE * RSS_COUNT)); then
      say "ours $RSS_COUNT parallel (run $r): $O_SECS s, peak RSS $(mib "$O_KIB") MiB, $O_CALLS Glance calls"
      record ours_rss "$O_SECS"
      record ours_rss_kib "$O_KIB"
      record ours_rss_calls "$O_CALLS"
    else
      failures=$((failures + 1))
      record ours_rss_failed 1
    fi
    sweep "$PREFIX-rss-r$r-"
  done
fi

# small_create WHO NAME HIDDEN: a small raw image with all properties inline, as a shell loop
# would create it (os_hidden HIDDEN); sets ID
small_create() {
  local body
  body=$(curl -sS -f -H @"$HDR" -H 'Content-Type: application/json' -d "{
      \"name\": \"$2\", \"disk_format\": \"raw\", \"container_format\": \"bare\",
      \"visibility\": \"private\", \"os_hidden\": $3, \"min_disk\": 1, \"min_ram\": 64,
      \"tags\": [\"bench\"], \"architecture\": \"x86_64\", \"os_distro\": \"linux\",
      \"os_version\": \"1\", \"os_purpose\": \"custom\", \"replace_frequency\": \"never\",
      \"uuid_validity\": \"none\", \"provided_until\": \"none\", \"image_original_user\": \"bench\",
      \"image_build_date\": \"2026-01-01\", \"internal_version\": \"1\"}" "$GLANCE/v2/images")
  ID=$(sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' <<<"$body")
  [[ -n $ID ]] || die "$1: no image id in Glance's answer to the create"
}

# wait_active WHO ID BYTES: reads image ID every FLOOR_POLL s until it is active with BYTES;
# sets POLLS (the reads made)
wait_active() {
  local who=$1 id=$2 body status failed size
  POLLS=0
  while :; do
    sleep "$FLOOR_POLL"
    body=$(curl -sS -f -H @"$HDR" "$GLANCE/v2/images/$id")
    POLLS=$((POLLS + 1))
    status=$(sed -n 's/.*"status": *"\([a-z_]*\)".*/\1/p' <<<"$body")
    [[ $status == active ]] && break
    failed=$(sed -n 's/.*"os_glance_failed_import": *"\([^"]*\)".*/\1/p' <<<"$body")
    [[ -z $failed ]] || die "$who: the import of image $id failed (store '$failed')"
    [[ $status =~ ^(queued|importing|uploading|saving)$ ]] || die "$who: image $id ended '$status'"
  done
  size=$(sed -n 's/.*"size": *\([0-9]*\).*/\1/p' <<<"$body")
  [[ $size == "$3" ]] || die "$who: image $id is active with size '$size', expected $3"
}

# floor_one NAME URL BYTES: the shortest way to one active image, as a shell loop does it: create
# with all properties inline, web-download import, poll every FLOOR_POLL s. Adds to F_CALLS.
floor_one() {
  small_create floor "$1" false
  curl -sS -f -H @"$HDR" -H 'Content-Type: application/json' -o /dev/null \
    -d "{\"method\": {\"name\": \"web-download\", \"uri\": \"$2\"}}" "$GLANCE/v2/images/$ID/import"
  wait_active floor "$ID" "$3"
  F_CALLS=$((F_CALLS + 2 + POLLS))
}

# bound_one NAME URL BYTES CALLS_FILE: glance-direct's own calls for one image, with nothing else
# (no checksum, no listing, no lock): create hidden under a staging name with all properties,
# curl upstream | curl -T - .../stage, import, a status read every FLOOR_POLL s, one PATCH that
# publishes (name, os_hidden). Appends its Glance calls to CALLS_FILE.
bound_one() {
  small_create bound "$1 (staging)" true
  curl -sS -f "$2" | curl -sS -f -T - -H @"$HDR" -H 'Content-Type: application/octet-stream' \
    -o /dev/null "$GLANCE/v2/images/$ID/stage" || die "bound: staging $2 failed"
  curl -sS -f -H @"$HDR" -H 'Content-Type: application/json' -o /dev/null \
    -d '{"method": {"name": "glance-direct"}}' "$GLANCE/v2/images/$ID/import"
  wait_active bound "$ID" "$3"
  curl -sS -f -X PATCH -H @"$HDR" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
    -o /dev/null -d "[{\"op\": \"replace\", \"path\": \"/name\", \"value\": \"$1\"},
      {\"op\": \"replace\", \"path\": \"/os_hidden\", \"value\": false}]" "$GLANCE/v2/images/$ID" ||
    die "bound: publishing image $ID failed"
  echo $((4 + POLLS)) >>"$4"
}

# record_small KEY SECS CALLS CPU: one run of a small case: wall time, Glance calls, Glance CPU
record_small() {
  record "$1" "$2"
  record "$1_calls" "$3"
  record "$1_cpu" "$4"
}

run_bound() { # run_bound R: the 50 small imports the glance-direct way, SMALL_PARALLEL at a time
  local r=$1 w i t0 c0 secs cpu n calls_file="$RUN/bound-r$1.calls" pids=()
  auth || die "Keystone authentication failed"
  : >"$calls_file"
  c0=$(glance_cpu)
  t0=$EPOCHREALTIME
  for ((w = 0; w < SMALL_PARALLEL; w++)); do
    (
      for ((i = 1 + w; i <= SMALL_COUNT; i += SMALL_PARALLEL)); do
        bound_one "$PREFIX-bound-r$r-$i" "$UPSTREAM/small-$i.raw" "$(small_size "$i")" "$calls_file"
      done
    ) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || die "the glance-direct bound failed (run $r)"; done
  secs=$(secs "$t0" "$EPOCHREALTIME")
  cpu=$(secs "$c0" "$(glance_cpu)")
  n=$(awk '{ s += $1 } END { print s + 0 }' "$calls_file")
  say "glance-direct bound, $SMALL_COUNT small, $SMALL_PARALLEL at a time (run $r): $secs s, $n Glance calls, Glance CPU $cpu s"
  record_small bound_small "$secs" "$n" "$cpu"
  sweep "$PREFIX-bound-r$r-"
}

run_floor() { # run_floor R: the 50 small imports one after the other
  local r=$1 i t0 c0 secs cpu
  auth || die "Keystone authentication failed"
  F_CALLS=0
  c0=$(glance_cpu)
  t0=$EPOCHREALTIME
  for ((i = 1; i <= SMALL_COUNT; i++)); do
    floor_one "$PREFIX-floor-r$r-$i" "$UPSTREAM/small-$i.raw" "$(small_size "$i")"
  done
  secs=$(secs "$t0" "$EPOCHREALTIME")
  cpu=$(secs "$c0" "$(glance_cpu)")
  say "floor, $SMALL_COUNT small one after the other (run $r): $secs s, $F_CALLS Glance calls, Glance CPU $cpu s"
  record_small base_small "$secs" "$F_CALLS" "$cpu"
  sweep "$PREFIX-floor-r$r-"
}

# noop_plan CATALOG LOG: `plan` right after the apply of CATALOG must find nothing to do; records
# its Glance calls (the goal: at most 5, whatever the number of definitions)
noop_plan() {
  local rc=0 n
  env OS_CLIENT_CONFIG_FILE="$OS_CLIENT_CONFIG_FILE" "$BIN" plan --images "$1" --cloud member \
    --detailed-exitcode >/dev/null 2>"$2" || rc=$?
  n=$(sed -n 's/.* images observed in \([0-9]*\) Glance API calls.*/\1/p' "$2" | head -n1)
  if ((rc != 0)); then
    say "the plan after the apply is not empty (exit $rc)"
    show_tail "$2"
    failures=$((failures + 1))
    return
  fi
  say "no-op plan of the $SMALL_COUNT definitions: ${n:-?} Glance calls"
  record noop_plan_calls "${n:-0}"
}

run_small() { # run_small METHOD R: ours, --parallel SMALL_PARALLEL; key ours_small (auto, the
  # default) or ours_small_upload
  local method=$1 r=$2 i c0 cpu key=ours_small tag="small-$1-r$2" args=()
  [[ $method == auto ]] || key=ours_small_$method
  for ((i = 1; i <= SMALL_COUNT; i++)); do
    args+=("$PREFIX-$tag-$i" "$UPSTREAM/small-$i.raw" "$(<"$DATA/small/$i.raw.sha256")" "$(small_size "$i")")
  done
  catalog "$RUN/$tag.yaml" "${args[@]}"
  c0=$(glance_cpu)
  if ours "$tag" "$method" "$SMALL_PARALLEL" "$RUN/$tag.yaml" "$SMALL_BYTES"; then
    cpu=$(secs "$c0" "$(glance_cpu)")
    say "ours $SMALL_COUNT small, --method $method --parallel $SMALL_PARALLEL (run $r): $O_SECS s, peak RSS $(mib "$O_KIB") MiB, $O_CALLS Glance calls, Glance CPU $cpu s"
    record_small "$key" "$O_SECS" "$O_CALLS" "$cpu"
    record "${key}_kib" "$O_KIB"
    if [[ $method == auto ]]; then
      PHASE_REPORTS+=("$RUN/$tag.json")
      noop_plan "$RUN/$tag.yaml" "$RUN/$tag-plan.log"
    fi
  else
    failures=$((failures + 1))
    record "${key}_failed" 1
  fi
  sweep "$PREFIX-$tag-"
}

PHASE_REPORTS=()
wo=false wb=false
want small && $has_apply && wo=true
{ want small || want baseline; } && wb=true
if $wo || $wb; then
  say "== small: $SMALL_COUNT x 1-8 MiB, ours (--parallel $SMALL_PARALLEL) vs the floor, $repeat run(s)"
  for ((r = 1; r <= repeat; r++)); do
    if ((r % 2)); then
      if $wb; then run_floor "$r"; run_bound "$r"; fi
      if $wo; then run_small auto "$r"; run_small upload "$r"; fi
    else
      if $wo; then run_small upload "$r"; run_small auto "$r"; fi
      if $wb; then run_bound "$r"; run_floor "$r"; fi
    fi
  done
fi

# ------------------------------------------------------------------- report ----

# value KEY: median of a time series, maximum of a *_kib series, "-" when nothing was recorded
value() {
  local -a v
  read -ra v <<<"${T[$1]:-}"
  if ((${#v[@]} == 0)); then
    if [[ -n ${T[${1}_failed]:-} ]]; then echo FAILED; else echo -; fi
  elif [[ $1 == *_kib ]]; then
    maximum "${v[@]}"
  else
    median "${v[@]}"
  fi
}

row() { printf '%-42s %9s %13s %6s %14s %-8s %9s %10s\n' "$@"; }

calls() { # calls OURS_KEY BASE_KEY
  local o b
  o=$(value "$1")
  b=${2:+$(value "$2")}
  [[ $o == FAILED ]] && o=-
  [[ $o != - ]] && o=$(awk -v v="$o" 'BEGIN { printf "%g", v }')
  [[ -n $b && $b != - ]] && b=$(awk -v v="$b" 'BEGIN { printf "%g", v }')
  if [[ -n $2 ]]; then echo "$o / $b"; else echo "$o"; fi
}

rss_of() { local k; k=$(value "$1"); if [[ $k =~ ^[0-9]+$ ]]; then mib "$k"; else echo -; fi; }

echo
what=""
{ $want_base_direct || $want_base_upload || want rss; } && what="$SIZE_H raw images, "
want small && what+="$SMALL_COUNT x 1-8 MiB raw images, "
echo "image-manager apply benchmark: ${what}median of $repeat run(s) (peak RSS: maximum)"
echo "sandbox Glance $GLANCE ($(glance_workers) worker process(es)), upstream $UPSTREAM, $(nproc) CPU(s), $(date -u +%FT%TZ)"
echo
row case "ours (s)" "baseline (s)" ratio goal result "RSS (MiB)" "API calls"
for key in direct upload; do
  method=glance-direct
  base_desc="curl|curl stage+import"
  if [[ $key == upload ]]; then method=upload base_desc="curl|curl file"; fi
  o=$(value "ours_$key")
  b=$(value "base_$key")
  [[ $o == - && $b == - ]] && continue
  rt=- res=-
  if [[ $o =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]]; then
    rt=$(ratio "$o" "$b")
    if le "$rt" "$RATIO_GOAL"; then res=ok; else res=MISSED; fi
  elif [[ $o == - ]] && ! $has_apply && $need_ours; then
    o="n/a"
  fi
  [[ $o == FAILED ]] && res=FAILED
  row "$SIZE_H --method $method -> active" "$o" "$b" "$rt" "<= $RATIO_GOAL" "$res" "$(rss_of "ours_${key}_kib")" \
    "$(calls "ours_${key}_calls" "base_${key}_calls")"
  printf '  (baseline: %s)\n' "$base_desc"
done
if want rss; then
  o=$(value ours_rss)
  k=$(value ours_rss_kib)
  res=-
  if [[ $k =~ ^[0-9]+$ ]]; then
    if le "$(mib "$k")" "$RSS_GOAL_MIB"; then res=ok; else res=MISSED; fi
  fi
  [[ $o == FAILED ]] && res=FAILED
  $has_apply || o="n/a"
  row "$RSS_COUNT x $SIZE_H glance-direct --parallel $RSS_COUNT" "$o" - - "<= $RSS_GOAL_MIB MiB" "$res" "$(rss_of ours_rss_kib)" \
    "$(calls ours_rss_calls "")"
fi
if want small || want baseline; then
  o=$(value ours_small)
  b=$(value base_small)
  rt=- res=-
  if [[ $o =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]]; then
    rt=$(ratio "$o" "$b")
    if le "$rt" "$SMALL_RATIO_GOAL"; then res=ok; else res=MISSED; fi
  fi
  [[ $o == FAILED ]] && res=FAILED
  per_image() { local v; v=$(value "$1"); [[ $v =~ ^[0-9.]+$ ]] && ratio "$v" "$SMALL_COUNT" || echo -; }
  pi_o=$(per_image ours_small_calls) pi_b=$(per_image base_small_calls)
  if [[ $res == ok && $pi_o != - ]] && ! le "$pi_o" "$SMALL_CALLS_GOAL"; then res=MISSED; fi
  row "$SMALL_COUNT x 1-8 MiB first import, --parallel $SMALL_PARALLEL" "$o" "$b" "$rt" "<= $SMALL_RATIO_GOAL" "$res" \
    "$(rss_of ours_small_kib)" "$(calls ours_small_calls base_small_calls)"
  printf '  (baseline: the floor, a sequential curl loop; Glance calls per image: ours %s, floor %s, goal <= %s;\n' \
    "$pi_o" "$pi_b" "$SMALL_CALLS_GOAL"
  printf '   CPU seconds Glance spent: ours %s, floor %s)\n' "$(value ours_small_cpu)" "$(value base_small_cpu)"
  bo=$(value bound_small)
  if [[ $bo != - ]]; then
    rt=-
    [[ $o =~ ^[0-9.]+$ ]] && rt=$(ratio "$o" "$bo")
    row "  vs glance-direct's bound, --parallel $SMALL_PARALLEL" "$o" "$bo" "$rt" - - - \
      "$(calls ours_small_calls bound_small_calls)"
    printf '  (bound: %s curl loops doing only glance-direct'"'"'s calls; bound / floor %s; Glance CPU %s s)\n' \
      "$SMALL_PARALLEL" "$(ratio "$bo" "$b")" "$(value bound_small_cpu)"
  fi
  o=$(value ours_small_upload)
  if [[ $o != - ]]; then
    rt=-
    [[ $o =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]] && rt=$(ratio "$o" "$b")
    row "  the same with --method upload" "$o" "$b" "$rt" - - "$(rss_of ours_small_upload_kib)" \
      "$(calls ours_small_upload_calls base_small_calls)"
    printf '  (Glance calls per image %s; CPU seconds Glance spent %s)\n' "$(per_image ours_small_upload_calls)" \
      "$(value ours_small_upload_cpu)"
  fi
  n=$(value noop_plan_calls)
  if [[ $n != - ]]; then
    res=ok
    le "$n" 5 || res=MISSED
    row "  then plan, $SMALL_COUNT definitions, no changes" - - - "<= 5 calls" "$res" - "$(calls noop_plan_calls "")"
  fi
  if ((${#PHASE_REPORTS[@]})); then
    echo
    echo "where our $SMALL_COUNT-image runs spent their time (median of the runs; seconds summed over images unless noted):"
    "$PY" "$HELPER" phases "${PHASE_REPORTS[@]}" | sed 's/^/  /'
  fi
fi
echo
echo "ratio = ours / baseline (lower is better). Baselines timed from their first image create to active,"
echo "polling every ${POLL}s (the floor: ${FLOOR_POLL}s); their Keystone token (${token_secs}s here) is not included."
echo "Ours: the whole apply process."
echo "API calls: ours from the apply report (api_calls; - if absent), baseline's Glance requests counted."
if ((failures)); then
  say "$failures measurement(s) failed; their logs are in $RUN (use --keep to keep them)"
  exit 1
fi
