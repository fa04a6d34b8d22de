-- The bank's staff (issue 16): one account per person, four eyes on a mobile change, console
-- sessions, and the audit trail naming who made each change.
CREATE TABLE operators (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    branch TEXT,
    password_hash TEXT NOT NULL,
    -- The TOTP secret, sealed by the server's keys to the operator's name.
    totp_sealed BYTEA NOT NULL,
    last_totp_step BIGINT,
    -- active | locked | disabled
    standing TEXT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
-- A teller's change of a customer's mobile, pending until a supervisor other than the requester
-- decides it: pending | approved | refused.
CREATE TABLE mobile_changes (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    mobile TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    branch TEXT,
    requested_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT
);
CREATE INDEX mobile_changes_pending ON mobile_changes (requested_at) WHERE state = 'pending';
-- Console sessions: the hash of the cookie's value, never the value.
CREATE TABLE operator_sessions (
    id_hash TEXT PRIMARY KEY,
    operator TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator);
-- Who made a change (operator:NAME@BRANCH, key:LABEL, command), NULL for the holder's own acts
-- (statements here are split on semicolons: none in comments).
ALTER TABLE audit ADD COLUMN actor TEXT;
-- A customer's (and a card's) timeline on the console.
CREATE INDEX audit_customer ON audit (customer_id, id);
-- The card page's recent verifications.
CREATE INDEX verifications_card_at ON verifications (pan_hash, at);
-- A channel key revoked (by an admin in the console): it opens nothing any more.
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
