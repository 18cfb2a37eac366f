#!/usr/bin/env bash
# `make bench-retention`: removing a day of traffic by dropping its
# partitions (orch.partition_upkeep, issue 17) vs by the old batched DELETE
# (a copy of it in scripts/bench/retention.sql, for this comparison only),
# and the accept rate with a full database vs an empty one.
#
#   scripts/bench/retention.sh path/to/sms-orchestrator
#
# On the local `run` stack (durable PostgreSQL), in a database of its own
# (orch_retention, made by `migrate`, dropped at the end), with one `serve`
# (default roles, ORCH_OUTBOX_RETENTION=30d so that its own upkeep drops
# nothing the benchmark measures):
#  1. phase b of `make bench` (wrk POST /v1/sms/send, 1 message + key per
#     request, 64 connections, 2 threads, BENCH_SECONDS) BENCH_RETENTION_REPS
#     (5) times on empty tables (TRUNCATE before each), after a warm-up run
#     that is printed and not counted (so is every series below).
#  2. BENCH_RETENTION_MESSAGES (5,000,000) messages over the BENCH_RETENTION_DAYS
#     (10) UTC days before today, each day in partitions of its own,
#     SUBMITTED, with 3 history rows and 3 published outbox rows each (status
#     event, request, operator publish; CloudEvent-sized payloads), loaded as
#     a restore would (session_replication_role = replica), then VACUUM (FREEZE,
#     ANALYZE) and CHECKPOINT, as a database vacuumed while it grew.
#  3. once no autovacuum worker is busy and the kernel has written back its
#     dirty pages (the load's aftermath, which a database that grew over
#     days does not have), phase b REPS times on the full tables: the
#     median, and its ratio to the empty median (goal >= 0.9). What
#     PostgreSQL was busy with during each run, sampled every second:
#     .run/bench/retention-b-{empty,full,empty-after}-<run>.activity (run 0:
#     the warm-up).
#  4. the removals, oldest day first, after a CHECKPOINT each (so both pay
#     their full-page images):
#       quiet:     drop the oldest day (orch.partition_upkeep, retention
#                  such that only that day is due), then the old DELETE of
#                  the next day (bench_old.purge_before, batches of 1,000,
#                  each committed), then the VACUUM that DELETE leaves to
#                  autovacuum: wall time and WAL (pg_current_wal_lsn) of each.
#       under load: phase b while the next day is dropped (2 s into the
#                  window), and phase b while the day after it is deleted
#                  (the window starts 1 s into the DELETE): messages/s, as a
#                  ratio to step 3's median.
#  5. phase b REPS times on empty tables again (the loaded days emptied by
#     TRUNCATE). The empty median is of steps 1 and 5 together: they
#     bracket step 3, so a drift of the shared machine over the half hour
#     moves both sides alike.
# Prints a table, also in .run/bench/retention.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BIN" ] || { echo "bench-retention: $BIN is not an executable" >&2; exit 2; }
N=${BENCH_RETENTION_MESSAGES:-5000000}
DAYS=${BENCH_RETENTION_DAYS:-10}
REPS=${BENCH_RETENTION_REPS:-5}
SECS=${BENCH_SECONDS:-15}
BATCH=1000
DB=orch_retention
OUT=$ROOT/.run/bench
RUN=$ROOT/.run/run
SCRIPTS=$ROOT/scripts/bench
export BENCH_LUA_DIR=$SCRIPTS

say() { printf 'bench-retention: %s\n' "$*" >&2; }
die() { printf 'bench-retention: FAILED: %s\n' "$*" >&2; exit 1; }
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1000 ] || die "BENCH_RETENTION_MESSAGES must be a whole number >= 1000 (got '$N')"
[[ $DAYS =~ ^[0-9]+$ ]] && [ "$DAYS" -ge 4 ] && [ "$DAYS" -le 60 ] || die "BENCH_RETENTION_DAYS must be 4..60: four days are removed (got '$DAYS')"
[[ $REPS =~ ^[0-9]+$ ]] && [ "$REPS" -ge 1 ] || die "BENCH_RETENTION_REPS must be a whole number >= 1 (got '$REPS')"
[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 3 ] || die "BENCH_SECONDS must be a whole number >= 3 (got '$SECS')"
for tool in wrk curl jq psql awk; do command -v "$tool" >/dev/null || die "$tool is missing (make deps)"; done
[ -f "$RUN/serve.pid" ] && kill -0 "$(cat "$RUN/serve.pid")" 2>/dev/null &&
	die "make run is serving; stop it first (make stop)"

mkdir -p "$OUT"
rm -f "$OUT"/retention-drop-*.json
SERVE_PID= SAMPLER=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
	if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
		kill -TERM "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
	fi
	[ "${BENCH_RETENTION_KEEP:-0}" = 1 ] || psql -X -q -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
	"$ROOT/scripts/stack.sh" stop run >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/scripts/stack.sh" start run "$BIN" >/dev/null
# shellcheck disable=SC1091
. "$RUN/env"
URL=http://$ORCH_HTTP_LISTEN
q() { psql -X -q -v ON_ERROR_STOP=1 -tA -U postgres -d "$DB" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
wal_lsn() { q -c "SELECT pg_current_wal_lsn()"; }
wal_diff() { q -c "SELECT pg_wal_lsn_diff('$2', '$1')::bigint"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }

# ---------------------------------------------------------------- the database
psql -X -q -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
ORCH_DATABASE_URL="host=$PGHOST port=$PGPORT dbname=$DB user=postgres" "$BIN" migrate >"$OUT/retention-migrate.log" 2>&1 ||
	{ tail -20 "$OUT/retention-migrate.log" >&2; die "migrate into $DB failed"; }
# A fresh database's first partitions are the (empty) tables of before
# migration 0006, MINVALUE .. tomorrow: dropped, so that each past day gets
# partitions of its own, as it would have after DAYS days of upkeep.
TODAY=$(q -c "SELECT (now() AT TIME ZONE 'UTC')::date")
q -c "DROP TABLE orch_part.sms_status_history_legacy" -c "DROP TABLE orch_part.sms_messages_legacy" \
	-c "DROP TABLE IF EXISTS orch_part.outbox_legacy" \
	-c "SELECT orch.partition_create(p, '$TODAY'::date - d) FROM generate_series(0, $DAYS) d,
	           unnest(ARRAY['sms_messages', 'sms_status_history', 'outbox']) p" \
	-c "GRANT SELECT ON ALL TABLES IN SCHEMA orch_part TO orch_readonly, orch_app" >/dev/null
q -f "$SCRIPTS/retention.sql" >/dev/null

: >"$OUT/retention-serve.log"
start_serve() {
	env -u ORCH_ROLES ORCH_DATABASE_URL="host=$PGHOST port=$PGPORT dbname=$DB user=orch_service" \
		ORCH_OUTBOX_RETENTION=30d ORCH_MESSAGE_RETENTION=0s ORCH_MAX_BACKLOG=1000000000 ORCH_HTTP_THREADS=4 \
		"$BIN" serve </dev/null >>"$OUT/retention-serve.log" 2>&1 &
	SERVE_PID=$!
	local i
	for ((i = 0; i < 300; i++)); do
		curl -sf -o /dev/null "$URL/healthz" && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$OUT/retention-serve.log" >&2
	die "serve did not answer /healthz"
}
start_serve

# settle: until serve has moved every accepted message on (no open message, no pending outbox row), at most 120 s.
settle() {
	local i open
	for ((i = 0; i < 600; i++)); do
		open=$(q -c "SELECT (SELECT count(*) FROM orch.sms_messages WHERE status IN ('QUEUED', 'ROUTED', 'RETRY_SCHEDULED'))
		                  + (SELECT count(*) FROM orch.outbox WHERE published_at IS NULL)")
		[ "$open" -eq 0 ] && return 0
		sleep 0.2
	done
	say "warning: $open messages or outbox rows still open 120 s after the load"
}
# phase_b OUTFILE: wrk as `make bench` phase b; prints messages/s.
phase_b() {
	local out=$1 line
	BENCH_RUN_TAG="ret-$$-$(date +%s%N)" wrk -t2 -c64 -d"${SECS}s" --timeout 5s --latency \
		-s "$SCRIPTS/send.lua" "$URL" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
	line=$(grep '^BENCH_RESULT' "$out") || { cat "$out" >&2; die "wrk printed no result"; }
	[[ $line =~ non202=0\  ]] || say "warning: non-202 answers: $line"
	sed -E 's/.* msgs_per_s=([0-9.]+).*/\1/' <<<"$line"
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# reset_tables: the four tables emptied. serve's transactions take their locks in
# other orders than a TRUNCATE, which can close a deadlock whose victim is
# serve's: each try waits at most 150 ms (under deadlock_timeout), for up to 60 s.
reset_tables() {
	local i
	for ((i = 0; i < 400; i++)); do
		# (an autovacuum gives way to a waiter only after deadlock_timeout, longer than a try waits)
		q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'
		        AND datname = current_database()" >/dev/null 2>&1 || true
		q -c "SET lock_timeout = '150ms'" \
			-c "TRUNCATE orch.outbox, orch.sms_messages, orch.sms_status_history, orch.idempotency_keys CASCADE" \
			>/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "TRUNCATE did not get its locks in 60 s"
}

# dirty_mb: the kernel's dirty and under-writeback page cache, MB.
dirty_mb() { awk '/^(Dirty|Writeback):/ { s += $2 } END { print int(s / 1024) }' /proc/meminfo; }
# quiesce: the load's aftermath is over before the full runs, as in a database
# that grew over days: no autovacuum worker busy and the kernel's dirty pages
# written back (at most 600 s), then a CHECKPOINT. Prints what it waited for.
quiesce() {
	local i av dirty t0
	t0=$(now_ms)
	for ((i = 0; i < 600; i++)); do
		av=$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
		dirty=$(dirty_mb)
		[ "$av" -eq 0 ] && [ "$dirty" -lt 64 ] && break
		sleep 1
	done
	q -c CHECKPOINT >/dev/null
	echo "$((($(now_ms) - t0) / 1000)) s (autovacuum workers: $av, dirty: $dirty MB)"
}
# sample FILE: every second until killed, what PostgreSQL is busy with (pg_stat_activity, active
# backends but this one) and the kernel's dirty MB: a slow run says why.
sample() {
	local out=$1
	: >"$out"
	while :; do
		{
			echo "-- $(date -u +%T.%N | cut -c1-12) dirty $(dirty_mb) MB"
			q -F ' | ' -c "SELECT backend_type, coalesce(wait_event_type || ':' || wait_event, 'cpu'),
			                      regexp_replace(left(query, 90), '\s+', ' ', 'g')
			               FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()
			                 AND backend_type <> 'walsender' ORDER BY 1, 2" 2>/dev/null || true
		} >>"$out"
		sleep 1
	done
}
# series NAME ARRAY [reset]: a warm-up run of phase b (printed, not counted),
# then REPS runs, each after a CHECKPOINT (and with "reset", after emptying
# the tables), sampled; the REPS rates into ARRAY.
series() {
	local name=$1 reset=${3:-} r rate
	local -n rates=$2
	rates=()
	for ((r = 0; r <= REPS; r++)); do
		[ -z "$reset" ] || reset_tables
		q -c CHECKPOINT >/dev/null
		sample "$OUT/retention-b-$name-$r.activity" &
		SAMPLER=$!
		rate=$(phase_b "$OUT/retention-b-$name-$r.out")
		kill "$SAMPLER" 2>/dev/null || true
		wait "$SAMPLER" 2>/dev/null || true
		SAMPLER=
		if [ "$r" -eq 0 ]; then
			say "phase b, $name, warm-up: $rate messages/s (not counted)"
		else
			rates+=("$rate")
			say "phase b, $name, run $r: $rate messages/s"
		fi
		settle
	done
}
# (empty: before the load, and again after the removals, so that the two
# series bracket the full one: a drift of the shared machine over the
# bench's half hour moves both alike)
series empty EMPTY reset
reset_tables

# ---------------------------------------------------------------- 2. fill
PER_DAY=$(((N + DAYS - 1) / DAYS))
say "loading $((PER_DAY * DAYS)) messages over the $DAYS days before $TODAY (3 history and 3 outbox rows each)"
t0=$(now_ms)
for ((k = DAYS; k >= 1; k--)); do
	q <<SQL >/dev/null
SET synchronous_commit = off;
SET session_replication_role = replica;
CREATE TEMP TABLE day_msgs AS
SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(k || ':' || g), 1, 3) || '8' || substr(md5(k || ':' || g), 4, 15))::uuid AS id,
       g, t
FROM (SELECT $k AS k) AS kk, generate_series(1, $PER_DAY) AS g,
     LATERAL (SELECT ('$TODAY'::date - $k)::timestamp AT TIME ZONE 'UTC'
                     + ((g - 0.5) / $PER_DAY) * interval '1 day' AS t) AS x;
INSERT INTO orch.sms_messages (id, account_id, status, seq, to_e164, sender, body, encoding, segments,
                               valid_until, operator_id, created_at, updated_at, priority)
SELECT id, 'acct-' || (g % 50), 'SUBMITTED', 3, '+1415555' || lpad((g % 10000)::text, 4, '0'), 'ACME',
       'Your code is ' || lpad((g % 1000000)::text, 6, '0') || '. It expires in 10 minutes.', 'GSM7', 1,
       t + interval '1 day', 'op-' || (g % 4), t, t + interval '40 milliseconds',
       CASE WHEN g % 10 = 0 THEN 'high' ELSE 'normal' END
FROM day_msgs;
INSERT INTO orch.sms_status_history (message_id, seq, status, previous_status, at)
SELECT d.id, s.seq, s.status, s.prev, d.t + s.seq * interval '10 milliseconds'
FROM day_msgs d CROSS JOIN (VALUES (1, 'QUEUED', NULL), (2, 'ROUTED', 'QUEUED'), (3, 'SUBMITTED', 'ROUTED')) AS s(seq, status, prev);
INSERT INTO orch.outbox (msg_id, subject, message_id, headers, payload, created_at, first_attempt_at, attempts,
                         published_at, priority)
SELECT e.msg_id, e.subject, d.id, jsonb_build_object('Nats-Msg-Id', e.msg_id, 'Ce-Type', e.subject),
       jsonb_build_object('specversion', '1.0', 'id', e.msg_id, 'source', 'sms-orchestrator', 'type', e.subject,
                          'time', d.t, 'datacontenttype', 'application/json',
                          'data', jsonb_build_object('messageId', d.id, 'accountId', 'acct-' || (d.g % 50),
                                                     'to', '+1415555' || lpad((d.g % 10000)::text, 4, '0'),
                                                     'status', e.status, 'seq', e.n)),
       d.t, d.t + e.n * interval '10 milliseconds', 1, d.t + e.n * interval '10 milliseconds' + interval '2 milliseconds',
       CASE WHEN d.g % 10 = 0 THEN 'high' ELSE 'normal' END
FROM day_msgs d
CROSS JOIN LATERAL (VALUES
    (1, 'sms.events.status', 'QUEUED'), (2, 'sms.outbound.request', 'QUEUED'), (3, 'smpp.operator.op-' || (d.g % 4), 'ROUTED'))
    AS s(n, subject, status)
CROSS JOIN LATERAL (SELECT (lpad(to_hex((extract(epoch FROM d.t) * 1000)::bigint + s.n * 10), 12, '0') || '7'
                            || substr(md5(d.id::text || s.n), 1, 3) || '8' || substr(md5(d.id::text || s.n), 4, 15))::uuid
                    AS msg_id, s.subject, s.status, s.n) AS e;
SQL
	say "  day $(q -c "SELECT '$TODAY'::date - $k"): $PER_DAY messages ($((($(now_ms) - t0) / 1000)) s so far)"
done
# frozen as well: a database that grew over 10 days was vacuumed as it grew;
# without it autovacuum would freeze the 10 days during the runs below.
say "VACUUM (FREEZE, ANALYZE) of the loaded days"
q -c "VACUUM (FREEZE, ANALYZE) orch.sms_messages" -c "VACUUM (FREEZE, ANALYZE) orch.sms_status_history" \
	-c "VACUUM (FREEZE, ANALYZE) orch.outbox" -c CHECKPOINT >/dev/null
FILL_S=$((($(now_ms) - t0) / 1000))
COUNTS=$(q -c "SELECT (SELECT count(*) FROM orch.sms_messages) || ' messages, ' || (SELECT count(*) FROM orch.sms_status_history)
                     || ' history rows, ' || (SELECT count(*) FROM orch.outbox) || ' outbox rows, '
                     || pg_size_pretty(pg_database_size(current_database()))")
say "loaded in $FILL_S s: $COUNTS"
[ "$(q -c "SELECT count(*) FROM orch_part.sms_messages_default")" -eq 0 ] || die "rows landed in the default partition"

# ---------------------------------------------------------------- 3. full
# (and which updates were HOT meanwhile: pg_stat_user_tables before and after, per parent)
hot_rows() {
	q -F ' ' -c "SELECT coalesce(p.relname, s.relname), sum(s.n_tup_upd), sum(s.n_tup_hot_upd)
	             FROM pg_stat_user_tables s
	             LEFT JOIN pg_inherits i ON i.inhrelid = s.relid LEFT JOIN pg_class p ON p.oid = i.inhparent
	             WHERE s.schemaname IN ('orch', 'orch_part') GROUP BY 1 ORDER BY 1"
}
# BENCH_RETENTION_FILLFACTOR: another fillfactor for today's messages partition (the one the runs write), to compare
if [ -n "${BENCH_RETENTION_FILLFACTOR:-}" ]; then
	[[ $BENCH_RETENTION_FILLFACTOR =~ ^[0-9]+$ ]] && [ "$BENCH_RETENTION_FILLFACTOR" -ge 10 ] && [ "$BENCH_RETENTION_FILLFACTOR" -le 100 ] ||
		die "BENCH_RETENTION_FILLFACTOR must be 10..100 (got '$BENCH_RETENTION_FILLFACTOR')"
	q -c "ALTER TABLE orch_part.sms_messages_p$(tr -d - <<<"$TODAY") SET (fillfactor = $BENCH_RETENTION_FILLFACTOR)" >/dev/null
fi
sleep 2 # (a backend's statistics reach pg_stat_user_tables within a second)
say "waiting for the load's aftermath: $(quiesce)"
hot_rows >"$OUT/retention-hot-before.txt"
series full FULL
B_FULL=$(printf '%s\n' "${FULL[@]}" | median)
sleep 2
hot_rows >"$OUT/retention-hot-after.txt"
HOT=$(awk 'NR == FNR { u[$1] = $2; h[$1] = $3; next }
           { du = $2 - u[$1]; dh = $3 - h[$1]
             if (du > 0) printf "  %-22s %10d updates, %10d HOT: %5.1f%%\n", $1, du, dh, 100 * dh / du }' \
	"$OUT/retention-hot-before.txt" "$OUT/retention-hot-after.txt")

# ---------------------------------------------------------------- 4. removals
day_rows() { # DAY: "messages history outbox" still stored for that UTC day
	q -c "SELECT (SELECT count(*) FROM orch.sms_messages WHERE id >= orch.uuid_v7_floor('$1'::date::timestamp AT TIME ZONE 'UTC')
	                   AND id < orch.uuid_v7_floor(('$1'::date + 1)::timestamp AT TIME ZONE 'UTC')) || ' ' ||
	             (SELECT count(*) FROM orch.sms_status_history WHERE message_id >= orch.uuid_v7_floor('$1'::date::timestamp AT TIME ZONE 'UTC')
	                   AND message_id < orch.uuid_v7_floor(('$1'::date + 1)::timestamp AT TIME ZONE 'UTC')) || ' ' ||
	             (SELECT count(*) FROM orch.outbox WHERE msg_id >= orch.uuid_v7_floor('$1'::date::timestamp AT TIME ZONE 'UTC')
	                   AND msg_id < orch.uuid_v7_floor(('$1'::date + 1)::timestamp AT TIME ZONE 'UTC'))"
}
# drop_day K: orch.partition_upkeep with the retention that makes day TODAY-K (and no later one)
# due, called again while it says "more" (one drop a call and transaction), as a reconcile pass does.
drop_day() {
	local k=$1 out all='[]' i
	for ((i = 0; i < 8; i++)); do
		out=$(q -c "SELECT orch.partition_upkeep(false, interval '$((k - 1)) days', interval '$((k - 1)) days')")
		echo "$out" >>"$OUT/retention-drop-$k.json" # (each call's report: what was kept, and why)
		# (kept for lock_timeout: the transactions older than a try's wait, which may hold it)
		jq -e '[.kept[] | select(.reason == "lock_timeout")] | length > 0' <<<"$out" >/dev/null &&
			q -c "SELECT pid, backend_type, state, round(1000 * extract(epoch FROM now() - xact_start)) AS xact_ms, left(query, 200)
			      FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
			        AND xact_start < now() - interval '50 milliseconds'" >>"$OUT/retention-drop-$k.json"
		all=$(jq -c --argjson a "$all" '$a + .dropped' <<<"$out")
		[ "$(jq -r '.more' <<<"$out")" = true ] || break
	done
	echo "$all"
}
delete_day() { # K: the old purge of everything before day TODAY-K+1
	q -c "CALL bench_old.purge_before(('$TODAY'::date - $1 + 1)::timestamp AT TIME ZONE 'UTC', $BATCH)" >/dev/null
}
DAY1=$(q -c "SELECT '$TODAY'::date - $DAYS") DAY2=$(q -c "SELECT '$TODAY'::date - $DAYS + 1")
DAY3=$(q -c "SELECT '$TODAY'::date - $DAYS + 2") DAY4=$(q -c "SELECT '$TODAY'::date - $DAYS + 3")
say "rows of $DAY1 (messages history outbox): $(day_rows "$DAY1")"

# quiet drop
q -c CHECKPOINT >/dev/null
l0=$(wal_lsn) t0=$(now_ms)
DROPPED=$(drop_day "$DAYS")
DROP_MS=$(($(now_ms) - t0)) DROP_WAL=$(wal_diff "$l0" "$(wal_lsn)")
say "drop of $DAY1: $DROP_MS ms, WAL $DROP_WAL bytes, dropped $DROPPED; rows left $(day_rows "$DAY1")"

# a drop under load (the next day)
q -c CHECKPOINT >/dev/null
phase_b "$OUT/retention-b-drop.out" >"$OUT/retention-b-drop.rate" &
wrk_pid=$!
sleep 2
t0=$(now_ms)
DROPPED2=$(drop_day $((DAYS - 1)))
DROP2_MS=$(($(now_ms) - t0))
wait "$wrk_pid" || die "phase b during the drop failed"
B_DROP=$(cat "$OUT/retention-b-drop.rate")
say "phase b while $DAY2 was dropped ($DROP2_MS ms, $DROPPED2): $B_DROP messages/s"
settle

# the old DELETE of the day after, quiet, then the VACUUM it leaves to autovacuum
say "rows of $DAY3 (messages history outbox): $(day_rows "$DAY3")"
q -c CHECKPOINT >/dev/null
l0=$(wal_lsn) t0=$(now_ms)
delete_day $((DAYS - 2))
DEL_MS=$(($(now_ms) - t0)) l1=$(wal_lsn)
DEL_WAL=$(wal_diff "$l0" "$l1")
sleep 1 # (the statistics reach pg_stat_user_tables within a second)
DEAD=$(q -c "SELECT sum(n_dead_tup) FROM pg_stat_user_tables WHERE schemaname = 'orch_part' AND relname LIKE '%_p$(tr -d - <<<"$DAY3")'")
say "DELETE of $DAY3: $DEL_MS ms, WAL $DEL_WAL bytes; rows left $(day_rows "$DAY3"); dead tuples left ${DEAD:-?}"
t0=$(now_ms)
for t in sms_messages sms_status_history outbox; do
	q -c "VACUUM orch_part.${t}_p$(tr -d - <<<"$DAY3")" >/dev/null
done
VAC_MS=$(($(now_ms) - t0)) VAC_WAL=$(wal_diff "$l1" "$(wal_lsn)")
say "its VACUUM: $VAC_MS ms, WAL $VAC_WAL bytes"

# DELETE under load
q -c CHECKPOINT >/dev/null
t0=$(now_ms)
delete_day $((DAYS - 3)) &
del_pid=$!
sleep 1
B_DEL=$(phase_b "$OUT/retention-b-delete.out")
DEL_RUNNING=yes
kill -0 "$del_pid" 2>/dev/null || DEL_RUNNING="no: it ended before the window"
wait "$del_pid" || die "the DELETE of $DAY4 failed"
DEL2_MS=$(($(now_ms) - t0))
say "phase b while $DAY4 was deleted ($DEL2_MS ms; still deleting at the window's end: $DEL_RUNNING): $B_DEL messages/s"
settle

# ---------------------------------------------------------------- 5. empty again
# (the loaded days dropped by TRUNCATE: the partitions stay, as in step 1)
series empty-after EMPTY2 reset
B_EMPTY=$(printf '%s\n' "${EMPTY[@]}" "${EMPTY2[@]}" | median)

# ---------------------------------------------------------------- report
{
	echo "bench-retention: $COUNTS after the load ($N messages over $DAYS days, loaded in $FILL_S s); phase b = wrk POST /v1/sms/send -t2 -c64 -d${SECS}s"
	printf '%-58s %12s %14s\n' "removing one day ($PER_DAY messages, their history and outbox)" "wall" "WAL"
	printf '%-58s %9s ms %14s\n' "drop its partitions (orch.partition_upkeep): $DAY1" "$DROP_MS" "$(mb "$DROP_WAL")"
	printf '%-58s %9s ms %14s\n' "old batched DELETE (batches of $BATCH): $DAY3" "$DEL_MS" "$(mb "$DEL_WAL")"
	printf '%-58s %9s ms %14s\n' "  + the VACUUM it leaves behind ($DEAD dead tuples)" "$VAC_MS" "$(mb "$VAC_WAL")"
	echo "  DELETE / drop: wall x$(ratio "$DEL_MS" "$DROP_MS"), WAL x$(ratio "$DEL_WAL" "$DROP_WAL") (x$(ratio $((DEL_WAL + VAC_WAL)) "$DROP_WAL") with its VACUUM)"
	printf '%-58s %12s %14s\n' "phase b (median of $REPS runs; empty: of $((2 * REPS)))" "messages/s" "ratio"
	printf '%-58s %12s %14s\n' "empty tables" "$B_EMPTY" "-"
	printf '%-58s %12s %14s\n' "$N messages in the tables" "$B_FULL" "$(ratio "$B_FULL" "$B_EMPTY") of empty (goal >= 0.9: $(awk -v r="$(ratio "$B_FULL" "$B_EMPTY")" 'BEGIN { print (r >= 0.9) ? "met" : "NOT met" }'))"
	printf '%-58s %12s %14s\n' "during a drop ($DAY2, $DROP2_MS ms)" "$B_DROP" "$(ratio "$B_DROP" "$B_FULL") of full"
	printf '%-58s %12s %14s\n' "during a DELETE ($DAY4, $DEL2_MS ms)" "$B_DEL" "$(ratio "$B_DEL" "$B_FULL") of full"
	echo "  runs (each series after a warm-up run): empty before the load ${EMPTY[*]}; full ${FULL[*]}; empty after the removals ${EMPTY2[*]}"
	echo "updates during the full runs (with what serve did to move them on), n_tup_hot_upd / n_tup_upd per table:"
	printf '%s\n' "$HOT"
} | tee "$OUT/retention.txt"
