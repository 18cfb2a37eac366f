-- The schema a DBA sees: tables, key columns, hot indexes, comments everywhere.
BEGIN;
SELECT no_plan();

SELECT has_schema('orch');
SELECT tables_are('orch', ARRAY['schema_migrations', 'message_states', 'allowed_transitions', 'sms_messages',
    'sms_status_history', 'outbox', 'idempotency_keys', 'destination_blocklist', 'account_policy',
    'operator_limits', 'operator_buckets']);
SELECT views_are('orch', ARRAY['v_outbox_backlog', 'v_messages_by_status', 'v_stuck_messages', 'v_operator_limits']);

SELECT columns_are('orch', 'sms_messages', ARRAY['id', 'account_id', 'status', 'seq', 'to_e164', 'sender',
    'body', 'encoding', 'segments', 'client_reference', 'callback_url', 'attempt_count', 'next_attempt_at',
    'operator_id', 'route_id', 'valid_until', 'last_error_code', 'last_error_detail', 'idempotency_key',
    'request_id', 'traceparent', 'created_at', 'updated_at', 'routing_calls', 'priority', 'send_at', 'bulk_id']);
SELECT col_type_is('orch', 'sms_messages', 'id', 'uuid', 'message id is a uuid');
SELECT col_is_pk('orch', 'sms_messages', 'id', 'id is the primary key');
SELECT col_type_is('orch', 'sms_messages', 'created_at', 'timestamp with time zone', 'times are timestamptz');
SELECT col_type_is('orch', 'sms_messages', 'valid_until', 'timestamp with time zone', 'valid_until is timestamptz');
SELECT col_type_is('orch', 'sms_messages', 'next_attempt_at', 'timestamp with time zone', 'next_attempt_at is timestamptz');

SELECT columns_are('orch', 'outbox', ARRAY['id', 'msg_id', 'subject', 'message_id', 'headers', 'payload',
    'created_at', 'first_attempt_at', 'attempts', 'last_error', 'published_at', 'priority']);
SELECT col_is_pk('orch', 'outbox', 'msg_id', 'Nats-Msg-Id is unique per row (the primary key, and the partition key)');
SELECT col_is_pk('orch', 'idempotency_keys', ARRAY['account_id', 'idem_key'], 'idempotency is unique per (account, key)');

SELECT has_index('orch', 'outbox', 'outbox_pending', 'pending outbox rows in id order are indexed');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'orch.outbox_pending'::regclass),
          '(published_at IS NULL)', 'the pending index covers only unpublished rows');
SELECT has_index('orch', 'outbox', 'outbox_pending_operator_unstamped', 'pending operator rows to stamp are indexed');
SELECT has_index('orch', 'sms_messages', 'sms_messages_retry_due', 'due retries are indexed');
SELECT has_index('orch', 'sms_messages', 'sms_messages_status_created', 'messages by status and age are indexed');
SELECT has_index('orch', 'sms_messages', 'sms_messages_open_by_age', 'open messages by age are indexed');
SELECT has_index('orch', 'idempotency_keys', 'idempotency_keys_expires', 'expiring idempotency records are indexed');
SELECT has_index('orch', 'sms_messages', 'sms_messages_scheduled_due', 'due scheduled messages are indexed');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'orch.sms_messages_scheduled_due'::regclass),
          '(status = ''SCHEDULED''::text)', 'the scheduled index covers only SCHEDULED messages');
SELECT has_index('orch', 'sms_messages', 'sms_messages_bulk_status', 'a bulk''s messages by status are indexed');
SELECT has_index('orch', 'outbox', 'outbox_pending_high', 'pending rows of the high lane are indexed');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'orch.sms_messages_open_by_age'::regclass),
          '(status = ANY (ARRAY[''QUEUED''::text, ''ROUTED''::text, ''RETRY_SCHEDULED''::text, ''SCHEDULED''::text]))',
          'the open-by-age index covers SCHEDULED too');

-- CHECKs a DBA relies on.
SELECT throws_ok($$INSERT INTO orch.sms_messages (id, account_id, to_e164, sender, body, encoding, segments, valid_until)
                   VALUES (gen_random_uuid(), 'a', '12345', 'ACME', 'x', 'GSM7', 1, now())$$,
                 '23514', NULL, 'a destination that is not E.164 is refused');
SELECT throws_ok($$INSERT INTO orch.sms_messages (id, account_id, to_e164, sender, body, encoding, segments, valid_until, status)
                   VALUES (gen_random_uuid(), 'a', '+14155550100', 'ACME', 'x', 'GSM7', 1, now(), 'LOST')$$,
                 '23514', NULL, 'an unknown status is refused');
SELECT throws_ok($$INSERT INTO orch.sms_messages (id, account_id, to_e164, sender, body, encoding, segments, valid_until)
                   VALUES (gen_random_uuid(), 'a', '+14155550100', 'ACME', 'x', 'UTF8', 1, now())$$,
                 '23514', NULL, 'an unknown encoding is refused');
SELECT throws_ok($$INSERT INTO orch.sms_messages (id, account_id, to_e164, sender, body, encoding, segments, valid_until, priority)
                   VALUES (gen_random_uuid(), 'a', '+14155550100', 'ACME', 'x', 'GSM7', 1, now(), 'urgent')$$,
                 '23514', NULL, 'an unknown priority is refused');
SELECT throws_ok($$INSERT INTO orch.sms_messages (id, account_id, to_e164, sender, body, encoding, segments, valid_until, status)
                   VALUES (gen_random_uuid(), 'a', '+14155550100', 'ACME', 'x', 'GSM7', 1, now(), 'SCHEDULED')$$,
                 '23514', NULL, 'SCHEDULED without send_at is refused');
SELECT lives_ok($$INSERT INTO orch.sms_messages (id, account_id, to_e164, sender, body, encoding, segments, valid_until, status, send_at)
                  VALUES (gen_random_uuid(), 'a', '+14155550100', 'ACME', 'x', 'GSM7', 1, now(), 'SCHEDULED', now())$$,
                'SCHEDULED with send_at is stored');
SELECT throws_ok($$INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op a', 10, 1)$$,
                 '23514', NULL, 'an operator limit for an id that is not a subject token is refused');
SELECT throws_ok($$INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op-a', 0, 1)$$,
                 '23514', NULL, 'a limit of 0 per second is refused');
SELECT throws_ok($$INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op-a', 10, 0)$$,
                 '23514', NULL, 'a burst of 0 is refused');

-- The state machine table is exactly domain.md's.
SELECT set_eq('SELECT from_status || ''->'' || to_status FROM orch.allowed_transitions',
    ARRAY['QUEUED->ROUTED', 'QUEUED->RETRY_SCHEDULED', 'QUEUED->FAILED', 'QUEUED->REJECTED', 'QUEUED->EXPIRED',
          'RETRY_SCHEDULED->QUEUED', 'RETRY_SCHEDULED->FAILED', 'RETRY_SCHEDULED->EXPIRED',
          'ROUTED->SUBMITTED', 'ROUTED->FAILED', 'ROUTED->EXPIRED',
          'SCHEDULED->QUEUED', 'SCHEDULED->CANCELED', 'SCHEDULED->EXPIRED',
          'QUEUED->CANCELED', 'RETRY_SCHEDULED->CANCELED', 'FAILED->QUEUED'],
    'allowed transitions are those of domain.md');
SELECT set_eq('SELECT status FROM orch.message_states WHERE terminal',
    ARRAY['SUBMITTED', 'FAILED', 'REJECTED', 'EXPIRED', 'CANCELED'], 'terminal states');

-- Comments on everything.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'orch' AND c.relkind IN ('r', 'p', 'v') AND obj_description(c.oid, 'pg_class') IS NULL $$,
    'every table and view has a comment');
SELECT is_empty($$
    SELECT c.relname || '.' || a.attname FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'orch' AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0 AND NOT a.attisdropped
      AND col_description(c.oid, a.attnum) IS NULL $$,
    'every column of every table and view has a comment');
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'orch' AND obj_description(p.oid, 'pg_proc') IS NULL $$,
    'every function has a comment');

SELECT * FROM finish();
ROLLBACK;
