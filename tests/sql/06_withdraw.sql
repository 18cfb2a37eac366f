-- Withdrawing operator rows: a ROUTED message that fails or expires never
-- reaches its operator, and its row leaves the pending outbox.
BEGIN;
SELECT no_plan();
DELETE FROM orch.outbox;

-- A ROUTED message with its pending operator row (operator op-w).
CREATE FUNCTION pg_temp.routed() RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v uuid := gen_random_uuid();
BEGIN
    PERFORM orch.accept_message(v, 'acct-wd', '+14155550100', 'ACME', 'w', 'GSM7', 1, NULL, NULL,
                                now() + interval '1 day', NULL, NULL, NULL);
    PERFORM orch.transition(v, 'QUEUED', 'ROUTED', p_operator_id => 'op-w');
    RETURN v;
END $$;
CREATE FUNCTION pg_temp.op_row(p_message uuid) RETURNS orch.outbox LANGUAGE sql AS $$
    SELECT * FROM orch.outbox WHERE message_id = p_message AND subject LIKE 'smpp.operator.%'
$$;

-- transition ROUTED -> FAILED withdraws the pending operator row.
SELECT pg_temp.routed() AS f \gset
SELECT is(orch.outbox_stamp_operator_rows(100), 1, 'the operator row is stamped (first attempt recorded)');
UPDATE orch.outbox SET attempts = 1, last_error = 'nats: timeout' WHERE id = (pg_temp.op_row(:'f')).id;
SELECT isnt(orch.transition(:'f', 'ROUTED', 'FAILED', 'manual', 'cancelled'), NULL, 'ROUTED -> FAILED by hand');
SELECT isnt((pg_temp.op_row(:'f')).published_at, NULL, 'FAILED: the operator row left the outbox (published_at set)');
SELECT is((pg_temp.op_row(:'f')).last_error, 'withdrawn: the message became FAILED before this row was published',
          'FAILED: last_error says it was withdrawn');
SELECT is((pg_temp.op_row(:'f')).attempts, 1, 'FAILED: attempts unchanged');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'f' AND subject = 'sms.outbound.deadletter' AND published_at IS NULL),
          1::bigint, 'FAILED: the dead letter is still written and pending');

-- ROUTED -> EXPIRED, with a row never attempted (not stamped yet).
SELECT pg_temp.routed() AS e \gset
SELECT isnt(orch.transition(:'e', 'ROUTED', 'EXPIRED', 'expired', 'too late'), NULL, 'ROUTED -> EXPIRED');
SELECT is((SELECT last_error || ' / ' || attempts || ' / ' || (published_at IS NOT NULL) || ' / ' || (first_attempt_at IS NOT NULL)
           FROM pg_temp.op_row(:'e')),
          'withdrawn: the message became EXPIRED before this row was published / 0 / true / true',
          'EXPIRED: an unstamped row is withdrawn too (first_attempt_at filled, as the table''s CHECK requires)');
SELECT is(orch.outbox_stamp_operator_rows(100), 0, 'withdrawn rows are not stamped');
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes') WHERE subject LIKE 'smpp.operator.%'), 0::bigint,
          'withdrawn rows are not claimed');

-- ROUTED -> SUBMITTED through the relay is unaffected.
SELECT pg_temp.routed() AS s \gset
SELECT orch.outbox_stamp_operator_rows(100) AS ignored \gset
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes') WHERE subject LIKE 'smpp.operator.%'), 1::bigint,
          'the operator row of a ROUTED message is claimed');
SELECT is(orch.outbox_mark_published(ARRAY[(pg_temp.op_row(:'s')).id]), 1, 'marking it published moves the message');
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'s'), 'SUBMITTED', 'the message is SUBMITTED');
SELECT is((SELECT attempts || ' ' || coalesce(last_error, 'none') || ' ' || (published_at IS NOT NULL) FROM pg_temp.op_row(:'s')),
          '1 none true', 'the operator row is published, not withdrawn');

-- The claim and the stamp look at the message: rows left pending for a FAILED message
-- (as before this fix, or skipped by transition's SKIP LOCKED) are neither stamped nor claimed.
SELECT pg_temp.routed() AS o1 \gset
SELECT pg_temp.routed() AS o2 \gset
-- Stamp o1's row only, then fail both with a raw UPDATE (no withdrawal): an orphan of each kind.
SELECT orch.outbox_stamp_operator_rows(1) AS ignored \gset
UPDATE orch.sms_messages SET status = 'FAILED' WHERE id IN (:'o1', :'o2');
SELECT is((SELECT count(*) FROM orch.outbox WHERE subject LIKE 'smpp.operator.%' AND published_at IS NULL), 2::bigint,
          'two orphan operator rows pending, one stamped, one not');
SELECT is(orch.outbox_stamp_operator_rows(100), 0, 'stamp skips the row of a FAILED message');
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes') WHERE subject LIKE 'smpp.operator.%'), 0::bigint,
          'claim does not return the stamped row of a FAILED message');
SELECT is((SELECT count(*) FROM orch.outbox_claim(100, '2 minutes') WHERE subject NOT LIKE 'smpp.operator.%'),
          (SELECT count(*) FROM orch.outbox WHERE published_at IS NULL AND subject NOT LIKE 'smpp.operator.%'),
          'claim still returns every other pending row');

-- reconcile: operator_row_withdrawn repairs the orphans, not in a dry run.
SELECT is(orch.reconcile(true, '1 hour', '2 minutes')->'findings'->'operator_row_withdrawn',
          '{"found": 2, "repaired": 0}'::jsonb, 'dry run: operator_row_withdrawn found 2, repaired 0');
SELECT is((SELECT count(*) FROM orch.outbox WHERE subject LIKE 'smpp.operator.%' AND published_at IS NULL), 2::bigint,
          'dry run: the rows are still pending');
SELECT is(orch.reconcile(false, '1 hour', '2 minutes')->'findings'->'operator_row_withdrawn',
          '{"found": 2, "repaired": 2}'::jsonb, 'reconcile: operator_row_withdrawn found 2, repaired 2');
SELECT is((SELECT string_agg(last_error, ',') FROM orch.outbox WHERE message_id IN (:'o1', :'o2') AND subject LIKE 'smpp.operator.%'),
          'withdrawn: the message became FAILED before this row was published,withdrawn: the message became FAILED before this row was published',
          'reconcile: both rows withdrawn');
SELECT is(orch.reconcile(false, '1 hour', '2 minutes')->'findings'->'operator_row_withdrawn',
          '{"found": 0, "repaired": 0}'::jsonb, 'then nothing is left to withdraw');

-- stuck_routed: the message failed by reconcile (routed_past_window) leaves no pending row behind.
SELECT pg_temp.routed() AS p \gset
SELECT orch.outbox_stamp_operator_rows(100) AS ignored \gset
UPDATE orch.outbox SET first_attempt_at = now() - interval '5 minutes', attempts = 1, last_error = 'nats: timeout'
WHERE id = (pg_temp.op_row(:'p')).id;
SELECT is((SELECT pending FROM orch.v_outbox_backlog WHERE subject = 'smpp.operator.op-w'), 1::bigint,
          'before reconcile: the past-window operator row is in the backlog');
SELECT orch.reconcile(false, '1 hour', '2 minutes')->'findings' AS findings \gset
SELECT is(:'findings'::jsonb->'routed_past_window', '{"found": 1, "repaired": 1}'::jsonb,
          'reconcile: routed_past_window fails the message');
SELECT is(:'findings'::jsonb->'operator_row_withdrawn', '{"found": 0, "repaired": 0}'::jsonb,
          'in the same pass, nothing left for operator_row_withdrawn: the transition withdrew the row');
SELECT is((SELECT status || ' ' || last_error_code FROM orch.sms_messages WHERE id = :'p'), 'FAILED stuck_routed',
          'the message is FAILED stuck_routed');
SELECT is((pg_temp.op_row(:'p')).last_error, 'withdrawn: the message became FAILED before this row was published',
          'its operator row was withdrawn by the transition');
SELECT is((SELECT count(*) FROM orch.v_outbox_backlog WHERE subject = 'smpp.operator.op-w'), 0::bigint,
          'stuck_routed: the row no longer counts in v_outbox_backlog');
SELECT is((SELECT count(*) FROM orch.outbox WHERE subject LIKE 'smpp.operator.%' AND published_at IS NULL), 0::bigint,
          'no operator row is left pending');

SELECT * FROM finish();
ROLLBACK;
