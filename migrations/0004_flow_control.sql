-- 0004: flow control (issue 15): priority lanes, scheduled send, cancel,
-- bulk ids, and per-operator throughput limits.
--
-- Every step here is cheap on a big table: ADD COLUMN with a constant
-- default is a catalog change (PostgreSQL 11+); the new CHECKs are added
-- NOT VALID and validated afterwards, which scans under a SHARE UPDATE
-- EXCLUSIVE lock (reads and writes go on); the indexes are partial and
-- start small (no message is SCHEDULED, high or in a bulk yet).

-- The two new states and their transitions (domain.md).
INSERT INTO orch.message_states (status, terminal, description) VALUES
    ('SCHEDULED', false, 'accepted with a future sendAt; waiting to be released'),
    ('CANCELED',  true,  'canceled by the client before it reached an operator');

INSERT INTO orch.allowed_transitions (from_status, to_status) VALUES
    ('SCHEDULED', 'QUEUED'), ('SCHEDULED', 'CANCELED'), ('SCHEDULED', 'EXPIRED'),
    ('QUEUED', 'CANCELED'), ('RETRY_SCHEDULED', 'CANCELED');

ALTER TABLE orch.sms_messages DROP CONSTRAINT sms_messages_status_check;
ALTER TABLE orch.sms_messages ADD CONSTRAINT sms_messages_status_check
    CHECK (status IN ('QUEUED', 'ROUTED', 'SUBMITTED', 'RETRY_SCHEDULED', 'FAILED', 'REJECTED', 'EXPIRED',
                      'SCHEDULED', 'CANCELED')) NOT VALID;

ALTER TABLE orch.sms_messages
    ADD COLUMN priority text NOT NULL DEFAULT 'normal',
    ADD COLUMN send_at  timestamptz,
    ADD COLUMN bulk_id  uuid;
ALTER TABLE orch.sms_messages ADD CONSTRAINT sms_messages_priority_check
    CHECK (priority IN ('normal', 'high')) NOT VALID;
ALTER TABLE orch.sms_messages ADD CONSTRAINT sms_messages_scheduled_send_at_check
    CHECK (status <> 'SCHEDULED' OR send_at IS NOT NULL) NOT VALID;
ALTER TABLE orch.sms_messages VALIDATE CONSTRAINT sms_messages_status_check;
ALTER TABLE orch.sms_messages VALIDATE CONSTRAINT sms_messages_priority_check;
ALTER TABLE orch.sms_messages VALIDATE CONSTRAINT sms_messages_scheduled_send_at_check;

-- The scheduler's release: due SCHEDULED messages in send_at order.
CREATE INDEX sms_messages_scheduled_due ON orch.sms_messages (send_at) WHERE status = 'SCHEDULED';
-- GET /v1/sms/bulk/{bulkId} and bulk cancel: a bulk's messages by status (index only).
CREATE INDEX sms_messages_bulk_status ON orch.sms_messages (bulk_id, status) WHERE bulk_id IS NOT NULL;
-- The reconciler's and stuck view's scan of open messages includes SCHEDULED ones by age.
CREATE INDEX sms_messages_open_by_age_v2 ON orch.sms_messages (updated_at)
    WHERE status IN ('QUEUED', 'ROUTED', 'RETRY_SCHEDULED', 'SCHEDULED');
DROP INDEX orch.sms_messages_open_by_age;
ALTER INDEX orch.sms_messages_open_by_age_v2 RENAME TO sms_messages_open_by_age;

-- The outbox row carries its message's lane: the relay claims high rows first.
ALTER TABLE orch.outbox ADD COLUMN priority text NOT NULL DEFAULT 'normal';
ALTER TABLE orch.outbox ADD CONSTRAINT outbox_priority_check CHECK (priority IN ('normal', 'high')) NOT VALID;
ALTER TABLE orch.outbox VALIDATE CONSTRAINT outbox_priority_check;
CREATE INDEX outbox_pending_high ON orch.outbox (id) WHERE published_at IS NULL AND priority = 'high';

-- Per-operator throughput limits (domain.md): DBA-editable. An operator
-- without a row has no limit.
CREATE TABLE orch.operator_limits (
    operator_id    text PRIMARY KEY CHECK (operator_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    max_per_second double precision NOT NULL CHECK (max_per_second > 0 AND max_per_second <= 1000000),
    burst          integer NOT NULL CHECK (burst BETWEEN 1 AND 1000000),
    note           text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The shared token buckets of the limited operators: the service's own
-- state, one row per operator, locked by whichever instance is granting
-- that operator's next publishes (the others skip it for that moment).
CREATE TABLE orch.operator_buckets (
    operator_id text PRIMARY KEY,
    tokens      double precision NOT NULL,
    refilled_at timestamptz NOT NULL DEFAULT now()
);
