# Sourced by scripts/bench.sh: phase l, the latency curve accept -> SUBMITTED.
#
# One serve (default roles) kept running; before each rate the tables are
# truncated (reset_state) and the routing-engine stand-in reset once at the
# start. Per rate, wrk POST /v1/sms/send paced (scripts/bench/paced.lua) for
# BENCH_SECONDS with PACED_CONNS (16) connections at 50, 100, 200, 500
# requests/s and at b/2 (phase b's rate, or BENCH_RATE when b did not run);
# then up to BENCH_SUBMIT_WAIT s for every accepted message to be SUBMITTED.
# Per rate: p50, p95, p99 and max of the `at` of the message's SUBMITTED row
# in orch.sms_status_history - its created_at, in ms, and how many of the
# accepted were SUBMITTED. The 200/s step is a costed window (cost.sh: from
# the load's start until the relay has published everything it caused).
# Then the first BENCH_COLD_SECONDS (15) s after a start: serve stopped, the
# tables truncated, serve started, and as soon as /healthz answers the load at
# 100/s; its p99 / the warm 100/s step's p99 is the cold-start ratio.
# Goals printed beside the figures: p50 <= 10 ms at 50/s, p99 <= 50 ms at
# 200/s, p99 <= 100 ms at b/2, first-15-s p99 <= 2 x warm 100/s.
# Failures as in phase f: wrk failing or too many non-202 answers, serve
# dying or not starting again; slow or unSUBMITTED messages are reported.
# shellcheck shell=bash disable=SC2034,SC2154,SC2153 # the globals are bench.sh's (checked with it: shellcheck -x scripts/bench.sh)

COLD_SECS=${BENCH_COLD_SECONDS:-15} COLD_RATE=100
declare -A L_RATE L_OKPS L_N L_SUB L_P50 L_P95 L_P99 L_MAX L_HP99 L_NOTE
L_STEPS=() L_HEALTHY=n/a

# latency_step NAME RATE SECONDS [COST]: one paced run on the tables as they
# are (the caller resets them); with COST, a costed window named COST.
latency_step() {
	local name=$1 rate=$2 secs=$3 cost=${4:-} out=$OUT/wrk-latency-$1.out rc=0 line total ok bad sockerr stats
	L_STEPS+=("$name")
	L_RATE[$name]=$rate L_OKPS[$name]=0 L_N[$name]=0 L_SUB[$name]=0 L_HP99[$name]=nan
	L_P50[$name]=nan L_P95[$name]=nan L_P99[$name]=nan L_MAX[$name]=nan L_NOTE[$name]=
	say "  l $name: paced at $rate requests/s for $secs s, -c$PACED_CONNS"
	[ -z "$cost" ] || cost_begin "$cost" "l $rate/s, to SUBMITTED"
	paced_wrk "l$name" "$rate" "$secs" "$out" || rc=$?
	if ! wrk_result "l $name" "$out" "$rc"; then
		L_NOTE[$name]="wrk failed"
		return 0
	fi
	L_OKPS[$name]=$(field ok_per_s) L_HP99[$name]=$(field p99_ms)
	submit_wait "$SUBMIT_WAIT"
	stats=$(submit_stats)
	read -r "L_N[$name]" "L_SUB[$name]" "L_P50[$name]" "L_P95[$name]" "L_P99[$name]" "L_MAX[$name]" <<<"$stats"
	if [ -n "$cost" ]; then
		if serve_alive; then settle; fi
		cost_end "$cost" "${L_N[$name]}"
	fi
	if [ "$bad" -ne 0 ] || [ "$sockerr" -ne 0 ]; then L_NOTE[$name]="non202=$bad sockerr=$sockerr"; fi
	if [ "${L_SUB[$name]}" -lt "${L_N[$name]}" ]; then
		L_NOTE[$name]="${L_NOTE[$name]:+${L_NOTE[$name]} }not SUBMITTED after ${SUBMIT_WAIT}s: $(not_submitted)"
	fi
	[ "${L_N[$name]}" -ge "$ok" ] || fail "phase l $name: $ok requests answered 202 but only ${L_N[$name]} messages are stored"
	serve_alive || fail "phase l $name: serve is no longer running"
	say "    accepted ${L_N[$name]}, SUBMITTED ${L_SUB[$name]}: p50 ${L_P50[$name]} ms, p95 ${L_P95[$name]} ms, p99 ${L_P99[$name]} ms, max ${L_MAX[$name]} ms"
}

phase_l() {
	local half rate t0
	half=$(awk -v b="${MPS[b]}" 'BEGIN { printf "%.0f", b / 2 }')
	say "phase l: latency curve accept -> SUBMITTED: paced at 50, 100, 200, 500 and $half (b/2) requests/s, ${SECS} s each; then the first $COLD_SECS s after a restart at $COLD_RATE/s"
	routing_reset || say "warning: the routing-engine stand-in did not take its reset"
	for rate in 50 100 200 500; do
		reset_state
		latency_step "$rate" "$rate" "$SECS" "$([ "$rate" = 200 ] && echo l200)"
		serve_alive || return 0
	done
	if [ "$half" -ge 1 ]; then
		reset_state
		latency_step b2 "$half" "$SECS"
	else
		fail "phase l: no accept rate from phase b to pace at b/2"
	fi
	serve_alive || return 0
	reset_state
	stop_serve
	t0=$(now_s)
	start_serve
	if ! wait_serve; then
		fail "phase l: serve did not start again for the first $COLD_SECS s"
		return 0
	fi
	L_HEALTHY=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }')
	latency_step cold "$COLD_RATE" "$COLD_SECS"
}

# latency_summary: the phase's lines in the summary.
latency_summary() {
	local name label goal ratio
	echo "latency curve accept -> SUBMITTED (phase l: one serve, tables truncated before each rate, wrk paced, $PACED_CONNS connections,"
	echo "  ${SECS} s per rate; ms = at of the SUBMITTED history row - created_at of the message; HTTP p99 from wrk):"
	printf '  %-22s %7s %8s %8s %9s %8s %8s %8s %8s %8s  %s\n' step offered "202/s" accepted submitted "p50" "p95" "p99" "max" "HTTP p99" goal
	for name in "${L_STEPS[@]}"; do
		goal=
		case $name in
		50) label="50/s"; goal="p50 <= 10 ms: $(verdict "${L_P50[$name]}" '<=' 10)" ;;
		100) label="100/s" ;;
		200) label="200/s"; goal="p99 <= 50 ms: $(verdict "${L_P99[$name]}" '<=' 50)" ;;
		b2) label="b/2"; goal="p99 <= 100 ms: $(verdict "${L_P99[$name]}" '<=' 100)" ;;
		cold) label="first ${COLD_SECS} s after start"
			ratio=$(ratio "${L_P99[cold]}" "${L_P99[100]:-nan}")
			goal="p99 / warm 100/s p99 = $ratio <= 2: $(verdict "$ratio" '<=' 2)" ;;
		*) label="$name/s" ;;
		esac
		printf '  %-22s %7s %8.1f %8s %9s %8s %8s %8s %8s %8s  %s%s\n' "$label" "${L_RATE[$name]}" "${L_OKPS[$name]}" \
			"${L_N[$name]}" "${L_SUB[$name]}" "${L_P50[$name]}" "${L_P95[$name]}" "${L_P99[$name]}" "${L_MAX[$name]}" \
			"${L_HP99[$name]}" "$goal" "${L_NOTE[$name]:+ (${L_NOTE[$name]})}"
	done
	echo "  (first ${COLD_SECS} s: serve stopped and started, /healthz answered ${L_HEALTHY} s after the start, the load began then)"
}
