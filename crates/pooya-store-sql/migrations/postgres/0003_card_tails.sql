-- R21: keyed hashes of the last 5 to 8 digits of each card's number, hex, comma-separated (NULL for
-- cards stored before).
ALTER TABLE cards ADD COLUMN tail_macs TEXT
