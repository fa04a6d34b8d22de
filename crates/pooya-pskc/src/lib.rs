//! PSKC (RFC 6030) key containers: parsing and decryption of the keys of hardware OTP tokens.
//! No I/O: the caller hands over the file's text and the secret that protects it.
//!
//! What is read, per `KeyPackage`:
//! - `DeviceInfo/SerialNo`: the token's serial number (required, unique in the file);
//!   `DeviceInfo/StartDate` and `ExpiryDate`: when the device may be used (into [`Usage`]);
//! - `Key/@Algorithm`: `…pskc:hotp` (RFC 4226) or `…pskc:totp` (RFC 6238), also spelt with `#`;
//!   a `…pskc:pin` package (the PIN of another key, RFC 6030 Figure 5) is skipped;
//! - `AlgorithmParameters/ResponseFormat`: `Length` (the digits the token shows, 4 to 10, default
//!   6), `Encoding` (`DECIMAL` only) and `CheckDigits` (the last of those digits is a Luhn check
//!   digit, [`Usage::check_digit`]); `AlgorithmParameters/Suite`: the HMAC (`HMAC-SHA1` default,
//!   `HMAC-SHA256`, `HMAC-SHA512`);
//! - `Data/Secret`: `PlainValue` (base64) or `EncryptedValue` with its `ValueMAC`;
//! - `Data/Counter` (HOTP, default 0), `Data/TimeInterval` (TOTP step, default 30 s),
//!   `Data/TimeDrift` (TOTP, in steps, [`Usage::time_drift_steps`]) and `Data/Time` (TOTP: the time
//!   origin, which must be absent or 0, the unix epoch, as pooya counts steps from it);
//! - `Key/Policy` (RFC 6030 §5): `StartDate`, `ExpiryDate` and `NumberOfTransactions` into
//!   [`Usage`]; `KeyUsage` must permit `OTP`; a `PINPolicy` must be `PINUsageMode="Local"` (the
//!   token checks its PIN). Any other element or attribute of the policy is not understood and
//!   refuses the key: "the recipient MUST assume that key usage is not permitted" (§5);
//! - `Key/KeyProfileId` (settings agreed out of band) refuses the key.
//!
//! [`Usage`] is the verifier's to enforce: [`parse`] refuses every key that asks anything of it,
//! [`parse_honouring`] lets through what the caller says it enforces ([`Honoured`]).
//!
//! Encryption (RFC 6030 §6.1, §6.2): the container's `EncryptionKey` is a pre-shared key
//! (`ds:KeyName`) or a PBKDF2-derived key (`xenc11:DerivedKey`, from a password, PRF HMAC-SHA1 to
//! -SHA512); values are AES-CBC (`xmlenc#aes128-cbc`, also 192 and 256) with the IV before the
//! ciphertext; every encrypted value must carry a `ValueMAC`: HMAC (`MACMethod`, SHA1, SHA224,
//! SHA256, SHA384 or SHA512) over IV and ciphertext under the `MACKey`, itself encrypted with the
//! encryption key. Other algorithms (key wrap, 3DES, AES-GCM, asymmetric keys) are named as not
//! supported.
//!
//! Any problem fails the whole file ([`parse`] returns no key at all), naming the key package
//! (its position, serial and key id) and the element at fault.

use std::collections::HashSet;

use zeroize::Zeroizing;

mod package;
mod policy;
mod protection;
mod xml;

use package::{package, package_name, Parsed};
use protection::Protection;
use xml::parse_tree;

/// The OTP algorithm of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpKind {
    /// RFC 4226: event-based, a counter.
    Hotp,
    /// RFC 6238: time-based, a time step.
    Totp,
}

/// One OTP key of the file, decrypted.
#[derive(Clone)]
pub struct ImportedKey {
    /// 1-based position of its `KeyPackage` in the file.
    pub index: usize,
    pub serial: String,
    pub key_id: String,
    pub kind: OtpKind,
    /// The raw HMAC key, exactly as the file gives it.
    pub secret: Zeroizing<Vec<u8>>,
    pub digits: u8,
    /// `"SHA1"`, `"SHA256"` or `"SHA512"`.
    pub algorithm: &'static str,
    /// HOTP: the next counter value. TOTP: 0.
    pub counter: u64,
    /// TOTP: the time step in seconds. HOTP: 0.
    pub time_step: u32,
    /// What the file asks of the verifier beyond making the codes.
    pub usage: Usage,
}

/// What the file asks of the verifier for one key, beyond making the codes of its secret: all of
/// it is enforced at verification. The default asks nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The key may not be used before this instant (unix ms, inclusive): the later of
    /// `Policy/StartDate` and `DeviceInfo/StartDate`.
    pub not_before_ms: Option<i64>,
    /// The key may not be used after this instant (unix ms, inclusive): the earlier of
    /// `Policy/ExpiryDate` and `DeviceInfo/ExpiryDate`. Never before `not_before_ms`.
    pub not_after_ms: Option<i64>,
    /// `Policy/NumberOfTransactions`: how many times in all the key may be used (at least 1),
    /// counting from the import.
    pub number_of_transactions: Option<u64>,
    /// `ResponseFormat CheckDigits="true"`: of the `digits` the token shows, the last is the Luhn
    /// check digit of the ones before (`pooya_otp::HotpKey::code_with_check_digit`), which are
    /// the HOTP code of `digits - 1` digits. RFC 6030's `Length` counts the check digit (its HOTP
    /// profile allows 6 to 9: RFC 4226's 6 to 8 digits and the check digit).
    pub check_digit: bool,
    /// TOTP: `Data/TimeDrift`, the token's clock minus the server's, in steps: at server step `s`
    /// the token shows the code of step `s + time_drift_steps` (RFC 6030 §4.3.2: a token one step
    /// behind is -1). At most a day's worth of steps either way. HOTP: 0.
    pub time_drift_steps: i64,
}

impl Usage {
    /// Whether the key may be used at `now_ms`: inside its validity period, both ends included.
    pub fn valid_at(&self, now_ms: i64) -> bool {
        self.not_before_ms.is_none_or(|b| now_ms >= b)
            && self.not_after_ms.is_none_or(|a| now_ms <= a)
    }
}

/// What the caller's verifier enforces of [`Usage`]. A key that asks for something not honoured
/// is refused at import, naming the element: RFC 6030 §5 forbids using a key outside what its
/// policy permits, and a restriction nobody enforces would silently not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Honoured {
    /// [`Usage::not_before_ms`] and [`Usage::not_after_ms`].
    pub validity_period: bool,
    /// [`Usage::number_of_transactions`].
    pub number_of_transactions: bool,
    /// [`Usage::check_digit`].
    pub check_digit: bool,
    /// [`Usage::time_drift_steps`].
    pub time_drift: bool,
}

impl Honoured {
    /// Nothing: only keys whose [`Usage`] is the default are imported.
    pub const NONE: Honoured = Honoured {
        validity_period: false,
        number_of_transactions: false,
        check_digit: false,
        time_drift: false,
    };
    /// Everything [`Usage`] can hold.
    pub const ALL: Honoured = Honoured {
        validity_period: true,
        number_of_transactions: true,
        check_digit: true,
        time_drift: true,
    };
}

impl std::fmt::Debug for ImportedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedKey")
            .field("index", &self.index)
            .field("serial", &self.serial)
            .field("key_id", &self.key_id)
            .field("kind", &self.kind)
            .field("secret", &"[redacted]")
            .field("digits", &self.digits)
            .field("algorithm", &self.algorithm)
            .field("counter", &self.counter)
            .field("time_step", &self.time_step)
            .field("usage", &self.usage)
            .finish()
    }
}

/// What unlocks an encrypted file: a pre-shared key (§6.1) or a password for PBKDF2 (§6.2).
#[derive(Clone, Copy, Default)]
pub struct Secrets<'a> {
    pub preshared_key: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PskcError {
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A problem of the container as a whole.
    #[error("{0}")]
    Container(String),
    /// A problem of one key package.
    #[error("key package {index} ({name}): {why}")]
    Package {
        index: usize,
        name: String,
        why: String,
    },
}

/// Parses a PSKC `KeyContainer` and decrypts its OTP keys: every key or an error. A key whose
/// [`Usage`] asks anything of the verifier is refused: this is [`parse_honouring`] with
/// [`Honoured::NONE`].
pub fn parse(xml: &str, secrets: &Secrets<'_>) -> Result<Vec<ImportedKey>, PskcError> {
    parse_honouring(xml, secrets, &Honoured::NONE)
}

/// Parses a PSKC `KeyContainer` and decrypts its OTP keys: every key or an error. A key whose
/// [`Usage`] asks for something `honoured` does not cover is refused.
pub fn parse_honouring(
    xml: &str,
    secrets: &Secrets<'_>,
    honoured: &Honoured,
) -> Result<Vec<ImportedKey>, PskcError> {
    let root = parse_tree(xml)?;
    if root.name != "KeyContainer" {
        return Err(PskcError::Container(format!(
            "the root element is <{}>, not <KeyContainer>",
            root.name
        )));
    }
    if let Some(v) = root.attr("Version") {
        if v != "1.0" {
            return Err(PskcError::Container(format!(
                "unsupported PSKC version {v:?} (1.0)"
            )));
        }
    }
    let prot = Protection::new(&root, secrets);
    let mut keys = Vec::new();
    let mut serials = HashSet::new();
    for (i, kp) in root.children_named("KeyPackage").enumerate() {
        let index = i + 1;
        let err = |why: String| PskcError::Package {
            index,
            name: package_name(kp),
            why,
        };
        match package(kp, index, &prot, honoured).map_err(err)? {
            Parsed::Skipped => {}
            Parsed::Key(k) => {
                if !serials.insert(k.serial.clone()) {
                    return Err(err(format!(
                        "duplicate serial {}: another key package has it",
                        k.serial
                    )));
                }
                keys.push(k);
            }
        }
    }
    if keys.is_empty() {
        return Err(PskcError::Container(
            "the file holds no HOTP or TOTP key package".into(),
        ));
    }
    Ok(keys)
}

/// Hex to bytes (for a pre-shared key given as hex).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.trim().as_bytes())
        .ok()
}

#[cfg(test)]
mod tests;
