//! The statements every executor shares: the hot read and what [`Commit`](pooya_issuer::store::Commit)s
//! write. `$n` placeholders only, in both dialects; SQLite binds them by name as PostgreSQL does by
//! number, so a text may use them in any order.

macro_rules! card_columns {
    () => {
        "c.pan_hash, c.customer_id, c.pan_masked, c.last4, c.tail_macs, c.expiry, c.pin_hash, \
         c.second_hash, c.second_blocked, c.svc, c.created_at, c.version"
    };
}
pub(crate) use card_columns;

/// The columns a card is decoded from ([`crate::decode::CardColumns`]), in that order.
pub(crate) const CARD_COLUMNS: &str = card_columns!();

/// The columns a verification is decoded from ([`crate::decode::verification`]), of
/// `verifications v`, in that order (SQLite's direct reader reads them by place).
macro_rules! verification_columns {
    () => {
        "v.fingerprint AS v_fingerprint, v.response_code AS v_response_code, \
         v.reason AS v_reason, v.at AS v_at, v.merchant AS v_merchant"
    };
}
pub(crate) use verification_columns;

/// A card and one transaction's stored verification, read together: a verification's one read
/// (SQLite's; PostgreSQL asks many of them in one statement, `group_read`).
pub(crate) const CARD_FOR_VERIFICATION: &str = concat!(
    "SELECT ",
    card_columns!(),
    ", ",
    verification_columns!(),
    " FROM cards c LEFT JOIN verifications v ON v.pan_hash = c.pan_hash AND v.txn_id = $2 \
     WHERE c.pan_hash = $1"
);

pub(crate) const INSERT_CUSTOMER: &str = "INSERT INTO customers (customer_id, mobile, \
     created_at, version) VALUES ($1, $2, $3, 0)";
pub(crate) const UPDATE_CUSTOMER: &str = "UPDATE customers SET mobile = $1, \
     version = version + 1 WHERE customer_id = $2 AND version = $3";
pub(crate) const GUARD_CUSTOMER: &str =
    "UPDATE customers SET version = version WHERE customer_id = $1 AND version = $2";
pub(crate) const INSERT_CARD: &str = "INSERT INTO cards (pan_hash, customer_id, pan_masked, \
     last4, expiry, pin_hash, second_hash, second_blocked, svc, token_id, enrollment_id, \
     created_at, updated_at, tail_macs, version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0)";
/// A card rewritten, guarded by the version its decision read. Its values, in this order, are
/// also the rows of PostgreSQL's set-based update (`set_based`).
pub(crate) const UPDATE_CARD: &str = "UPDATE cards SET second_blocked = $1, svc = $2, \
     token_id = $3, enrollment_id = $4, updated_at = $5, version = version + 1 \
     WHERE pan_hash = $6 AND version = $7";
/// SQLite: [`UPDATE_CARD`] for a card whose token and enrollment run are the ones stored; it
/// matches no row when they changed (or the version did), and [`UPDATE_CARD`] follows. SQLite
/// rewrites the entries of every index on a column the `SET` names, changed or not; leaving
/// `token_id` and `enrollment_id` out spares a verification two index pages of its commit.
/// PostgreSQL compares the values itself (and has no `IS $n`).
pub(crate) const UPDATE_CARD_STATE: &str = "UPDATE cards SET second_blocked = $1, svc = $2, \
     updated_at = $5, version = version + 1 \
     WHERE pan_hash = $6 AND version = $7 AND token_id IS $3 AND enrollment_id IS $4";
pub(crate) const INSERT_VERIFICATION: &str = "INSERT INTO verifications (pan_hash, txn_id, \
     fingerprint, response_code, reason, at, merchant) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const INSERT_SMS: &str = "INSERT INTO sms_outbox (to_mobile, body, created_at, \
     expires_at, next_attempt_at, attempts, msg_id) VALUES ($1, $2, $3, $4, $5, 0, $6)";
pub(crate) const INSERT_RUN: &str = "INSERT INTO enrollment_runs (run_id, pan_hash, pan_masked, \
     tries_key, activation_id, pending, lifetime_secs, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const DELETE_RUN: &str = "DELETE FROM enrollment_runs WHERE run_id = $1";
pub(crate) const DELETE_TRIES: &str = "DELETE FROM enrollment_tries WHERE tries_key = $1";
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit (at, event, pan_masked, customer_id, \
     detail, lane, seq, mac, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const INSERT_OPERATOR: &str = "INSERT INTO operators (name, role, branch, \
     password_hash, totp_sealed, last_totp_step, standing, failures, locked_until, created_at, \
     version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)";
/// An operator rewritten, guarded by its version as read.
pub(crate) const UPDATE_OPERATOR: &str = "UPDATE operators SET role = $2, branch = $3, \
     password_hash = $4, totp_sealed = $5, last_totp_step = $6, standing = $7, failures = $8, \
     locked_until = $9, version = version + 1 WHERE name = $1 AND version = $10";
pub(crate) const INSERT_MOBILE_CHANGE: &str = "INSERT INTO mobile_changes (id, customer_id, \
     mobile, requested_by, branch, requested_at, state, decided_by, decided_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// A change decided, only while it is pending: one decision per request.
pub(crate) const DECIDE_MOBILE_CHANGE: &str = "UPDATE mobile_changes SET state = $2, \
     decided_by = $3, decided_at = $4 WHERE id = $1 AND state = 'pending'";
/// A lane's head moved, guarded by the head it was read at (`$4`, its `seq`).
pub(crate) const UPDATE_AUDIT_HEAD: &str =
    "UPDATE audit_chains SET seq = $1, mac = $2 WHERE lane = $3 AND seq = $4";

/// Refuses a queued SMS ([`pooya_issuer::at_rest::SMS_REFUSED`]); `$1` and `$2` are the same
/// time.
pub(crate) const REFUSE_SMS: &str = "UPDATE sms_outbox SET gave_up_at = $1, refused_at = $2, \
     last_error = $3, claimed_until = NULL WHERE id = $4 AND sent_at IS NULL";
