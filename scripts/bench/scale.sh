#!/usr/bin/env bash
# `make bench-scale`: how many instances of `serve` one PostgreSQL primary
# carries (docs/scaling.md), on the local `run` stack (durable PostgreSQL).
#
#   scripts/bench/scale.sh path/to/sms-orchestrator
#
# For each n of BENCH_SCALE_INSTANCES (default "1 2 4"): the tables
# truncated and the SMS_OUTBOUND stream purged, n serves with the default
# roles (http, relay, pipeline, scheduler, reconciler) on 127.0.0.1:18080..,
# then BENCH_SECONDS (15) of wrk POST /v1/sms/send (one message + key per
# request) against every instance at once, 64 connections in all (64/n per
# instance, one thread each); then until every accepted message is
# SUBMITTED (at most 120 s); with BENCH_SCALE_SPLIT=1 (the default) each n > 1
# also as "nw" (see CASES below). Per case: accepted messages/s (all, and per
# instance), messages/s from the load's start to the last SUBMITTED (the
# whole chain), p99 of the requests, and what the machine spent: CPU cores
# used by the serves, by PostgreSQL and by the rest (wrk, NATS, the
# routing stand-in) during the load, PostgreSQL commits/s and WAL MB/s.
# Prints a table, also in .run/bench/scale.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BIN" ] || { echo "bench-scale: $BIN is not an executable" >&2; exit 2; }
INSTANCES=${BENCH_SCALE_INSTANCES:-1 2 4}
SECS=${BENCH_SECONDS:-15}
CONNS=64
BASE_PORT=18080
OUT=$ROOT/.run/bench
RUN=$ROOT/.run/run
SCRIPTS=$ROOT/scripts/bench
export BENCH_LUA_DIR=$SCRIPTS

say() { printf 'bench-scale: %s\n' "$*" >&2; }
die() { printf 'bench-scale: FAILED: %s\n' "$*" >&2; exit 1; }
for n in $INSTANCES; do
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 16 ] && [ $((CONNS % n)) -eq 0 ] ||
		die "BENCH_SCALE_INSTANCES: each must be 1..16 and divide $CONNS (got '$n')"
done
[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 3 ] || die "BENCH_SECONDS must be a whole number >= 3 (got '$SECS')"
for tool in wrk curl jq psql awk; do command -v "$tool" >/dev/null || die "$tool is missing (make deps)"; done
[ -f "$RUN/serve.pid" ] && kill -0 "$(cat "$RUN/serve.pid")" 2>/dev/null &&
	die "make run is serving; stop it first (make stop)"

mkdir -p "$OUT"
PIDS=()
stop_serves() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_serves
	"$ROOT/scripts/stack.sh" stop run >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/scripts/stack.sh" start run "$BIN" >/dev/null
# shellcheck disable=SC1091
. "$RUN/env"
export PGHOST PGPORT PGUSER=postgres PGDATABASE=orch
q() { psql -X -q -v ON_ERROR_STOP=1 -tA "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
NATS_PORT=${ORCH_NATS_URL##*:}
purge_stream() { # the JetStream API over the plain protocol: $JS.API.STREAM.PURGE.SMS_OUTBOUND
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$NATS_PORT" || return 0
	# shellcheck disable=SC2016
	printf 'CONNECT {"verbose":false}\r\nPUB $JS.API.STREAM.PURGE.SMS_OUTBOUND 0\r\n\r\nPING\r\n' >&"$fd"
	timeout 5 grep -q -m1 PONG <&"$fd" || true
	exec {fd}>&-
}
# CPU ticks (utime + stime) of the given pids, summed.
ticks() { local p s=0 f; for p in "$@"; do f=$(cat "/proc/$p/stat" 2>/dev/null) || continue; f=${f##*) }; set -- $f; s=$((s + ${12} + ${13})); done; echo "$s"; }
ticks_of() { local t=0 p; for p in "$@"; do t=$((t + $(ticks "$p"))); done; echo "$t"; }
pg_pids() { pgrep -u postgres -x postgres || true; }
all_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $6 + $7 + $8 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
cores() { awk -v t="$1" -v hz="$HZ" -v ms="$2" 'BEGIN { printf "%.2f", t / hz / (ms / 1000) }'; }

# Cases: each n with every instance running every role, and (n > 1) n with
# the workers' roles on instance 0 only and the others ORCH_ROLES=http
# ("2w": one relay, pipeline, scheduler and reconciler for the whole set).
CASES=()
for n in $INSTANCES; do CASES+=("$n"); [ "$n" -gt 1 ] && [ "${BENCH_SCALE_SPLIT:-1}" = 1 ] && CASES+=("${n}w"); done
# pg_stat_statements (loaded by the run stack): PostgreSQL's top statements per case
pgss=0
q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 && pgss=1
ROWS=()
for case in "${CASES[@]}"; do
	n=${case%w}
	q -c "SET lock_timeout = '5s'" -c 'TRUNCATE orch.outbox, orch.sms_messages, orch.sms_status_history, orch.idempotency_keys CASCADE' >/dev/null
	purge_stream
	q -c CHECKPOINT >/dev/null
	: >"$OUT/scale-serve-$case.log"
	for ((i = 0; i < n; i++)); do
		roles=()
		[ "$case" != "$n" ] && [ "$i" -gt 0 ] && roles=(ORCH_ROLES=http)
		env -u ORCH_ROLES ORCH_HTTP_LISTEN="127.0.0.1:$((BASE_PORT + i))" ORCH_MAX_BACKLOG=1000000000 "${roles[@]}" \
			"$BIN" serve </dev/null >>"$OUT/scale-serve-$case.log" 2>&1 &
		PIDS+=($!)
	done
	for ((i = 0; i < n; i++)); do
		for ((w = 0; w < 300; w++)); do curl -sf -o /dev/null "http://127.0.0.1:$((BASE_PORT + i))/healthz" && break; sleep 0.1; done
		curl -sf -o /dev/null "http://127.0.0.1:$((BASE_PORT + i))/healthz" || { tail -20 "$OUT/scale-serve-$case.log" >&2; die "serve $i of $n did not start"; }
	done
	sleep 2 # (each instance's pools and consumer up)
	[ "$pgss" = 1 ] && q -c "SELECT pg_stat_statements_reset()" >/dev/null
	c0=$(q -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'orch'")
	l0=$(q -c "SELECT pg_current_wal_lsn()")
	s0=$(ticks_of "${PIDS[@]}") p0=$(ticks_of $(pg_pids)) a0=$(all_ticks) t0=$(now_ms)
	WRK=()
	for ((i = 0; i < n; i++)); do
		BENCH_RUN_TAG="scale-$$-$n-$i" wrk -t1 -c$((CONNS / n)) -d"${SECS}s" --timeout 5s --latency \
			-s "$SCRIPTS/send.lua" "http://127.0.0.1:$((BASE_PORT + i))" >"$OUT/scale-wrk-$case-$i.out" 2>&1 &
		WRK+=($!)
	done
	for p in "${WRK[@]}"; do wait "$p" || die "wrk failed (.run/bench/scale-wrk-$case-*.out)"; done
	ms=$(($(now_ms) - t0))
	s1=$(ticks_of "${PIDS[@]}") p1=$(ticks_of $(pg_pids)) a1=$(all_ticks)
	c1=$(q -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'orch'")
	wal=$(q -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$l0')::bigint")
	acc=0 per=() p99=()
	for ((i = 0; i < n; i++)); do
		line=$(grep '^BENCH_RESULT' "$OUT/scale-wrk-$case-$i.out") || die "wrk printed no result"
		r=$(sed -E 's/.* msgs_per_s=([0-9.]+).*/\1/' <<<"$line")
		per+=("$r") p99+=("$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$line")")
		acc=$(awk -v a="$acc" -v b="$r" 'BEGIN { printf "%.1f", a + b }')
	done
	total=$(q -c "SELECT count(*) FROM orch.sms_messages")
	for ((w = 0; w < 600; w++)); do
		open=$(q -c "SELECT count(*) FROM orch.sms_messages WHERE status <> 'SUBMITTED'")
		[ "$open" -eq 0 ] && break
		sleep 0.2
	done
	last=$(q -c "SELECT round(extract(epoch FROM max(at) - min(m.created_at)) * 1000) FROM orch.sms_status_history h
	             JOIN orch.sms_messages m ON m.id = h.message_id WHERE h.status = 'SUBMITTED'")
	chain=$(awk -v n="$total" -v ms="${last:-0}" 'BEGIN { if (ms > 0) printf "%.1f", n / (ms / 1000); else print "n/a" }')
	ROWS+=("$(printf '%-3s %10s %-28s %10s %8s %7s %7s %7s %9s %8s %s' "$case" "$acc" "$(IFS=/; echo "${per[*]}")" "$chain" \
		"$(printf '%s\n' "${p99[@]}" | sort -g | tail -1)" "$(cores $((s1 - s0)) "$ms")" "$(cores $((p1 - p0)) "$ms")" \
		"$(cores $((a1 - a0 - (s1 - s0) - (p1 - p0))) "$ms")" "$(awk -v c=$((c1 - c0)) -v ms="$ms" 'BEGIN { printf "%.0f", c / (ms / 1000) }')" \
		"$(awk -v b="$wal" -v ms="$ms" 'BEGIN { printf "%.1f", b / 1048576 / (ms / 1000) }')" \
		"$([ "$open" -eq 0 ] || echo "($open not SUBMITTED after 120 s)")")")
	say "$case: $n instance(s): accepted $acc messages/s (${per[*]}), chain $chain messages/s"
	# where PostgreSQL's time went, per statement, for this n (load and drain)
	[ "$pgss" = 1 ] && q -F ' | ' -c "SELECT round(total_exec_time)::bigint AS ms, calls,
	        round((total_exec_time / greatest(calls, 1))::numeric, 3) AS ms_per_call,
	        round(100 * total_exec_time / sum(total_exec_time) OVER ())::int AS pct,
	        regexp_replace(left(query, 160), '\s+', ' ', 'g')
	      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'orch')
	      ORDER BY total_exec_time DESC LIMIT 15" >"$OUT/scale-pgss-$case.txt"
	stop_serves
done
{
	echo "bench-scale: $(nproc) CPUs; wrk POST /v1/sms/send, $CONNS connections in all, ${SECS}s; PostgreSQL durable (the run stack)"
	printf '%-3s %10s %-28s %10s %8s %7s %7s %7s %9s %8s\n' n "accepted/s" "per instance" "chain/s" "p99 ms" "serve" "pg" "rest" "commits/s" "WAL MB/s"
	printf '%s\n' "${ROWS[@]}"
	echo "  n: instances of serve, each with every role; nw: the same n, the workers' roles (relay, pipeline, scheduler, reconciler) on the first only"
	echo "  accepted/s: 202s x messages / s, all instances; chain/s: messages / (last SUBMITTED - first accepted);"
	echo "  serve, pg, rest: CPU cores used during the load (rest: wrk, NATS, Redis, the routing stand-in)"
	echo "  PostgreSQL's top statements per case (total ms | calls | ms/call | % | statement): .run/bench/scale-pgss-<case>.txt"
} | tee "$OUT/scale.txt"
