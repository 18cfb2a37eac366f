-- orch.redrive() (domain.md, redrive): FAILED -> QUEUED only through it,
-- every refusal, a fresh retry budget, the rows each move writes, dry run,
-- the filters and the limit.
BEGIN;
SELECT no_plan();

-- A FAILED message of account p_account with error code p_code (through the state machine).
CREATE FUNCTION pg_temp.failed(p_code text, p_account text DEFAULT 'acct-rd', p_valid interval DEFAULT interval '1 day',
                               p_priority text DEFAULT 'normal', p_id uuid DEFAULT NULL) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v uuid := coalesce(p_id, gen_random_uuid());
BEGIN
    PERFORM orch.accept(p_account, NULL, NULL, 202, NULL, NULL, 'req-' || v, NULL, now(), ARRAY[v],
                        ARRAY['+14155550100'], ARRAY['ACME'], ARRAY['hello'], ARRAY['GSM7'], ARRAY[1], ARRAY['ref'],
                        ARRAY[NULL::text], ARRAY[now() + p_valid], ARRAY[p_priority]);
    PERFORM orch.transition(v, 'QUEUED', 'RETRY_SCHEDULED', 'unavailable', 'down', p_next_attempt_at => now(),
                            p_routing_attempt => true);
    PERFORM orch.transition(v, 'RETRY_SCHEDULED', 'QUEUED');
    PERFORM orch.transition(v, 'QUEUED', 'FAILED', p_code, 'failed for the test', p_routing_attempt => true);
    RETURN v;
END $$;
-- A message that was ROUTED, then failed with p_code (its operator row withdrawn by the transition).
CREATE FUNCTION pg_temp.failed_routed(p_code text) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v uuid := gen_random_uuid();
BEGIN
    PERFORM orch.accept_message(v, 'acct-rd-routed', '+14155550100', 'ACME', 'r', 'GSM7', 1, NULL, NULL,
                                now() + interval '1 day', NULL, NULL, NULL);
    PERFORM orch.transition(v, 'QUEUED', 'ROUTED', p_operator_id => 'op-rd', p_route_id => 'r-1', p_routing_attempt => true);
    PERFORM orch.transition(v, 'ROUTED', 'FAILED', p_code, 'failed after ROUTED');
    RETURN v;
END $$;
CREATE FUNCTION pg_temp.verdict(p_report jsonb, p_id uuid) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT 'moved' FROM jsonb_array_elements(p_report->'moved') e WHERE e->>'id' = p_id::text),
                    (SELECT e->>'reason' FROM jsonb_array_elements(p_report->'refused') e WHERE e->>'id' = p_id::text),
                    'absent')
$$;
CREATE FUNCTION pg_temp.state(p_id uuid) RETURNS text LANGUAGE sql AS $$
    SELECT status || '/' || seq FROM orch.sms_messages WHERE id = p_id
$$;

-- The state machine: FAILED -> QUEUED exists, reserved to orch.redrive().
SELECT is((SELECT only_via FROM orch.allowed_transitions WHERE from_status = 'FAILED' AND to_status = 'QUEUED'),
          'orch.redrive', 'FAILED -> QUEUED is in the state machine, only via orch.redrive');
SELECT is((SELECT count(*) FROM orch.allowed_transitions WHERE only_via IS NOT NULL), 1::bigint,
          'no other transition is reserved to a function');
SELECT pg_temp.failed('retries_exhausted') AS plain \gset
SELECT throws_ok(format($$SELECT orch.transition(%L, 'FAILED', 'QUEUED')$$, :'plain'), 'OR001',
                 'transition FAILED -> QUEUED is not allowed', 'a plain orch.transition(FAILED -> QUEUED) is refused');
SELECT throws_ok(format($$SELECT orch.transition_many(ARRAY[%L]::uuid[], 'FAILED', 'QUEUED')$$, :'plain'), 'OR001',
                 'transition FAILED -> QUEUED is not allowed', '... and orch.transition_many() too');
SELECT throws_ok(format($$UPDATE orch.sms_messages SET status = 'QUEUED' WHERE id = %L$$, :'plain'), 'OR001',
                 'transition FAILED -> QUEUED is not allowed', '... and a hand-written UPDATE (the trigger)');
SELECT throws_ok(format($$SELECT orch.transition(%L, 'FAILED', 'ROUTED', p_operator_id => 'op-a')$$, :'plain'), 'OR001',
                 'transition FAILED -> ROUTED is not allowed', 'FAILED -> ROUTED stays forbidden');
SELECT is(pg_temp.state(:'plain'), 'FAILED/4', 'the refusals changed nothing');

-- Arguments: each bad one is named (OR003).
SELECT throws_ok('SELECT orch.redrive()', 'OR003', NULL, 'no selection: refused');
SELECT throws_ok('SELECT orch.redrive(p_account_id => ''a'', p_limit => 0)', 'OR003',
                 'orch.redrive: p_limit must be 1 to 100000, not 0', 'a limit of 0 is refused');
SELECT throws_ok('SELECT orch.redrive(p_account_id => ''a'', p_limit => 100001)', 'OR003', NULL, 'a limit over 100000 is refused');
SELECT throws_ok(format('SELECT orch.redrive(p_ids => ARRAY[%L]::uuid[], p_account_id => ''a'')', :'plain'), 'OR003', NULL,
                 'ids with an account: refused');
SELECT throws_ok('SELECT orch.redrive(p_ids => ''{}'')', 'OR003', NULL, 'an empty id list is refused');
SELECT throws_ok('SELECT orch.redrive(p_ids => ARRAY[NULL]::uuid[])', 'OR003', NULL, 'a NULL id is refused');
SELECT throws_ok('SELECT orch.redrive(p_ids => ARRAY[gen_random_uuid(), gen_random_uuid()], p_limit => 1)', 'OR003',
                 'orch.redrive: 2 ids, more than p_limit 1', 'more ids than the limit: refused');
SELECT throws_ok('SELECT orch.redrive(p_reasons => ARRAY[''No Route''])', 'OR003',
                 'orch.redrive: reason ''No Route'' is not an error code (lower_snake_case, at most 64 characters)',
                 'a reason that is not a code is refused, and named');
SELECT throws_ok('SELECT orch.redrive(p_reasons => ''{}'')', 'OR003', NULL, 'an empty reason list is refused');
SELECT throws_ok('SELECT orch.redrive(p_since => now(), p_until => now() - interval ''1 hour'')', 'OR003', NULL,
                 'since after until is refused');
SELECT throws_ok('SELECT orch.redrive(p_account_id => '''')', 'OR003', NULL, 'an empty account is refused');

-- Every refusal, by ids.
SELECT gen_random_uuid() AS unknown \gset
SELECT pg_temp.failed('retries_exhausted') AS ok1 \gset
SELECT pg_temp.failed('routing_unavailable', p_priority => 'high') AS ok2 \gset
SELECT pg_temp.failed('retries_exhausted', p_valid => interval '1 millisecond') AS expired \gset
SELECT pg_temp.failed('no_route') AS own \gset
SELECT pg_temp.failed_routed('stuck_routed') AS stuck \gset
SELECT pg_temp.failed_routed('manual') AS routed_manual \gset
SELECT gen_random_uuid() AS queued \gset
SELECT orch.accept_message(:'queued', 'acct-rd', '+14155550100', 'ACME', 'q', 'GSM7', 1, NULL, NULL,
                           now() + interval '1 day', NULL, NULL, NULL) AS ignored \gset
SELECT gen_random_uuid() AS rejected \gset
SELECT orch.accept_message(:'rejected', 'acct-rd', '+14155550100', 'ACME', 'q', 'GSM7', 1, NULL, NULL,
                           now() + interval '1 day', NULL, NULL, NULL) AS ignored \gset
SELECT orch.transition(:'rejected', 'QUEUED', 'REJECTED', 'account_suspended', 'suspended') AS ignored \gset
-- Ever ROUTED, but every outbox row of it purged: only the history says so.
SELECT pg_temp.failed_routed('retries_exhausted') AS purged \gset
UPDATE orch.sms_messages SET operator_id = NULL WHERE id = :'purged';
DELETE FROM orch.outbox WHERE message_id = :'purged';
-- A FAILED message with a pending operator row that was never attempted (a raw UPDATE left it).
SELECT gen_random_uuid() AS orphan \gset
SELECT orch.accept_message(:'orphan', 'acct-rd', '+14155550100', 'ACME', 'o', 'GSM7', 1, NULL, NULL,
                           now() + interval '1 day', NULL, NULL, NULL) AS ignored \gset
SELECT orch.transition(:'orphan', 'QUEUED', 'ROUTED', p_operator_id => 'op-rd') AS ignored \gset
UPDATE orch.sms_messages SET status = 'FAILED', last_error_code = 'retries_exhausted', operator_id = NULL WHERE id = :'orphan';
DELETE FROM orch.sms_status_history WHERE message_id = :'orphan' AND status = 'ROUTED';

SELECT orch.redrive(p_ids => ARRAY[:'ok1', :'ok2', :'expired', :'own', :'stuck', :'routed_manual', :'queued', :'rejected',
                                   :'purged', :'orphan', :'unknown', :'ok1']::uuid[], p_dry_run => true) AS dry \gset
SELECT is(pg_temp.verdict(:'dry', :'ok1'), 'moved', 'dry run: retries_exhausted would move');
SELECT is(pg_temp.state(:'ok1'), 'FAILED/4', 'dry run: nothing moved');
SELECT is((:'dry'::jsonb)->>'dryRun', 'true', 'dry run: says so');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'ok1'), 7::bigint, 'dry run: no outbox row written');

SELECT orch.redrive(p_ids => ARRAY[:'ok1', :'ok2', :'expired', :'own', :'stuck', :'routed_manual', :'queued', :'rejected',
                                   :'purged', :'orphan', :'unknown', :'ok1']::uuid[]) AS rep \gset
SELECT is((:'rep'::jsonb) - 'moved' - 'refused', (:'dry'::jsonb) - 'moved' - 'refused' || '{"dryRun": false}',
          'the dry run reported what the real run did (summary, selection)');
SELECT is((:'rep'::jsonb)->'moved', (:'dry'::jsonb)->'moved', '... the same moved');
SELECT is((:'rep'::jsonb)->'refused', (:'dry'::jsonb)->'refused', '... the same refused');
SELECT is(pg_temp.verdict(:'rep', :'ok1'), 'moved', 'retries_exhausted: moved');
SELECT is(pg_temp.verdict(:'rep', :'ok2'), 'moved', 'routing_unavailable: moved');
SELECT is(pg_temp.verdict(:'rep', :'expired'), 'expired', 'past valid_until: refused expired');
SELECT is(pg_temp.verdict(:'rep', :'own'), 'own_reason', 'no_route, not named: refused own_reason');
SELECT is(pg_temp.verdict(:'rep', :'stuck'), 'may_have_reached_operator', 'stuck_routed: refused may_have_reached_operator');
SELECT is(pg_temp.verdict(:'rep', :'routed_manual'), 'may_have_reached_operator',
          'failed by hand after ROUTED (its operator row withdrawn): refused may_have_reached_operator');
SELECT is(pg_temp.verdict(:'rep', :'purged'), 'may_have_reached_operator',
          'ever ROUTED with its outbox rows purged (the history says ROUTED): refused');
SELECT is(pg_temp.verdict(:'rep', :'orphan'), 'may_have_reached_operator',
          'a FAILED message with an operator row pending: refused');
SELECT is(pg_temp.verdict(:'rep', :'queued'), 'not_failed', 'QUEUED: refused not_failed');
SELECT is(pg_temp.verdict(:'rep', :'rejected'), 'not_failed', 'REJECTED: refused not_failed');
SELECT is(pg_temp.verdict(:'rep', :'unknown'), 'not_found', 'an unknown id: refused not_found');
SELECT is((SELECT e->>'status' || ' ' || (e->>'errorCode') FROM jsonb_array_elements((:'rep'::jsonb)->'refused') e
           WHERE e->>'id' = :'rejected'), 'REJECTED account_suspended', 'a refusal carries the status and error code');
SELECT is((SELECT e->>'previousErrorCode' FROM jsonb_array_elements((:'rep'::jsonb)->'moved') e WHERE e->>'id' = :'ok2'),
          'routing_unavailable', 'a move carries the previous error code');
SELECT is((:'rep'::jsonb)->'summary', '{"moved": 2, "refused": {"expired": 1, "not_failed": 2, "not_found": 1, "own_reason": 1,
          "may_have_reached_operator": 4}}'::jsonb, 'the summary counts each verdict once (a repeated id once)');
SELECT is((:'rep'::jsonb)->'selection'->>'ids', '11', 'the selection counts the distinct ids');

-- What a move wrote.
SELECT is(pg_temp.state(:'ok1'), 'QUEUED/5', 'moved: QUEUED, seq + 1');
SELECT is((SELECT attempt_count || ' ' || routing_calls FROM orch.sms_messages WHERE id = :'ok1'), '0 0',
          'a fresh retry budget: attempt_count 0 (routing_calls keeps counting, never reused)');
SELECT is((SELECT status || '<-' || previous_status || ' ' || coalesce(error_code, 'none') FROM orch.sms_status_history
           WHERE message_id = :'ok1' AND seq = 5), 'QUEUED<-FAILED none', 'a history row QUEUED <- FAILED');
SELECT is((SELECT string_agg(status, ',' ORDER BY seq) FROM orch.sms_status_history WHERE message_id = :'ok1'),
          'QUEUED,RETRY_SCHEDULED,QUEUED,FAILED,QUEUED', 'the history keeps the old attempts');
SELECT is((SELECT payload->'data'->>'status' || '<-' || (payload->'data'->>'previousStatus') || ' seq ' || (payload->'data'->>'seq')
                  || ' attempt ' || (payload->'data'->>'attempt') || ' error ' || coalesce(payload->'data'->>'error', 'null')
           FROM orch.outbox WHERE message_id = :'ok1' AND subject = 'sms.events.status' ORDER BY id DESC LIMIT 1),
          'QUEUED<-FAILED seq 5 attempt 0 error null', 'a status event with previousStatus FAILED');
SELECT is((SELECT string_agg(subject || ' ' || (payload->'data'->>'attempt'), ',' ORDER BY id) FROM orch.outbox
           WHERE message_id = :'ok1' AND subject LIKE 'sms.outbound.request%'),
          'sms.outbound.request 0,sms.outbound.request 0', 'a new sms.outbound.request (the accept''s first, then this one)');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'ok2' AND subject = 'sms.outbound.request.high'), 2::bigint,
          'a high message''s new request is on the high lane');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'ok1' AND subject = 'sms.outbound.deadletter'), 1::bigint,
          'no new dead letter');
SELECT is(ARRAY[pg_temp.state(:'expired'), pg_temp.state(:'own'), pg_temp.state(:'stuck'), pg_temp.state(:'purged')],
          ARRAY['FAILED/4', 'FAILED/4', 'FAILED/3', 'FAILED/3'], 'the refused ones are unchanged');
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'orphan'), 'FAILED', '... the one with a pending operator row too');
SELECT throws_ok(format($$SELECT orch.transition(%L, 'FAILED', 'QUEUED')$$, :'own'), 'OR001', NULL,
                 'after a redrive, a plain FAILED -> QUEUED is refused again (the setting ended with the call)');

-- The same ids again: moved once only.
SELECT orch.redrive(p_ids => ARRAY[:'ok1', :'ok2']::uuid[]) AS again \gset
SELECT is((:'again'::jsonb)->'summary', '{"moved": 0, "refused": {"not_failed": 2}}'::jsonb,
          'a second redrive of the same ids moves nothing (not_failed)');
SELECT is((SELECT count(*) FROM orch.sms_status_history WHERE message_id = :'ok1' AND previous_status = 'FAILED'), 1::bigint,
          '... one FAILED -> QUEUED in the history');

-- Naming a code: the message's own failure is sent again; other codes are refused other_reason.
SELECT pg_temp.failed('retries_exhausted') AS not_named \gset
SELECT orch.redrive(p_ids => ARRAY[:'own', :'not_named']::uuid[], p_reasons => ARRAY['no_route']) AS named \gset
SELECT is(pg_temp.verdict(:'named', :'own'), 'moved', 'no_route, named: moved');
SELECT is(pg_temp.verdict(:'named', :'not_named'), 'other_reason', 'retries_exhausted when only no_route is named: other_reason');
SELECT is(orch.redrive(p_ids => ARRAY[:'stuck']::uuid[], p_reasons => ARRAY['stuck_routed'])->'refused'->0->>'reason',
          'may_have_reached_operator', 'stuck_routed, even named: refused');

-- Redriven, failed again, redriven again: a new budget each time.
SELECT orch.transition(:'ok1', 'QUEUED', 'FAILED', 'retries_exhausted', 'again', p_routing_attempt => true) AS ignored \gset
SELECT is(pg_temp.verdict(orch.redrive(p_ids => ARRAY[:'ok1']::uuid[]), :'ok1'), 'moved', 'a message can be redriven again');
SELECT is((SELECT attempt_count FROM orch.sms_messages WHERE id = :'ok1'), 0, '... with a fresh budget again');
SELECT is((SELECT count(*) FROM orch.sms_status_history WHERE message_id = :'ok1' AND previous_status = 'FAILED'), 2::bigint,
          '... two FAILED -> QUEUED in the history');

-- Filters: account, reasons, window, limit.
SELECT pg_temp.failed('retries_exhausted', 'acct-rd-f') AS f1 \gset
SELECT pg_temp.failed('retries_exhausted', 'acct-rd-f') AS f2 \gset
SELECT pg_temp.failed('routing_unavailable', 'acct-rd-f') AS f3 \gset
SELECT pg_temp.failed('retries_exhausted', 'acct-rd-f', interval '1 millisecond') AS f_exp \gset
SELECT pg_temp.failed('no_route', 'acct-rd-f') AS f_own \gset
SELECT pg_temp.failed('invalid_argument', 'acct-rd-f') AS f_own2 \gset
SELECT pg_temp.failed('retries_exhausted', 'acct-rd-other') AS other_acct \gset
UPDATE orch.sms_messages SET updated_at = now() - interval '2 hours' WHERE id = :'f3';

SELECT orch.redrive(p_account_id => 'acct-rd-f', p_limit => 1, p_dry_run => true) AS d \gset
SELECT is(jsonb_array_length((:'d'::jsonb)->'moved'), 1, 'filters: at most p_limit move');
SELECT is(pg_temp.verdict(:'d', LEAST(:'f1'::uuid, :'f2'::uuid, :'f3'::uuid)), 'moved', '... the lowest id first');
SELECT is((:'d'::jsonb)->>'more', 'true', '... and "more" says others wait');
SELECT orch.redrive(p_account_id => 'acct-rd-f', p_dry_run => true) AS d \gset
SELECT is(pg_temp.verdict(:'d', :'f_exp'), 'expired', 'filters: a selected message past valid_until is listed, expired');
SELECT is((:'d'::jsonb)->'summary', '{"moved": 3, "refused": {"expired": 1}}'::jsonb, '... and counted');
SELECT is((:'d'::jsonb)->'otherReasons', '{"invalid_argument": 1, "no_route": 1}'::jsonb,
          'filters: the other codes of the selection are counted by code');
SELECT is(pg_temp.verdict(:'d', :'f_own'), 'absent', 'filters: a message with another code is not selected');
SELECT is(pg_temp.verdict(:'d', :'other_acct'), 'absent', 'filters: another account''s message is not selected');

SELECT orch.redrive(p_account_id => 'acct-rd-f', p_since => now() - interval '1 hour') AS w \gset
SELECT is(ARRAY[pg_temp.verdict(:'w', :'f1'), pg_temp.verdict(:'w', :'f2'), pg_temp.verdict(:'w', :'f3')],
          ARRAY['moved', 'moved', 'absent'], 'p_since: what failed before it is not selected');
SELECT is((:'w'::jsonb)->>'more', 'false', '... nothing more waits');
SELECT is(pg_temp.verdict(orch.redrive(p_account_id => 'acct-rd-f', p_until => now() - interval '1 hour'), :'f3'), 'moved',
          'p_until: what failed before it is selected');
SELECT is(pg_temp.state(:'other_acct'), 'FAILED/4', 'another account''s message was not moved');
SELECT is(orch.redrive(p_account_id => 'acct-rd-f', p_reasons => ARRAY['no_route', 'invalid_argument'])->'summary',
          '{"moved": 2, "refused": {}}'::jsonb, 'filters with named codes: those move');
SELECT is(orch.redrive(p_account_id => 'acct-rd-f')->'summary', '{"moved": 0, "refused": {"expired": 1}}'::jsonb,
          'filters: a run after the others finds only the refused one');

-- Filters judge in id order until p_limit may move: refused ones of lower id are met (and listed) by
-- every run, and do not hold back the others.
SELECT pg_temp.failed('retries_exhausted', 'acct-rd-ord', interval '1 millisecond', p_id => '00000000-0000-4000-8000-000000000001') AS e1 \gset
SELECT pg_temp.failed('retries_exhausted', 'acct-rd-ord', interval '1 millisecond', p_id => '00000000-0000-4000-8000-000000000002') AS e2 \gset
SELECT pg_temp.failed('retries_exhausted', 'acct-rd-ord', p_id => '00000000-0000-4000-8000-000000000003') AS o1 \gset
SELECT pg_temp.failed('retries_exhausted', 'acct-rd-ord', p_id => '00000000-0000-4000-8000-000000000004') AS o2 \gset
SELECT orch.redrive(p_account_id => 'acct-rd-ord', p_limit => 1) AS r1 \gset
SELECT is(ARRAY[pg_temp.verdict(:'r1', :'e1'), pg_temp.verdict(:'r1', :'o1'), pg_temp.verdict(:'r1', :'o2')],
          ARRAY['expired', 'moved', 'absent'], 'limit 1: the expired ones met first, then one moved');
SELECT is((:'r1'::jsonb)->'summary', '{"moved": 1, "refused": {"expired": 2}}'::jsonb,
          '... both expired ones counted (listed: at most p_limit, the first by id)');
SELECT is((:'r1'::jsonb)->>'more', 'true', '... and more waits');
SELECT orch.redrive(p_account_id => 'acct-rd-ord', p_limit => 1) AS r2 \gset
SELECT is(pg_temp.verdict(:'r2', :'o2') || ' ' || ((:'r2'::jsonb)->>'more'), 'moved false', 'the next run moves the next one, and no more waits');
SELECT is(orch.redrive(p_account_id => 'acct-rd-ord', p_limit => 1)->'summary', '{"moved": 0, "refused": {"expired": 2}}'::jsonb,
          'a third run: only the refused ones');

-- Roles: the service's role may redrive; the read-only one may not.
SET LOCAL ROLE orch_app;
SELECT lives_ok(format($$SELECT orch.redrive(p_ids => ARRAY[%L]::uuid[], p_dry_run => true)$$, :'plain'), 'orch_app may redrive');
SELECT throws_ok(format($$SELECT orch.transition(%L, 'FAILED', 'QUEUED')$$, :'plain'), 'OR001', NULL,
                 'orch_app: a plain FAILED -> QUEUED is refused');
RESET ROLE;
SET LOCAL ROLE orch_readonly;
SELECT throws_ok(format($$SELECT orch.redrive(p_ids => ARRAY[%L]::uuid[], p_dry_run => true)$$, :'plain'), '42501', NULL,
                 'orch_readonly may not redrive');
SELECT lives_ok('SELECT orch.redrive_default_reasons()', 'orch_readonly may read the default reasons');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
