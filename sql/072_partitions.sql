-- Partition upkeep (issue 17, docs/dba.md "Partitions"): run by every
-- reconcile pass (serve's reconciler role and the reconcile cron command).
--
-- - Creates the partitions of the days ahead: messages and their history
--   3 days, the outbox 2 (a partition is one UTC day of ids; see migration
--   0006 for the mechanism). A day not created in time is no failure: its
--   rows land in the default partition, which this reports.
-- - Drops a day's messages partition (its history partition first: the
--   foreign key runs between the two) once the day ended more than
--   p_message_retention ago and none of its messages is still open; never
--   when p_message_retention is NULL or zero (the default: keep them).
-- - Drops an outbox partition once its day ended more than
--   p_outbox_retention ago and every row of it was published; the old
--   unpartitioned outbox (orch_part.outbox_legacy) once its newest row is
--   that old.
-- A create waits at most 1 s for its lock (an ATTACH takes SHARE UPDATE
-- EXCLUSIVE: readers and writers go on); a drop at most 50-200 ms a lock
-- a try, 10 tries (orch.partition_drop: its ACCESS EXCLUSIVE holds the service up
-- while it waits). What did not get its lock is tried again by the next
-- pass; a partition kept back says why in "kept". One call makes at most
-- one drop, or the creates and no drop: a drop's lock on the parents lasts
-- to the end of the transaction, so each is committed before the next
-- ("more": true; the reconcile pass calls again, in a transaction of its own).
-- With p_dry_run nothing changes and the report says what would.
-- The partition of p_parent for the UTC day p_day, created standalone and
-- then ATTACHED (SHARE UPDATE EXCLUSIVE on the parent: writers go on), with
-- its CHECK in place so the attach does not scan it. A history partition
-- gets its foreign key to the messages partition of the same day (both are
-- cut by message id at the same bounds). Returns its name, or NULL when it
-- exists. (The current definition; migration 0006 made the first.)
-- A messages partition leaves a tenth of each page free (fillfactor 90,
-- migration 0007): the pipeline's routing_calls update, which changes no
-- indexed column, then finds room on its row's page and stays HOT
-- (docs/dba.md, "Updates and HOT"). History rows are never updated and the
-- outbox's updates all change an indexed column: those keep 100.
CREATE OR REPLACE FUNCTION orch.partition_create(p_parent text, p_day date) RETURNS text
LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := p_parent || '_p' || to_char(p_day, 'YYYYMMDD');
    v_from uuid := uuid_v7_floor(p_day::timestamp AT TIME ZONE 'UTC');
    v_to uuid := uuid_v7_floor((p_day + 1)::timestamp AT TIME ZONE 'UTC');
    v_key text := CASE p_parent WHEN 'sms_messages' THEN 'id' WHEN 'sms_status_history' THEN 'message_id'
                                WHEN 'outbox' THEN 'msg_id' END;
BEGIN
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'orch.partition_create: % is not a partitioned table of orch', p_parent;
    END IF;
    IF to_regclass('orch_part.' || v_name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE orch_part.%I (LIKE orch.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)%s',
                   v_name, p_parent, CASE p_parent WHEN 'sms_messages' THEN ' WITH (fillfactor = 90)' ELSE '' END);
    EXECUTE format('ALTER TABLE orch_part.%I ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)',
                   v_name, v_name || '_bound', v_key, v_from, v_key, v_to);
    IF p_parent = 'sms_status_history' THEN
        PERFORM partition_create('sms_messages', p_day);
        EXECUTE format('ALTER TABLE orch_part.%I ADD FOREIGN KEY (message_id) REFERENCES orch_part.%I (id) ON DELETE CASCADE',
                       v_name, 'sms_messages_p' || to_char(p_day, 'YYYYMMDD'));
    END IF;
    EXECUTE format('ALTER TABLE orch.%I ATTACH PARTITION orch_part.%I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, v_name, v_from, v_to);
    EXECUTE format('ALTER TABLE orch_part.%I DROP CONSTRAINT %I', v_name, v_name || '_bound');
    EXECUTE format('COMMENT ON TABLE orch_part.%I IS %L', v_name,
                   format('Partition of orch.%s: ids of %s (UTC)', p_parent, p_day));
    RETURN v_name;
END
$$;

-- The bounds of a range partition (NULL for MINVALUE/MAXVALUE or the default partition).
CREATE OR REPLACE FUNCTION orch.partition_upper(p_partition oid) RETURNS uuid
LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([0-9a-f-]{36})''\)'))[1]::uuid
    FROM pg_class c WHERE c.oid = p_partition
$$;

CREATE OR REPLACE FUNCTION orch.partition_lower(p_partition oid) RETURNS uuid
LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([0-9a-f-]{36})''\)'))[1]::uuid
    FROM pg_class c WHERE c.oid = p_partition
$$;

-- Drops the given partitions (in this order) of the parents p_parents.
-- DROP TABLE of a partition takes ACCESS EXCLUSIVE on the partition and on
-- its parent; while it waits for a lock, every new reader and writer of
-- that table queues behind it. So each try waits at most 50 ms for a lock
-- (more from the third try on: see below; the longest the service is held
-- up). The parents first, in a fixed order (messages before history, the
-- order of every transaction that writes both), then the partitions, then
-- the drops (a moment: no data is read). Parents first because every query
-- that cannot prune to one day (the transitions by id, the relay's claims)
-- locks the parent and then every partition: with the partitions locked
-- first, such a query that began meanwhile held the parent and waited for
-- the partition, the drop waited for it on the parent, and every try under
-- load ended in its lock_timeout (measured by bench-retention: the busy
-- day was never dropped). Once the parents are held, only a query naming a
-- partition itself can hold one. Up to 10 tries, 100-200 ms apart; false
-- when every try timed out (the next pass tries again).
-- An autovacuum of a partition to drop, or of another partition of the
-- same parent (today's, which it vacuums during the day), holds a lock that
-- conflicts, for seconds to minutes, and PostgreSQL cancels it for a waiter
-- only after deadlock_timeout (1 s), longer than a try waits: it is
-- cancelled here (pg_cancel_backend, when the function's owner may;
-- nothing is lost: the table goes, or autovacuum comes back to it).
CREATE OR REPLACE FUNCTION orch.partition_drop(p_parents text[], p_partitions text[]) RETURNS boolean
LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    FOR i IN 1..10 LOOP
        BEGIN
            -- (any partition of these parents: a VACUUM ANALYZE of today's outbox partition held a
            -- drop of an old outbox day for its 30 s, measured by bench-retention on 5M messages)
            PERFORM pg_cancel_backend(a.pid) FROM pg_stat_activity a
            WHERE a.backend_type = 'autovacuum worker' AND a.datname = current_database()
              AND EXISTS (SELECT 1 FROM unnest(p_parents) AS x(name)
                          WHERE a.query LIKE '%orch_part.' || x.name || '\_%');
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;
        END;
        BEGIN
            -- 50 ms for the first two tries, 100 for the next two, then 200: under full load the
            -- transactions that hold these tables run 55-80 ms (accept batches, pipeline_apply,
            -- outbox_mark_published: measured by bench-retention), longer than 50 ms, so a busy
            -- day never got its locks; every new reader and writer queues behind a try while it
            -- waits, so a try never waits longer than 200 ms.
            PERFORM set_config('lock_timeout', (least(200, 50 << ((i - 1) / 2)))::text || 'ms', true);
            FOREACH t IN ARRAY p_parents LOOP
                EXECUTE format('LOCK TABLE orch.%I IN ACCESS EXCLUSIVE MODE', t);
            END LOOP;
            FOREACH t IN ARRAY p_partitions LOOP
                EXECUTE format('LOCK TABLE orch_part.%I IN ACCESS EXCLUSIVE MODE', t);
            END LOOP;
            FOREACH t IN ARRAY p_partitions LOOP
                EXECUTE format('DROP TABLE orch_part.%I', t);
            END LOOP;
            RETURN true;
        EXCEPTION WHEN lock_not_available THEN
            PERFORM pg_sleep(0.1 + random() * 0.1);
        END;
    END LOOP;
    RETURN false;
END
$$;

CREATE OR REPLACE FUNCTION orch.partition_upkeep(p_dry_run boolean, p_message_retention interval,
                                                 p_outbox_retention interval, p_now timestamptz DEFAULT now())
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
SET lock_timeout = '1s'
AS $$
DECLARE
    v_today date := (p_now AT TIME ZONE 'UTC')::date;
    v_created jsonb := '[]';
    v_dropped jsonb := '[]';
    v_kept jsonb := '[]';
    v_default jsonb := '{}';
    v_open text[] := ARRAY(SELECT status FROM message_states WHERE NOT terminal);
    r record;
    v_name text;
    v_busy boolean;
    v_did boolean := false; -- this call has locked a parent (a create or a drop): no further drop
    v_more boolean := false; -- a drop was left to the next call
    n bigint;
BEGIN
    -- Ahead.
    FOR r IN SELECT t.parent, v_today + d AS day
             FROM (VALUES ('sms_messages', 3), ('sms_status_history', 3), ('outbox', 2)) AS t(parent, ahead)
             CROSS JOIN LATERAL generate_series(0, t.ahead) AS d
             ORDER BY 2, 1 LOOP
        v_name := r.parent || '_p' || to_char(r.day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass('orch_part.' || v_name) IS NOT NULL;
        -- a day another partition already covers (the old table attached by 0006)
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                              WHERE i.inhparent = ('orch.' || r.parent)::regclass
                                AND partition_upper(c.oid) > uuid_v7_floor(r.day::timestamp AT TIME ZONE 'UTC')
                                AND coalesce(partition_lower(c.oid), '00000000-0000-0000-0000-000000000000')
                                    < uuid_v7_floor((r.day + 1)::timestamp AT TIME ZONE 'UTC'));
        IF NOT p_dry_run THEN
            BEGIN
                PERFORM partition_create(r.parent, r.day);
            EXCEPTION WHEN lock_not_available OR check_violation THEN
                v_kept := v_kept || jsonb_build_object('partition', v_name, 'reason', 'create_failed', 'error', SQLERRM);
                CONTINUE;
            END;
        END IF;
        v_created := v_created || to_jsonb(v_name);
    END LOOP;

    -- One drop a call (the caller calls again while "more"): a drop's
    -- ACCESS EXCLUSIVE on the parents lasts until the transaction ends, and
    -- a second drop in the same one would keep every accept waiting while it
    -- tries (measured: 2.3 s, and a deadlock with the relay's claim, which
    -- holds the outbox partitions and reads sms_messages). The creates above
    -- hold their parents' SHARE UPDATE EXCLUSIVE likewise: after them, no drop.
    v_did := NOT p_dry_run AND jsonb_array_length(v_created) > 0;

    -- Behind: messages with their history, day by day.
    IF p_message_retention IS NOT NULL AND p_message_retention > interval '0' THEN
        FOR r IN SELECT c.relname AS name, partition_upper(c.oid) AS upper_id
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'orch.sms_messages'::regclass AND c.relname <> 'sms_messages_default'
                 ORDER BY 2 LOOP
            EXIT WHEN r.upper_id IS NULL OR uuid_v7_time(r.upper_id) > p_now - p_message_retention;
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM orch_part.%I WHERE status = ANY (%L))', r.name, v_open)
                INTO v_busy;
            IF v_busy THEN
                v_kept := v_kept || jsonb_build_object('partition', r.name, 'reason', 'open_messages');
                CONTINUE;
            END IF;
            IF NOT p_dry_run THEN
                IF v_did THEN
                    v_more := true;
                    CONTINUE;
                END IF;
                IF NOT partition_drop(ARRAY['sms_messages', 'sms_status_history'],
                                      ARRAY[replace(r.name, 'sms_messages', 'sms_status_history'), r.name]) THEN
                    v_kept := v_kept || jsonb_build_object('partition', r.name, 'reason', 'lock_timeout');
                    CONTINUE;
                END IF;
                v_did := true;
            END IF;
            v_dropped := v_dropped || to_jsonb(replace(r.name, 'sms_messages', 'sms_status_history'))
                                   || to_jsonb(r.name);
        END LOOP;
    END IF;

    -- Behind: the outbox.
    FOR r IN SELECT c.relname AS name, partition_upper(c.oid) AS upper_id
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'orch.outbox'::regclass AND c.relname <> 'outbox_default'
             ORDER BY 2 LOOP
        EXIT WHEN r.upper_id IS NULL OR uuid_v7_time(r.upper_id) > p_now - p_outbox_retention;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM orch_part.%I WHERE published_at IS NULL)', r.name) INTO v_busy;
        IF v_busy THEN
            v_kept := v_kept || jsonb_build_object('partition', r.name, 'reason', 'unpublished_rows');
            CONTINUE;
        END IF;
        IF NOT p_dry_run THEN
            IF v_did THEN
                v_more := true;
                CONTINUE;
            END IF;
            IF NOT partition_drop(ARRAY['outbox'], ARRAY[r.name]) THEN
                v_kept := v_kept || jsonb_build_object('partition', r.name, 'reason', 'lock_timeout');
                CONTINUE;
            END IF;
            v_did := true;
        END IF;
        v_dropped := v_dropped || to_jsonb(r.name);
    END LOOP;
    IF to_regclass('orch_part.outbox_legacy') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM orch_part.outbox_legacy WHERE published_at IS NULL OR published_at > $1)'
            INTO v_busy USING p_now - p_outbox_retention;
        IF NOT v_busy THEN
            IF NOT p_dry_run THEN
                DROP TABLE orch_part.outbox_legacy;
            END IF;
            v_dropped := v_dropped || to_jsonb('outbox_legacy'::text);
        END IF;
    END IF;

    IF NOT p_dry_run AND jsonb_array_length(v_created) > 0 THEN
        GRANT SELECT ON ALL TABLES IN SCHEMA orch_part TO orch_readonly, orch_app;
    END IF;

    -- The default partitions (at most 1000 rows counted each).
    FOR r IN SELECT * FROM (VALUES ('sms_messages'), ('sms_status_history'), ('outbox')) AS t(parent) LOOP
        EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM orch_part.%I LIMIT 1000) AS d', r.parent || '_default')
            INTO n;
        v_default := v_default || jsonb_build_object(r.parent, n);
    END LOOP;

    RETURN jsonb_build_object('dryRun', p_dry_run, 'created', v_created, 'dropped', v_dropped, 'kept', v_kept,
                              'defaultRows', v_default, 'more', v_more);
END
$$;
