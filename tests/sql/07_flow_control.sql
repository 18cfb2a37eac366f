-- Flow control (issue 15): priority lanes, scheduled send, cancel, bulk
-- status and per-operator throughput limits, in SQL.
BEGIN;
SELECT no_plan();

-- One message accepted by orch.accept() (the accept writer's call).
CREATE FUNCTION pg_temp.acc(p_account text, p_priority text, p_send_at timestamptz, p_bulk uuid,
                            p_valid interval DEFAULT interval '1 day') RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v uuid := gen_random_uuid();
BEGIN
    PERFORM orch.accept(p_account, NULL, NULL, 202, NULL, NULL, 'req-' || v, NULL, now(), ARRAY[v],
                        ARRAY['+14155550100'], ARRAY['ACME'], ARRAY['hello'], ARRAY['GSM7'], ARRAY[1], ARRAY['ref'],
                        ARRAY[NULL::text], ARRAY[coalesce(p_send_at, now()) + p_valid], ARRAY[p_priority],
                        ARRAY[p_send_at], p_bulk);
    RETURN v;
END $$;

-- Priority: stored, on the lane's subject, in the headers and payloads.
SELECT pg_temp.acc('acct-f', 'high', NULL, NULL) AS h \gset
SELECT is((SELECT status || ' ' || priority FROM orch.sms_messages WHERE id = :'h'), 'QUEUED high', 'high: stored');
SELECT is((SELECT string_agg(subject || ':' || priority, ',' ORDER BY id) FROM orch.outbox WHERE message_id = :'h'),
          'sms.events.status:high,sms.outbound.request.high:high', 'high: request on the high lane, rows carry the lane');
SELECT is((SELECT string_agg(headers->>'Orch-Priority', ',') FROM orch.outbox WHERE message_id = :'h'), 'high,high',
          'Orch-Priority header on every row');
SELECT is((SELECT payload->'data'->>'priority' FROM orch.outbox WHERE message_id = :'h' AND subject = 'sms.events.status'),
          'high', 'priority in the status event');
SELECT orch.transition(:'h', 'QUEUED', 'ROUTED', p_operator_id => 'op-p', p_route_id => 'r') AS ignored \gset
SELECT is((SELECT payload->'data'->>'priority' FROM orch.outbox WHERE message_id = :'h' AND subject = 'smpp.operator.op-p'),
          'high', 'priority in the operator payload');
SELECT pg_temp.acc('acct-f', NULL, NULL, NULL) AS n \gset
SELECT is((SELECT priority FROM orch.sms_messages WHERE id = :'n'), 'normal', 'no priority: normal');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'n' AND subject = 'sms.outbound.request'), 1::bigint,
          'normal: request on sms.outbound.request');
SELECT orch.transition(:'n', 'QUEUED', 'RETRY_SCHEDULED', 'unavailable', 'x', p_next_attempt_at => now()) AS ignored \gset
SELECT orch.transition(:'n', 'RETRY_SCHEDULED', 'QUEUED') AS ignored \gset
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'n' AND subject = 'sms.outbound.retry'), 1::bigint,
          'normal retry on sms.outbound.retry');

-- Scheduled send.
SELECT pg_temp.acc('acct-f', 'normal', now() + interval '1 hour', NULL) AS s \gset
SELECT is((SELECT status || ' ' || (send_at > now()) FROM orch.sms_messages WHERE id = :'s'), 'SCHEDULED true',
          'a send_at: SCHEDULED');
SELECT is((SELECT string_agg(subject, ',') FROM orch.outbox WHERE message_id = :'s'), 'sms.events.status',
          'SCHEDULED: its status event only, no request yet');
SELECT is((SELECT payload->'data'->>'status' || ' ' || (payload->'data'->>'sendAt' IS NOT NULL)
           FROM orch.outbox WHERE message_id = :'s'), 'SCHEDULED true', 'the first status event says SCHEDULED, with sendAt');
SELECT is((SELECT status FROM orch.sms_status_history WHERE message_id = :'s' AND seq = 1), 'SCHEDULED', 'history starts SCHEDULED');
SELECT is(orch.release_scheduled(1000) >= 0, true, 'release_scheduled runs');
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'s'), 'SCHEDULED', 'not due: not released');
UPDATE orch.sms_messages SET send_at = now() - interval '1 second' WHERE id = :'s';
SELECT pg_temp.acc('acct-f', 'normal', now() + interval '1 hour', NULL) AS s_exp \gset
UPDATE orch.sms_messages SET send_at = now() - interval '1 second', valid_until = now() - interval '1 ms' WHERE id = :'s_exp';
SELECT cmp_ok(orch.release_scheduled(1000), '>=', 2, 'release_scheduled moves the due ones');
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'s'), 'QUEUED', 'due: QUEUED');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'s' AND subject = 'sms.outbound.request'), 1::bigint,
          'released: its sms.outbound.request');
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'s_exp'), 'EXPIRED', 'due but past valid_until: EXPIRED');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'s_exp' AND subject = 'sms.outbound.deadletter'), 1::bigint,
          'expired scheduled message: dead letter');
SELECT ok(orch.next_due_at() IS NULL OR orch.next_due_at() > now() - interval '1 day', 'next_due_at answers');
SELECT pg_temp.acc('acct-f', 'high', now() + interval '2 hours', NULL) AS s_high \gset
SELECT is((SELECT string_agg(subject, ',') FROM orch.outbox WHERE message_id = :'s_high'), 'sms.events.status',
          'scheduled high: no request yet');
UPDATE orch.sms_messages SET send_at = now() WHERE id = :'s_high';
SELECT orch.release_scheduled(1000) AS ignored \gset
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'s_high' AND subject = 'sms.outbound.request.high'), 1::bigint,
          'released high: request on the high lane');

-- Refusals of the new states.
SELECT pg_temp.acc('acct-f', 'normal', now() + interval '1 hour', NULL) AS sr \gset
SELECT throws_ok(format('SELECT orch.transition(%L, ''SCHEDULED'', ''ROUTED'', p_operator_id => ''op-a'')', :'sr'), 'OR001', NULL,
                 'SCHEDULED -> ROUTED is refused');
SELECT throws_ok(format('SELECT orch.transition(%L, ''ROUTED'', ''CANCELED'')', :'sr'), 'OR001', NULL,
                 'ROUTED -> CANCELED is refused');
SELECT throws_ok(format('SELECT orch.transition(%L, ''CANCELED'', ''QUEUED'')', :'sr'), 'OR001', NULL,
                 'CANCELED -> QUEUED is refused');
SELECT throws_ok(format('SELECT orch.transition(%L, ''SUBMITTED'', ''CANCELED'')', :'sr'), 'OR001', NULL,
                 'SUBMITTED -> CANCELED is refused');

-- Cancel.
SELECT pg_temp.acc('acct-c', NULL, NULL, NULL) AS cq \gset
SELECT pg_temp.acc('acct-c', NULL, now() + interval '1 hour', NULL) AS cs \gset
SELECT pg_temp.acc('acct-c', NULL, NULL, NULL) AS cr \gset
SELECT orch.transition(:'cr', 'QUEUED', 'RETRY_SCHEDULED', 'unavailable', 'x', p_next_attempt_at => now() + interval '1 s') AS ignored \gset
SELECT pg_temp.acc('acct-c', NULL, NULL, NULL) AS cx \gset
SELECT orch.transition(:'cx', 'QUEUED', 'ROUTED', p_operator_id => 'op-a', p_route_id => 'r') AS ignored \gset
SELECT set_eq(format('SELECT id::text || '' '' || status || '' '' || canceled FROM orch.cancel(''acct-c'', ARRAY[%L, %L, %L, %L]::uuid[])',
                     :'cq', :'cs', :'cr', :'cx'),
              ARRAY[:'cq' || ' CANCELED true', :'cs' || ' CANCELED true', :'cr' || ' CANCELED true', :'cx' || ' ROUTED false'],
              'cancel: QUEUED, SCHEDULED, RETRY_SCHEDULED canceled; ROUTED not');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'cq' AND subject = 'sms.events.status'
           AND payload->'data'->>'status' = 'CANCELED' AND payload->'data'->>'previousStatus' = 'QUEUED'), 1::bigint,
          'cancel: a CANCELED status event');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id IN (:'cq', :'cs', :'cr') AND subject = 'sms.outbound.deadletter'),
          0::bigint, 'cancel: no dead letter');
SELECT is((SELECT status || ' ' || canceled FROM orch.cancel('acct-c', ARRAY[:'cq']::uuid[])), 'CANCELED false',
          'cancel again: still CANCELED, nothing done (idempotent)');
SELECT is((SELECT coalesce(status, 'none') FROM orch.cancel('acct-other', ARRAY[:'cs']::uuid[])), 'none',
          'another account''s message: unknown, untouched');
SELECT is(orch.transition(:'cq', 'QUEUED', 'ROUTED', p_operator_id => 'op-a'), NULL,
          'a pipeline worker after the cancel: its compare-and-set misses');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'cq' AND subject LIKE 'smpp.operator.%'), 0::bigint,
          'a canceled message never gets an operator row');

-- Bulk status and bulk cancel.
SELECT gen_random_uuid() AS b \gset
SELECT pg_temp.acc('acct-b', NULL, NULL, :'b') AS b1 \gset
SELECT pg_temp.acc('acct-b', NULL, NULL, :'b') AS b2 \gset
SELECT pg_temp.acc('acct-b', NULL, NULL, :'b') AS b3 \gset
SELECT orch.transition(:'b3', 'QUEUED', 'ROUTED', p_operator_id => 'op-a', p_route_id => 'r') AS ignored \gset
SELECT orch.transition(:'b3', 'ROUTED', 'SUBMITTED') AS ignored \gset
SELECT is((SELECT payload->'data'->>'bulkId' FROM orch.outbox WHERE message_id = :'b1' AND subject = 'sms.events.status'),
          :'b', 'bulkId in the status event');
SELECT is((orch.bulk_json(:'b', 'acct-b')::jsonb)->'statuses',
          (SELECT jsonb_object_agg(status, CASE status WHEN 'QUEUED' THEN 2 WHEN 'SUBMITTED' THEN 1 ELSE 0 END)
           FROM orch.message_states), 'bulk status: every state, counted');
SELECT is(((orch.bulk_json(:'b', 'acct-b')::jsonb)->>'accepted')::int, 3, 'bulk status: accepted');
SELECT is(orch.bulk_json(:'b', 'acct-other'), NULL, 'bulk status: another account''s bulk is unknown');
SELECT is(orch.bulk_json(gen_random_uuid(), 'acct-b'), NULL, 'bulk status: an unknown bulk');
SELECT is(orch.cancel_bulk('acct-b', :'b'), jsonb_build_object('bulkId', :'b', 'canceled', 2, 'notCancelable', jsonb_build_object('SUBMITTED', 1)),
          'bulk cancel: counts');
SELECT is(orch.cancel_bulk('acct-b', :'b'), jsonb_build_object('bulkId', :'b', 'canceled', 0, 'notCancelable', jsonb_build_object('SUBMITTED', 1)),
          'bulk cancel again: nothing more');
SELECT is(orch.cancel_bulk('acct-other', :'b'), NULL, 'bulk cancel: another account''s bulk is unknown');

-- The relay claims high rows first, normal keeping a tenth of the batch.
DELETE FROM orch.outbox WHERE published_at IS NULL;
CREATE TEMP TABLE ln AS SELECT pg_temp.acc('acct-l', 'normal', NULL, NULL) AS id FROM generate_series(1, 10);
CREATE TEMP TABLE lh AS SELECT pg_temp.acc('acct-l', 'high', NULL, NULL) AS id FROM generate_series(1, 10);
SELECT is((SELECT array_agg(o.priority ORDER BY k) FROM (
              SELECT c.id, row_number() OVER () AS k FROM orch.outbox_claim(10, '2 minutes') c) c
           JOIN orch.outbox o ON o.id = c.id),
          ARRAY['high', 'high', 'high', 'high', 'high', 'high', 'high', 'high', 'high', 'normal'],
          'claim of 10: nine high rows first, then one normal');
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes')), 40::bigint, 'claim: every pending row when the batch allows');
SELECT is((SELECT array_agg(o.priority) FROM orch.outbox_claim(10, '2 minutes', NULL, 'high') c JOIN orch.outbox o ON o.id = c.id),
          array_fill('high'::text, ARRAY[10]), 'high-only claim of 10: ten high rows, the whole batch');
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes', NULL, 'high')), 20::bigint,
          'high-only claim of 100: the 20 pending high rows, no normal one');
SELECT is((SELECT array_agg(DISTINCT o.priority) FROM orch.outbox_claim(100, '2 minutes', NULL, 'normal') c JOIN orch.outbox o ON o.id = c.id),
          ARRAY['normal'], 'normal-only claim: normal rows only');
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes', NULL, 'normal')), 20::bigint,
          'normal-only claim of 100: the 20 pending normal rows, even with high rows pending');
SELECT throws_ok($$SELECT * FROM orch.outbox_claim(10, '2 minutes', NULL, 'urgent')$$, '22023',
                 'outbox_claim: lane urgent is neither high nor normal', 'claim: an unknown lane is refused');

-- Retries: high first among the due.
SELECT pg_temp.acc('acct-r', 'normal', NULL, NULL) AS rn \gset
SELECT pg_temp.acc('acct-r', 'high', NULL, NULL) AS rh \gset
UPDATE orch.sms_messages SET status = 'RETRY_SCHEDULED', next_attempt_at = now() - interval '1 minute' WHERE status = 'RETRY_SCHEDULED';
SELECT orch.transition(:'rn', 'QUEUED', 'RETRY_SCHEDULED', 'unavailable', 'x', p_next_attempt_at => now() - interval '2 seconds') AS ignored \gset
SELECT orch.transition(:'rh', 'QUEUED', 'RETRY_SCHEDULED', 'unavailable', 'x', p_next_attempt_at => now() - interval '1 second') AS ignored \gset
UPDATE orch.sms_messages SET next_attempt_at = now() + interval '1 hour' WHERE status = 'RETRY_SCHEDULED' AND id NOT IN (:'rn', :'rh');
SELECT is(orch.retry_due(1), 1, 'retry_due(1) moves one');
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'rh'), 'QUEUED', 'the high one, though due later');
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'rn'), 'RETRY_SCHEDULED', 'the normal one waits');

-- Per-operator limits: the stamp grants only what the bucket holds.
DELETE FROM orch.outbox WHERE published_at IS NULL;
INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op-lim', 0.001, 3);
CREATE TEMP TABLE lm AS SELECT pg_temp.acc('acct-lim', 'normal', NULL, NULL) AS id FROM generate_series(1, 5);
SELECT count(*) AS ignored FROM orch.transition_many(ARRAY(SELECT id FROM lm), 'QUEUED', 'ROUTED', NULL, NULL,
                            array_fill('op-lim'::text, ARRAY[5]), array_fill('r'::text, ARRAY[5]), NULL, true, true) \gset
SELECT is((SELECT count(*) FROM orch.outbox WHERE subject = 'smpp.operator.op-lim' AND first_attempt_at IS NOT NULL), 0::bigint,
          'a limited operator''s rows are not stamped by the pipeline''s transition');
SELECT pg_temp.acc('acct-lim', 'normal', NULL, NULL) AS free \gset
SELECT orch.transition(:'free', 'QUEUED', 'ROUTED', p_operator_id => 'op-free', p_route_id => 'r') AS ignored \gset
SELECT is(orch.outbox_stamp_operator_rows(100), 4, 'stamp: the burst of 3 for the limited operator and the free one');
SELECT is((SELECT count(*) FROM orch.outbox WHERE subject = 'smpp.operator.op-lim' AND first_attempt_at IS NOT NULL), 3::bigint,
          'stamp: burst 3 granted');
SELECT ok((SELECT tokens < 1 FROM orch.operator_buckets WHERE operator_id = 'op-lim'), 'the bucket is empty after the burst');
SELECT is(orch.outbox_stamp_operator_rows(100), 0, 'stamp again: nothing (the bucket refills at 0.001/s)');
SELECT is((SELECT waiting FROM orch.v_operator_limits WHERE operator_id = 'op-lim'), 2::bigint, 'v_operator_limits: 2 waiting');
UPDATE orch.operator_buckets SET refilled_at = now() - interval '1 hour' WHERE operator_id = 'op-lim';
SELECT is(orch.outbox_stamp_operator_rows(100), 2, 'refilled: the rest granted');
SELECT is((SELECT count(*) FROM orch.outbox WHERE subject = 'smpp.operator.op-lim' AND first_attempt_at IS NULL), 0::bigint,
          'all granted');

-- The granting relay publishes what it granted at once: relay_stamp returns the ids, the claim
-- puts them first, and another relay's claim leaves a limited operator's fresh grant alone.
DELETE FROM orch.outbox WHERE published_at IS NULL;
CREATE TEMP TABLE lg AS SELECT pg_temp.acc('acct-lim', 'normal', NULL, NULL) AS id FROM generate_series(1, 3);
SELECT count(*) AS ignored FROM orch.transition_many(ARRAY(SELECT id FROM lg), 'QUEUED', 'ROUTED', NULL, NULL,
                            array_fill('op-lim'::text, ARRAY[3]), array_fill('r'::text, ARRAY[3]), NULL, true, true) \gset
UPDATE orch.operator_buckets SET refilled_at = now() - interval '1 hour' WHERE operator_id = 'op-lim';
SELECT granted AS lg_granted FROM orch.relay_stamp(100) \gset
SELECT is(:'lg_granted'::bigint[], ARRAY(SELECT o.id FROM orch.outbox o WHERE o.subject = 'smpp.operator.op-lim'
                                          AND o.first_attempt_at IS NOT NULL AND o.published_at IS NULL ORDER BY o.id),
          'relay_stamp returns the ids it granted');
SELECT is(cardinality(:'lg_granted'::bigint[]), 3, 'three granted');
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes') WHERE subject = 'smpp.operator.op-lim'), 0::bigint,
          'a claim without them leaves a limited operator''s fresh grants to the relay that granted them');
SELECT is(ARRAY(SELECT c.id FROM orch.outbox_claim(4, '2 minutes', :'lg_granted'::bigint[]) c LIMIT 3), :'lg_granted'::bigint[],
          'the granting relay''s claim returns its grants first');
SELECT is((SELECT count(*) FROM orch.outbox_claim(4, '2 minutes', :'lg_granted'::bigint[])), 4::bigint,
          'and fills the batch with other pending rows');
UPDATE orch.outbox SET first_attempt_at = first_attempt_at - interval '2 seconds' WHERE id = ANY (:'lg_granted'::bigint[]);
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes') WHERE subject = 'smpp.operator.op-lim'), 3::bigint,
          'a grant older than a second is any relay''s to publish (its relay is taken for gone)');

-- The reserve: 50 ms of the rate, at most half the burst, whole tokens, never the last one.
SELECT is(ARRAY[orch.operator_reserve(200, 20), orch.operator_reserve(50, 5), orch.operator_reserve(0.001, 3),
                orch.operator_reserve(1000, 1), orch.operator_reserve(1000, 2), orch.operator_reserve(10000, 400)],
          ARRAY[10, 2, 0, 0, 1, 200], 'operator_reserve: 50 ms of the rate, at most half the burst, never the last token');
DELETE FROM orch.outbox WHERE published_at IS NULL;
INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op-res', 200, 20);
CREATE TEMP TABLE lr AS SELECT pg_temp.acc('acct-res', 'normal', NULL, NULL) AS id FROM generate_series(1, 30);
SELECT count(*) AS ignored FROM orch.transition_many(ARRAY(SELECT id FROM lr), 'QUEUED', 'ROUTED', NULL, NULL,
                            array_fill('op-res'::text, ARRAY[30]), array_fill('r'::text, ARRAY[30]), NULL, true, true) \gset
SELECT is(orch.outbox_stamp_operator_rows(100), 10, 'a full bucket of 20 at 200/s grants 10: 10 tokens kept in reserve');
SELECT ok((SELECT tokens BETWEEN 10 AND 11 FROM orch.operator_buckets WHERE operator_id = 'op-res'), 'the reserve stays in the bucket');
SELECT ok((SELECT next_grant_ms BETWEEN 1 AND 6 FROM orch.relay_stamp(100)), 'the next grant is due when a token above the reserve is');
DELETE FROM orch.operator_limits WHERE operator_id = 'op-res';

-- The grant keeps a tenth for normal while high waits too, and never an expired message.
DELETE FROM orch.outbox WHERE published_at IS NULL;
INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op-share', 0.001, 10);
CREATE TEMP TABLE sh AS SELECT pg_temp.acc('acct-sh', 'high', NULL, NULL) AS id FROM generate_series(1, 20);
CREATE TEMP TABLE sn AS SELECT pg_temp.acc('acct-sh', 'normal', NULL, NULL) AS id FROM generate_series(1, 5);
SELECT count(*) AS ignored FROM orch.transition_many(ARRAY(SELECT id FROM sh UNION ALL SELECT id FROM sn), 'QUEUED', 'ROUTED',
    NULL, NULL, array_fill('op-share'::text, ARRAY[25]), array_fill('r'::text, ARRAY[25])) \gset
SELECT is(orch.outbox_stamp_operator_rows(100), 10, 'a bucket of 10 grants 10');
SELECT is((SELECT string_agg(o.priority || ':' || n, ',' ORDER BY o.priority) FROM (
              SELECT priority, count(*) AS n FROM orch.outbox o
              WHERE subject = 'smpp.operator.op-share' AND first_attempt_at IS NOT NULL GROUP BY priority) o),
          'high:9,normal:1', 'nine to high, one to normal while both wait');
DELETE FROM orch.outbox WHERE published_at IS NULL;
SELECT pg_temp.acc('acct-sh', 'normal', NULL, NULL, interval '1 hour') AS ex \gset
SELECT orch.transition(:'ex', 'QUEUED', 'ROUTED', p_operator_id => 'op-free', p_route_id => 'r') AS ignored \gset
UPDATE orch.sms_messages SET valid_until = now() - interval '1 ms' WHERE id = :'ex';
SELECT is(orch.outbox_stamp_operator_rows(100), 0, 'the operator row of an expired message is never granted');
DELETE FROM orch.operator_limits WHERE operator_id = 'op-share';

-- Retries: normal keeps a tenth of the batch while high ones are due too.
CREATE TEMP TABLE rh AS SELECT pg_temp.acc('acct-rs', 'high', NULL, NULL) AS id FROM generate_series(1, 20);
CREATE TEMP TABLE rn AS SELECT pg_temp.acc('acct-rs', 'normal', NULL, NULL) AS id FROM generate_series(1, 5);
UPDATE orch.sms_messages SET next_attempt_at = now() + interval '1 hour' WHERE status = 'RETRY_SCHEDULED';
SELECT count(*) AS ignored FROM orch.transition_many(ARRAY(SELECT id FROM rh UNION ALL SELECT id FROM rn), 'QUEUED',
    'RETRY_SCHEDULED', NULL, NULL, NULL, NULL, array_fill(now() - interval '1 second', ARRAY[25])) \gset
SELECT is(orch.retry_due(10), 10, 'retry_due(10) moves 10');
SELECT is((SELECT string_agg(priority || ':' || n, ',' ORDER BY priority) FROM (
              SELECT m.priority, count(*) AS n FROM orch.sms_messages m
              WHERE m.account_id = 'acct-rs' AND m.status = 'QUEUED' GROUP BY m.priority) x),
          'high:9,normal:1', 'retries: nine high, one normal');

-- The reconciler: a message waiting for its operator's limit is not stuck; an overdue schedule is released.
CREATE TEMP TABLE lw AS SELECT pg_temp.acc('acct-lim', 'normal', NULL, NULL) AS id FROM generate_series(1, 2);
SELECT count(*) AS ignored FROM orch.transition_many(ARRAY(SELECT id FROM lw), 'QUEUED', 'ROUTED', NULL, NULL,
                            array_fill('op-lim'::text, ARRAY[2]), array_fill('r'::text, ARRAY[2]), NULL, true, true) \gset
UPDATE orch.sms_messages SET updated_at = now() - interval '10 minutes' WHERE id IN (SELECT id FROM lw);
SELECT pg_temp.acc('acct-f', 'normal', now() + interval '1 hour', NULL) AS so \gset
UPDATE orch.sms_messages SET send_at = now() - interval '10 minutes' WHERE id = :'so';
SELECT orch.reconcile(false, '60 seconds', '2 minutes') AS rec \gset
SELECT is((:'rec'::jsonb)->'findings'->'operator_limit_waiting'->>'found', '2', 'reconcile: 2 waiting for the limit');
SELECT is((:'rec'::jsonb)->'findings'->'operator_limit_waiting'->>'repaired', '0', 'reconcile: waiting is not repaired');
SELECT is((SELECT count(*) FROM lw JOIN orch.sms_messages m ON m.id = lw.id WHERE m.status = 'ROUTED'), 2::bigint,
          'reconcile: the waiting messages stay ROUTED');
SELECT is((SELECT count(*) FROM orch.stuck_messages('60 seconds') s WHERE s.id IN (SELECT id FROM lw)), 0::bigint,
          'stuck view: waiting for a limit is not stuck');
SELECT cmp_ok(((:'rec'::jsonb)->'findings'->'scheduled_overdue'->>'repaired')::int, '>=', 1, 'reconcile: overdue schedule released');
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'so'), 'QUEUED', 'the overdue scheduled message is QUEUED');


-- queued_stuck vs queued_waiting: a QUEUED message whose request went out long ago is published
-- again, unless the pipeline's consumers still have a backlog (p_stream_backlog, read off JetStream).
UPDATE orch.sms_messages SET updated_at = now() WHERE status = 'QUEUED';
SELECT pg_temp.acc('acct-q', 'normal', NULL, NULL) AS qs \gset
UPDATE orch.outbox SET first_attempt_at = now() - interval '10 minutes', published_at = now() - interval '10 minutes' WHERE message_id = :'qs';
UPDATE orch.sms_messages SET updated_at = now() - interval '10 minutes' WHERE id = :'qs';
SELECT orch.reconcile(true, '60 seconds', '2 minutes', 10000, 250) AS rec \gset
SELECT is((:'rec'::jsonb)->'findings'->'queued_waiting'->>'found', '1', 'reconcile: behind a stream backlog, queued_waiting');
SELECT is((:'rec'::jsonb)->'findings'->'queued_stuck'->>'found', '0', '... and not queued_stuck');
SELECT orch.reconcile(true, '60 seconds', '2 minutes', 10000, 0) AS rec \gset
SELECT is((:'rec'::jsonb)->'findings'->'queued_stuck'->>'found', '1', 'reconcile: no backlog left: queued_stuck');
SELECT orch.reconcile(true, '60 seconds', '2 minutes') AS rec \gset
SELECT is((:'rec'::jsonb)->'findings'->'queued_stuck'->>'found', '1', 'reconcile: backlog unknown (cron): queued_stuck');
SELECT orch.reconcile(false, '60 seconds', '2 minutes', 10000, 0) AS rec \gset
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'qs' AND subject = 'sms.outbound.request' AND published_at IS NULL),
          1::bigint, 'queued_stuck: its request written again');
SELECT orch.reconcile(true, '60 seconds', '2 minutes', 10000, 0) AS rec \gset
SELECT is((:'rec'::jsonb)->'findings'->'queued_stuck'->>'found', '0', 'a pending request is not stuck');
UPDATE orch.outbox SET first_attempt_at = now(), published_at = now() WHERE message_id = :'qs' AND published_at IS NULL;
SELECT orch.reconcile(true, '60 seconds', '2 minutes', 10000, 0) AS rec \gset
SELECT is((:'rec'::jsonb)->'findings'->'queued_stuck'->>'found', '0', 'nor one published within stuck_after');

SELECT * FROM finish();
ROLLBACK;
