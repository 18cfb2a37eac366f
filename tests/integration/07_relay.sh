#!/usr/bin/env bash
# The outbox relay: what reaches JetStream, exactly once, through NATS restarts, two relays and a crash.
# serve runs as http,relay: the tests drive the state machine themselves.
. "$(dirname "$0")/lib.sh"
A=acct-relay-$$
start_serve ORCH_ROLES=http,relay || exit 1

send $A '{"to":"+14155550100","from":"ACME","body":"hello","clientReference":"ref-9","callbackUrl":"https://example.com/cb"}' \
	-H 'X-Request-ID: relay-req-1' -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
id=$(jq -r .messageId <<<"$BODY")
wait_for "the message's outbox rows are published" 5 no_pending
req_msg=$(stream SMS_OUTBOUND | jq -c --arg id "$id" 'select(.headers["Orch-Message-Id"] == $id)')
evt_msg=$(stream SMS_EVENTS | jq -c --arg id "$id" 'select(.headers["Orch-Message-Id"] == $id)')
is "$(jq -r .subject <<<"$req_msg")" sms.outbound.request "sms.outbound.request is in SMS_OUTBOUND"
is "$(jq -r .subject <<<"$evt_msg")" sms.events.status "the QUEUED event is in SMS_EVENTS"
is "$(jq -r '.headers | [.["Orch-Account-Id"], .["X-Request-ID"], .traceparent, .["Content-Type"]] | join(" ")' <<<"$req_msg")" \
	"$A relay-req-1 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 application/json" "headers: account, request id, traceparent, content type"
is "$(jq -r '.headers["Nats-Msg-Id"]' <<<"$req_msg")" "$(sql "SELECT msg_id FROM orch.outbox WHERE message_id = '$id' AND subject = 'sms.outbound.request'")" \
	"Nats-Msg-Id is the outbox row's msg_id"
is "$(jq -r '.data | fromjson | [.specversion, .source, .type, (.id == $h), .datacontenttype] | join(" ")' --arg h "$(jq -r '.headers["Nats-Msg-Id"]' <<<"$req_msg")" <<<"$req_msg")" \
	"1.0 sms-orchestrator sms.outbound.request true application/json" "payload: a CloudEvents 1.0 envelope"
is "$(jq -c '.data | fromjson | .data | [.messageId, .accountId, .attempt]' <<<"$req_msg")" "[\"$id\",\"$A\",0]" "request data: messageId, accountId, attempt"
is "$(jq -c '.data | fromjson | .data | [.messageId, .seq, .status, .previousStatus, .clientReference, .callbackUrl, .error]' <<<"$evt_msg")" \
	"[\"$id\",1,\"QUEUED\",null,\"ref-9\",\"https://example.com/cb\",null]" "status event data: seq 1, QUEUED, clientReference, callbackUrl"

# An operator row: acknowledged -> the message is SUBMITTED in the same transaction; past the window: never published.
sql "SELECT orch.transition('$id', 'QUEUED', 'ROUTED', p_operator_id => 'op-rel', p_route_id => 'r-1', p_routing_attempt => true)" >/dev/null
send $A "$MSG"
old=$(jq -r .messageId <<<"$BODY")
wait_for "published" 5 no_pending
sql "BEGIN; SELECT orch.transition('$old', 'QUEUED', 'ROUTED', p_operator_id => 'op-old', p_route_id => 'r-2');
     UPDATE orch.outbox SET first_attempt_at = now() - interval '3 minutes' WHERE message_id = '$old' AND subject LIKE 'smpp.%'; COMMIT;" >/dev/null
sql "NOTIFY orch_outbox" >/dev/null
submitted() { [ "$(sql "SELECT status FROM orch.sms_messages WHERE id = '$id'")" = SUBMITTED ]; }
wait_for "the ROUTED message becomes SUBMITTED on the operator acknowledgement" 5 submitted
is "$(sql "SELECT string_agg(status, ',' ORDER BY seq) FROM orch.sms_status_history WHERE message_id = '$id'")" "QUEUED,ROUTED,SUBMITTED" \
	"history QUEUED, ROUTED, SUBMITTED"
is "$(stream SMPP_OPERATOR | jq -r --arg id "$id" 'select(.headers["Orch-Message-Id"] == $id) | .subject')" "smpp.operator.op-rel" \
	"the operator message is on smpp.operator.op-rel"
is "$(stream SMPP_OPERATOR | jq -c --arg id "$id" 'select(.headers["Orch-Message-Id"] == $id) | .data | fromjson | .data | [.operatorId, .routeId, .to, .from, .body, .encoding, .segments]')" \
	'["op-rel","r-1","+14155550100","ACME","hello","GSM7",1]' "operator payload: what an SMPP connector needs"
sleep 1
is "$(stream SMPP_OPERATOR | jq -r --arg id "$old" 'select(.headers["Orch-Message-Id"] == $id) | .subject' | wc -l)" 0 \
	"an operator row first attempted before the duplicate window is never published"
is "$(sql "SELECT status || ' ' || (published_at IS NULL) FROM orch.sms_messages m JOIN orch.outbox o ON o.message_id = m.id AND o.subject LIKE 'smpp.%' WHERE m.id = '$old'")" \
	"ROUTED true" "... it stays pending and the message ROUTED, for reconciliation"
sql "DELETE FROM orch.outbox WHERE message_id = '$old' AND subject LIKE 'smpp.%'" >/dev/null

# Kill nats-server while accepting 500 messages; restart it on the same store.
mkdir -p "$T_TMP/load"
( for i in $(seq 1 500); do
	curl -sS -o /dev/null -w '%{http_code}\n' -H "X-Consumer-Custom-ID: $A-load" -H 'Content-Type: application/json' \
		-d "$MSG" "$BASE_URL/v1/sms/send"
done >"$T_TMP/load/codes" ) &
loader=$!
sleep 0.5
kill -KILL "$(cat "$ORCH_RUN_DIR/nats.pid")"
sleep 1.5
nats_start
wait "$loader"
is "$(sort -u "$T_TMP/load/codes" | paste -sd,)" 202 "500 sends while NATS was killed and restarted: all 202"
wait_for "NATS back: the outbox drains without operator action" 20 no_pending
# check_exactly_once STREAM SUBJECT-FILTER DESC: every outbox row is in the stream, and no Nats-Msg-Id is there twice.
check_exactly_once() {
	local rows missing dups
	sql "SELECT msg_id FROM orch.outbox WHERE subject $2" | sort >"$T_TMP/rows"
	stream "$1" | jq -r '.headers["Nats-Msg-Id"]' | sort >"$T_TMP/ids"
	rows=$(wc -l <"$T_TMP/rows")
	missing=$(comm -23 "$T_TMP/rows" <(uniq "$T_TMP/ids") | wc -l)
	dups=$(uniq -d "$T_TMP/ids" | wc -l)
	is "missing $missing, twice $dups" "missing 0, twice 0" "$3 ($rows outbox rows, $(wc -l <"$T_TMP/ids") stream messages)"
}
check_exactly_once SMS_OUTBOUND "LIKE 'sms.outbound.%'" "after the NATS kill, SMS_OUTBOUND holds each row exactly once"
check_exactly_once SMS_EVENTS "= 'sms.events.status'" "after the NATS kill, SMS_EVENTS holds each row exactly once"

# A crash between publish and mark: the republish is dropped by JetStream as a duplicate.
stop_serve
start_serve ORCH_TEST_FAULT=relay_exit_after_publish ORCH_ROLES=http,relay || exit 1
send $A "$MSG"
crash_id=$(jq -r .messageId <<<"$BODY")
wait "$SERVE_PID"
is "$?" 70 "the relay published, then the process died before marking the rows"
SERVE_PID=
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$crash_id' AND published_at IS NULL")" 2 "... the rows are still pending"
start_serve ORCH_ROLES=http,relay || exit 1
wait_for "after restart the rows are published" 5 no_pending
req GET /metrics
like "$BODY" $'\norch_relay_duplicates_total [1-9]' "JetStream acknowledged the republish as a duplicate"
is "$(stream SMS_OUTBOUND | jq -r --arg id "$crash_id" 'select(.headers["Orch-Message-Id"] == $id) | .seq' | wc -l)" 1 \
	"the message is in the stream once"

# Two relays on one database: no row in a stream twice.
nats_stop
items=$(for i in $(seq 1 100); do printf '%s{"to":"+14155550100","from":"ACME","body":"two relays %d"}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done)
for i in $(seq 1 30); do bulk $A-two "{\"messages\":[$items]}" >/dev/null; done
is "$(pending_rows)" 6000 "NATS down: 3000 messages (6000 outbox rows) wait in the outbox"
second_port=$((${ORCH_HTTP_LISTEN##*:} + 1))
env ORCH_HTTP_LISTEN="127.0.0.1:$second_port" ORCH_RELAY_BATCH=10 ORCH_ROLES=http,relay "$ORCH_BIN" serve >"$T_TMP/serve2.log" 2>&1 &
second=$!
stop_serve
start_serve ORCH_RELAY_BATCH=10 ORCH_ROLES=http,relay || exit 1
ok "two serve processes are running" kill -0 "$second"
nats_start
wait_for "two relays drain the outbox" 60 no_pending
check_exactly_once SMS_OUTBOUND "LIKE 'sms.outbound.%'" "two relays: SMS_OUTBOUND holds each row exactly once"
check_exactly_once SMS_EVENTS "= 'sms.events.status'" "two relays: SMS_EVENTS holds each row exactly once"
p1=$(curl -s "$BASE_URL/metrics" | awk '/^orch_relay_published_total/ {print $2}')
p2=$(curl -s "http://127.0.0.1:$second_port/metrics" | awk '/^orch_relay_published_total/ {print $2}')
diag "relay 1 published $p1 rows, relay 2 published $p2"
ok "both relays took part" test "${p1:-0}" -gt 0 -a "${p2:-0}" -gt 0
kill -TERM "$second"; wait "$second"
is "$?" 0 "the second serve exits 0"

# Purge: published rows past the retention go, in small batches.
# The day partitions leave whole (partition upkeep); the purge deletes from
# the default partition, where rows with v4 msg_ids (an old outbox's
# backlog, carried over by migration 0006) are.
old_before=$(sql "SELECT count(*) FROM orch.outbox WHERE published_at < now() - interval '1 hour'")
sql "UPDATE orch.outbox SET published_at = now() - interval '2 hours' WHERE id IN (SELECT id FROM orch.outbox WHERE published_at > now() - interval '1 hour' ORDER BY id LIMIT 100)" >/dev/null
sql "INSERT INTO orch.outbox (msg_id, subject, payload, first_attempt_at, published_at, attempts)
     SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'sms.events.status', '{}',
            now() - interval '2 hours', now() - interval '2 hours', 1 FROM generate_series(1, 1500) AS g" >/dev/null
stop_serve
start_serve ORCH_ROLES=http,relay || exit 1
purged() { [ "$(sql "SELECT count(*) FROM orch_part.outbox_default WHERE published_at < now() - interval '1 hour'")" = 0 ]; }
wait_for "published rows older than ORCH_OUTBOX_RETENTION are purged" 15 purged
req GET /metrics
like "$BODY" $'\norch_outbox_purged_total 1500' "the purge is counted"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE published_at < now() - interval '1 hour'")" "$((old_before + 100))" \
	"rows of a day partition are not deleted row by row"
for fam in orch_relay_published_total orch_relay_errors_total orch_relay_batch_rows_bucket orch_outbox_backlog orch_outbox_oldest_age_seconds; do
	like "$BODY" $'\n'"$fam[{ ]" "metrics: $fam"
done
stop_serve; rc=$?
is "$rc" 0 "serve exits 0"
json_only
done_testing
