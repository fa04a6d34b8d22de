//! Administration (`routes/admin.rs`): the outbox at a glance, and PSKC import of hardware tokens.

use std::collections::{HashMap, HashSet};

use super::base::{Decision, Issuer};
use crate::audit::AuditEvent;
use crate::blocking;
use crate::card::{HardwareKey, HardwareKind};
use crate::domain::Pan;
use crate::error::IssuerError;
use crate::store::{Commit, OutboxStatus};

impl Issuer {
    /// The outbox at a glance, and the time it was read at (unix ms).
    pub async fn outbox_status(&self) -> Result<(OutboxStatus, i64), IssuerError> {
        let status = self.store.outbox_status().await?;
        Ok((status, self.clock.now_ms()))
    }

    /// PSKC import (`POST /v1/admin/pskc`): every OTP key of the file becomes the second-password
    /// token of the card its serial is assigned to, in one commit: all or nothing. Every key
    /// package needs an assignment and every assigned serial a key package; a card takes one
    /// token. An unknown card is [`IssuerError::UnknownCard`]; every other problem is
    /// [`IssuerError::InvalidPskc`], naming the key package (or serial) at fault.
    pub async fn import_pskc(
        &self,
        by: &crate::audit::Actor,
        xml: &str,
        secrets: &pooya_pskc::Secrets<'_>,
        assign: &[(String, Pan)],
    ) -> Result<usize, IssuerError> {
        // The card's hardware token enforces all of a key's usage (dates, transactions, check
        // digit, drift: `card/verify.rs`); what is beyond it the parser refuses.
        let honoured = pooya_pskc::Honoured::ALL;
        let keys = blocking::in_place(|| pooya_pskc::parse_honouring(xml, secrets, &honoured))
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
        let (targets, hashes) = (&targets, &hashes);
        self.commit_with_retry(|| async move {
            let now = self.clock.now_ms();
            let mut cards = Vec::with_capacity(targets.len());
            let mut audit = Vec::with_capacity(targets.len());
            for ((k, _), h) in targets.iter().zip(hashes) {
                let mut card = self.store.card(h).await?.ok_or(IssuerError::UnknownCard)?;
                let kind = match k.kind {
                    pooya_pskc::OtpKind::Hotp => HardwareKind::Hotp,
                    pooya_pskc::OtpKind::Totp => HardwareKind::Totp,
                };
                let hw = HardwareKey {
                    serial: &k.serial,
                    kind,
                    key: &k.secret,
                    algorithm: k.algorithm,
                    digits: k.digits,
                    step_secs: k.time_step,
                    counter: k.counter,
                    usage: k.usage,
                };
                card.install_hardware_token(&hw, now, &self.keys)
                    .map_err(|why| {
                        IssuerError::InvalidPskc(format!(
                            "key package {} (serial {}): {why}",
                            k.index, k.serial
                        ))
                    })?;
                let mut detail = format!(
                    "serial={} kind={} digits={} algorithm={}",
                    k.serial,
                    if kind == HardwareKind::Hotp {
                        "hotp"
                    } else {
                        "totp"
                    },
                    k.digits,
                    k.algorithm
                );
                // What the file's policy asks, as the token will enforce it.
                let u = &k.usage;
                if let Some(t) = u.not_before_ms {
                    detail.push_str(&format!(" start={}", crate::clock::rfc3339(t)));
                }
                if let Some(t) = u.not_after_ms {
                    detail.push_str(&format!(" expiry={}", crate::clock::rfc3339(t)));
                }
                if let Some(n) = u.number_of_transactions {
                    detail.push_str(&format!(" transactions={n}"));
                }
                if u.check_digit {
                    detail.push_str(" check_digit");
                }
                if u.time_drift_steps != 0 {
                    detail.push_str(&format!(" drift_steps={}", u.time_drift_steps));
                }
                audit.push(
                    self.audit(now, AuditEvent::AdminPskcImport, Some(&card), detail)
                        .by(by),
                );
                cards.push(card);
            }
            let commit = Commit {
                cards,
                audit,
                ..Commit::default()
            };
            Ok(Decision::Commit(commit, Ok(targets.len())))
        })
        .await
    }
}
