-- 0007: every partition of orch.sms_messages leaves a tenth of each page
-- free (fillfactor 90; orch.partition_create gives new ones the same). The
-- pipeline's routing_calls update changes no indexed column, so with room on
-- its row's page it is a HOT update: no new entry in any of the seven
-- indexes (docs/dba.md, "Updates and HOT"). Only pages written from now on
-- keep the room; ALTER TABLE ... SET (fillfactor) takes SHARE UPDATE
-- EXCLUSIVE, which readers and writers do not wait for.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT i.inhrelid::regclass AS part FROM pg_inherits i
             WHERE i.inhparent = 'orch.sms_messages'::regclass LOOP
        EXECUTE format('ALTER TABLE %s SET (fillfactor = 90)', r.part);
    END LOOP;
END
$$;
