# Sourced by scripts/bench.sh: the flow-control phases of issue 15.
#
#   p  OTP under a campaign. (a) No backlog: wrk POST /v1/sms/send with
#      "priority":"high", paced (paced.lua, BENCH_PACE_BODY) at one request
#      every 100 ms (2 threads, OTP_CONNS connections) for BENCH_OTP_SECONDS
#      (30). (b) A campaign: serve stopped, BENCH_OTP_BACKLOG (100,000,
#      rounded up to 1,000s) normal messages written straight in SQL by
#      orch.accept(), one transaction per 1,000 (account bench-campaign, to
#      +14155550100), serve started with the default roles, and from the
#      moment /healthz answers the same high sends during the drain. Per
#      part, p50/p99/max of 202 -> SUBMITTED of the high messages (the `at`
#      of the SUBMITTED history row - the message's created_at); in (b) also
#      for those sent before the last backlog message was SUBMITTED; the
#      ratio p99(b) / p99(a) (aim <= 2) and the drain time (serve start to
#      the last backlog SUBMITTED row; capped at BENCH_OTP_DRAIN_CAP, 300 s).
#   t  An operator limit across two instances: a second serve (default
#      roles) on 127.0.0.1:BENCH_SERVE2_PORT (8087) beside the first,
#      orch.operator_limits ('op-sfo', 200/s, burst 20), SMPP_OPERATOR
#      purged, BENCH_LIMIT_MESSAGES (6,000) messages to +1415555xxxx (op-sfo
#      in data/routes.txt) in bulk requests of 100 posted by curl, half to
#      each instance, two senders at once. From the JetStream timestamps of
#      the SMPP_OPERATOR messages (build/.../tools/jsdump, its "ts"): the
#      most publishes in any 1 s sliding window starting after the first
#      second (must be <= 220 = rate + burst; the bucket's bound), the same
#      over all windows, per-second counts, first to last publish (about
#      (6,000 - 20) / 200 = 29.9 s); the same windows of the grants (the
#      outbox rows' first_attempt_at) and each instance's share
#      (orch_operator_published_total deltas). The limit (and its bucket) is
#      deleted at the end, and by bench.sh's exit trap when the phase dies.
#   q  Scheduling precision: BENCH_SCHED_MESSAGES (10,000) messages with the
#      same whole-second sendAt BENCH_SCHED_LEAD (12) s ahead, accepted by
#      curl in bulk requests of 1,000 before it; then, once all are SUBMITTED
#      (at most 60 s after sendAt): p50/p99/max (and min: a release before
#      sendAt is a bug) of the QUEUED history row's at - send_at, the release
#      transactions (distinct xmin of those rows), and p50/p99/max of the
#      SUBMITTED row's at - send_at.
# Each from empty tables (reset_state), the routing-engine stand-in reset (it
# answers at once). Failures: wrk failing or too many non-202 answers, a
# failed fill or accept, serve (or the second serve) dying or not starting.
# Goals not met (p99 ratio, the window bound, late releases) are reported.
# shellcheck shell=bash disable=SC2034,SC2154,SC2153 # the globals are bench.sh's (checked with it: shellcheck -x scripts/bench.sh)

OTP_SECS=${BENCH_OTP_SECONDS:-30} OTP_PERIOD_MS=100 OTP_CONNS=4 OTP_BATCH=1000
OTP_N=$((((${BENCH_OTP_BACKLOG:-100000} + OTP_BATCH - 1) / OTP_BATCH) * OTP_BATCH))
OTP_DRAIN_CAP=${BENCH_OTP_DRAIN_CAP:-300}
OTP_BODY='{"to":"+14155550100","from":"ACME","body":"otp 123456","priority":"high"}'
T_OPERATOR=op-sfo T_RATE=200 T_BURST=20 T_BULK=100 T_CAP=120
T_MSGS=$(((${BENCH_LIMIT_MESSAGES:-6000} + T_BULK - 1) / T_BULK * T_BULK))
T_PORT=${BENCH_SERVE2_PORT:-8087}
SERVE2_PID=$RUN/serve2.pid
Q_BATCH=1000 Q_WAIT=60
Q_MSGS=$(((${BENCH_SCHED_MESSAGES:-10000} + Q_BATCH - 1) / Q_BATCH * Q_BATCH))
Q_LEAD=${BENCH_SCHED_LEAD:-12}
JSDUMP=$(dirname "$BIN")/tools/jsdump
declare -A OTP T Q
OTP[note]="not run" T[note]="not run" Q[note]="not run"
T_LIMIT_SET=

# ms_stats EXPR FROM_WHERE: "n p50 p99 max min" in ms (2 decimals; nan when none) of the interval EXPR.
ms_stats() {
	local e="(extract(epoch FROM $1) * 1000)::float8"
	pc() { echo "coalesce(round((percentile_cont($1) WITHIN GROUP (ORDER BY $e))::numeric, 2)::text, 'nan')"; }
	psql_q -F ' ' -c "SELECT count($e), $(pc 0.5), $(pc 0.99),
	                         coalesce(round(max($e)::numeric, 2)::text, 'nan'), coalesce(round(min($e)::numeric, 2)::text, 'nan')
	                  FROM $2"
}
# stat_line LABEL N P50 P99 MAX [MORE]: a line of the phases' tables.
stat_line() { printf '  %-60s %6s %9s %9s %9s%s\n' "$1" "$2" "$3" "$4" "$5" "${6:+  $6}"; }
# secs_since T0 [T1]: T1 (default now) - T0, to 2 decimals.
secs_since() { awk -v a="$1" -v b="${2:-$(now_s)}" 'BEGIN { printf "%.2f", b - a }'; }
# poll_until SECONDS SQL VALUE: every 0.5 s until the query answers at least VALUE, at most SECONDS; 1 when it never did.
poll_until() {
	local t0 n
	t0=$(now_s)
	while :; do
		n=$(psql_q -c "$2")
		[ "$n" -ge "$3" ] && return 0
		awk -v a="$t0" -v b="$(now_s)" -v c="$1" 'BEGIN { exit !(b - a >= c) }' && return 1
		serve_alive || return 1
		sleep 0.5
	done
}

# ---------------------------------------------------------------- phase p: OTP under a campaign
HIGH_SUBMITTED="orch.sms_messages m JOIN orch.sms_status_history h ON h.message_id = m.id AND h.status = 'SUBMITTED' WHERE m.priority = 'high'"

# otp_part NAME [bg]: the paced high sends of part NAME (a or b); with bg in the background (WRK_BG_PID).
otp_part() {
	local PACED_CONNS=$OTP_CONNS
	BENCH_PACE_BODY=$OTP_BODY paced_wrk "p$1" $((1000 / OTP_PERIOD_MS)) "$OTP_SECS" "$OUT/wrk-otp-$1.out" "${2:-}"
}
# otp_result NAME RC: the wrk result and the high messages' figures of part NAME into OTP[NAME_*].
otp_result() {
	local name=$1 rc=$2 line total ok bad sockerr n nh
	OTP[${name}_stats]="0 nan nan nan nan"
	wrk_result "p($name)" "$OUT/wrk-otp-$name.out" "$rc" || return 1
	OTP[${name}_sent]=$ok OTP[${name}_http_p99]=$(field p99_ms)
	nh=$(psql_q -c "SELECT count(*) FROM orch.sms_messages WHERE priority = 'high'")
	poll_until "$SUBMIT_WAIT" "SELECT count(*) FROM $HIGH_SUBMITTED" "$nh" ||
		say "  p($name): not all $nh high messages SUBMITTED ${SUBMIT_WAIT} s after the load: $(not_submitted)"
	OTP[${name}_n]=$nh
	OTP[${name}_stats]=$(ms_stats "h.at - m.created_at" "$HIGH_SUBMITTED")
	# the same without the part's first second (serve has just started in both parts: its first messages
	# meet cold caches and what the start itself still does; the stricter comparison of the steady state)
	OTP[${name}_steady]=$(ms_stats "h.at - m.created_at" "$HIGH_SUBMITTED AND m.created_at >= (SELECT min(created_at) + interval '1 second'
	                                                                              FROM orch.sms_messages WHERE priority = 'high')")
	# the three slowest, each as "N ms at +T s" after the part's first high message
	OTP[${name}_slowest]=$(psql_q -c "SELECT string_agg(round(ms)::text || ' ms at +' || round(t::numeric, 1)::text || ' s', ', ' ORDER BY ms DESC)
	                                  FROM (SELECT extract(epoch FROM h.at - m.created_at) * 1000 AS ms,
	                                               extract(epoch FROM m.created_at - min(m.created_at) OVER ()) AS t
	                                        FROM $HIGH_SUBMITTED ORDER BY 1 DESC LIMIT 3) s" || true)
	read -r n _ <<<"${OTP[${name}_stats]}"
	OTP[${name}_sub]=$n
	[ "$nh" -ge "$ok" ] || fail "phase p($name): $ok requests answered 202 but only $nh high messages are stored"
	return 0
}

# otp_fill: OTP_N normal messages through orch.accept(), one transaction per OTP_BATCH (psql, autocommit),
# with UUIDv7 ids as serve gives them (random v4 ids went to the default partitions, not the day's).
otp_fill() {
	local batch
	for ((batch = 0; batch < OTP_N / OTP_BATCH; batch++)); do
		echo "SELECT count(*) FROM orch.accept('bench-campaign', NULL, NULL, 202, NULL, NULL, NULL, NULL, now(),
		  ARRAY(SELECT orch.uuid_v7() FROM generate_series(1, $OTP_BATCH)), array_fill('+14155550100'::text, ARRAY[$OTP_BATCH]),
		  array_fill('ACME'::text, ARRAY[$OTP_BATCH]), array_fill('campaign message'::text, ARRAY[$OTP_BATCH]),
		  array_fill('GSM7'::text, ARRAY[$OTP_BATCH]), array_fill(1, ARRAY[$OTP_BATCH]), array_fill(NULL::text, ARRAY[$OTP_BATCH]),
		  array_fill(NULL::text, ARRAY[$OTP_BATCH]), array_fill(now() + interval '1 day', ARRAY[$OTP_BATCH]));"
	done | psql_q >/dev/null
}

# otp_reconciler FROM_LINE: the reconciler during (b), from serve.log after line FROM_LINE: its passes
# (durations, and the QUEUED messages it took for stuck and published again: queued_stuck), and a
# pass still running now. Such a pass (minutes on a table a backlog just left behind) holds locks
# that the next phase's TRUNCATE waits for: it is canceled (pg_cancel_backend), and said so.
otp_reconciler() {
	local passes stuck
	passes=$(tail -n +"$(($1 + 1))" "$OUT/serve.log" | grep '"msg":"reconcile pass"' |
		jq -r '.summary | fromjson | "\(.durationMs) \(.findings.queued_stuck.repaired)"' 2>/dev/null || true)
	OTP[rec_n]=$(grep -c . <<<"$passes" || true)
	OTP[rec_ms]=$(awk '{ print $1 }' <<<"$passes" | paste -sd, -)
	OTP[rec_republished]=$(awk '{ n += $2 } END { print n + 0 }' <<<"$passes")
	stuck=$(psql_q -F ' ' -c "SELECT pid, round(extract(epoch FROM clock_timestamp() - query_start)::numeric, 1) FROM pg_stat_activity
	                         WHERE application_name = 'sms-orchestrator reconciler' AND state = 'active'
	                           AND query LIKE '%orch.reconcile(%' AND clock_timestamp() - query_start > interval '5 seconds'")
	OTP[rec_running]=
	if [ -n "$stuck" ]; then
		OTP[rec_running]=${stuck#* }
		psql_q -c "SELECT pg_cancel_backend(${stuck%% *})" >/dev/null || true
		say "  a reconcile pass had been running for ${OTP[rec_running]} s after the drain: canceled (pg_cancel_backend ${stuck%% *})"
	fi
}

phase_p() {
	local rc=0 t0 n nsub drained= stats log0
	say "phase p: OTP under a campaign: a high message every ${OTP_PERIOD_MS} ms for $OTP_SECS s, (a) alone, (b) while $OTP_N normal messages drain"
	routing_reset || say "warning: the routing-engine stand-in did not take its reset"
	# (a) no backlog
	reset_state
	otp_part a || rc=$?
	otp_result a "$rc" || { OTP[note]="wrk failed in (a)"; return 0; }
	say "  (a) ${OTP[a_sub]} of ${OTP[a_n]} high SUBMITTED: n p50 p99 max (ms) ${OTP[a_stats]% *}"
	# (b) the campaign: written while serve is stopped, then serve started on it
	reset_state
	stop_serve
	t0=$(now_s)
	otp_fill || rc=$?
	OTP[fill_s]=$(secs_since "$t0")
	n=$(count_messages)
	# The fill's writes go to disk before serve starts. Left in the page cache, the kernel wrote them back
	# 30 s later (vm.dirty_expire_centisecs), over 300 MB at once in the middle of the drain, and every
	# fsync of the drain (commits, JetStream) waited behind them: the 90-220 ms stalls of (b) at +14-18 s.
	t0=$(now_s)
	[ "${BENCH_OTP_FLUSH:-1}" = 0 ] || { psql_q -c CHECKPOINT >/dev/null && sync; }
	OTP[flush_s]=$(secs_since "$t0")
	start_serve
	t0=$(now_s)
	if [ "$rc" -ne 0 ] || [ "$n" -ne "$OTP_N" ]; then
		fail "phase p: filling the backlog: psql status $rc, $n messages (expected $OTP_N)"
		OTP[note]="fill failed"
		wait_serve || true
		return 0
	fi
	say "  (b) $OTP_N normal messages accepted in ${OTP[fill_s]} s (serve stopped), CHECKPOINT and sync ${OTP[flush_s]} s; serve started"
	wait_serve || { fail "phase p: serve did not start on the backlog"; OTP[note]="serve did not start"; return 0; }
	OTP[healthy]=$(secs_since "$t0")
	log0=$(wc -l <"$OUT/serve.log")
	rc=0
	otp_part b bg
	while :; do
		sleep 0.5
		if [ -z "$drained" ]; then
			nsub=$(psql_q -c "SELECT count(*) FROM orch.sms_messages WHERE priority = 'normal' AND status = 'SUBMITTED'")
			[ "$nsub" -ge "$OTP_N" ] && drained=1
		fi
		[ -n "$drained" ] && ! pid_alive "$WRK_BG_PID" && break
		serve_alive || break
		awk -v a="$t0" -v b="$(now_s)" -v c="$OTP_DRAIN_CAP" 'BEGIN { exit !(b - a >= c) }' && break
	done
	wait "$WRK_BG_PID" || rc=$?
	WRK_BG_PID=
	serve_alive || { fail "phase p: serve is no longer running"; OTP[note]="serve died during the drain"; return 0; }
	# the backlog's first and last SUBMITTED, in s after serve's start
	stats=$(psql_q -F ' ' -c "SELECT count(h.at), coalesce(round((extract(epoch FROM min(h.at)) - $t0)::numeric, 2)::text, 'n/a'),
	                                 coalesce(round((extract(epoch FROM max(h.at)) - $t0)::numeric, 2)::text, 'n/a')
	                          FROM orch.sms_messages m JOIN orch.sms_status_history h ON h.message_id = m.id AND h.status = 'SUBMITTED'
	                          WHERE m.priority = 'normal'")
	read -r "OTP[b_backlog_sub]" "OTP[drain_first]" "OTP[drain_s]" <<<"$stats"
	OTP[drain_end]=$(psql_q -c "SELECT coalesce(max(h.at)::text, 'infinity') FROM orch.sms_messages m
	                            JOIN orch.sms_status_history h ON h.message_id = m.id AND h.status = 'SUBMITTED' WHERE m.priority = 'normal'")
	[ -n "$drained" ] || OTP[drain_end]=infinity
	[ -n "$drained" ] || OTP[drain_s]="over ${OTP_DRAIN_CAP} (${OTP[b_backlog_sub]} of $OTP_N SUBMITTED at the cap)"
	otp_result b "$rc" || { OTP[note]="wrk failed in (b)"; otp_reconciler "$log0"; return 0; }
	otp_reconciler "$log0"
	# the high ones sent while the backlog was still draining
	OTP[bd_stats]=$(ms_stats "h.at - m.created_at" "$HIGH_SUBMITTED AND m.created_at < '${OTP[drain_end]}'::timestamptz")
	OTP[p99_ratio]=$(ratio "$(awk '{ print $3 }' <<<"${OTP[b_stats]}")" "$(awk '{ print $3 }' <<<"${OTP[a_stats]}")")
	OTP[p99_ratio_steady]=$(ratio "$(awk '{ print $3 }' <<<"${OTP[b_steady]}")" "$(awk '{ print $3 }' <<<"${OTP[a_steady]}")")
	OTP[note]=ok
	say "  (b) ${OTP[b_sub]} of ${OTP[b_n]} high SUBMITTED: n p50 p99 max (ms) ${OTP[b_stats]% *}; backlog drained in ${OTP[drain_s]} s; p99 b/a ${OTP[p99_ratio]} (${OTP[p99_ratio_steady]} without each part's first second)"
}

otp_summary() {
	local a50 a99 amax b50 b99 bmax d n d50 d99 dmax far sn s50 s99 smax
	read -r _ a50 a99 amax _ <<<"${OTP[a_stats]:-0 nan nan nan nan}"
	read -r _ b50 b99 bmax _ <<<"${OTP[b_stats]:-0 nan nan nan nan}"
	read -r n d50 d99 dmax _ <<<"${OTP[bd_stats]:-0 nan nan nan nan}"
	echo "OTP under a campaign (phase p): a \"high\" POST /v1/sms/send every ${OTP_PERIOD_MS} ms for ${OTP_SECS} s (wrk paced, $OTP_CONNS connections)"
	if [ "${OTP[note]}" != ok ]; then
		echo "  not measured: ${OTP[note]}"
		return 0
	fi
	stat_line "202 -> SUBMITTED of the high messages, ms (*)" n p50 p99 max
	stat_line "(a) no backlog" "${OTP[a_sub]}/${OTP[a_n]}" "$a50" "$a99" "$amax"
	stat_line "(b) while $OTP_N normal messages drain" "${OTP[b_sub]}/${OTP[b_n]}" "$b50" "$b99" "$bmax"
	stat_line "    (b) sent before the last backlog message was SUBMITTED" "$n" "$d50" "$d99" "$dmax"
	read -r sn s50 s99 smax _ <<<"${OTP[a_steady]:-0 nan nan nan nan}"
	stat_line "    (a) without its first second" "$sn" "$s50" "$s99" "$smax"
	read -r sn s50 s99 smax _ <<<"${OTP[b_steady]:-0 nan nan nan nan}"
	stat_line "    (b) without its first second" "$sn" "$s50" "$s99" "$smax"
	echo "  the slowest three, after the part's first high message: (a) ${OTP[a_slowest]:-n/a}; (b) ${OTP[b_slowest]:-n/a}"
	echo "  (*) at of the SUBMITTED history row - created_at of the message; n: SUBMITTED / accepted"
	printf '  p99(b) / p99(a) = %s (aim <= 2: %s)\n' "${OTP[p99_ratio]}" "$(verdict "${OTP[p99_ratio]}" '<=' 2)"
	printf '  without the first second of each part: p99(b) / p99(a) = %s (aim <= 2: %s)\n' "${OTP[p99_ratio_steady]}" \
		"$(verdict "${OTP[p99_ratio_steady]}" '<=' 2)"
	d=${OTP[drain_s]}
	far=$(awk -v p="$b99" -v d="$d" 'BEGIN { if (p ~ /^[0-9.]+$/ && d ~ /^[0-9.]+$/ && d > 0) printf "%.2f%%", p / 10 / d; else print "n/a" }')
	echo "  backlog: written by orch.accept() in $((OTP_N / OTP_BATCH)) transactions of $OTP_BATCH while serve was stopped (${OTP[fill_s]} s), flushed to disk"
	echo "  (CHECKPOINT, sync: ${OTP[flush_s]} s; so that the kernel does not write the fill back during the drain), then serve"
	echo "  started on it: /healthz at +${OTP[healthy]} s, the high sends from then on; first backlog SUBMITTED at +${OTP[drain_first]} s, drained"
	echo "  (all SUBMITTED) at +$d s = $(awk -v n="$OTP_N" -v d="$d" 'BEGIN { if (d ~ /^[0-9.]+$/ && d > 0) printf "%.0f", n / d; else print "n/a" }') messages/s; high p99 under the backlog = $far of the drain time"
	echo "  reconciler during (b): ${OTP[rec_n]} passes logged (ms: ${OTP[rec_ms]:-none}); QUEUED messages it took for stuck (queued_stuck,"
	echo "  ORCH_STUCK_AFTER) and published again: ${OTP[rec_republished]}${OTP[rec_running]:+; a pass still running ${OTP[rec_running]} s after the drain, canceled}"
}

# ---------------------------------------------------------------- phase t: an operator limit across two instances
URL2=http://127.0.0.1:$T_PORT
serve2_alive() { kill -0 "$(cat "$SERVE2_PID" 2>/dev/null)" 2>/dev/null; }
# limit_clear: no limit (nor bucket) for T_OPERATOR.
limit_clear() {
	psql_q -c "DELETE FROM orch.operator_limits WHERE operator_id = '$T_OPERATOR'" \
		-c "DELETE FROM orch.operator_buckets WHERE operator_id = '$T_OPERATOR'" >/dev/null
}
# flow_cleanup: for bench.sh's exit trap: the second serve and the limit.
flow_cleanup() {
	stop_serve "$SERVE2_PID"
	[ -z "$T_LIMIT_SET" ] || limit_clear || true
}
# op_published URL: orch_operator_published_total of T_OPERATOR on that serve (0 when none).
op_published() {
	curl -sf "$1/metrics" 2>/dev/null | awk -v op="$T_OPERATOR" '$1 == "orch_operator_published_total{operator=\"" op "\"}" { n = $2 } END { print n + 0 }'
}
# t_send URL TAG COUNT BODYFILE: COUNT bulk requests, one after the other; prints how many answered 202.
t_send() {
	local i n=0 code
	for ((i = 0; i < $3; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' -m 30 -X POST "$1/v1/sms/bulk" -H 'Content-Type: application/json' \
			-H 'X-Consumer-Custom-ID: bench' -H "Idempotency-Key: bench-$$-$2-$i-$RANDOM" --data-binary "@$4") || code=000
		[ "$code" != 202 ] || n=$((n + 1))
	done
	echo "$n"
}
# windows FILE: from sorted times in seconds, "n span max_window_after_first_second max_window_all per_second_counts".
windows() {
	awk '{ t[NR] = $1 } END {
		n = NR
		if (n == 0) { print "0 nan nan nan -"; exit }
		j = 1; all = 0; after = 0
		for (i = 1; i <= n; i++) {
			while (j <= n && t[j] < t[i] + 1) j++
			if (j - i > all) all = j - i
			if (t[i] >= t[1] + 1 && j - i > after) after = j - i
			b[int(t[i] - t[1])]++
		}
		last = int(t[n] - t[1]); s = ""
		for (k = 0; k <= last; k++) s = s (k ? "," : "") (b[k] + 0)
		printf "%d %.2f %d %d %s\n", n, t[n] - t[1], after, all, s }' "$1"
}

phase_t_run() {
	local reqs half ok1 ok2 pid1 pid2 i sep t0 m1 m2 n
	reqs=$((T_MSGS / T_BULK)) half=$((T_MSGS / T_BULK / 2))
	say "phase t: operator limit across two instances: $T_OPERATOR $T_RATE/s burst $T_BURST, $T_MSGS messages in $reqs bulk requests of $T_BULK, serve on :${URL##*:} and :$T_PORT"
	[ -x "$JSDUMP" ] || { fail "phase t: $JSDUMP is missing (make)"; T[note]="no jsdump"; return 0; }
	port_open "$T_PORT" && { fail "phase t: 127.0.0.1:$T_PORT (the second serve's port, BENCH_SERVE2_PORT) is in use"; T[note]="port in use"; return 0; }
	routing_reset || say "warning: the routing-engine stand-in did not take its reset"
	reset_state
	# shellcheck disable=SC2016 # $JS is part of the subject
	nats_request '$JS.API.STREAM.PURGE.SMPP_OPERATOR' '' | jq -e '.success == true' >/dev/null 2>&1 ||
		{ fail "phase t: the SMPP_OPERATOR purge failed"; T[note]="purge failed"; return 0; }
	T_LIMIT_SET=1
	limit_clear
	psql_q -c "INSERT INTO orch.operator_limits VALUES ('$T_OPERATOR', $T_RATE, $T_BURST)" >/dev/null
	printf 'bench: %s second serve started on :%s, default roles\n' "$(date -u +%H:%M:%S)" "$T_PORT" >>"$OUT/serve2.log"
	env -u ORCH_ROLES ORCH_HTTP_LISTEN="127.0.0.1:$T_PORT" ORCH_MAX_BACKLOG=1000000000 ORCH_HTTP_THREADS="$HTTP_THREADS" \
		"$BIN" serve </dev/null >>"$OUT/serve2.log" 2>&1 &
	echo $! >"$SERVE2_PID"
	for ((i = 0; i < 300; i++)); do
		curl -sf -o /dev/null "$URL2/healthz" && break
		serve2_alive || break
		sleep 0.1
	done
	curl -sf -o /dev/null "$URL2/healthz" || { tail -20 "$OUT/serve2.log" >&2; fail "phase t: the second serve did not start"; T[note]="second serve did not start"; return 0; }
	{
		printf '{"messages":['
		sep=
		for ((i = 1; i <= T_BULK; i++)); do
			printf '%s{"to":"+1415555%04d","from":"ACME","body":"limited %d"}' "$sep" "$i" "$i"
			sep=,
		done
		printf ']}'
	} >"$OUT/t-bulk.json"
	m1=$(op_published "$URL") m2=$(op_published "$URL2")
	t0=$(now_s)
	t_send "$URL" t1 "$half" "$OUT/t-bulk.json" >"$OUT/t-sent-1" &
	pid1=$!
	t_send "$URL2" t2 $((reqs - half)) "$OUT/t-bulk.json" >"$OUT/t-sent-2" &
	pid2=$!
	wait "$pid1" "$pid2" || true
	ok1=$(cat "$OUT/t-sent-1") ok2=$(cat "$OUT/t-sent-2")
	T[accept_s]=$(secs_since "$t0")
	T[ok]=$((ok1 + ok2))
	say "  $((T[ok] * T_BULK)) messages accepted in ${T[accept_s]} s ($ok1 + $ok2 requests answered 202)"
	[ "${T[ok]}" -eq "$reqs" ] || fail "phase t: $((reqs - T[ok])) of $reqs bulk requests not answered 202"
	poll_until "$T_CAP" "SELECT count(*) FROM orch.sms_messages WHERE status = 'SUBMITTED'" $((T[ok] * T_BULK)) ||
		say "  not all SUBMITTED $T_CAP s after the load: $(not_submitted)"
	T[done_s]=$(secs_since "$t0")
	settle
	T[sub]=$(psql_q -c "SELECT count(*) FROM orch.sms_messages WHERE status = 'SUBMITTED'")
	T[failed]=$(psql_q -c "SELECT count(*) FROM orch.sms_messages WHERE status = 'FAILED'")
	T[share]="$(($(op_published "$URL") - m1)) / $(($(op_published "$URL2") - m2))"
	"$JSDUMP" "$ORCH_NATS_URL" SMPP_OPERATOR >"$OUT/t-smpp-operator.jsonl" 2>"$OUT/t-jsdump.err" ||
		{ cat "$OUT/t-jsdump.err" >&2; fail "phase t: jsdump SMPP_OPERATOR failed"; T[note]="jsdump failed"; return 0; }
	jq -r --arg s "smpp.operator.$T_OPERATOR" 'select(.subject == $s) | .ts / 1e9' "$OUT/t-smpp-operator.jsonl" | sort -n >"$OUT/t-publish-s.txt"
	T[pub]=$(windows "$OUT/t-publish-s.txt")
	psql_q -c "SELECT extract(epoch FROM first_attempt_at) FROM orch.outbox
	           WHERE subject = 'smpp.operator.$T_OPERATOR' AND first_attempt_at IS NOT NULL ORDER BY 1" >"$OUT/t-grant-s.txt"
	T[grant]=$(windows "$OUT/t-grant-s.txt")
	read -r n _ <<<"${T[pub]}"
	T[note]=ok
	say "  published $n: n span_s max_after_1s max_all per_second ${T[pub]}"
	serve_alive || fail "phase t: serve is no longer running"
	serve2_alive || fail "phase t: the second serve is no longer running"
}
phase_t() {
	phase_t_run
	stop_serve "$SERVE2_PID"
	if [ -n "$T_LIMIT_SET" ]; then limit_clear; T_LIMIT_SET=; fi
}

t_summary() {
	local n span after all per gafter gall errs
	echo "operator limit across two instances (phase t): $T_OPERATOR limited to $T_RATE/s, burst $T_BURST; $T_MSGS messages to +1415555xxxx in"
	echo "  $((T_MSGS / T_BULK)) bulk requests of $T_BULK (curl, half to each instance at once); two serve, default roles, :${URL##*:} and :$T_PORT"
	if [ "${T[note]}" != ok ]; then
		echo "  not measured: ${T[note]}"
		return 0
	fi
	read -r n span after all per <<<"${T[pub]}"
	read -r _ _ gafter gall _ <<<"${T[grant]}"
	errs="$(grep -c '"level":"error"' "$OUT/serve2.log" || true) error, $(grep -c '"level":"warn"' "$OUT/serve2.log" || true) warn"
	echo "  published (JetStream timestamps of SMPP_OPERATOR, jsdump \"ts\"): $n messages, first to last $span s (expected about"
	printf '  %.1f s); most in any 1 s window after the first second: %s (<= %d: %s); over all windows, the burst included: %s\n' \
		"$(awk -v n="$n" -v r="$T_RATE" -v b="$T_BURST" 'BEGIN { print (n - b) / r }')" "$after" $((T_RATE * 11 / 10)) \
		"$(verdict "$after" '<=' $((T_RATE * 11 / 10)))" "$all"
	echo "  per second from the first publish: $per"
	echo "  grants (first_attempt_at of the outbox rows): most in a 1 s window after the first second $gafter, over all $gall"
	echo "  published by serve 1 / serve 2 (orch_operator_published_total): ${T[share]}; accepted in ${T[accept_s]} s, all SUBMITTED"
	echo "  ${T[done_s]} s after the first request; SUBMITTED ${T[sub]}, FAILED ${T[failed]}; second serve's log: $errs (.run/bench/serve2.log)"
}

# ---------------------------------------------------------------- phase q: scheduling precision
Q_QUEUED="orch.sms_messages m JOIN orch.sms_status_history h ON h.message_id = m.id AND h.status = 'QUEUED'"
Q_SUBMITTED="orch.sms_messages m JOIN orch.sms_status_history h ON h.message_id = m.id AND h.status = 'SUBMITTED'"

phase_q() {
	local at iso i sep t0 code ok=0 n nat wait_s
	at=$(($(date +%s) + Q_LEAD))
	iso=$(date -u -d "@$at" +%Y-%m-%dT%H:%M:%SZ)
	say "phase q: scheduling precision: $Q_MSGS messages with sendAt $iso (in $Q_LEAD s), bulk requests of $Q_BATCH"
	routing_reset || say "warning: the routing-engine stand-in did not take its reset"
	reset_state
	{
		printf '{"messages":['
		sep=
		for ((i = 1; i <= Q_BATCH; i++)); do
			printf '%s{"to":"+1415555%04d","from":"ACME","body":"scheduled %d","sendAt":"%s"}' "$sep" "$i" "$i" "$iso"
			sep=,
		done
		printf ']}'
	} >"$OUT/q-bulk.json"
	t0=$(now_s)
	for ((i = 0; i < Q_MSGS / Q_BATCH; i++)); do
		code=$(curl -s -o "$OUT/q-answer.json" -w '%{http_code}' -m 30 -X POST "$URL/v1/sms/bulk" -H 'Content-Type: application/json' \
			-H 'X-Consumer-Custom-ID: bench' -H "Idempotency-Key: bench-$$-q-$i-$RANDOM" --data-binary "@$OUT/q-bulk.json") || code=000
		[ "$code" != 202 ] || ok=$((ok + 1))
	done
	Q[accept_s]=$(secs_since "$t0")
	Q[ahead_s]=$(secs_since "$(now_s)" "$at")
	read -r n nat <<<"$(psql_q -F ' ' -c "SELECT count(*) FILTER (WHERE status = 'SCHEDULED'), count(DISTINCT send_at) FROM orch.sms_messages")"
	say "  $((ok * Q_BATCH)) accepted in ${Q[accept_s]} s, ${Q[ahead_s]} s before sendAt; $n SCHEDULED, $nat distinct send_at"
	if [ "$ok" -ne $((Q_MSGS / Q_BATCH)) ] || [ "$n" -ne "$Q_MSGS" ] || [ "$nat" -ne 1 ]; then
		fail "phase q: $ok of $((Q_MSGS / Q_BATCH)) bulk requests answered 202, $n SCHEDULED with $nat distinct send_at (expected $Q_MSGS, 1)"
		Q[note]="accept failed"
		return 0
	fi
	if ! awk -v s="${Q[ahead_s]}" 'BEGIN { exit !(s > 0) }'; then
		fail "phase q: the accept ended after sendAt (raise BENCH_SCHED_LEAD)"
		Q[note]="accept ended after sendAt"
		return 0
	fi
	sleep "${Q[ahead_s]}"
	wait_s=$Q_WAIT
	poll_until "$wait_s" "SELECT count(*) FROM orch.sms_messages WHERE status = 'SUBMITTED'" "$Q_MSGS" ||
		say "  not all SUBMITTED $wait_s s after sendAt: $(not_submitted)"
	Q[queued]=$(ms_stats "h.at - m.send_at" "$Q_QUEUED")
	Q[submitted]=$(ms_stats "h.at - m.send_at" "$Q_SUBMITTED")
	Q[early]=$(psql_q -c "SELECT count(*) FROM $Q_QUEUED WHERE h.at < m.send_at")
	Q[tx]=$(psql_q -c "SELECT count(DISTINCT h.xmin::text) FROM $Q_QUEUED")
	Q[others]=$(not_submitted)
	Q[iso]=$iso
	Q[note]=ok
	say "  QUEUED at - send_at: n p50 p99 max min (ms) ${Q[queued]}; SUBMITTED: ${Q[submitted]}"
	serve_alive || fail "phase q: serve is no longer running"
}

q_summary() {
	local n p50 p99 max min sn s50 s99 smax
	echo "scheduling precision (phase q): $Q_MSGS messages with the same sendAt, $Q_LEAD s ahead, accepted in bulk requests of $Q_BATCH"
	if [ "${Q[note]}" != ok ]; then
		echo "  not measured: ${Q[note]}"
		return 0
	fi
	read -r n p50 p99 max min <<<"${Q[queued]}"
	read -r sn s50 s99 smax _ <<<"${Q[submitted]}"
	echo "  (sendAt ${Q[iso]}; accepted in ${Q[accept_s]} s, ${Q[ahead_s]} s before it)"
	stat_line "ms after send_at" n p50 p99 max
	stat_line "QUEUED history row's at - send_at" "$n" "$p50" "$p99" "$max" "min $min; released early: ${Q[early]}"
	stat_line "SUBMITTED history row's at - send_at" "$sn" "$s50" "$s99" "$smax"
	echo "  released in ${Q[tx]} transactions (distinct xmin of the QUEUED rows); released within 1 s: $(verdict "$max" '<=' 1000)${Q[others]:+; not SUBMITTED: ${Q[others]}}"
}

# flow_summary: the three phases' lines in the summary, for those that ran.
flow_summary() {
	want p && otp_summary
	want t && t_summary
	want q && q_summary
	echo "  (p, t, q: 2 cores shared by wrk/curl, serve (two in t), PostgreSQL, NATS and Redis: expect noise between runs)"
}
