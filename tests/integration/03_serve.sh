#!/usr/bin/env bash
# serve: comes up, answers /healthz, problem+json for unknown paths, exits 0 on SIGTERM.
. "$(dirname "$0")/lib.sh"

ok "serve starts and answers /healthz" start_serve
out=$(curl -sS -D "$T_TMP/h" "$BASE_URL/healthz")
is "$out" '{"status":"ok"}' "/healthz says ok"
like "$(cat "$T_TMP/h")" $'HTTP/1.1 200' "/healthz is 200"
like "$(cat "$T_TMP/h")" $'X-Request-ID: [0-9a-f]{32}' "a request id is made and echoed"

out=$(curl -sS -D "$T_TMP/h" -H 'X-Request-ID: req-abc-1' "$BASE_URL/nope")
like "$(cat "$T_TMP/h")" 'HTTP/1.1 404' "an unknown path is 404"
like "$(cat "$T_TMP/h")" 'Content-Type: application/problem\+json' "as application/problem+json"
is "$(jq -r '.status, .instance' <<<"$out" | paste -sd' ')" "404 req-abc-1" "the problem's instance is the request id"
like "$(cat "$T_TMP/h")" 'X-Request-ID: req-abc-1' "the client's request id is echoed"

curl -sS -o /dev/null -D "$T_TMP/h" -X POST "$BASE_URL/healthz"
like "$(cat "$T_TMP/h")" 'HTTP/1.1 405' "a wrong method is 405"
like "$(cat "$T_TMP/h")" 'Allow: GET' "with Allow"

# Keep-alive holds: two requests on one connection.
out=$(curl -sS -v "$BASE_URL/healthz" "$BASE_URL/healthz" 2>&1)
like "$out" 'Re-using existing connection' "keep-alive: the second request reuses the connection"

stop_serve
# A stuck client (headers never finished) blocks nobody and is cut off after ORCH_HTTP_IDLE_TIMEOUT.
start_serve ORCH_HTTP_IDLE_TIMEOUT=2s ORCH_HTTP_THREADS=1 || exit 1
host=${ORCH_HTTP_LISTEN%:*} port=${ORCH_HTTP_LISTEN##*:}
exec 5<>"/dev/tcp/$host/$port"
printf 'POST /v1/sms/send HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"to":' >&5
t0=$(date +%s%N)
out=$(curl -sS -m 1 "$BASE_URL/healthz")
ms=$((($(date +%s%N) - t0) / 1000000))
is "$out" '{"status":"ok"}' "a stuck client on the only HTTP thread does not block another request"
diag "the other request took $ms ms"
t0=$(date +%s%N)
timeout 10 cat <&5 >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
exec 5<&-
ok "the stuck client is disconnected after the idle timeout (${ms} ms)" test "$ms" -ge 1000 -a "$ms" -lt 6000

start=$(date +%s%N)
stop_serve; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
is "$rc" 0 "SIGTERM: serve exits 0"
diag "serve stopped in $ms ms"
like "$(cat "$SERVE_LOG")" '"msg":"stopped"' "and logs that it stopped"

done_testing
