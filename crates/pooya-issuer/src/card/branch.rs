//! The branch's channel on the card: a customer's new mobile number (R12).

use super::record::CardRecord;
use super::service::{Mode, Service};
use crate::domain::Mobile;

impl CardRecord {
    /// R12: kills every credential issued on `old`; returns how many tokens died (app token and
    /// SMS service each count one).
    pub fn revoke_mobile(&mut self, old: &Mobile) -> u32 {
        let (dies, tokens) = match &self.svc.service {
            Service::App(t) => (&t.mobile == old, 1),
            Service::Sms(s) => (&s.mobile == old, 1),
            Service::AppPending(a) => (&a.mobile == old, 0),
            // A hardware token was never issued on a number.
            Service::None | Service::Hardware(_) | Service::Locked(_) => (false, 0),
        };
        if dies {
            self.svc.service = Service::None;
        }
        // A locked service holds no credential of any number: it is shown under mode none.
        if let Service::Locked(mode) = &mut self.svc.service {
            *mode = Mode::None;
        }
        self.svc.txn_codes.retain(|c| &c.mobile != old);
        if dies {
            tokens
        } else {
            0
        }
    }
}
