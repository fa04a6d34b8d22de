//! The ATM's operations (`routes/atm.rs`): each begins with the PIN check, then activates the app
//! (R8) or the SMS channel (R20), deactivates (R10), or blocks the second password (R11).

use zeroize::Zeroizing;

use super::base::{Decided, Effects, Issuer};
use crate::audit::AuditEvent;
use crate::card::{AtmRefusal, CardRecord};
use crate::domain::{Digits, Mobile, Pan};
use crate::error::IssuerError;
use crate::messages;

pub struct AppActivationIssued {
    pub receipt_code: Zeroizing<String>,
    pub expires_at: i64,
}

pub struct SmsActivationIssued {
    pub fixed_part: Zeroizing<String>,
    pub receipt_text: Zeroizing<String>,
}

impl Issuer {
    /// The PIN check every ATM operation starts with; a wrong PIN is committed alone.
    fn atm_pin<T>(&self, card: &mut CardRecord, pin: &Digits, now: i64) -> Option<Decided<T>> {
        match card.check_atm_pin(pin, now, &self.policy, &self.keys) {
            Ok(()) => None,
            Err(r @ AtmRefusal::WrongPin { .. }) => {
                let mut e = Effects::default();
                // This wrong PIN was the one that locked it (`card::pin_lock`).
                let detail = if card.pin_locked() { "pin_locked" } else { "" };
                e.audit.push(self.audit(
                    now,
                    AuditEvent::AtmWrongPin,
                    Some(card),
                    detail.to_owned(),
                ));
                Some((Err(r.into()), Some(e)))
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
            e.audit.push(self.audit(
                now,
                AuditEvent::AtmMobileMismatch,
                Some(card),
                String::new(),
            ));
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
                .push(self.audit(now, AuditEvent::AtmActivateApp, Some(card), String::new()));
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
                .push(self.audit(now, AuditEvent::AtmActivateSms, Some(card), String::new()));
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
                .push(self.audit(now, AuditEvent::AtmDeactivate, Some(card), String::new()));
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
                .push(self.audit(now, AuditEvent::AtmBlockSecond, Some(card), String::new()));
            (Ok(()), Some(e))
        })
        .await
    }
}
