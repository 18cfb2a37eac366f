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

start=$(date +%s%N)
stop_serve; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
is "$rc" 0 "SIGTERM: serve exits 0"
diag "serve stopped in $ms ms"
like "$(cat "$SERVE_LOG")" '"msg":"stopped"' "and logs that it stopped"

done_testing
