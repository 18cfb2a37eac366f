#!/usr/bin/env bash
# redrive (domain.md, operations.md): its flags, every refusal, two redrives at once over the same
# 1,000 FAILED messages, and the end to end: messages FAILED by a failing routing engine are sent
# again once it is healed and reach SUBMITTED.
. "$(dirname "$0")/lib.sh"
A=acct-redrive-$$
redrive() { "$ORCH_BIN" redrive "$@" 2>>"$T_TMP/redrive.err"; }
verdict() { jq -r --arg id "$2" '(.moved[] | select(.id == $id) | "moved"), (.refused[] | select(.id == $id) | .reason)' <<<"$1"; }
state() { sql "SELECT status || '/' || seq FROM orch.sms_messages WHERE id = '$1'"; }
# failed CODE [ACCOUNT] [VALID_UNTIL]: a message made FAILED with CODE through the state machine; prints its id.
failed() {
	local id
	id=$(sql "SELECT gen_random_uuid()")
	sql "SELECT orch.accept_message('$id', '${2:-$A}', '+14155550100', 'ACME', 'x', 'GSM7', 1, NULL, NULL, ${3:-now() + interval '1 day'}, NULL, NULL, NULL);
	     SELECT orch.transition('$id', 'QUEUED', 'FAILED', '$1', 'made FAILED by 20_redrive.sh', p_routing_attempt => true)" >/dev/null
	echo "$id"
}
published() { sql "UPDATE orch.outbox SET first_attempt_at = coalesce(first_attempt_at, now()), published_at = now() WHERE published_at IS NULL" >/dev/null; }

# Flags: each bad one is named, exit 2, nothing on stdout.
for args in "" "--dry-run" "--id nope" "--reason No_Route" "--since yesterday" "--since 1h --until 2h" "--account a --limit 0" \
	"--account a --limit 100001" "--id 01930f6c-8a4e-7b3c-9d2e-1f0a2b3c4d5e --account a" "--account a --bogus"; do
	# shellcheck disable=SC2086
	out=$("$ORCH_BIN" redrive $args 2>"$T_TMP/err"); rc=$?
	is "$rc:$out" "2:" "redrive $args: exit 2, nothing on stdout"
done
like "$(grep -v '^{' "$T_TMP/err" | head -1)" 'unknown argument "--bogus"' "... and the message names the argument"
"$ORCH_BIN" redrive --since yesterday >/dev/null 2>"$T_TMP/err"
like "$(grep -v '^{' "$T_TMP/err" | head -1)" '^sms-orchestrator redrive: --since needs an RFC 3339 time' "a bad --since: the message names the flag"
out=$(redrive --help); rc=$?
like "$rc:$out" '^0:Usage: sms-orchestrator redrive' "--help: exit 0, usage on stdout"
out=$(ORCH_DATABASE_URL='host=/nonexistent dbname=x' "$ORCH_BIN" redrive --account "$A" 2>/dev/null); rc=$?
is "$rc:$(jq -c . <<<"$out")" '1:{"ran":false,"error":"cannot connect to PostgreSQL"}' "no database: exit 1, and a JSON document says it did not run"

# Every refusal, by --id, on messages crafted in SQL (no serve runs yet).
ok1=$(failed retries_exhausted)
ok2=$(failed routing_unavailable)
expired=$(failed retries_exhausted "$A" "now() + interval '2 seconds'")
own=$(failed no_route)
queued=$(sql "SELECT gen_random_uuid()")
sql "SELECT orch.accept_message('$queued', '$A', '+14155550100', 'ACME', 'x', 'GSM7', 1, NULL, NULL, now() + interval '1 day', NULL, NULL, NULL)" >/dev/null
stuck=$(sql "SELECT gen_random_uuid()")
sql "SELECT orch.accept_message('$stuck', '$A', '+14155550100', 'ACME', 'x', 'GSM7', 1, NULL, NULL, now() + interval '1 day', NULL, NULL, NULL);
     SELECT orch.transition('$stuck', 'QUEUED', 'ROUTED', p_operator_id => 'op-sfo', p_route_id => 'r-1', p_routing_attempt => true);
     UPDATE orch.outbox SET first_attempt_at = now() - interval '3 minutes' WHERE message_id = '$stuck' AND subject LIKE 'smpp.operator.%';
     SELECT orch.transition('$stuck', 'ROUTED', 'FAILED', 'stuck_routed', 'never acknowledged')" >/dev/null
unknown=$(sql "SELECT gen_random_uuid()")
published
# Wait for the short-lived one to pass its valid_until (the database's clock decides).
_expired() { [ "$(sql "SELECT valid_until < now() FROM orch.sms_messages WHERE id = '$expired'")" = t ]; }
wait_for "the short-lived message is past its valid_until" 10 _expired

ids=()
for id in "$ok1" "$ok2" "$expired" "$own" "$queued" "$stuck" "$unknown"; do ids+=(--id "$id"); done
dry=$(redrive "${ids[@]}" --dry-run); rc=$?
is "$rc:$(jq -r '.dryRun' <<<"$dry")" "0:true" "--dry-run: exit 0 and says so"
is "$(state "$ok1")" "FAILED/2" "--dry-run moved nothing"
out=$(redrive "${ids[@]}"); rc=$?
is "$rc:$(jq -r '.ran' <<<"$out")" "0:true" "redrive --id ...: exit 0, ran"
is "$(jq -c '.summary' <<<"$out")" "$(jq -c '.summary' <<<"$dry")" "the dry run announced what the run did"
is "$(verdict "$out" "$ok1")" moved "retries_exhausted: moved"
is "$(verdict "$out" "$ok2")" moved "routing_unavailable: moved"
is "$(verdict "$out" "$expired")" expired "past valid_until: refused expired"
is "$(verdict "$out" "$own")" own_reason "no_route (its own failure, not named): refused own_reason"
is "$(verdict "$out" "$queued")" not_failed "QUEUED: refused not_failed"
is "$(verdict "$out" "$stuck")" may_have_reached_operator "stuck_routed: refused may_have_reached_operator"
is "$(verdict "$out" "$unknown")" not_found "an unknown id: refused not_found"
is "$(jq -c --arg id "$own" '.refused[] | select(.id == $id) | [.status, .errorCode]' <<<"$out")" '["FAILED","no_route"]' \
	"a refusal carries the message's status and error code"
is "$(state "$ok1") $(state "$ok2")" "QUEUED/3 QUEUED/3" "the moved ones are QUEUED, seq + 1"
is "$(state "$expired") $(state "$own") $(state "$stuck")" "FAILED/2 FAILED/2 FAILED/3" "the refused ones are unchanged"
is "$(sql "SELECT attempt_count FROM orch.sms_messages WHERE id = '$ok1'")" 0 "a fresh retry budget"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$ok1' AND published_at IS NULL AND
           ((subject = 'sms.events.status' AND payload->'data'->>'previousStatus' = 'FAILED' AND payload->'data'->>'status' = 'QUEUED')
            OR subject = 'sms.outbound.request')")" 2 "a status event (previousStatus FAILED) and a new sms.outbound.request, pending"
out=$(redrive --id "$own" --reason no_route)
is "$(verdict "$out" "$own")" moved "naming its code (--reason no_route) sends it again"
out=$(redrive --id "$ok1" --id "$ok2")
is "$(jq -c .summary <<<"$out")" '{"moved":0,"refused":{"not_failed":2}}' "the same ids again: nothing moved twice"
is "$(sql "SELECT string_agg(status || '<-' || coalesce(previous_status, ''), ',' ORDER BY seq) FROM orch.sms_status_history WHERE message_id = '$ok1'")" \
	"QUEUED<-,FAILED<-QUEUED,QUEUED<-FAILED" "history: one FAILED -> QUEUED"
err=$(psql "$ORCH_DATABASE_URL" -X -q -tA -v ON_ERROR_STOP=1 -c "SELECT orch.transition('$expired', 'FAILED', 'QUEUED')" 2>&1)
like "$err" 'transition FAILED -> QUEUED is not allowed' "the service's role: a plain orch.transition(FAILED -> QUEUED) is refused"
sql "SELECT orch.transition(id, 'QUEUED', 'FAILED', 'test_cleanup', 'ended by 20_redrive.sh') FROM orch.sms_messages
     WHERE account_id = '$A' AND status = 'QUEUED'" >/dev/null
published

# Two redrives at once over the same 1,000 FAILED messages: each is moved exactly once.
B=$A-many
sql "SELECT orch.accept('$B', NULL, NULL, 202, NULL, NULL, NULL, NULL, now(), ids, array_fill('+14155550100'::text, ARRAY[1000]),
            array_fill('ACME'::text, ARRAY[1000]), array_fill('x'::text, ARRAY[1000]), array_fill('GSM7'::text, ARRAY[1000]),
            array_fill(1, ARRAY[1000]), array_fill(NULL::text, ARRAY[1000]), array_fill(NULL::text, ARRAY[1000]),
            array_fill(now() + interval '1 day', ARRAY[1000]))
     FROM (SELECT array_agg(gen_random_uuid()) AS ids FROM generate_series(1, 1000)) g" >/dev/null
sql "SELECT count(*) FROM orch.transition_many(ARRAY(SELECT id FROM orch.sms_messages WHERE account_id = '$B'), 'QUEUED', 'FAILED',
            array_fill('retries_exhausted'::text, ARRAY[1000]), array_fill('4 attempts'::text, ARRAY[1000]), p_routing_attempt => true)" >/dev/null
published
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$B' AND status = 'FAILED'")" 1000 "1,000 FAILED messages"
# A third session holds the first of them, so both redrives are surely inside at the same time, waiting on it.
first=$(sql "SELECT id FROM orch.sms_messages WHERE account_id = '$B' ORDER BY id LIMIT 1")
mkfifo "$T_TMP/hold"
psql -X -q -U postgres -d orch <"$T_TMP/hold" >/dev/null 2>&1 &
holder=$!
exec {hold}>"$T_TMP/hold"
echo "BEGIN; SELECT 1 FROM orch.sms_messages WHERE id = '$first' FOR UPDATE;" >&"$hold"
_held() { [ "$(sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND a.query LIKE 'SELECT 1 FROM orch.sms_messages WHERE id = %FOR UPDATE;'")" -ge 1 ]; }
wait_for "a third session holds one of the messages" 10 _held
redrive --account "$B" >"$T_TMP/r1" & p1=$!
redrive --account "$B" >"$T_TMP/r2" & p2=$!
_waiting() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sms-orchestrator redrive' AND wait_event_type = 'Lock'")" = 2 ]; }
wait_for "both redrives wait on the held message" 8 _waiting
echo "COMMIT;" >&"$hold"
exec {hold}>&-
wait "$holder"
wait $p1; rc1=$?
wait $p2; rc2=$?
is "$rc1:$rc2" "0:0" "two redrives at once: both exit 0"
jq -r '.moved[].id' "$T_TMP/r1" | sort >"$T_TMP/m1"
jq -r '.moved[].id' "$T_TMP/r2" | sort >"$T_TMP/m2"
diag "moved by each: $(wc -l <"$T_TMP/m1") and $(wc -l <"$T_TMP/m2")"
is "$(comm -12 "$T_TMP/m1" "$T_TMP/m2" | wc -l)" 0 "... the sets they moved are disjoint"
is "$(sort -u "$T_TMP/m1" "$T_TMP/m2" | wc -l)" 1000 "... and together hold all 1,000"
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$B' AND status = 'QUEUED'")" 1000 "all 1,000 are QUEUED"
is "$(sql "SELECT count(*) FROM orch.sms_status_history h JOIN orch.sms_messages m ON m.id = h.message_id
           WHERE m.account_id = '$B' AND h.previous_status = 'FAILED'")" 1000 "the history shows one FAILED -> QUEUED per message"
is "$(sql "SELECT count(*) FROM orch.outbox o JOIN orch.sms_messages m ON m.id = o.message_id
           WHERE m.account_id = '$B' AND o.subject = 'sms.outbound.request' AND o.published_at IS NULL")" 1000 "... and one new request each"
# The same with ids: each id moved by one of them, refused not_failed by the other.
sql "SELECT count(orch.transition(id, 'QUEUED', 'FAILED', 'retries_exhausted', 'again')) FROM
     (SELECT id FROM orch.sms_messages WHERE account_id = '$B' ORDER BY id LIMIT 200) x" >/dev/null
mapfile -t some < <(sql "SELECT '--id=' || id FROM orch.sms_messages WHERE account_id = '$B' AND status = 'FAILED'")
redrive "${some[@]}" >"$T_TMP/i1" & p1=$!
redrive "${some[@]}" >"$T_TMP/i2" & p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
is "$rc1:$rc2 $(jq -s 'map(.summary.moved) | add' "$T_TMP/i1" "$T_TMP/i2")" "0:0 200" "two redrives of the same 200 ids at once: 200 moved in all"
is "$(jq -s '[.[].refused[] | select(.reason != "not_failed")] | length' "$T_TMP/i1" "$T_TMP/i2")" 0 "... the rest refused not_failed"
sql "SELECT count(orch.transition(id, 'QUEUED', 'FAILED', 'test_cleanup', 'ended by 20_redrive.sh')) FROM orch.sms_messages
     WHERE account_id = '$B' AND status = 'QUEUED'" >/dev/null
published

# End to end: the routing engine fails, messages FAIL; it is healed; redrive; they reach SUBMITTED.
C=$A-e2e
routing_control "reset=1&clear_calls=1"
start_serve || exit 1
status_of() { sql "SELECT status FROM orch.sms_messages WHERE id = '$1'"; }
all_in() { [ "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$C' AND status <> '$1'")" = 0 ]; }
# INTERNAL on every call: transient; 2 messages x 4 attempts stay well under the breaker's sample (20
# calls), so each uses its retries (1 s, 2 s, 4 s) and FAILS retries_exhausted.
routing_control "fail=INTERNAL"
for i in 1 2; do send "$C" "$MSG" >/dev/null; done
wait_for "transient failures on every call: 2 messages FAILED" 30 all_in FAILED
is "$(sql "SELECT string_agg(DISTINCT last_error_code || ' ' || attempt_count, ',') FROM orch.sms_messages WHERE account_id = '$C'")" \
	"retries_exhausted 4" "... retries_exhausted after 4 attempts"
# NOT_FOUND on every call (an engine that lost its routes): no_route, FAILED at once.
routing_control "fail=NOT_FOUND"
for i in 1 2 3 4 5; do send "$C" "$MSG" >/dev/null; done
_no_route() { [ "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$C' AND status = 'FAILED' AND last_error_code = 'no_route'")" = 5 ]; }
wait_for "an engine answering NOT_FOUND: 5 messages FAILED no_route" 20 _no_route
routing_control reset=1
out=$(redrive --account "$C" --dry-run)
is "$(jq -c '[.summary.moved, .otherReasons]' <<<"$out")" '[2,{"no_route":5}]' \
	"healed, --dry-run: the 2 retries_exhausted would move; the 5 no_route are counted under otherReasons"
out=$(redrive --account "$C" --since 10m); rc=$?
is "$rc:$(jq -c .summary <<<"$out")" '0:{"moved":2,"refused":{}}' "redrive --account --since 10m: 2 moved"
out=$(redrive --account "$C" --reason no_route)
is "$(jq -c .summary <<<"$out")" '{"moved":5,"refused":{}}' "redrive --reason no_route (a person says it was the engine's fault): 5 moved"
wait_for "all 7 reach SUBMITTED" 20 all_in SUBMITTED
one=$(sql "SELECT m.id FROM orch.sms_messages m WHERE m.account_id = '$C'
           AND EXISTS (SELECT 1 FROM orch.sms_status_history h WHERE h.message_id = m.id AND h.status = 'RETRY_SCHEDULED') ORDER BY m.id LIMIT 1")
is "$(sql "SELECT string_agg(status, ',' ORDER BY seq) FROM orch.sms_status_history WHERE message_id = '$one'")" \
	"QUEUED,RETRY_SCHEDULED,QUEUED,RETRY_SCHEDULED,QUEUED,RETRY_SCHEDULED,QUEUED,FAILED,QUEUED,ROUTED,SUBMITTED" \
	"history of a redriven message: its 4 attempts, FAILED, QUEUED again, ROUTED, SUBMITTED"
is "$(sql "SELECT attempt_count || ' ' || routing_calls FROM orch.sms_messages WHERE id = '$one'")" "1 5" \
	"a fresh budget (1 attempt charged since) while the call numbers go on (5 calls)"
is "$(routing_calls | jq -s -c --arg id "$one" 'map(select(.message_id == $id) | .attempt)')" "[0,1,2,3,4]" \
	"the engine saw attempt 4 for the redriven call: a call number is never used twice"
wait_for "every row is published" 10 no_pending
is "$(stream SMS_EVENTS | jq -r --arg id "$one" 'select(.headers["Orch-Message-Id"] == $id) | .data | fromjson | .data
      | select(.previousStatus == "FAILED") | "\(.status) \(.attempt)"')" "QUEUED 0" "a status event QUEUED with previousStatus FAILED went out"
is "$(stream SMS_OUTBOUND | jq -r --arg id "$one" 'select(.headers["Orch-Message-Id"] == $id) | .subject' | paste -sd,)" \
	"sms.outbound.request,sms.outbound.retry,sms.outbound.retry,sms.outbound.retry,sms.outbound.request" \
	"... and a new sms.outbound.request"
is "$(stream SMPP_OPERATOR | jq -r --arg id "$one" 'select(.headers["Orch-Message-Id"] == $id) | .subject' | wc -l)" 1 \
	"one operator publish"
out=$(redrive --id "$one")
is "$(verdict "$out" "$one")" not_failed "a SUBMITTED message is refused (not_failed)"
stop_serve
json_only "$SERVE_LOG"
done_testing
