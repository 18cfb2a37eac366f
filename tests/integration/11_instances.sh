#!/usr/bin/env bash
# Several serve processes, SIGKILL mid-flow, SIGTERM under load: every accepted message SUBMITTED exactly once.
. "$(dirname "$0")/lib.sh"
routing_control reset=1
PORT2=$((${ORCH_HTTP_LISTEN##*:} + 2))
URL2=http://127.0.0.1:$PORT2
items=$(for i in $(seq 1 100); do printf '%s{"to":"+14155550100","from":"ACME","body":"m %d"}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done)
BULK="{\"messages\":[$items]}"
post_bulk() { curl -sS -o /dev/null -w '%{http_code}\n' -H "X-Consumer-Custom-ID: $1" -H 'Content-Type: application/json' --data-binary "$BULK" "$2/v1/sms/bulk"; }
post_send() { curl -sS -o /dev/null -w '%{http_code}\n' -H "X-Consumer-Custom-ID: $1" -H 'Content-Type: application/json' -d "$MSG" "$2/v1/sms/send"; }
export -f post_send
export MSG
submitted_count() { sql "SELECT count(*) FILTER (WHERE status = 'SUBMITTED') || '/' || count(*) FROM orch.sms_messages WHERE account_id = '$1'"; }
all_submitted_of() { local c; c=$(submitted_count "$1"); [ "${c%/*}" = "${c#*/}" ] && [ "${c#*/}" -gt 0 ]; }
# exactly_once ACCOUNT DESC: each of the account's messages is on smpp.operator.* exactly once.
exactly_once() {
	sql "SELECT id FROM orch.sms_messages WHERE account_id = '$1'" | sort >"$T_TMP/ids"
	stream SMPP_OPERATOR | jq -r '.headers["Orch-Message-Id"]' | sort >"$T_TMP/sent"
	local missing twice
	missing=$(comm -23 "$T_TMP/ids" <(uniq "$T_TMP/sent") | wc -l)
	twice=$(comm -12 "$T_TMP/ids" <(uniq -d "$T_TMP/sent") | wc -l)
	is "missing $missing, twice $twice" "missing 0, twice 0" "$2 ($(wc -l <"$T_TMP/ids") messages)"
}

# Two serve processes, 2000 messages split between them (send and bulk).
A=acct-two-$$
start_serve || exit 1
env ORCH_HTTP_LISTEN="127.0.0.1:$PORT2" "$ORCH_BIN" serve >"$T_TMP/serve2.log" 2>&1 &
second=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "$URL2/healthz" 2>/dev/null && break; sleep 0.1; done
{
	for i in $(seq 1 9); do post_bulk $A "$BASE_URL"; post_bulk $A "$URL2"; done
	seq 1 100 | xargs -P 8 -I{} bash -c 'post_send '"$A"' '"$BASE_URL"
	seq 1 100 | xargs -P 8 -I{} bash -c 'post_send '"$A"' '"$URL2"
} >"$T_TMP/codes"
is "$(sort -u "$T_TMP/codes" | paste -sd,)" 202 "2000 messages accepted through two serve processes"
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A'")" 2000 "... 2000 stored"
wait_for "... all SUBMITTED" 90 all_submitted_of $A
exactly_once $A "two serve processes: each message on smpp.operator.* exactly once"
p1=$(curl -s "$BASE_URL/metrics" | awk '/^orch_pipeline_routed_total/ {print $2}')
p2=$(curl -s "$URL2/metrics" | awk '/^orch_pipeline_routed_total/ {print $2}')
diag "pipeline 1 routed $p1, pipeline 2 routed $p2"
ok "both pipelines shared the work" test "${p1:-0}" -gt 0 -a "${p2:-0}" -gt 0
kill -TERM "$second"; wait "$second"
is "$?" 0 "the second serve exits 0 on SIGTERM"

# SIGKILL while 2000 messages flow, then restart.
B=acct-kill-$$
( for i in $(seq 1 20); do post_bulk $B "$BASE_URL"; done >"$T_TMP/kcodes" ) &
loader=$!
sleep 1.5
kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
wait "$loader"
accepted=$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$B'")
diag "$accepted messages were accepted before the SIGKILL ($(grep -c 202 "$T_TMP/kcodes") bulk 202s)"
ok "some messages were accepted before the kill" test "$accepted" -gt 0
# One bulk may have committed and lost its answer to the kill (the loader sends one at a time): stored is the
# 202s' messages, or those plus the one bulk in flight.
n202=$(( $(grep -c 202 "$T_TMP/kcodes") * 100 ))
ok "every 202 answered is a stored message (nothing acknowledged was lost): $accepted stored for $n202 acknowledged" \
	test "$accepted" -ge "$n202" -a "$accepted" -le $((n202 + 100))
start_serve || exit 1
wait_for "after restart every accepted message is SUBMITTED (redeliveries after the 30 s AckWait included)" 120 all_submitted_of $B
exactly_once $B "SIGKILL mid-flow: each accepted message on smpp.operator.* exactly once"

# SIGTERM under load: exit 0, nothing accepted is lost, no 5xx but the 503 while draining.
C=acct-term-$$
( for i in $(seq 1 400); do
	curl -sS -o "$T_TMP/t$i" -w '%{http_code}\n' -H "X-Consumer-Custom-ID: $C" -H 'Content-Type: application/json' -d "$MSG" "$BASE_URL/v1/sms/send" 2>/dev/null || echo 000
done >"$T_TMP/tcodes" ) &
loader=$!
sleep 1
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"; rc=$?
SERVE_PID=
wait "$loader"
is "$rc" 0 "SIGTERM under load: serve exits 0"
codes=$(sort -u "$T_TMP/tcodes" | paste -sd,)
diag "answers seen: $codes"
unlike "$codes" '5(0[0-2]|0[4-9]|[1-9][0-9])' "no 5xx but 503"
ids=$(cat "$T_TMP"/t* 2>/dev/null | jq -r 'select(.messageId) | .messageId' 2>/dev/null | sort -u)
n202=$(grep -c '^202$' "$T_TMP/tcodes")
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$C'")" "$n202" "every 202 is a stored message ($n202)"
start_serve || exit 1
wait_for "after restart they are all SUBMITTED" 60 all_submitted_of $C
exactly_once $C "SIGTERM: each accepted message on smpp.operator.* exactly once"
stop_serve
json_only
done_testing
