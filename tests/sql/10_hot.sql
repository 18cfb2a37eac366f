-- Which of the service's updates stay HOT (heap-only: no new index entry),
-- issue 17 part 4, docs/dba.md "Updates and HOT". Counted per table inside
-- this transaction by pg_stat_get_xact_tuples_(hot_)updated.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.acc() RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v uuid := orch.uuid_v7(); -- the C side's ids: today's partition
BEGIN
    PERFORM orch.accept('acct-hot', NULL, NULL, 202, NULL, NULL, 'req-' || v, NULL, now(), ARRAY[v],
                        ARRAY['+14155550100'], ARRAY['ACME'], ARRAY['hello'], ARRAY['GSM7'], ARRAY[1], ARRAY['ref'],
                        ARRAY[NULL::text], ARRAY[now() + interval '1 day'], ARRAY['normal'], ARRAY[NULL::timestamptz], NULL);
    RETURN v;
END $$;
-- "updated hot" of a table in this transaction so far.
CREATE FUNCTION pg_temp.n(p_rel regclass) RETURNS text LANGUAGE sql AS $$
    SELECT pg_stat_get_xact_tuples_updated(p_rel) || ' ' || pg_stat_get_xact_tuples_hot_updated(p_rel)
$$;
-- the difference of two such counts
CREATE FUNCTION pg_temp.d(p_before text, p_after text) RETURNS text LANGUAGE sql AS $$
    SELECT (split_part(p_after, ' ', 1)::bigint - split_part(p_before, ' ', 1)::bigint) || ' updated, '
        || (split_part(p_after, ' ', 2)::bigint - split_part(p_before, ' ', 2)::bigint) || ' hot'
$$;

-- fillfactor 90 on the messages partitions (migration 0007 and orch.partition_create), 100 elsewhere.
SELECT pg_temp.acc() AS m \gset
SELECT tableoid::regclass AS mpart FROM orch.sms_messages WHERE id = :'m' \gset
-- (today's partition; in a database made today by migrate, the first partition, which
-- reaches to the next UTC midnight)
SELECT ok((SELECT reloptions @> ARRAY['fillfactor=90'] FROM pg_class WHERE oid = :'mpart'::regclass),
          'the messages partition of now: fillfactor 90');
SELECT orch.partition_create('sms_status_history', (now() AT TIME ZONE 'UTC')::date + 30) IS NOT NULL AS ignored \gset
SELECT ok((SELECT reloptions @> ARRAY['fillfactor=90'] FROM pg_class
           WHERE oid = ('orch_part.sms_messages_p' || to_char((now() AT TIME ZONE 'UTC')::date + 30, 'YYYYMMDD'))::regclass),
          'a messages partition made by partition_create: fillfactor 90');
SELECT ok((SELECT coalesce(NOT (reloptions::text ~ 'fillfactor'), true) FROM pg_class
           WHERE oid = ('orch_part.sms_status_history_p' || to_char((now() AT TIME ZONE 'UTC')::date + 30, 'YYYYMMDD'))::regclass),
          'a history partition: the default fillfactor (its rows are never updated)');

-- The pipeline's routing_calls update (pipeline_prepare) changes no indexed column: HOT.
SELECT pg_temp.n(:'mpart') AS b \gset
SELECT count(*) AS ignored FROM orch.pipeline_prepare(ARRAY[:'m'::uuid]) \gset
SELECT is(pg_temp.d(:'b', pg_temp.n(:'mpart')), '1 updated, 1 hot', 'pipeline_prepare''s routing_calls update is HOT');
SELECT is((SELECT routing_calls FROM orch.sms_messages WHERE id = :'m'), 1, '(and it counted the call)');

-- A status transition changes status (in the key or predicate of five
-- indexes) and updated_at: never HOT, by design (docs/dba.md).
SELECT pg_temp.n(:'mpart') AS b \gset
SELECT orch.transition(:'m', 'QUEUED', 'ROUTED', p_operator_id => 'op-hot', p_route_id => 'r') AS ignored \gset
SELECT is(pg_temp.d(:'b', pg_temp.n(:'mpart')), '1 updated, 0 hot', 'a transition is not HOT (status is indexed)');

-- The outbox: a failed publish is recorded by outbox_mark_failed; the
-- first one sets first_attempt_at (in a partial index's predicate), a
-- repeat changes only attempts and last_error: HOT.
SELECT id AS oid_, tableoid::regclass AS opart FROM orch.outbox
WHERE message_id = :'m' AND subject = 'sms.events.status' ORDER BY id LIMIT 1 \gset
SELECT is(:'opart', 'orch_part.outbox_p' || to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD'), 'its outbox rows are in today''s outbox partition');
SELECT ok((SELECT coalesce(NOT (reloptions::text ~ 'fillfactor'), true) FROM pg_class WHERE oid = :'opart'::regclass),
          'the outbox partition: the default fillfactor (every frequent update of it changes an indexed column)');
SELECT pg_temp.n(:'opart') AS b \gset
SELECT orch.outbox_mark_failed(ARRAY[:'oid_'::bigint], 'nats: timeout');
SELECT is(pg_temp.d(:'b', pg_temp.n(:'opart')), '1 updated, 0 hot', 'the first failed attempt sets first_attempt_at: not HOT');
SELECT pg_temp.n(:'opart') AS b \gset
SELECT orch.outbox_mark_failed(ARRAY[:'oid_'::bigint], 'nats: timeout');
SELECT is(pg_temp.d(:'b', pg_temp.n(:'opart')), '1 updated, 1 hot', 'a repeated failed attempt is HOT');
SELECT is((SELECT attempts FROM orch.outbox WHERE id = :'oid_'), 2, '(two attempts counted)');
-- Marking it published changes published_at, the predicate of outbox_pending: not HOT.
SELECT pg_temp.n(:'opart') AS b \gset
SELECT orch.outbox_mark_published(ARRAY[:'oid_'::bigint]) AS ignored \gset
SELECT is(pg_temp.d(:'b', pg_temp.n(:'opart')), '1 updated, 0 hot', 'marking published is not HOT (published_at is indexed)');

-- An operator's token bucket: every grant updates its row; nothing in it is indexed but the operator: HOT.
INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op-hot', 1000, 100);
SELECT pg_temp.acc() AS m2 \gset
SELECT orch.transition(:'m2', 'QUEUED', 'ROUTED', p_operator_id => 'op-hot', p_route_id => 'r') AS ignored \gset
-- the bucket's first grant (it may insert the row)
SELECT orch.outbox_stamp_operator_rows(100) AS ignored \gset
SELECT pg_temp.acc() AS m3 \gset
SELECT orch.transition(:'m3', 'QUEUED', 'ROUTED', p_operator_id => 'op-hot', p_route_id => 'r') AS ignored \gset
SELECT pg_temp.n('orch.operator_buckets') AS b \gset
SELECT is(orch.outbox_stamp_operator_rows(100), 1, 'a grant of the limited operator''s next row');
SELECT is(pg_temp.d(:'b', pg_temp.n('orch.operator_buckets')), '1 updated, 1 hot', 'the bucket''s update is HOT');

SELECT * FROM finish();
ROLLBACK;
