//! The platform slot's key store (R14): where the OS keeps a secret for the app, standing in for
//! the fingerprint of a phone.
//!
//! `pooya_app::os_keystore::OsKeyStore` goes through the `keyring` crate: the Linux kernel key store (keyutils), the
//! macOS Keychain or the Windows Credential Manager. On Linux the kernel keeps the key in the
//! login session's keyring: it is gone after a reboot or a new login, and the app then falls back
//! to the password (and says so). No D-Bus Secret Service is used: it needs libdbus and a desktop
//! session, which servers and CI do not have.

use zeroize::Zeroizing;

use crate::error::{AppError, Result};

/// The service name of the app's entries in the OS key store.
pub const KEYSTORE_SERVICE: &str = "pooya-app";

/// Somewhere to keep one secret per account name, outside the vault file.
pub trait KeyStore {
    /// A name for messages ("the OS key store").
    fn name(&self) -> String;
    /// Stores `secret` under `account`, replacing what was there.
    fn store(&self, account: &str, secret: &[u8]) -> Result<()>;
    /// The secret under `account`, or `None` when there is none.
    fn load(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>>;
    /// Deletes the secret under `account` (no error when there is none).
    fn delete(&self, account: &str) -> Result<()>;
}

/// A key store in memory, for tests of the slot logic.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    entries: std::sync::Mutex<std::collections::HashMap<String, Zeroizing<Vec<u8>>>>,
}

impl MemoryKeyStore {
    /// How many secrets it holds.
    pub fn entries_len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

impl KeyStore for MemoryKeyStore {
    fn name(&self) -> String {
        "the test key store".into()
    }

    fn store(&self, account: &str, secret: &[u8]) -> Result<()> {
        self.entries
            .lock()
            .map_err(|_| AppError::Internal("key store lock".into()))?
            .insert(account.to_owned(), Zeroizing::new(secret.to_vec()));
        Ok(())
    }

    fn load(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(self
            .entries
            .lock()
            .map_err(|_| AppError::Internal("key store lock".into()))?
            .get(account)
            .cloned())
    }

    fn delete(&self, account: &str) -> Result<()> {
        self.entries
            .lock()
            .map_err(|_| AppError::Internal("key store lock".into()))?
            .remove(account);
        Ok(())
    }
}
