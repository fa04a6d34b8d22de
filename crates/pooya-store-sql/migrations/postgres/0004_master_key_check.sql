CREATE TABLE master_key_check (
    id BIGINT PRIMARY KEY,
    check_value TEXT NOT NULL
)
