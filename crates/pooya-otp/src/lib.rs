//! One-time codes for pooya: RFC 4226 HOTP and RFC 6238 TOTP over HMAC-SHA1, HMAC-SHA256 and
//! HMAC-SHA512 with 4 to 10 digits (the last of them a Luhn check digit for tokens that show
//! one), the derivation of a token's first-password and second-password keys from its seed, and
//! constant-time comparison.
//!
//! The crate does no I/O and never reads a clock: every time is an argument, in unix
//! milliseconds.
//!
//! # Time semantics
//!
//! A [`Totp`] cuts time into steps of `step_secs` seconds counted from the unix epoch (T0 = 0).
//! Step `s` covers the half-open interval `[start(s), end(s))` where
//! `start(s) = s * step * 1000` ([`Totp::step_start_ms`]) and `end(s) = start(s + 1)`
//! ([`Totp::step_end_ms`]). The code of step `s` is `hotp(key, s, ..)`.
//!
//! * **The app** at its time `t` shows the code of step `floor(t / step)` ([`Totp::step_at`],
//!   [`Totp::code_at`]) with a countdown of `end(s) - t` milliseconds ([`Totp::remaining_ms`]):
//!   the countdown reaches zero exactly when the next code appears.
//! * **The verifier** at its time `now` with clock-skew tolerance `tol` accepts step `s` exactly
//!   while `start(s) - tol <= now < end(s) + tol` ([`Totp::accepted_steps`]).
//!
//! So, with the two clocks in agreement, a code is accepted for the whole time the app's
//! countdown says it has left, and never longer than `tol` after its countdown reaches zero
//! (nor more than `tol` before it appears). A phone clock off by at most `tol` still gets every
//! code it shows accepted while its countdown runs. With `tol = 0` exactly one step is
//! accepted at any instant; with `0 < tol < step` at most two; in general at most
//! `2 * tol / step + 2`.
//!
//! Times before the epoch are treated as the epoch: [`Totp::step_at`] clamps them to step 0 and
//! [`Totp::accepted_steps`] treats a negative `now` as 0. Millisecond values that would not fit
//! an `i64` saturate at `i64::MAX`.
//!
//! A one-time code must also be used at most once; that bookkeeping (remembering the last
//! step used) belongs to the verifier, not to this crate.
//!
//! ```
//! use pooya_otp::{derive_password_keys, Algorithm, Digits, Totp};
//!
//! let keys = derive_password_keys(b"token seed from enrolment");
//! let totp = Totp::new(60, Digits::EIGHT, Algorithm::Sha256).unwrap();
//!
//! // The app, at its own clock.
//! let t = 1_700_000_000_000;
//! let shown = totp.code_at(&keys.second, t);
//! assert_eq!(totp.remaining_ms(t), 40_000);
//!
//! // The verifier, 3 s later by its clock, with 5 s of tolerance.
//! let typed = shown.as_str().to_owned();
//! let ok = totp
//!     .accepted_steps(t + 3_000, 5_000)
//!     .any(|s| totp.code_at_step(&keys.second, s).matches(&typed));
//! assert!(ok);
//! ```
//!
//! # Secrets
//!
//! [`OtpKey`], [`HotpKey`] and [`Code`] are zeroized on drop and print as `[redacted]` under
//! `Debug`. The HMAC output buffer is zeroized after the dynamic truncation. Comparisons of codes and other
//! secrets go through [`ct_eq`] / [`Code::matches`], which take time independent of the
//! content (only the lengths may leak).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use hkdf::Hkdf;
use hmac::digest::{FixedOutput, Output};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

mod check_digit;

pub use check_digit::luhn_check_digit;

/// Errors of this crate: all are invalid parameters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OtpError {
    /// A code length outside `4..=10`.
    #[error("a code must have 4 to 10 digits, not {0}")]
    BadDigits(u8),
    /// A TOTP time step of 0 seconds.
    #[error("the TOTP time step must be at least 1 second")]
    BadStep,
    /// An algorithm name other than SHA1, SHA256 or SHA512.
    #[error("unknown OTP algorithm {0:?} (expected SHA1, SHA256 or SHA512)")]
    UnknownAlgorithm(String),
}

/// The hash function under the HMAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC-SHA1 (RFC 4226's original, the default of most authenticator apps).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl Algorithm {
    /// Every algorithm, in order SHA1, SHA256, SHA512.
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];

    /// The canonical name: `"SHA1"`, `"SHA256"` or `"SHA512"` (as in `otpauth://` URIs).
    pub fn as_str(&self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// The HMAC output length in bytes (20, 32 or 64).
    pub fn output_len(&self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = OtpError;

    /// Accepts `SHA1`, `SHA256`, `SHA512`, case-insensitively, optionally with a dash before the
    /// number (`SHA-256`) and optionally prefixed by `HMAC-` (`HMAC-SHA1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // No allocation: verifiers parse the stored name on every decision.
        let name = match s.get(..5) {
            Some(prefix) if prefix.eq_ignore_ascii_case("HMAC-") => &s[5..],
            _ => s,
        };
        let is = |a: &str| name.eq_ignore_ascii_case(a);
        if is("SHA1") || is("SHA-1") {
            Ok(Algorithm::Sha1)
        } else if is("SHA256") || is("SHA-256") {
            Ok(Algorithm::Sha256)
        } else if is("SHA512") || is("SHA-512") {
            Ok(Algorithm::Sha512)
        } else {
            Err(OtpError::UnknownAlgorithm(s.to_owned()))
        }
    }
}

/// The length of a code: always in `4..=10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digits(u8);

impl Digits {
    /// The shortest code length.
    pub const MIN: u8 = 4;
    /// The longest code length (RFC 4226's 31-bit value has at most 10 decimal digits).
    pub const MAX: u8 = 10;
    /// 4 digits: the dynamic first password.
    pub const FOUR: Digits = Digits(4);
    /// 6 digits: the usual authenticator-app length.
    pub const SIX: Digits = Digits(6);
    /// 8 digits: the dynamic second password.
    pub const EIGHT: Digits = Digits(8);
    /// 10 digits: the whole 31-bit truncated value, zero-padded.
    pub const TEN: Digits = Digits(10);

    /// `n` digits, if `4 <= n <= 10`.
    pub fn new(n: u8) -> Result<Digits, OtpError> {
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Digits(n))
        } else {
            Err(OtpError::BadDigits(n))
        }
    }

    /// The number of digits.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Digits {
    type Error = OtpError;
    fn try_from(n: u8) -> Result<Digits, OtpError> {
        Digits::new(n)
    }
}

/// A secret key; zeroized on drop; `Debug` prints `OtpKey([redacted])`.
#[derive(Clone)]
pub struct OtpKey(Vec<u8>);

impl OtpKey {
    /// A key holding a copy of `b` (any length; HMAC accepts every key length).
    pub fn from_bytes(b: &[u8]) -> OtpKey {
        OtpKey(b.to_vec())
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for OtpKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for OtpKey {}

impl fmt::Debug for OtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpKey([redacted])")
    }
}

/// A code: ASCII digits, exactly `digits` long, zero-padded. Zeroized on drop; `Debug` prints
/// `Code([redacted])`. It has no `Display` and no `PartialEq` on purpose: compare with
/// [`Code::matches`], show with [`Code::as_str`].
#[derive(Clone)]
pub struct Code {
    buf: [u8; Digits::MAX as usize],
    len: u8,
}

impl Code {
    /// The last `digits` decimal digits of `value`, zero-padded.
    fn from_value(value: u32, digits: Digits) -> Code {
        let mut buf = [b'0'; Digits::MAX as usize];
        let len = digits.get();
        let mut v = value;
        for slot in buf[..usize::from(len)].iter_mut().rev() {
            // `v % 10 < 10`, so the cast cannot truncate.
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        v.zeroize();
        Code { buf, len }
    }

    /// The code as a string of ASCII digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).expect("a code is ASCII digits")
    }

    /// The code length.
    pub fn digits(&self) -> Digits {
        Digits(self.len)
    }

    /// Whether `typed` is this code: constant time over the bytes; `false` on a length mismatch
    /// (the length may leak, the content does not).
    pub fn matches(&self, typed: &str) -> bool {
        ct_eq(self.as_str().as_bytes(), typed.as_bytes())
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        self.buf.zeroize();
        self.len.zeroize();
    }
}

impl ZeroizeOnDrop for Code {}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code([redacted])")
    }
}

/// RFC 4226 dynamic truncation: the 31-bit big-endian value at the offset given by the low
/// nibble of the last byte.
fn dynamic_truncate(mac: &[u8]) -> u32 {
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3])
}

/// The HMAC state `mac` (already keyed) over `msg`, dynamically truncated; the full HMAC output
/// is zeroized (and `mac`, a keyed state, is zeroized on drop by the hash crates' `zeroize`
/// feature).
fn hmac_truncated<M: Mac + FixedOutput>(mut mac: M, msg: &[u8]) -> u32 {
    Mac::update(&mut mac, msg);
    let mut out = Output::<M>::default();
    mac.finalize_into(&mut out);
    let value = dynamic_truncate(&out);
    out.as_mut_slice().zeroize();
    value
}

fn keyed<M: Mac + KeyInit>(key: &[u8]) -> M {
    <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The RFC 4226 HOTP code of `counter` under `key`.
///
/// Each call computes the HMAC key schedule again; to make the codes of several counters under
/// one key, [`HotpKey`] computes it once.
pub fn hotp(key: &OtpKey, counter: u64, digits: Digits, alg: Algorithm) -> Code {
    HotpKey::new(key.as_bytes(), alg).code(counter, digits)
}

/// An HMAC keyed once, for the codes of many counters under one key: the key schedule (the
/// hash states after the inner and outer padded key blocks) is computed by [`HotpKey::new`] and
/// each [`HotpKey::code`] starts from a copy of it, which saves two of the four hash compressions
/// a code otherwise costs (HMAC-SHA1 with a key of up to 64 bytes).
///
/// The keyed states are as secret as the key: they are zeroized on drop (the hash crates'
/// `zeroize` feature, enabled by this crate) and `Debug` prints `HotpKey([redacted])`.
#[derive(Clone)]
pub struct HotpKey(Keyed);

#[derive(Clone)]
enum Keyed {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl HotpKey {
    /// The HMAC of `alg` keyed with `key` (any length).
    pub fn new(key: &[u8], alg: Algorithm) -> HotpKey {
        HotpKey(match alg {
            Algorithm::Sha1 => Keyed::Sha1(keyed(key)),
            Algorithm::Sha256 => Keyed::Sha256(keyed(key)),
            Algorithm::Sha512 => Keyed::Sha512(keyed(key)),
        })
    }

    /// The algorithm it was keyed for.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            Keyed::Sha1(_) => Algorithm::Sha1,
            Keyed::Sha256(_) => Algorithm::Sha256,
            Keyed::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// The RFC 4226 HOTP code of `counter`: the same as [`hotp`] with this key and algorithm.
    pub fn code(&self, counter: u64, digits: Digits) -> Code {
        let msg = counter.to_be_bytes();
        let mut full = match &self.0 {
            Keyed::Sha1(m) => hmac_truncated(m.clone(), &msg),
            Keyed::Sha256(m) => hmac_truncated(m.clone(), &msg),
            Keyed::Sha512(m) => hmac_truncated(m.clone(), &msg),
        };
        let code = Code::from_value(full, digits);
        full.zeroize();
        code
    }
}

impl fmt::Debug for HotpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HotpKey([redacted])")
    }
}

/// RFC 6238 TOTP parameters, with T0 = 0 (the unix epoch). See the [crate documentation](crate)
/// for the time semantics.
///
/// The fields are public; build through [`Totp::new`] to have `step_secs >= 1` checked. A value
/// built directly with `step_secs == 0` behaves as if the step were 1 second (rather than
/// dividing by zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totp {
    /// The step length in seconds, at least 1.
    pub step_secs: u32,
    /// The code length.
    pub digits: Digits,
    /// The HMAC hash.
    pub alg: Algorithm,
}

/// `floor(a / b)` for `b > 0`.
fn floor_div(a: i128, b: i128) -> i128 {
    a.div_euclid(b)
}

fn saturate_ms(ms: i128) -> i64 {
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

impl Totp {
    /// TOTP parameters; a step of 0 seconds is [`OtpError::BadStep`].
    pub fn new(step_secs: u32, digits: Digits, alg: Algorithm) -> Result<Totp, OtpError> {
        if step_secs == 0 {
            return Err(OtpError::BadStep);
        }
        Ok(Totp {
            step_secs,
            digits,
            alg,
        })
    }

    /// The step length in milliseconds (at least 1000).
    pub fn step_ms(&self) -> i64 {
        i64::from(self.step_secs.max(1)) * 1000
    }

    /// The step containing `unix_ms`: `floor(unix_ms / (step * 1000))`; negative times clamp to
    /// step 0.
    pub fn step_at(&self, unix_ms: i64) -> u64 {
        // Both operands are non-negative, so the casts are exact.
        (unix_ms.max(0) / self.step_ms()) as u64
    }

    /// The first millisecond of `step` (saturating at `i64::MAX`).
    pub fn step_start_ms(&self, step: u64) -> i64 {
        saturate_ms(i128::from(step) * i128::from(self.step_ms()))
    }

    /// The end of `step`, exclusive: the first millisecond of `step + 1` (saturating at
    /// `i64::MAX`).
    pub fn step_end_ms(&self, step: u64) -> i64 {
        saturate_ms((i128::from(step) + 1) * i128::from(self.step_ms()))
    }

    /// The code of `step`: `hotp(key, step, digits, alg)`.
    pub fn code_at_step(&self, key: &OtpKey, step: u64) -> Code {
        hotp(key, step, self.digits, self.alg)
    }

    /// The code of `step` under a key prepared once ([`HotpKey`]) for the steps of a window:
    /// the same as [`Totp::code_at_step`] with that key. The [`HotpKey`]'s algorithm is used
    /// (build it with this `Totp`'s `alg`).
    pub fn code_at_step_with(&self, key: &HotpKey, step: u64) -> Code {
        debug_assert_eq!(key.algorithm(), self.alg);
        key.code(step, self.digits)
    }

    /// The code shown at `unix_ms`: the code of [`Totp::step_at`]`(unix_ms)`.
    pub fn code_at(&self, key: &OtpKey, unix_ms: i64) -> Code {
        self.code_at_step(key, self.step_at(unix_ms))
    }

    /// Time left (ms) for the code shown at `unix_ms`: `step_end_ms(step_at(t)) - t`. In
    /// `1..=step_ms` for `t >= 0`.
    pub fn remaining_ms(&self, unix_ms: i64) -> i64 {
        self.step_end_ms(self.step_at(unix_ms))
            .saturating_sub(unix_ms)
    }

    /// The steps a verifier accepts at server time `now_ms` with clock-skew tolerance `tol_ms`:
    /// exactly the steps `s` with `step_start_ms(s) - tol_ms <= now_ms < step_end_ms(s) + tol_ms`,
    /// as an inclusive range (lowest..=highest); never empty for `tol_ms >= 0`.
    ///
    /// A negative `now_ms` is treated as 0 (as [`Totp::step_at`] does). A negative `tol_ms`
    /// narrows the window and may give an empty range.
    pub fn accepted_steps(&self, now_ms: i64, tol_ms: i64) -> RangeInclusive<u64> {
        let step = i128::from(self.step_ms());
        let now = i128::from(now_ms.max(0));
        let tol = i128::from(tol_ms);
        // start(s) - tol <= now  <=>  s * step <= now + tol        <=>  s <= floor((now + tol) / step)
        // now < end(s) + tol     <=>  (s + 1) * step > now - tol   <=>  s >= floor((now - tol) / step)
        let lo = floor_div(now - tol, step).max(0);
        let hi = floor_div(now + tol, step);
        if hi < lo {
            #[allow(clippy::reversed_empty_ranges)]
            return 1..=0;
        }
        // 0 <= lo <= hi <= (2 * i64::MAX) / 1000, well inside u64.
        (lo as u64)..=(hi as u64)
    }
}

/// Which of a card's two dynamic passwords (R1). One definition for the issuer and the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PasswordKind {
    /// Replaces the PIN at ATM and POS: 4 digits by default.
    First,
    /// Card-not-present and internet payments: 8 digits by default.
    Second,
}

impl PasswordKind {
    /// `first` or `second`, as the API and the audit trail spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordKind::First => "first",
            PasswordKind::Second => "second",
        }
    }

    /// From `first` or `second`.
    pub fn parse(s: &str) -> Option<PasswordKind> {
        [PasswordKind::First, PasswordKind::Second]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The HKDF info label of this password's key ([`derive_password_key`]).
    pub fn key_info(self) -> &'static [u8] {
        match self {
            PasswordKind::First => FIRST_PASSWORD_INFO,
            PasswordKind::Second => SECOND_PASSWORD_INFO,
        }
    }
}

/// The two password keys of one token.
#[derive(Clone, Debug)]
pub struct PasswordKeys {
    /// The key of the first (4-digit, card-present) password.
    pub first: OtpKey,
    /// The key of the second (8-digit, card-not-present) password.
    pub second: OtpKey,
}

impl PasswordKeys {
    /// The key of the `kind` password.
    pub fn of(&self, kind: PasswordKind) -> &OtpKey {
        match kind {
            PasswordKind::First => &self.first,
            PasswordKind::Second => &self.second,
        }
    }
}

/// The HKDF info label of the first-password key.
pub const FIRST_PASSWORD_INFO: &[u8] = b"pooya/v1/first-password";
/// The HKDF info label of the second-password key.
pub const SECOND_PASSWORD_INFO: &[u8] = b"pooya/v1/second-password";
/// The length of each derived password key, in bytes.
pub const PASSWORD_KEY_LEN: usize = 32;

fn expand_password_key(hk: &Hkdf<Sha256>, info: &[u8]) -> OtpKey {
    let mut okm = [0u8; PASSWORD_KEY_LEN];
    hk.expand(info, &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let key = OtpKey::from_bytes(&okm);
    okm.zeroize();
    key
}

/// The two password keys of one token, derived from its seed with HKDF-SHA256 (no salt), info
/// labels [`FIRST_PASSWORD_INFO`] and [`SECOND_PASSWORD_INFO`], 32 bytes each.
pub fn derive_password_keys(seed: &[u8]) -> PasswordKeys {
    let hk = Hkdf::<Sha256>::new(None, seed);
    PasswordKeys {
        first: expand_password_key(&hk, FIRST_PASSWORD_INFO),
        second: expand_password_key(&hk, SECOND_PASSWORD_INFO),
    }
}

/// One of the two password keys of [`derive_password_keys`] (`info` is [`FIRST_PASSWORD_INFO`]
/// or [`SECOND_PASSWORD_INFO`]), without deriving the other: for a verifier that needs one.
pub fn derive_password_key(seed: &[u8], info: &[u8]) -> OtpKey {
    expand_password_key(&Hkdf::<Sha256>::new(None, seed), info)
}

/// Constant-time equality of two byte strings (the lengths may leak; the content does not).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests;
