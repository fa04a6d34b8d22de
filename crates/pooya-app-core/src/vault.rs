//! The vault: one file that holds every token of the app (R13, R14). Only its bytes are made and
//! read here: the file itself, with its atomic writes, is `pooya app`'s (`pooya_app::vault`), and
//! the web app keeps the same bytes in IndexedDB.
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
//! * A wrong password fails at its slot; a file changed anywhere fails an AEAD; neither changes
//!   anything. Argon2 parameters read from a file are bounded, so a doctored header cannot
//!   make the app exhaust the machine.
//! * Keys, plaintext, seeds and card numbers live in zeroizing buffers, redacted from `Debug`.
//!
//! One variable exists **for tests only**: `POOYA_APP_KDF_FAST=1` (see [`kdf`]; test and debug
//! builds only).

use std::fmt;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

mod contents;
mod format;
pub mod kdf;
mod secret;
mod slot;

use crate::clock::IssuerClock;
use crate::error::{AppError, Result};
use crate::keystore::{KeyStore, KEYSTORE_SERVICE};
use crate::tr;
pub use contents::{Token, VaultContents};
pub use format::{VAULT_FORMAT, VAULT_VERSION};
pub use kdf::{KdfParams, KdfPolicy, KDF_ALG, KDF_FAST_ENV};
pub use secret::{SecretBytes, SecretString};
use slot::{
    decode_b64, decode_nonce, open_with, random_key, random_nonce, seal_with, to_json, Key, Slot,
    SlotJson, NONCE_LEN,
};

/// Minimum length of the app password, in characters (R13).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// R13: at least 8 characters, at least one letter and at least one digit.
pub fn check_policy(password: &str) -> Result<()> {
    let long_enough = password.chars().count() >= MIN_PASSWORD_CHARS;
    let has_letter = password.chars().any(char::is_alphabetic);
    let has_digit = password.chars().any(char::is_numeric);
    if long_enough && has_letter && has_digit {
        Ok(())
    } else {
        Err(AppError::WeakPassword)
    }
}

const TAG_LEN: usize = 16;

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

/// A vault's bytes read and checked, but not yet decrypted: no password needed so far.
#[derive(Debug)]
pub struct LockedVault {
    /// What messages call the vault (`pooya app`: the file's path).
    path: PathBuf,
    vault_id: String,
    slots: Vec<Slot>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl LockedVault {
    /// Checks that `bytes` (a vault file's, or the web app's IndexedDB copy) are a vault this app
    /// can open; `name` stands for the vault in messages (`pooya app`: the file's path).
    pub fn from_bytes(name: &Path, bytes: &[u8]) -> Result<Self> {
        let path = name;
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

    /// Derives the slot key from `password`, unwraps the master key and decrypts. Changes
    /// nothing: a wrong password can be tried again.
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

/// An open vault: the decrypted tokens and the master key to seal them again.
pub struct Vault {
    /// What messages call the vault (`pooya app`: the file's path, where it saves it).
    path: PathBuf,
    vault_id: String,
    slots: Vec<Slot>,
    master: Key,
    /// The password slot's key when the vault was opened with the password (or made or re-keyed
    /// with it): it wraps a new master key without asking for the password again. `None` when
    /// the key store opened the vault.
    password_kek: Option<Key>,
    contents: VaultContents,
    /// The ciphertext of `contents` as last sealed or read; `None` once they changed.
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
    /// A new, empty vault with a random master key and one password slot, in memory only: its
    /// bytes ([`Self::to_bytes`]) go where the caller keeps them (`pooya app`: a new file; the
    /// web app: IndexedDB). `name` stands for the vault in messages.
    pub fn new_unsaved(name: &Path, password: &str, kdf: KdfParams) -> Result<Self> {
        let path = name;
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
        vault.to_bytes()?;
        Ok(vault)
    }

    /// What the vault is called in messages: for `pooya app`, the path of its file.
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

    /// Records a new measurement of `clock.server`'s clock (in memory until saved).
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

    /// Whether the token's issuer said at the last sync that it is no longer in force.
    pub fn not_in_force(&self, token_id: &str) -> bool {
        self.contents.not_in_force.iter().any(|t| t == token_id)
    }

    /// Records what the token's issuer said of it (in memory until saved).
    pub fn set_in_force(&mut self, token_id: &str, in_force: bool) {
        if in_force != self.not_in_force(token_id) {
            return;
        }
        self.sealed = None;
        if in_force {
            self.contents.not_in_force.retain(|t| t != token_id);
        } else {
            self.contents.not_in_force.push(token_id.to_owned());
        }
    }

    /// Adds a card (in memory until saved). Refuses a label already used.
    pub fn add(&mut self, token: Token) -> Result<()> {
        if self.contents.tokens.iter().any(|t| t.label == token.label) {
            return Err(AppError::DuplicateLabel(token.label));
        }
        self.sealed = None;
        self.contents.tokens.push(token);
        Ok(())
    }

    /// Removes the card with `token_id` (in memory until saved).
    pub fn remove(&mut self, token_id: &str) -> Option<Token> {
        let i = self
            .contents
            .tokens
            .iter()
            .position(|t| t.token_id == token_id)?;
        self.sealed = None;
        let gone = self.contents.tokens.remove(i);
        self.contents.not_in_force.retain(|t| *t != gone.token_id);
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
    /// one; its old key-store entry is deleted. The stored vault changes when it is saved.
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
    /// re-keyed so that the old key no longer opens it (in memory until saved).
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
    /// the password. Returns whether there was a platform slot (in memory until saved).
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

    /// The bytes of the vault file for the current contents and slots: the contents are
    /// encrypted anew (fresh nonce) only if they changed since the last sealing or reading.
    /// `pooya app` writes them to its file, the web app to IndexedDB.
    pub fn to_bytes(&mut self) -> Result<Vec<u8>> {
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
mod tests;
