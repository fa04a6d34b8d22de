//! What the issuer needs from a database, and nothing of how. Every change is one [`Commit`]:
//! card and customer rows guarded by the version they were read at, with the verification record,
//! outbox messages and audit records they cause, all or nothing.

use async_trait::async_trait;

pub use crate::audit::AuditRecord;
use crate::audit::{AuditHead, StoredAudit};
use crate::card::{CardRecord, LiveRun};
use crate::domain::{CustomerId, Mobile, Role};
pub use pooya_staff::Operator;
use pooya_staff::{BranchCode, OperatorName};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A guarded row changed since it was read, or a unique key is already taken by a concurrent
    /// writer: read again and decide again.
    #[error("concurrent change; retry")]
    Conflict,
    /// The row to insert exists already.
    #[error("already exists")]
    Duplicate,
    /// The database does not answer.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A stored value does not parse: a bug or damage, never the caller's fault.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRecord {
    pub id: CustomerId,
    pub mobile: Mobile,
    pub created_at: i64,
    pub version: i64,
}

/// The stored answer of one verification, for idempotent retries on `txn.id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationRecord {
    pub pan_hash: String,
    pub txn_id: String,
    /// A format byte and the keyed MAC of the request's kind, amount and merchant, never the
    /// password (`crate::resend`); rows written before hold a bare MAC with the password inside.
    pub fingerprint: Vec<u8>,
    pub response_code: String,
    pub reason: String,
    pub at: i64,
    /// The merchant as the switch named it, for the console (the fingerprint holds it only inside
    /// its MAC). `None` for rows written before migration 0011.
    pub merchant: Option<String>,
}

/// One SMS to send. `expires_at`: the moment its code is useless, so late delivery can be skipped.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    pub to: Mobile,
    /// The body, sealed to `msg_id` and `to` ([`crate::at_rest::seal_sms`]).
    pub text: String,
    /// The message's own random id, named in its body's associated data; empty for a row queued
    /// before bodies were bound to their rows and not upgraded (it never opens).
    pub msg_id: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The text carries a code: never in Debug output.
        f.debug_struct("OutgoingSms")
            .field("to", &self.to)
            .field("text", &"[redacted]")
            .finish()
    }
}

/// A queued SMS with its row id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedSms {
    pub id: i64,
    pub sms: OutgoingSms,
    pub attempts: i64,
}

/// The outbox at a glance, for the operators (`GET /v1/admin/outbox`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxStatus {
    /// Messages neither sent nor given up.
    pub queued: i64,
    /// When the oldest of them was queued (unix ms).
    pub oldest_queued_at: Option<i64>,
    /// Queued messages that failed at least once.
    pub retrying: i64,
    /// Failed attempts over all messages.
    pub failed_attempts: i64,
    /// Messages given up (their code expired before they could leave).
    pub given_up: i64,
    /// Messages refused: their sealed body did not open for their id and recipient (the row was
    /// altered). Never sent.
    pub refused: i64,
    pub sent: i64,
}

/// An unsent message as the console's outbox page lists it: never its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub to: Mobile,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    /// Given up (its code expired, or the provider refused it for good): its body is wiped and
    /// it is never tried again.
    pub given_up: bool,
}

/// One enrollment run (R16) between its two messages. Every well-formed start makes one, for any
/// card number asked about: a run against a live activation, or one that can never confirm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollmentRunRecord {
    pub id: String,
    /// The keyed hash of the card number asked about (a card of the bank's or not).
    pub pan_hash: String,
    /// That number masked, for the audit of its confirmation.
    pub pan_masked: String,
    /// The per-address try count the run was counted against.
    pub tries_key: String,
    pub kind: RunKind,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// Against the card's live activation: confirms with the right codes.
    Live(LiveRun),
    /// Asked about a card with no activation waiting (or no card at all): never confirms.
    Decoy,
}

/// A per-address count of enrollment tries (`policy.activation.max_tries`) and when its window
/// ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TriesWindow {
    pub used: u32,
    pub ends_at: i64,
}

/// What [`Store::take_enrollment_try`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryTaken {
    /// Counted: the window as it is now.
    Counted(TriesWindow),
    /// The window's tries are used up: nothing changed.
    UsedUp(TriesWindow),
}

/// An operator written by a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorWrite {
    /// A new operator: [`StoreError::Duplicate`] when the name is taken.
    New(Operator),
    /// An operator rewritten, guarded by its `version` as read.
    Changed(Operator),
}

/// Four eyes on a mobile change: where a teller's request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MobileChangeState {
    /// Waiting for a supervisor other than the requester; nothing changed yet.
    Pending,
    /// Approved: the new mobile is in force, the old one's tokens revoked (R12).
    Approved {
        by: OperatorName,
        at: i64,
    },
    Refused {
        by: OperatorName,
        at: i64,
    },
}

/// A teller's request to change a customer's registered mobile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MobileChangeRecord {
    /// Random, for the console's links.
    pub id: String,
    pub customer_id: CustomerId,
    pub mobile: Mobile,
    pub requested_by: OperatorName,
    pub branch: Option<BranchCode>,
    pub requested_at: i64,
    pub state: MobileChangeState,
}

/// A change request written by a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MobileChangeWrite {
    New(MobileChangeRecord),
    /// Decided: written only if it is still pending (else [`StoreError::Conflict`]: another
    /// supervisor decided first).
    Decided(MobileChangeRecord),
}

/// A console session: only the hash of its cookie's value is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub operator: OperatorName,
    /// The token every form of the session carries (CSRF).
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
}

impl std::fmt::Debug for SessionRecord {
    /// The CSRF token is a secret of the session: never in Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("operator", &self.operator)
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}

/// Everything one decision changes.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// When the decision was taken (unix ms, the issuer's clock): the time the store stamps on
    /// the rows it changes (a card's `updated_at`).
    pub at: i64,
    pub new_customers: Vec<CustomerRecord>,
    /// Customers rewritten, guarded by `version` as read.
    pub customers: Vec<CustomerRecord>,
    /// Customers read and relied on but not changed: the commit fails if they changed meanwhile.
    pub customer_guards: Vec<(CustomerId, i64)>,
    pub new_cards: Vec<CardRecord>,
    /// Cards rewritten, guarded by `version` as read.
    pub cards: Vec<CardRecord>,
    pub verifications: Vec<VerificationRecord>,
    pub outbox: Vec<OutgoingSms>,
    pub audit: Vec<AuditRecord>,
    /// Enrollment runs begun.
    pub new_enrollment_runs: Vec<EnrollmentRunRecord>,
    /// Enrollment runs answered: each must still be stored, else the commit is a `Conflict` (one
    /// answer per run, whichever server gives it).
    pub closed_enrollment_runs: Vec<String>,
    /// Per-address try counts to forget (their holder proved the codes).
    pub cleared_enrollment_tries: Vec<String>,
    /// Operators added or changed (sign-in failures and locks, disabled).
    pub operators: Vec<OperatorWrite>,
    /// Four eyes: mobile changes asked for or decided.
    pub mobile_changes: Vec<MobileChangeWrite>,
    /// The key that chains `audit` (see [`crate::audit`]); the issuer gives it with every commit.
    /// A commit with audit records and no key is refused: no record is ever written unchained.
    pub audit_key: Option<std::sync::Arc<crate::keys::Keyring>>,
}

impl Commit {
    /// The audit lane of the commit's records ([`crate::audit`]): that of its first card, else of
    /// its first customer (rewritten, new or guarded), else of what its first record names.
    pub fn audit_lane(&self) -> i64 {
        let subject = self
            .cards
            .first()
            .or(self.new_cards.first())
            .map(|card| card.pan_hash.as_str())
            .or_else(|| self.customers.first().map(|u| u.id.as_str()))
            .or_else(|| self.new_customers.first().map(|u| u.id.as_str()))
            .or_else(|| self.customer_guards.first().map(|(id, _)| id.as_str()))
            .or_else(|| {
                self.audit
                    .first()
                    .and_then(|a| a.customer_id.as_deref().or(a.pan_masked.as_deref()))
            })
            .unwrap_or_default();
        crate::audit::lane_of_subject(subject)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_hash: String,
    pub role: Role,
    pub label: String,
    pub created_at: i64,
}

/// A data key wrapped under a key encryption key (KEK) that is not in the database.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    pub generation: i64,
    /// Which KEK wraps it: a fingerprint or a name, never the key.
    pub kek_id: String,
    pub wrapped: Vec<u8>,
    pub created_at: i64,
    pub wrapped_at: i64,
}

impl std::fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("generation", &self.generation)
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// What the start-time upgrade of values at rest found or did ([`Store::upgrade_at_rest`],
/// `crate::at_rest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtRestUpgrade {
    /// Nothing to upgrade: the database is new or upgraded already. `plain_cards` cards hold a
    /// plain (unsealed) PIN or second-password hash beside the sealed ones: written by an older
    /// server after the upgrade, or planted; they are refused.
    Current { plain_cards: i64 },
    /// A database written before: every card's hashes sealed and MACs bound, every queued SMS
    /// resealed to its row or, when its body did not open, refused.
    Upgraded {
        cards: i64,
        sms_resealed: i64,
        sms_refused: i64,
    },
}

/// What pooya asks of a database, and nothing more: the issuer's reads and [`Commit`]s, the
/// outbox its delivery worker drains (through [`crate::outbox::Outbox`]), the API keys and data
/// keys the server loads, and the audit trail `pooya audit` walks. Reads that only tests need are
/// the implementation's own.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ------------------------------------------------------------ the issuer's reads and commits
    async fn customer(&self, id: &CustomerId) -> Result<Option<CustomerRecord>, StoreError>;
    async fn card(&self, pan_hash: &str) -> Result<Option<CardRecord>, StoreError>;
    async fn cards_of_customer(&self, id: &CustomerId) -> Result<Vec<CardRecord>, StoreError>;
    /// Cards whose customer's registered mobile is `mobile`.
    async fn cards_by_mobile(&self, mobile: &Mobile) -> Result<Vec<CardRecord>, StoreError>;
    /// A stored enrollment run, expired or not.
    async fn enrollment_run(&self, id: &str) -> Result<Option<EnrollmentRunRecord>, StoreError>;
    /// Counts one enrollment try against `key` unless `max` were counted in its window already.
    /// A window opens with a key's first try and ends at `window_end` (given for a new window);
    /// an ended window counts as none. Several servers on one database count together. Also
    /// forgets a few ended windows and runs out of date, so neither table grows without bound.
    async fn take_enrollment_try(
        &self,
        key: &str,
        max: u32,
        window_end: i64,
        now: i64,
    ) -> Result<TryTaken, StoreError>;
    /// The tries counted against `key` in its window at `now` (none when it has ended).
    async fn enrollment_tries(&self, key: &str, now: i64) -> Result<u32, StoreError>;
    async fn card_by_token(&self, token_id: &str) -> Result<Option<CardRecord>, StoreError>;
    async fn verification(
        &self,
        pan_hash: &str,
        txn_id: &str,
    ) -> Result<Option<VerificationRecord>, StoreError>;
    /// The card and this transaction's stored verification, if any, read together: what a
    /// verification needs, in one round trip where the store can (one snapshot, too).
    async fn card_for_verification(
        &self,
        pan_hash: &str,
        txn_id: &str,
    ) -> Result<(Option<CardRecord>, Option<VerificationRecord>), StoreError> {
        let v = self.verification(pan_hash, txn_id).await?;
        Ok((self.card(pan_hash).await?, v))
    }
    /// Applies everything or nothing. `Conflict` when a guarded row changed.
    async fn commit(&self, commit: Commit) -> Result<(), StoreError>;

    /// Verifications of a card, newest first (the console's card page).
    async fn recent_verifications(
        &self,
        pan_hash: &str,
        limit: i64,
    ) -> Result<Vec<VerificationRecord>, StoreError>;
    /// The customer with this registered mobile, if any.
    async fn customer_by_mobile(
        &self,
        mobile: &Mobile,
    ) -> Result<Option<CustomerRecord>, StoreError>;
    /// Audit records about a customer (those naming `pan_masked`, or no card at all, when it is
    /// given), newest first.
    async fn audit_of_customer(
        &self,
        id: &CustomerId,
        pan_masked: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredAudit>, StoreError>;

    // ------------------------------------------------------------ the bank's staff
    async fn operator(&self, name: &OperatorName) -> Result<Option<Operator>, StoreError>;
    /// Every operator, by name.
    async fn operators(&self) -> Result<Vec<Operator>, StoreError>;
    async fn mobile_change(&self, id: &str) -> Result<Option<MobileChangeRecord>, StoreError>;
    /// Mobile changes waiting for a supervisor, oldest first.
    async fn pending_mobile_changes(&self) -> Result<Vec<MobileChangeRecord>, StoreError>;
    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError>;
    async fn touch_session(&self, id_hash: &str, at: i64) -> Result<(), StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Ends every session of an operator (disabled), and sessions idle since before
    /// `idle_before` or begun before `begun_before`, of anyone.
    async fn delete_sessions(
        &self,
        operator: Option<&OperatorName>,
        idle_before: i64,
        begun_before: i64,
    ) -> Result<(), StoreError>;

    // ------------------------------------------------------------ API keys (the server's)
    /// A live (not revoked) key.
    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn insert_api_keys(&self, keys: &[ApiKeyRecord]) -> Result<(), StoreError>;
    async fn count_api_keys(&self) -> Result<i64, StoreError>;
    /// Every key, with when it was revoked (if it was), oldest first.
    async fn api_keys(&self) -> Result<Vec<(ApiKeyRecord, Option<i64>)>, StoreError>;
    /// Revokes a key: [`Store::api_key`] no longer finds it. `false` when no live key has the hash.
    async fn revoke_api_key(&self, key_hash: &str, at: i64) -> Result<bool, StoreError>;

    // ------------------------------------------------------------ the outbox
    /// Leases up to `limit` due, unleased messages to the caller until `now + lease_ms`, oldest
    /// first: of several servers' workers, each message goes to one at a time. A message whose
    /// lease runs out unsent (its worker died) is due again.
    async fn outbox_claim(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<QueuedSms>, StoreError>;
    async fn outbox_sent(&self, id: i64, at: i64) -> Result<(), StoreError>;
    async fn outbox_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError>;
    /// Gives up on a message (its code expired before it could leave), recording why.
    async fn outbox_give_up(&self, id: i64, why: &str, at: i64) -> Result<(), StoreError>;
    /// Refuses a message whose body does not open for its id and recipient: never sent nor tried
    /// again; its row (sealed body included) stays for the operators.
    async fn outbox_refuse(&self, id: i64, at: i64) -> Result<(), StoreError>;

    /// Counts of the outbox's messages by state.
    async fn outbox_status(&self) -> Result<OutboxStatus, StoreError>;
    /// Unsent, unrefused messages, oldest first: queued, retrying and given up.
    async fn outbox_unsent(&self, limit: i64) -> Result<Vec<OutboxEntry>, StoreError>;
    /// An operator's retry: a queued message (neither sent nor given up) whose code has not
    /// expired at `now` is due at once, its backoff cut short. A given-up message cannot be: its
    /// body (which carries the code) was wiped. `false` when there is no such message.
    async fn outbox_retry_now(&self, id: i64, now: i64) -> Result<bool, StoreError>;

    // ------------------------------------------------------------ the audit trail (`pooya audit`)
    /// Up to `limit` audit records with ids above `after_id`, in id order, with their links.
    async fn audit_page(&self, after_id: i64, limit: i64) -> Result<Vec<StoredAudit>, StoreError>;
    /// The head of every audit lane (`audit_chains`).
    async fn audit_heads(&self) -> Result<Vec<AuditHead>, StoreError>;

    // ------------------------------------------------------------ keys (pooya-keys) and upkeep
    /// Records `value` (a check value of the master key, not the key) on first use and answers
    /// whether it equals the recorded one: every server on one database must hold the same key.
    async fn master_key_check(&self, value: &str) -> Result<bool, StoreError>;
    /// The recorded master key check value, if any (read only).
    async fn master_check_value(&self) -> Result<Option<String>, StoreError>;

    /// Every wrapped data key, oldest generation first.
    async fn data_keys(&self) -> Result<Vec<WrappedDataKey>, StoreError>;
    /// Adds a data key; `false` (nothing written) when its generation exists already (another
    /// server starting at the same moment wrote it first).
    async fn add_data_key(&self, key: &WrappedDataKey) -> Result<bool, StoreError>;
    /// Replaces the wrapping of every given generation, all or nothing, each guarded by the KEK it
    /// was wrapped under (`from_kek_id`): `Conflict` if any row is not under it any more.
    async fn rewrap_data_keys(
        &self,
        from_kek_id: &str,
        keys: &[WrappedDataKey],
    ) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;

    /// At start: seals and binds the values of a database written before they were bound to their
    /// rows, all in one transaction; on any other database changes nothing
    /// ([`crate::at_rest`]).
    async fn upgrade_at_rest(
        &self,
        keys: &crate::keys::Keyring,
        now: i64,
    ) -> Result<AtRestUpgrade, StoreError>;
}
