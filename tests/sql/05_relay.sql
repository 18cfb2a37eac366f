-- The relay's SQL: stamping operator rows, claiming, marking, purging.
BEGIN;
SELECT no_plan();
DELETE FROM orch.outbox;

SELECT gen_random_uuid() AS m1, gen_random_uuid() AS m2 \gset
SELECT orch.accept_message(:'m1', 'acct-rl', '+14155550100', 'ACME', 'x', 'GSM7', 1, NULL, NULL, now() + interval '1 day', NULL, NULL, NULL) \gset
SELECT orch.accept_message(:'m2', 'acct-rl', '+14155550100', 'ACME', 'y', 'GSM7', 1, NULL, NULL, now() + interval '1 day', NULL, NULL, NULL) \gset
SELECT orch.transition(:'m1', 'QUEUED', 'ROUTED', p_operator_id => 'op-1') \gset
SELECT is((SELECT count(*) FROM orch.outbox WHERE published_at IS NULL), 6::bigint, '6 pending rows: 2 x (QUEUED event, request), the ROUTED event, the operator row');

SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes')), 5::bigint,
          'claim skips an operator row whose first attempt is not recorded yet');
SELECT is(orch.outbox_stamp_operator_rows(100), 1, 'stamp records the first attempt of the operator row');
SELECT is(orch.outbox_stamp_operator_rows(100), 0, 'stamping again does nothing');
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes')), 6::bigint, 'then the claim returns it too');
SELECT is(ARRAY(SELECT id FROM orch.outbox_claim(2, '2 minutes')), ARRAY(SELECT id FROM orch.outbox ORDER BY id LIMIT 2),
          'claim returns rows in id order, no more than the limit');
SELECT is((SELECT headers::jsonb->>'Nats-Msg-Id' = msg_id::text FROM orch.outbox_claim(1, '2 minutes')), true,
          'claimed rows carry their headers');

-- The duplicate window: an operator row first attempted before it is never returned.
UPDATE orch.outbox SET first_attempt_at = now() - interval '3 minutes' WHERE subject = 'smpp.operator.op-1';
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes') WHERE subject LIKE 'smpp.%'), 0::bigint,
          'an operator row first attempted before the duplicate window is not claimed');
UPDATE orch.outbox SET first_attempt_at = now() WHERE subject = 'smpp.operator.op-1';

-- Marking: published rows leave the pending set; the operator acknowledgement makes the message SUBMITTED.
SELECT is(orch.outbox_mark_published(ARRAY(SELECT id FROM orch.outbox WHERE subject LIKE 'smpp.%')), 1,
          'marking the operator row published moves one message');
SELECT is((SELECT status || '/' || seq FROM orch.sms_messages WHERE id = :'m1'), 'SUBMITTED/3', 'the message is SUBMITTED, seq 3');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'m1' AND subject = 'sms.events.status'
           AND payload->'data'->>'status' = 'SUBMITTED'), 1::bigint, 'with its SUBMITTED status event');
SELECT is((SELECT attempts || ' ' || (published_at IS NOT NULL) FROM orch.outbox WHERE subject LIKE 'smpp.%'), '1 true',
          'the row is published after one attempt');
SELECT is(orch.outbox_mark_published(ARRAY(SELECT id FROM orch.outbox WHERE subject LIKE 'smpp.%')), 0,
          'marking it again changes nothing');
SELECT orch.outbox_mark_failed(ARRAY(SELECT id FROM orch.outbox WHERE message_id = :'m2'), 'nats: no responders') \gset
SELECT is((SELECT string_agg(DISTINCT attempts || ' ' || last_error || ' ' || (first_attempt_at IS NOT NULL), ',') FROM orch.outbox WHERE message_id = :'m2'),
          '1 nats: no responders true', 'a failed attempt is counted with its error, and stays pending');

SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes')), 6::bigint, 'still pending: 5 rows and the SUBMITTED event');

-- Purge: only the default partition's published rows past the retention,
-- in batches (the rows of the old outbox's backlog land there, their msg_ids
-- are v4); the day partitions leave whole (orch.partition_upkeep).
UPDATE orch.outbox SET published_at = now() - interval '2 hours', first_attempt_at = now() - interval '2 hours' WHERE message_id = :'m1';
INSERT INTO orch.outbox (msg_id, subject, message_id, payload, first_attempt_at, published_at, attempts)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'sms.events.status', :'m1', '{}',
       now() - interval '2 hours', now() - interval '2 hours', 1
FROM generate_series(1, 5) AS g;
SELECT is((SELECT count(*) FROM orch_part.outbox_default), 5::bigint, 'rows with msg_ids of no day land in the default partition');
SELECT is(orch.outbox_purge('1 hour', 2), 2, 'purge deletes a batch');
SELECT is(orch.outbox_purge('1 hour', 100), 3, 'then the rest');
SELECT is(orch.outbox_purge('1 hour', 100), 0, 'then nothing');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'m1' AND published_at IS NOT NULL), 5::bigint,
          'published rows of a day partition are not deleted row by row');
SELECT is((SELECT count(*) FROM orch.outbox WHERE published_at IS NULL), 2::bigint, 'pending rows are never purged');

SELECT * FROM finish();
ROLLBACK;
