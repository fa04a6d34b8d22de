//! The slots of a vault (`docs/vault.md`): each holds the master key, wrapped with
//! XChaCha20-Poly1305 under its own slot key — Argon2id of the app password, or a random key the
//! OS key store keeps — and authenticated with everything the slot says but its nonce and
//! wrapped key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::BASE64;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::format::{VAULT_FORMAT, VAULT_VERSION};
use super::kdf::{derive_key, KdfParams, KDF_ALG, KEY_LEN, SALT_LEN};
use crate::error::{AppError, Result};

/// Length of an XChaCha20-Poly1305 nonce.
pub(crate) const NONCE_LEN: usize = 24;

/// A 32-byte key (master or slot key), zeroized on drop.
pub(crate) type Key = Zeroizing<[u8; KEY_LEN]>;

pub(crate) fn random_key() -> Key {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::rng().fill_bytes(key.as_mut());
    key
}

pub(crate) fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

pub(crate) fn seal_with(
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    msg: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    XChaCha20Poly1305::new_from_slice(key)
        .map_err(|_| AppError::Internal("key length".into()))?
        .encrypt(&XNonce::from(*nonce), Payload { msg, aad })
        .map_err(|_| AppError::Internal("encryption failed".into()))
}

/// `None` when the AEAD refuses: a wrong key or changed bytes.
pub(crate) fn open_with(
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

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| AppError::Internal(format!("vault encoding: {e}")))
}

/// Base64 from the file, or why the file is damaged.
pub(crate) fn decode_b64(what: &str, s: &str) -> std::result::Result<Vec<u8>, String> {
    BASE64
        .decode(s.as_bytes())
        .map_err(|_| format!("its {what} is not base64"))
}

/// A nonce from the file, or why the file is damaged.
pub(crate) fn decode_nonce(s: &str) -> std::result::Result<[u8; NONCE_LEN], String> {
    BASE64
        .decode(s.as_bytes())
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| "a nonce is malformed".to_owned())
}

/// The `kdf` object of a password slot, as in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KdfHeader {
    alg: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
}

/// One slot as in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum SlotJson {
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

/// One way to the master key, as held in memory.
#[derive(Clone, Debug)]
pub(crate) enum Slot {
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
    /// The slot of the file, checked; else why the file is damaged. Argon2 parameters outside
    /// the readable bounds are refused here, before anything is derived.
    pub(crate) fn from_json(s: SlotJson) -> std::result::Result<Self, String> {
        Ok(match s {
            SlotJson::Password {
                kdf,
                nonce,
                wrapped_key,
            } => {
                if kdf.alg != KDF_ALG {
                    return Err("unknown key derivation".into());
                }
                let params = KdfParams {
                    m_kib: kdf.m_kib,
                    t: kdf.t,
                    p: kdf.p,
                };
                params.check_readable()?;
                let salt = decode_b64("salt", &kdf.salt)?;
                if !(SALT_LEN..=64).contains(&salt.len()) {
                    return Err("its salt has a wrong length".into());
                }
                Slot::Password {
                    params,
                    salt,
                    nonce: decode_nonce(&nonce)?,
                    wrapped: decode_b64("wrapped key", &wrapped_key)?,
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
                    return Err("its key-store slot is malformed".into());
                }
                Slot::Platform {
                    service,
                    account,
                    nonce: decode_nonce(&nonce)?,
                    wrapped: decode_b64("wrapped key", &wrapped_key)?,
                }
            }
        })
    }

    pub(crate) fn to_json(&self) -> SlotJson {
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

    pub(crate) fn is_password(&self) -> bool {
        matches!(self, Slot::Password { .. })
    }

    /// The Argon2 parameters of a password slot.
    pub(crate) fn params(&self) -> Option<KdfParams> {
        match self {
            Slot::Password { params, .. } => Some(*params),
            Slot::Platform { .. } => None,
        }
    }

    /// A password slot holding `master` under Argon2id(password) with a fresh salt, and its
    /// slot key (kept to wrap a later master key without asking for the password again).
    pub(crate) fn new_password(
        vault_id: &str,
        master: &[u8],
        password: &str,
        params: KdfParams,
    ) -> Result<(Self, Key)> {
        params.check_new()?;
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
            nonce: [0; NONCE_LEN],
            wrapped: Vec::new(),
        };
        slot.wrap(vault_id, kek.as_ref(), master)?;
        Ok((slot, kek))
    }

    /// A platform slot holding `master` under `kek`, which the key store keeps as `account`.
    pub(crate) fn new_platform(
        vault_id: &str,
        service: &str,
        account: &str,
        kek: &[u8],
        master: &[u8],
    ) -> Result<Self> {
        let mut slot = Slot::Platform {
            service: service.to_owned(),
            account: account.to_owned(),
            nonce: [0; NONCE_LEN],
            wrapped: Vec::new(),
        };
        slot.wrap(vault_id, kek, master)?;
        Ok(slot)
    }

    /// The slot key of a password slot: Argon2id of `password` at the slot's cost and salt.
    pub(crate) fn derive(&self, password: &str) -> Result<Key> {
        match self {
            Slot::Password { params, salt, .. } => derive_key(password.as_bytes(), salt, *params),
            Slot::Platform { .. } => Err(AppError::Internal("not a password slot".into())),
        }
    }

    /// Wraps `master` under `kek` with a fresh nonce (a new master key, or a new slot).
    pub(crate) fn wrap(&mut self, vault_id: &str, kek: &[u8], master: &[u8]) -> Result<()> {
        let aad = self.aad(vault_id)?;
        let (Slot::Password { nonce, .. } | Slot::Platform { nonce, .. }) = self;
        *nonce = random_nonce();
        let ct = seal_with(kek, nonce, master, &aad)?;
        let (Slot::Password { wrapped, .. } | Slot::Platform { wrapped, .. }) = self;
        *wrapped = ct;
        Ok(())
    }

    /// The master key, or `None` when `kek` is not this slot's key (or the slot was changed).
    pub(crate) fn unwrap_key(&self, vault_id: &str, kek: &[u8]) -> Result<Option<Key>> {
        let aad = self.aad(vault_id)?;
        let (Slot::Password { nonce, wrapped, .. } | Slot::Platform { nonce, wrapped, .. }) = self;
        Ok(open_with(kek, nonce, wrapped, &aad).and_then(|k| {
            let arr: [u8; KEY_LEN] = k.as_slice().try_into().ok()?;
            Some(Zeroizing::new(arr))
        }))
    }
}
