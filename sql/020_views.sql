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
