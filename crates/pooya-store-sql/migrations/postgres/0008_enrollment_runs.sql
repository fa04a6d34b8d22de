-- App enrollment (R16). Tries are counted per card number and client address, for every number
-- asked about, real or not: `tries_key` is a keyed hash of the two, never either. A window opens
-- with a key's first try and ends at `expires_at`.
CREATE TABLE enrollment_tries (
    tries_key TEXT PRIMARY KEY,
    used BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX enrollment_tries_expiry ON enrollment_tries (expires_at);
-- Enrollment runs between their two messages, one row each, so that no run replaces another. A
-- run against a live activation holds its activation, its sealed SPAKE2 state and the lifetime
-- asked for. A decoy run (no activation waiting, or no such card) holds none and never confirms.
-- The cards' column `enrollment_id` is no longer written.
CREATE TABLE enrollment_runs (
    run_id TEXT PRIMARY KEY,
    pan_hash TEXT NOT NULL,
    pan_masked TEXT NOT NULL,
    tries_key TEXT NOT NULL,
    activation_id TEXT,
    pending BYTEA,
    lifetime_secs BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX enrollment_runs_expiry ON enrollment_runs (expires_at)
