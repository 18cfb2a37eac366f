#!/usr/bin/env bash
# `make test`: a throwaway stack, then every tier (unit, fuzz, sql, integration).
# Each test file speaks TAP; this runner counts every ok / not ok, treats a
# file that died or whose plan does not match as one more failure, prints a
# line per tier and ends with "N passed, N failed". Exits non-zero on any failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
BUILD=$(cd "${2:?usage: test.sh BIN BUILD_DIR}" && pwd)
export ORCH_BIN=$BIN ORCH_ROOT=$ROOT ORCH_TOOLS=$BUILD/tools
RESULTS=$ROOT/.run/test-results
start_time=$(date +%s)

"$ROOT/scripts/stack.sh" wipe test >/dev/null 2>&1
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
trap '"$ROOT/scripts/stack.sh" stop test' EXIT
"$ROOT/scripts/stack.sh" start test "$BIN" || { echo "0 passed, 1 failed (the test stack did not start)"; exit 1; }
# shellcheck disable=SC1091
. "$ROOT/.run/test/env"

total_pass=0 total_fail=0 tier_pass=0 tier_fail=0

# run_tap NAME CMD...: runs one TAP producer and counts its results.
run_tap() {
	local name=$1; shift
	local out=$RESULTS/${name//\//_}.tap rc planned pass fail
	"$@" >"$out" 2>"$out.err"
	rc=$?
	pass=$(grep -cE '^ *ok [0-9]+' "$out")
	fail=$(grep -cE '^ *not ok [0-9]+' "$out")
	planned=$(grep -oE '^ *1\.\.[0-9]+' "$out" | head -1 | sed 's/.*\.\.//')
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1; echo "not ok - $name exited with status $rc" >>"$out"
	elif [ -z "$planned" ] || [ "$planned" -ne $((pass + fail)) ] && [ "$fail" -eq 0 ]; then
		fail=1; echo "not ok - $name planned ${planned:-nothing}, ran $((pass + fail))" >>"$out"
	fi
	tier_pass=$((tier_pass + pass)) tier_fail=$((tier_fail + fail))
	if [ "$fail" -eq 0 ]; then
		printf '  %-50s ok (%d)\n' "$name" "$pass"
	else
		printf '  %-50s FAILED (%d passed, %d failed)\n' "$name" "$pass" "$fail"
		grep -E '^ *not ok' "$out" | head -20 | sed 's/^/      /'
		grep -vE '^ *(ok|not ok) ' "$out" | grep -E '^ *#' | head -30 | sed 's/^/      /'
		tail -15 "$out.err" | sed 's/^/      stderr: /'
	fi
}

tier_begin() { tier_pass=0 tier_fail=0; echo "== $1"; }
tier_end() {
	echo "$1: $tier_pass passed, $tier_fail failed"
	total_pass=$((total_pass + tier_pass)) total_fail=$((total_fail + tier_fail))
}

tier_begin "unit tests (cmocka)"
for t in "$BUILD"/tests/test_*; do
	CMOCKA_MESSAGE_OUTPUT=TAP run_tap "unit/$(basename "$t")" "$t"
done
tier_end unit

# The fuzz targets are built with clang whatever SANITIZE says (tests/fuzz/fuzz.mk).
tier_begin "fuzz targets (libFuzzer)"
if make -C "$ROOT" --no-print-directory -s fuzz-build >"$RESULTS/fuzz-build.log" 2>&1; then
	run_tap "fuzz/libFuzzer" "$ROOT/scripts/fuzz.sh" smoke
else
	tier_fail=$((tier_fail + 1))
	printf '  %-50s FAILED (make fuzz-build, see .run/test-results/fuzz-build.log)\n' "fuzz/build"
	tail -15 "$RESULTS/fuzz-build.log" | sed 's/^/      /'
fi
tier_end fuzz

tier_begin "SQL tests (pgTAP, pg_prove)"
psql -X -q -U postgres -d orch -c "CREATE EXTENSION IF NOT EXISTS pgtap" >/dev/null
for t in "$ROOT"/tests/sql/*.sql; do
	run_tap "sql/$(basename "$t")" pg_prove -v -U postgres -d orch "$t"
done
tier_end sql

tier_begin "integration tests (the real binary, real servers)"
for t in "$ROOT"/tests/integration/[0-9]*.sh; do
	run_tap "integration/$(basename "$t")" bash "$t"
done
tier_end integration

echo "wall time: $(($(date +%s) - start_time)) s; results in .run/test-results/"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
