-- 0006: time partitions (issue 17). orch.sms_messages and
-- orch.sms_status_history become range-partitioned by message id (a UUIDv7:
-- its first 48 bits are the creation time in ms, so a day is one id range,
-- and a lookup by id is pruned to one partition); orch.outbox by msg_id,
-- which becomes a UUIDv7 too (orch.uuid_v7()). The partitions live in
-- schema orch_part; readers and writers keep using the parents in orch.
--
-- The path from the unpartitioned tables (docs/dba.md, "Partitions"):
-- - messages and history: the old tables are moved to orch_part and
--   ATTACHED as the first partition (MINVALUE .. the next UTC midnight), not
--   copied; their indexes are matched to the parents' and reused, not
--   rebuilt. The attach scans each old table once to check its bound (on
--   1,000,000 messages: measured in tests/integration/21_partitions.sh);
--   rows with an id past the bound (none when every id is a UUIDv7) are
--   moved into the new partitions first.
-- - outbox: its msg_ids were random (v4) and fit no time range, so the old
--   table is not attached: its unpublished rows (a few: the relay's
--   backlog) are copied into the new parent with their id and msg_id (their
--   Nats-Msg-Id, so JetStream's de-duplication still holds for them); its
--   published rows stay in orch_part.outbox_legacy, which partition upkeep
--   drops once the newest is past ORCH_OUTBOX_RETENTION.
-- Everything runs in migrate's one transaction: the functions and views of
-- sql/ are dropped here and re-created by migrate right after.

CREATE SCHEMA IF NOT EXISTS orch_part;
COMMENT ON SCHEMA orch_part IS 'The partitions of orch.sms_messages, orch.sms_status_history and orch.outbox (created and dropped by orch.partition_upkeep); read and write the parents in orch';

-- The functions and views of sql/ name the tables' row types, which follow
-- a renamed table: drop them all; migrate re-creates them after this file.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS v FROM pg_class c
             WHERE c.relnamespace = 'orch'::regnamespace AND c.relkind = 'v' LOOP
        EXECUTE format('DROP VIEW IF EXISTS %s CASCADE', r.v);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p
             WHERE p.pronamespace = 'orch'::regnamespace LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.f);
    END LOOP;
END
$$;

-- The smallest UUIDv7 of the millisecond p_at is in: the partition bound of a time.
CREATE FUNCTION orch.uuid_v7_floor(p_at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM p_at) * 1000)::bigint), 12, '0') || '00000000000000000000')::uuid
$$;

-- The time a UUIDv7 carries (its first 48 bits, in ms).
CREATE FUNCTION orch.uuid_v7_time(p_id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT to_timestamp(('x' || lpad(substr(replace(p_id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 1000.0)
$$;

-- A new UUIDv7 (RFC 9562): the clock in ms, the version, 74 random bits.
CREATE FUNCTION orch.uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
            || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid
$$;

-- The partition of p_parent for the UTC day p_day starts, created standalone
-- and then ATTACHED (SHARE UPDATE EXCLUSIVE on the parent: writers go on),
-- with its CHECK in place so the attach does not scan it. A history
-- partition gets its foreign key to the messages partition of the same day
-- (both are cut by message id at the same bounds). Returns its name, or NULL
-- when it exists. Used by this migration and by orch.partition_upkeep.
CREATE FUNCTION orch.partition_create(p_parent text, p_day date) RETURNS text
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
    EXECUTE format('CREATE TABLE orch_part.%I (LIKE orch.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                   v_name, p_parent);
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

-- A parent like p_legacy (columns, defaults, CHECKs, identity), partitioned
-- by p_key, with p_legacy's indexes by their own names (so ATTACH matches
-- and reuses them) except those p_skip names.
CREATE FUNCTION orch.partition_parent_like(p_parent text, p_key text, p_skip text[]) RETURNS void
LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE r record;
BEGIN
    EXECUTE format('CREATE TABLE orch.%I (LIKE orch_part.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY '
                   'INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (%I)', p_parent, p_parent || '_legacy', p_key);
    FOR r IN SELECT i.indexrelid::regclass AS idx, c.relname AS name, pg_get_indexdef(i.indexrelid) AS def,
                    i.indisprimary AS pk
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = ('orch_part.' || p_parent || '_legacy')::regclass LOOP
        CONTINUE WHEN r.name = ANY (p_skip);
        IF r.pk THEN
            EXECUTE format('ALTER TABLE orch.%I ADD PRIMARY KEY (%s)', p_parent,
                           substring(r.def FROM '\((.*)\)$'));
        ELSE
            EXECUTE replace(r.def, ' ON orch_part.' || p_parent || '_legacy ', ' ON orch.' || p_parent || ' ');
        END IF;
    END LOOP;
END
$$;

-- The old tables move to orch_part (their indexes with them, so the
-- parents can take the index names); their triggers go (the parents'
-- trigger, re-created by sql/, is cloned onto every partition).
DROP TRIGGER IF EXISTS sms_messages_check_transition ON orch.sms_messages;
ALTER TABLE orch.sms_status_history SET SCHEMA orch_part;
ALTER TABLE orch_part.sms_status_history RENAME TO sms_status_history_legacy;
ALTER TABLE orch.sms_messages SET SCHEMA orch_part;
ALTER TABLE orch_part.sms_messages RENAME TO sms_messages_legacy;
ALTER TABLE orch.outbox SET SCHEMA orch_part;
ALTER TABLE orch_part.outbox RENAME TO outbox_legacy;

SELECT orch.partition_parent_like('sms_messages', 'id', '{}');
SELECT orch.partition_parent_like('sms_status_history', 'message_id', '{}');
-- Its states are known ones (as before); added while the parent has no
-- partition, so the old table's own keys are reused when it is attached.
ALTER TABLE orch.sms_status_history
    ADD CONSTRAINT sms_status_history_status_fkey FOREIGN KEY (status) REFERENCES orch.message_states (status),
    ADD CONSTRAINT sms_status_history_previous_status_fkey FOREIGN KEY (previous_status) REFERENCES orch.message_states (status);
-- The outbox's key: msg_id (unique: one row per Nats-Msg-Id, across all
-- partitions since it is the partition key); id stays the relay's order.
SELECT orch.partition_parent_like('outbox', 'msg_id', '{outbox_pkey,outbox_msg_id_key}');
ALTER TABLE orch.outbox ADD PRIMARY KEY (msg_id);

-- Partitions, and a default partition under each parent so that an id
-- outside every range (a partition not created in time, a clock far off)
-- is still stored: orch.partition_upkeep reports its rows (finding
-- partition_default_rows, alerted on).
CREATE TABLE orch_part.sms_messages_default PARTITION OF orch.sms_messages DEFAULT;
CREATE TABLE orch_part.sms_status_history_default PARTITION OF orch.sms_status_history DEFAULT;
CREATE TABLE orch_part.outbox_default PARTITION OF orch.outbox DEFAULT;
ALTER TABLE orch_part.sms_status_history_default ADD FOREIGN KEY (message_id)
    REFERENCES orch_part.sms_messages_default (id) ON DELETE CASCADE;
COMMENT ON TABLE orch_part.sms_messages_default IS 'Default partition of orch.sms_messages: should stay empty (finding partition_default_rows)';
COMMENT ON TABLE orch_part.sms_status_history_default IS 'Default partition of orch.sms_status_history: should stay empty';
COMMENT ON TABLE orch_part.outbox_default IS 'Default partition of orch.outbox: should stay empty';

DO $$
DECLARE
    v_day date := (now() AT TIME ZONE 'UTC')::date;
    v_bound uuid := orch.uuid_v7_floor((v_day + 1)::timestamp AT TIME ZONE 'UTC');
    n bigint;
BEGIN
    -- Rows of the old tables past the bound (ids that are not UUIDv7s, or
    -- from a clock ahead) are set aside and go back through the parents.
    CREATE TEMP TABLE legacy_late_messages ON COMMIT DROP AS
        SELECT * FROM orch_part.sms_messages_legacy WHERE id >= v_bound;
    CREATE TEMP TABLE legacy_late_history ON COMMIT DROP AS
        SELECT * FROM orch_part.sms_status_history_legacy WHERE message_id >= v_bound;
    DELETE FROM orch_part.sms_status_history_legacy WHERE message_id >= v_bound;
    DELETE FROM orch_part.sms_messages_legacy WHERE id >= v_bound;

    EXECUTE format('ALTER TABLE orch.sms_messages ATTACH PARTITION orch_part.sms_messages_legacy '
                   'FOR VALUES FROM (MINVALUE) TO (%L)', v_bound);
    EXECUTE format('ALTER TABLE orch.sms_status_history ATTACH PARTITION orch_part.sms_status_history_legacy '
                   'FOR VALUES FROM (MINVALUE) TO (%L)', v_bound);
    COMMENT ON TABLE orch_part.sms_messages_legacy IS 'Partition of orch.sms_messages: the unpartitioned table of before migration 0006';
    COMMENT ON TABLE orch_part.sms_status_history_legacy IS 'Partition of orch.sms_status_history: the unpartitioned table of before migration 0006';

    -- Messages and history: the days after the old table's bound, 3 ahead.
    FOR i IN 1..3 LOOP
        PERFORM orch.partition_create('sms_messages', v_day + i);
        PERFORM orch.partition_create('sms_status_history', v_day + i);
    END LOOP;
    -- Outbox: today (its old table is not attached) and 2 ahead.
    FOR i IN 0..2 LOOP
        PERFORM orch.partition_create('outbox', v_day + i);
    END LOOP;

    INSERT INTO orch.sms_messages SELECT * FROM legacy_late_messages;
    INSERT INTO orch.sms_status_history SELECT * FROM legacy_late_history;

    -- The relay's backlog moves with its ids and msg_ids; the identity goes on after them.
    INSERT INTO orch.outbox OVERRIDING SYSTEM VALUE
        SELECT * FROM orch_part.outbox_legacy WHERE published_at IS NULL;
    DELETE FROM orch_part.outbox_legacy WHERE published_at IS NULL;
    SELECT coalesce(max(id), 0) + 1 INTO n FROM (
        SELECT max(id) AS id FROM orch_part.outbox_legacy UNION ALL SELECT max(id) FROM orch.outbox) AS ids;
    EXECUTE format('ALTER TABLE orch.outbox ALTER COLUMN id RESTART WITH %s', n);
END
$$;
COMMENT ON TABLE orch_part.outbox_legacy IS 'The published rows of the unpartitioned outbox of before migration 0006; dropped by orch.partition_upkeep past ORCH_OUTBOX_RETENTION';
