#!/usr/bin/env bash
# `make bench`: how many accepted messages per second, in one run on this machine.
#
#   scripts/bench.sh path/to/sms-orchestrator
#
# Starts the local `run` stack (durable PostgreSQL: fsync and synchronous_commit
# on) and `serve`, then three phases, each from empty tables (TRUNCATE and
# CHECKPOINT before each):
#   a  pgbench: the database floor. One orch.accept() call per transaction with
#      one message and an Idempotency-Key (idempotency row, message, history
#      row, 2 outbox rows), fresh UUIDs each time; 64 clients, 2 threads.
#   b  wrk POST /v1/sms/send: one message per request, a distinct
#      Idempotency-Key per request; 64 connections, 2 threads.
#   c  wrk POST /v1/sms/bulk: 100 messages per request, a distinct key per
#      request; 16 connections, 2 threads.
# and prints messages/s, p50 and p99 for each and the ratios b/a and c/a; the
# table is also written to .run/bench/summary.txt. Raw outputs and the serve
# log are under .run/bench/.
#
# Exits non-zero when a phase fails: pgbench errors or failed transactions,
# more than 1% non-202 answers or socket errors in a wrk phase, serve dying.
#
# Settings (environment):
#   BENCH_SECONDS       length of each phase (default 15)
#   BENCH_HTTP_THREADS  ORCH_HTTP_THREADS for serve (default 4)
#   BENCH_BULK_CONNS    wrk connections in phase c (default 16)
#   BENCH_BULK_SIZE     messages per bulk request (default 100)
#   BENCH_MAX_ERROR_PCT failure threshold for non-202 answers (default 1)
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
WRK_TIMEOUT=5s

PROFILE=run
RUN=$ROOT/.run/$PROFILE
OUT=$ROOT/.run/bench
SERVE_PID=$RUN/serve.pid # where `scripts/stack.sh stop run` (and `make stop`) look for it
SCRIPTS=$ROOT/scripts/bench
PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$PGBIN/pgbench" ] || PGBIN=/usr/lib/postgresql/15/bin

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: FAILED: %s\n' "$*" >&2; exit 1; }

for tool in "$PGBIN/pgbench" "$PGBIN/psql" wrk curl awk sort; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (make deps)"
done
for f in accept.pgbench send.lua bulk.lua; do
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
rm -f "$OUT"/*.out "$OUT"/serve.log "$OUT"/summary.txt
rm -rf "$OUT/pgbench" && mkdir -p "$OUT/pgbench"

stop_serve() {
	local pid i
	[ -f "$SERVE_PID" ] || return 0
	pid=$(cat "$SERVE_PID" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			say "serve ignored SIGTERM for 10 s, killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$SERVE_PID"
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
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

# No relay drains the outbox yet, so lift load shedding out of the way.
say "starting serve (ORCH_HTTP_THREADS=$HTTP_THREADS), log in .run/bench/serve.log"
ORCH_MAX_BACKLOG=1000000000 ORCH_HTTP_THREADS=$HTTP_THREADS \
	"$BIN" serve </dev/null >"$OUT/serve.log" 2>&1 &
echo $! >"$SERVE_PID"
serve_alive() { kill -0 "$(cat "$SERVE_PID")" 2>/dev/null; }
for ((i = 0; i < 300; i++)); do
	curl -sf -o /dev/null "$URL/healthz" && break
	serve_alive || { tail -20 "$OUT/serve.log" >&2; die "serve exited during start"; }
	sleep 0.1
done
curl -sf -o /dev/null "$URL/healthz" || { tail -20 "$OUT/serve.log" >&2; die "serve did not answer /healthz within 30 s"; }

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

reset_state() {
	psql_q -c 'TRUNCATE orch.sms_messages, orch.sms_status_history, orch.outbox, orch.idempotency_keys CASCADE' \
		-c 'CHECKPOINT' >/dev/null
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

# ---------------------------------------------------------------- phase a: pgbench
declare -A MPS P50 P99 NOTE
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

# ---------------------------------------------------------------- phases b and c: wrk
# run_wrk PHASE SCRIPT CONNS MSGS_PER_REQUEST OUTFILE
run_wrk() {
	local ph=$1 script=$2 conns=$3 per=$4 out=$5 rc=0 line total ok bad sockerr rows
	reset_state
	BENCH_RUN_TAG="$$-$ph-$(date +%s)" BENCH_BULK_SIZE=$BULK_SIZE \
		wrk -t"$WRK_THREADS" -c"$conns" -d"${SECS}s" --timeout "$WRK_TIMEOUT" --latency \
		-s "$SCRIPTS/$script" "$URL" >"$out" 2>&1 || rc=$?
	grep -E '^  (p50|202)|Requests/sec|Socket errors' "$out" >&2 || true
	rows=$(count_messages)
	line=$(grep '^BENCH_RESULT ' "$out" | tail -1)
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		tail -20 "$out" >&2
		fail "phase $ph: wrk exited with status $rc (no result line)"
		MPS[$ph]=0 P50[$ph]=nan P99[$ph]=nan NOTE[$ph]="wrk failed"
		return 0
	fi
	field() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	total=$(field responses) ok=$(field ok) bad=$(field non202) sockerr=$(field sockerr)
	MPS[$ph]=$(field msgs_per_s) P50[$ph]=$(field p50_ms) P99[$ph]=$(field p99_ms)
	NOTE[$ph]="202=$ok non202=$bad sockerr=$sockerr rows=$rows"
	[ "$bad" -eq 0 ] || NOTE[$ph]="202=$ok non202=$bad[$(field codes)] sockerr=$sockerr rows=$rows"
	if awk -v b="$((bad + sockerr))" -v t="$((total + sockerr))" -v m="$MAX_ERROR_PCT" \
		'BEGIN { exit !(t == 0 || b * 100 > t * m) }'; then
		fail "phase $ph: $bad non-202 answers ($(field codes)) and $sockerr socket errors out of $((total + sockerr)) requests (limit ${MAX_ERROR_PCT}%)"
	fi
	if [ "$rows" -lt $((ok * per)) ]; then
		fail "phase $ph: $ok requests answered 202 ($((ok * per)) messages) but only $rows messages are stored"
	fi
	serve_alive || fail "phase $ph: serve is no longer running"
}

say "phase b: wrk POST /v1/sms/send, 1 message + key per request, -t$WRK_THREADS -c$SEND_CONNS -d${SECS}s"
run_wrk b send.lua "$SEND_CONNS" 1 "$OUT/wrk-send.out"
say "phase c: wrk POST /v1/sms/bulk, $BULK_SIZE messages + key per request, -t$WRK_THREADS -c$BULK_CONNS -d${SECS}s"
run_wrk c bulk.lua "$BULK_CONNS" "$BULK_SIZE" "$OUT/wrk-bulk.out"

# ---------------------------------------------------------------- summary
serve_errors=$(grep -c '"level":"error"' "$OUT/serve.log" || true)
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (y + 0 > 0) printf "%.2f", x / y; else print "n/a" }'; }
{
	echo "sms-orchestrator accept benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
	echo "PostgreSQL durable (fsync, synchronous_commit on); ${SECS} s per phase; tables truncated + CHECKPOINT before each;"
	echo "serve: ORCH_HTTP_THREADS=$HTTP_THREADS, ORCH_MAX_BACKLOG=1000000000; wrk, serve, PostgreSQL and Redis share the cores."
	echo
	printf '%-52s %6s %12s %9s %9s\n' "phase" "conc" "messages/s" "p50 ms" "p99 ms"
	printf '%-52s %6s %12s %9s %9s\n' "----------------------------------------------------" "------" "------------" "---------" "---------"
	printf '%-52s %6s %12.0f %9.2f %9.2f\n' "a pgbench orch.accept, 1 msg + key per tx" "$PG_CLIENTS" "${MPS[a]}" "${P50[a]}" "${P99[a]}"
	printf '%-52s %6s %12.0f %9.2f %9.2f\n' "b wrk POST /v1/sms/send, 1 msg + key per request" "$SEND_CONNS" "${MPS[b]}" "${P50[b]}" "${P99[b]}"
	printf '%-52s %6s %12.0f %9.2f %9.2f\n' "c wrk POST /v1/sms/bulk, $BULK_SIZE msgs + key per request" "$BULK_CONNS" "${MPS[c]}" "${P50[c]}" "${P99[c]}"
	echo
	echo "ratio b/a (messages/s): $(ratio "${MPS[b]}" "${MPS[a]}")    ratio c/a: $(ratio "${MPS[c]}" "${MPS[a]}")"
	echo "latency: a per transaction (pgbench log), b and c per HTTP request (wrk)"
	echo "checks: a ${NOTE[a]}; b ${NOTE[b]}; c ${NOTE[c]}"
	echo "serve log: $serve_errors error line(s) (.run/bench/serve.log)"
	if [ "${#failures[@]}" -gt 0 ]; then
		echo
		for f in "${failures[@]}"; do echo "FAILED: $f"; done
	fi
} | tee "$OUT/summary.txt"
if [ "$serve_errors" -gt 0 ]; then
	echo "first serve errors:" >&2
	grep '"level":"error"' "$OUT/serve.log" | head -5 >&2
fi
[ "${#failures[@]}" -eq 0 ] || exit 1
