ALTER TABLE sms_outbox ADD COLUMN claimed_until BIGINT
