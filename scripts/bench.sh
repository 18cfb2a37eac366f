#!/usr/bin/env bash
# `make bench`: how many accepted messages per second, how fast the outbox
# relay moves them to NATS JetStream, and how fast and how soon the pipeline
# and the relay take them on to SUBMITTED, in one run on this machine.
#
#   scripts/bench.sh path/to/sms-orchestrator
#
# Starts the local `run` stack (durable PostgreSQL: fsync and synchronous_commit
# on; NATS with JetStream; the stand-in routing engine) and `serve` with its
# default roles (http,relay,pipeline,scheduler,reconciler: the outbox relay
# publishes to NATS and the pipeline routes what was accepted all along, also
# during a-e), then the phases of BENCH_PHASES in this order, each from empty
# tables and an empty SMS_OUTBOUND stream (TRUNCATE, stream purge and
# CHECKPOINT before each, so the pipeline never works through an earlier
# phase's leftovers):
#   0  the floor (scripts/bench/floor.sh), first: the minimal durable accept
#      schema of ../shared/peers/pg_limit.sh (messages + outbox, same columns
#      and indexes) in a database of its own (bench_floor) on the same server,
#      so the same settings; pgbench, 32 clients, 2 threads:
#      0s  1 message row + 1 outbox row per transaction;
#      0b  100 + 100 per transaction (messages/s = 100 x tps).
#      With BENCH_KANNEL=1 (off by default: minutes), then Kannel's durable
#      accept and delivery rates: ../shared/peers/kannel.sh, STORE_MODES=redis.
#      Every phase is printed as a ratio to the floor: a/0s, b/0s, c/0b, g/b
#      (goal >= 1.2), g/0s, g/Kannel delivered (goal >= 1.5); d, e, f as is.
#   a  pgbench: the service's database floor. One orch.accept() call per transaction with
#      one message and an Idempotency-Key (idempotency row, message, history
#      row, 2 outbox rows), fresh UUIDs each time; 64 clients, 2 threads.
#   b  wrk POST /v1/sms/send: one message per request, a distinct
#      Idempotency-Key per request; 64 connections, 2 threads.
#   c  wrk POST /v1/sms/bulk: 100 messages per request, a distinct key per
#      request; 16 connections, 2 threads.
#   d  relay throughput from a pre-filled outbox: nats-server stopped (SIGTERM
#      to .run/run/nats.pid), BENCH_RELAY_MESSAGES (default 20000) messages
#      accepted by pgbench (orch.accept() with 100 messages per call; 2 outbox
#      rows each: QUEUED status event + sms.outbound.request), nats-server
#      started again (scripts/stack.sh start run); rows/s = rows / seconds from
#      that start until no outbox row is unpublished (polled every 100 ms).
#      The relay batch is ORCH_RELAY_BATCH (serve's default, 500, unless set).
#   e  accept -> JetStream ack latency: wrk POST /v1/sms/send paced (Lua
#      delay()) at half of phase b's rate, BENCH_PACED_CONNS connections; per
#      message published_at - created_at of its sms.outbound.request outbox
#      row, p50 and p99 by percentile_cont. created_at is the accept
#      transaction's start, so this includes the accept's own latency up to the
#      commit: an upper bound of 202 -> ack.
#   With the pipeline active (since it exists), d counts only the rows the
#   fill wrote (outbox id <= the fill's last): the pipeline's own rows
#   (ROUTED and SUBMITTED status events, smpp.operator.* rows) come after
#   them in id order and are not part of the drain; they do compete for the
#   relay and the database during d and e.
#   f  end to end, accept -> SUBMITTED: the routing-engine stand-in reset
#      (answers at once), wrk POST /v1/sms/send paced as in e at half of
#      phase b's rate; per message accepted in the phase, the `at` of its
#      SUBMITTED row in orch.sms_status_history - the message's created_at,
#      p50, p95 and p99 by percentile_cont, after waiting up to
#      BENCH_SUBMIT_WAIT s after the load for all to be SUBMITTED (those that
#      are not are reported by status). Budget (seed): P95 500 ms; aim p99 < 50 ms.
#   g  drain rate of a backlog: serve restarted with ORCH_ROLES=http,relay,
#      scheduler (no pipeline), BENCH_DRAIN_MESSAGES (default 50000, rounded
#      up to 400s) messages accepted by pgbench as in d (the relay publishes
#      them: they wait in the stream for the pipeline), that serve stopped
#      once no outbox row is pending, serve started with the default roles;
#      messages/s = messages / seconds from that start until all are SUBMITTED
#      (polled every 200 ms), or, after BENCH_DRAIN_CAP s (default 120), the
#      SUBMITTED so far / the cap, with a note.
#   l  latency curve accept -> SUBMITTED (scripts/bench/latency.sh): one serve,
#      tables truncated before each rate, wrk POST /v1/sms/send paced as in f
#      at 50, 100, 200, 500 requests/s and b/2, BENCH_SECONDS each,
#      BENCH_PACED_CONNS (16) connections: per rate p50, p95, p99, max (ms) of
#      the SUBMITTED history row's at - created_at, and how many of the accepted
#      were SUBMITTED; then serve restarted and, from the moment /healthz
#      answers, 100/s for BENCH_COLD_SECONDS (15): the first seconds after a
#      start, as a ratio of p99 to the warm 100/s. Goals printed: p50 <= 10 ms
#      at 50/s, p99 <= 50 ms at 200/s, p99 <= 100 ms at b/2, first-15-s p99 <=
#      2 x warm.
#   p  OTP under a campaign (scripts/bench/flow.sh): a "priority":"high" POST
#      /v1/sms/send every 100 ms for BENCH_OTP_SECONDS (30), wrk paced; (a)
#      on empty tables, (b) while a backlog of BENCH_OTP_BACKLOG (100000)
#      normal messages drains: written by orch.accept() in SQL, one
#      transaction per 1,000, while serve is stopped, then serve started on
#      it and the high sends begun once /healthz answers. p50/p99/max of
#      202 -> SUBMITTED (the SUBMITTED history row's at - created_at) of the
#      high messages in (a) and (b), p99(b)/p99(a) (aim <= 2), the drain time
#      (serve start to the last backlog message SUBMITTED; capped at
#      BENCH_OTP_DRAIN_CAP, 300 s).
#   t  operator limit across two instances (flow.sh): a second serve (default
#      roles) on 127.0.0.1:BENCH_SERVE2_PORT (8087), op-sfo limited to 200/s
#      with burst 20 in orch.operator_limits, BENCH_LIMIT_MESSAGES (6000)
#      messages to +1415555xxxx in bulk requests of 100 (curl, half to each
#      serve); from the SMPP_OPERATOR stream's JetStream timestamps (purged
#      first; tools/jsdump's "ts"): the most publishes in any 1 s sliding
#      window after the first second (must be <= 220), per-second counts,
#      first to last publish (about 30 s). The limit is removed at the end.
#   q  scheduling precision (flow.sh): BENCH_SCHED_MESSAGES (10000) messages
#      with one sendAt BENCH_SCHED_LEAD (12) s ahead, accepted in bulk
#      requests of 1,000 before it; p50/p99/max of the QUEUED history row's
#      at - send_at and of the SUBMITTED row's at - send_at, in ms.
#   s  soak (scripts/bench/soak.sh; not in the default set: `make bench-soak`
#      runs BENCH_PHASES=bs): BENCH_SOAK_SECONDS of paced sends at
#      BENCH_SOAK_RATE (default b/3) on one serve, tables never truncated; per
#      minute p50/p99 of accept -> SUBMITTED, serve's RSS (sampled every 10 s),
#      outbox rows and dead tuples; verdicts: the last minute's p99 <= 1.5 x
#      the first's, its RSS <= 1.2 x the second minute's.
# and prints messages/s (d: outbox rows/s), p50 and p99 for each, the ratios
# b/a and c/a, whether the relay keeps up with the accept path (rows/s >= 2 x
# phase b messages/s), whether phase e's p99 is under 50 ms and phase f's
# P95 within 500 ms and p99 under 50 ms, the ratios to the floor, the
# latency curve with its goals, the soak's table and verdicts, and the cost
# model below; the table is also written to .run/bench/summary.txt. Raw
# outputs and the serve log (all serve runs, appended) are under .run/bench/.
#
# Cost model (scripts/bench/cost.sh) of phase b (the wrk load), phase g (the
# drain, until the relay has published what it caused) and the latency
# curve's 200/s step: per message, the deltas of pg_stat_database (orch:
# commits, rows inserted, updated, deleted), pg_stat_wal (records, full-page
# images, bytes, syncs, writes) and the CPU of serve and of all PostgreSQL
# processes (/proc); and pg_stat_statements (reset at the window's start; the
# extension is created in orch): the top 10 toplevel statements of serve's
# role by total_exec_time in .run/bench/statements-<b|g|l200>.txt, with their
# sums per stage (accept, relay, pipeline, ...); the top 5 of b and g and the
# stages are in the summary.
#
# Exits non-zero when a phase fails: pgbench errors or failed transactions (0, a),
# more than 1% non-202 answers or socket errors in a wrk phase, serve dying,
# rows still unpublished BENCH_RELAY_TIMEOUT s after NATS is back (d) or the
# load ended (e, g's fill), the routing engine not answering its reset (f), a
# failed fill (g), serve not starting again (l), kannel.sh failing when asked
# for (BENCH_KANNEL=1). A relay that does not keep up, a p99 over 50 ms,
# messages not SUBMITTED in time (f, l, s), a drain cut at the cap (g), goals
# and verdicts not met are reported, not failures.
#
# Settings (environment):
#   BENCH_PHASES        the phases to run, in their fixed order (default 0abcdefglptq; s: the soak)
#   BENCH_RATE          phase b's rate for e, f, l and s when b does not run (default 1000)
#   BENCH_SECONDS       length of each phase, and of each rate of l (default 15)
#   BENCH_HTTP_THREADS  ORCH_HTTP_THREADS for serve (default 4)
#   BENCH_BULK_CONNS    wrk connections in phase c (default 16)
#   BENCH_BULK_SIZE     messages per bulk request (default 100)
#   BENCH_MAX_ERROR_PCT failure threshold for non-202 answers (default 1)
#   BENCH_RELAY_MESSAGES messages accepted into the stopped relay's outbox in
#                       phase d (default 20000, rounded up to 400s)
#   BENCH_PACED_CONNS   wrk connections in phase e (default 16)
#   BENCH_RELAY_TIMEOUT seconds to wait for the outbox to drain (default 120)
#   BENCH_SUBMIT_WAIT   seconds to wait after f's load for all to be SUBMITTED (default 30)
#   BENCH_DRAIN_MESSAGES backlog size in phase g (default 50000, rounded up to 400s)
#   BENCH_DRAIN_CAP     longest drain timed in phase g, seconds (default 120)
#   BENCH_KANNEL        1: run ../shared/peers/kannel.sh in phase 0 (default 0)
#   BENCH_KANNEL_SECONDS its DURATION (default BENCH_SECONDS)
#   BENCH_KANNEL_SCRIPT its path (default ../shared/peers/kannel.sh beside the repo)
#   BENCH_COLD_SECONDS  the load after serve's start in phase l, seconds (default 15)
#   BENCH_SOAK_SECONDS  length of the soak, phase s (default 600)
#   BENCH_SOAK_RATE     the soak's requests/s (default phase b's rate / 3)
#   BENCH_OTP_BACKLOG   normal messages behind the high ones in phase p (b) (default 100000, rounded up to 1000s)
#   BENCH_OTP_SECONDS   length of each part of phase p's high sends (default 30)
#   BENCH_OTP_DRAIN_CAP longest drain waited for in phase p (b), seconds (default 300)
#   BENCH_LIMIT_MESSAGES messages to the limited operator in phase t (default 6000, rounded up to 100s)
#   BENCH_SERVE2_PORT   the second serve's HTTP port in phase t (default 8087)
#   BENCH_SCHED_MESSAGES messages scheduled for one second in phase q (default 10000, rounded up to 1000s)
#   BENCH_SCHED_LEAD    how far ahead their sendAt is, seconds (default 12)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN_ARG=${1:?usage: bench.sh path/to/sms-orchestrator}
BIN=$(cd "$(dirname "$BIN_ARG")" && pwd)/$(basename "$BIN_ARG")
[ -x "$BIN" ] || { echo "bench: $BIN is not an executable" >&2; exit 2; }

SECS=${BENCH_SECONDS:-15}
HTTP_THREADS=${BENCH_HTTP_THREADS:-4}
PG_CLIENTS=64 PG_THREADS=2
SEND_CONNS=64 WRK_THREADS=2
BULK_CONNS=${BENCH_BULK_CONNS:-16}
BULK_SIZE=${BENCH_BULK_SIZE:-100}
MAX_ERROR_PCT=${BENCH_MAX_ERROR_PCT:-1}
RELAY_MESSAGES=${BENCH_RELAY_MESSAGES:-20000}
PACED_CONNS=${BENCH_PACED_CONNS:-16}
RELAY_TIMEOUT=${BENCH_RELAY_TIMEOUT:-120}
SUBMIT_WAIT=${BENCH_SUBMIT_WAIT:-30}
DRAIN_MESSAGES=${BENCH_DRAIN_MESSAGES:-50000}
DRAIN_CAP=${BENCH_DRAIN_CAP:-120}
DRAIN_FILL_ROLES=http,relay,scheduler
WRK_TIMEOUT=5s

PROFILE=run
RUN=$ROOT/.run/$PROFILE
OUT=$ROOT/.run/bench
SERVE_PID=$RUN/serve.pid # where `scripts/stack.sh stop run` (and `make stop`) look for it
SCRIPTS=$ROOT/scripts/bench
export BENCH_LUA_DIR=$SCRIPTS # where the wrk scripts find common.lua, whatever the working directory
PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$PGBIN/pgbench" ] || PGBIN=/usr/lib/postgresql/15/bin

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: FAILED: %s\n' "$*" >&2; exit 1; }

for tool in "$PGBIN/pgbench" "$PGBIN/psql" wrk curl awk sort jq; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (make deps)"
done
for f in accept.pgbench common.lua send.lua bulk.lua relay_fill.pgbench paced.lua floor.sql floor.sh cost.sh latency.sh soak.sh flow.sh; do
	[ -f "$SCRIPTS/$f" ] || die "$SCRIPTS/$f is missing"
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Refuse to run over a `make run` (its serve, or anything on the run profile's HTTP port).
if [ -f "$SERVE_PID" ] && kill -0 "$(cat "$SERVE_PID" 2>/dev/null)" 2>/dev/null; then
	die "serve is already running for the '$PROFILE' profile (pid $(cat "$SERVE_PID"), $SERVE_PID): stop it first (make stop)"
fi
if port_open 8080; then
	die "127.0.0.1:8080 (the '$PROFILE' profile's HTTP port) is in use by something else"
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.out "$OUT"/*.txt "$OUT"/*.tsv "$OUT"/*.err "$OUT"/*.json "$OUT"/*.jsonl "$OUT"/t-sent-* "$OUT"/serve.log "$OUT"/serve2.log
rm -rf "$OUT/pgbench" && mkdir -p "$OUT/pgbench"

# stop_serve [PIDFILE]: SIGTERM, SIGKILL after 10 s (PIDFILE: SERVE_PID unless given; phase t's second serve has its own).
stop_serve() {
	local pidfile=${1:-$SERVE_PID} pid i
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			say "serve ignored SIGTERM for 10 s, killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pidfile"
}
WRK_BG_PID= # a wrk in the background (phase s)
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -z "$WRK_BG_PID" ] || kill -TERM "$WRK_BG_PID" 2>/dev/null || true
	! declare -F flow_cleanup >/dev/null || flow_cleanup || true # phase t's second serve and limit (flow.sh)
	stop_serve
	"$ROOT/scripts/stack.sh" stop "$PROFILE" || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- the stack
say "starting the '$PROFILE' stack"
"$ROOT/scripts/stack.sh" start "$PROFILE" "$BIN"
# shellcheck disable=SC1091
. "$RUN/env"
export PGHOST PGPORT PGUSER=postgres PGDATABASE=orch
REDIS_PORT=${ORCH_REDIS_URL##*:}
REDIS_PORT=${REDIS_PORT%%/*}
URL=http://$ORCH_HTTP_LISTEN

psql_q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -tA "$@"; }
psql_q -c 'SELECT 1' >/dev/null || die "cannot connect to PostgreSQL at $PGHOST:$PGPORT"

# The relay may fall behind the accept path (phase c) and is held back on
# purpose in phase d, so lift load shedding out of the way.
# start_serve [ROLES]: serve in the background (ROLES: ORCH_ROLES; none: the
# default roles), its output appended to .run/bench/serve.log.
start_serve() {
	local roles=${1:-}
	printf 'bench: %s serve started, roles %s\n' "$(date -u +%H:%M:%S)" "${roles:-default}" >>"$OUT/serve.log"
	env -u ORCH_ROLES ${roles:+ORCH_ROLES=$roles} ORCH_MAX_BACKLOG=1000000000 ORCH_HTTP_THREADS="$HTTP_THREADS" \
		"$BIN" serve </dev/null >>"$OUT/serve.log" 2>&1 &
	echo $! >"$SERVE_PID"
}
serve_alive() { kill -0 "$(cat "$SERVE_PID" 2>/dev/null)" 2>/dev/null; }
# wait_serve: 0 once /healthz answers; 1 (with the log's tail) when serve exits or 30 s pass.
wait_serve() {
	local i
	for ((i = 0; i < 300; i++)); do
		curl -sf -o /dev/null "$URL/healthz" && return 0
		serve_alive || { tail -20 "$OUT/serve.log" >&2; say "serve exited during start"; return 1; }
		sleep 0.1
	done
	curl -sf -o /dev/null "$URL/healthz" && return 0
	tail -20 "$OUT/serve.log" >&2
	say "serve did not answer /healthz within 30 s"
	return 1
}
say "starting serve (ORCH_HTTP_THREADS=$HTTP_THREADS, default roles), log in .run/bench/serve.log"
: >"$OUT/serve.log"
start_serve
wait_serve || die "serve did not start"

# One request of each kind first, so a broken accept path fails here with its answer.
bulk_body() {
	local i sep=
	printf '{"messages":['
	for ((i = 1; i <= BULK_SIZE; i++)); do
		printf '%s{"to":"+1415555%04d","from":"ACME","body":"bench message %d"}' "$sep" $((i % 10000)) "$i"
		sep=,
	done
	printf ']}'
}
probe() { # path body
	local status
	status=$(curl -s -o "$OUT/probe.body" -w '%{http_code}' -X POST "$URL$1" \
		-H 'Content-Type: application/json' -H 'X-Consumer-Custom-ID: bench' \
		-H "Idempotency-Key: bench-probe-$1-$$-$RANDOM" --data-binary "$2") || status=000
	if [ "$status" != 202 ]; then
		cat "$OUT/probe.body" >&2 2>/dev/null; echo >&2
		die "POST $1 answered $status, not 202"
	fi
}
probe /v1/sms/send '{"to":"+14155550100","from":"ACME","body":"bench message"}'
probe /v1/sms/bulk "$(bulk_body)"

# nats_request SUBJECT PAYLOAD: one NATS request (the JetStream API) over the
# plain protocol; the reply's payload on stdout, status 1 when none within 5 s.
NATS_PORT=${ORCH_NATS_URL##*:}
RESET_TIMEOUT=180 RESET_WAITS=()
now_s() { date +%s.%N; }
nats_request() {
	local subject=$1 payload=$2 fd line inbox="_INBOX.bench.$$.$RANDOM" rc=1 i
	exec {fd}<>"/dev/tcp/127.0.0.1/$NATS_PORT" || return 1
	printf 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB %s 1\r\nPUB %s %s %d\r\n%s\r\nPING\r\n' \
		"$inbox" "$subject" "$inbox" "${#payload}" "$payload" >&"$fd"
	for ((i = 0; i < 100; i++)); do
		IFS= read -r -t 5 line <&"$fd" || break
		line=${line%$'\r'}
		case $line in
		PING) printf 'PONG\r\n' >&"$fd" ;;
		MSG\ *) IFS= read -r -t 5 line <&"$fd" && { printf '%s\n' "${line%$'\r'}"; rc=0; }; break ;;
		-ERR*) say "NATS: $line"; break ;;
		esac
	done
	exec {fd}>&-
	return $rc
}
# The pipeline's stream holds what earlier phases accepted (their messages
# are gone with the TRUNCATE): purge it, so the pipeline starts each phase idle.
purge_outbound() {
	local reply
	# shellcheck disable=SC2016 # $JS is part of the subject
	reply=$(nats_request '$JS.API.STREAM.PURGE.SMS_OUTBOUND' '') || { say "warning: no answer to the SMS_OUTBOUND purge"; return 0; }
	printf '%s' "$reply" | jq -e '.success == true' >/dev/null 2>&1 || say "warning: SMS_OUTBOUND purge: $reply"
}
# The pipeline consumer's backlog: messages not yet delivered + delivered and not acknowledged ("?" when unknown).
consumer_backlog() {
	# shellcheck disable=SC2016 # $JS is part of the subject
	nats_request '$JS.API.CONSUMER.INFO.SMS_OUTBOUND.orchestrator-pipeline' '' 2>/dev/null |
		jq -r 'if .num_pending != null then .num_pending + .num_ack_pending else "?" end' 2>/dev/null || echo '?'
}
reset_state() {
	local try t0 waited holder=
	# serve's transactions take these tables' locks in other orders than the TRUNCATE (the relay's,
	# long as they wait for JetStream's acks: orch.outbox, then orch.sms_messages; the accept path's
	# and the pipeline's, short: the other way round), so the TRUNCATE can close a deadlock. Its
	# lock_timeout keeps its whole wait (at most 5 tables x 150 ms) under deadlock_timeout (1 s): a
	# transaction of serve that queued behind it can never be the victim; the TRUNCATE gives up
	# first and is tried again, for up to RESET_TIMEOUT s. orch.outbox first: the relay's long
	# transactions are waited for before any other lock is held.
	t0=$(now_s)
	for ((try = 1; ; try++)); do
		psql_q -c "SET lock_timeout = '150ms'" \
			-c 'TRUNCATE orch.outbox, orch.sms_messages, orch.sms_status_history, orch.idempotency_keys CASCADE' \
			>/dev/null 2>"$OUT/truncate.err" && break
		if [ "$try" -eq 5 ]; then # what holds it: the oldest open transaction but ours
			holder=$(psql_q -c "SELECT round(extract(epoch FROM now() - xact_start)::numeric, 1) || ' s: ' ||
			                           left(regexp_replace(query, '\s+', ' ', 'g'), 90)
			                    FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
			                      AND datname = current_database() ORDER BY xact_start LIMIT 1" 2>/dev/null || true)
		fi
		awk -v a="$t0" -v b="$(now_s)" -v c="$RESET_TIMEOUT" 'BEGIN { exit !(b - a >= c) }' &&
			{ cat "$OUT/truncate.err" >&2; die "TRUNCATE did not get its locks within $RESET_TIMEOUT s (oldest transaction: ${holder:-?})"; }
		sleep 0.05
	done
	waited=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$try" -gt 5 ]; then
		say "  reset: TRUNCATE waited $waited s for its locks ($try tries; oldest transaction then: ${holder:-?})"
		RESET_WAITS+=("${waited}s (oldest transaction: ${holder:-?})")
	fi
	rm -f "$OUT/truncate.err"
	purge_outbound
	psql_q -c 'CHECKPOINT' >/dev/null
	# The idempotency fast path's Redis entries too (keys are unique anyway; this keeps memory equal).
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" FLUSHDB >/dev/null 2>&1 || true
}
count_messages() { psql_q -c 'SELECT count(*) FROM orch.sms_messages'; }

failures=()
fail() { failures+=("$1"); say "FAILED: $1"; }

# Percentile (nearest rank) of a sorted one-column file.
percentile() { # file pct
	awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } r = int(NR * p / 100 + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print v[r] }' "$1"
}

# ratio X Y: X / Y to 2 decimals, n/a when Y is not a positive number.
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x ~ /^[0-9.]+$/ && y ~ /^[0-9.]+$/ && y + 0 > 0) printf "%.2f", x / y; else print "n/a" }'; }
# verdict VALUE OP LIMIT: YES or NO (OP: <= or >=), n/a when VALUE is not a number.
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v !~ /^[0-9.]+$/) { print "n/a"; exit }
		ok = (op == "<=") ? (v + 0 <= l + 0) : (v + 0 >= l + 0); print ok ? "YES" : "NO" }'
}

# BENCH_PHASES: which phases run (default all but the soak). Phases e, f, l
# and s pace at a fraction of b's rate, or of BENCH_RATE requests/s when b does not run.
PHASES=${BENCH_PHASES:-0abcdefglptq}
want() { [[ $PHASES == *"$1"* ]]; }
declare -A MPS P50 P99 NOTE
for ph in 0s 0b a b c d e f g s; do MPS[$ph]=0 P50[$ph]=nan P99[$ph]=nan NOTE[$ph]="not run"; done
want b || MPS[b]=${BENCH_RATE:-1000}

# The phases and the cost model that live in files of their own.
# shellcheck source=scripts/bench/floor.sh
. "$SCRIPTS/floor.sh"
# shellcheck source=scripts/bench/cost.sh
. "$SCRIPTS/cost.sh"
# shellcheck source=scripts/bench/latency.sh
. "$SCRIPTS/latency.sh"
# shellcheck source=scripts/bench/soak.sh
. "$SCRIPTS/soak.sh"
# shellcheck source=scripts/bench/flow.sh
. "$SCRIPTS/flow.sh"

# ---------------------------------------------------------------- phase 0: the floor
want 0 && phase_0

# ---------------------------------------------------------------- phase a: pgbench
phase_a() {
say "phase a: pgbench, orch.accept() with 1 message + key per transaction, -c $PG_CLIENTS -j $PG_THREADS -T $SECS"
reset_state
a_rc=0
(cd "$OUT/pgbench" && "$PGBIN/pgbench" -n -M prepared -c "$PG_CLIENTS" -j "$PG_THREADS" -T "$SECS" \
	-f "$SCRIPTS/accept.pgbench" --log --log-prefix=pgbench_log) >"$OUT/pgbench.out" 2>&1 || a_rc=$?
sed 's/^/  /' "$OUT/pgbench.out" | grep -E 'tps|latency|processed|failed|error|ERROR|abort' >&2 || true
a_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/pgbench.out" | head -1)
a_done=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$OUT/pgbench.out" | head -1)
a_failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$OUT/pgbench.out" | head -1)
a_rows=$(count_messages)
cat "$OUT"/pgbench/pgbench_log.* 2>/dev/null | awk '{ print $3 / 1000 }' | sort -n >"$OUT/pgbench/latency_ms.sorted"
MPS[a]=${a_tps:-0}
P50[a]=$(percentile "$OUT/pgbench/latency_ms.sorted" 50)
P99[a]=$(percentile "$OUT/pgbench/latency_ms.sorted" 99)
NOTE[a]="tx=${a_done:-?} failed=${a_failed:-?} rows=$a_rows"
if [ "$a_rc" -ne 0 ] || [ -z "$a_tps" ]; then
	tail -20 "$OUT/pgbench.out" >&2
	fail "phase a: pgbench exited with status $a_rc"
elif [ "${a_failed:-0}" -ne 0 ]; then
	fail "phase a: $a_failed failed transactions"
elif [ "$a_rows" -ne "$a_done" ]; then
	fail "phase a: $a_done transactions but $a_rows messages stored"
fi
}
want a && phase_a

# ---------------------------------------------------------------- phases b and c: wrk
# field NAME: a field of the BENCH_RESULT line in $line (the wrk scripts' summary).
field() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# wrk_result PHASE OUTFILE RC: after a wrk run (phases b, c, e, f), shows its
# summary, reads its BENCH_RESULT line into the caller's line, total, ok, bad
# and sockerr, and fails the phase when wrk failed or too many requests did.
# 1 when there is no result to read.
wrk_result() {
	local ph=$1 out=$2 rc=$3
	grep -E '^  (p50|202)|Requests/sec|Socket errors' "$out" >&2 || true
	line=$(grep '^BENCH_RESULT ' "$out" | tail -1)
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		tail -20 "$out" >&2
		fail "phase $ph: wrk exited with status $rc (no result line)"
		return 1
	fi
	total=$(field responses) ok=$(field ok) bad=$(field non202) sockerr=$(field sockerr)
	if awk -v b="$((bad + sockerr))" -v t="$((total + sockerr))" -v m="$MAX_ERROR_PCT" \
		'BEGIN { exit !(t == 0 || b * 100 > t * m) }'; then
		fail "phase $ph: $bad non-202 answers ($(field codes)) and $sockerr socket errors out of $((total + sockerr)) requests (limit ${MAX_ERROR_PCT}%)"
	fi
	return 0
}

# run_wrk PHASE SCRIPT CONNS MSGS_PER_REQUEST OUTFILE
run_wrk() {
	local ph=$1 script=$2 conns=$3 per=$4 out=$5 rc=0 line total ok bad sockerr rows
	reset_state
	# phase b is a costed window: the wrk load (the relay and the pipeline working meanwhile)
	[ "$ph" != b ] || cost_begin b "b wrk load (accepted)"
	BENCH_RUN_TAG="$$-$ph-$(date +%s)" BENCH_BULK_SIZE=$BULK_SIZE \
		wrk -t"$WRK_THREADS" -c"$conns" -d"${SECS}s" --timeout "$WRK_TIMEOUT" --latency \
		-s "$SCRIPTS/$script" "$URL" >"$out" 2>&1 || rc=$?
	[ "$ph" != b ] || cost_stop b
	rows=$(count_messages)
	if [ "$ph" = b ]; then
		B_SUB_IN_LOAD=$(psql_q -c "SELECT count(*) FROM orch.sms_messages WHERE status = 'SUBMITTED'")
		cost_end b "$rows"
	fi
	if ! wrk_result "$ph" "$out" "$rc"; then
		MPS[$ph]=0 P50[$ph]=nan P99[$ph]=nan NOTE[$ph]="wrk failed"
		return 0
	fi
	MPS[$ph]=$(field msgs_per_s) P50[$ph]=$(field p50_ms) P99[$ph]=$(field p99_ms)
	NOTE[$ph]="202=$ok non202=$bad sockerr=$sockerr rows=$rows"
	[ "$bad" -eq 0 ] || NOTE[$ph]="202=$ok non202=${bad}[$(field codes)] sockerr=$sockerr rows=$rows"
	if [ "$rows" -lt $((ok * per)) ]; then
		fail "phase $ph: $ok requests answered 202 ($((ok * per)) messages) but only $rows messages are stored"
	fi
	serve_alive || fail "phase $ph: serve is no longer running"
}

B_SUB_IN_LOAD=0
if want b; then
	say "phase b: wrk POST /v1/sms/send, 1 message + key per request, -t$WRK_THREADS -c$SEND_CONNS -d${SECS}s"
	run_wrk b send.lua "$SEND_CONNS" 1 "$OUT/wrk-send.out"
fi
if want c; then
	say "phase c: wrk POST /v1/sms/bulk, $BULK_SIZE messages + key per request, -t$WRK_THREADS -c$BULK_CONNS -d${SECS}s"
	run_wrk c bulk.lua "$BULK_CONNS" "$BULK_SIZE" "$OUT/wrk-bulk.out"
fi

# ---------------------------------------------------------------- phase d: relay drain
now_s() { date +%s.%N; }
nats_pid() { cat "$RUN/nats.pid" 2>/dev/null || true; }
# alive PID: running and not a zombie (nats-server is not our child; its reaper may be slow).
pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo Z)" != Z ]; }
# pending_rows [MAX_ID]: unpublished outbox rows (with MAX_ID: those with id <= MAX_ID only).
pending_rows() { psql_q -c "SELECT count(*) FROM orch.outbox WHERE published_at IS NULL${1:+ AND id <= $1}"; }
# The relay's counters from serve's /metrics: "batches rows-published batch-seconds" (sums so far).
relay_metrics() {
	curl -sf "$URL/metrics" 2>/dev/null | awk '
		$1 == "orch_relay_batch_seconds_count" { n = $2 } $1 == "orch_relay_published_total" { r = $2 }
		$1 == "orch_relay_batch_seconds_sum" { s = $2 }
		END { printf "%d %d %.6f\n", n, r, s }'
}
# relay_batches BEFORE AFTER: "N batches, mean R rows, mean T ms" between two relay_metrics.
relay_batches() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[1] - x[1]
		if (n <= 0) { print "no relay batches"; exit }
		printf "%d relay batches, mean %.1f rows, mean %.2f ms", n, (y[2] - x[2]) / n, (y[3] - x[3]) * 1000 / n }'
}
stop_nats() {
	local pid i
	pid=$(nats_pid)
	pid_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
	say "nats-server ignored SIGTERM for 10 s, killing it"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
	return 1
}
RELAY_BATCH=${ORCH_RELAY_BATCH:-500}
D_MSGS_PER_TX=100 D_CLIENTS=4
D_TX_PER_CLIENT=$(((RELAY_MESSAGES + D_MSGS_PER_TX * D_CLIENTS - 1) / (D_MSGS_PER_TX * D_CLIENTS)))
D_MSGS=$((D_TX_PER_CLIENT * D_CLIENTS * D_MSGS_PER_TX))
D_ROWS=$((2 * D_MSGS))

phase_d() {
	local rc=0 pending t0 t1 i secs stats first_s span_s drain_rps m0 maxid
	say "phase d: relay drain: nats-server stopped, outbox filled with $D_MSGS messages ($D_ROWS rows), nats-server started, ORCH_RELAY_BATCH=$RELAY_BATCH"
	reset_state
	stop_nats || { fail "phase d: nats-server (pid $(nats_pid)) did not stop"; return 0; }
	(cd "$OUT/pgbench" && "$PGBIN/pgbench" -n -M prepared -c "$D_CLIENTS" -j 2 -t "$D_TX_PER_CLIENT" \
		-D size="$D_MSGS_PER_TX" -f "$SCRIPTS/relay_fill.pgbench") >"$OUT/pgbench-fill.out" 2>&1 || rc=$?
	grep -E '^(tps|latency average|number of failed)' "$OUT/pgbench-fill.out" | sed 's/^/  fill: /' >&2 || true
	pending=$(pending_rows)
	if [ "$rc" -ne 0 ] || [ "$pending" -ne "$D_ROWS" ]; then
		tail -20 "$OUT/pgbench-fill.out" >&2
		"$ROOT/scripts/stack.sh" start "$PROFILE" >>"$OUT/stack.out" 2>&1 || true
		fail "phase d: filling the outbox: pgbench status $rc, $pending pending rows (expected $D_ROWS)"
		NOTE[d]="fill failed"
		return 0
	fi
	# The fill's rows; the pipeline's own rows (it routes what the relay publishes) come after them.
	maxid=$(psql_q -c 'SELECT coalesce(max(id), 0) FROM orch.outbox')
	m0=$(relay_metrics)
	t0=$(now_s)
	if ! "$ROOT/scripts/stack.sh" start "$PROFILE" >>"$OUT/stack.out" 2>&1; then
		tail -5 "$OUT/stack.out" >&2
		fail "phase d: nats-server did not start again"
		return 0
	fi
	t1=
	for ((i = 0; i < RELAY_TIMEOUT * 10; i++)); do
		pending=$(pending_rows "$maxid")
		[ "$pending" -eq 0 ] && { t1=$(now_s); break; }
		sleep 0.1
	done
	# first and last acknowledgement, in seconds after nats-server was started
	stats=$(psql_q -F ' ' -c "SELECT round((extract(epoch FROM min(published_at)) - $t0)::numeric, 3),
	                                 round((extract(epoch FROM max(published_at) - min(published_at)))::numeric, 3)
	                          FROM orch.outbox WHERE id <= $maxid")
	read -r first_s span_s <<<"$stats"
	drain_rps=$(awk -v n="$D_ROWS" -v s="${span_s:-0}" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }')
	if [ -z "$t1" ]; then
		fail "phase d: $pending of $D_ROWS outbox rows still unpublished ${RELAY_TIMEOUT} s after nats-server started"
		NOTE[d]="rows=$D_ROWS pending=$pending after ${RELAY_TIMEOUT}s"
		return 0
	fi
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	MPS[d]=$(awk -v n="$D_ROWS" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
	D_SECS=$secs D_FIRST=$first_s D_SPAN=$span_s D_DRAIN_RPS=$drain_rps
	D_BATCHES=$(relay_batches "$m0" "$(relay_metrics)")
	NOTE[d]="rows=$D_ROWS in ${secs}s"
	say "  $D_ROWS rows published ${secs} s after nats-server start: ${MPS[d]} rows/s (first ack at +${first_s} s; first to last ack ${span_s} s = $drain_rps rows/s)"
	serve_alive || fail "phase d: serve is no longer running"
}
want d && phase_d

# ---------------------------------------------------------------- phase e: accept -> JetStream ack latency
# paced_wrk TAG RATE SECONDS OUT [bg]: wrk POST /v1/sms/send paced at RATE
# requests/s (scripts/bench/paced.lua), PACED_CONNS connections, for SECONDS;
# wrk's status; with bg, wrk runs in the background, its pid in WRK_BG_PID.
paced_wrk() {
	local pace
	pace=$(awk -v r="$2" -v t="$WRK_THREADS" 'BEGIN { printf "%.4f", 1000 * t / r }')
	if [ "${5:-}" = bg ]; then
		BENCH_RUN_TAG="$$-$1-$(date +%s)" BENCH_PACE_MS=$pace BENCH_PACE_THREADS=$WRK_THREADS \
			wrk -t"$WRK_THREADS" -c"$PACED_CONNS" -d"${3}s" --timeout "$WRK_TIMEOUT" --latency \
			-s "$SCRIPTS/paced.lua" "$URL" >"$4" 2>&1 &
		WRK_BG_PID=$!
		return 0
	fi
	BENCH_RUN_TAG="$$-$1-$(date +%s)" BENCH_PACE_MS=$pace BENCH_PACE_THREADS=$WRK_THREADS \
		wrk -t"$WRK_THREADS" -c"$PACED_CONNS" -d"${3}s" --timeout "$WRK_TIMEOUT" --latency \
		-s "$SCRIPTS/paced.lua" "$URL" >"$4" 2>&1
}

phase_e() {
	local rate out=$OUT/wrk-paced.out rc=0 line ok bad sockerr total i pending stats n npub e_p50 e_p99 m0
	rate=$(awk -v b="${MPS[b]}" 'BEGIN { printf "%.0f", b / 2 }')
	if [ "$rate" -lt 1 ]; then
		fail "phase e: no accept rate from phase b to pace at"
		return 0
	fi
	E_TARGET=$rate
	say "phase e: accept -> JetStream ack latency: wrk POST /v1/sms/send paced at $rate requests/s (half of phase b), -t$WRK_THREADS -c$PACED_CONNS -d${SECS}s"
	reset_state
	m0=$(relay_metrics)
	paced_wrk e "$rate" "$SECS" "$out" || rc=$?
	if ! wrk_result e "$out" "$rc"; then
		NOTE[e]="wrk failed"
		return 0
	fi
	MPS[e]=$(field ok_per_s) E_HTTP_P50=$(field p50_ms) E_HTTP_P99=$(field p99_ms)
	# The relay publishes what was accepted at the end too.
	for ((i = 0; i < RELAY_TIMEOUT * 10; i++)); do
		pending=$(pending_rows)
		[ "$pending" -eq 0 ] && break
		sleep 0.1
	done
	stats=$(psql_q -F ' ' -c "SELECT count(*), count(published_at),
	        coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)))::numeric * 1000, 2)::text, 'nan'),
	        coalesce(round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)))::numeric * 1000, 2)::text, 'nan')
	    FROM orch.outbox WHERE subject = 'sms.outbound.request'")
	read -r n npub e_p50 e_p99 <<<"$stats"
	E_BATCHES=$(relay_batches "$m0" "$(relay_metrics)")
	P50[e]=$e_p50 P99[e]=$e_p99
	NOTE[e]="202=$ok non202=$bad sockerr=$sockerr requests=$n published=$npub"
	[ "$n" -ge "$ok" ] || fail "phase e: $ok requests answered 202 but only $n sms.outbound.request rows are stored"
	[ "$npub" -eq "$n" ] || fail "phase e: $((n - npub)) of $n sms.outbound.request rows still unpublished ${RELAY_TIMEOUT} s after the load"
	serve_alive || fail "phase e: serve is no longer running"
}
want e && phase_e

# ---------------------------------------------------------------- phase f: accept -> SUBMITTED latency
routing_reset() { curl -sf -o /dev/null -X POST "$ORCH_ROUTING_CONTROL/control?reset=1"; }
# submit_wait SECONDS: until every message in the tables is SUBMITTED (polled every 100 ms), at most SECONDS.
submit_wait() {
	local i n nsub
	for ((i = 0; i < $1 * 10; i++)); do
		read -r n nsub <<<"$(psql_q -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE status = 'SUBMITTED') FROM orch.sms_messages")"
		[ "$nsub" -eq "$n" ] && break
		sleep 0.1
	done
}
# submit_stats: accept -> SUBMITTED of every message in the tables, from the
# database: "messages submitted p50 p95 p99 max" (ms; nan when none).
submit_stats() {
	ms() { echo "coalesce(round((percentile_cont($1) WITHIN GROUP (ORDER BY extract(epoch FROM h.at - m.created_at)))::numeric * 1000, 2)::text, 'nan')"; }
	psql_q -F ' ' -c "SELECT count(*), count(h.at), $(ms 0.5), $(ms 0.95), $(ms 0.99),
	                         coalesce(round((max(extract(epoch FROM h.at - m.created_at)) * 1000)::numeric, 2)::text, 'nan')
	                  FROM orch.sms_messages m
	                  LEFT JOIN orch.sms_status_history h ON h.message_id = m.id AND h.status = 'SUBMITTED'"
}
# not_submitted: "STATUS=count ..." of the messages that are not SUBMITTED.
not_submitted() {
	psql_q -c "SELECT coalesce(string_agg(status || '=' || c, ' ' ORDER BY status), '')
	           FROM (SELECT status, count(*) AS c FROM orch.sms_messages WHERE status <> 'SUBMITTED' GROUP BY status) s"
}
# settle: until the relay has published every outbox row (at most
# RELAY_TIMEOUT s), then a second for the backends to publish their counters.
settle() {
	local i
	for ((i = 0; i < RELAY_TIMEOUT * 10; i++)); do
		[ "$(pending_rows)" -eq 0 ] && break
		sleep 0.1
	done
	sleep 1.1
}

phase_f() {
	local rate out=$OUT/wrk-e2e.out rc=0 line ok bad sockerr total n nsub stats t_end p50 p99
	rate=$(awk -v b="${MPS[b]}" 'BEGIN { printf "%.0f", b / 2 }')
	if [ "$rate" -lt 1 ]; then
		fail "phase f: no accept rate from phase b to pace at"
		return 0
	fi
	F_TARGET=$rate
	say "phase f: end to end accept -> SUBMITTED latency: wrk POST /v1/sms/send paced at $rate requests/s (half of phase b), -t$WRK_THREADS -c$PACED_CONNS -d${SECS}s"
	if ! routing_reset; then
		fail "phase f: the routing-engine stand-in did not take POST $ORCH_ROUTING_CONTROL/control?reset=1"
		NOTE[f]="routing engine reset failed"
		return 0
	fi
	reset_state
	paced_wrk f "$rate" "$SECS" "$out" || rc=$?
	t_end=$(now_s)
	if ! wrk_result f "$out" "$rc"; then
		NOTE[f]="wrk failed"
		return 0
	fi
	MPS[f]=$(field ok_per_s) F_HTTP_P50=$(field p50_ms) F_HTTP_P99=$(field p99_ms)
	# Stragglers: up to SUBMIT_WAIT s after the load for every accepted message to be SUBMITTED.
	submit_wait "$SUBMIT_WAIT"
	F_WAIT=$(awk -v a="$t_end" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')
	stats=$(submit_stats)
	read -r n nsub p50 F_P95 p99 F_MAX <<<"$stats"
	P50[f]=$p50 P99[f]=$p99
	F_OTHERS=$(not_submitted)
	F_ROWS_PER_MSG=$(psql_q -c "SELECT CASE WHEN count(DISTINCT message_id) > 0
	                                   THEN round(count(*)::numeric / count(DISTINCT message_id), 2)::text ELSE 'n/a' END
	                            FROM orch.outbox WHERE message_id IS NOT NULL")
	F_N=$n F_SUB=$nsub
	NOTE[f]="202=$ok non202=$bad sockerr=$sockerr messages=$n submitted=$nsub"
	[ "$n" -ge "$ok" ] || fail "phase f: $ok requests answered 202 but only $n messages are stored"
	if [ "$nsub" -lt "$n" ]; then
		NOTE[f]="${NOTE[f]} not-submitted[$F_OTHERS]"
		say "  phase f: $((n - nsub)) of $n messages not SUBMITTED ${SUBMIT_WAIT} s after the load: $F_OTHERS"
	fi
	serve_alive || fail "phase f: serve is no longer running"
}
want f && phase_f

# ---------------------------------------------------------------- phase g: drain of a QUEUED backlog
G_CLIENTS=4 G_MSGS_PER_TX=100
G_TX_PER_CLIENT=$(((DRAIN_MESSAGES + G_MSGS_PER_TX * G_CLIENTS - 1) / (G_MSGS_PER_TX * G_CLIENTS)))
G_MSGS=$((G_TX_PER_CLIENT * G_CLIENTS * G_MSGS_PER_TX))
 G_CAPPED=
phase_g() {
	local rc=0 n pending i t0 t1 now secs healthy='' submitted=0 backlog stats
	say "phase g: drain of $G_MSGS QUEUED messages: serve with ORCH_ROLES=$DRAIN_FILL_ROLES, pgbench fill, relay publishes, serve restarted with the default roles; until all SUBMITTED (cap ${DRAIN_CAP} s)"
	routing_reset || say "warning: the routing-engine stand-in did not take its reset"
	reset_state
	stop_serve
	start_serve "$DRAIN_FILL_ROLES"
	if ! wait_serve; then
		fail "phase g: serve with ORCH_ROLES=$DRAIN_FILL_ROLES did not start"
		NOTE[g]="serve ($DRAIN_FILL_ROLES) did not start"
		start_serve; wait_serve || true
		return 0
	fi
	(cd "$OUT/pgbench" && "$PGBIN/pgbench" -n -M prepared -c "$G_CLIENTS" -j 2 -t "$G_TX_PER_CLIENT" \
		-D size="$G_MSGS_PER_TX" -f "$SCRIPTS/relay_fill.pgbench") >"$OUT/pgbench-drain-fill.out" 2>&1 || rc=$?
	grep -E '^(tps|latency average|number of failed)' "$OUT/pgbench-drain-fill.out" | sed 's/^/  fill: /' >&2 || true
	n=$(count_messages)
	if [ "$rc" -ne 0 ] || [ "$n" -ne "$G_MSGS" ]; then
		tail -20 "$OUT/pgbench-drain-fill.out" >&2
		fail "phase g: filling: pgbench status $rc, $n messages (expected $G_MSGS)"
		NOTE[g]="fill failed"
		stop_serve; start_serve; wait_serve || true
		return 0
	fi
	t0=$(now_s)
	for ((i = 0; i < RELAY_TIMEOUT * 10; i++)); do
		pending=$(pending_rows)
		[ "$pending" -eq 0 ] && break
		sleep 0.1
	done
	G_PUBLISH_S=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$pending" -ne 0 ]; then
		fail "phase g: $pending outbox rows still unpublished ${RELAY_TIMEOUT} s after the fill"
		NOTE[g]="relay did not publish the fill"
		stop_serve; start_serve; wait_serve || true
		return 0
	fi
	stop_serve
	backlog=$(consumer_backlog)
	G_BACKLOG=$backlog
	say "  $G_MSGS messages accepted and published (relay done ${G_PUBLISH_S} s after the fill); pipeline consumer backlog $backlog; starting serve with the default roles"
	cost_begin g "g drain (SUBMITTED)"
	t0=$(now_s)
	start_serve
	t1=
	while :; do
		sleep 0.2
		now=$(now_s)
		if [ -z "$healthy" ] && curl -sf -m 0.2 -o /dev/null "$URL/healthz"; then
			healthy=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
		fi
		submitted=$(psql_q -c "SELECT count(*) FROM orch.sms_messages WHERE status = 'SUBMITTED'")
		now=$(now_s)
		[ "$submitted" -ge "$G_MSGS" ] && { t1=$now; break; }
		serve_alive || break
		awk -v a="$t0" -v b="$now" -v c="$DRAIN_CAP" 'BEGIN { exit !(b - a >= c) }' && break
	done
	secs=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
	MPS[g]=$(awk -v n="$submitted" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
	G_SECS=$secs G_SUB=$submitted G_HEALTHY=${healthy:-n/a}
	stats=$(psql_q -F ' ' -c "SELECT coalesce(round((extract(epoch FROM min(at)) - $t0)::numeric, 2)::text, 'n/a'),
	                                 coalesce(round((extract(epoch FROM max(at)) - $t0)::numeric, 2)::text, 'n/a')
	                          FROM orch.sms_status_history WHERE status = 'SUBMITTED'")
	read -r G_FIRST G_LAST <<<"$stats"
	G_OTHERS=$(not_submitted)
	# the cost window: until the relay has published the pipeline's rows too
	if serve_alive; then settle; fi
	cost_end g "$submitted"
	if ! serve_alive; then
		fail "phase g: serve (default roles) is no longer running"
		NOTE[g]="serve died; $submitted of $G_MSGS SUBMITTED after ${secs}s"
		return 0
	fi
	if [ -n "$t1" ]; then
		NOTE[g]="messages=$G_MSGS submitted=$submitted in ${secs}s"
		G_CAPPED=
	else
		NOTE[g]="messages=$G_MSGS submitted=$submitted at the ${DRAIN_CAP}s cap [$G_OTHERS]"
		G_CAPPED=1
	fi
	say "  $submitted of $G_MSGS SUBMITTED ${secs} s after serve start: ${MPS[g]} messages/s (healthz at +$G_HEALTHY s; first SUBMITTED at +$G_FIRST s, last at +$G_LAST s)${G_CAPPED:+, cut at the ${DRAIN_CAP} s cap}"
}
want g && phase_g

# ---------------------------------------------------------------- phase l: latency curve (scripts/bench/latency.sh)
want l && phase_l

# ---------------------------------------------------------------- phases p, t, q: flow control (scripts/bench/flow.sh)
want p && phase_p
want t && phase_t
want q && phase_q

# ---------------------------------------------------------------- phase s: soak (scripts/bench/soak.sh)
want s && phase_s

# ---------------------------------------------------------------- summary
serve_errors=$(grep -c '"level":"error"' "$OUT/serve.log" || true)
serve_warns=$(grep -c '"level":"warn"' "$OUT/serve.log" || true)
# row PHASE LABEL CONC MESSAGES/S P50 P99 [RATIO]: a line of the table, for a phase that ran.
row() {
	want "${1:0:1}" || return 0
	printf '%-55s %6s %12.0f %9s %9s  %s\n' "$1 $2" "$3" "$4" "$5" "$6" "${7:--}"
}
# pratio PHASE1 PHASE2: the ratio of their messages/s, n/a unless both ran.
pratio() { if want "${1:0:1}" && want "${2:0:1}"; then ratio "${MPS[$1]}" "${MPS[$2]}"; else echo n/a; fi; }
ms2() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+$/) printf "%.2f", v; else print v }'; } # ms to 2 decimals, "-" and nan as they are
{
	echo "sms-orchestrator accept + relay + pipeline benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
	echo "PostgreSQL durable (fsync, synchronous_commit on); ${SECS} s per phase; tables truncated + CHECKPOINT before each;"
	echo "serve: ORCH_HTTP_THREADS=$HTTP_THREADS, ORCH_MAX_BACKLOG=1000000000, ORCH_RELAY_BATCH=$RELAY_BATCH (relay publishing during a-c too);"
	echo "serve roles: default (http,relay,pipeline,scheduler,reconciler) in a-f and g's drain, the pipeline routing what"
	echo "a-e accept too (routing-engine stand-in answering at once); g's fill with ORCH_ROLES=$DRAIN_FILL_ROLES;"
	echo "wrk, serve, PostgreSQL, Redis and nats-server share the cores."
	echo
	echo "phases: $PHASES"
	printf '%-55s %6s %12s %9s %9s  %s\n' "phase" "conc" "messages/s" "p50 ms" "p99 ms" "vs floor"
	printf '%-55s %6s %12s %9s %9s  %s\n' "-------------------------------------------------------" "------" "------------" "---------" "---------" "---------"
	row 0s "floor: pgbench 1 message + 1 outbox row per tx" "$FLOOR_CLIENTS" "${MPS[0s]}" "$(ms2 "${P50[0s]}")" "$(ms2 "${P99[0s]}")"
	row 0b "floor: pgbench $FLOOR_BULK + $FLOOR_BULK rows per tx" "$FLOOR_CLIENTS" "${MPS[0b]}" "$(ms2 "${P50[0b]}")" "$(ms2 "${P99[0b]}")"
	row a "pgbench orch.accept, 1 msg + key per tx" "$PG_CLIENTS" "${MPS[a]}" "$(ms2 "${P50[a]}")" "$(ms2 "${P99[a]}")" "a/0s $(pratio a 0s)"
	row b "wrk POST /v1/sms/send, 1 msg + key per request" "$SEND_CONNS" "${MPS[b]}" "$(ms2 "${P50[b]}")" "$(ms2 "${P99[b]}")" "b/0s $(pratio b 0s)"
	row c "wrk POST /v1/sms/bulk, $BULK_SIZE msgs + key per request" "$BULK_CONNS" "${MPS[c]}" "$(ms2 "${P50[c]}")" "$(ms2 "${P99[c]}")" "c/0b $(pratio c 0b)"
	row d "relay drain of $D_ROWS outbox rows: ROWS/s" "1" "${MPS[d]}" "-" "-"
	row e "send paced at b/2: latency accept -> JetStream ack" "$PACED_CONNS" "${MPS[e]}" "$(ms2 "${P50[e]}")" "$(ms2 "${P99[e]}")"
	row f "send paced at b/2: latency accept -> SUBMITTED" "$PACED_CONNS" "${MPS[f]}" "$(ms2 "${P50[f]}")" "$(ms2 "${P99[f]}")"
	row g "drain of $G_MSGS QUEUED messages to SUBMITTED" "1" "${MPS[g]}" "-" "-" "g/b $(pratio g b)"
	want s && row s "soak paced at $SOAK_RATE/s for $SOAK_SECS s (see below)" "$PACED_CONNS" "${MPS[s]}" "-" "-"
	echo
	if want 0; then
		echo "floor (phase 0, database $FLOOR_DB on the same server: $FLOOR_SETTINGS):"
		echo "  0s ${NOTE[0s]}; 0b ${NOTE[0b]} (messages/s = $FLOOR_BULK x tps)"
		echo "  g/b $(pratio g b) (goal >= 1.2: $(verdict "$(pratio g b)" '>=' 1.2)), g/0s $(pratio g 0s), b/0s $(pratio b 0s), c/0b $(pratio c 0b), a/0s $(pratio a 0s) (n/a: a phase not run)"
		if [ "$KANNEL" = 1 ]; then
			echo "  Kannel 1.4.5 (kannel.sh, $KANNEL_NOTE): accepted $KANNEL_OK msgs/s (p50 $KANNEL_P50 ms, p99 $KANNEL_P99 ms), delivered to its fake SMSC $KANNEL_E2E msgs/s;"
			echo "  g / Kannel delivered $(ratio "${MPS[g]}" "$KANNEL_E2E") (goal >= 1.5: $(verdict "$(ratio "${MPS[g]}" "$KANNEL_E2E")" '>=' 1.5)), b / Kannel accepted $(ratio "${MPS[b]}" "$KANNEL_OK")"
		else
			echo "  Kannel: $KANNEL_NOTE"
		fi
	fi
	want a && echo "ratio b/a (messages/s): $(pratio b a)    ratio c/a: $(pratio c a)"
	echo "latency: a per transaction (pgbench log), b and c per HTTP request (wrk), e and f per message from the database"
	echo "  (e: published_at - created_at of its sms.outbound.request outbox row; f: at of its SUBMITTED history row -"
	echo "  created_at of the message; created_at is the accept transaction's start, so both include the accept's own"
	echo "  latency up to the commit: an upper bound of 202 -> ack / 202 -> SUBMITTED)"
	echo "checks: a ${NOTE[a]}; b ${NOTE[b]}; c ${NOTE[c]}; d ${NOTE[d]}; e ${NOTE[e]}; f ${NOTE[f]}; g ${NOTE[g]}"
	if ! want d; then
		:
	elif [ "${MPS[d]%.*}" -gt 0 ]; then
		need_b=$(awk -v b="${MPS[b]}" 'BEGIN { printf "%.0f", 2 * b }')
		need_c=$(awk -v c="${MPS[c]}" 'BEGIN { printf "%.0f", 2 * c }')
		keeps=$(awk -v d="${MPS[d]}" -v n="$need_b" 'BEGIN { if (d >= n) print "KEEPS UP with"; else print "FALLS BEHIND" }')
		printf 'relay vs accept: relay %.0f rows/s %s phase b (%.0f messages/s x 2 outbox rows = %s rows/s needed; relay/needed = %s);\n' \
			"${MPS[d]}" "$keeps" "${MPS[b]}" "$need_b" "$(ratio "${MPS[d]}" "$need_b")"
		printf '  bulk (phase c, %.0f messages/s) would need %s rows/s (relay/needed = %s)\n' "${MPS[c]}" "$need_c" "$(ratio "${MPS[d]}" "$need_c")"
		echo "  d: ${D_SECS} s from nats-server start to an empty outbox (polled every 100 ms); first ack at +${D_FIRST} s,"
		echo "  first to last ack ${D_SPAN} s = ${D_DRAIN_RPS} rows/s (relay alone, without NATS start and reconnect); $D_BATCHES"
		echo "  d counts the fill's rows only; the pipeline was routing the published requests meanwhile (its rows not counted)"
		if [[ ${F_ROWS_PER_MSG:-} =~ ^[0-9.]+$ ]]; then
			need_e2e=$(awk -v b="${MPS[b]}" -v r="$F_ROWS_PER_MSG" 'BEGIN { printf "%.0f", b * r }')
			echo "  end to end (pipeline on) a message makes $F_ROWS_PER_MSG outbox rows (f): phase b would need $need_e2e rows/s (relay/needed = $(ratio "${MPS[d]}" "$need_e2e")), b/2 $((need_e2e / 2))"
		fi
	else
		echo "relay vs accept: no relay rate (phase d failed)"
	fi
	if ! want e; then
		:
	elif [ "${P99[e]}" != nan ]; then
		printf 'accept -> ack at %.0f requests/s offered (target %s = b/2, %s connections): p50 %s ms, p99 %s ms: p99 < 50 ms: %s\n' \
			"${MPS[e]}" "$E_TARGET" "$PACED_CONNS" "${P50[e]}" "${P99[e]}" \
			"$(awk -v p="${P99[e]}" 'BEGIN { print (p < 50) ? "YES" : "NO" }')"
		echo "  (HTTP latency of the same requests, wrk: p50 $E_HTTP_P50 ms, p99 $E_HTTP_P99 ms); $E_BATCHES"
	else
		echo "accept -> ack: no latency (phase e failed)"
	fi
	want e && echo "  (e ran with the pipeline active: the relay also published the pipeline's ROUTED/SUBMITTED rows meanwhile)"
	if ! want f; then
		:
	elif [ "${P99[f]}" != nan ]; then
		printf 'accept -> SUBMITTED at %.0f requests/s offered (target %s = b/2, %s connections): p50 %s ms, p95 %s ms, p99 %s ms (max %s ms);\n' \
			"${MPS[f]}" "$F_TARGET" "$PACED_CONNS" "${P50[f]}" "$F_P95" "${P99[f]}" "$F_MAX"
		printf '  seed budget P95 500 ms: %s; aim p99 < 50 ms: %s; %s of %s messages SUBMITTED (%s s after the load ended)%s\n' \
			"$(awk -v p="$F_P95" 'BEGIN { print (p <= 500) ? "WITHIN" : "OVER" }')" \
			"$(awk -v p="${P99[f]}" 'BEGIN { print (p < 50) ? "YES" : "NO" }')" "$F_SUB" "$F_N" "$F_WAIT" \
			"$([ "$F_SUB" -lt "$F_N" ] && echo "; NOT SUBMITTED after ${SUBMIT_WAIT} s: $F_OTHERS")"
		echo "  (HTTP latency of the same requests, wrk: p50 $F_HTTP_P50 ms, p99 $F_HTTP_P99 ms); $F_ROWS_PER_MSG outbox rows per message end to end"
	else
		echo "accept -> SUBMITTED: no latency (phase f failed or nothing SUBMITTED: ${NOTE[f]})"
	fi
	if ! want g; then
		:
	elif [ "${MPS[g]%.*}" -gt 0 ]; then
		printf 'backlog drain: %s of %s QUEUED messages SUBMITTED in %s s from serve start = %.0f messages/s%s;\n' \
			"$G_SUB" "$G_MSGS" "$G_SECS" "${MPS[g]}" \
			"$([ -n "$G_CAPPED" ] && echo " (NOTE: cut at the ${DRAIN_CAP} s cap; rate so far; not SUBMITTED: $G_OTHERS)")"
		echo "  healthz at +$G_HEALTHY s, first SUBMITTED at +$G_FIRST s, last at +$G_LAST s; fill published by the relay in"
		echo "  ${G_PUBLISH_S} s with the pipeline off; pipeline consumer backlog at the restart: $G_BACKLOG"
	else
		echo "backlog drain: no rate (phase g failed)"
	fi
	want l && latency_summary
	if want p || want t || want q; then flow_summary; fi
	if [ "${#COST_NAMES[@]}" -gt 0 ]; then
		echo "cost per message (deltas of pg_stat_database for orch, pg_stat_wal, CPU of serve and of all PostgreSQL processes; busy: their"
		echo "  CPU / ($(nproc) cores x secs)), windows:"
		[ -z "${COST_ROW[b]:-}" ] || echo "  b: the wrk load only, per accepted message, with whatever the relay and the pipeline did meanwhile ($B_SUB_IN_LOAD SUBMITTED by its end)"
		[ -z "${COST_ROW[g]:-}" ] || echo "  g: from serve's start until the relay published what the drain caused, per SUBMITTED message, serve's start included"
		[ -z "${COST_ROW[l200]:-}" ] || echo "  l 200/s: from the load's start until the relay was done, per accepted message"
		cost_table | sed 's/^/  /'
		echo "  (ins/upd/del: rows; WAL rec/FPI/bytes/syncs/writes: pg_stat_wal; serve ms, PG ms: CPU ms; the script's polling psql is in the"
		echo "  commits and PG ms; backends publish pg_stat_* at most once a second, so b's database and WAL columns may miss ~1 s)"
		for name in "${COST_NAMES[@]}"; do
			echo "  per stage, ${COST_LABEL[$name]} (pg_stat_statements, serve's toplevel statements, .run/bench/statements-$name.txt):"
			statements_stages "$name"
		done
	fi
	for name in b g; do
		[ -f "$OUT/statements-$name.txt" ] || continue
		echo "top 5 statements of phase $name by total_exec_time (pct of serve's statement time, total, calls, per call, stage, query):"
		statements_top "$name" 5
	done
	want s && soak_summary
	[ "${#RESET_WAITS[@]}" -eq 0 ] || echo "resets that waited for locks (TRUNCATE between phases): ${RESET_WAITS[*]}"
	echo "reconcile passes: $(grep -c '"msg":"reconcile pass"' "$OUT/serve.log" || true), durationMs $(grep -o 'durationMs[^0-9]*[0-9]*' "$OUT/serve.log" | grep -o '[0-9]*$' | paste -sd, - || true)"
	echo "serve log: $serve_errors error line(s), $serve_warns warn line(s) (.run/bench/serve.log)"
	if [ "${#failures[@]}" -gt 0 ]; then
		echo
		for f in "${failures[@]}"; do echo "FAILED: $f"; done
	fi
} | tee "$OUT/summary.txt"
if [ "$serve_errors" -gt 0 ]; then
	echo "first serve errors:" >&2
	grep '"level":"error"' "$OUT/serve.log" | head -5 >&2
fi
if [ "$serve_warns" -gt 0 ]; then
	echo "first serve warnings:" >&2
	grep '"level":"warn"' "$OUT/serve.log" | head -5 >&2
fi
[ "${#failures[@]}" -eq 0 ] || exit 1
