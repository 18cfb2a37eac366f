#!/usr/bin/env bash
# reconcile (cron mode): every finding of domain.md crafted in SQL, --dry-run, the repair, two passes at once, purges.
. "$(dirname "$0")/lib.sh"
A=acct-rec-$$
reconcile() { "$ORCH_BIN" reconcile "$@" 2>>"$T_TMP/reconcile.err"; }
# new_msg [valid_until]: a QUEUED message of account A; prints its id.
new_msg() {
	local id
	id=$(sql "SELECT gen_random_uuid()")
	sql "SELECT orch.accept_message('$id', '$A', '+14155550100', 'ACME', 'x', 'GSM7', 1, NULL, NULL, ${1:-now() + interval '1 day'}, NULL, NULL, NULL)" >/dev/null
	sql "UPDATE orch.outbox SET first_attempt_at = now(), published_at = now() WHERE message_id = '$id'" >/dev/null
	echo "$id"
}
routed() { sql "SELECT orch.transition('$1', 'QUEUED', 'ROUTED', p_operator_id => 'op-rec', p_route_id => 'r-1', p_routing_attempt => true)" >/dev/null; }
age() { sql "UPDATE orch.sms_messages SET updated_at = now() - interval '5 minutes' WHERE id = '$1'" >/dev/null; }
op_row() { sql "UPDATE orch.outbox SET $2 WHERE message_id = '$1' AND subject LIKE 'smpp.operator.%'" >/dev/null; }
state() { sql "SELECT status || '/' || seq FROM orch.sms_messages WHERE id = '$1'"; }
snapshot() { sql "SELECT string_agg(id || status || seq, ',' ORDER BY id) FROM orch.sms_messages WHERE account_id = '$A'"; }
found() { jq -r ".findings.$2.found" <<<"$1"; }
repaired() { jq -r ".findings.$2.repaired" <<<"$1"; }

# Leave nothing from other tests to find (the split-role tests leave QUEUED messages): only account A's crafted ones.
sql "SELECT count(orch.transition(id, status, 'FAILED', 'test_cleanup', 'ended by 10_reconcile.sh'))
     FROM orch.sms_messages WHERE status IN ('QUEUED', 'ROUTED', 'RETRY_SCHEDULED')" >/dev/null
sql "UPDATE orch.outbox SET first_attempt_at = coalesce(first_attempt_at, now()), published_at = now() WHERE published_at IS NULL" >/dev/null
reconcile >/dev/null

pub=$(new_msg); routed "$pub"; op_row "$pub" "first_attempt_at = now() - interval '5 minutes', published_at = now() - interval '5 minutes'"; age "$pub"
past=$(new_msg); routed "$past"; op_row "$past" "first_attempt_at = now() - interval '3 minutes'"
inwin=$(new_msg); routed "$inwin"; op_row "$inwin" "first_attempt_at = now() - interval '30 seconds'"; age "$inwin"
never=$(new_msg); routed "$never"; age "$never"
norow=$(new_msg); routed "$norow"; sql "DELETE FROM orch.outbox WHERE message_id = '$norow' AND subject LIKE 'smpp.%'" >/dev/null; age "$norow"
queued=$(new_msg); age "$queued"
# QUEUED as long, but its request was published a moment ago (published again, or the stream's
# backlog is long): not stuck yet
recent=$(new_msg); age "$recent"
retry=$(new_msg)
sql "SELECT orch.transition('$retry', 'QUEUED', 'RETRY_SCHEDULED', 'unavailable', 'down', p_next_attempt_at => now() - interval '5 minutes', p_routing_attempt => true)" >/dev/null
expired=$(new_msg "now() - interval '1 second'")
sql "INSERT INTO orch.idempotency_keys (account_id, idem_key, fingerprint, response_status, response_body, created_at, expires_at)
     VALUES ('$A', 'old-key', repeat('a', 64), 202, '{}', now() - interval '3 days', now() - interval '1 day')" >/dev/null
sql "UPDATE orch.outbox SET published_at = now() - interval '2 hours' WHERE message_id = '$queued'" >/dev/null
# Rows with v4 msg_ids (an old outbox's backlog, carried over by migration
# 0006) land in the outbox's default partition: the one purged row by row.
sql "INSERT INTO orch.outbox (msg_id, subject, message_id, payload, first_attempt_at, published_at, attempts)
     SELECT ('00000000-0000-4000-8000-0000000010' || lpad(g::text, 2, '0'))::uuid, 'sms.events.status', '$queued', '{}',
            now() - interval '2 hours', now() - interval '2 hours', 1 FROM generate_series(1, 3) AS g" >/dev/null

before=$(snapshot)
hist_before=$(sql "SELECT count(*) FROM orch.sms_status_history h JOIN orch.sms_messages m ON m.id = h.message_id WHERE m.account_id = '$A'")
out=$(reconcile --dry-run); rc=$?
is "$rc" 0 "--dry-run: exit 0"
is "$(jq -r '.dryRun' <<<"$out")" true "--dry-run: says so"
for f in routed_published routed_past_window routed_in_window routed_never_attempted routed_without_row queued_stuck retry_overdue expired; do
	is "$(found "$out" $f)/$(repaired "$out" $f)" "1/0" "--dry-run reports $f, repairs nothing"
done
is "$(snapshot)" "$before" "--dry-run changed no message"
is "$(sql "SELECT count(*) FROM orch.sms_status_history h JOIN orch.sms_messages m ON m.id = h.message_id WHERE m.account_id = '$A'")" "$hist_before" "--dry-run wrote no history"
is "$(sql "SELECT count(*) FROM orch.idempotency_keys WHERE account_id = '$A'")" 1 "--dry-run purged nothing"

# Two passes at once: one acts, each stuck row is repaired once.
reconcile >"$T_TMP/r1" & p1=$!
reconcile >"$T_TMP/r2" & p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
is "$rc1:$rc2" "0:0" "two passes at once both exit 0 (the second waits for the lock)"
total=$(cat "$T_TMP/r1" "$T_TMP/r2" | jq -s '[.[].findings.routed_published.repaired] | add')
is "$total" 1 "... and the stuck ROUTED row is repaired once in all"
out=$(jq -s 'max_by(.findings.routed_published.repaired)' "$T_TMP/r1" "$T_TMP/r2")

is "$(state "$pub")" "SUBMITTED/3" "routed_published: ROUTED -> SUBMITTED"
is "$(sql "SELECT status FROM orch.sms_status_history WHERE message_id = '$pub' ORDER BY seq DESC LIMIT 1")" SUBMITTED "... with its history row"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$pub' AND subject = 'sms.events.status' AND payload->'data'->>'status' = 'SUBMITTED'")" 1 "... and its status event"
is "$(state "$past")" "FAILED/3" "routed_past_window: FAILED"
is "$(sql "SELECT last_error_code FROM orch.sms_messages WHERE id = '$past'")" stuck_routed "... with code stuck_routed"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$past' AND subject = 'sms.outbound.deadletter' AND payload->'data'->>'reason' = 'stuck_routed'")" 1 "... and a dead letter"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$past' AND subject LIKE 'smpp.operator.%'")" 1 "... and no new operator row"
is "$(state "$inwin")" "ROUTED/2" "routed_in_window: left ROUTED for the relay to republish with the same Nats-Msg-Id"
is "$(repaired "$out" routed_in_window)" 1 "... reported as re-driven"
is "$(state "$never")" "ROUTED/2" "routed_never_attempted: left ROUTED, the relay woken"
is "$(jq -r '.needsPerson[] | select(.messageId == "'"$norow"'") | .finding' <<<"$out")" routed_without_row "routed_without_row: listed under needsPerson"
is "$(state "$queued")" "QUEUED/1" "queued_stuck: stays QUEUED"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$queued' AND subject = 'sms.outbound.request' AND published_at IS NULL")" 1 "... with sms.outbound.request published again"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$recent' AND subject = 'sms.outbound.request'")" 1 \
	"queued_stuck: a QUEUED message whose request went out within stuck_after is not published again"
is "$(state "$retry")" "QUEUED/3" "retry_overdue: due now (RETRY_SCHEDULED -> QUEUED)"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$retry' AND subject = 'sms.outbound.retry'")" 1 "... with its sms.outbound.retry row"
is "$(state "$expired")" "EXPIRED/2" "expired: EXPIRED"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$expired' AND subject = 'sms.outbound.deadletter'")" 1 "... with a dead letter"
is "$(sql "SELECT count(*) FROM orch.idempotency_keys WHERE account_id = '$A'")" 0 "expired idempotency records are purged"
like "$(jq -c .purged <<<"$out")" '"idempotencyKeys":[1-9]' "... and counted"
is "$(sql "SELECT count(*) FROM orch_part.outbox_default WHERE message_id = '$queued'")" 0 "published outbox rows of the default partition past the retention are purged"
ok "those of a day partition stay, to leave with their whole day (no dead tuples)" \
	test "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$queued' AND published_at < now() - interval '1 hour'")" -gt 0
is "$(jq -c '[.partitions.dryRun, (.partitions.created | type), (.partitions.defaultRows.sms_messages | type)]' <<<"$out")" '[false,"array","number"]' \
	"the pass reports its partition upkeep"

out=$(reconcile)
# (partition_default_rows: this suite's messages with v4 ids, in the default partition; nothing to repair)
is "$(jq '[.findings | del(.partition_default_rows)[] | .found] | add' <<<"$out")" "$(( $(found "$out" routed_in_window) + $(found "$out" routed_never_attempted) + $(found "$out" routed_without_row) + $(found "$out" queued_stuck) ))" \
	"a second pass finds only what waits for the relay or a person"

# With the relay running, the past-window row is never published; the others go out.
start_serve ORCH_ROLES=http,relay || exit 1
wait_for "the relay publishes the re-driven operator rows" 10 bash -c "[ \"\$(psql -X -q -tA -U postgres -d orch -c \"SELECT count(*) FROM orch.outbox WHERE message_id IN ('$inwin', '$never') AND subject LIKE 'smpp.%' AND published_at IS NOT NULL\")\" = 2 ]"
is "$(stream SMPP_OPERATOR | jq -r --arg id "$past" 'select(.headers["Orch-Message-Id"] == $id)' | wc -l)" 0 "nothing for the stuck_routed message on smpp.operator.*"
stop_serve
done_testing
