//! The server's working keys, all derived from one 32-byte data key. The data key is stored in the
//! database only wrapped under a key encryption key kept outside it (a key file of mode 0600 or an
//! HSM key; the `pooya-keys` crate loads, wraps and rotates it, docs/keys.md). Derived from it:
//!
//! - a sealing key (XChaCha20-Poly1305) for token seeds, activation secrets and pending
//!   enrollments at rest — each sealed value is bound to its row by associated data, so a sealed
//!   seed copied onto another card does not open;
//! - a PAN key (HMAC-SHA256): cards are looked up by keyed hash, never by the number itself;
//! - a code key (HMAC-SHA256): SMS fixed and variable parts, transaction codes (R24), the last
//!   digits of card numbers and idempotency fingerprints are kept as keyed MACs, so a copy of the
//!   database alone reveals none of them. Those of a card are bound to it ([`Keyring::card_code_mac`]):
//!   copied onto another card they match nothing, and two cards with the same fixed part do not
//!   show it.
//!
//! Databases made before the hierarchy derived these keys from the master key file directly; that
//! file's bytes are their data key (generation 1), so [`Keyring::from_master`] is the same for both.
//!
//! Static PINs and static second passwords are Argon2id hashes (salted, slow), each sealed under
//! the sealing key and bound to its card and kind ([`Keyring::hash_static`]): a copy of the
//! database without the key hierarchy holds no hash to guess a 4-digit PIN against, and a hash
//! copied onto another card opens there for no PIN.

use std::path::Path;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the master key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the master key file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the master key file {0} must hold exactly 32 bytes")]
    BadLength(String),
    #[error("a sealed value does not open: wrong master key or damaged data")]
    Unseal,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Argon2id cost for static PINs and second passwords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HashCost {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for HashCost {
    /// OWASP's minimum for Argon2id (19 MiB, 2 passes).
    fn default() -> Self {
        HashCost {
            m_kib: 19 * 1024,
            t: 2,
            p: 1,
        }
    }
}

/// All keys of one running server.
pub struct Keyring {
    seal: XChaCha20Poly1305,
    pan_key: Zeroizing<[u8; 32]>,
    code_key: Zeroizing<[u8; 32]>,
    argon: Argon2<'static>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring([redacted])")
    }
}

fn derive(master: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(master).expect("any key length");
    mac.update(b"pooya/v1/key/");
    mac.update(label);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

impl Keyring {
    pub fn from_master(master: &[u8; 32], cost: HashCost) -> Result<Keyring, KeyError> {
        let seal_key = derive(master, b"seal");
        let params = argon2::Params::new(cost.m_kib, cost.t, cost.p, None)
            .map_err(|e| KeyError::Hash(e.to_string()))?;
        Ok(Keyring {
            seal: XChaCha20Poly1305::new_from_slice(&seal_key[..]).expect("32-byte key"),
            pan_key: derive(master, b"pan"),
            code_key: derive(master, b"code"),
            argon: Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params),
        })
    }

    /// Reads a 32-byte key file from `path`, creating it (32 random bytes, mode 0600) when absent.
    /// The server no longer uses it (its data key comes wrapped from the store, `pooya-keys`); kept
    /// for tools that derive a keyring from a file.
    pub fn load_or_create_master(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let shown = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let arr: [u8; 32] = bytes[..]
                    .try_into()
                    .map_err(|_| KeyError::BadLength(shown))?;
                Ok(Zeroizing::new(arr))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                rand::rng().fill_bytes(&mut key[..]);
                crate::fsutil::write_new_private(path, &key[..]).map_err(|source| {
                    KeyError::Write {
                        path: shown,
                        source,
                    }
                })?;
                Ok(key)
            }
            Err(source) => Err(KeyError::Read {
                path: shown,
                source,
            }),
        }
    }

    /// Encrypts `plaintext`, bound to `aad` (the row it belongs to). Output: nonce ‖ ciphertext.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = XNonce::from(nonce);
        let ct = self
            .seal
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of a short value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.len() < 24 {
            return Err(KeyError::Unseal);
        }
        let nonce: [u8; 24] = sealed[..24].try_into().expect("24 bytes");
        self.seal
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[24..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Unseal)
    }

    /// The keyed hash under which a card is stored and found (hex).
    pub fn pan_hash(&self, pan: &crate::domain::Pan) -> String {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.pan_key[..]).expect("key");
        mac.update(pan.digits().as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    /// The keyed hash of the last digits of a card's number (R21: a request SMS may give up to 8 of
    /// them to tell two cards apart), bound to the card: 16 bytes, never the digits.
    pub fn pan_tail_mac(&self, pan_hash: &str, tail: &str) -> Vec<u8> {
        let mut m = self.code_mac("pan-tail", &[pan_hash.as_bytes(), tail.as_bytes()]);
        m.truncate(16);
        m
    }

    /// A keyed MAC of a short code or fingerprint, domain-separated by `purpose`.
    pub fn code_mac(&self, purpose: &str, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.code_key[..]).expect("key");
        mac.update(purpose.as_bytes());
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// Constant-time check of a code against its stored MAC.
    pub fn code_mac_matches(&self, purpose: &str, parts: &[&[u8]], stored: &[u8]) -> bool {
        pooya_otp::ct_eq(&self.code_mac(purpose, parts), stored)
    }

    /// The MAC that chains audit records (see `crate::audit`): keyed by server key material that
    /// never sits in the database, so a copy of the database alone cannot re-forge the chain.
    pub fn audit_mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.code_mac("audit-chain/v1", parts)
    }

    /// A value that tells whether two servers hold the same master key, revealing nothing of it.
    pub fn master_check_value(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.code_mac("master-key-check", &[b"pooya"]))
    }

    /// Argon2id hash (PHC string) of a static secret, unsealed: the form older databases kept.
    pub(crate) fn argon_hash(&self, secret: &str) -> Result<String, KeyError> {
        self.argon
            .hash_password(secret.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| KeyError::Hash(e.to_string()))
    }

    /// The stored form of a card's static secret: its Argon2id hash sealed to the card
    /// (`pan_hash`) and to `kind`.
    pub fn hash_static(
        &self,
        kind: StaticSecret,
        pan_hash: &str,
        secret: &str,
    ) -> Result<String, KeyError> {
        Ok(self.seal_static_hash(kind, pan_hash, &self.argon_hash(secret)?))
    }

    /// Seals an Argon2id PHC string to its card and kind. The upgrade seals the plain hashes of an
    /// older database this way, without knowing their secrets (`crate::at_rest`).
    pub fn seal_static_hash(&self, kind: StaticSecret, pan_hash: &str, phc: &str) -> String {
        let sealed = self.seal(&kind.aad(pan_hash), phc.as_bytes());
        format!(
            "{SEALED_HASH}{}",
            data_encoding::BASE64_NOPAD.encode(&sealed)
        )
    }

    /// Whether `secret` is the card's static secret of `kind`. False for a stored hash that does
    /// not open for this card and kind, and for a plain one (an older database's, or one planted
    /// by someone who can write the database but holds no key).
    pub fn static_matches(
        &self,
        kind: StaticSecret,
        pan_hash: &str,
        secret: &str,
        stored: &str,
    ) -> bool {
        let Some(b64) = stored.strip_prefix(SEALED_HASH) else {
            return false;
        };
        let Ok(sealed) = data_encoding::BASE64_NOPAD.decode(b64.as_bytes()) else {
            return false;
        };
        let Ok(phc) = self.open(&kind.aad(pan_hash), &sealed) else {
            return false;
        };
        std::str::from_utf8(&phc)
            .is_ok_and(|phc| self.argon.verify_password(secret.as_bytes(), phc).is_ok())
    }

    /// The MAC a card keeps of one of its codes: the MAC of the code alone, keyed again with the
    /// card, so it matches on no other card and equal codes of two cards do not show.
    pub fn card_code_mac(&self, kind: CardCode, pan_hash: &str, code: &str) -> Vec<u8> {
        self.bind_code_mac(
            kind,
            pan_hash,
            &self.code_mac(kind.purpose(), &[code.as_bytes()]),
        )
    }

    /// Binds the MAC of a code alone (all an older database kept) to the card: how the upgrade
    /// moves such MACs without knowing the codes (`crate::at_rest`).
    pub fn bind_code_mac(&self, kind: CardCode, pan_hash: &str, unbound: &[u8]) -> Vec<u8> {
        self.code_mac(kind.bound_purpose(), &[pan_hash.as_bytes(), unbound])
    }
}

/// The static secrets of a card. Each is sealed under associated data of its own, so a card's PIN
/// hash copied into its second password's column opens there for nothing either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaticSecret {
    Pin,
    SecondPassword,
}

impl StaticSecret {
    fn aad(self, pan_hash: &str) -> Vec<u8> {
        let kind = match self {
            StaticSecret::Pin => "pin",
            StaticSecret::SecondPassword => "second-password",
        };
        format!("pooya/v1/{kind}/{pan_hash}").into_bytes()
    }
}

/// How a sealed static hash starts in its column. A plain Argon2id PHC string (`$argon2id$…`, what
/// databases kept before) never opens.
pub const SEALED_HASH: &str = "$pooya-sealed$v1$";

/// Whether `stored` is a sealed static hash rather than an older database's plain one.
pub fn is_sealed_static_hash(stored: &str) -> bool {
    stored.starts_with(SEALED_HASH)
}

/// The codes of a card that are kept as card-bound MACs ([`Keyring::card_code_mac`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardCode {
    /// The SMS channel's fixed part (R20).
    SmsFixed,
    /// The SMS channel's variable part (R21).
    SmsVariable,
}

impl CardCode {
    /// The purpose of the MAC of the code alone.
    fn purpose(self) -> &'static str {
        match self {
            CardCode::SmsFixed => "sms-fixed",
            CardCode::SmsVariable => "sms-variable",
        }
    }

    /// The purpose of that MAC bound to the card.
    fn bound_purpose(self) -> &'static str {
        match self {
            CardCode::SmsFixed => "sms-fixed/card",
            CardCode::SmsVariable => "sms-variable/card",
        }
    }
}

/// `n` random ASCII digits from the OS's secure generator, uniformly.
pub fn random_digits(n: usize) -> Zeroizing<String> {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut s = Zeroizing::new(String::with_capacity(n));
    for _ in 0..n {
        s.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    s
}

/// A random identifier (128 bits, base32 lower-case, no padding), for ids given to clients.
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    data_encoding::BASE32_NOPAD.encode(&b).to_ascii_lowercase()
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::from_master(
            &[7u8; 32],
            HashCost {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        )
        .unwrap()
    }

    #[test]
    fn seal_round_trip_and_binding() {
        let k = ring();
        let s = k.seal(b"card-a", b"seed");
        assert_eq!(&k.open(b"card-a", &s).unwrap()[..], b"seed");
        assert!(k.open(b"card-b", &s).is_err());
        let mut t = s.clone();
        *t.last_mut().unwrap() ^= 1;
        assert!(k.open(b"card-a", &t).is_err());
        assert!(k.open(b"card-a", &s[..10]).is_err());
    }

    #[test]
    fn static_hashes_are_sealed_to_their_card_and_kind() {
        let k = ring();
        let h = k.hash_static(StaticSecret::Pin, "card-a", "1234").unwrap();
        assert!(is_sealed_static_hash(&h) && !h.contains("argon2"), "{h}");
        assert!(k.static_matches(StaticSecret::Pin, "card-a", "1234", &h));
        assert!(!k.static_matches(StaticSecret::Pin, "card-a", "1235", &h));
        // Copied onto another card, or into the other secret's column: opens for nothing.
        assert!(!k.static_matches(StaticSecret::Pin, "card-b", "1234", &h));
        assert!(!k.static_matches(StaticSecret::SecondPassword, "card-a", "1234", &h));
        // Another data key (a copy of the database without the key hierarchy): nothing either.
        let other = Keyring::from_master(
            &[8u8; 32],
            HashCost {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        )
        .unwrap();
        assert!(!other.static_matches(StaticSecret::Pin, "card-a", "1234", &h));
        // A plain Argon2id hash (an older database's, or one planted) is refused ...
        let plain = k.argon_hash("1234").unwrap();
        assert!(plain.starts_with("$argon2id$") && !is_sealed_static_hash(&plain));
        assert!(!k.static_matches(StaticSecret::Pin, "card-a", "1234", &plain));
        // ... until it is sealed to its card, without the PIN.
        let sealed = k.seal_static_hash(StaticSecret::Pin, "card-a", &plain);
        assert!(k.static_matches(StaticSecret::Pin, "card-a", "1234", &sealed));
        assert!(!k.static_matches(StaticSecret::Pin, "card-a", "1234", "$pooya-sealed$v1$%%"));
    }

    #[test]
    fn card_code_macs_are_bound_to_their_card() {
        let k = ring();
        let a = k.card_code_mac(CardCode::SmsFixed, "card-a", "1234");
        assert_eq!(a, k.card_code_mac(CardCode::SmsFixed, "card-a", "1234"));
        assert_ne!(a, k.card_code_mac(CardCode::SmsFixed, "card-b", "1234"));
        assert_ne!(a, k.card_code_mac(CardCode::SmsVariable, "card-a", "1234"));
        assert_ne!(a, k.card_code_mac(CardCode::SmsFixed, "card-a", "1235"));
        // An older database's MAC of the code alone binds to the same value.
        let unbound = k.code_mac("sms-fixed", &[b"1234"]);
        assert_eq!(a, k.bind_code_mac(CardCode::SmsFixed, "card-a", &unbound));
    }

    #[test]
    fn secrets_and_macs() {
        let k = ring();
        let m = k.code_mac("fixed", &[b"1234"]);
        assert!(k.code_mac_matches("fixed", &[b"1234"], &m));
        assert!(!k.code_mac_matches("fixed", &[b"1235"], &m));
        assert!(!k.code_mac_matches("other", &[b"1234"], &m));
        let d = random_digits(6);
        assert_eq!(d.len(), 6);
        assert!(d.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(random_id(), random_id());
    }
}
