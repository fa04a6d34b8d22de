CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    mobile TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX customers_mobile ON customers (mobile);
CREATE TABLE cards (
    pan_hash TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    pan_masked TEXT NOT NULL,
    last4 TEXT NOT NULL,
    expiry TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    second_hash TEXT NOT NULL,
    second_blocked BIGINT NOT NULL,
    svc TEXT NOT NULL,
    token_id TEXT,
    enrollment_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX cards_customer ON cards (customer_id);
CREATE UNIQUE INDEX cards_token ON cards (token_id);
CREATE UNIQUE INDEX cards_enrollment ON cards (enrollment_id);
CREATE TABLE verifications (
    pan_hash TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    response_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (pan_hash, txn_id)
);
CREATE TABLE sms_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    to_mobile TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    sent_at BIGINT,
    gave_up_at BIGINT,
    last_error TEXT
);
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE sent_at IS NULL AND gave_up_at IS NULL;
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    pan_masked TEXT,
    customer_id TEXT,
    detail TEXT NOT NULL
);
