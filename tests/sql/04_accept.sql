-- orch.accept(): the accept transaction, its idempotency backstop, and the
-- read functions of the HTTP API.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.acc(p_key text, p_fp text, p_ids uuid[]) RETURNS SETOF record LANGUAGE sql AS $$
    SELECT accepted, response_status, response_body, fingerprint FROM orch.accept(
        'acct-a', p_key, p_fp, 202, '{"first":true}', now() + interval '48 hours', 'req-1', '00-abc-def-01',
        now(), p_ids,
        array_fill('+14155550100'::text, ARRAY[cardinality(p_ids)]), array_fill('ACME'::text, ARRAY[cardinality(p_ids)]),
        array_fill('hello'::text, ARRAY[cardinality(p_ids)]), array_fill('GSM7'::text, ARRAY[cardinality(p_ids)]),
        array_fill(1, ARRAY[cardinality(p_ids)]), array_fill(NULL::text, ARRAY[cardinality(p_ids)]),
        array_fill(NULL::text, ARRAY[cardinality(p_ids)]), array_fill(now() + interval '1 day', ARRAY[cardinality(p_ids)]))
$$;

SELECT gen_random_uuid() AS a1, gen_random_uuid() AS a2, gen_random_uuid() AS a3 \gset
SELECT is((SELECT accepted FROM pg_temp.acc('k-1', repeat('a', 64), ARRAY[:'a1'::uuid, :'a2'::uuid])
           AS (accepted boolean, s integer, b text, f text)), true, 'a new key: accepted');
SELECT is((SELECT count(*) FROM orch.sms_messages WHERE id IN (:'a1', :'a2') AND status = 'QUEUED' AND seq = 1),
          2::bigint, 'both messages QUEUED with seq 1');
SELECT is((SELECT count(*) FROM orch.sms_status_history WHERE message_id IN (:'a1', :'a2')), 2::bigint, 'one history row each');
SELECT is(ARRAY(SELECT subject FROM orch.outbox WHERE message_id = :'a1' ORDER BY id),
          ARRAY['sms.events.status', 'sms.outbound.request'], 'status event, then the request, per message');
SELECT is((SELECT headers->>'traceparent' FROM orch.outbox WHERE message_id = :'a1' LIMIT 1), '00-abc-def-01',
          'traceparent carried into the headers');
SELECT is((SELECT payload->'data'->>'status' || (payload->'data'->>'seq') FROM orch.outbox
           WHERE message_id = :'a1' AND subject = 'sms.events.status'), 'QUEUED1', 'the QUEUED event has seq 1');
SELECT is((SELECT message_ids FROM orch.idempotency_keys WHERE account_id = 'acct-a' AND idem_key = 'k-1'),
          ARRAY[:'a1'::uuid, :'a2'::uuid], 'the idempotency record lists the messages');

SELECT is((SELECT row(accepted, s, b, f)::text FROM pg_temp.acc('k-1', repeat('b', 64), ARRAY[:'a3'::uuid])
           AS (accepted boolean, s integer, b text, f text)),
          row(false, 202, '{"first":true}', repeat('a', 64))::text,
          'the same key again: not accepted, the stored answer and fingerprint come back');
SELECT is((SELECT count(*) FROM orch.sms_messages WHERE id = :'a3'), 0::bigint, 'and no message was written');

SELECT is((SELECT accepted FROM pg_temp.acc('k-1', repeat('c', 64), ARRAY[:'a3'::uuid])
           AS (accepted boolean, s integer, b text, f text)), false, 'the key is per account: still refused for acct-a');
UPDATE orch.idempotency_keys SET created_at = now() - interval '3 days', expires_at = now() - interval '1 day'
WHERE account_id = 'acct-a' AND idem_key = 'k-1';
SELECT is((SELECT accepted FROM pg_temp.acc('k-1', repeat('c', 64), ARRAY[:'a3'::uuid])
           AS (accepted boolean, s integer, b text, f text)), true, 'an expired key is used afresh');
SELECT is((SELECT fingerprint FROM orch.idempotency_keys WHERE account_id = 'acct-a' AND idem_key = 'k-1'),
          repeat('c', 64), 'and its record is replaced');

SELECT gen_random_uuid() AS n1 \gset
SELECT is((SELECT accepted FROM pg_temp.acc(NULL, NULL, ARRAY[:'n1'::uuid]) AS (accepted boolean, s integer, b text, f text)),
          true, 'without a key: accepted, no record');

-- GET's JSON.
SELECT is((orch.message_json(:'a1', 'acct-a')::jsonb)->>'status', 'QUEUED', 'message_json: the status');
SELECT is(jsonb_array_length((orch.message_json(:'a1', 'acct-a')::jsonb)->'history'), 1, 'message_json: the history');
SELECT is(orch.message_json(:'a1', 'acct-other'), NULL, 'message_json: another account''s message is NULL');
SELECT is(orch.message_json(gen_random_uuid(), 'acct-a'), NULL, 'message_json: an unknown id is NULL');

-- The backlog estimate.
SELECT ok((SELECT pending FROM orch.outbox_backlog_estimate()) >= 8, 'backlog estimate counts pending rows');
UPDATE orch.outbox SET first_attempt_at = now(), published_at = now();
SELECT is((SELECT pending FROM orch.outbox_backlog_estimate()), 0::bigint, 'nothing pending: 0');
SELECT is((SELECT oldest_age_seconds FROM orch.outbox_backlog_estimate()), 0::double precision, 'nothing pending: age 0');

-- The idempotency purge: expired records only, oldest first, in batches.
DELETE FROM orch.idempotency_keys;
INSERT INTO orch.idempotency_keys (account_id, idem_key, fingerprint, response_status, response_body, created_at, expires_at)
SELECT 'acct-p', 'k-' || g, repeat('a', 64), 202, '{}', now() - interval '3 days',
       CASE WHEN g <= 3 THEN now() - g * interval '1 hour' ELSE now() + interval '1 hour' END
FROM generate_series(1, 4) g;
SELECT is(orch.idempotency_purge(2), 2, 'idempotency purge deletes a batch of expired records');
SELECT is((SELECT string_agg(idem_key, ',' ORDER BY idem_key) FROM orch.idempotency_keys), 'k-1,k-4', '... the oldest first');
SELECT is(orch.idempotency_purge(100), 1, 'then the rest');
SELECT is(orch.idempotency_purge(100), 0, 'then nothing');
SELECT is((SELECT string_agg(idem_key, ',') FROM orch.idempotency_keys), 'k-4', 'a live record is kept');

SELECT * FROM finish();
ROLLBACK;
