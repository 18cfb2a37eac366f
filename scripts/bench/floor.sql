-- scripts/bench.sh, phase 0 (the floor): the minimal durable accept schema of
-- ../shared/peers/pg_limit.sh, same columns and indexes, in its own database
-- (bench_floor) on the run stack's PostgreSQL server: a message row and an
-- outbox row per accepted message, nothing else (no idempotency row, no
-- history, no second outbox row, no state machine).

-- UUIDv7-like, time-ordered id (first 48 bits = unix ms; version nibble 7), like the service's ids
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
           FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

CREATE TABLE messages (
    id              uuid        PRIMARY KEY,
    account         text        NOT NULL,
    idempotency_key text,
    to_e164         text        NOT NULL,
    sender          text        NOT NULL,
    body            text        NOT NULL,
    segments        int         NOT NULL,
    status          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX messages_account_idempotency_key ON messages (account, idempotency_key);

CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    message_id   uuid        NOT NULL,
    subject      text        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
