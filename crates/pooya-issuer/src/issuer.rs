//! The issuer: each operation of the bank's channels as one function over domain types. Each reads
//! what it needs from the [`Store`], lets the card decide (see [`crate::card`]), and commits the
//! decision with everything it causes — audit record, SMS, verification record — as one
//! transaction guarded by the versions it read. A concurrent change makes the commit fail and the
//! operation decide again on fresh data; nothing is ever half done.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::card::{
    AppRefusal, AtmRefusal, CardRecord, Mode, ServiceState, TxnCodeIssue, TxnRefusal, Verdict,
    PAN_TAIL_MAX, PAN_TAIL_MIN,
};
use crate::clock::Clock;
use crate::domain::*;
use crate::keys::{Keyring, StaticSecret};
use crate::messages;
use crate::policy::Policy;
use crate::store::*;

mod enrollment;
pub use enrollment::EnrollmentParameters;

/// Every way an operation can be refused. The HTTP edge maps each to one status and error code.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error("no such card")]
    UnknownCard,
    #[error("no such customer")]
    UnknownCustomer,
    #[error("it exists already")]
    AlreadyExists,
    #[error("the card has expired")]
    ExpiredCard,
    #[error("the PIN is wrong")]
    WrongPin,
    #[error("too many wrong PINs; try again later")]
    PinTriesExceeded,
    #[error(
        "the card's PIN is locked after too many wrong entries; the holder must visit a branch"
    )]
    PinLocked,
    #[error("the mobile number is not the one registered for this card")]
    MobileMismatch,
    #[error(
        "this transaction id was already used with another kind, amount or merchant (or answered \
         before an upgrade); a new transaction needs a new id"
    )]
    TxnConflict,
    #[error("the token lifetime is outside the bank's bounds")]
    InvalidLifetime,
    #[error("the enrollment message is malformed")]
    MalformedMessage,
    #[error(
        "no app activation is waiting for this card, or the receipt code or the SMS code is wrong"
    )]
    WrongActivationCodes { tries_left: u32 },
    #[error(
        "no enrollment tries are left for this card number from this address; they come back in \
         {retry_after_secs} s"
    )]
    EnrollmentTriesUsedUp { retry_after_secs: u64 },
    #[error("no such enrollment (it may have expired)")]
    UnknownEnrollment,
    #[error("no such token")]
    UnknownToken,
    #[error("the removal challenge has expired")]
    ChallengeExpired,
    #[error("the proof of possession is wrong")]
    BadProof,
    #[error("this is not the bank's short number")]
    UnknownShortNumber,
    #[error("the holder has blocked the card's second password; only a branch unblocks it")]
    SecondPasswordBlocked,
    #[error(
        "the card's dynamic password service is locked; the holder must activate again at an ATM"
    )]
    Locked,
    #[error("this transaction was already verified; a new password needs a new transaction id")]
    TxnAlreadyVerified,
    #[error("the merchant name is too long for an SMS (at most {max} characters)")]
    MerchantTooLong { max: u32 },
    #[error("the merchant name holds a text-direction control character")]
    MerchantUnsafe,
    /// A PSKC file (or its assignment to cards) that cannot be imported; nothing was imported.
    #[error("{0}")]
    InvalidPskc(String),
    #[error("the store is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for IssuerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => IssuerError::Unavailable(m),
            StoreError::Duplicate => IssuerError::AlreadyExists,
            StoreError::Conflict => IssuerError::Unavailable("too much contention".into()),
            StoreError::Corrupt(m) => IssuerError::Internal(m),
        }
    }
}

impl From<AtmRefusal> for IssuerError {
    fn from(r: AtmRefusal) -> Self {
        match r {
            AtmRefusal::ExpiredCard => IssuerError::ExpiredCard,
            AtmRefusal::PinLocked => IssuerError::PinLocked,
            AtmRefusal::PinTriesExceeded => IssuerError::PinTriesExceeded,
            AtmRefusal::WrongPin => IssuerError::WrongPin,
            AtmRefusal::MobileMismatch => IssuerError::MobileMismatch,
        }
    }
}

impl From<TxnRefusal> for IssuerError {
    fn from(r: TxnRefusal) -> Self {
        match r {
            TxnRefusal::SecondPasswordBlocked => IssuerError::SecondPasswordBlocked,
            TxnRefusal::Locked => IssuerError::Locked,
            TxnRefusal::ExpiredCard => IssuerError::ExpiredCard,
            TxnRefusal::TxnConflict => IssuerError::TxnConflict,
            TxnRefusal::AlreadyVerified => IssuerError::TxnAlreadyVerified,
        }
    }
}

/// The refusals of token removal. Enrollment's never reach the caller as they are: to one who has
/// not proven the codes every one looks alike (see [`enrollment`]).
impl From<AppRefusal> for IssuerError {
    fn from(r: AppRefusal) -> Self {
        match r {
            AppRefusal::UnknownToken => IssuerError::UnknownToken,
            AppRefusal::ChallengeExpired => IssuerError::ChallengeExpired,
            AppRefusal::BadProof => IssuerError::BadProof,
            AppRefusal::InvalidLifetime => IssuerError::InvalidLifetime,
            AppRefusal::MalformedMessage => IssuerError::MalformedMessage,
            AppRefusal::NoPendingActivation
            | AppRefusal::ActivationExpired
            | AppRefusal::ActivationExhausted
            | AppRefusal::WrongActivationCodes => IssuerError::Internal(format!(
                "an enrollment refusal ({r:?}) must be answered as the enrollment answers it"
            )),
        }
    }
}

/// A card as the branch sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardView {
    pub pan_masked: String,
    pub customer_id: String,
    pub mode: Mode,
    pub state: ServiceState,
    pub second_blocked: bool,
    pub recent_failures: usize,
    /// The PIN lock (`card::pin_lock`): only a branch lifts it.
    pub pin_locked: bool,
}

/// The outcome of a verification (API.md, `/v1/verify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub approved: bool,
    pub response_code: &'static str,
    pub reason: &'static str,
}

impl From<Verdict> for VerifyOutcome {
    fn from(v: Verdict) -> Self {
        VerifyOutcome {
            approved: v.approved(),
            response_code: v.response_code(),
            reason: v.reason(),
        }
    }
}

pub struct AppActivationIssued {
    pub receipt_code: Zeroizing<String>,
    pub expires_at: i64,
}

pub struct SmsActivationIssued {
    pub fixed_part: Zeroizing<String>,
    pub receipt_text: Zeroizing<String>,
}

/// What an enrollment start answers: alike for every card number asked about.
pub struct EnrollmentStarted {
    pub enrollment_id: String,
    pub msg: Vec<u8>,
    pub confirm: Vec<u8>,
    /// Runs this address may still start for this card number.
    pub tries_left: u32,
}

/// What the app learns about its new token, and the MAC of it under the run's key.
pub struct TokenIssued {
    pub token: pooya_enroll::IssuedToken,
    pub mac: Vec<u8>,
}

/// What an otp-request did (R24).
pub struct OtpRequested {
    /// When the transaction's code dies.
    pub expires_at: i64,
    /// Whether this request queued an SMS (false: the same request came again within the
    /// interval, and the code already sent stands).
    pub queued: bool,
}

pub struct RemovalChallengeIssued {
    pub nonce: Vec<u8>,
    pub expires_at: i64,
}

/// What a decision leaves to commit beside the card itself.
#[derive(Default)]
struct Effects {
    outbox: Vec<OutgoingSms>,
    audit: Vec<AuditRecord>,
    verifications: Vec<VerificationRecord>,
}

/// `(what to answer, what to commit)`: `None` commits nothing.
type Decided<T> = (Result<T, IssuerError>, Option<Effects>);

/// How often an operation decides again after losing a race before it gives up with 503.
const MAX_ATTEMPTS: usize = 64;

/// Runs CPU-heavy work (Argon2) without stalling the other requests of a multi-threaded runtime.
/// Handing the worker thread over costs a thread wake-up, so only the Argon2 calls themselves go
/// through here on the verification path (see `CardRecord::static_*_matches`).
pub(crate) fn heavy<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

pub struct Issuer {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    outbox_signal: Arc<tokio::sync::Notify>,
}

impl Issuer {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<Keyring>,
        policy: Policy,
        clock: Arc<dyn Clock>,
    ) -> Issuer {
        Issuer {
            store,
            keys,
            policy: Arc::new(policy),
            clock,
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
    /// The outbox, for the delivery worker.
    pub fn outbox(&self) -> crate::outbox::Outbox<'_> {
        crate::outbox::Outbox::new(self.store.as_ref())
    }
    /// Notified after every commit that queued an SMS.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }

    fn audit(
        &self,
        now: i64,
        event: &str,
        card: Option<&CardRecord>,
        detail: String,
    ) -> AuditRecord {
        AuditRecord {
            at: now,
            event: event.to_owned(),
            pan_masked: card.map(|c| c.pan_masked.clone()),
            customer_id: card.map(|c| c.customer_id.as_str().to_owned()),
            detail,
        }
    }

    /// SMS bodies are sealed at rest, to their message and recipient: they carry codes.
    fn sms(&self, to: &Mobile, text: &str, now: i64, expires_at: Option<i64>) -> OutgoingSms {
        crate::at_rest::seal_sms(&self.keys, to, text, now, expires_at)
    }

    /// The text of a queued SMS, for the delivery worker only: refused when its body does not
    /// open for its id and recipient.
    pub fn open_sms_text(
        &self,
        sms: &OutgoingSms,
    ) -> Result<Zeroizing<String>, crate::at_rest::SmsRefused> {
        crate::at_rest::open_sms(&self.keys, sms)
    }

    async fn commit(&self, mut commit: Commit) -> Result<(), StoreError> {
        commit.at = self.clock.now_ms();
        commit.audit_key = Some(self.keys.clone());
        let has_sms = !commit.outbox.is_empty();
        self.store.commit(commit).await?;
        if has_sms {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Reads a card (and its customer, when asked), decides, commits; again on a lost race.
    async fn update_card<T>(
        &self,
        pan_hash: &str,
        with_customer: bool,
        mut decide: impl FnMut(&mut CardRecord, Option<&CustomerRecord>, i64) -> Decided<T>,
    ) -> Result<T, IssuerError> {
        for _ in 0..MAX_ATTEMPTS {
            let card = self
                .store
                .card(pan_hash)
                .await?
                .ok_or(IssuerError::UnknownCard)?;
            let customer = if with_customer {
                Some(
                    self.store
                        .customer(&card.customer_id)
                        .await?
                        .ok_or_else(|| IssuerError::Internal("card without customer".into()))?,
                )
            } else {
                None
            };
            let mut next = card.clone();
            let now = self.clock.now_ms();
            let (result, effects) = heavy(|| decide(&mut next, customer.as_ref(), now));
            let Some(effects) = effects else {
                return result;
            };
            let commit = Commit {
                customer_guards: customer.iter().map(|c| (c.id.clone(), c.version)).collect(),
                cards: vec![next],
                verifications: effects.verifications,
                outbox: effects.outbox,
                audit: effects.audit,
                ..Commit::default()
            };
            match self.commit(commit).await {
                Ok(()) => return result,
                Err(StoreError::Conflict) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(IssuerError::Unavailable("too much contention".into()))
    }

    fn pan_hash(&self, pan: &Pan) -> String {
        self.keys.pan_hash(pan)
    }

    // ---------------------------------------------------------------- branch

    pub async fn create_customer(
        &self,
        id: CustomerId,
        mobile: Mobile,
    ) -> Result<CustomerRecord, IssuerError> {
        let now = self.clock.now_ms();
        let rec = CustomerRecord {
            id: id.clone(),
            mobile: mobile.clone(),
            created_at: now,
            version: 0,
        };
        let commit = Commit {
            new_customers: vec![rec.clone()],
            audit: vec![AuditRecord {
                at: now,
                event: "customer.created".into(),
                pan_masked: None,
                customer_id: Some(id.as_str().to_owned()),
                detail: format!("mobile {}", mobile.masked()),
            }],
            ..Commit::default()
        };
        self.commit(commit).await?;
        Ok(rec)
    }

    /// R12: a new mobile number; every token issued on the old one dies, on every card.
    pub async fn change_mobile(
        &self,
        id: &CustomerId,
        mobile: Mobile,
    ) -> Result<(Mobile, u32), IssuerError> {
        for _ in 0..MAX_ATTEMPTS {
            let customer = self
                .store
                .customer(id)
                .await?
                .ok_or(IssuerError::UnknownCustomer)?;
            let now = self.clock.now_ms();
            if customer.mobile == mobile {
                return Ok((mobile, 0));
            }
            let old = customer.mobile.clone();
            let mut revoked = 0;
            let mut cards = Vec::new();
            let mut audit = vec![AuditRecord {
                at: now,
                event: "customer.mobile_changed".into(),
                pan_masked: None,
                customer_id: Some(id.as_str().to_owned()),
                detail: format!("{} -> {}", old.masked(), mobile.masked()),
            }];
            for mut card in self.store.cards_of_customer(id).await? {
                let n = card.revoke_mobile(&old);
                if n > 0 {
                    revoked += n;
                    audit.push(self.audit(
                        now,
                        "card.tokens_revoked",
                        Some(&card),
                        format!("{n} token(s) issued on the old mobile"),
                    ));
                }
                cards.push(card);
            }
            let commit = Commit {
                customers: vec![CustomerRecord {
                    mobile: mobile.clone(),
                    ..customer
                }],
                cards,
                audit,
                ..Commit::default()
            };
            match self.commit(commit).await {
                Ok(()) => return Ok((mobile, revoked)),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IssuerError::Unavailable("too much contention".into()))
    }

    pub async fn create_card(
        &self,
        pan: &Pan,
        customer_id: CustomerId,
        expiry: Expiry,
        pin: Digits,
        second_password: Digits,
    ) -> Result<String, IssuerError> {
        let customer = self
            .store
            .customer(&customer_id)
            .await?
            .ok_or(IssuerError::UnknownCustomer)?;
        let now = self.clock.now_ms();
        if now >= expiry.expires_at_ms() {
            return Err(IssuerError::Invalid(InvalidValue::ExpiryPassed));
        }
        let pan_hash = self.pan_hash(pan);
        if self.store.card(&pan_hash).await?.is_some() {
            return Err(IssuerError::AlreadyExists);
        }
        let (pin_hash, second_hash) = heavy(|| {
            let hash = |kind, secret: &Digits| {
                self.keys
                    .hash_static(kind, &pan_hash, secret.as_str())
                    .map_err(|e| IssuerError::Internal(e.to_string()))
            };
            Ok::<_, IssuerError>((
                hash(StaticSecret::Pin, &pin)?,
                hash(StaticSecret::SecondPassword, &second_password)?,
            ))
        })?;
        let mut card = CardRecord::new(
            pan,
            pan_hash,
            customer_id,
            expiry,
            pin_hash,
            second_hash,
            now,
        );
        card.set_pan_tails(pan, &self.keys);
        let commit = Commit {
            customer_guards: vec![(customer.id.clone(), customer.version)],
            audit: vec![self.audit(now, "card.created", Some(&card), String::new())],
            new_cards: vec![card],
            ..Commit::default()
        };
        match self.commit(commit).await {
            Ok(()) => Ok(pan.masked()),
            Err(StoreError::Conflict) => Err(IssuerError::Unavailable(
                "the customer changed meanwhile; try again".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn card_view(&self, pan: &Pan) -> Result<CardView, IssuerError> {
        let card = self
            .store
            .card(&self.pan_hash(pan))
            .await?
            .ok_or(IssuerError::UnknownCard)?;
        let now = self.clock.now_ms();
        let (mode, state) = card.effective(now);
        Ok(CardView {
            pan_masked: card.pan_masked.clone(),
            customer_id: card.customer_id.as_str().to_owned(),
            mode,
            state,
            second_blocked: card.second_blocked,
            recent_failures: card.recent_failures(now, &self.policy),
            pin_locked: card.pin_locked(),
        })
    }

    /// R11: only a branch lifts the block.
    pub async fn unblock_second(&self, pan: &Pan) -> Result<(), IssuerError> {
        self.update_card(&self.pan_hash(pan), false, |card, _, now| {
            card.second_blocked = false;
            let mut e = Effects::default();
            e.audit
                .push(self.audit(now, "branch.unblock_second", Some(card), String::new()));
            (Ok(()), Some(e))
        })
        .await
    }

    /// Issue 20: only a branch lifts the PIN lock, after checking the holder in person.
    pub async fn unlock_pin(&self, pan: &Pan) -> Result<(), IssuerError> {
        self.update_card(&self.pan_hash(pan), false, |card, _, now| {
            card.unlock_pin();
            let mut e = Effects::default();
            e.audit
                .push(self.audit(now, "branch.unlock_pin", Some(card), String::new()));
            (Ok(()), Some(e))
        })
        .await
    }

    // ---------------------------------------------------------------- ATM

    /// The PIN check every ATM operation starts with; a wrong PIN is committed alone.
    fn atm_pin<T>(&self, card: &mut CardRecord, pin: &Digits, now: i64) -> Option<Decided<T>> {
        match card.check_atm_pin(pin, now, &self.policy, &self.keys) {
            Ok(()) => None,
            Err(AtmRefusal::WrongPin) => {
                let mut e = Effects::default();
                // This wrong PIN was the one that locked it (`card::pin_lock`).
                let detail = if card.pin_locked() { "pin_locked" } else { "" };
                e.audit
                    .push(self.audit(now, "atm.wrong_pin", Some(card), detail.to_owned()));
                Some((Err(IssuerError::WrongPin), Some(e)))
            }
            Err(r) => Some((Err(r.into()), None)),
        }
    }

    /// A refused activation. A mobile number that is not the registered one is a failed check
    /// worth an audit record (someone may be trying to bind their own phone); the card itself
    /// does not change.
    fn atm_refused<T>(&self, card: &CardRecord, r: AtmRefusal, now: i64) -> Decided<T> {
        if r == AtmRefusal::MobileMismatch {
            let mut e = Effects::default();
            e.audit
                .push(self.audit(now, "atm.mobile_mismatch", Some(card), String::new()));
            return (Err(r.into()), Some(e));
        }
        (Err(r.into()), None)
    }

    /// R8: app activation. The receipt code is answered; the SMS code goes to the registered mobile.
    pub async fn atm_activate_app(
        &self,
        pan: &Pan,
        pin: &Digits,
        mobile: &Mobile,
    ) -> Result<AppActivationIssued, IssuerError> {
        self.update_card(&self.pan_hash(pan), true, |card, customer, now| {
            if let Some(d) = self.atm_pin(card, pin, now) {
                return d;
            }
            let registered = &customer.expect("loaded").mobile;
            let codes =
                match card.activate_app(pan, registered, mobile, now, &self.policy, &self.keys) {
                    Ok(c) => c,
                    Err(r) => return self.atm_refused(card, r, now),
                };
            let text = messages::activation_code(
                self.policy.sms.language,
                &self.policy.bank_name,
                &codes.sms_code,
                self.policy.activation.ttl_secs.div_ceil(3600),
            );
            let mut e = Effects::default();
            e.outbox
                .push(self.sms(registered, &text, now, Some(codes.expires_at)));
            e.audit
                .push(self.audit(now, "atm.activate_app", Some(card), String::new()));
            (
                Ok(AppActivationIssued {
                    receipt_code: codes.receipt_code,
                    expires_at: codes.expires_at,
                }),
                Some(e),
            )
        })
        .await
        .inspect(|_| metrics::counter!("pooya_activations_total", "channel" => "app").increment(1))
    }

    /// R20: SMS activation; the fixed part and the receipt text go back to the ATM.
    pub async fn atm_activate_sms(
        &self,
        pan: &Pan,
        pin: &Digits,
        mobile: &Mobile,
    ) -> Result<SmsActivationIssued, IssuerError> {
        self.update_card(&self.pan_hash(pan), true, |card, customer, now| {
            if let Some(d) = self.atm_pin(card, pin, now) {
                return d;
            }
            let registered = &customer.expect("loaded").mobile;
            let fixed = match card.activate_sms(registered, mobile, &self.policy, &self.keys) {
                Ok(f) => f,
                Err(r) => return self.atm_refused(card, r, now),
            };
            let receipt_text = Zeroizing::new(messages::sms_receipt(
                self.policy.sms.language,
                &self.policy.bank_name,
                &fixed,
                &self.policy.sms.short_number,
            ));
            let mut e = Effects::default();
            e.audit
                .push(self.audit(now, "atm.activate_sms", Some(card), String::new()));
            (
                Ok(SmsActivationIssued {
                    fixed_part: fixed,
                    receipt_text,
                }),
                Some(e),
            )
        })
        .await
        .inspect(|_| metrics::counter!("pooya_activations_total", "channel" => "sms").increment(1))
    }

    /// R10: back to static passwords.
    pub async fn atm_deactivate(&self, pan: &Pan, pin: &Digits) -> Result<(), IssuerError> {
        self.update_card(&self.pan_hash(pan), false, |card, _, now| {
            if let Some(d) = self.atm_pin(card, pin, now) {
                return d;
            }
            card.deactivate();
            let mut e = Effects::default();
            e.audit
                .push(self.audit(now, "atm.deactivate", Some(card), String::new()));
            (Ok(()), Some(e))
        })
        .await
    }

    /// R11: the holder blocks the card's second password.
    pub async fn atm_block_second(&self, pan: &Pan, pin: &Digits) -> Result<(), IssuerError> {
        self.update_card(&self.pan_hash(pan), false, |card, _, now| {
            if let Some(d) = self.atm_pin(card, pin, now) {
                return d;
            }
            card.second_blocked = true;
            let mut e = Effects::default();
            e.audit
                .push(self.audit(now, "atm.block_second", Some(card), String::new()));
            (Ok(()), Some(e))
        })
        .await
    }

    // ---------------------------------------------------------------- SMS

    /// R21, R22: a message to the bank's short number. Answers nothing about cards: a reply, if
    /// any, goes through the outbox to the sender, and only when the sender is the registered
    /// mobile of an SMS-activated card.
    ///
    /// The text is the last 4 digits of the card (Persian or Arabic-Indic digits and spaces
    /// allowed), or up to 8 when two of the sender's SMS cards end in the same 4: those get a reply
    /// that asks for more digits and no code. A second request for one card within
    /// `sms.request_interval_secs`, while the variable part it got is unused and alive, issues and
    /// sends nothing new.
    pub async fn sms_inbound(
        &self,
        from: &Mobile,
        to: &str,
        text: &str,
    ) -> Result<(), IssuerError> {
        if to != self.policy.sms.short_number {
            return Err(IssuerError::UnknownShortNumber);
        }
        let Some(digits) =
            normalize_sms_digits(text).filter(|d| (PAN_TAIL_MIN..=PAN_TAIL_MAX).contains(&d.len()))
        else {
            tracing::info!(from = %from.masked(), "inbound SMS ignored: not a card request");
            return Ok(());
        };
        let candidates: Vec<CardRecord> = self
            .store
            .cards_by_mobile(from)
            .await?
            .into_iter()
            .filter(|c| {
                c.svc.mode == Mode::Sms
                    && !c.svc.locked
                    && c.svc.sms.as_ref().is_some_and(|s| &s.mobile == from)
                    && c.number_ends_with(&digits, &self.keys)
            })
            .collect();
        let now = self.clock.now_ms();
        match candidates.as_slice() {
            [] => {
                tracing::info!(from = %from.masked(), "inbound SMS: no SMS-activated card matches");
                Ok(())
            }
            [card] => {
                let policy = &self.policy;
                self.update_card(&card.pan_hash, false, |card, _, now| {
                    if !card.svc.sms.as_ref().is_some_and(|s| &s.mobile == from) {
                        return (Ok(()), None);
                    }
                    if card.variable_part_recently_sent(now, policy) {
                        let mut e = Effects::default();
                        e.audit.push(self.audit(
                            now,
                            "sms.request_repeated",
                            Some(card),
                            format!(
                                "within {} s of the last one: nothing new sent",
                                policy.sms.request_interval_secs
                            ),
                        ));
                        return (Ok(()), Some(e));
                    }
                    let Some((var, expires_at)) = card.issue_variable_part(now, policy, &self.keys)
                    else {
                        return (Ok(()), None);
                    };
                    let text = messages::variable_part(
                        policy.sms.language,
                        &policy.bank_name,
                        &card.last4,
                        &var,
                        policy.otp.lifetime_secs,
                    );
                    let mut e = Effects::default();
                    e.outbox.push(self.sms(from, &text, now, Some(expires_at)));
                    e.audit
                        .push(self.audit(now, "sms.variable_part", Some(card), String::new()));
                    (Ok(()), Some(e))
                })
                .await
            }
            _ => {
                let p = &self.policy;
                let text = if digits.len() < PAN_TAIL_MAX {
                    messages::ambiguous_card(
                        p.sms.language,
                        &p.bank_name,
                        &digits,
                        &p.sms.short_number,
                        PAN_TAIL_MAX,
                    )
                } else {
                    messages::ambiguous_card_final(p.sms.language, &p.bank_name, &digits)
                };
                let commit = Commit {
                    outbox: vec![self.sms(from, &text, now, None)],
                    audit: vec![AuditRecord {
                        at: now,
                        event: "sms.ambiguous_card".into(),
                        pan_masked: None,
                        customer_id: Some(candidates[0].customer_id.as_str().to_owned()),
                        detail: format!(
                            "{} cards end in the {} digits given",
                            candidates.len(),
                            digits.len()
                        ),
                    }],
                    ..Commit::default()
                };
                self.commit(commit).await.map_err(Into::into)
            }
        }
    }

    // ---------------------------------------------------------------- switch

    /// R1, R3, R4, R5, R9, R11, R21: one verification, idempotent on the transaction id.
    pub async fn verify(
        &self,
        pan: &Pan,
        kind: PasswordKind,
        password: &Digits,
        txn: &Transaction,
    ) -> Result<VerifyOutcome, IssuerError> {
        let pan_hash = self.pan_hash(pan);
        // Without the password: a resend's answer never depends on it (see `crate::resend`).
        let fingerprint = crate::resend::fingerprint(&self.keys, kind, txn);
        for _ in 0..MAX_ATTEMPTS {
            let (card, prev) = self.store.card_for_verification(&pan_hash, &txn.id).await?;
            if let Some(prev) = prev {
                return crate::resend::stored_answer(&prev, &fingerprint).map(Into::into);
            }
            let Some(card) = card else {
                // No card changes, but the outcome is audited like every other.
                let now = self.clock.now_ms();
                let v = Verdict::UnknownCard;
                let commit = Commit {
                    audit: vec![AuditRecord {
                        at: now,
                        event: "verify".into(),
                        pan_masked: Some(pan.masked()),
                        customer_id: None,
                        detail: format!(
                            "kind={} txn={} code={} reason={}",
                            kind.as_str(),
                            txn.id,
                            v.response_code(),
                            v.reason()
                        ),
                    }],
                    ..Commit::default()
                };
                self.commit(commit).await?;
                return Ok(v.into());
            };
            let mut next = card;
            let now = self.clock.now_ms();
            let pin_was_locked = next.pin_locked();
            // Argon2, when a decision needs it, hands its thread over by itself (`heavy`).
            let verdict = next.verify_for(kind, password, Some(txn), now, &self.policy, &self.keys);
            let mut detail = format!(
                "kind={} txn={} code={} reason={}",
                kind.as_str(),
                txn.id,
                verdict.response_code(),
                verdict.reason()
            );
            let now_locked = next.svc.locked && verdict.response_code() == "55";
            if now_locked {
                detail.push_str(" now_locked");
            }
            let pin_now_locked = !pin_was_locked && next.pin_locked();
            if pin_now_locked {
                detail.push_str(" pin_locked");
            }
            let commit = Commit {
                verifications: vec![VerificationRecord {
                    pan_hash: pan_hash.clone(),
                    txn_id: txn.id.clone(),
                    fingerprint: fingerprint.clone(),
                    response_code: verdict.response_code().into(),
                    reason: verdict.reason().into(),
                    at: now,
                }],
                audit: vec![self.audit(now, "verify", Some(&next), detail)],
                cards: vec![next],
                ..Commit::default()
            };
            match self.commit(commit).await {
                Ok(()) => {
                    if now_locked {
                        metrics::counter!("pooya_lockouts_total").increment(1);
                    }
                    return Ok(verdict.into());
                }
                // Another server changed the card, or answered this very transaction: read again.
                Err(StoreError::Conflict) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(IssuerError::Unavailable("too much contention".into()))
    }

    /// R24: the unified transaction SMS. A code for this card and this transaction (id, amount,
    /// merchant) goes to the customer's registered mobile in the same commit that stores it.
    /// Asked again for the same transaction within `sms.request_interval_secs` while the code is
    /// unused and alive, nothing new is issued or sent.
    pub async fn otp_request(
        &self,
        pan: &Pan,
        txn: &Transaction,
        txn_type: TxnType,
    ) -> Result<OtpRequested, IssuerError> {
        let max = self.policy.sms.merchant_max_chars;
        if txn.merchant.chars().count() > max as usize {
            return Err(IssuerError::MerchantTooLong { max });
        }
        // Text-direction controls could make a phone show another amount or merchant.
        if txn.merchant.chars().any(|c| {
            matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        }) {
            return Err(IssuerError::MerchantUnsafe);
        }
        let pan_hash = self.pan_hash(pan);
        // A decided transaction takes no new code: its verification answers from the record.
        if self.store.verification(&pan_hash, &txn.id).await?.is_some() {
            if self.store.card(&pan_hash).await?.is_none() {
                return Err(IssuerError::UnknownCard);
            }
            return Err(IssuerError::TxnAlreadyVerified);
        }
        let policy = &self.policy;
        self.update_card(&pan_hash, true, |card, customer, now| {
            let mobile = &customer.expect("loaded").mobile;
            let (code, expires_at) = match card.issue_txn_code(txn, mobile, now, policy, &self.keys)
            {
                Ok(TxnCodeIssue::Issued { code, expires_at }) => (code, expires_at),
                Ok(TxnCodeIssue::AlreadySent { expires_at }) => {
                    let mut e = Effects::default();
                    e.audit.push(self.audit(
                        now,
                        "switch.otp_request_repeated",
                        Some(card),
                        format!("txn={}: nothing new sent", txn.id),
                    ));
                    let done = OtpRequested {
                        expires_at,
                        queued: false,
                    };
                    return (Ok(done), Some(e));
                }
                Err(r) => return (Err(r.into()), None),
            };
            let text = match messages::unified_otp(
                policy,
                policy.sms.language,
                &messages::UnifiedOtp {
                    bank: &policy.bank_name,
                    code: &code,
                    txn_type,
                    amount_rials: txn.amount.rials(),
                    merchant: &txn.merchant,
                    last4: &card.last4,
                    issued_at_ms: now,
                    expires_at_ms: expires_at,
                    lifetime_secs: policy.otp.lifetime_secs,
                },
            ) {
                Ok(t) => Zeroizing::new(t),
                Err(why) => {
                    return (
                        Err(IssuerError::Internal(format!(
                            "unified SMS template: {why}"
                        ))),
                        None,
                    )
                }
            };
            let mut e = Effects::default();
            e.outbox
                .push(self.sms(mobile, &text, now, Some(expires_at)));
            e.audit.push(self.audit(
                now,
                "switch.otp_request",
                Some(card),
                format!(
                    "txn={} type={} to {}",
                    txn.id,
                    txn_type.as_str(),
                    mobile.masked()
                ),
            ));
            let done = OtpRequested {
                expires_at,
                queued: true,
            };
            (Ok(done), Some(e))
        })
        .await
    }

    // ---------------------------------------------------------------- admin

    /// The outbox at a glance, and the time it was read at (unix ms).
    pub async fn outbox_status(&self) -> Result<(OutboxStatus, i64), IssuerError> {
        let status = self.store.outbox_status().await?;
        Ok((status, self.clock.now_ms()))
    }

    // ---------------------------------------------------------------- app

    pub async fn removal_challenge(
        &self,
        token_id: &str,
    ) -> Result<RemovalChallengeIssued, IssuerError> {
        let card = self
            .store
            .card_by_token(token_id)
            .await?
            .ok_or(IssuerError::UnknownToken)?;
        self.update_card(&card.pan_hash, false, |card, _, now| {
            match card.removal_challenge(token_id, now, &self.policy) {
                Ok(c) => {
                    let mut e = Effects::default();
                    e.audit.push(self.audit(
                        now,
                        "app.removal_challenge",
                        Some(card),
                        String::new(),
                    ));
                    (
                        Ok(RemovalChallengeIssued {
                            nonce: c.nonce,
                            expires_at: c.expires_at,
                        }),
                        Some(e),
                    )
                }
                Err(r) => (Err(r.into()), None),
            }
        })
        .await
        .map_err(|e| match e {
            IssuerError::UnknownCard => IssuerError::UnknownToken,
            e => e,
        })
    }

    pub async fn remove_token(
        &self,
        token_id: &str,
        nonce: &[u8],
        proof: &[u8],
    ) -> Result<(), IssuerError> {
        let card = self
            .store
            .card_by_token(token_id)
            .await?
            .ok_or(IssuerError::UnknownToken)?;
        self.update_card(&card.pan_hash, false, |card, _, now| {
            match card.remove_token(token_id, nonce, proof, now, &self.keys) {
                Ok(()) => {
                    let mut e = Effects::default();
                    e.audit
                        .push(self.audit(now, "app.token_removed", Some(card), String::new()));
                    (Ok(()), Some(e))
                }
                // The challenge was used up: commit that too.
                Err(r @ (AppRefusal::BadProof | AppRefusal::ChallengeExpired)) => {
                    let mut e = Effects::default();
                    let why = if r == AppRefusal::BadProof {
                        "bad proof"
                    } else {
                        "challenge expired"
                    };
                    e.audit.push(self.audit(
                        now,
                        "app.token_removal_refused",
                        Some(card),
                        why.to_owned(),
                    ));
                    (Err(r.into()), Some(e))
                }
                Err(r) => (Err(r.into()), None),
            }
        })
        .await
        .map_err(|e| match e {
            IssuerError::UnknownCard => IssuerError::UnknownToken,
            e => e,
        })
    }

    // ---------------------------------------------------------------- administration

    /// PSKC import (`POST /v1/admin/pskc`): every OTP key of the file becomes the second-password
    /// token of the card its serial is assigned to, in one commit: all or nothing. Every key
    /// package needs an assignment and every assigned serial a key package; a card takes one
    /// token. An unknown card is [`IssuerError::UnknownCard`]; every other problem is
    /// [`IssuerError::InvalidPskc`], naming the key package (or serial) at fault.
    pub async fn import_pskc(
        &self,
        xml: &str,
        secrets: &pooya_pskc::Secrets<'_>,
        assign: &[(String, Pan)],
    ) -> Result<usize, IssuerError> {
        let keys = heavy(|| pooya_pskc::parse(xml, secrets))
            .map_err(|e| IssuerError::InvalidPskc(e.to_string()))?;
        // Maps, not nested scans: a bank's file holds thousands of key packages.
        let mut card_of_serial: HashMap<&str, &Pan> = HashMap::with_capacity(assign.len());
        for (serial, pan) in assign {
            card_of_serial.entry(serial.as_str()).or_insert(pan);
        }
        let mut targets: Vec<(&pooya_pskc::ImportedKey, &Pan)> = Vec::with_capacity(keys.len());
        for k in &keys {
            let pan = card_of_serial.get(k.serial.as_str()).ok_or_else(|| {
                IssuerError::InvalidPskc(format!(
                    "key package {} (serial {}): no card assigned to it",
                    k.index, k.serial
                ))
            })?;
            targets.push((k, pan));
        }
        let serials_in_file: HashSet<&str> = keys.iter().map(|k| k.serial.as_str()).collect();
        for (serial, pan) in assign {
            if !serials_in_file.contains(serial.as_str()) {
                return Err(IssuerError::InvalidPskc(format!(
                    "serial {serial} is assigned to card {} but the file has no key package \
                     with it",
                    pan.masked()
                )));
            }
        }
        let hashes: Vec<String> = targets.iter().map(|(_, pan)| self.pan_hash(pan)).collect();
        let mut first_with_hash: HashMap<&str, usize> = HashMap::with_capacity(hashes.len());
        for (i, h) in hashes.iter().enumerate() {
            if let Some(&first) = first_with_hash.get(h.as_str()) {
                return Err(IssuerError::InvalidPskc(format!(
                    "card {} is assigned two tokens (serials {} and {})",
                    targets[i].1.masked(),
                    targets[first].0.serial,
                    targets[i].0.serial
                )));
            }
            first_with_hash.insert(h, i);
        }
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now_ms();
            let mut cards = Vec::with_capacity(targets.len());
            let mut audit = Vec::with_capacity(targets.len());
            for ((k, _), h) in targets.iter().zip(&hashes) {
                let mut card = self.store.card(h).await?.ok_or(IssuerError::UnknownCard)?;
                let kind = match k.kind {
                    pooya_pskc::OtpKind::Hotp => crate::card::HardwareKind::Hotp,
                    pooya_pskc::OtpKind::Totp => crate::card::HardwareKind::Totp,
                };
                let hw = crate::card::HardwareKey {
                    serial: &k.serial,
                    kind,
                    key: &k.secret,
                    algorithm: k.algorithm,
                    digits: k.digits,
                    step_secs: k.time_step,
                    counter: k.counter,
                };
                card.install_hardware_token(&hw, now, &self.keys)
                    .map_err(|why| {
                        IssuerError::InvalidPskc(format!(
                            "key package {} (serial {}): {why}",
                            k.index, k.serial
                        ))
                    })?;
                let detail = format!(
                    "serial={} kind={} digits={} algorithm={}",
                    k.serial,
                    if kind == crate::card::HardwareKind::Hotp {
                        "hotp"
                    } else {
                        "totp"
                    },
                    k.digits,
                    k.algorithm
                );
                audit.push(self.audit(now, "admin.pskc_import", Some(&card), detail));
                cards.push(card);
            }
            let commit = Commit {
                cards,
                audit,
                ..Commit::default()
            };
            match self.commit(commit).await {
                Ok(()) => return Ok(targets.len()),
                Err(StoreError::Conflict) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(IssuerError::Unavailable("too much contention".into()))
    }

    pub async fn health(&self) -> Result<(), IssuerError> {
        self.store.ping().await.map_err(Into::into)
    }
}

/// Digits of an inbound SMS: Persian (۰–۹) and Arabic-Indic (٠–٩) digits become ASCII, spaces
/// and dashes go; anything else makes it no card request.
pub fn normalize_sms_digits(text: &str) -> Option<String> {
    let mut out = String::new();
    for ch in text.chars() {
        let d = match ch {
            '0'..='9' => ch,
            '۰'..='۹' => char::from(b'0' + (ch as u32 - '۰' as u32) as u8),
            '٠'..='٩' => char::from(b'0' + (ch as u32 - '٠' as u32) as u8),
            c if c.is_whitespace() || c == '-' || c == '\u{200c}' => continue,
            _ => return None,
        };
        out.push(d);
    }
    (!out.is_empty()).then_some(out)
}
