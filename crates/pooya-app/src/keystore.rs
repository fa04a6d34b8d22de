//! The key stores of the platform slot (R14): the trait ([`pooya_app_core::keystore`]) and
//! [`OsKeyStore`], the OS's own through the `keyring` crate.

pub use pooya_app_core::keystore::*;

use zeroize::Zeroizing;

use crate::error::{AppError, Result};

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
