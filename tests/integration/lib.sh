# TAP helpers and service control for the integration tests (bash).
# Each test file sources this, runs checks, and ends with done_testing.
set -uo pipefail
: "${ORCH_ROOT:?run through make test}" "${ORCH_BIN:?run through make test}"
# shellcheck disable=SC1091
. "$ORCH_ROOT/.run/test/env"
T_N=0 T_FAILED=0
T_TMP=$(mktemp -d)
trap 'stop_serve; rm -rf "$T_TMP"' EXIT

_report() { # status desc
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAILED=$((T_FAILED + 1)); fi
}
# ok DESC CMD...: passes when CMD exits 0.
ok() { local d=$1; shift; "$@" >/dev/null 2>&1; _report $? "$d"; }
# is GOT EXPECTED DESC
is() {
	if [ "$1" == "$2" ]; then _report 0 "$3"; else _report 1 "$3"; echo "#   got:      '$1'"; echo "#   expected: '$2'"; fi
}
# like GOT REGEX DESC
like() {
	if [[ $1 =~ $2 ]]; then _report 0 "$3"; else _report 1 "$3"; echo "#   got: '${1:0:400}'"; echo "#   does not match: '$2'"; fi
}
unlike() {
	if [[ $1 =~ $2 ]]; then _report 1 "$3"; echo "#   got: '${1:0:400}' matches '$2'"; else _report 0 "$3"; fi
}
diag() { echo "# $*"; }
done_testing() { echo "1..$T_N"; [ "$T_FAILED" -eq 0 ]; }

sql() { psql -X -q -tA -U postgres -d orch -v ON_ERROR_STOP=1 -c "$1"; }

SERVE_PID=
SERVE_LOG=$T_TMP/serve.log
BASE_URL=http://$ORCH_HTTP_LISTEN
# start_serve [env assignments...]: starts serve and waits for /healthz.
start_serve() {
	env "$@" "$ORCH_BIN" serve >>"$SERVE_LOG" 2>&1 &
	SERVE_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null "$BASE_URL/healthz" 2>/dev/null && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# serve did not come up; log:"; sed 's/^/#   /' "$SERVE_LOG" | tail -20
	return 1
}
# stop_serve: SIGTERM, waits; returns serve's exit status.
stop_serve() {
	[ -n "$SERVE_PID" ] || return 0
	local pid=$SERVE_PID rc
	SERVE_PID=
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	if grep -qE 'Sanitizer|runtime error:' "$SERVE_LOG"; then
		echo "# serve log has a sanitizer report:"; grep -E -A5 'Sanitizer|runtime error:' "$SERVE_LOG" | head -30 | sed 's/^/#   /'
		return 99
	fi
	return $rc
}

# json_only [LOG]: every line serve wrote to stderr is a JSON object (operations.md), libraries' included.
json_only() {
	local log=${1:-$SERVE_LOG} bad
	bad=$(grep -cv '^{' "$log")
	is "$bad" 0 "every line serve wrote to stderr is JSON ($(wc -l <"$log") lines)"
	[ "$bad" = 0 ] || grep -v '^{' "$log" | sort | uniq -c | sort -rn | head -5 | sed 's/^/# /'
}

# req METHOD PATH [curl args...]: sets STATUS, HDRS, BODY.
req() {
	local m=$1 p=$2
	shift 2
	STATUS=$(curl -sS -X "$m" -o "$T_TMP/body" -D "$T_TMP/hdr" -w '%{http_code}' "$@" "$BASE_URL$p")
	BODY=$(cat "$T_TMP/body")
	HDRS=$(tr -d '\r' <"$T_TMP/hdr")
}
# header NAME: the value of a response header of the last req.
header() { printf '%s\n' "$HDRS" | grep -i "^$1:" | head -1 | sed 's/^[^:]*: *//'; }
# A send as account $1 with body $2 and more curl args.
send() { local a=$1 b=$2; shift 2; req POST /v1/sms/send -H "X-Consumer-Custom-ID: $a" -H 'Content-Type: application/json' -d "$b" "$@"; }
bulk() { local a=$1 b=$2; shift 2; req POST /v1/sms/bulk -H "X-Consumer-Custom-ID: $a" -H 'Content-Type: application/json' --data-binary "$b" "$@"; }
# is_problem STATUS DESC: the last answer is an RFC 9457 problem with this status and instance = X-Request-ID.
is_problem() {
	local ok=0
	[ "$STATUS" = "$1" ] || ok=1
	[ "$(header Content-Type)" = "application/problem+json" ] || ok=1
	[ "$(jq -r .status <<<"$BODY" 2>/dev/null)" = "$1" ] || ok=1
	[ -n "$(header X-Request-ID)" ] && [ "$(jq -r .instance <<<"$BODY" 2>/dev/null)" = "$(header X-Request-ID)" ] || ok=1
	[ "$(jq -r '.type | startswith("urn:sms-orchestrator:problem:")' <<<"$BODY" 2>/dev/null)" = true ] || ok=1
	_report $ok "$2"
	[ $ok -eq 0 ] || { echo "#   status $STATUS, content-type '$(header Content-Type)'"; echo "#   body: ${BODY:0:400}"; }
}
# has_error CODE FIELD DESC: errors[] of the last problem holds this code for this field.
has_error() {
	local n
	n=$(jq --arg c "$1" --arg f "$2" '[.errors[]? | select(.code == $c and .field == $f)] | length' <<<"$BODY" 2>/dev/null)
	if [ "${n:-0}" -ge 1 ]; then _report 0 "$3"; else _report 1 "$3"; echo "#   errors: $(jq -c .errors <<<"$BODY" 2>/dev/null)"; fi
}
count_messages() { sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$1'"; }
MSG='{"to":"+14155550100","from":"ACME","body":"hello"}'

JSDUMP=${ORCH_TOOLS:-}/jsdump
# stream NAME: every message of a JetStream stream as JSON lines.
stream() { "$JSDUMP" "$ORCH_NATS_URL" "$1"; }
nats_stop() {
	local pid
	pid=$(cat "$ORCH_RUN_DIR/nats.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ] && break; sleep 0.1; done
}
nats_start() { "$ORCH_ROOT/scripts/stack.sh" start test >>"$T_TMP/stack.log" 2>&1 || { echo "# stack.sh start failed:"; sed "s/^/#   /" "$T_TMP/stack.log"; }; }
# wait_for DESC SECONDS CMD...: polls CMD until it succeeds (CMD is run each time: pass a function,
# not a "$(...)" that would be evaluated once).
wait_for() {
	local d=$1 s=$2 i
	shift 2
	for ((i = 0; i < s * 10; i++)); do "$@" >/dev/null 2>&1 && { _report 0 "$d"; return 0; }; sleep 0.1; done
	_report 1 "$d (not within $s s)"
	return 1
}
pending_rows() { sql "SELECT count(*) FROM orch.outbox WHERE published_at IS NULL"; }
no_pending() { [ "$(pending_rows)" = 0 ]; }

# The stand-in routing engine: control it, read its call log, stop and start it.
routing_control() { curl -sS -X POST "$ORCH_ROUTING_CONTROL/control?$1" >/dev/null; }
routing_calls() { curl -sS "$ORCH_ROUTING_CONTROL/calls"; }
routing_stop() {
	local pid
	pid=$(cat "$ORCH_RUN_DIR/routing.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ] && break; sleep 0.1; done
}
routing_start() { "$ORCH_ROOT/scripts/stack.sh" start test "$ORCH_BIN" >>"$T_TMP/stack.log" 2>&1; }
