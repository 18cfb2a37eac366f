#!/usr/bin/env bash
# Runs the libFuzzer targets that tests/fuzz/fuzz.mk builds into build/fuzz/,
# one at a time and under nice, each with its committed seed corpus
# (tests/fuzz/corpus/<name>/) and its dictionary when there is one
# (tests/fuzz/<name>.dict, else tests/fuzz/<prefix>.dict: request.dict for
# request_send, request_bulk and request_json).
#
#   scripts/fuzz.sh run [name...]     what `make fuzz` does: FUZZ_SECONDS (60) each
#                                     on a growing copy of the corpus in
#                                     build/fuzz/corpus/<name>/; prints per target
#                                     the runs, exec/s, and libFuzzer's final cov
#                                     and ft. Logs in build/fuzz/log/.
#   scripts/fuzz.sh smoke [name...]   TAP, one test per target: every committed
#                                     input replayed once (a crash input added to
#                                     the corpus stays a regression test), then
#                                     FUZZ_SECONDS (3) of fuzzing on a throwaway copy.
#
# A crash (a sanitizer report or a broken property, see tests/fuzz/util.h)
# leaves its input in build/fuzz/crashes/<name>-crash-<sha1>; reproduce it
# with build/fuzz/fuzz_<name> <that file>. Exits non-zero on any crash.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=$ROOT/build/fuzz
mode=${1:?usage: fuzz.sh run|smoke [name...]}
shift
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
		n=${f##*/fuzz_}
		names+=("${n%.c}")
	done
fi
mkdir -p "$FUZZ/log" "$FUZZ/crashes"

dict_of() { # name -> the -dict= option, or nothing
	local d
	for d in "$ROOT/tests/fuzz/$1.dict" "$ROOT/tests/fuzz/${1%%_*}.dict"; do
		[ -f "$d" ] && { echo "-dict=$d"; return; }
	done
}

# stats LOG -> "runs exec/s cov ft corpus" from libFuzzer's last status line and final stats.
stats() {
	local line runs eps cov ft corp
	line=$(grep -E '^#[0-9]+' "$1" | tail -1)
	runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$1" | tail -1)
	eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$1" | tail -1)
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
	corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$line")
	[ -n "$runs" ] || runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")
	[ -n "$eps" ] || eps=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$line")
	echo "${runs:--} ${eps:--} ${cov:--} ${ft:--} ${corp:--}"
}

# why LOG: the lines that say what crashed, for a report.
why() {
	local w
	w=$(grep -E -A1 'fuzz property failed|ERROR: (Address|Leak|libFuzzer)|runtime error:|SUMMARY:|Test unit written|^Running: ' "$1" |
		grep -vE '^--$' | tail -12)
	[ -n "$w" ] || w=$(tail -5 "$1")
	printf '%s\n' "$w"
}

# fuzz NAME CORPUS_DIR SECONDS LOG: one fuzzing session; its exit status.
fuzz() {
	local bin=$FUZZ/fuzz_$1
	# shellcheck disable=SC2046
	nice -n 10 "$bin" $(dict_of "$1") -max_total_time="$3" -print_final_stats=1 \
		-artifact_prefix="$FUZZ/crashes/$1-" "$2" >"$4" 2>&1
}

run() {
	local seconds=${FUZZ_SECONDS:-60} failed=0 name work log rc s
	printf '%-18s %12s %9s %6s %7s %7s  %s\n' target runs exec/s cov ft corpus result
	for name in "${names[@]}"; do
		work=$FUZZ/corpus/$name log=$FUZZ/log/$name.log
		mkdir -p "$work"
		cp -n "$ROOT/tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null
		fuzz "$name" "$work" "$seconds" "$log"
		rc=$?
		read -r -a s <<<"$(stats "$log")"
		printf '%-18s %12s %9s %6s %7s %7s  %s\n' "$name" "${s[0]}" "${s[1]}" "${s[2]}" "${s[3]}" "${s[4]}" \
			"$([ "$rc" -eq 0 ] && echo ok || echo "CRASH (exit $rc, $log)")"
		if [ "$rc" -ne 0 ]; then
			failed=1
			why "$log" | sed 's/^/    /'
		fi
	done
	return $failed
}

smoke() {
	local seconds=${FUZZ_SECONDS:-3} n=0 failed=0 name seeds log tmp rc s
	echo "1..${#names[@]}"
	for name in "${names[@]}"; do
		n=$((n + 1))
		log=$FUZZ/log/smoke-$name.log
		if [ ! -x "$FUZZ/fuzz_$name" ]; then
			echo "not ok $n - fuzz $name"
			echo "# $FUZZ/fuzz_$name is not built (make fuzz-build)"
			failed=1
			continue
		fi
		# Replay: each committed input once, no mutation.
		seeds=("$ROOT/tests/fuzz/corpus/$name"/*)
		rc=0
		if [ -e "${seeds[0]}" ]; then
			nice -n 10 "$FUZZ/fuzz_$name" "${seeds[@]}" >"$log" 2>&1
			rc=$?
		fi
		if [ "$rc" -ne 0 ]; then
			echo "not ok $n - fuzz $name"
			echo "# replaying tests/fuzz/corpus/$name crashed (exit $rc; $log):"
			why "$log" | sed 's/^/#   /'
			failed=1
			continue
		fi
		tmp=$FUZZ/smoke/$name
		rm -rf "$tmp" && mkdir -p "$tmp"
		cp "${seeds[@]}" "$tmp"/ 2>/dev/null
		fuzz "$name" "$tmp" "$seconds" "$log"
		rc=$?
		read -r -a s <<<"$(stats "$log")"
		if [ "$rc" -eq 0 ]; then
			echo "ok $n - fuzz $name"
			echo "# $name: ${#seeds[@]} seeds replayed; ${seconds}s: ${s[0]} runs, ${s[1]} exec/s, cov ${s[2]}, ft ${s[3]}"
		else
			echo "not ok $n - fuzz $name"
			echo "# fuzzing $name for ${seconds}s crashed (exit $rc; $log):"
			why "$log" | sed 's/^/#   /'
			failed=1
		fi
	done
	return $failed
}

case $mode in
run) run ;;
smoke) smoke ;;
*) echo "usage: fuzz.sh run|smoke [name...]" >&2; exit 2 ;;
esac
