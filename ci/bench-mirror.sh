#!/usr/bin/env bash
# Benchmark of `image-manager mirror` against the sandbox's S3 server (SeaweedFS, `ci/sandbox.sh
# s3-up`), with a local upstream (python3 -m http.server, ci/lib.sh) serving a random raw image.
# Prints figures; it is not a test (failed runs exit 1, slow ones do not).
#
#   ci/bench-mirror.sh [--size SIZE] [--repeat N] [--keep]
#
# One SIZE image, upstream -> object in the bucket, two ways, alternating run by run:
#   ours      image-manager mirror: one HEAD, the upstream streamed through sha256 verification
#             into a multipart upload (8 MiB parts, 2 in flight), completed only when the digest
#             matched; wall time and peak RSS from /usr/bin/time
#   baseline  curl upstream | curl --aws-sigv4 "aws:amz:us-east-1:s3" -T - <endpoint>/<bucket>/<key>:
#             one streamed PUT, nothing verified (the keys go to curl in a config file, not argv)
# The ratio ours/baseline is printed (median of the runs; RSS: the maximum).
#
# Options: --size (IEC suffixes, default 2G), --repeat N (default 1), --keep (keep .bench-mirror/).
# Environment: BENCH_BIN (measure this binary instead of building target/release/image-manager),
# BENCH_UPSTREAM_PORT (default: a free port), SANDBOX_S3_PORT (see ci/sandbox.sh).
# Needs only the S3 part of the sandbox: it is started if it is not running and stopped at the end
# only if this script started it. Objects go below bench-<timestamp>-<pid>/ and are deleted after
# each measurement, and SeaweedFS is asked to vacuum (reclaim their disk space) at once.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=ci/lib.sh
. ci/lib.sh

say() { printf 'bench-mirror: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

size_arg=2G repeat=1 keep=false
while (($#)); do
  case $1 in
    --size) size_arg=${2:?--size needs a value}; shift 2 ;;
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --keep) keep=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
SIZE=$(numfmt --from=iec "${size_arg%iB}") || die "--size '$size_arg' is not a size"
[[ -x /usr/bin/time ]] || die "needs GNU time at /usr/bin/time (apt-get install time)"

BENCH="$ROOT/.bench-mirror"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
PREFIX="bench-$STAMP-$$"
RUN="$BENCH/run-$STAMP-$$"
mkdir -p "$RUN/upstream"
chmod 700 "$RUN"
S3_OURS="" # weed PID when this script started it
keys=()

s3_call() { # s3_call METHOD KEY: a signed request, keys from the config file
  curl -sS -f -K "$RUN/curl.cfg" --aws-sigv4 "aws:amz:us-east-1:s3" -X "$1" -o /dev/null \
    "$SANDBOX_S3_ENDPOINT/$SANDBOX_S3_BUCKET/$2"
}

# forget: deletes the objects made so far and has SeaweedFS reclaim their space at once (deleted
# needles stay on disk until a vacuum; its master is on the S3 port + 1)
forget() {
  local k port=${SANDBOX_S3_ENDPOINT##*:}
  for k in "${keys[@]}"; do s3_call DELETE "$k" 2>/dev/null; done
  keys=()
  curl -s -m 600 -o /dev/null "http://127.0.0.1:$((port + 1))/vol/vacuum?garbageThreshold=0.001" || true
}

cleanup() {
  local rc=$?
  set +e
  upstream_stop
  [[ -n ${SANDBOX_S3_ENDPOINT:-} ]] && forget
  if [[ -n $S3_OURS && $(cat .sandbox/s3/run/weed.pid 2>/dev/null) == "$S3_OURS" ]]; then
    ci/sandbox.sh s3-down >/dev/null 2>&1
  fi
  $keep || rm -rf "$RUN" "$BENCH/random-$SIZE.raw"
  rmdir "$BENCH" 2>/dev/null
  exit "$rc"
}
trap cleanup EXIT

BIN=${BENCH_BIN:-$ROOT/target/release/image-manager}
if [[ -z ${BENCH_BIN:-} ]]; then
  say "cargo build --release"
  cargo build --release
fi
if ! ci/sandbox.sh s3-status >/dev/null 2>&1; then
  ci/sandbox.sh s3-up || die "ci/sandbox.sh s3-up failed"
  S3_OURS=$(<.sandbox/s3/run/weed.pid)
fi
eval "$(ci/sandbox.sh s3-env)"
(umask 077 && printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$RUN/curl.cfg")

IMG="$BENCH/random-$SIZE.raw"
if [[ ! -f $IMG || $(stat -c %s "$IMG") != "$SIZE" ]]; then
  say "random image: $(numfmt --to=iec-i --suffix=B "$SIZE")"
  head -c "$SIZE" /dev/urandom >"$IMG"
fi
SHA=$(sha256sum "$IMG" | cut -d' ' -f1)
ln -f "$IMG" "$RUN/upstream/img.raw" 2>/dev/null || ln -sf "$IMG" "$RUN/upstream/img.raw"
upstream_start "$RUN/upstream" "$RUN/upstream.log" "${BENCH_UPSTREAM_PORT:-0}" || die "no upstream"

ours=() base=() rss=()
run_ours() { # run_ours R
  local name="$PREFIX-$1" cat="$RUN/catalog-$1"
  mkdir -p "$cat"
  cat >"$cat/c.yaml" <<EOF
images:
  - name: $name
    shortname: $name
    format: raw
    versions:
      - version: '1'
        url: $UPSTREAM/img.raw
        checksum: sha256:$SHA
EOF
  keys+=("openstack-images/$name/1-$name.raw")
  /usr/bin/time -f '%e %M' -o "$RUN/ours-$1.time" "$BIN" mirror --images "$cat" \
    --bucket "$SANDBOX_S3_BUCKET" --output json >"$RUN/ours-$1.json" 2>"$RUN/ours-$1.log" ||
    { tail -n 15 "$RUN/ours-$1.log" >&2; die "image-manager mirror failed"; }
  grep -q '"status": "mirrored"' "$RUN/ours-$1.json" || die "not mirrored: $(cat "$RUN/ours-$1.json")"
  read -r secs kib <"$RUN/ours-$1.time"
  ours+=("$secs") rss+=("$kib")
  say "ours (run $1): $secs s, peak RSS $((kib / 1024)) MiB"
}
run_base() { # run_base R
  local key="$PREFIX/base-$1.raw" t0
  keys+=("$key")
  t0=$EPOCHREALTIME
  curl -sS -f "$UPSTREAM/img.raw" |
    curl -sS -f -K "$RUN/curl.cfg" --aws-sigv4 "aws:amz:us-east-1:s3" -T - -o /dev/null \
      "$SANDBOX_S3_ENDPOINT/$SANDBOX_S3_BUCKET/$key" || die "baseline curl | curl failed"
  base+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')")
  say "baseline (run $1): ${base[-1]} s"
}
for ((r = 1; r <= repeat; r++)); do
  if ((r % 2)); then run_base "$r"; forget; run_ours "$r"; else run_ours "$r"; forget; run_base "$r"; fi
  forget
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
o=$(median "${ours[@]}") b=$(median "${base[@]}")
peak=$(printf '%s\n' "${rss[@]}" | sort -g | tail -n1)
echo
echo "image-manager mirror benchmark: $(numfmt --to=iec-i --suffix=B "$SIZE") raw, median of $repeat run(s), $(nproc) CPU(s), $(date -u +%FT%TZ)"
printf '%-34s %10s %14s %7s %16s\n' case "ours (s)" "baseline (s)" ratio "peak RSS (MiB)"
printf '%-34s %10s %14s %7s %16s\n' "upstream -> S3 (SeaweedFS)" "$o" "$b" \
  "$(awk -v a="$o" -v b="$b" 'BEGIN { printf "%.2f", a / b }')" "$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }')"
echo "ours: verified (sha256) multipart upload, completed only on a match; baseline: curl | curl -T - (one PUT, unverified)"
