#!/usr/bin/env bash
# Two serve processes under a 2,000-message burst (issue 13.1): every SelectRoute call for a message
# carries an attempt number no earlier call for it carried, and a healthy engine never opens the breaker:
# a fast engine, one answering in 40 ms, and one of finite capacity where too many calls at once queue.
. "$(dirname "$0")/lib.sh"
PORT2=$((${ORCH_HTTP_LISTEN##*:} + 3))
URL2=http://127.0.0.1:$PORT2
items=$(for i in $(seq 1 100); do printf '%s{"to":"+14155550100","from":"ACME","body":"burst %d"}' "$([ "$i" -gt 1 ] && echo ,)" "$i"; done)
BULK="{\"messages\":[$items]}"
all_submitted_of() { [ "$(sql "SELECT count(*) FILTER (WHERE status = 'SUBMITTED') FROM orch.sms_messages WHERE account_id = '$1'")" = 2000 ]; }

# burst ACCOUNT: 18 bulks of 100 and 200 sends, split between the two processes, all at once (curl --parallel).
burst() {
	local cfg=$T_TMP/burst-$1.curl url
	: >"$cfg"
	for i in $(seq 1 109); do
		for url in "$BASE_URL" "$URL2"; do
			[ -s "$cfg" ] && echo next >>"$cfg"
			if [ "$i" -le 9 ]; then
				printf 'url = "%s/v1/sms/bulk"\ndata-binary = "@%s"\n' "$url" "$T_TMP/bulk.json" >>"$cfg"
			else
				printf 'url = "%s/v1/sms/send"\ndata-binary = "@%s"\n' "$url" "$T_TMP/send.json" >>"$cfg"
			fi
			printf 'output = "/dev/null"\nheader = "X-Consumer-Custom-ID: %s"\nheader = "Content-Type: application/json"\nsilent\nshow-error\nwrite-out = "%%{http_code}\\n"\n' "$1" >>"$cfg"
		done
	done
	curl -sS --parallel --parallel-max 32 -K "$cfg" >"$T_TMP/codes-$1" 2>"$T_TMP/curl-$1.err"
}
printf '%s' "$BULK" >"$T_TMP/bulk.json"
printf '%s' "$MSG" >"$T_TMP/send.json"

# round NAME [env...]: both processes with the env, a burst, then the checks.
round() {
	local name=$1; shift
	local A=acct-burst-$name-$$ started elapsed
	routing_control clear_calls=1 >/dev/null
	: >"$SERVE_LOG"
	start_serve "$@" || return 1
	env "$@" ORCH_HTTP_LISTEN="127.0.0.1:$PORT2" "$ORCH_BIN" serve >"$T_TMP/serve2-$name.log" 2>&1 &
	local second=$!
	for _ in $(seq 1 50); do curl -fsS -o /dev/null "$URL2/healthz" 2>/dev/null && break; sleep 0.1; done
	started=$(date +%s%N)
	burst "$A"
	elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
	is "$(sort -u "$T_TMP/codes-$A" | paste -sd,)" 202 "$name: 2000 messages accepted by two processes (in $elapsed ms)"
	wait_for "$name: all 2000 SUBMITTED" 120 all_submitted_of "$A"
	sql "SELECT id FROM orch.sms_messages WHERE account_id = '$A'" | sort >"$T_TMP/ids-$A"
	routing_calls | jq -r '"\(.message_id) \(.attempt)"' | sort >"$T_TMP/calls-$A.all"
	join "$T_TMP/ids-$A" "$T_TMP/calls-$A.all" >"$T_TMP/calls-$A"
	local dup calls
	dup=$(uniq -d "$T_TMP/calls-$A" | wc -l)
	calls=$(wc -l <"$T_TMP/calls-$A")
	diag "$name: $calls routing calls for 2000 messages; limit now $(curl -s "$BASE_URL/metrics" | awk '/^orch_routing_concurrency_limit / {print $2}') and $(curl -s "$URL2/metrics" | awk '/^orch_routing_concurrency_limit / {print $2}')"
	is "$dup" 0 "$name: no (message_id, attempt) sent to the routing engine twice"
	local opened
	opened=$(cat "$SERVE_LOG" "$T_TMP/serve2-$name.log" | grep '"msg":"circuit breaker"' | grep -c '"state":"open"')
	is "$opened" 0 "$name: the circuit breaker never opened"
	is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A' AND status <> 'SUBMITTED'")" 0 "$name: none FAILED"
	kill -TERM "$second"; wait "$second"
	is "$?" 0 "$name: the second process exits 0"
	stop_serve
	is "$?" 0 "$name: the first process exits 0"
}

routing_control reset=1
round healthy
routing_control "reset=1&delay_ms=40"
round engine-40ms ORCH_ROUTING_TIMEOUT_MS=250
# A healthy engine of finite capacity (8 calls at once, 20 ms each: 400 calls/s, queueing beyond):
# 2 x 64 calls at once would wait 320 ms there, past the deadline; the concurrency limit must keep them in the service.
routing_control "reset=1&delay_ms=20&workers=8"
round engine-8-workers ORCH_ROUTING_TIMEOUT_MS=250
routing_control reset=1
done_testing
