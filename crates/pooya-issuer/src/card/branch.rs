//! The branch's channel on the card: a customer's new mobile number (R12).

use super::record::CardRecord;
use super::service::Mode;
use crate::domain::Mobile;

impl CardRecord {
    /// R12: kills every credential issued on `old`; returns how many tokens died (app token and
    /// SMS service each count one).
    pub fn revoke_mobile(&mut self, old: &Mobile) -> u32 {
        let mut n = 0;
        if self.svc.token.as_ref().is_some_and(|t| &t.mobile == old) {
            self.svc.token = None;
            n += 1;
        }
        if self.svc.sms.as_ref().is_some_and(|s| &s.mobile == old) {
            self.svc.sms = None;
            n += 1;
        }
        if self
            .svc
            .activation
            .as_ref()
            .is_some_and(|a| &a.mobile == old)
        {
            self.svc.activation = None;
        }
        self.svc.txn_codes.retain(|c| &c.mobile != old);
        if self.svc.token.is_none()
            && self.svc.sms.is_none()
            && self.svc.activation.is_none()
            && self.svc.hardware.is_none()
        {
            self.svc.mode = Mode::None;
        }
        n
    }
}
