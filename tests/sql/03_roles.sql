-- orch_app can do what the service needs and no more; orch_readonly reads.
BEGIN;
SELECT no_plan();

SELECT has_role('orch_app');
SELECT has_role('orch_readonly');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'orch_app'), false, 'orch_app cannot log in itself (grant it)');

-- A message to work on, made as the owner.
SELECT gen_random_uuid() AS id \gset
SELECT orch.accept_message(:'id', 'acct-r', '+4915112345678', 'ACME', 'hi', 'GSM7', 1, NULL, NULL,
                           now() + interval '1 hour', NULL, NULL, NULL) AS created \gset

SET LOCAL ROLE orch_app;
SELECT lives_ok(format($$SELECT orch.accept_message(gen_random_uuid(), 'acct-r', '+4915112345678', 'ACME', 'hi', 'GSM7', 1,
                NULL, NULL, now() + interval '1 hour', 'k1', NULL, NULL)$$), 'app: accepts a message');
SELECT lives_ok(format($$SELECT orch.transition(%L, 'QUEUED', 'ROUTED', p_operator_id => 'op-a')$$, :'id'), 'app: transitions a message');
SELECT lives_ok('SELECT count(*) FROM orch.sms_messages', 'app: reads messages');
SELECT lives_ok('SELECT * FROM orch.v_outbox_backlog', 'app: reads the backlog view');
SELECT lives_ok('SELECT max(version) FROM orch.schema_migrations', 'app: reads the schema version');
SELECT lives_ok($$UPDATE orch.outbox SET published_at = now(), first_attempt_at = now(), attempts = 1 WHERE id = (SELECT min(id) FROM orch.outbox)$$,
                'app: marks outbox rows published');
SELECT lives_ok($$DELETE FROM orch.outbox WHERE published_at < now() - interval '1 hour'$$, 'app: purges published outbox rows');
SELECT lives_ok($$INSERT INTO orch.idempotency_keys (account_id, idem_key, fingerprint, response_status, response_body, expires_at)
                  VALUES ('acct-r', 'k1', repeat('a', 64), 202, '{}', now() + interval '1 day')$$, 'app: records idempotency keys');
SELECT lives_ok($$DELETE FROM orch.idempotency_keys WHERE expires_at < now()$$, 'app: purges idempotency keys');

SELECT throws_ok(format($$UPDATE orch.sms_messages SET status = 'SUBMITTED' WHERE id = %L$$, :'id'), '42501', NULL,
                 'app: cannot UPDATE messages directly (only through orch.transition)');
SELECT throws_ok($$DELETE FROM orch.sms_messages$$, '42501', NULL, 'app: cannot DELETE messages');
SELECT throws_ok($$INSERT INTO orch.sms_status_history (message_id, seq, status) SELECT id, 99, 'FAILED' FROM orch.sms_messages LIMIT 1$$,
                 '42501', NULL, 'app: cannot write history directly');
SELECT throws_ok($$INSERT INTO orch.outbox (msg_id, subject, payload) VALUES (gen_random_uuid(), 'x', '{}')$$, '42501', NULL,
                 'app: cannot INSERT outbox rows directly');
SELECT throws_ok($$UPDATE orch.outbox SET payload = '{}'$$, '42501', NULL, 'app: cannot rewrite outbox payloads');
SELECT throws_ok($$UPDATE orch.outbox SET subject = 'x'$$, '42501', NULL, 'app: cannot rewrite outbox subjects');
SELECT throws_ok($$INSERT INTO orch.destination_blocklist (prefix, reason) VALUES ('+1', 'x')$$, '42501', NULL,
                 'app: cannot edit the blocklist (DBA-owned)');
SELECT throws_ok($$UPDATE orch.account_policy SET suspended = true$$, '42501', NULL, 'app: cannot edit account policy');
SELECT throws_ok($$INSERT INTO orch.allowed_transitions VALUES ('FAILED', 'ROUTED')$$, '42501', NULL,
                 'app: cannot change the state machine');
SELECT throws_ok($$CREATE TABLE orch.x (a int)$$, '42501', NULL, 'app: cannot create objects in orch');
SELECT throws_ok($$SELECT orch.enqueue('x', 'x', NULL::orch.sms_messages, '{}')$$, '42501', NULL,
                 'app: cannot call internal functions');
RESET ROLE;

SET LOCAL ROLE orch_readonly;
SELECT lives_ok('SELECT count(*) FROM orch.sms_messages', 'readonly: reads messages');
SELECT lives_ok('SELECT count(*) FROM orch.outbox', 'readonly: reads the outbox');
SELECT lives_ok('SELECT * FROM orch.v_outbox_backlog', 'readonly: reads the backlog view');
SELECT lives_ok('SELECT * FROM orch.v_messages_by_status', 'readonly: reads messages by status');
SELECT lives_ok('SELECT * FROM orch.v_stuck_messages', 'readonly: reads stuck messages');
SELECT throws_ok(format($$SELECT orch.transition(%L, 'ROUTED', 'SUBMITTED')$$, :'id'), '42501', NULL,
                 'readonly: cannot transition');
SELECT throws_ok($$SELECT orch.accept_message(gen_random_uuid(), 'a', '+4915112345678', 'A', 'x', 'GSM7', 1, NULL, NULL, now(), NULL, NULL, NULL)$$,
                 '42501', NULL, 'readonly: cannot accept');
SELECT throws_ok($$DELETE FROM orch.outbox$$, '42501', NULL, 'readonly: cannot delete');
SELECT throws_ok($$UPDATE orch.outbox SET published_at = now()$$, '42501', NULL, 'readonly: cannot update');
SELECT throws_ok($$INSERT INTO orch.idempotency_keys (account_id, idem_key, fingerprint, response_status, response_body, expires_at)
                   VALUES ('a', 'k', repeat('a', 64), 202, '{}', now() + interval '1 day')$$, '42501', NULL, 'readonly: cannot insert');
RESET ROLE;

SET LOCAL ROLE orch_readonly;
SELECT throws_ok('SELECT 1 FROM orch.sms_messages FOR UPDATE', '42501', NULL, 'readonly: cannot lock rows');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
