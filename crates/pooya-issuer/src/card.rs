//! A card and its dynamic-password service: the state machine of the issuer.
//!
//! ```text
//!                      ATM activate-app (R8)            app enrollment confirmed (R16)
//!   ┌──────────────┐ ───────────────────────▶ ┌─────────────┐ ─────────────────────▶ ┌────────────┐
//!   │ none/inactive│                          │ app/pending │                        │ app/active │
//!   └──────────────┘ ◀─────────────────────── └─────────────┘                        └────────────┘
//!      ▲   │      activation expired (24 h) or its 30 runs used up                     │
//!      │   │                                                                           │
//!      │   │ ATM activate-sms (R20)           ┌────────────┐                           │
//!      │   └────────────────────────────────▶ │ sms/active │                           │
//!      │                                      └────────────┘                           │
//!      │                                            │  5 wrong passwords in 24 h (R5)  │
//!      │                                            ▼                                  ▼
//!      │                                      ┌─────────────────────────────────────────┐
//!      │                                      │ mode/locked: token or fixed part dead;  │
//!      │                                      │ every password refused (75) until the   │
//!      │                                      │ holder activates again at an ATM        │
//!      │                                      └─────────────────────────────────────────┘
//!      │ ATM deactivate (R10), from any state: static second password works again
//!      │ app removes its token, or the customer's mobile changes (R12): token dead
//!   any state ── ATM activate-app / activate-sms ──▶ replaces everything: old token, codes and
//!                                                    fixed part die, failures reset (R5, API.md)
//!
//!   any state but locked ── switch otp-request (R24) ──▶ the same state, plus one transaction code
//!     (refused for a blocked second password or an expired card)
//!
//!   transaction code:  issued ─┬─ verify of its own transaction ──▶ used (used again: replayed)
//!                              ├─ verify of another transaction ──▶ wrong_transaction; stays
//!                              ├─ lifetime passed ──▶ expired (expired_password), forgotten later
//!                              └─ same otp-request after sms.request_interval_secs ──▶ replaced
//!   every transaction code dies with a lock, an ATM activation or deactivation, or a change of
//!   the mobile number it was sent to (R12)
//! ```
//!
//! Second passwords a `verify` of kind second accepts, tried in this order:
//! 1. a transaction code (R24), whatever the mode: typed for its own transaction (same id, amount
//!    and merchant) it approves once within its lifetime; typed for any other transaction it is
//!    `wrong_transaction`, used it is `replayed`, late it is `expired_password` — each a failure
//!    (R5). A transaction code is `otp.second_digits` (8) random digits sent to the registered
//!    mobile, kept only as a keyed MAC bound to the card and the transaction; it stands beside
//!    the app's token or the SMS channel's fixed and variable parts and replaces neither;
//! 2. the card's own channel: the app token's code (mode app) or fixed part + variable part
//!    (mode sms);
//! 3. the static second password, where no dynamic service ever disabled it (R9).
//!
//! Hardware tokens (PSKC import, `POST /v1/admin/pskc`): from any state, an import replaces the
//! card's service like an ATM activation does and leaves it `app/active` with a
//! [`HardwareToken`] in place of the app's token. Its key is used exactly as the file gives it
//! (standard RFC 4226 / RFC 6238 codes of the file's digits, algorithm and time step; no
//! derivation) and serves the *second* password only; the first password of such a card is the
//! static PIN. TOTP: the server's skew tolerance, each step once. HOTP: a code among the next
//! `hardware.hotp_look_ahead` counter values is accepted and moves the counter past it; a code
//! further on, within `hardware.hotp_resync_window`, is refused (`wrong_password`, a failure) but
//! remembered, and when the very next second-password verification brings the code that follows
//! it, that one is approved and the counter resynchronised (two consecutive codes). A lock (R5)
//! or an ATM activation or deactivation kills the hardware token like any token; a change of
//! mobile number (R12) does not, as the token was never issued on a number.
//!
//! Beside the service, two flags: `second_blocked` (R11: the holder blocked the second password at
//! an ATM; only a branch unblocks) and `static_second_disabled` (R9: set when the dynamic second
//! password becomes active, cleared only by an ATM deactivation, so removing the app's token or a
//! lock never brings the phishable static password back). And the PIN lock (`card/pin_lock.rs`):
//! too many wrong first passwords and ATM PINs over weeks refuse the 4 digits until a branch
//! lifts it.
//!
//! Every function here is a pure decision over the record and a time `now` (unix ms): it mutates a
//! copy that the issuer then commits with a version check, so two servers deciding at once cannot
//! both win.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::domain::{CustomerId, Digits, Expiry, Mobile, Pan, PasswordKind, Transaction};
use crate::keys::{random_bytes, random_digits, random_id, CardCode, Keyring, StaticSecret};
use crate::policy::Policy;

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
    #[serde(with = "b64")]
    pub secret_sealed: Vec<u8>,
    /// The registered mobile the SMS code went to: the token will be bound to it (R12).
    pub mobile: Mobile,
    pub expires_at: i64,
    /// Enrollment runs left to start, from every address together
    /// (`policy.activation.max_tries_total`). The runs themselves are the store's
    /// (`crate::store::EnrollmentRunRecord`), so that one run never replaces another.
    pub tries_left: u32,
}

/// What a run against a live activation keeps until its confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRun {
    /// The activation it runs against: a new activation leaves it nothing to confirm.
    pub activation_id: String,
    /// The server's SPAKE2 state (`PendingEnrollment`), sealed to the card and the run's id.
    pub pending_sealed: Vec<u8>,
    /// The code lifetime the holder asked for.
    pub lifetime_secs: u32,
}

/// The app's token for this card: a seed shared with the holder's app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppToken {
    pub id: String,
    #[serde(with = "b64")]
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
    #[serde(with = "b64")]
    pub nonce: Vec<u8>,
    pub expires_at: i64,
}

/// The SMS channel of this card (R20, R21).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsService {
    pub mobile: Mobile,
    /// The fixed part's MAC, bound to the card ([`Keyring::card_code_mac`]).
    #[serde(with = "b64")]
    pub fixed_mac: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<VariablePart>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariablePart {
    /// The variable part's MAC, bound to the card ([`Keyring::card_code_mac`]).
    #[serde(with = "b64")]
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
    #[serde(with = "b64")]
    pub binding: Vec<u8>,
    /// Keyed MAC of the code, bound to the card.
    #[serde(with = "b64")]
    pub mac: Vec<u8>,
    /// The registered mobile it went to (R12).
    pub mobile: Mobile,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used: bool,
}

/// What an otp-request decided (R24).
pub enum TxnCodeIssue {
    /// A new code: the SMS must go out.
    Issued {
        code: Zeroizing<String>,
        expires_at: i64,
    },
    /// The same transaction asked again within `sms.request_interval_secs` while its code is
    /// unused and alive: nothing new, nothing sent.
    AlreadySent { expires_at: i64 },
}

/// Why an otp-request is refused (R24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnRefusal {
    SecondPasswordBlocked,
    Locked,
    ExpiredCard,
    /// The transaction id was already used with another amount or merchant.
    TxnConflict,
    /// The transaction's code was already used: the transaction is decided.
    AlreadyVerified,
}

/// The most transaction codes a card keeps; a new one beyond pushes out the oldest.
pub const MAX_TXN_CODES: usize = 10;

/// The digits of the card number a request SMS may give (R21: the last 4; up to 8 to tell two
/// cards ending alike apart).
pub const PAN_TAIL_MIN: usize = 4;
pub const PAN_TAIL_MAX: usize = 8;

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
    #[serde(with = "b64")]
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

/// What an import installs on a card: the key as the file gives it.
pub struct HardwareKey<'a> {
    pub serial: &'a str,
    pub kind: HardwareKind,
    pub key: &'a [u8],
    pub algorithm: &'a str,
    pub digits: u8,
    pub step_secs: u32,
    pub counter: u64,
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

/// What a verification decided: ISO 8583 response code and reason (API.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    UnknownCard,
    ExpiredCard,
    WrongPassword,
    Replayed,
    ExpiredPassword,
    StaticPasswordDisabled,
    WrongTransaction,
    SecondPasswordBlocked,
    Locked,
}

impl Verdict {
    pub fn approved(self) -> bool {
        self == Verdict::Approved
    }
    pub fn response_code(self) -> &'static str {
        match self {
            Verdict::Approved => "00",
            Verdict::UnknownCard => "14",
            Verdict::ExpiredCard => "54",
            Verdict::WrongPassword
            | Verdict::Replayed
            | Verdict::ExpiredPassword
            | Verdict::StaticPasswordDisabled
            | Verdict::WrongTransaction => "55",
            Verdict::SecondPasswordBlocked => "57",
            Verdict::Locked => "75",
        }
    }
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::UnknownCard => "unknown_card",
            Verdict::ExpiredCard => "expired_card",
            Verdict::WrongPassword => "wrong_password",
            Verdict::Replayed => "replayed",
            Verdict::ExpiredPassword => "expired_password",
            Verdict::StaticPasswordDisabled => "static_password_disabled",
            Verdict::WrongTransaction => "wrong_transaction",
            Verdict::SecondPasswordBlocked => "second_password_blocked",
            Verdict::Locked => "locked",
        }
    }
    pub fn parse(code: &str, reason: &str) -> Option<Verdict> {
        [
            Verdict::Approved,
            Verdict::UnknownCard,
            Verdict::ExpiredCard,
            Verdict::WrongPassword,
            Verdict::Replayed,
            Verdict::ExpiredPassword,
            Verdict::StaticPasswordDisabled,
            Verdict::WrongTransaction,
            Verdict::SecondPasswordBlocked,
            Verdict::Locked,
        ]
        .into_iter()
        .find(|v| v.response_code() == code && v.reason() == reason)
    }
}

/// Refusals of the ATM channel, before anything else is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtmRefusal {
    ExpiredCard,
    /// The PIN lock: only a branch lifts it (`card::pin_lock`).
    PinLocked,
    PinTriesExceeded,
    /// The PIN was wrong: the caller must still commit the record (the failed try is counted).
    WrongPin,
    MobileMismatch,
}

/// Refusals of the app's enrollment and removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppRefusal {
    NoPendingActivation,
    ActivationExpired,
    ActivationExhausted,
    InvalidLifetime,
    MalformedMessage,
    /// The codes were wrong (or the run's activation is gone): nothing changed.
    WrongActivationCodes,
    UnknownToken,
    ChallengeExpired,
    BadProof,
}

/// The two codes of an app activation: one for the receipt, one for the SMS.
pub struct ActivationCodes {
    pub receipt_code: Zeroizing<String>,
    pub sms_code: Zeroizing<String>,
    pub expires_at: i64,
}

/// A run begun against the card's live activation: the server's answer and what the run keeps.
pub struct EnrollStarted {
    pub enrollment_id: String,
    pub msg: Vec<u8>,
    pub confirm: Vec<u8>,
    pub run: LiveRun,
}

/// Keyed MAC of what binds a transaction code: the transaction's id, amount and merchant.
fn txn_binding(txn: &Transaction, keys: &Keyring) -> Vec<u8> {
    keys.code_mac(
        "txn-binding",
        &[
            txn.id.as_bytes(),
            &txn.amount.rials().to_be_bytes(),
            txn.merchant.as_bytes(),
        ],
    )
}

/// The associated data binding a sealed value to its row: `pooya/v1/{kind}/{pan_hash}/{id}`.
fn b64_aad(kind: &str, pan_hash: &str, id: &str) -> Vec<u8> {
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

/// R3, R19: the TOTP decision over the steps the verifier accepts at `now` with tolerance `tol`
/// (ms): `Ok(step)`, the typed code is the code of `step`, later than `last` (the last step
/// used); otherwise `Replayed` (the code of a step not after `last`), `ExpiredPassword` (the
/// code of one of the ten steps before the window) or `WrongPassword`. Every step of the window
/// is looked at, no early exit: the time taken says nothing. `key` is keyed once for all steps.
fn decide_totp(
    totp: &pooya_otp::Totp,
    key: &pooya_otp::HotpKey,
    typed: &str,
    now: i64,
    tol: i64,
    last: Option<u64>,
) -> Result<u64, Verdict> {
    let window = totp.accepted_steps(now, tol);
    let mut verdict = Err(Verdict::WrongPassword);
    for step in window.clone() {
        if totp.code_at_step_with(key, step).matches(typed) {
            verdict = if last.is_some_and(|l| step <= l) {
                Err(Verdict::Replayed)
            } else {
                Ok(step)
            };
        }
    }
    if verdict == Err(Verdict::WrongPassword) {
        // A code of one of the last ten steps before the window: expired, not merely wrong.
        let low = *window.start();
        for step in low.saturating_sub(10)..low {
            if totp.code_at_step_with(key, step).matches(typed) {
                verdict = if last.is_some_and(|l| step <= l) {
                    Err(Verdict::Replayed)
                } else {
                    Err(Verdict::ExpiredPassword)
                };
            }
        }
    }
    verdict
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

    /// The card's service document as stored (JSON, the `svc` column).
    pub fn service_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&self.svc)
    }

    /// The id of the card's app token, if it holds one (the stored `token_id`, unique).
    pub fn token_id(&self) -> Option<&str> {
        self.svc.token.as_ref().map(|t| t.id.as_str())
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

    fn prune(&mut self, now: i64, policy: &Policy) {
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

    /// The live app token and its `kind` password key, keyed for its algorithm (only the key of
    /// that kind is derived from the seed).
    fn token_otp(
        &self,
        kind: PasswordKind,
        keys: &Keyring,
    ) -> Option<(pooya_otp::HotpKey, &AppToken, pooya_otp::Algorithm)> {
        let t = self.svc.token.as_ref()?;
        if self.svc.mode != Mode::App || self.svc.locked {
            return None;
        }
        let seed = keys
            .open(&b64_aad("seed", &self.pan_hash, &t.id), &t.seed_sealed)
            .ok()?;
        let alg = t.algorithm.parse().ok()?;
        let info = match kind {
            PasswordKind::First => pooya_otp::FIRST_PASSWORD_INFO,
            PasswordKind::Second => pooya_otp::SECOND_PASSWORD_INFO,
        };
        let key = pooya_otp::derive_password_key(&seed, info);
        Some((pooya_otp::HotpKey::new(key.as_bytes(), alg), t, alg))
    }

    /// Checks a dynamic code of the app token. `Ok(Some(step))`: matches an unused step in the
    /// window; `Err(verdict)`: replayed, expired or wrong; `Ok(None)`: the card has no live token.
    fn check_token_code(
        &self,
        kind: PasswordKind,
        typed: &str,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<Option<u64>, Verdict> {
        let Some((key, t, alg)) = self.token_otp(kind, keys) else {
            return Ok(None);
        };
        let (digits, last) = match kind {
            PasswordKind::First => (t.first_digits, t.last_step_first),
            PasswordKind::Second => (t.second_digits, t.last_step_second),
        };
        let Ok(digits) = pooya_otp::Digits::new(digits) else {
            return Err(Verdict::WrongPassword);
        };
        let Ok(totp) = pooya_otp::Totp::new(t.step_secs, digits, alg) else {
            return Err(Verdict::WrongPassword);
        };
        if typed.len() != usize::from(digits.get()) {
            return Err(Verdict::WrongPassword);
        }
        let tol = i64::from(policy.otp.skew_tolerance_secs) * 1000;
        decide_totp(&totp, &key, typed, now, tol, last).map(Some)
    }

    fn static_second_matches(&self, typed: &str, keys: &Keyring) -> bool {
        (5..=12).contains(&typed.len())
            && crate::issuer::heavy(|| {
                keys.static_matches(
                    StaticSecret::SecondPassword,
                    &self.pan_hash,
                    typed,
                    &self.second_hash,
                )
            })
    }

    fn static_pin_matches(&self, typed: &str, keys: &Keyring) -> bool {
        typed.len() == 4
            && crate::issuer::heavy(|| {
                keys.static_matches(StaticSecret::Pin, &self.pan_hash, typed, &self.pin_hash)
            })
    }

    /// A verification that names no transaction: no transaction code approves it.
    pub fn verify(
        &mut self,
        kind: PasswordKind,
        typed: &Digits,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Verdict {
        self.verify_for(kind, typed, None, now, policy, keys)
    }

    /// R1, R3, R5, R9, R11, R21, R24: decides a verification of `txn` and records its effect on
    /// the card.
    pub fn verify_for(
        &mut self,
        kind: PasswordKind,
        typed: &Digits,
        txn: Option<&Transaction>,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Verdict {
        if kind == PasswordKind::Second && self.second_blocked {
            return Verdict::SecondPasswordBlocked;
        }
        if self.svc.locked || (kind == PasswordKind::First && self.svc.pin_locked) {
            return Verdict::Locked;
        }
        if self.is_expired(now) {
            return Verdict::ExpiredCard;
        }
        self.prune(now, policy);
        let typed = typed.as_str();
        let verdict = match kind {
            PasswordKind::First => self.decide_first(typed, now, policy, keys),
            PasswordKind::Second => self.decide_second(typed, txn, now, policy, keys),
        };
        if !verdict.approved() {
            self.record_failure(now, policy);
        }
        // A guess of the 4 digits is wrong, not late or used: those are the holder's slips.
        if kind == PasswordKind::First && verdict == Verdict::WrongPassword {
            self.record_pin_lock_failure(now, policy);
        }
        verdict
    }

    fn record_failure(&mut self, now: i64, policy: &Policy) {
        self.svc.failures.push(now);
        if self.recent_failures(now, policy) >= policy.lockout.max_failures as usize {
            // R5: the service is disabled; the holder starts again at an ATM.
            self.svc.locked = true;
            self.svc.token = None;
            self.svc.hardware = None;
            self.svc.sms = None;
            self.svc.activation = None;
            self.svc.txn_codes.clear();
        }
    }

    fn decide_first(&mut self, typed: &str, now: i64, policy: &Policy, keys: &Keyring) -> Verdict {
        let dynamic = self.check_token_code(PasswordKind::First, typed, now, policy, keys);
        if let Ok(Some(step)) = dynamic {
            if let Some(t) = self.svc.token.as_mut() {
                t.last_step_first = Some(step);
            }
            return Verdict::Approved;
        }
        let has_dynamic = dynamic.is_err();
        if (!has_dynamic || policy.otp.static_pin_with_dynamic)
            && self.static_pin_matches(typed, keys)
        {
            return Verdict::Approved;
        }
        match dynamic {
            Err(v) => v,
            Ok(_) => Verdict::WrongPassword,
        }
    }

    fn decide_second(
        &mut self,
        typed: &str,
        txn: Option<&Transaction>,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Verdict {
        if let Some(v) = self.check_txn_code(typed, txn, now, policy, keys) {
            return v;
        }
        let s = &self.svc;
        if s.mode == Mode::App && s.hardware.is_some() {
            match self.check_hardware_code(typed, now, policy, keys) {
                Ok(()) => return Verdict::Approved,
                Err(Verdict::WrongPassword) => {}
                Err(v) => return v,
            }
        } else if s.mode == Mode::App && s.token.is_some() {
            match self.check_token_code(PasswordKind::Second, typed, now, policy, keys) {
                Ok(Some(step)) => {
                    if let Some(t) = self.svc.token.as_mut() {
                        t.last_step_second = Some(step);
                    }
                    return Verdict::Approved;
                }
                Ok(None) | Err(Verdict::WrongPassword) => {}
                Err(v) => return v,
            }
        } else if s.mode == Mode::Sms && s.sms.is_some() {
            match self.check_sms_password(typed, now, policy, keys) {
                Ok(()) => return Verdict::Approved,
                Err(Verdict::WrongPassword) => {}
                Err(v) => return v,
            }
        } else if !s.static_second_disabled {
            return if self.static_second_matches(typed, keys) {
                Verdict::Approved
            } else {
                Verdict::WrongPassword
            };
        }
        // R9: the dynamic service is (or was) active: the static second password is dead.
        if self.static_second_matches(typed, keys) {
            Verdict::StaticPasswordDisabled
        } else {
            Verdict::WrongPassword
        }
    }

    /// R24: a typed password that is one of the card's transaction codes is decided here, and
    /// only here (`None`: it is none of them).
    fn check_txn_code(
        &mut self,
        typed: &str,
        txn: Option<&Transaction>,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Option<Verdict> {
        if self.svc.txn_codes.is_empty() {
            return None;
        }
        let mac = keys.code_mac("txn-code", &[self.pan_hash.as_bytes(), typed.as_bytes()]);
        // Every entry is compared (no early exit: the time taken says nothing).
        let mut hit = None;
        for (i, c) in self.svc.txn_codes.iter().enumerate() {
            if pooya_otp::ct_eq(&c.mac, &mac) {
                hit = Some(i);
            }
        }
        let c = &mut self.svc.txn_codes[hit?];
        let same_txn = txn.is_some_and(|t| pooya_otp::ct_eq(&txn_binding(t, keys), &c.binding));
        let tol = i64::from(policy.otp.skew_tolerance_secs) * 1000;
        Some(if c.used {
            Verdict::Replayed
        } else if !same_txn {
            Verdict::WrongTransaction
        } else if now >= c.expires_at + tol {
            Verdict::ExpiredPassword
        } else {
            c.used = true;
            Verdict::Approved
        })
    }

    /// R24: a code for one transaction of this card, to send to `mobile` (the registered one).
    /// Asked again for the same transaction within `sms.request_interval_secs` while its code is
    /// unused and alive, it issues nothing new; later, a new code replaces the old one.
    pub fn issue_txn_code(
        &mut self,
        txn: &Transaction,
        mobile: &Mobile,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<TxnCodeIssue, TxnRefusal> {
        if self.second_blocked {
            return Err(TxnRefusal::SecondPasswordBlocked);
        }
        if self.svc.locked {
            return Err(TxnRefusal::Locked);
        }
        if self.is_expired(now) {
            return Err(TxnRefusal::ExpiredCard);
        }
        self.prune(now, policy);
        let binding = txn_binding(txn, keys);
        if let Some(c) = self.svc.txn_codes.iter().find(|c| c.txn_id == txn.id) {
            if !pooya_otp::ct_eq(&c.binding, &binding) {
                return Err(TxnRefusal::TxnConflict);
            }
            if c.used {
                return Err(TxnRefusal::AlreadyVerified);
            }
            let interval = policy.sms.request_interval_secs as i64 * 1000;
            if now < c.expires_at && now - c.issued_at < interval && &c.mobile == mobile {
                return Ok(TxnCodeIssue::AlreadySent {
                    expires_at: c.expires_at,
                });
            }
        }
        self.svc.txn_codes.retain(|c| c.txn_id != txn.id);
        let digits = usize::from(policy.otp.second_digits);
        let (code, mac) = loop {
            let code = random_digits(digits);
            let mac = keys.code_mac("txn-code", &[self.pan_hash.as_bytes(), code.as_bytes()]);
            // Two live codes of one card never share a value.
            if !self.svc.txn_codes.iter().any(|c| c.mac == mac) {
                break (code, mac);
            }
        };
        let expires_at = now + policy.lifetime_ms();
        self.svc.txn_codes.push(TxnCode {
            txn_id: txn.id.clone(),
            binding,
            mac,
            mobile: mobile.clone(),
            issued_at: now,
            expires_at,
            used: false,
        });
        if self.svc.txn_codes.len() > MAX_TXN_CODES {
            let excess = self.svc.txn_codes.len() - MAX_TXN_CODES;
            self.svc.txn_codes.drain(..excess);
        }
        Ok(TxnCodeIssue::Issued { code, expires_at })
    }

    /// R21 edge: whether the card's variable part was sent less than `sms.request_interval_secs`
    /// ago and is still unused and alive: a new request then issues and sends nothing.
    pub fn variable_part_recently_sent(&self, now: i64, policy: &Policy) -> bool {
        let interval = policy.sms.request_interval_secs as i64 * 1000;
        self.svc
            .sms
            .as_ref()
            .and_then(|s| s.variable.as_ref())
            .is_some_and(|v| !v.used && now < v.expires_at && now - v.issued_at < interval)
    }

    /// PSKC import: the hardware token becomes the card's second-password token; the card's
    /// service is replaced as by an ATM activation and becomes app/active (API.md), and the static
    /// second password dies (R9). The key is checked to make codes before anything changes.
    pub fn install_hardware_token(
        &mut self,
        hw: &HardwareKey<'_>,
        now: i64,
        keys: &Keyring,
    ) -> Result<(), String> {
        let alg: pooya_otp::Algorithm = hw
            .algorithm
            .parse()
            .map_err(|_| format!("unknown algorithm {:?}", hw.algorithm))?;
        let digits = pooya_otp::Digits::new(hw.digits)
            .map_err(|_| format!("{} digits (4 to 10)", hw.digits))?;
        if hw.kind == HardwareKind::Totp {
            pooya_otp::Totp::new(hw.step_secs, digits, alg)
                .map_err(|_| format!("time step {} s", hw.step_secs))?;
        }
        if hw.key.is_empty() {
            return Err("an empty key".into());
        }
        let id = random_id();
        let key_sealed = keys.seal(&b64_aad("hardware", &self.pan_hash, &id), hw.key);
        self.reset_service();
        self.svc.mode = Mode::App;
        self.svc.static_second_disabled = true;
        self.svc.hardware = Some(HardwareToken {
            id,
            serial: hw.serial.to_owned(),
            kind: hw.kind,
            key_sealed,
            algorithm: alg.as_str().to_owned(),
            digits: hw.digits,
            step_secs: if hw.kind == HardwareKind::Totp {
                hw.step_secs
            } else {
                0
            },
            counter: hw.counter,
            last_step: None,
            resync_counter: None,
            imported_at: now,
        });
        Ok(())
    }

    /// A second password of the card's hardware token (see the module doc).
    fn check_hardware_code(
        &mut self,
        typed: &str,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<(), Verdict> {
        let Some(h) = self.svc.hardware.as_mut() else {
            return Err(Verdict::WrongPassword);
        };
        let Ok(raw) = keys.open(&b64_aad("hardware", &self.pan_hash, &h.id), &h.key_sealed) else {
            return Err(Verdict::WrongPassword);
        };
        let (Ok(alg), Ok(digits)) = (
            h.algorithm.parse::<pooya_otp::Algorithm>(),
            pooya_otp::Digits::new(h.digits),
        ) else {
            return Err(Verdict::WrongPassword);
        };
        // Keyed once for every counter or step looked at; `raw` is zeroized on drop.
        let key = pooya_otp::HotpKey::new(&raw, alg);
        drop(raw);
        if typed.len() != usize::from(digits.get()) {
            return Err(Verdict::WrongPassword);
        }
        match h.kind {
            HardwareKind::Totp => {
                let Ok(totp) = pooya_otp::Totp::new(h.step_secs, digits, alg) else {
                    return Err(Verdict::WrongPassword);
                };
                let tol = i64::from(policy.otp.skew_tolerance_secs) * 1000;
                let step = decide_totp(&totp, &key, typed, now, tol, h.last_step)?;
                h.last_step = Some(step);
                Ok(())
            }
            HardwareKind::Hotp => {
                let code = |c: u64| key.code(c, digits);
                let look = u64::from(policy.hardware.hotp_look_ahead);
                let resync = u64::from(policy.hardware.hotp_resync_window);
                // The second of two consecutive codes beyond the window: resynchronised.
                if let Some(r) = h.resync_counter.take() {
                    let next = r.saturating_add(1);
                    if next >= h.counter && code(next).matches(typed) {
                        h.counter = next.saturating_add(1);
                        return Ok(());
                    }
                }
                let start = h.counter;
                let mut hit = None;
                for c in start..start.saturating_add(look) {
                    if code(c).matches(typed) && hit.is_none() {
                        hit = Some(c);
                    }
                }
                if let Some(c) = hit {
                    h.counter = c.saturating_add(1);
                    return Ok(());
                }
                let mut replayed = false;
                for c in start.saturating_sub(look)..start {
                    replayed |= code(c).matches(typed);
                }
                if replayed {
                    return Err(Verdict::Replayed);
                }
                let mut far = None;
                for c in start.saturating_add(look)..start.saturating_add(resync) {
                    if code(c).matches(typed) && far.is_none() {
                        far = Some(c);
                    }
                }
                h.resync_counter = far;
                Err(Verdict::WrongPassword)
            }
        }
    }

    /// R21: the SMS password is the fixed part then the variable part.
    fn check_sms_password(
        &mut self,
        typed: &str,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<(), Verdict> {
        let fixed_len = usize::from(policy.sms.fixed_part_digits);
        let var_len = usize::from(policy.sms.variable_part_digits);
        let Some(sms) = self.svc.sms.as_mut() else {
            return Err(Verdict::WrongPassword);
        };
        if typed.len() != fixed_len + var_len {
            return Err(Verdict::WrongPassword);
        }
        let (fixed, var) = typed.split_at(fixed_len);
        let fixed_mac = keys.card_code_mac(CardCode::SmsFixed, &self.pan_hash, fixed);
        let fixed_ok = pooya_otp::ct_eq(&fixed_mac, &sms.fixed_mac);
        let Some(v) = sms.variable.as_mut() else {
            return Err(Verdict::WrongPassword);
        };
        let var_mac = keys.card_code_mac(CardCode::SmsVariable, &self.pan_hash, var);
        let var_ok = pooya_otp::ct_eq(&var_mac, &v.mac);
        if !(fixed_ok && var_ok) {
            return Err(Verdict::WrongPassword);
        }
        if v.used {
            return Err(Verdict::Replayed);
        }
        let tol = i64::from(policy.otp.skew_tolerance_secs) * 1000;
        if now >= v.expires_at + tol {
            return Err(Verdict::ExpiredPassword);
        }
        v.used = true;
        Ok(())
    }

    /// The ATM's first check (API.md): the static PIN, or a dynamic first password where the card
    /// has one. A wrong PIN is counted apart from R5 failures.
    pub fn check_atm_pin(
        &mut self,
        pin: &Digits,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<(), AtmRefusal> {
        if self.is_expired(now) {
            return Err(AtmRefusal::ExpiredCard);
        }
        if self.svc.pin_locked {
            return Err(AtmRefusal::PinLocked);
        }
        self.prune(now, policy);
        if self.svc.pin_failures.len() >= policy.pin.max_tries as usize {
            return Err(AtmRefusal::PinTriesExceeded);
        }
        let typed = pin.as_str();
        let dynamic = self.check_token_code(PasswordKind::First, typed, now, policy, keys);
        if let Ok(Some(step)) = dynamic {
            if let Some(t) = self.svc.token.as_mut() {
                t.last_step_first = Some(step);
            }
            return Ok(());
        }
        // R9 note: beside a live dynamic first password the static PIN works unless the bank's
        // policy says otherwise; without one (never enrolled, locked) it is the only way in.
        let static_allowed = dynamic.is_ok() || policy.otp.static_pin_with_dynamic;
        if static_allowed && self.static_pin_matches(typed, keys) {
            return Ok(());
        }
        self.svc.pin_failures.push(now);
        self.record_pin_lock_failure(now, policy);
        Err(AtmRefusal::WrongPin)
    }

    /// Clears every dynamic credential: used when an activation replaces the card's service.
    fn reset_service(&mut self) {
        self.svc.token = None;
        self.svc.hardware = None;
        self.svc.sms = None;
        self.svc.activation = None;
        self.svc.txn_codes.clear();
        self.svc.locked = false;
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
            &b64_aad("activation", &self.pan_hash, &id),
            secret.as_bytes(),
        );
        self.reset_service();
        self.svc.mode = Mode::App;
        self.svc.activation = Some(Activation {
            id,
            secret_sealed: sealed,
            mobile: registered.clone(),
            expires_at,
            tries_left: a.max_tries_total,
        });
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
        self.reset_service();
        self.svc.mode = Mode::Sms;
        self.svc.static_second_disabled = true;
        self.svc.sms = Some(SmsService {
            mobile: registered.clone(),
            fixed_mac: keys.card_code_mac(CardCode::SmsFixed, &self.pan_hash, &fixed),
            variable: None,
        });
        Ok(fixed)
    }

    /// R10: back to the static passwords.
    pub fn deactivate(&mut self) {
        self.reset_service();
        self.svc.mode = Mode::None;
        self.svc.static_second_disabled = false;
    }

    /// R21: a new variable part for an SMS-activated card, or `None` when the card has no live SMS
    /// service. The previous variable part dies.
    pub fn issue_variable_part(
        &mut self,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Option<(Zeroizing<String>, i64)> {
        if self.svc.locked || self.svc.mode != Mode::Sms || self.is_expired(now) {
            return None;
        }
        let sms = self.svc.sms.as_mut()?;
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

    /// R16, first message: the app's SPAKE2 message, answered under the live activation's secret
    /// with the server's and its key confirmation. Each run costs one of the activation's tries
    /// (all addresses together). Refusals change nothing; the issuer answers them with a run that
    /// can never confirm, alike for every card (see `crate::issuer`'s enrollment).
    pub fn enroll_start(
        &mut self,
        pan: &Pan,
        client_msg: &[u8],
        lifetime_secs: Option<u32>,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<EnrollStarted, AppRefusal> {
        let lifetime = policy
            .enrollment_lifetime(lifetime_secs)
            .ok_or(AppRefusal::InvalidLifetime)?;
        if self.svc.locked || self.svc.mode != Mode::App || self.svc.token.is_some() {
            return Err(AppRefusal::NoPendingActivation);
        }
        let pan_hash = self.pan_hash.clone();
        let Some(act) = self.svc.activation.as_mut() else {
            return Err(AppRefusal::NoPendingActivation);
        };
        if now >= act.expires_at {
            return Err(AppRefusal::ActivationExpired);
        }
        if act.tries_left == 0 {
            return Err(AppRefusal::ActivationExhausted);
        }
        let secret = keys
            .open(
                &b64_aad("activation", &pan_hash, &act.id),
                &act.secret_sealed,
            )
            .ok()
            .and_then(|s| pooya_enroll::ActivationSecret::from_bytes(&s).ok())
            .ok_or(AppRefusal::ActivationExpired)?;
        let resp = pooya_enroll::server_respond(&secret, pan.digits(), client_msg)
            .map_err(|_| AppRefusal::MalformedMessage)?;
        act.tries_left -= 1;
        let run_id = random_id();
        let pending = resp.pending.to_bytes();
        Ok(EnrollStarted {
            run: LiveRun {
                activation_id: act.id.clone(),
                pending_sealed: keys.seal(&b64_aad("enrollment", &pan_hash, &run_id), &pending),
                lifetime_secs: lifetime,
            },
            enrollment_id: run_id,
            msg: resp.msg,
            confirm: resp.confirm,
        })
    }

    /// R16, second message: the app's key confirmation of run `enrollment_id` (whose expiry the
    /// store's record keeps). On success the card's app token is born, with the seed both ends
    /// derived, and the static second password dies (R9). A refusal changes nothing.
    pub fn enroll_confirm(
        &mut self,
        enrollment_id: &str,
        run: &LiveRun,
        client_confirm: &[u8],
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<(AppToken, pooya_enroll::Seed), AppRefusal> {
        let pan_hash = self.pan_hash.clone();
        let Some(act) = self
            .svc
            .activation
            .as_ref()
            .filter(|a| a.id == run.activation_id)
        else {
            return Err(AppRefusal::WrongActivationCodes);
        };
        if now >= act.expires_at {
            return Err(AppRefusal::ActivationExpired);
        }
        let pending = keys
            .open(
                &b64_aad("enrollment", &pan_hash, enrollment_id),
                &run.pending_sealed,
            )
            .ok()
            .and_then(|p| pooya_enroll::PendingEnrollment::from_bytes(&p).ok())
            .ok_or(AppRefusal::WrongActivationCodes)?;
        let seed = pooya_enroll::server_finish(&pending, client_confirm)
            .map_err(|_| AppRefusal::WrongActivationCodes)?;
        let token_id = random_id();
        let token = AppToken {
            seed_sealed: keys.seal(&b64_aad("seed", &pan_hash, &token_id), seed.as_bytes()),
            id: token_id,
            mobile: act.mobile.clone(),
            algorithm: policy.otp.algorithm.clone(),
            step_secs: run.lifetime_secs,
            first_digits: policy.otp.first_digits,
            second_digits: policy.otp.second_digits,
            last_step_first: None,
            last_step_second: None,
            issued_at: now,
            removal: None,
        };
        self.svc.activation = None;
        self.svc.token = Some(token.clone());
        self.svc.mode = Mode::App;
        self.svc.static_second_disabled = true;
        self.svc.failures.clear();
        Ok((token, seed))
    }

    /// Token removal, first step: a fresh nonce the app must MAC with its seed.
    pub fn removal_challenge(
        &mut self,
        token_id: &str,
        now: i64,
        policy: &Policy,
    ) -> Result<RemovalChallenge, AppRefusal> {
        let t = self
            .svc
            .token
            .as_mut()
            .filter(|t| t.id == token_id)
            .ok_or(AppRefusal::UnknownToken)?;
        let c = RemovalChallenge {
            nonce: random_bytes::<32>().to_vec(),
            expires_at: now + policy.activation.removal_challenge_ttl_secs as i64 * 1000,
        };
        t.removal = Some(c.clone());
        Ok(c)
    }

    /// Token removal, second step: proof of the seed over the nonce. The challenge is used up by
    /// any answer, right or wrong.
    pub fn remove_token(
        &mut self,
        token_id: &str,
        nonce: &[u8],
        proof: &[u8],
        now: i64,
        keys: &Keyring,
    ) -> Result<(), AppRefusal> {
        let pan_hash = self.pan_hash.clone();
        let t = self
            .svc
            .token
            .as_mut()
            .filter(|t| t.id == token_id)
            .ok_or(AppRefusal::UnknownToken)?;
        let Some(c) = t.removal.take() else {
            return Err(AppRefusal::BadProof);
        };
        if !pooya_otp::ct_eq(&c.nonce, nonce) {
            return Err(AppRefusal::BadProof);
        }
        if now >= c.expires_at {
            return Err(AppRefusal::ChallengeExpired);
        }
        let seed = keys
            .open(&b64_aad("seed", &pan_hash, &t.id), &t.seed_sealed)
            .ok()
            .and_then(|s| pooya_enroll::Seed::from_bytes(&s).ok())
            .ok_or(AppRefusal::BadProof)?;
        if !pooya_enroll::verify_removal_proof(&seed, token_id, nonce, proof) {
            return Err(AppRefusal::BadProof);
        }
        self.svc.token = None;
        self.svc.mode = Mode::None;
        Ok(())
    }
}

/// Byte fields of the stored document as base64.
/// Byte strings of the service document as standard, padded base64 strings.
///
/// The store reads and writes the document on every request: short values are encoded on the
/// stack and decoded from the document's own text, with no intermediate `String`.
mod b64 {
    use serde::de::{Deserializer, Error, Visitor};
    use serde::Serializer;

    /// Values up to this many bytes (sealed keys and seeds, MACs) are encoded on the stack.
    const STACK: usize = 96;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let enc = &data_encoding::BASE64;
        let len = enc.encode_len(v.len());
        if len <= STACK * 4 / 3 + 4 {
            let mut buf = [0u8; STACK * 4 / 3 + 4];
            enc.encode_mut(v, &mut buf[..len]);
            s.serialize_str(std::str::from_utf8(&buf[..len]).expect("base64 is ASCII"))
        } else {
            s.serialize_str(&enc.encode(v))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_str(B64Visitor)
    }

    struct B64Visitor;

    impl Visitor<'_> for B64Visitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a base64 string")
        }

        fn visit_str<E: Error>(self, v: &str) -> Result<Vec<u8>, E> {
            data_encoding::BASE64
                .decode(v.as_bytes())
                .map_err(E::custom)
        }
    }
}

mod pin_lock;
#[cfg(test)]
mod tests;
