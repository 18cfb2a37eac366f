#!/usr/bin/env bash
# Many open connections (issue 13.3): thousands of idle or slow-header (slowloris) connections do not stop
# serve from answering a request or /healthz; near ORCH_HTTP_MAX_CONNECTIONS idle ones are closed first.
. "$(dirname "$0")/lib.sh"
IDLE=$ORCH_TOOLS/idleconns
HOST=${ORCH_HTTP_LISTEN%:*} PORT=${ORCH_HTTP_LISTEN##*:}
A=acct-conns-$$

# hold N MODE: opens N connections for at most 60 s in the background (HOLD_PID), waits until they are up.
hold() {
	: >"$T_TMP/hold.out"
	"$IDLE" "$HOST" "$PORT" "$1" 60 "$2" >"$T_TMP/hold.out" 2>&1 &
	HOLD_PID=$!
	for _ in $(seq 1 300); do grep -q '^open' "$T_TMP/hold.out" && break; sleep 0.1; done
	diag "$(head -1 "$T_TMP/hold.out") $2 connections held"
}
release() { kill -TERM "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null; }
# answered DESC: a send and /healthz are answered (10 s at most each), with their times.
answered() {
	local t
	t=$(curl -sS -o "$T_TMP/a.body" -w '%{http_code} %{time_total}' --max-time 10 -H "X-Consumer-Custom-ID: $A" \
		-H 'Content-Type: application/json' -d "$MSG" "$BASE_URL/v1/sms/send" 2>/dev/null || echo "000 timeout")
	is "${t%% *}" 202 "$1: a send is answered 202 (in ${t#* } s)"
	t=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 "$BASE_URL/healthz" 2>/dev/null || echo "000 timeout")
	is "${t%% *}" 200 "$1: /healthz answers (in ${t#* } s)"
}

start_serve || exit 1
like "$(grep '"HTTP server listening"' "$SERVE_LOG")" '"max_connections":"10000"' "the default limit is 10,000 connections"
like "$(grep '"open-files limit"' "$SERVE_LOG" | head -1)" '"open_files_soft":"[0-9]+"' "serve logs the open-files limit it got"
hold 5000 idle
is "$(head -1 "$T_TMP/hold.out")" "open 5000" "5,000 idle connections are all accepted"
answered "5,000 idle connections open"
release
hold 5000 slow
answered "5,000 slow-header connections open"
release
stop_serve

# A small limit: the oldest idle connections are closed to make room, so new requests are still served.
: >"$SERVE_LOG"
start_serve ORCH_HTTP_MAX_CONNECTIONS=1000 || exit 1
hold 1500 idle
answered "1,500 idle connections against a limit of 1,000"
sleep 1.5
closed=$(tail -1 "$T_TMP/hold.out" | awk '{print $2}')
ok "... the server closed idle connections to make room ($closed of 1500)" test "${closed:-0}" -ge 500
like "$(curl -s "$BASE_URL/metrics")" $'\norch_http_idle_connections_closed_total [1-9]' "... and counts them in /metrics"
release
hold 1500 slow
answered "1,500 slow-header connections against a limit of 1,000"
release
stop_serve; rc=$?
is "$rc" 0 "serve exits 0"
bad=$(grep -cv '^{' "$SERVE_LOG")
is "$bad" 0 "every line serve wrote under these loads is JSON (libmicrohttpd's messages included)"
[ "$bad" -eq 0 ] || grep -v '^{' "$SERVE_LOG" | sort | uniq -c | sort -rn | head -5 | sed 's/^/# /'
done_testing
