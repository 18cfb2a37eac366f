-- 0001: the orch schema: messages, their status history, the transactional
-- outbox, idempotency records, the state machine, and the DBA-editable
-- tables of the pipeline's domain validation.
--
-- Versioned and forward-only: once applied anywhere this file never changes
-- (migrate refuses to run when it did). Functions, views, grants and
-- comments live in sql/ and are re-applied by every migrate.

CREATE SCHEMA IF NOT EXISTS orch;

-- The states of a message and which of them end its life in this service.
CREATE TABLE orch.message_states (
    status      text PRIMARY KEY CHECK (status ~ '^[A-Z_]{1,32}$'),
    terminal    boolean NOT NULL,
    description text NOT NULL
);

INSERT INTO orch.message_states (status, terminal, description) VALUES
    ('QUEUED',          false, 'durable, waiting for the pipeline'),
    ('ROUTED',          false, 'routing decision persisted; operator publish pending'),
    ('SUBMITTED',       true,  'published to smpp.operator.<operatorId> and acknowledged by JetStream'),
    ('RETRY_SCHEDULED', false, 'a transient failure; due again at next_attempt_at'),
    ('FAILED',          true,  'retries exhausted, no route, or unrecoverable'),
    ('REJECTED',        true,  'domain validation failed inside the pipeline'),
    ('EXPIRED',         true,  'valid_until passed before SUBMITTED');

-- The state machine: the only transitions the database accepts.
CREATE TABLE orch.allowed_transitions (
    from_status text NOT NULL REFERENCES orch.message_states (status),
    to_status   text NOT NULL REFERENCES orch.message_states (status),
    PRIMARY KEY (from_status, to_status),
    CHECK (from_status <> to_status)
);

INSERT INTO orch.allowed_transitions (from_status, to_status) VALUES
    ('QUEUED', 'ROUTED'), ('QUEUED', 'RETRY_SCHEDULED'), ('QUEUED', 'FAILED'),
    ('QUEUED', 'REJECTED'), ('QUEUED', 'EXPIRED'),
    ('RETRY_SCHEDULED', 'QUEUED'), ('RETRY_SCHEDULED', 'FAILED'), ('RETRY_SCHEDULED', 'EXPIRED'),
    ('ROUTED', 'SUBMITTED'), ('ROUTED', 'FAILED'), ('ROUTED', 'EXPIRED');

CREATE TABLE orch.sms_messages (
    id                uuid PRIMARY KEY,
    account_id        text NOT NULL CHECK (account_id <> '' AND length(account_id) <= 255),
    status            text NOT NULL DEFAULT 'QUEUED'
                      CHECK (status IN ('QUEUED', 'ROUTED', 'SUBMITTED', 'RETRY_SCHEDULED',
                                        'FAILED', 'REJECTED', 'EXPIRED')),
    seq               integer NOT NULL DEFAULT 1 CHECK (seq >= 1),
    to_e164           text NOT NULL CHECK (to_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    sender            text NOT NULL CHECK (sender <> '' AND length(sender) <= 16),
    body              text NOT NULL CHECK (body <> ''),
    encoding          text NOT NULL CHECK (encoding IN ('GSM7', 'UCS2')),
    segments          smallint NOT NULL CHECK (segments BETWEEN 1 AND 255),
    client_reference  text CHECK (length(client_reference) <= 64),
    callback_url      text CHECK (length(callback_url) <= 2048 AND callback_url LIKE 'https://%'),
    attempt_count     integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    next_attempt_at   timestamptz,
    operator_id       text CHECK (operator_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    route_id          text,
    valid_until       timestamptz NOT NULL,
    last_error_code   text,
    last_error_detail text,
    idempotency_key   text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_id        text,
    traceparent       text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'RETRY_SCHEDULED' OR next_attempt_at IS NOT NULL),
    CHECK (status NOT IN ('ROUTED', 'SUBMITTED') OR operator_id IS NOT NULL)
);

-- Hot paths: due retries (the scheduler), non-terminal messages by age (the
-- reconciler, the stuck view), and messages by status and age (dashboards).
CREATE INDEX sms_messages_retry_due ON orch.sms_messages (next_attempt_at)
    WHERE status = 'RETRY_SCHEDULED';
CREATE INDEX sms_messages_open_by_age ON orch.sms_messages (updated_at)
    WHERE status IN ('QUEUED', 'ROUTED', 'RETRY_SCHEDULED');
CREATE INDEX sms_messages_status_created ON orch.sms_messages (status, created_at);
CREATE INDEX sms_messages_account_created ON orch.sms_messages (account_id, created_at);

CREATE TABLE orch.sms_status_history (
    message_id      uuid NOT NULL REFERENCES orch.sms_messages (id) ON DELETE CASCADE,
    seq             integer NOT NULL CHECK (seq >= 1),
    status          text NOT NULL REFERENCES orch.message_states (status),
    previous_status text REFERENCES orch.message_states (status),
    error_code      text,
    error_detail    text,
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, seq)
);

-- The transactional outbox: every NATS publish starts as a row here,
-- written in the transaction of the change it announces.
CREATE TABLE orch.outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msg_id           uuid NOT NULL UNIQUE,
    subject          text NOT NULL CHECK (subject ~ '^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'),
    message_id       uuid,
    headers          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    first_attempt_at timestamptz,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error       text,
    published_at     timestamptz,
    CHECK (published_at IS NULL OR first_attempt_at IS NOT NULL)
);

CREATE INDEX outbox_pending ON orch.outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON orch.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_message ON orch.outbox (message_id, subject);

CREATE TABLE orch.idempotency_keys (
    account_id      text NOT NULL,
    idem_key        text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    fingerprint     text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    response_status smallint NOT NULL CHECK (response_status BETWEEN 200 AND 599),
    response_body   text NOT NULL,
    message_ids     uuid[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, idem_key),
    CHECK (expires_at > created_at)
);

CREATE INDEX idempotency_keys_expires ON orch.idempotency_keys (expires_at);

CREATE TABLE orch.destination_blocklist (
    prefix     text PRIMARY KEY CHECK (prefix ~ '^\+[0-9]{1,15}$'),
    reason     text NOT NULL CHECK (reason ~ '^[a-z0-9_]{1,64}$'),
    note       text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orch.account_policy (
    account_id      text PRIMARY KEY,
    suspended       boolean NOT NULL DEFAULT false,
    allowed_senders text[],
    note            text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
