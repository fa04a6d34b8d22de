//! A card as stored, and what it says of itself: its number's tail, expiry, mode and state.

use super::service::{DynamicService, Mode, ServiceState};
use crate::domain::{CustomerId, Expiry, Pan};
use crate::keys::Keyring;
use crate::policy::Policy;

/// The digits of the card number a request SMS may give (R21: the last 4; up to 8 to tell two
/// cards ending alike apart).
pub const PAN_TAIL_MIN: usize = 4;

pub const PAN_TAIL_MAX: usize = 8;

/// A card as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct CardRecord {
    pub pan_hash: String,
    pub pan_masked: String,
    pub last4: String,
    /// Keyed hashes of the last 5, 6, 7 and 8 digits of the number ([`Keyring::pan_tail_mac`]);
    /// empty for cards stored before they existed.
    pub tail_macs: Vec<Vec<u8>>,
    pub customer_id: CustomerId,
    pub expiry: Expiry,
    pub pin_hash: String,
    pub second_hash: String,
    pub second_blocked: bool,
    pub svc: DynamicService,
    pub created_at: i64,
    /// Bumped by every committed change; a commit names the version it read.
    pub version: i64,
}

impl std::fmt::Debug for CardRecord {
    /// The PIN's hash is of 4 digits only: never in Debug output, nor the second password's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardRecord")
            .field("pan_masked", &self.pan_masked)
            .field("customer_id", &self.customer_id)
            .field("expiry", &self.expiry)
            .field("pin_hash", &"[redacted]")
            .field("second_hash", &"[redacted]")
            .field("second_blocked", &self.second_blocked)
            .field("svc", &self.svc)
            .field("version", &self.version)
            .finish()
    }
}

/// The associated data binding a sealed value to its row: `pooya/v1/{kind}/{pan_hash}/{id}`.
pub(super) fn b64_aad(kind: &str, pan_hash: &str, id: &str) -> Vec<u8> {
    const PREFIX: &[u8] = b"pooya/v1/";
    // One allocation of the exact size (this runs on every verification).
    let mut aad = Vec::with_capacity(PREFIX.len() + kind.len() + pan_hash.len() + id.len() + 2);
    aad.extend_from_slice(PREFIX);
    aad.extend_from_slice(kind.as_bytes());
    aad.push(b'/');
    aad.extend_from_slice(pan_hash.as_bytes());
    aad.push(b'/');
    aad.extend_from_slice(id.as_bytes());
    aad
}

fn in_window(times: &[i64], now: i64, window_ms: i64) -> usize {
    times.iter().filter(|&&t| t > now - window_ms).count()
}

impl CardRecord {
    /// A new card with no dynamic service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pan: &Pan,
        pan_hash: String,
        customer_id: CustomerId,
        expiry: Expiry,
        pin_hash: String,
        second_hash: String,
        now: i64,
    ) -> CardRecord {
        CardRecord {
            pan_hash,
            pan_masked: pan.masked(),
            last4: pan.last4().to_owned(),
            tail_macs: Vec::new(),
            customer_id,
            expiry,
            pin_hash,
            second_hash,
            second_blocked: false,
            svc: DynamicService::default(),
            created_at: now,
            version: 0,
        }
    }

    /// Keeps the keyed hashes of the number's last 5 to 8 digits (R21: requests with more digits).
    pub fn set_pan_tails(&mut self, pan: &Pan, keys: &Keyring) {
        let d = pan.digits();
        self.tail_macs = (PAN_TAIL_MIN + 1..=PAN_TAIL_MAX)
            .map(|n| keys.pan_tail_mac(&self.pan_hash, &d[d.len() - n..]))
            .collect();
    }

    /// Whether the card's number ends in `digits` (4 to 8 ASCII digits).
    pub fn number_ends_with(&self, digits: &str, keys: &Keyring) -> bool {
        let n = digits.len();
        if !(PAN_TAIL_MIN..=PAN_TAIL_MAX).contains(&n) || !digits.ends_with(self.last4.as_str()) {
            return false;
        }
        if n == PAN_TAIL_MIN {
            return true;
        }
        self.tail_macs
            .get(n - PAN_TAIL_MIN - 1)
            .is_some_and(|m| pooya_otp::ct_eq(&keys.pan_tail_mac(&self.pan_hash, digits), m))
    }

    /// Whether the app activation can still be started on: in time, with tries left. One whose
    /// tries are used up is shown dead at once (issue 13), though its last run, begun with the
    /// right codes, may still be confirmed for `activation.enrollment_ttl_secs`.
    fn activation_alive(&self, now: i64) -> bool {
        self.svc
            .activation
            .as_ref()
            .is_some_and(|a| now < a.expires_at && a.tries_left > 0)
    }

    /// The mode and state as the bank sees them at `now`.
    pub fn effective(&self, now: i64) -> (Mode, ServiceState) {
        let s = &self.svc;
        let state = if s.locked {
            ServiceState::Locked
        } else if s.mode == Mode::App && (s.token.is_some() || s.hardware.is_some()) {
            ServiceState::Active
        } else if s.mode == Mode::App && self.activation_alive(now) {
            ServiceState::Pending
        } else if s.mode == Mode::Sms && s.sms.is_some() {
            ServiceState::Active
        } else {
            ServiceState::Inactive
        };
        // A dead app activation (expired, tries used up) leaves no service at all.
        let mode = if state == ServiceState::Inactive
            && s.token.is_none()
            && s.sms.is_none()
            && s.hardware.is_none()
        {
            Mode::None
        } else {
            s.mode
        };
        (mode, state)
    }

    pub fn recent_failures(&self, now: i64, policy: &Policy) -> usize {
        in_window(
            &self.svc.failures,
            now,
            policy.lockout.window_secs as i64 * 1000,
        )
    }

    pub(super) fn prune(&mut self, now: i64, policy: &Policy) {
        let w = policy.lockout.window_secs as i64 * 1000;
        self.svc.failures.retain(|&t| t > now - w);
        let pw = policy.pin.window_secs as i64 * 1000;
        self.svc.pin_failures.retain(|&t| t > now - pw);
        // A dead transaction code is remembered a while, to answer `expired_password` or
        // `replayed` rather than `wrong_password`.
        let keep = i64::from(policy.otp.skew_tolerance_secs) * 1000 + 10 * policy.lifetime_ms();
        self.svc.txn_codes.retain(|c| now < c.expires_at + keep);
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expiry.expires_at_ms()
    }
}
