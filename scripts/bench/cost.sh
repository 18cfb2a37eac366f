# Sourced by scripts/bench.sh: the cost model per message and the top
# statements of a phase (phases b and g, and the latency curve's 200/s step).
#
# cost_begin NAME takes a snapshot and resets pg_stat_statements; cost_end NAME
# MESSAGES takes another and keeps, per message, the deltas of
#   pg_stat_database (database orch): xact_commit, tup_inserted, tup_updated, tup_deleted
#   pg_stat_wal: wal_records, wal_fpi, wal_bytes, wal_sync, wal_write
#   CPU of serve: utime + stime of its process (all threads), /proc/<pid>/stat
#   CPU of PostgreSQL: utime + stime of the postmaster (pid from postmaster.pid
#     in the data dir) and of every live process whose parent it is, plus the
#     postmaster's cutime + cstime (the processes that exited and it reaped):
#     so a backend that ends inside the window is still counted
# and writes .run/bench/statements-NAME.txt: the top 10 toplevel statements of
# serve's role (orch_service) in database orch by total_exec_time, and the
# same statements summed per stage (which component sends them, by their text).
# Backends publish their pg_stat_* counters at most once a second, so a window
# ends with up to ~1 s of them not yet counted where serve is still busy at its
# end (phase b); the CPU figures are exact. The script's own psql polling
# (counting messages) is in the database and PostgreSQL CPU columns, not in
# the statements (another role).
# Needs psql_q, SERVE_PID, OUT and ORCH_PG_DATA from bench.sh.
# shellcheck shell=bash disable=SC2034,SC2154,SC2153 # the globals are bench.sh's (checked with it: shellcheck -x scripts/bench.sh)

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
declare -A COST_T0 COST_S0 COST_T1 COST_S1 COST_ROW COST_LABEL
COST_NAMES=()

# proc_ticks PID: utime + stime of a process in clock ticks (0 when it is not running).
proc_ticks() {
	if [ -z "$1" ] || [ ! -r "/proc/$1/stat" ]; then echo 0; return 0; fi
	# the command name (field 2) may hold spaces: read the fields after its closing parenthesis
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# pg_ticks: CPU ticks of all PostgreSQL processes so far (see the top).
pg_ticks() {
	local pm
	pm=$(head -1 "$ORCH_PG_DATA/postmaster.pid" 2>/dev/null || true)
	[ -n "$pm" ] || { echo 0; return 0; }
	# cat skips the processes that are gone by the time it opens their stat file
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$pm" '
		{ pid = $1; sub(/^.*\) /, "")
		  if ($2 == pm) t += $12 + $13
		  else if (pid == pm) t += $12 + $13 + $14 + $15 }
		END { print t + 0 }'
}
# cost_snap: "commits ins upd del wal_records wal_fpi wal_bytes wal_sync wal_write serve_ticks pg_ticks"
cost_snap() {
	local db
	db=$(psql_q -F ' ' -c "SELECT d.xact_commit, d.tup_inserted, d.tup_updated, d.tup_deleted,
	                              w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_sync, w.wal_write
	                       FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = 'orch'")
	echo "$db $(proc_ticks "$(cat "$SERVE_PID" 2>/dev/null || true)") $(pg_ticks)"
}
# statements_reset: once per run, the extension in orch (the library is preloaded by the run stack).
STATEMENTS_OK=
statements_reset() {
	if [ -z "$STATEMENTS_OK" ]; then
		if psql_q -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null 2>"$OUT/statements.err"; then
			STATEMENTS_OK=1
		else
			STATEMENTS_OK=no
			say "warning: no pg_stat_statements in database orch: $(head -1 "$OUT/statements.err")"
		fi
	fi
	[ "$STATEMENTS_OK" = 1 ] && psql_q -c 'SELECT pg_stat_statements_reset()' >/dev/null
	return 0
}

# cost_begin NAME LABEL: the start of a costed window. A second first, so the
# idle backends have published the counters of what came before.
cost_begin() {
	COST_LABEL[$1]=$2
	sleep 1.1
	statements_reset
	COST_S0[$1]=$(cost_snap)
	COST_T0[$1]=$(now_s)
}
# cost_stop NAME: the end of the window, when the messages are counted after it.
cost_stop() {
	COST_T1[$1]=$(now_s)
	COST_S1[$1]=$(cost_snap)
}
# cost_end NAME MESSAGES: the end of the window (unless cost_stop marked it);
# the per-message row kept in COST_ROW[NAME] (MESSAGES secs commits ins upd
# del wal_rec fpi wal_bytes syncs writes serve_ms pg_ms busy%), the statements written.
cost_end() {
	local name=$1 msgs=$2
	[ -n "${COST_S1[$name]:-}" ] || cost_stop "$name"
	COST_ROW[$name]=$(awk -v a="${COST_S0[$name]}" -v b="${COST_S1[$name]}" -v n="$msgs" -v hz="$CLK_TCK" \
		-v t0="${COST_T0[$name]}" -v t1="${COST_T1[$name]}" -v cores="$(nproc)" 'BEGIN {
		split(a, x, " "); split(b, y, " "); secs = t1 - t0
		for (i = 1; i <= 11; i++) d[i] = y[i] - x[i]
		if (d[10] < 0) d[10] = y[10] # serve restarted inside the window: its CPU since its start
		cpu = (d[10] + d[11]) / hz
		if (n <= 0) n = 0
		printf "%d %.1f", n, secs
		for (i = 1; i <= 9; i++) printf (i == 7 ? " %.0f" : " %.3f"), (n > 0 ? d[i] / n : 0)
		printf " %.3f %.3f %.0f\n", (n > 0 ? d[10] * 1000 / hz / n : 0), (n > 0 ? d[11] * 1000 / hz / n : 0),
			(secs > 0 ? 100 * cpu / (secs * cores) : 0) }')
	COST_NAMES+=("$name")
	statements_dump "$name" "$msgs"
}

# The stage a toplevel statement belongs to, by its text (SQL expression over
# query). One text sent by two components is one entry of pg_stat_statements
# and goes to the first (orch.outbox_mark_published: the relay, and the
# pipeline's own relay lane where it has one).
STAGE_SQL="CASE
	WHEN query ~ 'orch\.accept\(' THEN 'accept'
	WHEN query ~ 'orch\.outbox_claim_message_rows\(' THEN 'pipeline'
	WHEN query ~ 'orch\.(outbox_claim|outbox_mark_published|outbox_mark_failed|outbox_stamp_operator_rows|relay_stamp)\(|synchronous_commit|LISTEN orch_outbox' THEN 'relay'
	WHEN query ~ 'orch\.pipeline_(prepare|apply)\(' THEN 'pipeline'
	WHEN query ~ 'orch\.(retry_due|next_retry_at|release_scheduled|next_due_at)\(|orch_retry' THEN 'scheduler'
	WHEN query ~ 'orch\.(reconcile|outbox_purge|idempotency_purge)\(|advisory' THEN 'reconciler, purges'
	WHEN query ~ 'outbox_backlog_estimate|schema_migrations|v_operator_limits' THEN 'monitor'
	WHEN query ~ 'orch\.(message_json|idempotency_lookup|bulk_json|cancel|cancel_bulk)\(' THEN 'api lookups'
	WHEN query ~* '^\s*(BEGIN|COMMIT|ROLLBACK)' THEN 'BEGIN/COMMIT'
	WHEN query ~* '^\s*NOTIFY' THEN 'NOTIFY (wake-ups)'
	ELSE 'other' END"
STATEMENTS_WHERE="toplevel AND userid = 'orch_service'::regrole AND dbid = (SELECT oid FROM pg_database WHERE datname = 'orch')"

# statements_dump NAME MESSAGES: .run/bench/statements-NAME.txt (for reading)
# and statements-NAME.tsv (top 10, then "stage" lines, for the summary), from
# one copy of pg_stat_statements.
statements_dump() {
	local name=$1 msgs=$2 f=$OUT/statements-$1
	[ "$STATEMENTS_OK" = 1 ] || { echo "no pg_stat_statements" >"$f.txt"; : >"$f.tsv"; return 0; }
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off -P footer=off >"$OUT/statements.err" 2>&1 <<EOSQL || say "warning: statements of $name: $(head -1 "$OUT/statements.err")"
CREATE TEMP TABLE s AS
  SELECT ($STAGE_SQL) AS stage, calls, total_exec_time, mean_exec_time, rows, wal_bytes,
         shared_blks_hit, shared_blks_read, left(regexp_replace(query, '\s+', ' ', 'g'), 200) AS query
  FROM pg_stat_statements WHERE $STATEMENTS_WHERE;
CREATE TEMP VIEW top AS
  SELECT row_number() OVER (ORDER BY total_exec_time DESC) AS "#", calls,
         round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms,
         round((100 * total_exec_time / nullif(sum(total_exec_time) OVER (), 0))::numeric, 1) AS pct,
         rows, wal_bytes, shared_blks_hit AS hit, shared_blks_read AS read, stage, query
  FROM s ORDER BY total_exec_time DESC LIMIT 10;
CREATE TEMP VIEW stages AS
  SELECT stage, sum(calls) AS calls, round(sum(calls)::numeric / nullif($msgs, 0), 3) AS calls_per_msg,
         round((sum(total_exec_time) / nullif($msgs, 0))::numeric, 4) AS exec_ms_per_msg,
         round(sum(rows)::numeric / nullif($msgs, 0), 2) AS rows_per_msg,
         round(sum(wal_bytes) / nullif($msgs, 0), 0) AS wal_bytes_per_msg,
         round((100 * sum(total_exec_time) / nullif(sum(sum(total_exec_time)) OVER (), 0))::numeric, 1) AS pct_exec
  FROM s GROUP BY stage ORDER BY sum(total_exec_time) DESC;
\o $f.txt
\qecho 'pg_stat_statements, window $name ($msgs messages): toplevel statements of role orch_service in database orch'
\qecho 'top 10 by total_exec_time (ms: execution only, not planning; pct: of all such statements):'
SELECT * FROM top;
\qecho 'per stage (the component that sends a statement, by its text), per message of the window:'
SELECT * FROM stages;
\qecho 'the statements of stage other:'
SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, query FROM s WHERE stage = 'other' ORDER BY total_exec_time DESC;
\o $f.tsv
\pset format unaligned
\pset fieldsep '\t'
\pset tuples_only on
SELECT 'top', * FROM top;
SELECT 'stage', * FROM stages;
EOSQL
}
# statements_top NAME N: the top N of a window for the summary, one line each.
statements_top() {
	[ -s "$OUT/statements-$1.tsv" ] || { echo "  (no pg_stat_statements)"; return 0; }
	awk -F '\t' -v n="$2" '$1 == "top" && c++ < n {
		printf "  %5s%% %10s ms %8s calls %8s ms/call  %-10s %s\n", $6, $4, $3, $5, $11, substr($12, 1, 100) }' \
		"$OUT/statements-$1.tsv"
}
# statements_stages NAME: the per-stage lines of a window for the summary.
statements_stages() {
	[ -s "$OUT/statements-$1.tsv" ] || return 0
	awk -F '\t' '$1 == "stage" {
		printf "    %-18s %5s%% of exec time, %7s calls/msg, %8s exec ms/msg, %6s rows/msg, %5s WAL bytes/msg\n", $2, $8, $4, $5, $6, $7 }' \
		"$OUT/statements-$1.tsv"
}

# cost_table: the summary's table, one row per window (per message but the first two columns).
cost_table() {
	local name
	[ "${#COST_NAMES[@]}" -gt 0 ] || return 0
	printf '%-26s %7s %6s %7s %6s %6s %6s %7s %5s %9s %6s %6s %8s %8s %5s\n' "per message, window" msgs secs \
		commits ins upd del "WAL rec" FPI "WAL bytes" syncs writes "serve ms" "PG ms" "busy"
	for name in "${COST_NAMES[@]}"; do
		# shellcheck disable=SC2086 # the row's fields
		printf '%-26s %7s %6s %7s %6s %6s %6s %7s %5s %9s %6s %6s %8s %8s %4s%%\n' "${COST_LABEL[$name]}" ${COST_ROW[$name]}
	done
}
