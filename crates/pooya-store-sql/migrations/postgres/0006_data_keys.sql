-- The data keys (the secret every sealing, PAN-hash and code-MAC key is derived from), each wrapped
-- under the key encryption key (KEK), which is never stored here: a key file or an HSM's key.
-- `kek_id` names the KEK a row is wrapped under (a fingerprint, never the key), and `wrapped` is hex.
-- `pooya keys rotate` rewrites `kek_id` and `wrapped` of every row at once: the data keys, and so
-- every sealed value and keyed hash in the other tables, stay as they are.
CREATE TABLE data_keys (
    generation BIGINT PRIMARY KEY,
    kek_id TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    wrapped_at BIGINT NOT NULL
)
