# Sourced by scripts/bench.sh: phase 0, the floor, and the optional Kannel peer.
#
# Phase 0 measures what a durable accept costs this PostgreSQL server at the
# least, with the schema and pgbench scripts of ../shared/peers/pg_limit.sh
# (scripts/bench/floor.sql; the scripts are written as pg_limit.sh writes
# them), in a database of its own (bench_floor, dropped after) on the run
# stack's server, so with the settings the service sees (fsync and
# synchronous_commit on):
#   0s  1 message row + 1 outbox row per transaction (one statement)
#   0b  FLOOR_BULK (100) message rows + as many outbox rows per transaction;
#       messages/s = FLOOR_BULK x tps
# FLOOR_CLIENTS (32) clients, 2 threads, -M prepared, BENCH_SECONDS each,
# TRUNCATE + CHECKPOINT before each; p50/p99 per transaction from pgbench's
# log. serve is running meanwhile, idle (its tables are empty).
# With BENCH_KANNEL=1, ../shared/peers/kannel.sh then runs once with
# STORE_MODES=redis (Kannel's most durable mode: Redis with appendfsync
# always), SEND_CONNS connections, BENCH_KANNEL_SECONDS (default
# BENCH_SECONDS); its accepted and delivered messages/s are read from its
# RESULTS_TSV.
# Needs psql_q, fail, say, percentile, MPS/P50/P99/NOTE and the settings from bench.sh.
# shellcheck shell=bash disable=SC2034,SC2154,SC2153,SC2004 # the globals are bench.sh's (checked with it: shellcheck -x scripts/bench.sh)

FLOOR_DB=bench_floor FLOOR_CLIENTS=32 FLOOR_BULK=100
KANNEL=${BENCH_KANNEL:-0}
KANNEL_SCRIPT=${BENCH_KANNEL_SCRIPT:-$ROOT/../shared/peers/kannel.sh}
KANNEL_SECS=${BENCH_KANNEL_SECONDS:-$SECS}
KANNEL_OK=0 KANNEL_E2E=0 KANNEL_P50=nan KANNEL_P99=nan KANNEL_NOTE="not run (BENCH_KANNEL=1 runs it)"

# exactly 160 GSM-7 characters (one segment), as in pg_limit.sh
FLOOR_TEXT='Your ACME verification code is 482913. It expires in 10 minutes. Do not share this code with anyone. Reply STOP to opt out of messages from ACME Corp. Thank you'
# the outbox payload: a CloudEvents-style envelope, ~420 bytes of jsonb, as in pg_limit.sh
FLOOR_PAYLOAD="jsonb_build_object('specversion','1.0','id',id::text,'source','sms-orchestrator',
    'type','sms.outbound.request','time',created_at,'datacontenttype','application/json',
    'data',jsonb_build_object('messageId',id::text,'account',account,'to',to_e164,'from',sender,
    'segments',segments,'encoding','GSM7','priority','normal','validityPeriod','PT48H'))"

# floor_scripts DIR: the two pgbench scripts, DIR/floor-single.pgbench and DIR/floor-bulk.pgbench.
floor_scripts() {
	local i sep
	cat >"$1/floor-single.pgbench" <<EOF
\\set acct random(1, 1000)
\\set dest random(100000000, 999999999)
WITH m AS (
  INSERT INTO messages (id, account, idempotency_key, to_e164, sender, body, segments, status)
  VALUES (uuid_v7(), 'acct-' || :acct, gen_random_uuid()::text, '+49' || :dest, 'ACME',
          '$FLOOR_TEXT', 1, 'QUEUED')
  RETURNING id, account, to_e164, sender, segments, created_at)
INSERT INTO outbox (message_id, subject, payload)
SELECT id, 'sms.outbound.request', $FLOOR_PAYLOAD FROM m;
EOF
	# the rows are literals in the statement (as a client would send them); only ids and keys are generated
	{
		echo '\set acct random(1, 1000)'
		echo 'WITH m AS ('
		echo '  INSERT INTO messages (id, account, idempotency_key, to_e164, sender, body, segments, status)'
		echo '  VALUES'
		for ((i = 1; i <= FLOOR_BULK; i++)); do
			sep=,
			[ "$i" -lt "$FLOOR_BULK" ] || sep=
			printf "  (uuid_v7(), 'acct-' || :acct, gen_random_uuid()::text, '+4915112%06d', 'ACME', '%s', 1, 'QUEUED')%s\n" \
				"$i" "$FLOOR_TEXT" "$sep"
		done
		echo '  RETURNING id, account, to_e164, sender, segments, created_at)'
		echo 'INSERT INTO outbox (message_id, subject, payload)'
		echo "SELECT id, 'sms.outbound.request', $FLOOR_PAYLOAD FROM m;"
	} >"$1/floor-bulk.pgbench"
}

# floor_run PHASE SCRIPT ROWS_PER_TX
floor_run() {
	local ph=$1 script=$2 per=$3 out=$OUT/pgbench-floor-$1.out rc=0 tps ndone nfailed rows
	psql_q -d "$FLOOR_DB" -c 'TRUNCATE messages, outbox RESTART IDENTITY' -c 'CHECKPOINT' >/dev/null
	(cd "$OUT/pgbench" && PGDATABASE=$FLOOR_DB "$PGBIN/pgbench" -n -M prepared -c "$FLOOR_CLIENTS" -j 2 -T "$SECS" \
		-f "$script" --log --log-prefix="floor_$ph") >"$out" 2>&1 || rc=$?
	grep -E '^(tps|latency average|number of failed)' "$out" | sed "s/^/  $ph: /" >&2 || true
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out" | head -1)
	ndone=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out" | head -1)
	nfailed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out" | head -1)
	rows=$(psql_q -d "$FLOOR_DB" -c 'SELECT count(*) FROM messages')
	cat "$OUT"/pgbench/floor_"$ph".* 2>/dev/null | awk '{ print $3 / 1000 }' | sort -n >"$OUT/pgbench/floor_$ph.sorted"
	MPS[$ph]=$(awk -v t="${tps:-0}" -v r="$per" 'BEGIN { printf "%.1f", t * r }')
	P50[$ph]=$(percentile "$OUT/pgbench/floor_$ph.sorted" 50)
	P99[$ph]=$(percentile "$OUT/pgbench/floor_$ph.sorted" 99)
	NOTE[$ph]="tx=${ndone:-?} tps=${tps:-?} failed=${nfailed:-?} rows=$rows"
	if [ "$rc" -ne 0 ] || [ -z "$tps" ]; then
		tail -20 "$out" >&2
		fail "phase $ph: pgbench exited with status $rc"
	elif [ "${nfailed:-0}" -ne 0 ]; then
		fail "phase $ph: $nfailed failed transactions"
	elif [ "$rows" -ne $((ndone * per)) ]; then
		fail "phase $ph: $ndone transactions of $per but $rows messages stored"
	fi
}

phase_0() {
	say "phase 0: the floor: pg_limit.sh's schema in database $FLOOR_DB, pgbench -c $FLOOR_CLIENTS -j 2 -T $SECS: 0s 1 + 1 row per tx, 0b $FLOOR_BULK + $FLOOR_BULK"
	psql_q -d postgres -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS $FLOOR_DB WITH (FORCE)" \
		-c "CREATE DATABASE $FLOOR_DB" >/dev/null
	psql_q -d "$FLOOR_DB" -f "$SCRIPTS/floor.sql" >/dev/null
	floor_scripts "$OUT/pgbench"
	FLOOR_SETTINGS=$(psql_q -d "$FLOOR_DB" -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name)
		FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method',
		  'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'commit_delay', 'wal_compression', 'jit')")
	floor_run 0s "$OUT/pgbench/floor-single.pgbench" 1
	floor_run 0b "$OUT/pgbench/floor-bulk.pgbench" "$FLOOR_BULK"
	psql_q -d postgres -c "DROP DATABASE IF EXISTS $FLOOR_DB WITH (FORCE)" >/dev/null
	[ "$KANNEL" = 1 ] && kannel_run
	return 0
}

# kannel_run: kannel.sh in its most durable mode; KANNEL_OK and KANNEL_E2E (messages/s), KANNEL_P50/P99 (ms).
kannel_run() {
	local rc=0 row
	if [ ! -f "$KANNEL_SCRIPT" ]; then
		KANNEL_NOTE="$KANNEL_SCRIPT is missing"
		fail "phase 0: BENCH_KANNEL=1 but $KANNEL_SCRIPT is missing"
		return 0
	fi
	say "phase 0: Kannel: $KANNEL_SCRIPT, STORE_MODES=redis, CONCURRENCY=$SEND_CONNS, DURATION=$KANNEL_SECS, RUNS=1 (output in .run/bench/kannel.out)"
	rm -f "$OUT/kannel.tsv"
	DURATION=$KANNEL_SECS RUNS=1 CONCURRENCY=$SEND_CONNS STORE_MODES=redis FSYNC_PROBE=0 RESULTS_TSV=$OUT/kannel.tsv \
		bash "$KANNEL_SCRIPT" </dev/null >"$OUT/kannel.out" 2>&1 || rc=$?
	# mode conc round ok_per_s wrk_rps p50_ms p99_ms e2e_per_s delivered drain_s non2xx socket_errors
	row=$(awk -F '\t' '$1 == "redis" { print $4, $8, $6, $7, $11, $12; exit }' "$OUT/kannel.tsv" 2>/dev/null || true)
	if [ "$rc" -ne 0 ] || [ -z "$row" ]; then
		tail -20 "$OUT/kannel.out" >&2
		KANNEL_NOTE="kannel.sh failed (status $rc)"
		fail "phase 0: kannel.sh exited with status $rc, no result (.run/bench/kannel.out)"
		return 0
	fi
	read -r KANNEL_OK KANNEL_E2E KANNEL_P50 KANNEL_P99 row <<<"$row"
	KANNEL_NOTE="redis store (appendfsync always), $SEND_CONNS connections, ${KANNEL_SECS} s, non-2xx/socket errors $row"
	say "  Kannel: accepted $KANNEL_OK messages/s (p50 $KANNEL_P50 ms, p99 $KANNEL_P99 ms), delivered to its fake SMSC $KANNEL_E2E messages/s"
}
