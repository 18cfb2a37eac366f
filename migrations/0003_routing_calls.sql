-- 0003: every SelectRoute call for a message carries an attempt number no
-- earlier call for it carried (routing.md, issue 13). attempt_count counts
-- the attempts charged to the retry budget; a call made while the circuit
-- breaker opened, or one whose batch was redelivered before it was applied,
-- is not charged but still uses up its number. routing_calls is that
-- number: orch.pipeline_prepare takes the next one for each message it
-- hands to routing, so two workers (or a redelivery) never reuse one.
ALTER TABLE orch.sms_messages
    ADD COLUMN routing_calls integer NOT NULL DEFAULT 0 CHECK (routing_calls >= 0);
