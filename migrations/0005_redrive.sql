-- 0005: redrive (domain.md, "Redrive"): a FAILED message may be sent again,
-- FAILED -> QUEUED, but only by orch.redrive() (sql/075_redrive.sql), which
-- refuses every message that may have reached an operator, one past its
-- valid_until, and one that failed for a reason of its own.
--
-- allowed_transitions gains only_via: a transition with a value there is
-- refused, by orch.transition_many() and by the trigger on sms_messages (so
-- also for a hand-written UPDATE), unless the setting orch.transition_via
-- holds that value, which orch.redrive() sets for itself (a SET clause of
-- the function, so it ends with the call). It keeps a plain
-- orch.transition(id, 'FAILED', 'QUEUED') from happening by mistake; it is
-- not a permission (roles are: sql/090_roles.sql).
--
-- Both steps are catalog changes or a one-row insert: cheap on a big table.

ALTER TABLE orch.allowed_transitions ADD COLUMN only_via text
    CHECK (only_via ~ '^[a-z_]+\.[a-z_]+$');

INSERT INTO orch.allowed_transitions (from_status, to_status, only_via) VALUES ('FAILED', 'QUEUED', 'orch.redrive');
