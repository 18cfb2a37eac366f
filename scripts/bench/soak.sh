# Sourced by scripts/bench.sh: phase s, the soak (`make bench-soak` runs
# BENCH_PHASES=bs: a short phase b for the rate, then this).
#
# One serve, as it runs after the phases before (default roles); tables
# truncated once at the start, never during. wrk POST /v1/sms/send paced at
# BENCH_SOAK_RATE requests/s (default: a third of phase b's rate, or of
# BENCH_RATE when b did not run) for BENCH_SOAK_SECONDS (600) with
# PACED_CONNS connections; every SOAK_SAMPLE (10) s a sample of serve's RSS
# (VmRSS, /proc/<pid>/status), the outbox's rows (and the unpublished ones)
# and the dead tuples of orch's tables (pg_stat_user_tables.n_dead_tup), in
# .run/bench/soak-samples.tsv. After the load, up to BENCH_SUBMIT_WAIT s for
# all to be SUBMITTED; then per minute of created_at (from the load's start):
# messages accepted and SUBMITTED, p50 and p99 of accept -> SUBMITTED (the
# SUBMITTED history row's at - created_at), the largest RSS sample, and the
# last outbox and dead-tuple samples of the minute, in .run/bench/soak.txt.
# Verdicts, on whole minutes only: the last minute's p99 <= 1.5 x the first's,
# the last minute's RSS <= 1.2 x the second's (the first holds the warm-up).
# Failures as in phase f (wrk, non-202 answers, serve dying).
# shellcheck shell=bash disable=SC2034,SC2154,SC2153 # the globals are bench.sh's (checked with it: shellcheck -x scripts/bench.sh)

SOAK_SECS=${BENCH_SOAK_SECONDS:-600} SOAK_SAMPLE=10
SOAK_RATE=0 SOAK_VERDICTS=() SOAK_NOTE="not run"

# soak_sample SECONDS_SINCE_START: one line of soak-samples.tsv.
soak_sample() {
	local rss
	rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$(cat "$SERVE_PID" 2>/dev/null || echo 0)/status" 2>/dev/null || true)
	printf '%s\t%s\t%s\n' "$1" "${rss:-0}" "$(psql_q -F $'\t' -c "
		SELECT o.n, o.pending, coalesce(max(t.n_dead_tup) FILTER (WHERE t.relname = 'outbox'), 0),
		       coalesce(max(t.n_dead_tup) FILTER (WHERE t.relname = 'sms_messages'), 0),
		       coalesce(max(t.n_dead_tup) FILTER (WHERE t.relname = 'sms_status_history'), 0),
		       coalesce(max(t.n_dead_tup) FILTER (WHERE t.relname = 'idempotency_keys'), 0)
		FROM (SELECT count(*) AS n, count(*) FILTER (WHERE published_at IS NULL) AS pending FROM orch.outbox) o
		LEFT JOIN pg_stat_user_tables t ON t.schemaname = 'orch'
		GROUP BY o.n, o.pending")"
}

phase_s() {
	local out=$OUT/wrk-soak.out samples=$OUT/soak-samples.tsv minutes=$OUT/soak-minutes.tsv rc=0 t0 k now line total ok bad sockerr last
	SOAK_RATE=${BENCH_SOAK_RATE:-$(awk -v b="${MPS[b]}" 'BEGIN { printf "%.0f", b / 3 }')}
	if [ "$SOAK_RATE" -lt 1 ]; then
		fail "phase s: no rate to pace at (BENCH_SOAK_RATE, or phase b's rate / 3)"
		return 0
	fi
	say "phase s: soak: wrk POST /v1/sms/send paced at $SOAK_RATE requests/s for $SOAK_SECS s, -c$PACED_CONNS; samples every $SOAK_SAMPLE s"
	routing_reset || say "warning: the routing-engine stand-in did not take its reset"
	reset_state
	printf 'at_s\trss_kb\toutbox_rows\toutbox_unpublished\tdead_outbox\tdead_messages\tdead_history\tdead_idempotency\n' >"$samples"
	t0=$(now_s)
	paced_wrk s "$SOAK_RATE" "$SOAK_SECS" "$out" bg
	for ((k = 0; ; k++)); do
		soak_sample $((k * SOAK_SAMPLE)) >>"$samples"
		while :; do
			pid_alive "$WRK_BG_PID" || break 2
			now=$(now_s)
			awk -v a="$t0" -v b="$now" -v s=$(((k + 1) * SOAK_SAMPLE)) 'BEGIN { exit !(b - a >= s) }' && break
			sleep 0.5
		done
		[ $((k % 6)) -ne 5 ] || say "  +$(((k + 1) * SOAK_SAMPLE)) s: $(tail -1 "$samples" | awk -F '\t' '{ printf "RSS %.1f MiB, outbox %d rows (%d unpublished), dead tuples outbox %d messages %d", $2 / 1024, $3, $4, $5, $6 }')"
	done
	wait "$WRK_BG_PID" || rc=$?
	WRK_BG_PID=
	if ! wrk_result s "$out" "$rc"; then
		SOAK_NOTE="wrk failed"
		return 0
	fi
	MPS[s]=$(field ok_per_s)
	submit_wait "$SUBMIT_WAIT"
	psql_q -F $'\t' -c "
		SELECT floor((extract(epoch FROM m.created_at) - $t0) / 60)::int AS minute, count(*), count(h.at),
		       coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.at - m.created_at)))::numeric * 1000, 2)::text, 'nan'),
		       coalesce(round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM h.at - m.created_at)))::numeric * 1000, 2)::text, 'nan')
		FROM orch.sms_messages m
		LEFT JOIN orch.sms_status_history h ON h.message_id = m.id AND h.status = 'SUBMITTED'
		GROUP BY 1 ORDER BY 1" >"$minutes"
	SOAK_NOTE="202=$ok non202=$bad sockerr=$sockerr at $(field ok_per_s)/s"
	soak_table "$minutes" "$samples" >"$OUT/soak.txt"
	# whole minutes only: the last is the one before the load's end
	last=$((SOAK_SECS / 60 - 1))
	soak_verdicts "$last"
	serve_alive || fail "phase s: serve is no longer running"
}

# soak_table MINUTES SAMPLES: the per-minute table (minutes: minute, accepted, SUBMITTED, p50, p99).
soak_table() {
	echo "minute accepted submitted   p50 ms   p99 ms  RSS MiB  outbox rows (unpublished)  dead tuples: outbox messages history idempotency"
	awk -F '\t' -v whole=$((SOAK_SECS / 60)) 'BEGIN { last = -1 }
		FILENAME == ARGV[1] { m[$1] = $0; if ($1 + 0 > last) last = $1 + 0; next }
		FNR > 1 { k = int($1 / 60); if ($2 + 0 > rss[k] + 0) rss[k] = $2; s[k] = $0; if (k > last) last = k }
		END { for (k = 0; k <= last; k++) {
			has = (k in m); split(has ? m[k] : "", a, "\t")
			if (k in s) { split(s[k], b, "\t"); r = sprintf("%.1f", rss[k] / 1024) } else { split("- - - - - - - -", b, " "); r = "-" }
			printf "%6d %8d %9d %8s %8s %8s %12s (%9s) %18s %8s %7s %11s%s\n", k, a[2], a[3], has ? a[4] : "-",
				has ? a[5] : "-", r, b[3], b[4], b[5], b[6], b[7], b[8], (k >= whole) ? "  (partial: after the load)" : "" } }' "$1" "$2"
}

# soak_verdicts LAST_MINUTE: SOAK_VERDICTS from soak.txt.
soak_verdicts() {
	local last=$1 p0 pl r1 rl
	SOAK_VERDICTS=()
	if [ "$last" -lt 1 ]; then
		SOAK_VERDICTS=("verdicts need two whole minutes (BENCH_SOAK_SECONDS >= 120)")
		return 0
	fi
	read -r p0 pl r1 rl <<<"$(awk -v l="$last" 'NR > 1 && $1 == 0 { p0 = $5 } NR > 1 && $1 == 1 { r1 = $6 }
		NR > 1 && $1 == l { pl = $5; rl = $6 } END { print (p0 == "" ? "nan" : p0), (pl == "" ? "nan" : pl), (r1 == "" ? "nan" : r1), (rl == "" ? "nan" : rl) }' "$OUT/soak.txt")"
	SOAK_VERDICTS+=("p99 of the last minute ($last) $pl ms <= 1.5 x the first's $p0 ms (ratio $(ratio "$pl" "$p0")): $(verdict "$(ratio "$pl" "$p0")" '<=' 1.5)")
	SOAK_VERDICTS+=("RSS of the last minute ($last) $rl MiB <= 1.2 x the second's $r1 MiB (ratio $(ratio "$rl" "$r1")): $(verdict "$(ratio "$rl" "$r1")" '<=' 1.2)")
}

# soak_summary: the phase's lines in the summary.
soak_summary() {
	local v
	echo "soak (phase s): paced at $SOAK_RATE requests/s for $SOAK_SECS s, one serve, $PACED_CONNS connections: $SOAK_NOTE"
	[ -f "$OUT/soak.txt" ] && sed 's/^/  /' "$OUT/soak.txt"
	for v in "${SOAK_VERDICTS[@]}"; do echo "  $v"; done
	echo "  (per minute of created_at; RSS: largest sample of the minute; outbox and dead tuples: its last sample; .run/bench/soak-samples.tsv)"
}
