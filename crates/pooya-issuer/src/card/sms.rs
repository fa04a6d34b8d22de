//! The SMS channel on the card: variable parts requested by SMS (R21).

use zeroize::Zeroizing;

use super::record::CardRecord;
use super::service::{Service, VariablePart};
use crate::keys::{random_digits, CardCode, Keyring};
use crate::policy::Policy;

impl CardRecord {
    /// R21: a new variable part for an SMS-activated card, or `None` when the card has no live SMS
    /// service. The previous variable part dies.
    pub fn issue_variable_part(
        &mut self,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Option<(Zeroizing<String>, i64)> {
        if self.is_expired(now) {
            return None;
        }
        let Service::Sms(sms) = &mut self.svc.service else {
            return None;
        };
        let var = random_digits(usize::from(policy.sms.variable_part_digits));
        let expires_at = now + policy.lifetime_ms();
        sms.variable = Some(VariablePart {
            mac: keys.card_code_mac(CardCode::SmsVariable, &self.pan_hash, &var),
            issued_at: now,
            expires_at,
            used: false,
        });
        Some((var, expires_at))
    }

    /// R21 edge: whether the card's variable part was sent less than `sms.request_interval_secs`
    /// ago and is still unused and alive: a new request then issues and sends nothing.
    pub fn variable_part_recently_sent(&self, now: i64, policy: &Policy) -> bool {
        let interval = policy.sms.request_interval_secs as i64 * 1000;
        self.svc
            .sms()
            .and_then(|s| s.variable.as_ref())
            .is_some_and(|v| !v.used && now < v.expires_at && now - v.issued_at < interval)
    }
}
