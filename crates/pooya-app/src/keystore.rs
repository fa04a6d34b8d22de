//! The platform slot's key store (R14): where the OS keeps a secret for the app, standing in for
//! the fingerprint of a phone.
//!
//! [`OsKeyStore`] goes through the `keyring` crate: the Linux kernel key store (keyutils), the
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

/// The operating system's key store, through the `keyring` crate.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsKeyStore;

impl OsKeyStore {
    fn entry(&self, account: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(KEYSTORE_SERVICE, account).map_err(unavailable)
    }
}

fn unavailable(e: keyring::Error) -> AppError {
    AppError::KeystoreUnavailable(match e {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => {
            inner.to_string()
        }
        other => other.to_string(),
    })
}

impl KeyStore for OsKeyStore {
    fn name(&self) -> String {
        if cfg!(target_os = "linux") {
            "the Linux kernel key store (session keyring)".into()
        } else if cfg!(target_os = "macos") {
            "the macOS Keychain".into()
        } else if cfg!(windows) {
            "the Windows Credential Manager".into()
        } else {
            "the OS key store".into()
        }
    }

    fn store(&self, account: &str, secret: &[u8]) -> Result<()> {
        let entry = self.entry(account)?;
        entry.set_secret(secret).map_err(unavailable)?;
        // Read it back: some stores accept a write they cannot give back (a Linux process
        // without a session keyring of its own writes to one it cannot search).
        let back = match entry.get_secret() {
            Ok(back) if back == secret => return Ok(()),
            Ok(_) => AppError::KeystoreUnavailable(
                "it returned something else than what was stored".into(),
            ),
            Err(keyring::Error::NoEntry) => AppError::KeystoreUnavailable(
                "it accepted the key but cannot give it back; on Linux, the process has no \
                 session keyring (log in through PAM, or run under `keyctl session`)"
                    .into(),
            ),
            Err(e) => unavailable(e),
        };
        let _ = entry.delete_credential();
        Err(back)
    }

    fn load(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        match self.entry(account)?.get_secret() {
            Ok(s) => Ok(Some(Zeroizing::new(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn delete(&self, account: &str) -> Result<()> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
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
