#!/usr/bin/env bash
# Migration 0006 on a database made by the old schema (0001-0005) holding
# 1,000,000 messages over 10 days, with their history and outbox rows: no row
# lost or changed (counts and checksums before and after), the old tables
# attached as partitions (not copied), the relay's backlog carried over, and
# the service's SQL working on the result. Then upkeep by the reconcile
# command (--dry-run reports, a pass creates).
. "$(dirname "$0")/lib.sh"

N=${ORCH_PARTITION_TEST_MESSAGES:-1000000}
DB=orch_part_mig
PGURL="host=$PGHOST port=$PGPORT user=postgres dbname=$DB"
q() { psql -X -q -tA -U postgres -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }

psql -X -q -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
mkdir -p "$T_TMP/old/migrations" "$T_TMP/old/sql"
cp "$ORCH_ROOT"/migrations/000[1-5]_*.sql "$T_TMP/old/migrations/"
ok "the old schema (migrations 0001-0005) is made" \
	env ORCH_DATABASE_URL="$PGURL" "$ORCH_BIN" migrate --from "$T_TMP/old"
is "$(q "SELECT relkind FROM pg_class WHERE oid = 'orch.sms_messages'::regclass")" r "its messages table is a plain table"

# N messages, UUIDv7 ids over the last 10 days (the C side's ids), each
# SUBMITTED with 3 history rows; 3 outbox rows for each of the last 50,000
# (v4 msg_ids, as the old SQL made them), 1,000 of them unpublished. Loaded
# as a restore would (session_replication_role = replica: no trigger, no
# foreign-key check per row; the rows are consistent by construction).
t0=$(date +%s.%N)
q "SET synchronous_commit = off; SET session_replication_role = replica;
INSERT INTO orch.sms_messages (id, account_id, status, seq, to_e164, sender, body, encoding, segments,
                               valid_until, operator_id, created_at, updated_at, priority, bulk_id)
SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15))::uuid,
       'acct-' || (g % 50), 'SUBMITTED', 3, '+1415555' || lpad((g % 10000)::text, 4, '0'), 'ACME',
       'message ' || g, 'GSM7', 1, t + interval '1 day', 'op-' || (g % 4), t, t + interval '2 seconds',
       CASE WHEN g % 10 = 0 THEN 'high' ELSE 'normal' END, NULL
FROM generate_series(1, $N) AS g,
     LATERAL (SELECT now() - interval '10 days' + (g::double precision / $N) * interval '10 days' - interval '1 minute') AS x(t)" >/dev/null
q "SET synchronous_commit = off; SET session_replication_role = replica;
INSERT INTO orch.sms_status_history (message_id, seq, status, previous_status, at)
SELECT m.id, s.seq, s.status, s.prev, m.created_at + s.seq * interval '1 second'
FROM orch.sms_messages m
CROSS JOIN (VALUES (1, 'QUEUED', NULL), (2, 'ROUTED', 'QUEUED'), (3, 'SUBMITTED', 'ROUTED')) AS s(seq, status, prev)" >/dev/null
q "SET synchronous_commit = off; SET session_replication_role = replica;
INSERT INTO orch.outbox (msg_id, subject, message_id, headers, payload, created_at, first_attempt_at, attempts, published_at)
SELECT gen_random_uuid(), s.subject, m.id, '{}', jsonb_build_object('id', m.id, 'n', s.n), m.created_at,
       m.created_at, 1, m.created_at + interval '1 second'
FROM (SELECT id, created_at FROM orch.sms_messages ORDER BY id DESC LIMIT 50000) AS m
CROSS JOIN (VALUES (1, 'sms.events.status'), (2, 'sms.outbound.request'), (3, 'smpp.operator.op-1')) AS s(n, subject)
ORDER BY m.id, s.n;
UPDATE orch.outbox SET published_at = NULL, first_attempt_at = NULL, attempts = 0
WHERE id > (SELECT max(id) - 1000 FROM orch.outbox)" >/dev/null
q "ANALYZE" >/dev/null
diag "made $N messages and their rows in $(echo "$(date +%s.%N) - $t0" | bc) s"

sums() {
	q "SELECT (SELECT count(*) || ':' || sum(hashtextextended(m::text, 0)) FROM orch.sms_messages m) || ' '
	       || (SELECT count(*) || ':' || sum(hashtextextended(h::text, 0)) FROM orch.sms_status_history h) || ' '
	       || (SELECT count(*) || ':' || sum(hashtextextended((o.id, o.msg_id, o.subject, o.message_id, o.payload, o.published_at)::text, 0))
	           FROM $1 o) || ' '
	       || (SELECT count(*) FROM $2 WHERE published_at IS NULL)"
}
before=$(sums orch.outbox orch.outbox)
like "$before" "^$N:-?[0-9]+ $((N * 3)):-?[0-9]+ 150000:-?[0-9]+ 1000\$" "before: $N messages, $((N * 3)) history rows, 150,000 outbox rows, 1,000 pending"
maxid=$(q "SELECT max(id) FROM orch.outbox")

# Migrate while a writer keeps reading and writing the hot tables: the
# longest any of its statements waited is what the migration cost it.
(
	end=$((SECONDS + 30)); worst=0
	while [ $SECONDS -lt $end ] && [ ! -e "$T_TMP/migrated" ]; do
		s=$(date +%s%N)
		psql -X -q -tA -U postgres -d "$DB" -c "SELECT count(*) FROM orch.sms_messages WHERE id = '00000000-0000-7000-8000-000000000000'" >/dev/null 2>&1
		w=$((($(date +%s%N) - s) / 1000000)); [ $w -gt $worst ] && worst=$w
	done
	echo "$worst" >"$T_TMP/worst_wait_ms"
) &
prober=$!
sleep 0.3
t0=$(date +%s%N)
out=$(ORCH_DATABASE_URL="$PGURL" "$ORCH_BIN" migrate 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
touch "$T_TMP/migrated"; wait $prober
is "$rc" 0 "migrate applies 0006 to the old database"
like "$out" '"file":"migrations/0006_time_partitions.sql"' "it names the migration it applied"
diag "migration 0006 on $N messages: ${ms} ms in one transaction; a reader's longest statement meanwhile: $(cat "$T_TMP/worst_wait_ms") ms"

after=$(sums "(SELECT * FROM orch.outbox UNION ALL SELECT * FROM orch_part.outbox_legacy)" orch.outbox)
is "$after" "$before" "after: the same rows, the same checksums (messages, history, outbox with its old table)"
is "$(q "SELECT relkind FROM pg_class WHERE oid = 'orch.sms_messages'::regclass")" p "orch.sms_messages is partitioned"
is "$(q "SELECT count(*) FROM orch_part.sms_messages_legacy")" "$N" "the old messages table is a partition, with every message"
is "$(q "SELECT count(*) FROM orch_part.sms_status_history_legacy")" "$((N * 3))" "and the old history table"
is "$(q "SELECT count(*) FROM orch.outbox WHERE published_at IS NULL")" 1000 "the relay's backlog moved to the new outbox"
is "$(q "SELECT count(*) FROM orch_part.outbox_legacy WHERE published_at IS NULL")" 0 "and left the old one"
is "$(q "SELECT count(*) FROM orch.outbox o JOIN orch_part.outbox_legacy l ON l.msg_id = o.msg_id")" 0 \
	"no msg_id in both"
is "$(q "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = 'orch_part.sms_messages_legacy'::regclass")" \
	"$(q "SELECT count(*) FROM pg_index WHERE indrelid = 'orch.sms_messages'::regclass")" \
	"the old table's indexes were reused (as many as the parent's, none built twice)"

# The service's SQL on the migrated database.
mid=$(q "SELECT orch.uuid_v7()")
q "SELECT orch.accept_message('$mid', 'acct-new', '+14155550100', 'ACME', 'after', 'GSM7', 1, NULL, NULL,
                             now() + interval '1 day', NULL, NULL, NULL)" >/dev/null
is "$(q "SELECT status FROM orch.sms_messages WHERE id = '$mid'")" QUEUED "a message accepted after the migration is stored"
ok "its outbox rows take ids after the old ones" \
	test "$(q "SELECT min(id) FROM orch.outbox WHERE message_id = '$mid'")" -gt "$maxid"
is "$(q "SELECT count(*) FROM orch.outbox_claim(5000, '2 minutes') c
         WHERE c.msg_id IN (SELECT msg_id FROM orch.outbox WHERE message_id = '$mid')")" 2 \
	"the relay claims its rows through the new outbox"
old=$(q "SELECT id FROM orch.sms_messages ORDER BY id LIMIT 1")
is "$(q "SELECT orch.message_json(id, account_id) IS NOT NULL FROM orch.sms_messages WHERE id = '$old'")" t \
	"GET's document of an old message is found"
like "$(q "EXPLAIN (COSTS OFF) SELECT * FROM orch.sms_messages WHERE id = '$old'")" 'sms_messages_legacy' \
	"and looked up in the old table's partition only"

# Upkeep by the cron command: --dry-run reports, a pass creates what is missing.
q "DROP TABLE orch_part.sms_status_history_p$(date -u -d '+3 days' +%Y%m%d), orch_part.sms_messages_p$(date -u -d '+3 days' +%Y%m%d)"
out=$(ORCH_DATABASE_URL="$PGURL" "$ORCH_BIN" reconcile --dry-run 2>/dev/null)
like "$out" "\"created\":\\[[^]]*\"sms_messages_p$(date -u -d '+3 days' +%Y%m%d)\"" "reconcile --dry-run reports the partition it would create"
is "$(q "SELECT to_regclass('orch_part.sms_messages_p$(date -u -d '+3 days' +%Y%m%d)') IS NULL")" t "and creates nothing"
out=$(ORCH_DATABASE_URL="$PGURL" "$ORCH_BIN" reconcile 2>/dev/null)
is "$(q "SELECT to_regclass('orch_part.sms_messages_p$(date -u -d '+3 days' +%Y%m%d)') IS NOT NULL")" t "a reconcile pass creates it"
like "$out" '"partition_default_rows":\{"found":0' "and finds no row in a default partition"

psql -X -q -U postgres -d postgres -c "DROP DATABASE $DB" >/dev/null
done_testing
