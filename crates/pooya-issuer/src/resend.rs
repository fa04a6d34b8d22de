//! `/v1/verify` is idempotent on the transaction id (docs/api.md): a resent transaction is answered
//! from the record its first verification left, and consumes nothing.
//!
//! What tells a resend from another use of the same id is a *fingerprint* of the request's kind,
//! amount and merchant. The password is not in it, so a resend gets the stored answer whatever
//! password it carries. Were it in (as it was before), a resend of an approved transaction with a
//! guessed password would answer the stored `00` for the right guess and 409 `txn_conflict` for
//! a wrong one, on a locked card too, counting no failure and leaving no audit record: a password
//! oracle (issue 13).
//!
//! Stored fingerprints carry their format in their first byte ([`FORMAT`]). Rows written before
//! it hold a bare 32-byte MAC with the password inside, which cannot be checked without the
//! password; every resend of such a transaction, the exact same request included, is 409
//! `txn_conflict`, so that no answer about an old transaction depends on its password.

use crate::card::{TxnRefusal, Verdict};
use crate::domain::{PasswordKind, Transaction};
use crate::error::IssuerError;
use crate::keys::Keyring;
use crate::store::VerificationRecord;

/// The format byte of a fingerprint without the password.
const FORMAT: u8 = 2;

/// The fingerprint of a verification request: its kind, amount and merchant, keyed.
pub(crate) fn fingerprint(keys: &Keyring, kind: PasswordKind, txn: &Transaction) -> Vec<u8> {
    let mac = keys.code_mac(
        "txn/v2",
        &[
            kind.as_str().as_bytes(),
            &txn.amount.rials().to_be_bytes(),
            txn.merchant.as_bytes(),
        ],
    );
    let mut f = Vec::with_capacity(1 + mac.len());
    f.push(FORMAT);
    f.extend_from_slice(&mac);
    f
}

/// The answer to a resent transaction: its stored verdict, or `TxnConflict` when the id was used
/// with another kind, amount or merchant (or by a row of the old format, see the module doc).
pub(crate) fn stored_answer(
    prev: &VerificationRecord,
    fingerprint: &[u8],
) -> Result<Verdict, IssuerError> {
    if !pooya_otp::ct_eq(&prev.fingerprint, fingerprint) {
        return Err(TxnRefusal::TxnConflict.into());
    }
    Verdict::parse(&prev.response_code, &prev.reason)
        .ok_or_else(|| IssuerError::Internal("stored verdict unknown".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::HashCost;

    fn keys() -> Keyring {
        let cost = HashCost {
            m_kib: 64,
            t: 1,
            p: 1,
        };
        Keyring::from_master(&[7u8; 32], cost).unwrap()
    }

    fn record(fingerprint: Vec<u8>) -> VerificationRecord {
        VerificationRecord {
            pan_hash: "h".into(),
            txn_id: "T1".into(),
            fingerprint,
            response_code: "00".into(),
            reason: "approved".into(),
            at: 0,
            merchant: Some("Shop".into()),
        }
    }

    #[test]
    fn a_resend_is_answered_from_the_record_and_another_body_conflicts() {
        let k = keys();
        let txn = Transaction::new("T1", 1000, "Shop").unwrap();
        let f = fingerprint(&k, PasswordKind::First, &txn);
        let prev = record(f.clone());
        assert_eq!(stored_answer(&prev, &f).unwrap(), Verdict::Approved);
        for other in [
            fingerprint(&k, PasswordKind::Second, &txn),
            fingerprint(
                &k,
                PasswordKind::First,
                &Transaction::new("T1", 1001, "Shop").unwrap(),
            ),
            fingerprint(
                &k,
                PasswordKind::First,
                &Transaction::new("T1", 1000, "Shop2").unwrap(),
            ),
        ] {
            assert!(matches!(
                stored_answer(&prev, &other),
                Err(IssuerError::Txn(TxnRefusal::TxnConflict))
            ));
        }
    }

    #[test]
    fn a_row_of_the_old_format_conflicts_whatever_the_password() {
        let k = keys();
        let txn = Transaction::new("T1", 1000, "Shop").unwrap();
        // The old fingerprint, password inside, as rows written before hold it.
        let old = |password: &str| {
            k.code_mac(
                "txn",
                &[
                    b"first",
                    password.as_bytes(),
                    &1000i64.to_be_bytes(),
                    b"Shop",
                ],
            )
        };
        let prev = record(old("1234"));
        let f = fingerprint(&k, PasswordKind::First, &txn);
        assert_ne!(f.len(), prev.fingerprint.len());
        assert!(matches!(
            stored_answer(&prev, &f),
            Err(IssuerError::Txn(TxnRefusal::TxnConflict))
        ));
    }
}
