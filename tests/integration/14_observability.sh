#!/usr/bin/env bash
# Metrics and logs that answer an on-call engineer's questions: every family
# api.md lists, histograms that are well formed, one JSON line per request and
# per state change carrying the request id and the message id, and the log
# level chosen at start.
. "$(dirname "$0")/lib.sh"
A=acct-obs-$$
start_serve || exit 1

# A message that goes all the way (QUEUED -> ROUTED -> SUBMITTED), and an idempotent replay.
send $A "$MSG" -H 'X-Request-ID: obs-req-1'
is "$STATUS" 202 "a send is accepted"
ID=$(jq -r .messageId <<<"$BODY")
submitted() { [ "$(sql "SELECT status FROM orch.sms_messages WHERE id = '$ID'")" = SUBMITTED ]; }
wait_for "the message reaches SUBMITTED" 20 submitted
send $A "$MSG" -H 'Idempotency-Key: obs-k1'
send $A "$MSG" -H 'Idempotency-Key: obs-k1'
is "$(header Idempotent-Replayed)" true "the second send with the key is a replay"
req GET "/v1/sms/$ID" -H "X-Consumer-Custom-ID: $A"
is "$STATUS" 200 "GET the message"
published() {
	[ "$(sql "SELECT count(*) FROM orch.outbox o JOIN orch.sms_messages m ON m.id = o.message_id
	          WHERE m.account_id = '$A' AND o.published_at IS NULL")" = 0 ]
}
wait_for "every outbox row is published" 20 published

# --- metrics ---------------------------------------------------------------
req GET /metrics
M=$BODY
# Every family of api.md's list, by the name the runbook gives it.
for fam in \
	orch_http_requests_total orch_accept_latency_seconds_bucket orch_message_transitions_total \
	orch_outbox_backlog orch_outbox_oldest_age_seconds orch_relay_published_total orch_relay_errors_total \
	orch_routing_call_seconds_bucket orch_routing_calls_total orch_circuit_breaker_state \
	orch_retries_scheduled_total orch_dead_letters_total orch_idempotency_replays_total orch_redis_fail_open_total; do
	like "$M" $'\n'"$fam[{ ]" "metrics: family $fam"
done
like "$M" 'orch_message_transitions_total\{from="none",to="QUEUED"\} [1-9]' "transitions: new messages counted as none -> QUEUED"
like "$M" 'orch_message_transitions_total\{from="QUEUED",to="ROUTED"\} [1-9]' "transitions: QUEUED -> ROUTED counted"
like "$M" 'orch_message_transitions_total\{from="ROUTED",to="SUBMITTED"\} [1-9]' "transitions: ROUTED -> SUBMITTED counted"
like "$M" 'orch_message_transitions_total\{from="RETRY_SCHEDULED",to="EXPIRED"\} 0' \
	"transitions: an allowed transition that has not happened is written as 0"
is "$(grep -c '^orch_message_transitions_total{from="ROUTED",to="QUEUED"}' <<<"$M")" 0 \
	"transitions: a transition the state machine forbids has no series"
like "$M" 'orch_idempotency_replays_total [1-9]' "the replay is counted"

# Histograms: increasing bounds, cumulative counts, +Inf equal to _count, a _sum.
check_histogram() {
	local name=$1
	awk -v n="$name" '
		index($0, n "_bucket{le=\"") == 1 {
			le = $0; sub(/.*le="/, "", le); sub(/".*/, "", le); v = $NF + 0
			if (le != "+Inf" && seen && le + 0 <= last_le) { print "bounds not increasing at " le; bad = 1 }
			if (seen && v < last_v) { print "counts not cumulative at " le; bad = 1 }
			if (le == "+Inf") inf = v; else last_le = le + 0
			last_v = v; seen = 1; buckets++
		}
		index($0, n "_count ") == 1 { count = $2 + 0; has_count = 1 }
		index($0, n "_sum ") == 1 { has_sum = 1 }
		END {
			if (buckets < 5) { print "only " buckets " buckets"; bad = 1 }
			if (!has_count || inf != count) { print "+Inf " inf " != count " count; bad = 1 }
			if (!has_sum) { print "no _sum"; bad = 1 }
			exit bad
		}' <<<"$M"
}
for h in orch_accept_latency_seconds orch_accept_transaction_seconds orch_accept_transaction_messages \
	orch_relay_batch_rows orch_relay_batch_seconds orch_routing_call_seconds; do
	out=$(check_histogram "$h")
	is "$?:$out" "0:" "histogram $h is well formed"
done
like "$M" 'orch_accept_latency_seconds_bucket\{le="0.25"\}' "accept latency has a bucket at 250 ms"
like "$M" 'orch_routing_call_seconds_bucket\{le="0.25"\}' "routing latency has a bucket at the 250 ms deadline"

# --- logs ------------------------------------------------------------------
LOG=$SERVE_LOG
bad=$(grep -v '^{' "$LOG" | grep -v '^$' | head -3)
is "$bad" "" "every log line is a JSON object"
is "$(jq -c 'select(.ts == null or .level == null or .msg == null)' "$LOG" 2>&1 | head -3)" "" \
	"every line has ts, level and msg (and jq parses them all)"
line=$(jq -c 'select(.msg == "request" and .request_id == "obs-req-1")' "$LOG")
is "$(jq -r '[.method, .path, .status, .account_id, .message_id] | join(" ")' <<<"$line")" \
	"POST /v1/sms/send 202 $A $ID" "request line: method, path, status, account and message id"
like "$(jq -r .ms <<<"$line")" '^[0-9]+\.[0-9]{3}$' "request line: milliseconds"
is "$(jq -r "select(.msg == \"request\" and .path == \"/v1/sms/$ID\") | .message_id" "$LOG")" "$ID" \
	"request line of a GET carries the message id asked for"
is "$(jq -r 'select(.msg == "request" and .replayed == "true") | .account_id' "$LOG" | head -1)" "$A" \
	"request line of a replay says replayed"
is "$(jq -r 'select(.msg == "request" and .path == "/metrics") | .request_id | length > 0' "$LOG" | head -1)" true \
	"every request line has a request id, made when the client sent none"
trans=$(jq -c "select(.msg == \"transition\" and .message_id == \"$ID\")" "$LOG")
is "$(jq -r '.from + ">" + .to' <<<"$trans" | paste -sd ' ')" "none>QUEUED QUEUED>ROUTED ROUTED>SUBMITTED" \
	"one transition line per state change of the message, in order"
is "$(jq -r '.request_id' <<<"$trans" | sort -u)" "obs-req-1" "transition lines carry the request id of the send"
is "$(jq -r '.seq' <<<"$trans" | paste -sd ' ')" "1 2 3" "transition lines carry seq"
is "$(jq -r 'select(.to == "ROUTED") | .operator_id | length > 0' <<<"$trans")" true "the ROUTED line names the operator"
stop_serve

# --- the log level is chosen at start ----------------------------------------
: >"$SERVE_LOG"
start_serve ORCH_LOG_LEVEL=warn || exit 1
send $A "$MSG"
sleep 1
stop_serve
is "$(jq -r 'select(.level == "info" or .level == "debug") | .msg' "$SERVE_LOG" | head -3)" "" \
	"ORCH_LOG_LEVEL=warn: no info or debug lines"
: >"$SERVE_LOG"
start_serve ORCH_LOG_LEVEL=debug || exit 1
stop_serve
is "$(jq -r 'select(.level == "debug" and .name == "ORCH_LOG_LEVEL") | .value' "$SERVE_LOG")" debug \
	"ORCH_LOG_LEVEL=debug: debug lines are written (the settings, the level by name)"
out=$("$ORCH_BIN" serve --log-level=loud 2>&1)
is "$?" 2 "a bad log level stops serve at start (exit 2)"
like "$out" "ORCH_LOG_LEVEL|log-level" "... naming the setting"
done_testing
