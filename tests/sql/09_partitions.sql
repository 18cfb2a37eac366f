-- Time partitions (issue 17, migration 0006, sql/072_partitions.sql):
-- routing by id, pruning, the uniqueness guarantees, upkeep ahead and
-- behind, the default partition.
BEGIN;
SELECT no_plan();

-- A message accepted with a chosen id (the C side makes UUIDv7s).
CREATE FUNCTION pg_temp.acc(p_id uuid) RETURNS uuid LANGUAGE sql AS $$
    SELECT p_id FROM (SELECT orch.accept_message(p_id, 'acct-part', '+14155550100', 'ACME', 'hello', 'GSM7', 1,
                                                 NULL, NULL, now() + interval '30 days', NULL, NULL, NULL)) AS a
$$;
-- The partition a row of a parent is in.
CREATE FUNCTION pg_temp.part(p_oid oid) RETURNS text LANGUAGE sql AS $$
    SELECT relname::text FROM pg_class WHERE oid = p_oid
$$;
-- A UUIDv7 in the middle of a UTC day from today.
CREATE FUNCTION pg_temp.id_of_day(p_days integer, p_tail text DEFAULT '7000-8000-000000000001') RETURNS uuid
LANGUAGE sql AS $$
    SELECT (substr(replace(orch.uuid_v7_floor(((now() AT TIME ZONE 'UTC')::date + p_days)::timestamp AT TIME ZONE 'UTC'
                                              + interval '12 hours')::text, '-', ''), 1, 12)
            || replace(p_tail, '-', ''))::uuid
$$;
SELECT to_char((now() AT TIME ZONE 'UTC')::date + 1, 'YYYYMMDD') AS d1,
       to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD') AS d0 \gset

-- The parents are partitioned, each with a default partition.
SELECT is((SELECT string_agg(c.relname::text || ':' || p.partstrat::text || ':' || a.attname::text, ',' ORDER BY c.relname)
           FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
           WHERE c.relnamespace = 'orch'::regnamespace),
          'outbox:r:msg_id,sms_messages:r:id,sms_status_history:r:message_id',
          'messages and history by message id, the outbox by msg_id, by range');
SELECT is((SELECT count(*) FROM pg_partitioned_table p WHERE p.partdefid <> 0
           AND p.partrelid IN ('orch.sms_messages'::regclass, 'orch.sms_status_history'::regclass, 'orch.outbox'::regclass)),
          3::bigint, 'every parent has a default partition');

-- UUIDv7 helpers.
SELECT is(orch.uuid_v7_time(orch.uuid_v7_floor('2026-12-02 10:11:12.345+00')), '2026-12-02 10:11:12.345+00'::timestamptz,
          'uuid_v7_floor and uuid_v7_time agree to the ms');
SELECT ok(substr(orch.uuid_v7()::text, 15, 1) = '7' AND abs(extract(epoch FROM orch.uuid_v7_time(orch.uuid_v7()) - clock_timestamp())) < 5,
          'uuid_v7(): version 7, carrying the clock');

-- Routing: a message of tomorrow lands in tomorrow's partition, its history
-- and its outbox rows (msg_ids of now) in today's.
SELECT pg_temp.acc(pg_temp.id_of_day(1)) AS m1 \gset
SELECT is((SELECT pg_temp.part(tableoid) FROM orch.sms_messages WHERE id = :'m1'), 'sms_messages_p' || :'d1',
          'a message is stored in the partition of its id''s day');
SELECT is((SELECT pg_temp.part(tableoid) FROM orch.sms_status_history WHERE message_id = :'m1'),
          'sms_status_history_p' || :'d1', 'and its history in the history partition of the same day');
SELECT is((SELECT string_agg(DISTINCT pg_temp.part(tableoid), ',') FROM orch.outbox WHERE message_id = :'m1'),
          'outbox_p' || :'d0', 'its outbox rows: msg_ids are UUIDv7s of now, in today''s outbox partition');
SELECT is((SELECT count(*) FROM orch.outbox WHERE message_id = :'m1' AND substr(msg_id::text, 15, 1) = '7'),
          2::bigint, 'every new outbox row has a UUIDv7 msg_id');

-- The state machine works across partitions (the trigger is on every one).
SELECT orch.transition(:'m1', 'QUEUED', 'ROUTED', p_operator_id => 'op-part') AS ignored \gset
SELECT is((SELECT status FROM orch.sms_messages WHERE id = :'m1'), 'ROUTED', 'a transition in a partition');
SELECT throws_ok(format($$UPDATE orch.sms_messages SET status = 'QUEUED' WHERE id = %L$$, :'m1'), 'OR001', NULL,
                 'the transition trigger guards every partition');

-- Pruning: a lookup by id reads one partition.
CREATE FUNCTION pg_temp.plan(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; t text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || p_sql LOOP t := t || l || E'\n'; END LOOP;
    RETURN t;
END $$;
SELECT is((SELECT count(DISTINCT m[1]) FROM regexp_matches(pg_temp.plan(format('SELECT * FROM orch.sms_messages WHERE id = %L', :'m1')),
                                               '(sms_messages_(p[0-9]{8}|legacy|default))(?!_)', 'g') AS m), 1::bigint,
          'a message by id: one partition scanned');
SELECT ok(pg_temp.plan(format('SELECT * FROM orch.sms_messages WHERE id = %L', :'m1')) ~ ('sms_messages_p' || :'d1'),
          'the partition of its day');
SELECT is((SELECT count(DISTINCT m[1]) FROM regexp_matches(pg_temp.plan(format('SELECT * FROM orch.sms_status_history WHERE message_id = %L', :'m1')),
                                               '(sms_status_history_(p[0-9]{8}|legacy|default))(?!_)', 'g') AS m), 1::bigint,
          'its history by message id: one partition scanned');
SELECT ok(orch.message_json(:'m1', 'acct-part') IS NOT NULL, 'GET''s document is found through the parents');

-- Uniqueness, across partitions.
SELECT throws_ok(format($$INSERT INTO orch.sms_messages (id, account_id, to_e164, sender, body, encoding, segments, valid_until)
                         VALUES (%L, 'a', '+14155550100', 'S', 'b', 'GSM7', 1, now() + interval '1 day')$$, :'m1'),
                 '23505', NULL, 'one message per id');
SELECT throws_ok(format($$INSERT INTO orch.outbox (msg_id, subject, payload) SELECT msg_id, subject, payload
                         FROM orch.outbox WHERE message_id = %L LIMIT 1$$, :'m1'),
                 '23505', NULL, 'one outbox row per msg_id (the partition key is the unique key)');
SELECT throws_ok(format($$INSERT INTO orch.sms_status_history (message_id, seq, status) VALUES (%L, 1, 'QUEUED')$$, :'m1'),
                 '23505', NULL, 'one history row per (message, seq)');
SELECT throws_ok($$INSERT INTO orch.sms_status_history (message_id, seq, status)
                   VALUES ('01a23e59-0000-7000-8000-00000000abcd', 1, 'QUEUED')$$,
                 '23503', NULL, 'no history row without its message (the foreign key of each day)');
SELECT col_is_pk('orch', 'idempotency_keys', ARRAY['account_id', 'idem_key'],
                 'one idempotency record per (account, key): the table is not partitioned');

-- The default partition: an id of no day is stored, and reported.
DELETE FROM orch_part.sms_messages_default;
SELECT pg_temp.acc('ffff0000-0000-7000-8000-000000000001') AS far \gset
SELECT is((SELECT pg_temp.part(tableoid) FROM orch.sms_messages WHERE id = :'far'), 'sms_messages_default',
          'an id past every partition is stored in the default partition, not refused');
SELECT is((orch.partition_upkeep(true, NULL, interval '1 hour')->'defaultRows'->>'sms_messages')::integer, 1,
          'upkeep counts the default partition''s rows');
DELETE FROM orch.sms_messages WHERE id = :'far';

-- Upkeep ahead: dry-run reports, changes nothing; then creates.
SELECT count(*) AS parts0 FROM pg_inherits WHERE inhparent = 'orch.sms_messages'::regclass \gset
SELECT orch.partition_upkeep(true, NULL, interval '1 hour', now() + interval '5 days') AS dry \gset
SELECT ok((:'dry'::jsonb)->'created' @> to_jsonb(('sms_messages_p' || to_char((now() AT TIME ZONE 'UTC')::date + 8, 'YYYYMMDD'))),
          'dry run: reports the partition 3 days past the 5th day ahead');
SELECT is((SELECT count(*) FROM pg_inherits WHERE inhparent = 'orch.sms_messages'::regclass), :'parts0'::bigint,
          'dry run: creates nothing');
SELECT orch.partition_upkeep(false, NULL, interval '1 hour', now() + interval '5 days') AS wet \gset
SELECT is((SELECT count(*) FROM pg_inherits WHERE inhparent = 'orch.sms_messages'::regclass), :'parts0'::bigint + 4,
          'upkeep creates the day of p_now and the 3 after it');
SELECT ok(to_regclass('orch_part.sms_status_history_p' || to_char((now() AT TIME ZONE 'UTC')::date + 8, 'YYYYMMDD')) IS NOT NULL
          AND to_regclass('orch_part.outbox_p' || to_char((now() AT TIME ZONE 'UTC')::date + 7, 'YYYYMMDD')) IS NOT NULL,
          'history 3 days ahead, outbox 2');
SELECT is(jsonb_array_length(orch.partition_upkeep(false, NULL, interval '1 hour', now() + interval '5 days')->'created'), 0,
          'a second pass creates nothing');

-- A reconcile pass: upkeep called again while it says "more" (one drop a call); the
-- dropped of every call, the kept of the last, and how many calls it took.
CREATE FUNCTION pg_temp.upkeep_pass(p_msg interval, p_out interval, p_now timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE r jsonb; d jsonb := '[]'; n integer := 0;
BEGIN
    LOOP
        r := orch.partition_upkeep(false, p_msg, p_out, p_now);
        d := d || (r->'dropped');
        n := n + 1;
        EXIT WHEN NOT (r->>'more')::boolean OR n >= 50;
    END LOOP;
    RETURN jsonb_build_object('dropped', d, 'kept', r->'kept', 'calls', n, 'first', (SELECT 1));
END $$;

-- Upkeep behind: never a day with an open message; never without a retention.
SELECT ok(NOT (orch.partition_upkeep(true, NULL, interval '1 hour', now() + interval '20 days')->'dropped'
               @> to_jsonb('sms_messages_p' || :'d1')), 'no message retention: no message partition dropped');
SELECT ok((pg_temp.upkeep_pass(interval '1 day', interval '1 hour', now() + interval '20 days')->'kept')
          @> jsonb_build_array(jsonb_build_object('partition', 'sms_messages_p' || :'d1', 'reason', 'open_messages')),
          'a day past retention with an open (ROUTED) message is kept, and says why');
SELECT ok(to_regclass('orch_part.sms_messages_p' || :'d1') IS NOT NULL, 'and is still there');
SELECT orch.transition(:'m1', 'ROUTED', 'FAILED', p_error_code => 'test') AS ignored \gset
SELECT orch.partition_upkeep(false, interval '1 day', interval '1 hour', now() + interval '20 days') AS one \gset
SELECT pg_temp.upkeep_pass(interval '1 day', interval '1 hour', now() + interval '20 days') AS gone \gset
SELECT ok((((:'one'::jsonb)->'dropped') || ((:'gone'::jsonb)->'dropped'))
          @> jsonb_build_array('sms_status_history_p' || :'d1', 'sms_messages_p' || :'d1'),
          'once every message of it is terminal, the day goes: history and messages');
SELECT ok(to_regclass('orch_part.sms_messages_p' || :'d1') IS NULL AND to_regclass('orch_part.sms_status_history_p' || :'d1') IS NULL,
          'both partitions are dropped');
SELECT is((SELECT count(*) FROM orch.sms_messages WHERE id = :'m1'), 0::bigint, 'its message is gone with it');
SELECT ok((:'gone'::jsonb)->'kept' @> jsonb_build_array(jsonb_build_object('partition', 'outbox_p' || :'d0', 'reason', 'unpublished_rows')),
          'an outbox day with unpublished rows is kept');
-- One drop a call: a drop's lock on its parents lasts to the end of the transaction.
SELECT ok(jsonb_array_length((:'one'::jsonb)->'dropped') BETWEEN 1 AND 2
          AND (((:'one'::jsonb)->'dropped') - 'outbox_legacy'::text) <@ jsonb_build_array(
              (:'one'::jsonb)->'dropped'->>0, replace((:'one'::jsonb)->'dropped'->>0, 'sms_status_history', 'sms_messages')),
          'one call drops one group (a history day with its messages day, or an outbox day) though more are due');
SELECT is(((:'wet'::jsonb)->'dropped') - 'outbox_legacy'::text, '[]'::jsonb,
          'a call that creates partitions drops none of a parent (the unattached outbox_legacy may go)');
UPDATE orch.outbox SET first_attempt_at = now(), published_at = now() WHERE published_at IS NULL;
SELECT count(orch.partition_create('outbox', (now() AT TIME ZONE 'UTC')::date + d)) AS ignored FROM generate_series(10, 11) AS d \gset
SELECT orch.partition_upkeep(false, interval '1 day', interval '1 hour', now() + interval '20 days') AS ob1 \gset
SELECT is(jsonb_array_length((:'ob1'::jsonb)->'dropped'), 1, 'with three outbox days due, one call drops one');
SELECT is((:'ob1'::jsonb)->>'more', 'true', '... and says "more", for the caller to call again');
SELECT pg_temp.upkeep_pass(interval '1 day', interval '1 hour', now() + interval '20 days') AS ob \gset
SELECT cmp_ok(((:'ob'::jsonb)->>'calls')::integer, '>', 1, 'the rest take several calls');
SELECT ok((((:'ob1'::jsonb)->'dropped') || ((:'ob'::jsonb)->'dropped')) @> to_jsonb('outbox_p' || :'d0'), 'published, past the retention: the outbox day is dropped');
SELECT is((SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'orch.outbox'::regclass AND c.relname <> 'outbox_default'
             AND orch.uuid_v7_time(orch.partition_upper(c.oid)) <= now() + interval '20 days' - interval '1 hour'),
          0::bigint, 'a pass drops every due outbox day');
SELECT is(orch.partition_upkeep(false, interval '1 day', interval '1 hour', now() + interval '20 days')->>'more', 'false',
          'then "more" is false');

SELECT * FROM finish();
ROLLBACK;
