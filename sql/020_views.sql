-- Views that answer a DBA's daily questions. Re-created by every migrate.

-- What is waiting in the outbox, per subject, and how long the oldest row
-- has waited. A growing age means the relay is not publishing (NATS down?).
CREATE OR REPLACE VIEW orch.v_outbox_backlog AS
SELECT subject,
       count(*)                                   AS pending,
       min(created_at)                            AS oldest_created_at,
       now() - min(created_at)                    AS oldest_age,
       max(attempts)                              AS max_attempts,
       count(*) FILTER (WHERE last_error IS NOT NULL) AS with_errors
FROM orch.outbox
WHERE published_at IS NULL
GROUP BY subject;

-- How many messages are in each state, and the oldest of them.
CREATE OR REPLACE VIEW orch.v_messages_by_status AS
SELECT s.status,
       s.terminal,
       count(m.id)         AS messages,
       min(m.created_at)   AS oldest_created_at,
       max(m.updated_at)   AS last_updated_at
FROM orch.message_states s
LEFT JOIN orch.sms_messages m ON m.status = s.status
GROUP BY s.status, s.terminal;

-- Messages in a non-terminal state for longer than p_older_than: QUEUED and
-- ROUTED by their last change, RETRY_SCHEDULED by how overdue they are.
CREATE OR REPLACE FUNCTION orch.stuck_messages(p_older_than interval DEFAULT interval '60 seconds')
RETURNS TABLE (id uuid, account_id text, status text, seq integer, attempt_count integer,
               updated_at timestamptz, next_attempt_at timestamptz, stuck_for interval)
LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT m.id, m.account_id, m.status, m.seq, m.attempt_count, m.updated_at, m.next_attempt_at,
           now() - CASE WHEN m.status = 'RETRY_SCHEDULED' THEN m.next_attempt_at ELSE m.updated_at END
    FROM sms_messages m
    WHERE (m.status IN ('QUEUED', 'ROUTED') AND m.updated_at < now() - p_older_than)
       OR (m.status = 'RETRY_SCHEDULED' AND m.next_attempt_at < now() - p_older_than)
    ORDER BY 8 DESC
$$;

-- The same with the threshold of the session setting orch.stuck_after
-- (SET orch.stuck_after = '5 min'), 60 seconds when unset.
CREATE OR REPLACE VIEW orch.v_stuck_messages AS
SELECT * FROM orch.stuck_messages(
    coalesce(nullif(current_setting('orch.stuck_after', true), ''), '60 seconds')::interval);

-- The pending outbox, estimated from its two ends (two index probes, no
-- count): rows between the oldest and the newest unpublished id, and the
-- age of the oldest. An upper bound when rows in between are published;
-- cheap enough to run every second for load shedding and metrics.
CREATE OR REPLACE FUNCTION orch.outbox_backlog_estimate(OUT pending bigint, OUT oldest_age_seconds double precision)
LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT max(id) FROM outbox WHERE published_at IS NULL) - o.id + 1, 0),
           coalesce(extract(epoch FROM now() - o.created_at)::double precision, 0)
    FROM (SELECT NULL) AS one
    LEFT JOIN LATERAL (SELECT id, created_at FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1) o ON true
$$;

-- What GET /v1/sms/{messageId} answers: the message and its history as
-- JSON text, or NULL when the id is unknown or belongs to another account.
CREATE OR REPLACE FUNCTION orch.message_json(p_id uuid, p_account_id text)
RETURNS text LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT json_build_object(
        'messageId', m.id, 'status', m.status, 'to', m.to_e164, 'from', m.sender,
        'encoding', m.encoding, 'segments', m.segments, 'clientReference', m.client_reference,
        'attempts', m.attempt_count, 'operatorId', m.operator_id, 'routeId', m.route_id,
        'validUntil', iso_time(m.valid_until), 'createdAt', iso_time(m.created_at),
        'updatedAt', iso_time(m.updated_at),
        'error', CASE WHEN m.last_error_code IS NOT NULL
                      THEN json_build_object('code', m.last_error_code, 'detail', m.last_error_detail) END,
        'history', (SELECT json_agg(json_build_object('status', h.status, 'at', iso_time(h.at)) ORDER BY h.seq)
                    FROM sms_status_history h WHERE h.message_id = m.id))::text
    FROM sms_messages m
    WHERE m.id = p_id AND m.account_id = p_account_id
$$;
