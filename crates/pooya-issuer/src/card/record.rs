//! A card as stored, and what it says of itself: its number's tail, expiry, mode and state.

use super::service::{DynamicService, Mode, Service, ServiceState};
use crate::domain::{CustomerId, Expiry, Pan};
use crate::keys::Keyring;
use crate::policy::Policy;

/// The digits of the card number a request SMS may give (R21: the last 4; up to 8 to tell two
/// cards ending alike apart).
pub const PAN_TAIL_MIN: usize = 4;
/// See [`PAN_TAIL_MIN`].
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

/// What a value sealed on the card is: its associated data names it, the card and its own id
/// (`pooya/v1/{kind}/{pan_hash}/{id}`), so a sealed value copied to another field, card or id
/// does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sealed {
    /// An app activation's enrollment secret (its id: the activation's).
    Activation,
    /// An enrollment run's SPAKE2 state (its id: the run's).
    Enrollment,
    /// An app token's seed (its id: the token's).
    Seed,
    /// A hardware token's key (its id: the token's).
    Hardware,
}

impl Sealed {
    /// The associated data of this kind of value for card `pan_hash` and id `id`.
    pub(super) fn aad(self, pan_hash: &str, id: &str) -> Vec<u8> {
        const PREFIX: &[u8] = b"pooya/v1/";
        let kind = match self {
            Sealed::Activation => "activation",
            Sealed::Enrollment => "enrollment",
            Sealed::Seed => "seed",
            Sealed::Hardware => "hardware",
        };
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

    /// The mode and state as the bank sees them at `now`.
    pub fn effective(&self, now: i64) -> (Mode, ServiceState) {
        match &self.svc.service {
            Service::Locked(mode) => (*mode, ServiceState::Locked),
            Service::App(_) | Service::Hardware(_) => (Mode::App, ServiceState::Active),
            Service::AppPending(a) if a.alive(now) => (Mode::App, ServiceState::Pending),
            Service::Sms(_) => (Mode::Sms, ServiceState::Active),
            // A dead app activation (expired, tries used up) leaves no service at all.
            Service::AppPending(_) | Service::None => (Mode::None, ServiceState::Inactive),
        }
    }

    /// The id of the app's token, if the card has one (the store looks cards up by it).
    pub fn token_id(&self) -> Option<&str> {
        self.svc.token().map(|t| t.id.as_str())
    }

    /// The service as stored: its JSON document (`card/document.rs`).
    pub fn service_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.svc)
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
