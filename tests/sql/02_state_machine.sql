-- orch.transition(): every allowed transition, refusals, compare-and-set,
-- seq, and the rows written with each change in the caller's transaction.
BEGIN;
SELECT no_plan();

-- A message brought to p_state through the state machine.
CREATE FUNCTION pg_temp.msg(p_state text) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v uuid := gen_random_uuid();
BEGIN
    IF p_state = 'SCHEDULED' THEN
        PERFORM orch.accept('acct-1', NULL, NULL, 202, NULL, NULL, 'req-' || v, NULL, now(), ARRAY[v],
                            ARRAY['+14155550100'], ARRAY['ACME'], ARRAY['hello'], ARRAY['GSM7'], ARRAY[1], ARRAY['ref-1'],
                            ARRAY['https://example.com/cb'], ARRAY[now() + interval '1 day'], ARRAY['normal'],
                            ARRAY[now() + interval '1 hour']);
        RETURN v;
    END IF;
    PERFORM orch.accept_message(v, 'acct-1', '+14155550100', 'ACME', 'hello', 'GSM7', 1, 'ref-1',
                                'https://example.com/cb', now() + interval '1 day', 'key-' || v, 'req-' || v, NULL);
    IF p_state = 'ROUTED' THEN
        PERFORM orch.transition(v, 'QUEUED', 'ROUTED', p_operator_id => 'op-a', p_route_id => 'r-1', p_routing_attempt => true);
    ELSIF p_state = 'RETRY_SCHEDULED' THEN
        PERFORM orch.transition(v, 'QUEUED', 'RETRY_SCHEDULED', 'unavailable', 'engine down',
                                p_next_attempt_at => now() + interval '1 second', p_routing_attempt => true);
    END IF;
    RETURN v;
END $$;

-- Accept.
SELECT pg_temp.msg('QUEUED') AS id \gset
SELECT is((SELECT status || '/' || seq FROM orch.sms_messages WHERE id = :'id'), 'QUEUED/1', 'accept: QUEUED with seq 1');
SELECT is((SELECT count(*) FROM orch.sms_status_history WHERE message_id = :'id' AND seq = 1 AND status = 'QUEUED'),
          1::bigint, 'accept: history row for QUEUED');
SELECT is((SELECT (payload->'data'->>'seq')::int FROM orch.outbox WHERE message_id = :'id' AND subject = 'sms.events.status'),
          1, 'accept: QUEUED status event with seq 1');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'id' AND subject = 'sms.outbound.request'),
          1::bigint, 'accept: sms.outbound.request row');
SELECT is((SELECT headers->>'Nats-Msg-Id' = msg_id::text AND payload->>'id' = msg_id::text AND payload->>'specversion' = '1.0'
           FROM orch.outbox WHERE message_id = :'id' AND subject = 'sms.outbound.request'),
          true, 'outbox row: Nats-Msg-Id header and CloudEvents id are the row''s msg_id');
SELECT is((SELECT headers->>'Orch-Message-Id' || ' ' || (headers->>'Orch-Account-Id') || ' ' || (headers->>'X-Request-ID')
           FROM orch.outbox WHERE message_id = :'id' AND subject = 'sms.outbound.request'),
          :'id' || ' acct-1 req-' || :'id', 'outbox row: message, account and request id headers');

-- Every allowed transition, one fresh message each (FAILED -> QUEUED, only via orch.redrive: 08_redrive.sql).
CREATE TEMP TABLE t AS
SELECT a.from_status, a.to_status, pg_temp.msg(a.from_status) AS id FROM orch.allowed_transitions a WHERE a.only_via IS NULL;
ALTER TABLE t ADD COLUMN seq_before int, ADD COLUMN seq_after int, ADD COLUMN outbox_before bigint;
UPDATE t SET seq_before = m.seq, outbox_before = (SELECT count(*) FROM orch.outbox o WHERE o.message_id = t.id)
FROM orch.sms_messages m WHERE m.id = t.id;
UPDATE t SET seq_after = orch.transition(id, from_status, to_status,
    p_error_code => CASE WHEN to_status IN ('FAILED', 'REJECTED', 'EXPIRED', 'RETRY_SCHEDULED') THEN 'some_error' END,
    p_error_detail => 'detail',
    p_operator_id => 'op-b', p_route_id => 'r-2',
    p_next_attempt_at => now() + interval '2 seconds',
    p_routing_attempt => to_status IN ('ROUTED', 'RETRY_SCHEDULED'));

SELECT is(t.seq_after, t.seq_before + 1, t.from_status || ' -> ' || t.to_status || ': returns the new seq') FROM t ORDER BY t.from_status, t.to_status;
SELECT is(m.status || '/' || m.seq, t.to_status || '/' || t.seq_after, t.from_status || ' -> ' || t.to_status || ': status and seq stored')
FROM t JOIN orch.sms_messages m ON m.id = t.id ORDER BY t.from_status, t.to_status;
SELECT is((SELECT h.status || '<-' || h.previous_status FROM orch.sms_status_history h WHERE h.message_id = t.id AND h.seq = t.seq_after),
          t.to_status || '<-' || t.from_status, t.from_status || ' -> ' || t.to_status || ': history row')
FROM t ORDER BY t.from_status, t.to_status;
SELECT is((SELECT count(*) FROM orch.outbox o WHERE o.message_id = t.id AND o.subject = 'sms.events.status'
           AND (o.payload->'data'->>'seq')::int = t.seq_after AND o.payload->'data'->>'status' = t.to_status
           AND o.payload->'data'->>'previousStatus' = t.from_status),
          1::bigint, t.from_status || ' -> ' || t.to_status || ': status event with seq')
FROM t ORDER BY t.from_status, t.to_status;
SELECT is((SELECT string_agg(o.subject, ',' ORDER BY o.id) FROM orch.outbox o
           WHERE o.message_id = t.id AND o.subject <> 'sms.events.status'
             AND o.id > (SELECT max(id) FROM orch.outbox x WHERE x.message_id = t.id AND x.subject = 'sms.events.status') - 1
             AND o.subject NOT IN ('sms.outbound.request')),
          CASE WHEN t.to_status = 'ROUTED' THEN 'smpp.operator.op-b'
               WHEN t.from_status = 'RETRY_SCHEDULED' AND t.to_status = 'QUEUED' THEN 'sms.outbound.retry'
               WHEN t.to_status IN ('FAILED', 'REJECTED', 'EXPIRED') THEN 'sms.outbound.deadletter' END,
          t.from_status || ' -> ' || t.to_status || ': next-step outbox row')
FROM t WHERE t.from_status = 'QUEUED' OR t.to_status <> 'ROUTED' ORDER BY t.from_status, t.to_status;

SELECT is((SELECT payload->'data'->>'reason' || ' ' || (payload->'data'->>'status') FROM orch.outbox o
           WHERE o.message_id = t.id AND o.subject = 'sms.outbound.deadletter'),
          'some_error ' || t.to_status, t.from_status || ' -> ' || t.to_status || ': dead letter carries the reason')
FROM t WHERE t.to_status IN ('FAILED', 'REJECTED', 'EXPIRED') ORDER BY t.from_status, t.to_status;

-- Refused transitions: a clear SQLSTATE, nothing changed (FAILED -> QUEUED: allowed only inside orch.redrive()).
SELECT pg_temp.msg('QUEUED') AS q \gset
SELECT pg_temp.msg('ROUTED') AS r \gset
SELECT throws_ok(format('SELECT orch.transition(%L, %L, %L)', :'q', f, t), 'OR001', format('transition %s -> %s is not allowed', f, t),
                 f || ' -> ' || t || ' is refused')
FROM (VALUES ('QUEUED', 'SUBMITTED'), ('QUEUED', 'QUEUED'), ('SUBMITTED', 'QUEUED'), ('FAILED', 'QUEUED'),
             ('ROUTED', 'QUEUED'), ('ROUTED', 'RETRY_SCHEDULED'), ('EXPIRED', 'QUEUED'), ('REJECTED', 'ROUTED'),
             ('RETRY_SCHEDULED', 'ROUTED'), ('RETRY_SCHEDULED', 'SUBMITTED')) AS x(f, t);
SELECT is((SELECT status || '/' || seq FROM orch.sms_messages WHERE id = :'q'), 'QUEUED/1', 'refusals changed nothing');
SELECT throws_ok(format('UPDATE orch.sms_messages SET status = ''SUBMITTED'' WHERE id = %L', :'q'), 'OR001', NULL,
                 'a hand-written UPDATE to a forbidden state is refused by the trigger');
SELECT throws_ok(format('SELECT orch.transition(%L, ''QUEUED'', ''ROUTED'', p_operator_id => ''op.a'')', :'q'), 'OR002', NULL,
                 'an operator id that is not a subject token is refused');
SELECT throws_ok(format('SELECT orch.transition(%L, ''QUEUED'', ''RETRY_SCHEDULED'')', :'q'), 'OR003', NULL,
                 'RETRY_SCHEDULED without next_attempt_at is refused');

-- Compare-and-set on a wrong expected state: NULL, nothing written.
SELECT count(*) AS h_before FROM orch.sms_status_history WHERE message_id = :'r' \gset
SELECT count(*) AS o_before FROM orch.outbox WHERE message_id = :'r' \gset
SELECT is(orch.transition(:'r', 'QUEUED', 'FAILED', 'x', 'y'), NULL, 'CAS with a wrong expected state returns NULL');
SELECT is((SELECT status || '/' || seq FROM orch.sms_messages WHERE id = :'r'), 'ROUTED/2', 'CAS miss: status and seq unchanged');
SELECT is((SELECT count(*) FROM orch.sms_status_history WHERE message_id = :'r'), :h_before::bigint, 'CAS miss: no history row');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'r'), :o_before::bigint, 'CAS miss: no outbox row');
SELECT is(orch.transition(gen_random_uuid(), 'QUEUED', 'ROUTED', p_operator_id => 'op-a'), NULL, 'unknown message: NULL');

-- seq increments through a whole life, and history and events follow it.
SELECT pg_temp.msg('QUEUED') AS l \gset
SELECT is(ARRAY[
    orch.transition(:'l', 'QUEUED', 'RETRY_SCHEDULED', 'unavailable', 'down', p_next_attempt_at => now(), p_routing_attempt => true),
    orch.transition(:'l', 'RETRY_SCHEDULED', 'QUEUED'),
    orch.transition(:'l', 'QUEUED', 'ROUTED', p_operator_id => 'op-c', p_route_id => 'r-9', p_routing_attempt => true),
    orch.transition(:'l', 'ROUTED', 'SUBMITTED')], ARRAY[2, 3, 4, 5], 'seq goes 2, 3, 4, 5');
SELECT is(ARRAY(SELECT status FROM orch.sms_status_history WHERE message_id = :'l' ORDER BY seq),
          ARRAY['QUEUED', 'RETRY_SCHEDULED', 'QUEUED', 'ROUTED', 'SUBMITTED'], 'history in seq order');
SELECT is(ARRAY(SELECT (payload->'data'->>'seq')::int FROM orch.outbox WHERE message_id = :'l' AND subject = 'sms.events.status' ORDER BY id),
          ARRAY[1, 2, 3, 4, 5], 'one status event per state, seq 1..5');
SELECT is((SELECT attempt_count || ' ' || operator_id || ' ' || coalesce(last_error_code, 'none') || ' ' || coalesce(next_attempt_at::text, 'none')
           FROM orch.sms_messages WHERE id = :'l'), '2 op-c none none',
          'two routing attempts counted; ROUTED clears the error; next_attempt_at cleared');

-- In the caller's transaction: rolling it back undoes the change and every row written with it.
SELECT pg_temp.msg('QUEUED') AS s \gset
SELECT count(*) AS so_before FROM orch.outbox WHERE message_id = :'s' \gset
SAVEPOINT before_transition;
SELECT orch.transition(:'s', 'QUEUED', 'FAILED', 'no_route', 'none') AS ignored \gset
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'s'), (:so_before + 2)::bigint, 'inside the transaction: status event and dead letter written');
ROLLBACK TO SAVEPOINT before_transition;
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'s'), 'QUEUED', 'after rollback: status as before');
SELECT is((SELECT count(*) FROM orch.sms_status_history WHERE message_id = :'s'), 1::bigint, 'after rollback: no history row');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'s'), :so_before::bigint, 'after rollback: no outbox row');

SELECT * FROM finish();
ROLLBACK;
