//! The vault: one file that holds every token of the app, encrypted under the app password.
//!
//! # What it holds
//! A list of [`Token`]s. Each token keeps what the app needs to make codes offline and to remove
//! the token later: the token id and the server it was enrolled with, the bank's name, the user's
//! label, the full card number (only ever stored here, inside the ciphertext) and its masked form,
//! the 32-byte enrollment seed from which both password keys are derived, the code parameters
//! (lifetime, algorithm, digits of the first and the second password), the clock offset measured
//! against the server at enrollment, and when the token was added.
//!
//! # How it is protected
//! The file is a JSON envelope:
//!
//! ```json
//! {"format": "pooya-vault", "version": 1,
//!  "kdf": {"alg": "argon2id", "m_kib": 65536, "t": 3, "p": 1, "salt": "<base64>"},
//!  "nonce": "<base64, 24 bytes>", "ciphertext": "<base64>"}
//! ```
//!
//! * The key is Argon2id(app password, salt) with the parameters written in `kdf` (defaults:
//!   64 MiB, 3 passes, 1 lane; a random 16-byte salt chosen when the vault is created).
//! * The plaintext (the JSON of the tokens) is sealed with XChaCha20-Poly1305 under that key and a
//!   fresh random 24-byte nonce on every write.
//! * The header (`format`, `version`, `kdf`) is the AEAD's associated data, so changing any of it,
//!   like changing one bit of the ciphertext, makes the vault fail to open. A wrong password and a
//!   tampered file are indistinguishable by design; both leave the file untouched.
//! * Argon2 parameters read from a file are bounded (at most 1 GiB, 64 passes, 16 lanes), so a
//!   doctored header cannot make the app exhaust the machine before the AEAD check.
//! * Writes are atomic: a temporary file (mode 0600) in the same directory is written and fsynced,
//!   then renamed over the vault, then the directory is fsynced. A crash leaves the old or the new
//!   vault, never a mix.
//! * Keys, the decrypted plaintext, seeds and card numbers live in zeroizing buffers and are
//!   redacted from `Debug`.
//!
//! Setting the environment variable `POOYA_APP_KDF_FAST=1` when a vault is *created* selects
//! cheap Argon2 parameters (8 MiB, 1 pass) so test suites run quickly. It is meant for tests
//! only: such a vault is far easier to brute-force. The parameters are stored in the file, so
//! opening a vault never depends on the variable.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::BASE64;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::{AppError, Result};

/// The `format` field of every vault file.
pub const VAULT_FORMAT: &str = "pooya-vault";
/// The envelope version this app writes and reads.
pub const VAULT_VERSION: u64 = 1;
/// The only key derivation function of version 1.
pub const KDF_ALG: &str = "argon2id";
/// Environment variable that selects cheap Argon2 parameters for new vaults (tests only).
pub const KDF_FAST_ENV: &str = "POOYA_APP_KDF_FAST";

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
        f.write_str("<redacted>")
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
        f.write_str("<redacted>")
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
    /// The server the token was enrolled with (base URL, no trailing slash).
    pub server: String,
    /// The issuing bank's name as the server gave it.
    pub bank_name: String,
    /// The full card number. Only ever stored inside the ciphertext; never printed.
    pub pan: SecretString,
    /// The masked card number (first 6 and last 4 digits), safe to show.
    pub pan_masked: String,
    /// The enrollment seed; both password keys derive from it.
    pub seed: SecretBytes,
    /// Lifetime of one code, in seconds (the TOTP step).
    pub lifetime_secs: u32,
    /// The TOTP hash: "SHA1", "SHA256" or "SHA512".
    pub algorithm: String,
    /// Digits of the first password (the dynamic PIN).
    pub first_digits: u8,
    /// Digits of the second password.
    pub second_digits: u8,
    /// Server clock minus local clock, in milliseconds, measured at enrollment.
    pub clock_offset_ms: i64,
    /// When the token was added, Unix time in milliseconds.
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
}

// ------------------------------------------------------------------------------------------------
// KDF parameters

/// Argon2id cost parameters, stored in the vault header.
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
    /// The parameters of a new vault: 64 MiB, 3 passes, 1 lane.
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

    /// [`Self::FAST_FOR_TESTS`] when `POOYA_APP_KDF_FAST=1`, else [`Self::DEFAULT`].
    pub fn for_new_vault() -> Self {
        match std::env::var(KDF_FAST_ENV) {
            Ok(v) if v == "1" => Self::FAST_FOR_TESTS,
            _ => Self::DEFAULT,
        }
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

// ------------------------------------------------------------------------------------------------
// Envelope

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfHeader {
    alg: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: String,
    version: u64,
    kdf: KdfHeader,
    nonce: String,
    ciphertext: String,
}

/// The authenticated header: its JSON (fixed field order) is the AEAD's associated data.
#[derive(Serialize)]
struct AadHeader<'a> {
    format: &'a str,
    version: u64,
    kdf: &'a KdfHeader,
}

fn associated_data(kdf: &KdfHeader) -> Result<Vec<u8>> {
    serde_json::to_vec(&AadHeader {
        format: VAULT_FORMAT,
        version: VAULT_VERSION,
        kdf,
    })
    .map_err(|e| AppError::Internal(format!("header encoding: {e}")))
}

/// A vault file read and checked, but not yet decrypted: no password needed so far.
#[derive(Debug)]
pub struct LockedVault {
    path: PathBuf,
    kdf: KdfParams,
    kdf_header: KdfHeader,
    salt: Vec<u8>,
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
        if env.kdf.alg != KDF_ALG {
            return Err(damaged("unknown key derivation"));
        }
        let kdf = KdfParams {
            m_kib: env.kdf.m_kib,
            t: env.kdf.t,
            p: env.kdf.p,
        };
        kdf.check().map_err(|why| damaged(&why))?;
        let salt = BASE64
            .decode(env.kdf.salt.as_bytes())
            .map_err(|_| damaged("its salt is not base64"))?;
        if !(SALT_LEN..=64).contains(&salt.len()) {
            return Err(damaged("its salt has a wrong length"));
        }
        let nonce: [u8; NONCE_LEN] = BASE64
            .decode(env.nonce.as_bytes())
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| damaged("its nonce is malformed"))?;
        let ciphertext = BASE64
            .decode(env.ciphertext.as_bytes())
            .map_err(|_| damaged("its ciphertext is not base64"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(damaged("its ciphertext is truncated"));
        }
        Ok(Self {
            path: path.to_owned(),
            kdf,
            kdf_header: env.kdf,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// Derives the key from `password` and decrypts. Touches nothing on disk.
    pub fn unlock(self, password: &str) -> Result<Vault> {
        let key = derive_key(password.as_bytes(), &self.salt, self.kdf)?;
        let aad = associated_data(&self.kdf_header)?;
        let cipher = XChaCha20Poly1305::new_from_slice(key.as_ref())
            .map_err(|_| AppError::Internal("key length".into()))?;
        let nonce = XNonce::from(self.nonce);
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: &self.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| AppError::WrongPasswordOrTampered(self.path.clone()))?,
        );
        let contents: VaultContents = serde_json::from_slice(&plaintext).map_err(|_| {
            AppError::VaultDamaged(self.path.clone(), "its contents are malformed".into())
        })?;
        Ok(Vault {
            path: self.path,
            kdf: self.kdf,
            salt: self.salt,
            key,
            contents,
        })
    }
}

/// An open vault: the decrypted tokens and the key to write them back.
pub struct Vault {
    path: PathBuf,
    kdf: KdfParams,
    salt: Vec<u8>,
    key: Zeroizing<[u8; KEY_LEN]>,
    contents: VaultContents,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("kdf", &self.kdf)
            .field("tokens", &self.contents.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Creates a new, empty vault at `path`; fails if anything exists there.
    pub fn create(path: &Path, password: &str, kdf: KdfParams) -> Result<Self> {
        if path.symlink_metadata().is_ok() {
            return Err(AppError::VaultExists(path.to_owned()));
        }
        kdf.check().map_err(AppError::Internal)?;
        let mut salt = vec![0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let key = derive_key(password.as_bytes(), &salt, kdf)?;
        let vault = Self {
            path: path.to_owned(),
            kdf,
            salt,
            key,
            contents: VaultContents::default(),
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

    /// Reads and decrypts the vault at `path`.
    pub fn open(path: &Path, password: &str) -> Result<Self> {
        LockedVault::read(path)?.unlock(password)
    }

    /// Where the vault lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The KDF parameters of this vault.
    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    /// The cards, in the order they were added.
    pub fn tokens(&self) -> &[Token] {
        &self.contents.tokens
    }

    /// Adds a card (in memory; call [`Vault::save`]). Refuses a label already used.
    pub fn add(&mut self, token: Token) -> Result<()> {
        if self.contents.tokens.iter().any(|t| t.label == token.label) {
            return Err(AppError::DuplicateLabel(token.label));
        }
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
        Some(self.contents.tokens.remove(i))
    }

    /// Encrypts the contents under a fresh nonce and replaces the file atomically.
    pub fn save(&self) -> Result<()> {
        let bytes = self.seal()?;
        write_atomic(&self.path, &bytes, WriteMode::Replace)
            .map_err(|e| AppError::VaultIo(self.path.clone(), "write", e))
    }

    /// The bytes of the vault file for the current contents.
    fn seal(&self) -> Result<Vec<u8>> {
        let kdf_header = KdfHeader {
            alg: KDF_ALG.to_owned(),
            m_kib: self.kdf.m_kib,
            t: self.kdf.t,
            p: self.kdf.p,
            salt: BASE64.encode(&self.salt),
        };
        let aad = associated_data(&kdf_header)?;
        // Reserve generously so the buffer holding the plaintext is not reallocated (and its old
        // copies left behind unzeroized) while serialising.
        let mut plaintext = Zeroizing::new(Vec::with_capacity(4096 + 1024 * self.tokens().len()));
        serde_json::to_writer(&mut *plaintext, &self.contents)
            .map_err(|e| AppError::Internal(format!("vault encoding: {e}")))?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.as_ref())
            .map_err(|_| AppError::Internal("key length".into()))?;
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| AppError::Internal("encryption failed".into()))?;
        let envelope = Envelope {
            format: VAULT_FORMAT.to_owned(),
            version: VAULT_VERSION,
            kdf: kdf_header,
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
            clock_offset_ms: -1234,
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
        assert_eq!(env["version"], 1);
        assert_eq!(env["kdf"]["alg"], "argon2id");
        assert_eq!(env["kdf"]["m_kib"], 8192);

        let back = Vault::open(&path, PW).unwrap();
        assert_eq!(back.tokens().len(), 2);
        let t = &back.tokens()[1];
        assert_eq!(t.label, "salary");
        assert_eq!(t.pan.expose(), "6280231234567890");
        assert_eq!(t.seed.expose(), &[7u8; 32]);
        assert_eq!(t.clock_offset_ms, -1234);
        assert_eq!(t.last4(), "7890");
        assert_eq!(back.kdf(), KdfParams::FAST_FOR_TESTS);
    }

    #[cfg(unix)]
    #[test]
    fn file_mode_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, v) = new_vault(dir.path());
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
        let err = Vault::open(&path, PW).unwrap_err();
        assert!(matches!(err, AppError::WrongPasswordOrTampered(_)), "{err}");
    }

    #[test]
    fn tampered_header() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = new_vault(dir.path());
        // Changing a KDF parameter changes the key as well as the associated data.
        edit_envelope(&path, |env| env["kdf"]["t"] = 2.into());
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::WrongPasswordOrTampered(_))
        ));
    }

    #[test]
    fn header_is_associated_data() {
        // Same key, different header: only the AAD can catch this.
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = new_vault(dir.path());
        let locked = LockedVault::read(&path).unwrap();
        let mut tampered = locked;
        tampered.kdf_header.m_kib += 1; // the key still derives from the untouched `kdf`
        assert!(matches!(
            tampered.unlock(PW),
            Err(AppError::WrongPasswordOrTampered(_))
        ));
    }

    #[test]
    fn unsupported_version_and_bad_params() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = new_vault(dir.path());
        let original = fs::read(&path).unwrap();
        edit_envelope(&path, |env| env["version"] = 2.into());
        assert!(matches!(
            Vault::open(&path, PW),
            Err(AppError::UnsupportedVersion(_, 2))
        ));

        fs::write(&path, &original).unwrap();
        edit_envelope(&path, |env| env["kdf"]["m_kib"] = 4_000_000_000u32.into());
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
            Err(AppError::WrongPasswordOrTampered(_))
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
        assert!(dbg.contains("<redacted>"));
        assert!(dbg.contains("628023******7890"));
        assert!(!dbg.contains("7, 7, 7"));
    }
}
