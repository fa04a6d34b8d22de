-- A queued SMS's body is sealed to the message's own id (random, this column) and its recipient.
-- Rows queued before keep NULL here until the upgrade at start reseals them
-- (crates/pooya-issuer/src/at_rest.rs). `refused_at`: the body did not open for its row, so the
-- message was refused, never sent.
ALTER TABLE sms_outbox ADD COLUMN msg_id TEXT;
ALTER TABLE sms_outbox ADD COLUMN refused_at BIGINT
