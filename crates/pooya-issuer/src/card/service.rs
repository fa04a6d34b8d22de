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
    /// The fixed part's MAC, bound to the card ([`Keyring::card_code_mac`]).
    #[serde(with = "super::b64")]
    pub fixed_mac: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<VariablePart>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariablePart {
    /// The variable part's MAC, bound to the card ([`Keyring::card_code_mac`]).
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
}

/// The mutable part of a card, stored as one document (JSON, the `svc` column).
///
/// Absent optional values and an empty `txn_codes` are left out of the document rather than
/// written as `null` / `[]`: less to write and to read on every request. Readers, this code and
/// the code before it alike, take a missing optional field as `None` and a missing `txn_codes`
/// as empty, and documents with the `null`s (every row written before) read as they always did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicService {
    pub mode: Mode,
    pub locked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<AppToken>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsService>,
    pub static_second_disabled: bool,
    /// R5: times (unix ms) of recent wrong passwords.
    pub failures: Vec<i64>,
    /// Times of recent wrong PINs at the ATM.
    pub pin_failures: Vec<i64>,
    /// R24: codes of the unified transaction SMS, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub txn_codes: Vec<TxnCode>,
    /// A hardware token imported from a PSKC file (mode app, in place of `token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareToken>,
    /// The PIN lock (`card::pin_lock`): times of recent wrong first passwords and wrong ATM PINs.
    /// No activation clears them; absent from records written before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pin_lock_failures: Vec<i64>,
    /// Too many of those: every first password and every ATM operation is refused until a branch
    /// unlocks the PIN.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin_locked: bool,
}

impl Default for DynamicService {
    fn default() -> Self {
        DynamicService {
            mode: Mode::None,
            locked: false,
            activation: None,
            token: None,
            sms: None,
            static_second_disabled: false,
            failures: Vec::new(),
            pin_failures: Vec::new(),
            txn_codes: Vec::new(),
            hardware: None,
            pin_lock_failures: Vec::new(),
            pin_locked: false,
        }
    }
}
