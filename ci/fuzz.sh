#!/usr/bin/env bash
# Runs the property tests (every test function named `prop_*`: catalog loading on mutated real
# catalogs, checksum files, upstream listings and pointer files, format sniffing, the plan
# renderers) far longer than the normal test run does, until time is up.
#
# usage: ci/fuzz.sh [MINUTES]        default 10
#   FUZZ_CASES   cases per property per round (default 2000)
#
# Each round runs every property with FUZZ_CASES cases and a fresh random seed (printed, so a
# round can be repeated: PROPTEST_RNG_SEED=<seed> PROPTEST_CASES=<n> cargo test --lib prop_).
# The tests are built once; later edits of the tree do not affect a running fuzz.sh.
# A failing case is shrunk by proptest and printed with the round's seed; turn it into a plain
# regression test. Exit status: 0 when no round found anything, 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
minutes=${1:-10}
cases=${FUZZ_CASES:-2000}
[[ $minutes =~ ^[0-9]+$ && $cases =~ ^[0-9]+$ ]] || {
  echo "usage: ci/fuzz.sh [MINUTES] (FUZZ_CASES=N for cases per round)" >&2
  exit 2
}

# Build once and run a copy of the test binary, so editing or rebuilding the tree meanwhile
# does not change what is being fuzzed.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
built=$(cargo test --lib --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -n $built ]] || {
  echo "fuzz.sh: the unit tests do not build (cargo test --lib --no-run)" >&2
  exit 2
}
cp "$built" "$work/props"
properties=$("$work/props" prop_ --list 2>/dev/null | grep -c ': test$' || true)
echo "fuzz.sh: $properties properties, $cases cases each per round, for $minutes min"

deadline=$(($(date +%s) + minutes * 60))
start=$(date +%s)
rounds=0
total=0
failed=0
log="$work/log"
while (($(date +%s) < deadline)); do
  seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
  if RUST_BACKTRACE=0 PROPTEST_CASES=$cases PROPTEST_RNG_SEED=$seed "$work/props" prop_ --quiet >"$log" 2>&1; then
    rounds=$((rounds + 1))
    total=$((total + properties * cases))
    echo "fuzz.sh: round $rounds (seed $seed) ok; $total cases so far"
  else
    failed=1
    echo "fuzz.sh: FINDING in a round with seed $seed (PROPTEST_CASES=$cases):" >&2
    if grep -q '^failures:' "$log"; then sed -n '/^failures:/,$p' "$log" >&2; else cat "$log" >&2; fi
    break
  fi
done
elapsed=$(($(date +%s) - start))
echo "fuzz.sh: $rounds complete rounds, $total cases in ${elapsed}s; findings: $failed"
exit "$failed"
