#!/usr/bin/env bash
# Hung dependencies (issue 13.7): NATS and PostgreSQL stopped with SIGSTOP (the socket stays open, the kernel
# still acknowledges, nothing answers), then SIGCONT. /readyz must turn 503 within seconds, no request may be
# held for the hang's whole length, and afterwards nothing accepted is lost or sent twice.
. "$(dirname "$0")/lib.sh"
A=acct-gray-$$
HANG=15
export A MSG BASE_URL

# readyz_watch SECONDS OUT: polls /readyz every 0.2 s, one line per poll: "<ms since start> <status> <postgres.ok> <nats.ok> <checkedMsAgo>".
readyz_watch() {
	local end=$(( $(date +%s) + $1 )) t0
	t0=$(date +%s%N)
	while [ "$(date +%s)" -lt "$end" ]; do
		local b
		b=$(curl -sS --max-time 2 -w '\n%{http_code}' "$BASE_URL/readyz" 2>/dev/null)
		printf '%d %s %s\n' $(( ($(date +%s%N) - t0) / 1000000 )) "$(tail -1 <<<"$b")" \
			"$(head -n -1 <<<"$b" | jq -r '[.checks.postgres.ok, .checks.nats.ok, .checkedMsAgo] | map(tostring) | join(" ")' 2>/dev/null)"
		sleep 0.2
	done >"$2"
}
# load SECONDS TAG: one send every 0.1 s with an Idempotency-Key, each line "<key> <code> <seconds>".
load() {
	local end=$(( $(date +%s) + $1 )) i=0
	while [ "$(date +%s)" -lt "$end" ]; do
		i=$((i + 1))
		( r=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 -H "X-Consumer-Custom-ID: $A" \
			-H 'Content-Type: application/json' -H "Idempotency-Key: $2-$i" -d "$MSG" "$BASE_URL/v1/sms/send" 2>/dev/null || echo "000 60")
		  echo "$2-$i $r" ) >>"$T_TMP/load-$2" &
		sleep 0.1
	done
	wait
}
first_503() { awk '$2 == 503 { print $1; exit }' "$1"; }
longest() { awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$1"; }
# settle TAG: every key that got a 503 or no answer is sent again once the dependency is back; then each key
# of the run has exactly one message and every 202 is a stored message.
settle() {
	local k code
	while read -r k code _; do
		[ "$code" = 202 ] && continue
		curl -sS -o /dev/null --max-time 20 -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' \
			-H "Idempotency-Key: $k" -d "$MSG" "$BASE_URL/v1/sms/send" 2>/dev/null
	done <"$T_TMP/load-$1"
	local keys msgs
	keys=$(wc -l <"$T_TMP/load-$1")
	msgs=$(sql "SELECT count(DISTINCT idempotency_key) || '/' || count(*) FROM orch.sms_messages WHERE account_id = '$A' AND idempotency_key LIKE '$1-%'")
	is "$msgs" "$keys/$keys" "$1: after the hang (and a retry of what got 503), each of the $keys keys has exactly one message"
}
all_submitted() { [ "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A' AND status <> 'SUBMITTED'")" = 0 ]; }

start_serve ORCH_DB_TIMEOUT=2s || exit 1

# NATS hung: accepting goes on (PostgreSQL is the store), /readyz says JetStream stopped acknowledging.
NATS_PID=$(cat "$ORCH_RUN_DIR/nats.pid")
load $((HANG + 3)) nats &
loader=$!
sleep 1
kill -STOP "$NATS_PID"
readyz_watch "$HANG" "$T_TMP/readyz-nats"
kill -CONT "$NATS_PID"
wait "$loader"
t=$(first_503 "$T_TMP/readyz-nats")
diag "NATS hung $HANG s: first /readyz 503 after ${t:-never} ms; longest request $(longest "$T_TMP/load-nats") s; answers $(awk '{print $2}' "$T_TMP/load-nats" | sort | uniq -c | paste -sd' ')"
ok "NATS hung: /readyz answers 503 during the hang (after ${t:-never} ms)" test -n "$t"
like "$(awk '$2 == 503' "$T_TMP/readyz-nats" | head -1)" ' false [0-9]+$' "... saying nats.ok is false"
is "$(awk '$2 != 202' "$T_TMP/load-nats" | wc -l)" 0 "NATS hung: every send is still accepted (202)"
settle nats
wait_for "NATS back: every message SUBMITTED" 60 all_submitted
sql "SELECT id FROM orch.sms_messages WHERE account_id = '$A'" | sort >"$T_TMP/ids"
stream SMPP_OPERATOR | jq -r '.headers["Orch-Message-Id"]' | sort >"$T_TMP/sent"
is "$(comm -12 "$T_TMP/ids" <(uniq -d "$T_TMP/sent") | wc -l) $(comm -23 "$T_TMP/ids" <(uniq "$T_TMP/sent") | wc -l)" "0 0" \
	"NATS hung: no message twice and none missing on smpp.operator.*"
sleep 3
req GET /readyz
is "$STATUS" 200 "NATS back: /readyz 200 again"

# PostgreSQL hung: the postmaster and every backend stopped.
PG_PID=$(head -1 "$ORCH_PG_DATA/postmaster.pid")
pg_pids() { echo "$PG_PID"; pgrep -P "$PG_PID"; }
load $((HANG + 3)) pg &
loader=$!
sleep 1
kill -STOP $(pg_pids)
readyz_watch "$HANG" "$T_TMP/readyz-pg"
kill -CONT $(pg_pids)
wait "$loader"
t=$(first_503 "$T_TMP/readyz-pg")
long=$(longest "$T_TMP/load-pg")
diag "PostgreSQL hung $HANG s: first /readyz 503 after ${t:-never} ms; longest request $long s; answers $(awk '{print $2}' "$T_TMP/load-pg" | sort | uniq -c | paste -sd' ')"
ok "PostgreSQL hung: /readyz answers 503 during the hang (after ${t:-never} ms)" test -n "$t"
ok "... and never 200 from a stale check: no 200 with checkedMsAgo over 5 s" \
	test "$(awk '$2 == 200 && $5 > 5000' "$T_TMP/readyz-pg" | wc -l)" = 0
ok "PostgreSQL hung: no request was held for the hang's length (longest $long s of $HANG s)" \
	awk -v l="$long" -v h="$HANG" 'BEGIN { exit !(l < h - 3) }'
ok "... the requests that could not be stored got 503" test "$(awk '$2 == 503' "$T_TMP/load-pg" | wc -l)" -gt 0
is "$(awk '$2 != 202 && $2 != 503' "$T_TMP/load-pg" | wc -l)" 0 "... and every other one 202 (no other status, none unanswered)"
sleep 2
settle pg
wait_for "PostgreSQL back: every message SUBMITTED" 60 all_submitted
sleep 3
req GET /readyz
is "$STATUS" 200 "PostgreSQL back: /readyz 200 again"

stop_serve; rc=$?
is "$rc" 0 "serve exits 0"
json_only
done_testing
