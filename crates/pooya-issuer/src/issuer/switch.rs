//! The switch's operations (`routes/switch.rs`): a verification (R1–R5, R9, R11, R21, R24),
//! idempotent on the transaction id, and the unified transaction SMS (R24).

use zeroize::Zeroizing;

use super::base::{Decision, Effects, Issuer};
use crate::audit::{AuditEvent, AuditRecord};
use crate::card::{CardRecord, TxnCodeIssue, TxnRefusal, Verdict};
use crate::domain::{Digits, Pan, PasswordKind, Transaction, TxnType};
use crate::error::IssuerError;
use crate::messages;
use crate::store::{Commit, VerificationRecord};

/// The outcome of a verification (docs/api.md, `/v1/verify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub approved: bool,
    pub response_code: &'static str,
    pub reason: &'static str,
    /// This verification's refusal locked the card's dynamic service (R5): the last failure the
    /// window allows. Its own answer is still `55`; every later one `75 locked`.
    pub locked_now: bool,
}

impl VerifyOutcome {
    fn new(v: Verdict, locked_now: bool) -> Self {
        VerifyOutcome {
            approved: v.approved(),
            response_code: v.response_code(),
            reason: v.reason(),
            locked_now,
        }
    }
}

/// What an otp-request did (R24).
pub struct OtpRequested {
    /// When the transaction's code dies.
    pub expires_at: i64,
    /// Whether this request queued an SMS (false: the same request came again within the
    /// interval, and the code already sent stands).
    pub queued: bool,
}

/// The detail of a verification's audit record.
fn verify_detail(kind: PasswordKind, txn: &Transaction, v: Verdict) -> String {
    format!(
        "kind={} txn={} code={} reason={}",
        kind.as_str(),
        txn.id,
        v.response_code(),
        v.reason()
    )
}

impl Issuer {
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
        let (pan_hash, fingerprint) = (&pan_hash, &fingerprint);
        let (verdict, now_locked) = self
            .commit_with_retry(|| async move {
                let (card, prev) = self.store.card_for_verification(pan_hash, &txn.id).await?;
                if let Some(prev) = prev {
                    let stored = crate::resend::stored_answer(&prev, fingerprint);
                    return Ok(Decision::Answer(stored.map(|v| (v, false))));
                }
                let now = self.clock.now_ms();
                let Some(card) = card else {
                    // No card changes, but the outcome is audited like every other.
                    let v = Verdict::UnknownCard;
                    let commit = Commit {
                        audit: vec![AuditRecord::new(
                            AuditEvent::Verify,
                            now,
                            Some(pan.masked()),
                            None,
                            verify_detail(kind, txn, v),
                        )],
                        ..Commit::default()
                    };
                    return Ok(Decision::Commit(commit, Ok((v, false))));
                };
                Ok(self.decide_verification(card, kind, password, txn, fingerprint, now))
            })
            .await?;
        if now_locked {
            metrics::counter!("pooya_lockouts_total").increment(1);
        }
        Ok(VerifyOutcome::new(verdict, now_locked))
    }

    /// One verification of a card: its verdict, its record and its audit record, to commit
    /// together; the answer says whether this verification locked the service (R5).
    fn decide_verification(
        &self,
        mut card: CardRecord,
        kind: PasswordKind,
        password: &Digits,
        txn: &Transaction,
        fingerprint: &[u8],
        now: i64,
    ) -> Decision<(Verdict, bool)> {
        let (was_locked, pin_was_locked) = (card.svc.is_locked(), card.pin_locked());
        // Argon2, when a decision needs it, hands its thread over by itself (`blocking`).
        let verdict = card.verify_for(kind, password, Some(txn), now, &self.policy, &self.keys);
        let mut detail = verify_detail(kind, txn, verdict);
        // R5: this verification's failure locked the service.
        let now_locked = !was_locked && card.svc.is_locked();
        if now_locked {
            detail.push_str(" now_locked");
        }
        if !pin_was_locked && card.pin_locked() {
            detail.push_str(" pin_locked");
        }
        let commit = Commit {
            verifications: vec![VerificationRecord {
                pan_hash: card.pan_hash.clone(),
                txn_id: txn.id.clone(),
                fingerprint: fingerprint.to_vec(),
                response_code: verdict.response_code().into(),
                reason: verdict.reason().into(),
                at: now,
                // Every `/v1/verify` names its merchant; the console's card page shows it.
                merchant: Some(txn.merchant.clone()),
            }],
            audit: vec![self.audit(now, AuditEvent::Verify, Some(&card), detail)],
            cards: vec![card],
            ..Commit::default()
        };
        // A lost race: another server changed the card, or answered this very transaction.
        Decision::Commit(commit, Ok((verdict, now_locked)))
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
            return Err(TxnRefusal::AlreadyVerified.into());
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
                        AuditEvent::SwitchOtpRequestRepeated,
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
                &policy.templates,
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
                AuditEvent::SwitchOtpRequest,
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
}
