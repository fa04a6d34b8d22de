//! The passkey slot (R14, the article's fingerprint): the vault's platform slot, with a key store
//! whose entries are sealed under the output of a WebAuthn passkey's PRF extension.
//!
//! The vault's platform slot wraps its master key under a random key kept by a key store
//! (`docs/vault.md`). In the browser that key is kept beside the vault, sealed with
//! XChaCha20-Poly1305 under the PRF output (32 bytes the authenticator derives from the passkey
//! and a salt, and gives only after the holder's fingerprint or screen lock). Without the passkey
//! the entry is noise; the password slot still opens the vault.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::BASE64;
use pooya_app_core::error::{AppError, Result};
use pooya_app_core::keystore::KeyStore;
use rand::RngCore;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;

/// Entries sealed under a PRF output, as JSON `{account: base64(nonce || ciphertext)}`.
pub struct PrfKeyStore {
    cipher: XChaCha20Poly1305,
    entries: RefCell<BTreeMap<String, String>>,
}

impl PrfKeyStore {
    /// A store over `held` (its JSON) for the passkey whose PRF gave `prf`.
    pub fn new(prf: &[u8], held: &str) -> Result<Self> {
        if prf.len() != 32 {
            return Err(AppError::Crypto("the passkey gave no usable key".into()));
        }
        let entries: BTreeMap<String, String> = serde_json::from_str(held)
            .map_err(|_| AppError::Crypto("the passkey's entry is malformed".into()))?;
        Ok(Self {
            cipher: XChaCha20Poly1305::new_from_slice(prf)
                .map_err(|_| AppError::Internal("key length".into()))?,
            entries: RefCell::new(entries),
        })
    }

    /// The entries, to keep beside the vault.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(&*self.entries.borrow())
            .map_err(|e| AppError::Internal(e.to_string()))
    }
}

impl KeyStore for PrfKeyStore {
    fn name(&self) -> String {
        "the passkey".into()
    }

    fn store(&self, account: &str, secret: &[u8]) -> Result<()> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: account.as_bytes(),
                },
            )
            .map_err(|_| AppError::Internal("encryption failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        self.entries
            .borrow_mut()
            .insert(account.to_owned(), BASE64.encode(&blob));
        Ok(())
    }

    fn load(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let entries = self.entries.borrow();
        let Some(blob) = entries.get(account) else {
            return Ok(None);
        };
        let blob = BASE64
            .decode(blob.as_bytes())
            .map_err(|_| AppError::Crypto("the passkey's entry is malformed".into()))?;
        if blob.len() < NONCE_LEN {
            return Ok(None);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| AppError::Internal("nonce".into()))?;
        // Another passkey's output: not this store's key.
        Ok(self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: account.as_bytes(),
                },
            )
            .ok()
            .map(Zeroizing::new))
    }

    fn delete(&self, account: &str) -> Result<()> {
        self.entries.borrow_mut().remove(account);
        Ok(())
    }
}
