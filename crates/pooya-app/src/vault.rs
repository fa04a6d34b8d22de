//! The vault: one file that holds every token of the app (R13, R14).
//!
//! The format is specified in `docs/vault.md`; in short:
//!
//! * A random 32-byte **master key** encrypts the contents (the tokens and the issuers' clocks)
//!   with XChaCha20-Poly1305; the associated data binds them to the format, version and vault id.
//! * The master key is held in **slots** ([`slot`]), each wrapping it with its own AEAD:
//!   the *password slot* (Argon2id of the app password, [`kdf`]) and an optional
//!   *platform slot* (a random key held by the OS key store, see [`crate::keystore`]).
//! * Changing the password or removing the platform slot **re-keys** the vault: a new master key,
//!   the contents re-encrypted under it, every remaining slot wrapping the new key. An old copy
//!   of the file and an old password (or an old key-store key) open that old copy only.
//! * A wrong password fails at its slot; a file changed anywhere fails an AEAD; both leave the
//!   file untouched. Argon2 parameters read from a file are bounded, so a doctored header cannot
//!   make the app exhaust the machine.
//! * Writes are atomic: a temporary file (mode 0600) in the same directory, fsync, rename over
//!   the vault, fsync of the directory. A crash leaves the old or the new vault, never a mix.
//! * Keys, plaintext, seeds and card numbers live in zeroizing buffers, redacted from `Debug`.
//!
//! Two variables exist **for tests only**: `POOYA_APP_KDF_FAST=1` (see [`kdf`]; test and
//! debug builds only), and `POOYA_APP_TEST_CRASH_BEFORE_RENAME=1`, which makes every save abort
//! the process after the temporary file is written and fsynced and before the rename, as a power
//! cut would.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

mod atomic;
pub mod kdf;
mod slot;

use crate::clock::IssuerClock;
use crate::error::{AppError, Result};
use crate::keystore::KeyStore;
use crate::tr;
use atomic::{write_atomic, write_atomic_with, WriteMode};
pub use kdf::{KdfParams, KDF_ALG, KDF_FAST_ENV};
use slot::{
    decode_b64, decode_nonce, open_with, random_key, random_nonce, seal_with, to_json, Key, Slot,
    SlotJson, NONCE_LEN,
};

/// The `format` field of every vault file.
pub const VAULT_FORMAT: &str = "pooya-vault";
/// The envelope version this app writes and reads (1 had no slots and is not read).
pub const VAULT_VERSION: u64 = 2;
/// Environment variable that makes every save crash before its rename (tests only).
pub const TEST_CRASH_ENV: &str = "POOYA_APP_TEST_CRASH_BEFORE_RENAME";
/// The service name of the app's entries in the OS key store.
pub const KEYSTORE_SERVICE: &str = "pooya-app";

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
// Envelope (the JSON file)

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
        let damaged = |why: String| AppError::VaultDamaged(path.to_owned(), why);

        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| not_a_vault())?;
        let obj = value.as_object().ok_or_else(not_a_vault)?;
        if obj.get("format").and_then(|f| f.as_str()) != Some(VAULT_FORMAT) {
            return Err(not_a_vault());
        }
        match obj.get("version").and_then(|v| v.as_u64()) {
            Some(VAULT_VERSION) => {}
            Some(other) => return Err(AppError::UnsupportedVersion(path.to_owned(), other)),
            None => return Err(damaged("its version is missing".into())),
        }
        let env: Envelope =
            serde_json::from_value(value).map_err(|_| damaged("its header is malformed".into()))?;
        if env.vault_id.is_empty() || env.vault_id.len() > 64 {
            return Err(damaged("its id is malformed".into()));
        }
        let slots = env
            .slots
            .into_iter()
            .map(Slot::from_json)
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(damaged)?;
        if slots.iter().filter(|s| s.is_password()).count() != 1 {
            return Err(damaged("it must have exactly one password slot".into()));
        }
        let nonce = decode_nonce(&env.nonce).map_err(damaged)?;
        let ciphertext = decode_b64("ciphertext", &env.ciphertext).map_err(damaged)?;
        if ciphertext.len() < TAG_LEN {
            return Err(damaged("its ciphertext is truncated".into()));
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
    /// nothing, on disk or here: a wrong password can be tried again.
    pub fn unlock(&self, password: &str) -> Result<Vault> {
        let slot = password_slot(&self.slots)?;
        let kek = slot.derive(password)?;
        let master = slot
            .unwrap_key(&self.vault_id, kek.as_ref())?
            .ok_or_else(|| AppError::WrongPasswordOrTampered(self.path.clone()))?;
        self.open_contents(master, Some(kek))
    }

    /// Unwraps the master key with the key held by the OS key store. `Ok(None)` when the vault
    /// has no platform slot.
    pub fn unlock_with_keystore(&self, store: &dyn KeyStore) -> Result<Option<Vault>> {
        let Some(slot) = self.slots.iter().find(|s| !s.is_password()) else {
            return Ok(None);
        };
        let Slot::Platform { account, .. } = slot else {
            return Ok(None);
        };
        let kek = store
            .load(account)?
            .ok_or_else(|| AppError::KeystoreEntryMissing(store.name()))?;
        let master = slot
            .unwrap_key(&self.vault_id, &kek)?
            .ok_or_else(|| AppError::KeystoreEntryMissing(store.name()))?;
        self.open_contents(master, None).map(Some)
    }

    fn open_contents(&self, master: Key, password_kek: Option<Key>) -> Result<Vault> {
        let aad = contents_aad(&self.vault_id)?;
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
            path: self.path.clone(),
            vault_id: self.vault_id.clone(),
            slots: self.slots.clone(),
            master,
            password_kek,
            contents,
            sealed: Some((self.nonce, self.ciphertext.clone())),
        })
    }
}

fn contents_aad(vault_id: &str) -> Result<Vec<u8>> {
    to_json(&ContentsAad {
        format: VAULT_FORMAT,
        version: VAULT_VERSION,
        vault_id,
    })
}

/// The one password slot (`parse` and every change keep exactly one).
fn password_slot(slots: &[Slot]) -> Result<&Slot> {
    slots
        .iter()
        .find(|s| s.is_password())
        .ok_or_else(|| AppError::Internal("no password slot".into()))
}

fn password_params(slots: &[Slot]) -> KdfParams {
    slots
        .iter()
        .find_map(Slot::params)
        .unwrap_or(KdfParams::FLOOR)
}

/// What became of the platform slot when the vault was re-keyed (it wrapped the old master key).
#[derive(Debug)]
pub enum PlatformSlot {
    /// The vault had none.
    Absent,
    /// A new key in the key store wraps the new master key; the old entry is deleted.
    Renewed,
    /// The key store could not take a new key: the slot is gone, the password opens the vault.
    Removed(AppError),
}

impl PlatformSlot {
    /// A line for the user, when there is something to say.
    pub fn note(&self) -> Option<String> {
        match self {
            Self::Absent => None,
            Self::Renewed => Some(tr!(
                "the key-store slot now holds a new key",
                "جایگاه انبار کلید اکنون کلید تازه‌ای دارد"
            )),
            Self::Removed(e) => Some(tr!(
                "the key-store slot is removed ({e}); `keystore enable` makes a new one",
                "جایگاه انبار کلید حذف شد ({e})؛ `keystore enable` جایگاه تازه‌ای می‌سازد"
            )),
        }
    }
}

/// An open vault: the decrypted tokens and the master key to write them back.
pub struct Vault {
    path: PathBuf,
    vault_id: String,
    slots: Vec<Slot>,
    master: Key,
    /// The password slot's key when the vault was opened with the password (or made or re-keyed
    /// with it): it wraps a new master key without asking for the password again. `None` when
    /// the key store opened the vault.
    password_kek: Option<Key>,
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
        let (slot, kek) = Slot::new_password(&vault_id, master.as_ref(), password, kdf)?;
        let mut vault = Self {
            path: path.to_owned(),
            vault_id,
            slots: vec![slot],
            master,
            password_kek: Some(kek),
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

    /// Re-keys the vault for `password` (the new one of `passwd`, or the same one to raise its
    /// Argon2 cost): a new master key, under which the contents are re-encrypted at the next
    /// save, and a new password slot (new salt, `kdf`). A platform slot wraps the old master
    /// key: it is replaced by one with a new key in `store`, or removed if `store` cannot take
    /// one; its old key-store entry is deleted. The file changes at [`Vault::save`].
    pub fn rekey(
        &mut self,
        password: &str,
        kdf: KdfParams,
        store: &dyn KeyStore,
    ) -> Result<PlatformSlot> {
        let master = random_key();
        let (slot, kek) = Slot::new_password(&self.vault_id, master.as_ref(), password, kdf)?;
        let had_platform = self.drop_platform_slots(store);
        self.slots = vec![slot];
        self.master = master;
        self.password_kek = Some(kek);
        self.sealed = None;
        if !had_platform {
            return Ok(PlatformSlot::Absent);
        }
        Ok(match self.enable_platform_slot(store) {
            Ok(()) => PlatformSlot::Renewed,
            Err(e) => PlatformSlot::Removed(e),
        })
    }

    /// Whether the vault has a key-store (platform) slot.
    pub fn has_platform_slot(&self) -> bool {
        self.slots.iter().any(|s| !s.is_password())
    }

    /// Adds a platform slot: a random slot key goes to the OS key store, the master key is
    /// wrapped under it in the file. An existing platform slot is replaced, and the vault
    /// re-keyed so that the old key no longer opens it (call [`Vault::save`]).
    pub fn enable_platform_slot(&mut self, store: &dyn KeyStore) -> Result<()> {
        // The new key first: the old entry is forgotten only once the new one is in place.
        let (account, kek) = store_new_key(&self.vault_id, store)?;
        let slot = self.disable_platform_slot(store).and_then(|_| {
            Slot::new_platform(
                &self.vault_id,
                KEYSTORE_SERVICE,
                &account,
                kek.as_ref(),
                self.master.as_ref(),
            )
        });
        match slot {
            Ok(slot) => {
                self.slots.push(slot);
                Ok(())
            }
            Err(e) => {
                let _ = store.delete(&account);
                Err(e)
            }
        }
    }

    /// Drops the platform slot, deletes its key from the key store (best effort: a key store
    /// that is gone must not keep the user from turning the slot off) and re-keys: a new master
    /// key, wrapped by the password slot under the password's slot key, so that an old copy of
    /// the file and the key-store key open that copy only. The vault must have been opened with
    /// the password. Returns whether there was a platform slot (call [`Vault::save`]).
    pub fn disable_platform_slot(&mut self, store: &dyn KeyStore) -> Result<bool> {
        if !self.has_platform_slot() {
            return Ok(false);
        }
        let kek = self.password_kek.as_ref().ok_or_else(|| {
            AppError::Internal("removing the key-store slot needs the app password".into())
        })?;
        let master = random_key();
        let mut slot = password_slot(&self.slots)?.clone();
        slot.wrap(&self.vault_id, kek.as_ref(), master.as_ref())?;
        self.drop_platform_slots(store);
        self.slots = vec![slot];
        self.master = master;
        self.sealed = None;
        Ok(true)
    }

    /// Removes the platform slots and deletes their keys (best effort). Whether there were any.
    fn drop_platform_slots(&mut self, store: &dyn KeyStore) -> bool {
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
                let aad = contents_aad(&self.vault_id)?;
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

/// A new random slot key, stored in `store` under a new account name for this vault.
fn store_new_key(vault_id: &str, store: &dyn KeyStore) -> Result<(String, Key)> {
    let mut id = [0u8; 8];
    rand::rng().fill_bytes(&mut id);
    let account = format!("{vault_id}-{}", data_encoding::HEXLOWER.encode(&id));
    let kek = random_key();
    store.store(&account, kek.as_ref())?;
    Ok((account, kek))
}

#[cfg(test)]
mod rekey_tests;

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const PW: &str = "correct horse 1";

    pub(super) fn sample_token(label: &str, pan: &str) -> Token {
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

    pub(super) fn new_vault(dir: &Path) -> (PathBuf, Vault) {
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
        assert_eq!(store.entries_len(), 1);

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
        assert!(v.disable_platform_slot(&store).unwrap());
        v.save().unwrap();
        assert!(!LockedVault::read(&path).unwrap().has_platform_slot());
        assert!(store.entries_len() == 0);
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
    fn debug_redacts_secrets() {
        let t = sample_token("a", "6280231234567890");
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("6280231234567890"));
        assert!(dbg.contains("[redacted]"));
        assert!(dbg.contains("628023******7890"));
        assert!(!dbg.contains("7, 7, 7"));
    }
}
