//! The card's dynamic service and the credentials it holds, as stored.

use serde::{Deserialize, Serialize};

use crate::domain::Mobile;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    None,
    App,
    Sms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Inactive,
    Pending,
    Active,
    Locked,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::App => "app",
            Mode::Sms => "sms",
        }
    }
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Inactive => "inactive",
            ServiceState::Pending => "pending",
            ServiceState::Active => "active",
            ServiceState::Locked => "locked",
        }
    }
}

/// An app activation started at an ATM and not yet completed by the app (R8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    pub id: String,
    /// The enrollment secret derived from (PAN, receipt code, SMS code), sealed.
    #[serde(with = "super::b64")]
    pub secret_sealed: Vec<u8>,
    /// The registered mobile the SMS code went to: the token will be bound to it (R12).
    pub mobile: Mobile,
    pub expires_at: i64,
    /// Enrollment runs left to start, from every address together
    /// (`policy.activation.max_tries_total`). The runs themselves are the store's
    /// (`crate::store::EnrollmentRunRecord`), so that one run never replaces another.
    pub tries_left: u32,
}

/// The app's token for this card: a seed shared with the holder's app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppToken {
    pub id: String,
    #[serde(with = "super::b64")]
    pub seed_sealed: Vec<u8>,
    /// The mobile number it was issued on (R12).
    pub mobile: Mobile,
    pub algorithm: String,
    pub step_secs: u32,
    pub first_digits: u8,
    pub second_digits: u8,
    /// R3: the last time step used per password kind; only later steps are accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_step_first: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_step_second: Option<u64>,
    pub issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal: Option<RemovalChallenge>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalChallenge {
    #[serde(with = "super::b64")]
    pub nonce: Vec<u8>,
    pub expires_at: i64,
}

/// The SMS channel of this card (R20, R21).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsService {
    pub mobile: Mobile,
    /// The fixed part's MAC, bound to the card ([`crate::keys::Keyring::card_code_mac`]).
    #[serde(with = "super::b64")]
    pub fixed_mac: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<VariablePart>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariablePart {
    /// The variable part's MAC, bound to the card ([`crate::keys::Keyring::card_code_mac`]).
    #[serde(with = "super::b64")]
    pub mac: Vec<u8>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used: bool,
}

/// R24: a second password issued by the unified SMS for one transaction of this card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnCode {
    /// The switch's transaction id (not secret).
    pub txn_id: String,
    /// Keyed MAC of the transaction: id, amount and merchant.
    #[serde(with = "super::b64")]
    pub binding: Vec<u8>,
    /// Keyed MAC of the code, bound to the card.
    #[serde(with = "super::b64")]
    pub mac: Vec<u8>,
    /// The registered mobile it went to (R12).
    pub mobile: Mobile,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used: bool,
}

/// The OTP algorithm of a hardware token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HardwareKind {
    Hotp,
    Totp,
}

/// A hardware token imported from a PSKC file: the card's second-password token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareToken {
    pub id: String,
    /// The token's serial number, as the file gives it.
    pub serial: String,
    pub kind: HardwareKind,
    /// The raw HMAC key, sealed under the keyring.
    #[serde(with = "super::b64")]
    pub key_sealed: Vec<u8>,
    pub algorithm: String,
    pub digits: u8,
    /// TOTP: the time step.
    pub step_secs: u32,
    /// HOTP: the next counter value expected.
    pub counter: u64,
    /// TOTP, R3: the last step used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_step: Option<u64>,
    /// HOTP: the counter of a code beyond the look-ahead, waiting for the code after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resync_counter: Option<u64>,
    pub imported_at: i64,
    /// The file's policy (RFC 6030 §5): no code is accepted before this instant (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// No code is accepted after this instant (unix ms, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
    /// `Policy/NumberOfTransactions`: how many more codes it may approve (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions_left: Option<u64>,
    /// The last of the `digits` the token shows is a Luhn check digit of the ones before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_digit: bool,
    /// TOTP: the token's clock minus the server's, in steps (`Data/TimeDrift`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drift_steps: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl HardwareToken {
    /// Whether the file's policy lets the token approve a code at `now`: inside its dates (both
    /// ends included) with transactions left. A refusal here is the token's, not the holder's
    /// (`Verdict::TokenNotValid`).
    pub fn usable_at(&self, now: i64) -> bool {
        self.not_before.is_none_or(|b| now >= b)
            && self.not_after.is_none_or(|a| now <= a)
            && self.transactions_left != Some(0)
    }
}

/// The card's dynamic-password service: the channel that serves its dynamic passwords and the
/// credential it holds, each state with exactly its data (the drawing of [`crate::card`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Service {
    /// No dynamic service: the static passwords serve (R10), unless R9 killed the second.
    #[default]
    None,
    /// R8: an app activation started at an ATM, waiting for the app's enrollment (R16). Shown
    /// pending while it is alive ([`Activation::alive`]); a dead one is shown none/inactive but
    /// kept until something replaces it, as a run begun with the right codes may still confirm.
    AppPending(Activation),
    /// R16: the app's token.
    App(AppToken),
    /// A hardware token from a PSKC file, serving the second password; the bank sees mode app.
    Hardware(HardwareToken),
    /// R20, R21: the SMS channel.
    Sms(SmsService),
    /// R5: too many wrong passwords. Every credential is dead and every password refused until
    /// the holder activates again at an ATM (or deactivates). It is shown under the mode it was
    /// locked in, or none once the customer's mobile changed (R12).
    Locked(Mode),
}

impl Service {
    /// The mode the bank sees, locked or not.
    pub fn mode(&self) -> Mode {
        match self {
            Service::None => Mode::None,
            Service::AppPending(_) | Service::App(_) | Service::Hardware(_) => Mode::App,
            Service::Sms(_) => Mode::Sms,
            Service::Locked(mode) => *mode,
        }
    }
}

impl Activation {
    /// Whether it can still be started on: in time, with runs left. One whose runs are used up is
    /// shown dead at once (issue 13), though its last run, begun with the right codes, may still
    /// be confirmed for `activation.enrollment_ttl_secs`.
    pub fn alive(&self, now: i64) -> bool {
        now < self.expires_at && self.tries_left > 0
    }
}

/// The mutable part of a card: its service, and what outlives a change of service. Stored as one
/// JSON document (the `svc` column) in the shape it always had: see `card/document.rs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicService {
    pub service: Service,
    /// R9: set when a dynamic second password becomes active, cleared only by an ATM
    /// deactivation: removing the app's token or a lock never brings the static one back.
    pub static_second_disabled: bool,
    /// R5: times (unix ms) of recent wrong passwords.
    pub failures: Vec<i64>,
    /// Times of recent wrong PINs at the ATM.
    pub pin_failures: Vec<i64>,
    /// R24: codes of the unified transaction SMS, newest last. They stand beside the service.
    pub txn_codes: Vec<TxnCode>,
    /// The PIN lock (`card::pin_lock`): times of recent wrong first passwords and wrong ATM PINs.
    /// No activation clears them.
    pub pin_lock_failures: Vec<i64>,
    /// Too many of those: every first password and every ATM operation is refused until a branch
    /// unlocks the PIN.
    pub pin_locked: bool,
}

impl DynamicService {
    /// The mode the bank sees, locked or not.
    pub fn mode(&self) -> Mode {
        self.service.mode()
    }

    /// R5: whether the service is locked.
    pub fn is_locked(&self) -> bool {
        matches!(self.service, Service::Locked(_))
    }

    /// The app activation waiting for the app, alive or dead.
    pub fn activation(&self) -> Option<&Activation> {
        match &self.service {
            Service::AppPending(a) => Some(a),
            _ => None,
        }
    }

    /// The app's token.
    pub fn token(&self) -> Option<&AppToken> {
        match &self.service {
            Service::App(t) => Some(t),
            _ => None,
        }
    }

    pub(super) fn token_mut(&mut self) -> Option<&mut AppToken> {
        match &mut self.service {
            Service::App(t) => Some(t),
            _ => None,
        }
    }

    /// The SMS channel.
    pub fn sms(&self) -> Option<&SmsService> {
        match &self.service {
            Service::Sms(s) => Some(s),
            _ => None,
        }
    }

    /// The hardware token.
    pub fn hardware(&self) -> Option<&HardwareToken> {
        match &self.service {
            Service::Hardware(h) => Some(h),
            _ => None,
        }
    }
}
