#!/usr/bin/env bash
# `make bench-reconcile`: how long one reconcile pass takes on 100,000
# messages of which 1,000 are stuck (QUEUED for 10 minutes, their request
# published), on the local `run` stack (durable PostgreSQL).
#
#   scripts/bench/reconcile.sh path/to/sms-orchestrator
#
# Fills account bench-reconcile (99,000 SUBMITTED, 1,000 stuck QUEUED), then
# times `reconcile --dry-run`, `reconcile` (repairs the 1,000) and a second
# `reconcile` (nothing left). The account's rows are deleted at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -f "$ROOT/.run/run/serve.pid" ] && kill -0 "$(cat "$ROOT/.run/run/serve.pid")" 2>/dev/null &&
	{ echo "bench-reconcile: make run is serving; stop it first (make stop)" >&2; exit 1; }
"$ROOT/scripts/stack.sh" start run "$BIN" >/dev/null
trap '"$ROOT/scripts/stack.sh" stop run >/dev/null' EXIT
# shellcheck disable=SC1091
. "$ROOT/.run/run/env"
q() { psql -X -q -v ON_ERROR_STOP=1 -U postgres -d orch "$@"; }
q -c "DELETE FROM orch.outbox WHERE message_id IN (SELECT id FROM orch.sms_messages WHERE account_id = 'bench-reconcile')" \
  -c "DELETE FROM orch.sms_messages WHERE account_id = 'bench-reconcile'"
q <<'SQL'
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    PERFORM orch.accept('bench-reconcile', NULL, NULL, 202, NULL, NULL, NULL, NULL, now() - interval '10 minutes',
      array_agg(gen_random_uuid()), array_fill('+14155550100'::text, ARRAY[1000]), array_fill('ACME'::text, ARRAY[1000]),
      array_fill('hello'::text, ARRAY[1000]), array_fill('GSM7'::text, ARRAY[1000]), array_fill(1, ARRAY[1000]),
      array_fill(NULL::text, ARRAY[1000]), array_fill(NULL::text, ARRAY[1000]), array_fill(now() + interval '1 day', ARRAY[1000]))
    FROM generate_series(1, 1000);
  END LOOP;
END $$;
UPDATE orch.outbox SET first_attempt_at = now(), published_at = now()
WHERE published_at IS NULL AND message_id IN (SELECT id FROM orch.sms_messages WHERE account_id = 'bench-reconcile');
WITH s AS (SELECT id FROM orch.sms_messages WHERE account_id = 'bench-reconcile' ORDER BY id OFFSET 1000)
UPDATE orch.sms_messages m SET status = 'ROUTED', operator_id = 'op-x' FROM s WHERE m.id = s.id;
UPDATE orch.sms_messages SET status = 'SUBMITTED', updated_at = now() WHERE account_id = 'bench-reconcile' AND status = 'ROUTED';
UPDATE orch.sms_messages SET updated_at = now() - interval '10 minutes' WHERE account_id = 'bench-reconcile' AND status = 'QUEUED';
VACUUM ANALYZE orch.sms_messages;
VACUUM ANALYZE orch.outbox;
SQL
echo "messages: $(q -tA -c "SELECT count(*) FROM orch.sms_messages") in all, $(q -tA -c "SELECT count(*) FROM orch.sms_messages WHERE account_id = 'bench-reconcile' AND status = 'QUEUED'") stuck"
for pass in --dry-run "" ""; do
	start=$(date +%s%N)
	out=$("$BIN" reconcile $pass 2>/dev/null)
	ms=$((($(date +%s%N) - start) / 1000000))
	printf 'reconcile %-9s wall %5d ms, pass %5s ms, queued_stuck %s\n' "${pass:-(repair)}" "$ms" \
		"$(jq -r .durationMs <<<"$out")" "$(jq -c .findings.queued_stuck <<<"$out")"
done
q -c "DELETE FROM orch.outbox WHERE message_id IN (SELECT id FROM orch.sms_messages WHERE account_id = 'bench-reconcile')" \
  -c "DELETE FROM orch.sms_messages WHERE account_id = 'bench-reconcile'"
