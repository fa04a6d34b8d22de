//! The ATM's channel on the card: activation of the app (R8) or the SMS channel (R20), and
//! deactivation (R10).

use zeroize::Zeroizing;

use super::record::{CardRecord, Sealed};
use super::service::{Activation, Service, SmsService};
use super::verdict::AtmRefusal;
use crate::domain::{Mobile, Pan};
use crate::keys::{random_digits, random_id, CardCode, Keyring};
use crate::policy::Policy;

/// The two codes of an app activation: one for the receipt, one for the SMS.
pub struct ActivationCodes {
    pub receipt_code: Zeroizing<String>,
    pub sms_code: Zeroizing<String>,
    pub expires_at: i64,
}

impl CardRecord {
    /// An ATM activation or deactivation, or a hardware token's import, replaces the card's
    /// service: the old one's credentials die (a lock with them), and so do the card's
    /// transaction codes and its failures (R5).
    pub(super) fn replace_service(&mut self, service: Service) {
        self.svc.service = service;
        self.svc.txn_codes.clear();
        self.svc.failures.clear();
    }

    /// R8: starts an app activation. `typed` must equal the registered mobile.
    pub fn activate_app(
        &mut self,
        pan: &Pan,
        registered: &Mobile,
        typed: &Mobile,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<ActivationCodes, AtmRefusal> {
        if registered != typed {
            return Err(AtmRefusal::MobileMismatch);
        }
        let a = &policy.activation;
        let receipt_code = random_digits(usize::from(a.receipt_code_digits));
        let sms_code = random_digits(usize::from(a.sms_code_digits));
        let secret = pooya_enroll::activation_secret(pan.digits(), &receipt_code, &sms_code);
        let id = random_id();
        let expires_at = now + a.ttl_secs as i64 * 1000;
        let sealed = keys.seal(
            &Sealed::Activation.aad(&self.pan_hash, &id),
            secret.as_bytes(),
        );
        self.replace_service(Service::AppPending(Activation {
            id,
            secret_sealed: sealed,
            mobile: registered.clone(),
            expires_at,
            tries_left: a.max_tries_total,
        }));
        Ok(ActivationCodes {
            receipt_code,
            sms_code,
            expires_at,
        })
    }

    /// R20: activates the SMS channel; returns the fixed part for the receipt.
    pub fn activate_sms(
        &mut self,
        registered: &Mobile,
        typed: &Mobile,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<Zeroizing<String>, AtmRefusal> {
        if registered != typed {
            return Err(AtmRefusal::MobileMismatch);
        }
        let fixed = random_digits(usize::from(policy.sms.fixed_part_digits));
        let fixed_mac = keys.card_code_mac(CardCode::SmsFixed, &self.pan_hash, &fixed);
        self.replace_service(Service::Sms(SmsService {
            mobile: registered.clone(),
            fixed_mac,
            variable: None,
        }));
        self.svc.static_second_disabled = true;
        Ok(fixed)
    }

    /// R10: back to the static passwords.
    pub fn deactivate(&mut self) {
        self.replace_service(Service::None);
        self.svc.static_second_disabled = false;
    }
}
