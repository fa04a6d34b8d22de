//! The switch's channel on the card: transaction codes of the unified SMS (R24).

use zeroize::Zeroizing;

use super::record::CardRecord;
use super::service::TxnCode;
use super::verdict::TxnRefusal;
use crate::domain::{Mobile, Transaction};
use crate::keys::{random_digits, Keyring};
use crate::policy::Policy;

/// What an otp-request decided (R24).
pub enum TxnCodeIssue {
    /// A new code: the SMS must go out.
    Issued {
        code: Zeroizing<String>,
        expires_at: i64,
    },
    /// The same transaction asked again within `sms.request_interval_secs` while its code is
    /// unused and alive: nothing new, nothing sent.
    AlreadySent { expires_at: i64 },
}

/// The most transaction codes a card keeps; a new one beyond pushes out the oldest.
pub const MAX_TXN_CODES: usize = 10;

/// Keyed MAC of what binds a transaction code: the transaction's id, amount and merchant.
pub(super) fn txn_binding(txn: &Transaction, keys: &Keyring) -> Vec<u8> {
    keys.code_mac(
        "txn-binding",
        &[
            txn.id.as_bytes(),
            &txn.amount.rials().to_be_bytes(),
            txn.merchant.as_bytes(),
        ],
    )
}

impl CardRecord {
    /// R24: a code for one transaction of this card, to send to `mobile` (the registered one).
    /// Asked again for the same transaction within `sms.request_interval_secs` while its code is
    /// unused and alive, it issues nothing new; later, a new code replaces the old one.
    pub fn issue_txn_code(
        &mut self,
        txn: &Transaction,
        mobile: &Mobile,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<TxnCodeIssue, TxnRefusal> {
        if self.second_blocked {
            return Err(TxnRefusal::SecondPasswordBlocked);
        }
        if self.svc.is_locked() {
            return Err(TxnRefusal::Locked);
        }
        if self.is_expired(now) {
            return Err(TxnRefusal::ExpiredCard);
        }
        self.prune(now, policy);
        let binding = txn_binding(txn, keys);
        if let Some(c) = self.svc.txn_codes.iter().find(|c| c.txn_id == txn.id) {
            if !pooya_otp::ct_eq(&c.binding, &binding) {
                return Err(TxnRefusal::TxnConflict);
            }
            if c.used {
                return Err(TxnRefusal::AlreadyVerified);
            }
            let interval = policy.sms.request_interval_secs as i64 * 1000;
            if now < c.expires_at && now - c.issued_at < interval && &c.mobile == mobile {
                return Ok(TxnCodeIssue::AlreadySent {
                    expires_at: c.expires_at,
                });
            }
        }
        self.svc.txn_codes.retain(|c| c.txn_id != txn.id);
        let digits = usize::from(policy.otp.second_digits);
        let (code, mac) = loop {
            let code = random_digits(digits);
            let mac = keys.code_mac("txn-code", &[self.pan_hash.as_bytes(), code.as_bytes()]);
            // Two live codes of one card never share a value.
            if !self.svc.txn_codes.iter().any(|c| c.mac == mac) {
                break (code, mac);
            }
        };
        let expires_at = now + policy.lifetime_ms();
        self.svc.txn_codes.push(TxnCode {
            txn_id: txn.id.clone(),
            binding,
            mac,
            mobile: mobile.clone(),
            issued_at: now,
            expires_at,
            used: false,
        });
        if self.svc.txn_codes.len() > MAX_TXN_CODES {
            let excess = self.svc.txn_codes.len() - MAX_TXN_CODES;
            self.svc.txn_codes.drain(..excess);
        }
        Ok(TxnCodeIssue::Issued { code, expires_at })
    }
}
