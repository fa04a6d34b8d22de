//! The vault: one file that holds every token of the app (R13, R14).
//!
//! The format is specified in `docs/vault.md`; in short:
//!
//! * A random 32-byte **master key** encrypts the contents (the tokens and the issuers' clocks)
//!   with XChaCha20-Poly1305; the associated data binds them to the format, version and vault id.
//! * The master key is held in **slots**, each wrapping it with its own AEAD: the *password slot*
//!   (Argon2id of the app password, parameters and salt in the file, calibrated to about 0.4 s
//!   on the machine that creates the vault) and an optional *platform slot* (a random key held
//!   by the OS key store, see [`crate::keystore`]). Changing the password rewrites one slot and
//!   leaves the encrypted tokens byte for byte as they were.
//! * A wrong password fails at its slot; a file changed anywhere fails an AEAD; both leave the
//!   file untouched. Argon2 parameters read from a file are bounded, so a doctored header cannot
//!   make the app exhaust the machine.
//! * Writes are atomic: a temporary file (mode 0600) in the same directory, fsync, rename over
//!   the vault, fsync of the directory. A crash leaves the old or the new vault, never a mix.
//! * Keys, plaintext, seeds and card numbers live in zeroizing buffers, redacted from `Debug`.
//!
//! Two variables exist **for tests only**: `POOYA_APP_KDF_FAST=1` makes `init` choose cheap
//! Argon2 parameters (8 MiB, 1 pass; stored in the file, so opening never depends on it), and
//! `POOYA_APP_TEST_CRASH_BEFORE_RENAME=1` makes every save abort the process after the temporary
//! file is written and fsynced and before the rename, as a power cut would.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::BASE64;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::clock::IssuerClock;
use crate::error::{AppError, Result};
use crate::keystore::KeyStore;

/// The `format` field of every vault file.
pub const VAULT_FORMAT: &str = "pooya-vault";
/// The envelope version this app writes and reads (1 had no slots and is not read).
pub const VAULT_VERSION: u64 = 2;
/// The only key derivation function of version 1.
pub const KDF_ALG: &str = "argon2id";
/// Environment variable that selects cheap Argon2 parameters for new vaults (tests only).
pub const KDF_FAST_ENV: &str = "POOYA_APP_KDF_FAST";
/// Environment variable that makes every save crash before its rename (tests only).
pub const TEST_CRASH_ENV: &str = "POOYA_APP_TEST_CRASH_BEFORE_RENAME";
/// The service name of the app's entries in the OS key store.
pub const KEYSTORE_SERVICE: &str = "pooya-app";

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

// ------------------------------------------------------------------------------------------------
// Secrets

/// Bytes that must not leak: zeroized on drop, redacted in `Debug`, base64 in the vault's JSON.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret itself.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let encoded = Zeroizing::new(BASE64.encode(&self.0));
        serializer.serialize_str(&encoded)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SecretBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64 bytes")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                BASE64
                    .decode(v.as_bytes())
                    .map(SecretBytes::new)
                    .map_err(|_| E::custom("invalid base64"))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A string that must not leak (the full card number): zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `s`.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SecretString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(SecretString::new(v.to_owned()))
            }
        }
        deserializer.deserialize_str(V)
    }
}

// ------------------------------------------------------------------------------------------------
// Contents

/// One enrolled card: everything needed to make its codes offline and to remove it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Token {
    /// The user's name for the card, unique within the vault.
    pub label: String,
    /// The server's id of the token.
    pub token_id: String,
    /// The server the token was enrolled with (base URL, no trailing slash): its issuer.
    pub server: String,
    /// The issuing bank's name as the server gave it.
    pub bank_name: String,
    /// The full card number. Only ever stored inside the ciphertext; never printed.
    pub pan: SecretString,
    /// The masked card number (first 6 and last 4 digits), safe to show.
    pub pan_masked: String,
    /// The enrollment seed; both password keys derive from it.
    pub seed: SecretBytes,
    /// Lifetime of one code, in seconds (the TOTP step), as the server gave it.
    pub lifetime_secs: u32,
    /// The TOTP hash: "SHA1", "SHA256" or "SHA512".
    pub algorithm: String,
    /// Digits of the first password (the dynamic PIN).
    pub first_digits: u8,
    /// Digits of the second password.
    pub second_digits: u8,
    /// When the token was added, Unix time in milliseconds (local clock).
    pub added_at_unix_ms: i64,
}

impl Token {
    /// Last 4 digits of the card number.
    pub fn last4(&self) -> &str {
        let pan = self.pan.expose();
        // By characters: a vault this app wrote holds ASCII digits, but one doctored (or written
        // by another app) must not crash it.
        let start = pan.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
        &pan[start..]
    }
}

/// The decrypted plaintext of a vault.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VaultContents {
    /// The cards, in the order they were added.
    pub tokens: Vec<Token>,
    /// The clock of each issuer (server URL) as last measured (R19).
    #[serde(default)]
    pub clocks: Vec<IssuerClock>,
}

// ------------------------------------------------------------------------------------------------
// KDF parameters

/// Argon2id cost parameters, stored in the password slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The floor of a new vault: 64 MiB, 3 passes, 1 lane (calibration only adds passes).
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// Cheap parameters for test suites only (`POOYA_APP_KDF_FAST=1`): 8 MiB, 1 pass.
    pub const FAST_FOR_TESTS: Self = Self {
        m_kib: 8 * 1024,
        t: 1,
        p: 1,
    };

    const MIN_M_KIB: u32 = 8 * 1024;
    const MAX_M_KIB: u32 = 1024 * 1024;
    const MAX_T: u32 = 64;
    const MAX_P: u32 = 16;
    /// What one unlock should cost on the machine that creates the vault.
    pub const TARGET_UNLOCK: Duration = Duration::from_millis(400);
    /// Passes a calibration may choose at most (keeps a slow first measurement from running away).
    const MAX_CALIBRATED_T: u32 = 12;

    /// [`Self::FAST_FOR_TESTS`] when `POOYA_APP_KDF_FAST=1`, else [`Self::calibrate`]d.
    pub fn for_new_vault() -> Result<Self> {
        match std::env::var(KDF_FAST_ENV) {
            Ok(v) if v == "1" => Ok(Self::FAST_FOR_TESTS),
            _ => Self::calibrate(Self::TARGET_UNLOCK),
        }
    }

    /// 64 MiB and as many passes as make one derivation take about `target` on this machine
    /// (never fewer than [`Self::DEFAULT`]'s 3). Costs two derivations of one pass.
    pub fn calibrate(target: Duration) -> Result<Self> {
        let one = Self {
            t: 1,
            ..Self::DEFAULT
        };
        let salt = [0u8; SALT_LEN];
        // The first run pays for page faults; time the second.
        derive_key(b"calibration", &salt, one)?;
        let start = Instant::now();
        derive_key(b"calibration", &salt, one)?;
        let per_pass = start.elapsed().max(Duration::from_millis(1));
        let t = (target.as_secs_f64() / per_pass.as_secs_f64()).round() as u32;
        Ok(Self {
            t: t.clamp(Self::DEFAULT.t, Self::MAX_CALIBRATED_T),
            ..Self::DEFAULT
        })
    }

    fn check(self) -> std::result::Result<(), String> {
        if !(Self::MIN_M_KIB..=Self::MAX_M_KIB).contains(&self.m_kib) {
            return Err(format!("Argon2 memory {} KiB is out of range", self.m_kib));
        }
        if !(1..=Self::MAX_T).contains(&self.t) {
            return Err(format!("Argon2 passes {} out of range", self.t));
        }
        if !(1..=Self::MAX_P).contains(&self.p) {
            return Err(format!("Argon2 lanes {} out of range", self.p));
        }
        Ok(())
    }
}

fn derive_key(password: &[u8], salt: &[u8], kdf: KdfParams) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(KEY_LEN))
        .map_err(|e| AppError::Internal(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    argon
        .hash_password_into(password, salt, key.as_mut())
        .map_err(|e| AppError::Internal(format!("argon2: {e}")))?;
    Ok(key)
}

fn random_key() -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::rng().fill_bytes(key.as_mut());
    key
}

fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

fn seal_with(key: &[u8], nonce: &[u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    XChaCha20Poly1305::new_from_slice(key)
        .map_err(|_| AppError::Internal("key length".into()))?
        .encrypt(&XNonce::from(*nonce), Payload { msg, aad })
        .map_err(|_| AppError::Internal("encryption failed".into()))
}

/// `None` when the AEAD refuses: a wrong key or changed bytes.
fn open_with(
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    ct: &[u8],
    aad: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    XChaCha20Poly1305::new_from_slice(key)
        .ok()?
        .decrypt(&XNonce::from(*nonce), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

// ------------------------------------------------------------------------------------------------
// Envelope (the JSON file)

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfHeader {
    alg: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum SlotJson {
    Password {
        kdf: KdfHeader,
        nonce: String,
        wrapped_key: String,
    },
    Platform {
        service: String,
        account: String,
        nonce: String,
        wrapped_key: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: String,
    version: u64,
    vault_id: String,
    slots: Vec<SlotJson>,
    nonce: String,
    ciphertext: String,
}

/// Associated data of the contents: binds them to this format, version and vault, but not to
/// the slots, so a slot can change (`passwd`) without re-encrypting the tokens.
#[derive(Serialize)]
struct ContentsAad<'a> {
    format: &'a str,
    version: u64,
    vault_id: &'a str,
}

/// Associated data of one slot's wrapped key: the vault and everything the slot says but its
/// nonce and ciphertext (for a password slot, the Argon2 parameters and salt).
#[derive(Serialize)]
struct SlotAad<'a> {
    format: &'a str,
    version: u64,
    vault_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kdf: Option<&'a KdfHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| AppError::Internal(format!("vault encoding: {e}")))
}

/// One way to the master key, as held in memory.
#[derive(Clone, Debug)]
enum Slot {
    Password {
        kdf: KdfHeader,
        params: KdfParams,
        salt: Vec<u8>,
        nonce: [u8; NONCE_LEN],
        wrapped: Vec<u8>,
    },
    Platform {
        service: String,
        account: String,
        nonce: [u8; NONCE_LEN],
        wrapped: Vec<u8>,
    },
}

impl Slot {
    fn aad(&self, vault_id: &str) -> Result<Vec<u8>> {
        let (kind, kdf, service, account) = match self {
            Slot::Password { kdf, .. } => ("password", Some(kdf), None, None),
            Slot::Platform {
                service, account, ..
            } => (
                "platform",
                None,
                Some(service.as_str()),
                Some(account.as_str()),
            ),
        };
        to_json(&SlotAad {
            format: VAULT_FORMAT,
            version: VAULT_VERSION,
            vault_id,
            kind,
            kdf,
            service,
            account,
        })
    }

    fn to_json(&self) -> SlotJson {
        match self {
            Slot::Password {
                kdf,
                nonce,
                wrapped,
                ..
            } => SlotJson::Password {
                kdf: kdf.clone(),
                nonce: BASE64.encode(nonce),
                wrapped_key: BASE64.encode(wrapped),
            },
            Slot::Platform {
                service,
                account,
                nonce,
                wrapped,
            } => SlotJson::Platform {
                service: service.clone(),
                account: account.clone(),
                nonce: BASE64.encode(nonce),
                wrapped_key: BASE64.encode(wrapped),
            },
        }
    }

    fn is_password(&self) -> bool {
        matches!(self, Slot::Password { .. })
    }

    /// A password slot holding `master` under Argon2id(password) with a fresh salt.
    fn new_password(
        vault_id: &str,
        master: &[u8],
        password: &str,
        params: KdfParams,
    ) -> Result<Self> {
        params.check().map_err(AppError::Internal)?;
        let mut salt = vec![0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let kek = derive_key(password.as_bytes(), &salt, params)?;
        let mut slot = Slot::Password {
            kdf: KdfHeader {
                alg: KDF_ALG.to_owned(),
                m_kib: params.m_kib,
                t: params.t,
                p: params.p,
                salt: BASE64.encode(&salt),
            },
            params,
            salt,
            nonce: random_nonce(),
            wrapped: Vec::new(),
        };
        slot.wrap(vault_id, kek.as_ref(), master)?;
        Ok(slot)
    }

    fn wrap(&mut self, vault_id: &str, kek: &[u8], master: &[u8]) -> Result<()> {
        let aad = self.aad(vault_id)?;
        let (Slot::Password { nonce, .. } | Slot::Platform { nonce, .. }) = self;
        let ct = seal_with(kek, nonce, master, &aad)?;
        let (Slot::Password { wrapped, .. } | Slot::Platform { wrapped, .. }) = self;
        *wrapped = ct;
        Ok(())
    }

    fn unwrap_key(&self, vault_id: &str, kek: &[u8]) -> Result<Option<Zeroizing<[u8; KEY_LEN]>>> {
        let aad = self.aad(vault_id)?;
        let (Slot::Password { nonce, wrapped, .. } | Slot::Platform { nonce, wrapped, .. }) = self;
        Ok(open_with(kek, nonce, wrapped, &aad).and_then(|k| {
            let arr: [u8; KEY_LEN] = k.as_slice().try_into().ok()?;
            Some(Zeroizing::new(arr))
        }))
    }
}

/// A vault file read and checked, but not yet decrypted: no password needed so far.
#[derive(Debug)]
pub struct LockedVault {
    path: PathBuf,
    vault_id: String,
    slots: Vec<Slot>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl LockedVault {
    /// Reads `path` and checks it is a vault this app can open.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(AppError::VaultMissing(path.to_owned()))
            }
            Err(e) => return Err(AppError::VaultIo(path.to_owned(), "read", e)),
        };
        Self::parse(path, &bytes)
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let not_a_vault = || AppError::NotAVault(path.to_owned());
        let damaged = |why: &str| AppError::VaultDamaged(path.to_owned(), why.to_owned());
        let b64 = |what: &str, s: &str| {
            BASE64
                .decode(s.as_bytes())
                .map_err(|_| damaged(&format!("its {what} is not base64")))
        };
        let nonce_of = |s: &str| -> Result<[u8; NONCE_LEN]> {
            BASE64
                .decode(s.as_bytes())
                .ok()
                .and_then(|n| n.try_into().ok())
                .ok_or_else(|| damaged("a nonce is malformed"))
        };

        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| not_a_vault())?;
        let obj = value.as_object().ok_or_else(not_a_vault)?;
        if obj.get("format").and_then(|f| f.as_str()) != Some(VAULT_FORMAT) {
            return Err(not_a_vault());
        }
        match obj.get("version").and_then(|v| v.as_u64()) {
            Some(VAULT_VERSION) => {}
            Some(other) => return Err(AppError::UnsupportedVersion(path.to_owned(), other)),
            None => return Err(damaged("its version is missing")),
        }
        let env: Envelope =
            serde_json::from_value(value).map_err(|_| damaged("its header is malformed"))?;
        if env.vault_id.is_empty() || env.vault_id.len() > 64 {
            return Err(damaged("its id is malformed"));
        }
        let mut slots = Vec::with_capacity(env.slots.len());
        for s in env.slots {
            slots.push(match s {
                SlotJson::Password {
                    kdf,
                    nonce,
                    wrapped_key,
                } => {
                    if kdf.alg != KDF_ALG {
                        return Err(damaged("unknown key derivation"));
                    }
                    let params = KdfParams {
                        m_kib: kdf.m_kib,
                        t: kdf.t,
                        p: kdf.p,
                    };
                    params.check().map_err(|why| damaged(&why))?;
                    let salt = b64("salt", &kdf.salt)?;
                    if !(SALT_LEN..=64).contains(&salt.len()) {
                        return Err(damaged("its salt has a wrong length"));
                    }
                    Slot::Password {
                        params,
                        salt,
                        nonce: nonce_of(&nonce)?,
                        wrapped: b64("wrapped key", &wrapped_key)?,
                        kdf,
                    }
                }
                SlotJson::Platform {
                    service,
                    account,
                    nonce,
                    wrapped_key,
                } => {
                    if service.is_empty() || account.is_empty() || account.len() > 200 {
                        return Err(damaged("its key-store slot is malformed"));
                    }
                    Slot::Platform {
                        service,
                        account,
                        nonce: nonce_of(&nonce)?,
                        wrapped: b64("wrapped key", &wrapped_key)?,
                    }
                }
            });
        }
        if slots.iter().filter(|s| s.is_password()).count() != 1 {
            return Err(damaged("it must have exactly one password slot"));
        }
        let nonce = nonce_of(&env.nonce)?;
        let ciphertext = b64("ciphertext", &env.ciphertext)?;
        if ciphertext.len() < TAG_LEN {
            return Err(damaged("its ciphertext is truncated"));
        }
        Ok(Self {
            path: path.to_owned(),
            vault_id: env.vault_id,
            slots,
            nonce,
            ciphertext,
        })
    }

    /// Whether the vault has a key-store (platform) slot.
    pub fn has_platform_slot(&self) -> bool {
        self.slots.iter().any(|s| !s.is_password())
    }

    /// The Argon2 parameters of the password slot.
    pub fn kdf(&self) -> KdfParams {
        password_params(&self.slots)
    }

    /// Derives the slot key from `password`, unwraps the master key and decrypts. Touches
    /// nothing on disk.
    pub fn unlock(self, password: &str) -> Result<Vault> {
        // `parse` guarantees exactly one password slot.
        let slot = self
            .slots
            .iter()
            .find(|s| s.is_password())
            .ok_or_else(|| AppError::Internal("no password slot".into()))?;
        let Slot::Password { params, salt, .. } = slot else {
            return Err(AppError::Internal("no password slot".into()));
        };
        let kek = derive_key(password.as_bytes(), salt, *params)?;
        let master = slot
            .unwrap_key(&self.vault_id, kek.as_ref())?
            .ok_or_else(|| AppError::WrongPasswordOrTampered(self.path.clone()))?;
        self.open_contents(master)
    }

    /// Unwraps the master key with the key held by the OS key store. `Ok(None)` when the vault
    /// has no platform slot.
    pub fn unlock_with_keystore(self, store: &dyn KeyStore) -> Result<Option<Vault>> {
        let Some(slot) = self.slots.iter().find(|s| !s.is_password()).cloned() else {
            return Ok(None);
        };
        let Slot::Platform { account, .. } = &slot else {
            return Ok(None);
        };
        let kek = store
            .load(account)?
            .ok_or_else(|| AppError::KeystoreEntryMissing(store.name()))?;
        let master = slot
            .unwrap_key(&self.vault_id, &kek)?
            .ok_or_else(|| AppError::KeystoreEntryMissing(store.name()))?;
        self.open_contents(master).map(Some)
    }

    fn open_contents(self, master: Zeroizing<[u8; KEY_LEN]>) -> Result<Vault> {
        let aad = to_json(&ContentsAad {
            format: VAULT_FORMAT,
            version: VAULT_VERSION,
            vault_id: &self.vault_id,
        })?;
        // The master key is right (its slot's AEAD said so): a failure here is a changed file.
        let plaintext = open_with(master.as_ref(), &self.nonce, &self.ciphertext, &aad)
            .ok_or_else(|| {
                AppError::VaultDamaged(
                    self.path.clone(),
                    "its contents fail the integrity check (the file was changed or damaged)"
                        .into(),
                )
            })?;
        let contents: VaultContents = serde_json::from_slice(&plaintext).map_err(|_| {
            AppError::VaultDamaged(self.path.clone(), "its contents are malformed".into())
        })?;
        Ok(Vault {
            path: self.path,
            vault_id: self.vault_id,
            slots: self.slots,
            master,
            contents,
            sealed: Some((self.nonce, self.ciphertext)),
        })
    }
}

fn password_params(slots: &[Slot]) -> KdfParams {
    slots
        .iter()
        .find_map(|s| match s {
            Slot::Password { params, .. } => Some(*params),
            Slot::Platform { .. } => None,
        })
        .unwrap_or(KdfParams::DEFAULT)
}

/// An open vault: the decrypted tokens and the master key to write them back.
pub struct Vault {
    path: PathBuf,
    vault_id: String,
    slots: Vec<Slot>,
    master: Zeroizing<[u8; KEY_LEN]>,
    contents: VaultContents,
    /// The ciphertext of `contents` as on disk; `None` once they changed.
    sealed: Option<([u8; NONCE_LEN], Vec<u8>)>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("slots", &self.slots.len())
            .field("tokens", &self.contents.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Creates a new, empty vault at `path` with a random master key and one password slot;
    /// fails if anything exists there.
    pub fn create(path: &Path, password: &str, kdf: KdfParams) -> Result<Self> {
        if path.symlink_metadata().is_ok() {
            return Err(AppError::VaultExists(path.to_owned()));
        }
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let vault_id = data_encoding::HEXLOWER.encode(&id);
        let master = random_key();
        let slot = Slot::new_password(&vault_id, master.as_ref(), password, kdf)?;
        let mut vault = Self {
            path: path.to_owned(),
            vault_id,
            slots: vec![slot],
            master,
            contents: VaultContents::default(),
            sealed: None,
        };
        let bytes = vault.seal()?;
        write_atomic(path, &bytes, WriteMode::CreateNew).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                AppError::VaultExists(path.to_owned())
            } else {
                AppError::VaultIo(path.to_owned(), "write", e)
            }
        })?;
        Ok(vault)
    }

    /// Reads and decrypts the vault at `path` with the app password.
    pub fn open(path: &Path, password: &str) -> Result<Self> {
        LockedVault::read(path)?.unlock(password)
    }

    /// Where the vault lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Argon2 parameters of the password slot.
    pub fn kdf(&self) -> KdfParams {
        password_params(&self.slots)
    }

    /// The cards, in the order they were added.
    pub fn tokens(&self) -> &[Token] {
        &self.contents.tokens
    }

    /// The issuers' clocks as last measured.
    pub fn clocks(&self) -> &[IssuerClock] {
        &self.contents.clocks
    }

    /// The clock of `server`, if measured.
    pub fn clock(&self, server: &str) -> Option<&IssuerClock> {
        self.contents.clocks.iter().find(|c| c.server == server)
    }

    /// Records a new measurement of `clock.server`'s clock (in memory; call [`Vault::save`]).
    pub fn set_clock(&mut self, clock: IssuerClock) {
        self.sealed = None;
        match self
            .contents
            .clocks
            .iter_mut()
            .find(|c| c.server == clock.server)
        {
            Some(c) => *c = clock,
            None => self.contents.clocks.push(clock),
        }
    }

    /// Adds a card (in memory; call [`Vault::save`]). Refuses a label already used.
    pub fn add(&mut self, token: Token) -> Result<()> {
        if self.contents.tokens.iter().any(|t| t.label == token.label) {
            return Err(AppError::DuplicateLabel(token.label));
        }
        self.sealed = None;
        self.contents.tokens.push(token);
        Ok(())
    }

    /// Removes the card with `token_id` (in memory; call [`Vault::save`]).
    pub fn remove(&mut self, token_id: &str) -> Option<Token> {
        let i = self
            .contents
            .tokens
            .iter()
            .position(|t| t.token_id == token_id)?;
        self.sealed = None;
        let gone = self.contents.tokens.remove(i);
        // An issuer no card uses any more need not be remembered.
        if !self.contents.tokens.iter().any(|t| t.server == gone.server) {
            self.contents.clocks.retain(|c| c.server != gone.server);
        }
        Some(gone)
    }

    /// Replaces the password slot: a new salt and parameters wrap the same master key. The
    /// encrypted contents stay byte for byte as they are (call [`Vault::save`]).
    pub fn change_password(&mut self, new_password: &str, kdf: KdfParams) -> Result<()> {
        let slot = Slot::new_password(&self.vault_id, self.master.as_ref(), new_password, kdf)?;
        for s in &mut self.slots {
            if s.is_password() {
                *s = slot;
                break;
            }
        }
        Ok(())
    }

    /// Whether the vault has a key-store (platform) slot.
    pub fn has_platform_slot(&self) -> bool {
        self.slots.iter().any(|s| !s.is_password())
    }

    /// Adds a platform slot: a random slot key goes to the OS key store, the master key is
    /// wrapped under it in the file. Replaces an existing platform slot (call [`Vault::save`]).
    pub fn enable_platform_slot(&mut self, store: &dyn KeyStore) -> Result<()> {
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        let account = format!("{}-{}", self.vault_id, data_encoding::HEXLOWER.encode(&id));
        let kek = random_key();
        let mut slot = Slot::Platform {
            service: KEYSTORE_SERVICE.to_owned(),
            account: account.clone(),
            nonce: random_nonce(),
            wrapped: Vec::new(),
        };
        slot.wrap(&self.vault_id, kek.as_ref(), self.master.as_ref())?;
        store.store(&account, kek.as_ref())?;
        // Forget the old entry only once the new one is in place.
        self.disable_platform_slot(store);
        self.slots.push(slot);
        Ok(())
    }

    /// Drops the platform slot and deletes its key from the key store (best effort: a key
    /// store that is gone must not keep the user from turning the slot off). Returns whether
    /// there was one.
    pub fn disable_platform_slot(&mut self, store: &dyn KeyStore) -> bool {
        let mut had = false;
        self.slots.retain(|s| match s {
            Slot::Platform { account, .. } => {
                let _ = store.delete(account);
                had = true;
                false
            }
            Slot::Password { .. } => true,
        });
        had
    }

    /// Encrypts the contents if they changed (fresh nonce) and replaces the file atomically.
    pub fn save(&mut self) -> Result<()> {
        let bytes = self.seal()?;
        let crash = std::env::var(TEST_CRASH_ENV).is_ok_and(|v| v == "1");
        write_atomic_with(&self.path, &bytes, WriteMode::Replace, |_| {
            if crash {
                // Tests only: die as a power cut would, between the fsync and the rename.
                std::process::abort();
            }
            Ok(())
        })
        .map_err(|e| AppError::VaultIo(self.path.clone(), "write", e))
    }

    /// The bytes of the vault file for the current contents and slots.
    fn seal(&mut self) -> Result<Vec<u8>> {
        let (nonce, ciphertext) = match &self.sealed {
            Some(s) => s.clone(),
            None => {
                let aad = to_json(&ContentsAad {
                    format: VAULT_FORMAT,
                    version: VAULT_VERSION,
                    vault_id: &self.vault_id,
                })?;
                // Reserve generously so the buffer holding the plaintext is not reallocated
                // (and its old copies left behind unzeroized) while serialising.
                let mut plaintext =
                    Zeroizing::new(Vec::with_capacity(4096 + 1024 * self.tokens().len()));
                serde_json::to_writer(&mut *plaintext, &self.contents)
                    .map_err(|e| AppError::Internal(format!("vault encoding: {e}")))?;
                let nonce = random_nonce();
                let ct = seal_with(self.master.as_ref(), &nonce, &plaintext, &aad)?;
                self.sealed = Some((nonce, ct.clone()));
                (nonce, ct)
            }
        };
        let envelope = Envelope {
            format: VAULT_FORMAT.to_owned(),
            version: VAULT_VERSION,
            vault_id: self.vault_id.clone(),
            slots: self.slots.iter().map(Slot::to_json).collect(),
            nonce: BASE64.encode(&nonce),
            ciphertext: BASE64.encode(&ciphertext),
        };
        let mut out = serde_json::to_vec_pretty(&envelope)
            .map_err(|e| AppError::Internal(format!("vault encoding: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }
}

// ------------------------------------------------------------------------------------------------
// Atomic writes

/// Whether an atomic write may replace an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Fail with `AlreadyExists` if the target exists.
    CreateNew,
    /// Replace the target.
    Replace,
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync of the directory).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: WriteMode) -> io::Result<()> {
    write_atomic_with(path, bytes, mode, |_| Ok(()))
}

/// [`write_atomic`] with a hook run after the temporary file is complete and before it replaces
/// the target; a failing hook aborts the write (tests use it to inject failures).
pub(crate) fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    mode: WriteMode,
    before_commit: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:016x}",
        file_name.to_string_lossy(),
        std::process::id(),
        rand::rng().next_u64()
    ));

    let result = (|| {
        let mut file = open_private_new(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        before_commit(&tmp)?;
        match mode {
            WriteMode::Replace => fs::rename(&tmp, path)?,
            // A hard link never replaces an existing file, so "create" stays race-free.
            WriteMode::CreateNew => match fs::hard_link(&tmp, path) {
                Ok(()) => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
                // File systems without hard links: check, then rename.
                Err(_) => {
                    if path.symlink_metadata().is_ok() {
                        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                    }
                    fs::rename(&tmp, path)?;
                }
            },
        }
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn open_private_new(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    match fs::File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => Ok(()),
        // Some file systems cannot fsync a directory; the rename itself already happened.
        Err(e)
            if e.kind() == io::ErrorKind::InvalidInput
                || e.kind() == io::ErrorKind::Unsupported =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "correct horse 1";

    fn sample_token(label: &str, pan: &str) -> Token {
        Token {
            label: label.to_owned(),
            token_id: format!("tok-{label}"),
            server: "http://127.0.0.1:8080".to_owned(),
            bank_name: "Maskan".to_owned(),
            pan: SecretString::new(pan.to_owned()),
            pan_masked: crate::cards::mask_pan(pan),
            seed: SecretBytes::from_slice(&[7u8; 32]),
            lifetime_secs: 60,
            algorithm: "SHA256".to_owned(),
            first_digits: 4,
            second_digits: 8,
            added_at_unix_ms: 1_700_000_000_000,
        }
    }

    /// Found with the `vault_file` fuzz target: a card number that is not ASCII (a doctored vault)
    /// made `last4` slice inside a character and panic.
    #[test]
    fn last4_of_a_card_number_that_is_not_ascii() {
        assert_eq!(sample_token("a", "6280231234567898").last4(), "7898");
        assert_eq!(sample_token("b", "\u{e9}\u{e9}a").last4(), "\u{e9}\u{e9}a");
        assert_eq!(
            sample_token("c", "12\u{e9}\u{e9}34").last4(),
            "\u{e9}\u{e9}34"
        );
        assert_eq!(sample_token("d", "").last4(), "");
    }

    fn new_vault(dir: &Path) -> (PathBuf, Vault) {
        let path = dir.join("vault.json");
        let v = Vault::create(&path, PW, KdfParams::FAST_FOR_TESTS).unwrap();
        (path, v)
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        v.add(sample_token("card-0004", "6280231234560004"))
            .unwrap();
        v.add(sample_token("salary", "6280231234567890")).unwrap();
        v.save().unwrap();

        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("6280231234567890"),
            "the full PAN must not be in clear"
        );
        assert!(!text.contains("salary"), "labels are inside the ciphertext");
        let env: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(env["format"], "pooya-vault");
        assert_eq!(env["version"], 2);
        assert_eq!(env["slots"].as_array().unwrap().len(), 1);
        assert_eq!(env["slots"][0]["type"], "password");
        assert_eq!(env["slots"][0]["kdf"]["alg"], "argon2id");
        assert_eq!(env["slots"][0]["kdf"]["m_kib"], 8192);

        let back = Vault::open(&path, PW).unwrap();
        assert_eq!(back.tokens().len(), 2);
        let t = &back.tokens()[1];
        assert_eq!(t.label, "salary");
        assert_eq!(t.pan.expose(), "6280231234567890");
        assert_eq!(t.seed.expose(), &[7u8; 32]);
        assert!(back.clocks().is_empty());
        assert_eq!(t.last4(), "7890");
        assert_eq!(back.kdf(), KdfParams::FAST_FOR_TESTS);
    }

    #[cfg(unix)]
    #[test]
    fn file_mode_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        v.save().unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn create_refuses_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        fs::write(&path, b"keep me").unwrap();
        let err = Vault::create(&path, PW, KdfParams::FAST_FOR_TESTS).unwrap_err();
        assert!(matches!(err, AppError::VaultExists(_)), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn duplicate_label_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut v) = new_vault(dir.path());
        v.add(sample_token("a", "6280231234567890")).unwrap();
        let err = v.add(sample_token("a", "6280231234560004")).unwrap_err();
        assert!(matches!(err, AppError::DuplicateLabel(_)));
    }

    #[test]
    fn wrong_password() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = new_vault(dir.path());
        let before = fs::read(&path).unwrap();
        let err = Vault::open(&path, "wrong password 2").unwrap_err();
        assert!(matches!(err, AppError::WrongPasswordOrTampered(_)), "{err}");
        assert!(err.to_string().contains("wrong app password"));
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    fn edit_envelope(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        f(&mut v);
        fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
    }

    #[test]
    fn tampered_contents_with_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        v.add(sample_token("a", "6280231234567890")).unwrap();
        v.save().unwrap();
        edit_envelope(&path, |env| {
            let mut ct = BASE64
                .decode(env["ciphertext"].as_str().unwrap().as_bytes())
                .unwrap();
            ct[3] ^= 0x01;
            env["ciphertext"] = BASE64.encode(&ct).into();
        });
        let before = fs::read(&path).unwrap();
        let err = Vault::open(&path, PW).unwrap_err();
        // The password slot opened: the damage is named as such, not as a wrong password.
        assert!(matches!(err, AppError::VaultDamaged(..)), "{err}");
        assert!(err.to_string().contains("integrity"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn tampered_ciphertext() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        v.add(sample_token("a", "6280231234567890")).unwrap();
        v.save().unwrap();
        edit_envelope(&path, |env| {
            let mut ct = BASE64
                .decode(env["ciphertext"].as_str().unwrap().as_bytes())
                .unwrap();
            ct[3] ^= 0x01;
            env["ciphertext"] = BASE64.encode(&ct).into();
        });
        let err = Vault::open(&path, "wrong password 3").unwrap_err();
        assert!(matches!(err, AppError::WrongPasswordOrTampered(_)), "{err}");
    }

    #[test]
    fn tampered_header() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = new_vault(dir.path());
        // Changing a KDF parameter changes the key as well as the associated data.
        edit_envelope(&path, |env| env["slots"][0]["kdf"]["t"] = 2.into());
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::WrongPasswordOrTampered(_))
        ));
    }

    #[test]
    fn vault_id_is_authenticated() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = new_vault(dir.path());
        edit_envelope(&path, |env| env["vault_id"] = "00ff".into());
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::WrongPasswordOrTampered(_))
        ));
    }

    #[test]
    fn passwd_rewraps_the_master_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        v.add(sample_token("a", "6280231234567890")).unwrap();
        v.save().unwrap();
        let env_of = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
        };
        let before = env_of(&path);

        let mut v = Vault::open(&path, PW).unwrap();
        v.change_password("new password 2", KdfParams::FAST_FOR_TESTS)
            .unwrap();
        v.save().unwrap();
        let after = env_of(&path);
        // The tokens are not re-encrypted: same nonce, same ciphertext.
        assert_eq!(before["ciphertext"], after["ciphertext"]);
        assert_eq!(before["nonce"], after["nonce"]);
        assert_eq!(before["vault_id"], after["vault_id"]);
        assert_ne!(
            before["slots"], after["slots"],
            "a new salt and wrapped key"
        );

        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::WrongPasswordOrTampered(_))
        ));
        let v = Vault::open(&path, "new password 2").unwrap();
        assert_eq!(v.tokens()[0].label, "a");
    }

    #[test]
    fn platform_slot() {
        use crate::keystore::MemoryKeyStore;
        let store = MemoryKeyStore::default();
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        v.add(sample_token("a", "6280231234567890")).unwrap();
        v.save().unwrap();
        // No platform slot yet.
        assert!(LockedVault::read(&path)
            .unwrap()
            .unlock_with_keystore(&store)
            .unwrap()
            .is_none());

        v.enable_platform_slot(&store).unwrap();
        v.save().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"platform\""), "{text}");
        let locked = LockedVault::read(&path).unwrap();
        assert!(locked.has_platform_slot());
        let opened = locked.unlock_with_keystore(&store).unwrap().unwrap();
        assert_eq!(opened.tokens()[0].label, "a");
        // The password still works beside it.
        assert_eq!(Vault::open(&path, PW).unwrap().tokens().len(), 1);

        // Enabling again replaces the slot and its key: one platform slot, one key.
        let mut v = Vault::open(&path, PW).unwrap();
        v.enable_platform_slot(&store).unwrap();
        v.save().unwrap();
        let env: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(env["slots"].as_array().unwrap().len(), 2);

        // A key store that lost the key: a clear error, nothing changed.
        let before = fs::read(&path).unwrap();
        let empty = MemoryKeyStore::default();
        let err = LockedVault::read(&path)
            .unwrap()
            .unlock_with_keystore(&empty)
            .unwrap_err();
        assert!(matches!(err, AppError::KeystoreEntryMissing(_)), "{err}");
        assert_eq!(fs::read(&path).unwrap(), before);

        // Disabling deletes the key too.
        assert!(v.disable_platform_slot(&store));
        v.save().unwrap();
        assert!(!LockedVault::read(&path).unwrap().has_platform_slot());
        assert!(store.entries_len() == 0);
    }

    #[test]
    fn calibration_reaches_the_target_cost() {
        // Only the floor and the shape are checked here; the measured cost is in BENCHMARKS.md.
        let k = KdfParams::calibrate(Duration::from_millis(1)).unwrap();
        assert_eq!(k, KdfParams::DEFAULT, "never below 64 MiB and 3 passes");
        let k = KdfParams::calibrate(Duration::from_secs(3600)).unwrap();
        assert_eq!(k.t, KdfParams::MAX_CALIBRATED_T, "bounded");
        assert_eq!(k.m_kib, 64 * 1024);
    }

    #[test]
    fn unsupported_version_and_bad_params() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = new_vault(dir.path());
        let original = fs::read(&path).unwrap();
        edit_envelope(&path, |env| env["version"] = 3.into());
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::UnsupportedVersion(_, 3))
        ));

        fs::write(&path, &original).unwrap();
        edit_envelope(&path, |env| {
            env["slots"][0]["kdf"]["m_kib"] = 4_000_000_000u32.into()
        });
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::VaultDamaged(..))
        ));
    }

    #[test]
    fn truncated_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = new_vault(dir.path());
        let full = fs::read(&path).unwrap();
        for cut in [0, 1, 10, full.len() / 2, full.len() - 3] {
            fs::write(&path, &full[..cut]).unwrap();
            let err = Vault::open(&path, PW).unwrap_err();
            assert!(
                matches!(err, AppError::NotAVault(_) | AppError::VaultDamaged(..)),
                "{err}"
            );
            assert_eq!(
                fs::read(&path).unwrap(),
                &full[..cut],
                "file must stay untouched"
            );
        }
        fs::write(&path, b"{\"hello\": 1}").unwrap();
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::NotAVault(_))
        ));
        fs::write(&path, b"\x00\x01binary").unwrap();
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::NotAVault(_))
        ));

        // A ciphertext cut short but still valid base64.
        fs::write(&path, &full).unwrap();
        edit_envelope(&path, |env| {
            let ct = BASE64
                .decode(env["ciphertext"].as_str().unwrap().as_bytes())
                .unwrap();
            env["ciphertext"] = BASE64.encode(&ct[..ct.len() - 1]).into();
        });
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::VaultDamaged(..))
        ));
    }

    #[test]
    fn missing_vault() {
        let dir = tempfile::tempdir().unwrap();
        let err = Vault::open(&dir.path().join("nope"), PW).unwrap_err();
        assert!(matches!(err, AppError::VaultMissing(_)));
        assert!(err.to_string().contains("init"));
    }

    #[test]
    fn atomic_write_keeps_old_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.json");
        fs::write(&path, b"old contents").unwrap();
        let err = write_atomic_with(&path, b"new contents", WriteMode::Replace, |tmp| {
            assert_eq!(fs::read(tmp).unwrap(), b"new contents");
            Err(io::Error::other("injected failure"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "injected failure");
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "the temporary file must be cleaned up");

        write_atomic(&path, b"new contents", WriteMode::Replace).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        let err = write_atomic(&path, b"x", WriteMode::CreateNew).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_into_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("vault.json");
        assert!(write_atomic(&path, b"x", WriteMode::Replace).is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        let t = sample_token("a", "6280231234567890");
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("6280231234567890"));
        assert!(dbg.contains("[redacted]"));
        assert!(dbg.contains("628023******7890"));
        assert!(!dbg.contains("7, 7, 7"));
    }
}
