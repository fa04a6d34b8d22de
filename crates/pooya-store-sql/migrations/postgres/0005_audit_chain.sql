-- The audit trail becomes a keyed hash chain spread over 16 lanes (crates/pooya-issuer/src/audit.rs).
-- Records written before this migration keep NULL links and are reported as not covered.
ALTER TABLE audit ADD COLUMN lane BIGINT;
ALTER TABLE audit ADD COLUMN seq BIGINT;
ALTER TABLE audit ADD COLUMN mac TEXT;
CREATE UNIQUE INDEX audit_lane_seq ON audit (lane, seq);
CREATE TABLE audit_chains (
    lane BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    mac TEXT NOT NULL
);
INSERT INTO audit_chains (lane, seq, mac) VALUES
    (0, 0, ''), (1, 0, ''), (2, 0, ''), (3, 0, ''), (4, 0, ''), (5, 0, ''), (6, 0, ''), (7, 0, ''),
    (8, 0, ''), (9, 0, ''), (10, 0, ''), (11, 0, ''), (12, 0, ''), (13, 0, ''), (14, 0, ''), (15, 0, '')
