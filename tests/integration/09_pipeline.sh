#!/usr/bin/env bash
# The pipeline against real servers and the stand-in engine: stages, retries, dead letters, breaker, restarts.
. "$(dirname "$0")/lib.sh"
A=acct-pipe-$$
routing_control "reset=1&clear_calls=1"
start_serve || exit 1

status_of() { sql "SELECT status FROM orch.sms_messages WHERE id = '$1'"; }
# reaches ID STATUS SECONDS DESC
reaches() { local id=$1 want=$2; _st() { [ "$(status_of "$id")" = "$want" ]; }; wait_for "$4" "$3" _st; }
send_to() { send $A "{\"to\":\"$1\",\"from\":\"ACME\",\"body\":\"hello\"${2:-}}"; jq -r .messageId <<<"$BODY"; }
on_operator_stream() { stream SMPP_OPERATOR | jq -r --arg id "$1" 'select(.headers["Orch-Message-Id"] == $id) | .subject'; }
# The message's dead letter as [status, reason]; waits up to 10 s for the relay to publish it
# (the state is committed before its outbox row is published).
dead_letter() {
	local i r
	for ((i = 0; i < 50; i++)); do
		r=$(stream SMS_DLQ | jq -c --arg id "$1" 'select(.headers["Orch-Message-Id"] == $id) | .data | fromjson | .data | [.status, .reason]')
		[ -n "$r" ] && break
		sleep 0.2
	done
	echo "$r"
}
calls_for() { routing_calls | jq -c --arg id "$1" 'select(.message_id == $id)'; }

# Send -> SUBMITTED.
id=$(send_to +14155550100)
reaches "$id" SUBMITTED 10 "send -> SUBMITTED within seconds"
is "$(sql "SELECT string_agg(status, ',' ORDER BY seq) FROM orch.sms_status_history WHERE message_id = '$id'")" "QUEUED,ROUTED,SUBMITTED" "history QUEUED, ROUTED, SUBMITTED"
wait_for "its status events are published" 5 no_pending
is "$(on_operator_stream "$id" | paste -sd,)" "smpp.operator.op-sfo" "one message on smpp.operator.<op>, the operator of the prefix table (+1415)"
is "$(stream SMS_EVENTS | jq -r --arg id "$id" 'select(.headers["Orch-Message-Id"] == $id) | .data | fromjson | .data | "\(.seq):\(.status)"' | paste -sd,)" \
	"1:QUEUED,2:ROUTED,3:SUBMITTED" "status events with seq 1, 2, 3"
is "$(sql "SELECT attempt_count || ' ' || operator_id || ' ' || route_id FROM orch.sms_messages WHERE id = '$id'")" "1 op-sfo r-sfo-1" "one attempt, operator and route stored"
is "$(calls_for "$id" | jq -c '[.attempt, .destination]')" '[0,"+14155550100"]' "routing-engine saw attempt 0 with the destination"

# Permanent failures: FAILED with a dead letter, nothing on smpp.operator.*.
id=$(send_to +61412345678)
reaches "$id" FAILED 10 "NOT_FOUND (no route) -> FAILED"
is "$(dead_letter "$id")" '["FAILED","no_route"]' "... with a dead letter (reason no_route)"
is "$(on_operator_stream "$id" | wc -l)" 0 "... and nothing on smpp.operator.*"
routing_control "fail=INVALID_ARGUMENT"
id=$(send_to +14155550100)
reaches "$id" FAILED 10 "INVALID_ARGUMENT -> FAILED"
routing_control reset=1
is "$(dead_letter "$id")" '["FAILED","invalid_argument"]' "... with a dead letter"
is "$(sql "SELECT attempt_count FROM orch.sms_messages WHERE id = '$id'")" 1 "... after one attempt (no retry)"
id=$(send_to +8881234567)
reaches "$id" FAILED 10 "an operator id that is not a subject token -> FAILED"
is "$(dead_letter "$id")" '["FAILED","invalid_operator_id"]' "... with a dead letter"
is "$(on_operator_stream "$id" | wc -l)" 0 "... nothing on smpp.operator.*"

# Domain validation: REJECTED.
sql "INSERT INTO orch.destination_blocklist (prefix, reason) VALUES ('+4477009', 'destination_blocked') ON CONFLICT DO NOTHING" >/dev/null
id=$(send_to +447700900123)
reaches "$id" REJECTED 10 "a blocklisted destination -> REJECTED"
is "$(dead_letter "$id")" '["REJECTED","destination_blocked"]' "... with the blocklist reason as the code"
sql "INSERT INTO orch.account_policy (account_id, suspended) VALUES ('$A-susp', true)" >/dev/null
send $A-susp "$MSG"
id=$(jq -r .messageId <<<"$BODY")
reaches "$id" REJECTED 10 "a suspended account -> REJECTED"
is "$(dead_letter "$id")" '["REJECTED","account_suspended"]' "... account_suspended"
sql "INSERT INTO orch.account_policy (account_id, allowed_senders) VALUES ('$A-snd', ARRAY['GOOD'])" >/dev/null
send $A-snd "$MSG"
id=$(jq -r .messageId <<<"$BODY")
reaches "$id" REJECTED 10 "a sender the account may not use -> REJECTED"
is "$(dead_letter "$id")" '["REJECTED","sender_not_allowed"]' "... sender_not_allowed"
is "$(calls_for "$id" | wc -l)" 0 "rejected messages never reach routing-engine"

# Expired validity.
eid=$(sql "SELECT gen_random_uuid()")
sql "SELECT orch.accept_message('$eid', '$A', '+14155550100', 'ACME', 'late', 'GSM7', 1, NULL, NULL, now() - interval '1 second', NULL, NULL, NULL)" >/dev/null
sql "NOTIFY orch_outbox" >/dev/null
reaches "$eid" EXPIRED 10 "past valid_until -> EXPIRED"
is "$(dead_letter "$eid")" '["EXPIRED","expired"]' "... with a dead letter"

# First 2 calls UNAVAILABLE -> retried after about 1 s and 2 s -> SUBMITTED.
# (fail_to: only this message's destination fails, so that no other call uses up the failures)
routing_control "fail=UNAVAILABLE&fail_first=2&fail_to=%2B14155550171"
id=$(send_to +14155550171)
reaches "$id" SUBMITTED 15 "first 2 calls UNAVAILABLE -> SUBMITTED"
at=$(calls_for "$id" | jq -s -c 'map(.at_ms)')
gaps=$(jq -c '[.[1] - .[0], .[2] - .[1]]' <<<"$at")
diag "gaps between the calls: $gaps ms"
is "$(calls_for "$id" | jq -s -c 'map(.attempt)')" "[0,1,2]" "three calls, attempts 0, 1, 2"
ok "the gaps are about 1 s and 2 s (loose bounds)" test "$(jq '.[0] >= 900 and .[0] < 2500 and .[1] >= 1900 and .[1] < 3500' <<<"$gaps")" = true
is "$(sql "SELECT string_agg(status, ',' ORDER BY seq) FROM orch.sms_status_history WHERE message_id = '$id'")" \
	"QUEUED,RETRY_SCHEDULED,QUEUED,RETRY_SCHEDULED,QUEUED,ROUTED,SUBMITTED" "history shows both retries"
is "$(stream SMS_OUTBOUND | jq -r --arg id "$id" 'select(.headers["Orch-Message-Id"] == $id) | .subject' | paste -sd,)" \
	"sms.outbound.request,sms.outbound.retry,sms.outbound.retry" "each retry went through sms.outbound.retry"

# Always UNAVAILABLE -> FAILED retries_exhausted after 4 calls.
routing_control "fail=UNAVAILABLE&fail_to=%2B14155550172"
id=$(send_to +14155550172)
reaches "$id" FAILED 15 "always UNAVAILABLE -> FAILED"
routing_control reset=1
is "$(sql "SELECT last_error_code || ' ' || attempt_count FROM orch.sms_messages WHERE id = '$id'")" "retries_exhausted 4" "... retries_exhausted after 4 attempts"
is "$(calls_for "$id" | wc -l)" 4 "... routing-engine was called 4 times"
is "$(dead_letter "$id")" '["FAILED","retries_exhausted"]' "... with a dead letter"

# A redelivered NATS message changes nothing twice.
id=$(send_to +14155550100)
reaches "$id" SUBMITTED 10 "a message SUBMITTED"
sql "UPDATE orch.outbox SET msg_id = gen_random_uuid() WHERE message_id = '$id' AND subject = 'sms.outbound.request';
     UPDATE orch.outbox SET published_at = NULL WHERE message_id = '$id' AND subject = 'sms.outbound.request'; NOTIFY orch_outbox;" >/dev/null 2>&1 || true
wait_for "its sms.outbound.request is delivered again" 10 no_pending
sleep 1
is "$(sql "SELECT status || ' ' || seq FROM orch.sms_messages WHERE id = '$id'")" "SUBMITTED 3" "the redelivery changes nothing (status and seq)"
is "$(on_operator_stream "$id" | wc -l)" 1 "... and nothing new on smpp.operator.*"
is "$(calls_for "$id" | wc -l)" 1 "... and routing-engine was not called again"

# serve killed while a message waits in RETRY_SCHEDULED -> retried on schedule after restart.
routing_control "fail=UNAVAILABLE&fail_first=1&fail_to=%2B14155550173"
id=$(send_to +14155550173)
reaches "$id" RETRY_SCHEDULED 5 "a message RETRY_SCHEDULED"
kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
start_serve || exit 1
reaches "$id" SUBMITTED 15 "serve SIGKILLed and restarted: the retry still happens and the message is SUBMITTED"
is "$(calls_for "$id" | jq -s -c 'map(.attempt)')" "[0,1]" "... after one retry"

req GET /metrics
for fam in orch_routing_call_seconds_bucket orch_routing_calls_total orch_circuit_breaker_state orch_retries_scheduled_total \
	orch_dead_letters_total orch_pipeline_routed_total orch_retries_requeued_total; do
	like "$BODY" $'\n'"$fam[{ ]" "metrics: $fam"
done

# routing-engine down 60 s under a trickle of sends, then up: every message SUBMITTED, none FAILED.
routing_control "reset=1"
failed_before=$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-outage' AND status = 'FAILED'")
routing_stop
start=$(date +%s)
ids=()
while [ $(($(date +%s) - start)) -lt 60 ]; do
	send $A-outage "$MSG"
	ids+=("$(jq -r .messageId <<<"$BODY")")
	sleep 2
done
req GET /readyz
is "$(jq -r .checks.routing.circuitBreaker <<<"$BODY")" open "during the outage the circuit breaker is open (readyz)"
req GET /metrics
like "$BODY" $'\norch_circuit_breaker_state 1' "... and the metric says so"
routing_start
all_submitted() { [ "$(sql "SELECT count(*) FILTER (WHERE status = 'SUBMITTED') FROM orch.sms_messages WHERE account_id = '$A-outage'")" = "${#ids[@]}" ]; }
wait_for "engine back: all ${#ids[@]} messages sent during a 60 s outage are SUBMITTED" 30 all_submitted
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-outage' AND status = 'FAILED'")" "$failed_before" "none FAILED"
req GET /readyz
is "$(jq -r .checks.routing.circuitBreaker <<<"$BODY")" closed "the circuit breaker closed again"

stop_serve; rc=$?
is "$rc" 0 "serve exits 0"
json_only
done_testing
