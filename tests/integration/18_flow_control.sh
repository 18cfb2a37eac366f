#!/usr/bin/env bash
# Flow control against the real servers (issue 15): priority lanes, scheduled send (and a SIGKILL),
# cancel (and its race with the pipeline), bulk status and bulk cancel, per-operator limits across
# two instances.
. "$(dirname "$0")/lib.sh"
A=acct-flow-$$
routing_control "reset=1&clear_calls=1"
sql "DELETE FROM orch.operator_limits" >/dev/null
start_serve || exit 1

status_of() { sql "SELECT status FROM orch.sms_messages WHERE id = '$1'"; }
reaches() { local id=$1 want=$2; _st() { [ "$(status_of "$id")" = "$want" ]; }; wait_for "$4" "$3" _st; }
iso_in() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; } # now + $1 seconds, RFC 3339
on_operator() { stream SMPP_OPERATOR | jq -c --arg id "$1" 'select(.headers["Orch-Message-Id"] == $id)'; }

# Priority: high is stored, answered, and carried on its own lane and to the operator.
send $A '{"to":"+14155550100","from":"ACME","body":"otp 1234","priority":"high"}'
is "$STATUS $(jq -r '.status + " " + .priority' <<<"$BODY")" "202 QUEUED high" "send priority high: 202 with priority"
hid=$(jq -r .messageId <<<"$BODY")
reaches "$hid" SUBMITTED 10 "the high message is SUBMITTED"
wait_for "its rows are published" 5 no_pending
is "$(stream SMS_OUTBOUND | jq -r --arg id "$hid" 'select(.headers["Orch-Message-Id"] == $id) | .subject')" \
	"sms.outbound.request.high" "its request went on the high lane (sms.outbound.request.high)"
is "$(on_operator "$hid" | jq -r '.headers["Orch-Priority"] + " " + (.data | fromjson | .data.priority)')" "high high" \
	"the operator publish carries Orch-Priority and priority"
req GET "/v1/sms/$hid" -H "X-Consumer-Custom-ID: $A"
is "$(jq -r .priority <<<"$BODY")" high "GET shows the priority"
send $A '{"to":"+14155550100","from":"ACME","body":"x","priority":"urgent"}'
is_problem 400 "an unknown priority is a 400"
has_error invalid_priority priority "... invalid_priority on priority"

# Scheduled send: refusals.
send $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"x\",\"sendAt\":\"$(iso_in -400)\"}"
is_problem 400 "sendAt more than 5 minutes past: 400"
has_error invalid_send_at sendAt "... invalid_send_at"
send $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"x\",\"sendAt\":\"$(iso_in $((36 * 86400)))\"}"
is_problem 400 "sendAt 36 days ahead: 400"
has_error invalid_send_at sendAt "... invalid_send_at"
send $A '{"to":"+14155550100","from":"ACME","body":"x","sendAt":"tomorrow"}'
has_error invalid_send_at sendAt "sendAt that is not RFC 3339: invalid_send_at"
send $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"x\",\"sendAt\":\"$(iso_in -60)\"}"
is "$STATUS $(jq -r .status <<<"$BODY")" "202 QUEUED" "sendAt a minute past (clock skew) means now: QUEUED"

# Scheduled send: released when due, validity counted from sendAt.
at=$(iso_in 3)
send $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"later\",\"sendAt\":\"$at\",\"validityPeriod\":3600}"
is "$STATUS $(jq -r .status <<<"$BODY")" "202 SCHEDULED" "a future sendAt: 202 SCHEDULED"
sid=$(jq -r .messageId <<<"$BODY")
like "$(jq -r .sendAt <<<"$BODY")" "^${at%Z}\\.000Z$" "... with sendAt in the answer"
is "$(sql "SELECT extract(epoch FROM valid_until - send_at)::int FROM orch.sms_messages WHERE id = '$sid'")" 3600 \
	"validityPeriod counts from sendAt"
is "$(status_of "$sid")" SCHEDULED "SCHEDULED before its time"
is "$(sql "SELECT count(*) FROM orch.outbox WHERE message_id = '$sid' AND subject LIKE 'sms.outbound.%'")" 0 \
	"... with no sms.outbound.request yet"
reaches "$sid" SUBMITTED 8 "released at its time and SUBMITTED"
is "$(sql "SELECT (min(at) FILTER (WHERE status = 'QUEUED') >= (SELECT send_at FROM orch.sms_messages WHERE id = '$sid'))::text
           FROM orch.sms_status_history WHERE message_id = '$sid'")" true "QUEUED no earlier than sendAt"
is "$(sql "SELECT string_agg(status, ',' ORDER BY seq) FROM orch.sms_status_history WHERE message_id = '$sid'")" \
	"SCHEDULED,QUEUED,ROUTED,SUBMITTED" "history SCHEDULED, QUEUED, ROUTED, SUBMITTED"

# A schedule survives SIGKILL of serve.
send $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"kill\",\"sendAt\":\"$(iso_in 2)\"}"
kid=$(jq -r .messageId <<<"$BODY")
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=
sleep 3
is "$(status_of "$kid")" SCHEDULED "serve killed: the due message is still SCHEDULED, nothing lost"
start_serve || exit 1
reaches "$kid" SUBMITTED 8 "after the restart it is released and SUBMITTED"

# Cancel.
send $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"cancel me\",\"sendAt\":\"$(iso_in 3600)\"}"
cid=$(jq -r .messageId <<<"$BODY")
req POST "/v1/sms/$cid/cancel" -H "X-Consumer-Custom-ID: $A"
is "$STATUS $(jq -r .status <<<"$BODY")" "200 CANCELED" "cancel a SCHEDULED message: 200 CANCELED"
is "$(jq -r '[.history[].status] | join(",")' <<<"$BODY")" "SCHEDULED,CANCELED" "... the answer is the message as GET shows it"
req POST "/v1/sms/$cid/cancel" -H "X-Consumer-Custom-ID: $A"
is "$STATUS $(jq -r .status <<<"$BODY")" "200 CANCELED" "cancel again: 200 (idempotent)"
is "$(sql "SELECT count(*) FROM orch.sms_status_history WHERE message_id = '$cid'")" 2 "... and nothing more happened"
req POST "/v1/sms/$cid/cancel" -H "X-Consumer-Custom-ID: $A-other"
is_problem 404 "another account's message: 404"
req POST "/v1/sms/0192f0c4-0000-7000-8000-000000000000/cancel" -H "X-Consumer-Custom-ID: $A"
is_problem 404 "an unknown message: 404"
req POST "/v1/sms/not-a-uuid/cancel" -H "X-Consumer-Custom-ID: $A"
is_problem 400 "not a UUID: 400"
req POST "/v1/sms/$hid/cancel" -H "X-Consumer-Custom-ID: $A"
is_problem 409 "cancel a SUBMITTED message: 409"
is "$(jq -r '.type + " " + .currentStatus' <<<"$BODY")" "urn:sms-orchestrator:problem:not-cancelable SUBMITTED" \
	"... not-cancelable, with the current status"
req GET "/v1/sms/$cid/cancel" -H "X-Consumer-Custom-ID: $A"
is "$STATUS $(header Allow)" "405 POST" "GET on cancel: 405, Allow: POST"
wait_for "the CANCELED status event is published" 5 no_pending
is "$(stream SMS_EVENTS | jq -r --arg id "$cid" 'select(.headers["Orch-Message-Id"] == $id) | .data | fromjson | .data | "\(.status)<-\(.previousStatus)"' | tail -1)" \
	"CANCELED<-SCHEDULED" "a CANCELED status event"
is "$(stream SMS_DLQ | jq -r --arg id "$cid" 'select(.headers["Orch-Message-Id"] == $id) | .subject' | wc -l)" 0 "... and no dead letter"

# Bulk status and bulk cancel.
later=$(iso_in 3600)
bulk $A "{\"messages\":[{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"now\"},
	{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"later 1\",\"sendAt\":\"$later\"},
	{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"later 2\",\"sendAt\":\"$later\"},{\"to\":\"bad\",\"from\":\"ACME\",\"body\":\"x\"}]}"
is "$STATUS $(jq -r '"\(.accepted) \(.rejected) \(.results[1].status)"' <<<"$BODY")" "202 3 1 SCHEDULED" "bulk: 3 accepted, 1 rejected, the scheduled ones SCHEDULED"
bid=$(jq -r .bulkId <<<"$BODY")
first=$(jq -r .results[0].messageId <<<"$BODY")
reaches "$first" SUBMITTED 10 "the bulk's immediate message is SUBMITTED"
req GET "/v1/sms/bulk/$bid" -H "X-Consumer-Custom-ID: $A"
is "$STATUS $(jq -c '[.bulkId == "'"$bid"'", .accepted, .statuses.SUBMITTED, .statuses.SCHEDULED, .statuses.FAILED, (.statuses | length)]' <<<"$BODY")" \
	'200 [true,3,1,2,0,9]' "GET bulk: counts by status, every state present"
like "$(jq -r .createdAt <<<"$BODY")" '^20[0-9]{2}-' "... with createdAt"
req GET "/v1/sms/$first" -H "X-Consumer-Custom-ID: $A"
is "$(jq -r .bulkId <<<"$BODY")" "$bid" "GET of a bulk message shows its bulkId"
req GET "/v1/sms/bulk/$bid" -H "X-Consumer-Custom-ID: $A-other"
is_problem 404 "another account's bulk: 404"
req GET "/v1/sms/bulk/0192f0c4-0000-7000-8000-000000000000" -H "X-Consumer-Custom-ID: $A"
is_problem 404 "an unknown bulk: 404"
req POST "/v1/sms/bulk/$bid/cancel" -H "X-Consumer-Custom-ID: $A"
is "$STATUS $(jq -c '[.canceled, .notCancelable]' <<<"$BODY")" '200 [2,{"SUBMITTED":1}]' "bulk cancel: 2 canceled, 1 SUBMITTED not"
req GET "/v1/sms/bulk/$bid" -H "X-Consumer-Custom-ID: $A"
is "$(jq -c '[.statuses.CANCELED, .statuses.SCHEDULED]' <<<"$BODY")" '[2,0]' "GET bulk after the cancel"

# A campaign due at one instant: 3,000 messages with one sendAt. The scheduler's pass releases a full
# batch, then goes on two batches at a time while this process's relay and normal pipeline workers
# wait (flow.h); every message is released, none before its sendAt, and everything goes on after.
yield_ms() { req GET /metrics; sed -n 's/^orch_normal_yield_ms_total \([0-9]*\)$/\1/p' <<<"$BODY"; }
y0=$(yield_ms)
camp=$(iso_in 15) # (time to accept the 3,000 first, under SANITIZE too)
for b in 1 2 3; do
	items=$(for i in $(seq 1 1000); do printf '{"to":"+14155550100","from":"ACME","body":"campaign %d","sendAt":"%s"}' "$i" "$camp"; [ "$i" -lt 1000 ] && printf ','; done)
	bulk $A-camp "{\"messages\":[$items]}"
	[ "$STATUS" = 202 ] || break
done
is "$STATUS $(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-camp' AND status = 'SCHEDULED'")" "202 3000" \
	"3,000 messages scheduled for one second"
_camp_done() { [ "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-camp' AND status = 'SUBMITTED'")" = 3000 ]; }
wait_for "all 3,000 SUBMITTED after their sendAt" 60 _camp_done
is "$(sql "SELECT count(*) FROM orch.sms_status_history h JOIN orch.sms_messages m ON m.id = h.message_id
           WHERE m.account_id = '$A-camp' AND h.status = 'QUEUED' AND h.previous_status = 'SCHEDULED' AND h.at >= m.send_at")" 3000 \
	"... each released once, none before its sendAt"
rel=$(sql "SELECT count(DISTINCT h.xmin::text) FROM orch.sms_status_history h JOIN orch.sms_messages m ON m.id = h.message_id
           WHERE m.account_id = '$A-camp' AND h.status = 'QUEUED'")
diag "release transactions: $rel; QUEUED at - sendAt: $(sql "SELECT round(1000 * extract(epoch FROM max(h.at - m.send_at)))::text || ' ms at most'
      FROM orch.sms_status_history h JOIN orch.sms_messages m ON m.id = h.message_id WHERE m.account_id = '$A-camp' AND h.status = 'QUEUED'")"
ok "... many per transaction (at most 10 for the 3,000)" test "$rel" -le 10
y1=$(yield_ms)
diag "orch_normal_yield_ms_total: $y0 -> $y1"
ok "... and normal work waited for the burst (orch_normal_yield_ms_total grew)" test "${y1:-0}" -gt "${y0:-0}"
wait_for "... and every row is published after it" 20 no_pending

# A retry with the Idempotency-Key, once its sendAt is more than 5 minutes past, gets the first answer.
past=$(iso_in -290)
body="{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"retry\",\"sendAt\":\"$past\"}"
send $A "$body" -H "Idempotency-Key: stale-$$"
is "$STATUS $(jq -r .status <<<"$BODY")" "202 QUEUED" "sendAt 4m50s past, with a key: accepted as now"
first=$BODY
sleep 11
send $A "$body" -H "Idempotency-Key: stale-$$"
is "$STATUS $(header Idempotent-Replayed)" "202 true" "the same request 11 s later (sendAt now over 5 minutes past): the first answer replayed"
is "$BODY" "$first" "... the same body"
send $A "$body" -H "Idempotency-Key: stale-other-$$"
has_error invalid_send_at sendAt "... while a new request with it is refused (invalid_send_at)"

# A high message overtakes a 10,000-message backlog: the backlog is written while serve is down.
stop_serve
routing_control "delay_ms=3"
sql "DO \$\$ BEGIN FOR i IN 1..10 LOOP
  PERFORM orch.accept('$A-bl', NULL, NULL, 202, NULL, NULL, NULL, NULL, now(), array_agg(gen_random_uuid()),
    array_fill('+14155550100'::text, ARRAY[1000]), array_fill('ACME'::text, ARRAY[1000]), array_fill('bulk'::text, ARRAY[1000]),
    array_fill('GSM7'::text, ARRAY[1000]), array_fill(1, ARRAY[1000]), array_fill(NULL::text, ARRAY[1000]),
    array_fill(NULL::text, ARRAY[1000]), array_fill(now() + interval '1 day', ARRAY[1000])) FROM generate_series(1, 1000);
END LOOP; END \$\$" >/dev/null
start_serve || exit 1
sleep 1
send $A '{"to":"+14155550100","from":"ACME","body":"otp 9","priority":"high"}'
oid=$(jq -r .messageId <<<"$BODY")
reaches "$oid" SUBMITTED 10 "a high message sent behind 10,000 queued ones is SUBMITTED"
left=$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-bl' AND status <> 'SUBMITTED'")
diag "backlog messages not yet SUBMITTED when the high one was: $left"
ok "... while most of the backlog still waits (more than 5,000 of 10,000 not SUBMITTED)" test "$left" -gt 5000
routing_control reset=1
_drained() { [ "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-bl' AND status <> 'SUBMITTED'")" = 0 ]; }
wait_for "the backlog drains" 60 _drained

# Cancel racing the pipeline: 1,000 messages, a bulk cancel while they flow; each ends CANCELED
# xor on smpp.operator.*, never both.
items=$(for i in $(seq 1 1000); do printf '{"to":"+14155550100","from":"ACME","body":"race %d"}' "$i"; [ "$i" -lt 1000 ] && printf ','; done)
bulk $A-race "{\"messages\":[$items]}"
rbid=$(jq -r .bulkId <<<"$BODY")
req POST "/v1/sms/bulk/$rbid/cancel" -H "X-Consumer-Custom-ID: $A-race"
ncanceled=$(jq -r .canceled <<<"$BODY")
diag "bulk cancel while flowing: $BODY"
_settled() { [ "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-race' AND status NOT IN ('CANCELED', 'SUBMITTED')")" = 0 ]; }
wait_for "every raced message ends CANCELED or SUBMITTED" 30 _settled
wait_for "... and every row is published" 10 no_pending
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-race' AND status = 'CANCELED'")" "$ncanceled" \
	"the CANCELED count is what the cancel answered"
stream SMPP_OPERATOR | jq -r 'select(.headers["Orch-Account-Id"] == "'"$A-race"'") | .headers["Orch-Message-Id"]' | sort >"$T_TMP/onop"
sql "SELECT id FROM orch.sms_messages WHERE account_id = '$A-race' AND status = 'CANCELED'" | sort >"$T_TMP/canceled"
sql "SELECT id FROM orch.sms_messages WHERE account_id = '$A-race' AND status = 'SUBMITTED'" | sort >"$T_TMP/submitted"
is "$(comm -12 "$T_TMP/onop" "$T_TMP/canceled" | wc -l)" 0 "no CANCELED message is on smpp.operator.*"
is "$(comm -3 "$T_TMP/onop" "$T_TMP/submitted" | wc -l)" 0 "every SUBMITTED one is, once each"
is "$(uniq -d "$T_TMP/onop" | wc -l)" 0 "... never twice"

# Per-operator limit across two instances: op-sfo at 50/s, burst 5; 600 messages in one bulk.
sql "INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op-sfo', 50, 5)" >/dev/null
P2=$(sed -n 's/.*:\([0-9]*\)$/\1/p' <<<"$ORCH_HTTP_LISTEN")
P2=$((P2 + 7))
env ORCH_HTTP_LISTEN=127.0.0.1:$P2 "$ORCH_BIN" serve >>"$T_TMP/serve2.log" 2>&1 &
SERVE2=$!
items=$(for i in $(seq 1 600); do printf '{"to":"+14155550100","from":"ACME","body":"lim %d"}' "$i"; [ "$i" -lt 600 ] && printf ','; done)
t0=$(date +%s.%N)
bulk $A-lim "{\"messages\":[$items]}"
is "$STATUS" 202 "600 messages to a limited operator accepted"
_lim_done() { [ "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-lim' AND status = 'SUBMITTED'")" = 600 ]; }
wait_for "all 600 SUBMITTED" 40 _lim_done
t1=$(date +%s.%N)
diag "600 messages at 50/s: $(awk -v a="$t0" -v b="$t1" "BEGIN { printf \"%.1f\", b - a }") s"
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A-lim' AND status = 'FAILED'")" 0 "none FAILED for the limit"
# The token bucket's bound: in any 1 s window at most burst + rate (55) grants (first attempts = publishes).
maxw=$(sql "WITH r AS (SELECT o.first_attempt_at AS t FROM orch.outbox o JOIN orch.sms_messages m ON m.id = o.message_id
                      WHERE m.account_id = '$A-lim' AND o.subject = 'smpp.operator.op-sfo')
            SELECT max((SELECT count(*) FROM r r2 WHERE r2.t >= r.t AND r2.t < r.t + interval '1 second')) FROM r")
diag "most operator publishes in any 1 s window: $maxw"
ok "the limit holds across two instances (at most 55 in any 1 s window)" test "$maxw" -le 55
span=$(sql "SELECT extract(epoch FROM max(o.first_attempt_at) - min(o.first_attempt_at))::numeric(6,1) FROM orch.outbox o
            JOIN orch.sms_messages m ON m.id = o.message_id WHERE m.account_id = '$A-lim' AND o.subject = 'smpp.operator.op-sfo'")
diag "first to last publish: $span s (600 at 50/s after a burst of 5: about 11.9 s)"
# How close the grants come to the rate is a speed figure, measured by make bench's phase t, not
# asserted here (a loaded CI machine took 17.3 s). What cannot depend on the machine's speed: with
# 600 waiting the bucket refills, so some 1 s window holds more grants than twice the burst.
ok "... and the bucket refills: more than 10 (twice the burst) in some 1 s window" test "$maxw" -gt 10
like "$(curl -sS "$BASE_URL/metrics")" 'orch_operator_published_total\{operator="op-sfo"\} [1-9]' "/metrics: per-operator publish count"
like "$(curl -sS "$BASE_URL/metrics")" 'orch_operator_waiting\{operator="op-sfo"\} [0-9]' "/metrics: per-operator waiting gauge"
kill -TERM "$SERVE2"
wait "$SERVE2"
is "$?" 0 "the second instance stops cleanly"
sql "DELETE FROM orch.operator_limits" >/dev/null

ok "serve stops cleanly" stop_serve
json_only
done_testing
