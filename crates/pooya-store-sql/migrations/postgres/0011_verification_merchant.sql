-- The merchant of each verification as the switch named it (issue 16: the console's card page),
-- readable, where the fingerprint holds it only inside a keyed MAC. Rows written before: NULL.
ALTER TABLE verifications ADD COLUMN merchant TEXT
