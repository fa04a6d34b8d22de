//! pooya's key hierarchy.
//!
//! ```text
//! KEK (key encryption key)   a key file of mode 0600, or an AES key inside a PKCS#11 HSM;
//!  │                         never in the database
//!  └─ wraps ─ data key        32 random bytes per generation, stored wrapped (table data_keys)
//!              └─ derives ─   the Keyring's keys: seal (seeds, SMS fixed parts, enrollments),
//!                             PAN hash, code MACs, …  (pooya_issuer::keys::Keyring::from_master)
//! ```
//!
//! A copy of the database alone holds only wrapped data keys: without the KEK it opens no seed and
//! finds no card. `pooya keys rotate` re-wraps every data key under a new KEK in one transaction;
//! the data keys themselves do not change, so no row is re-encrypted and a running server (which
//! holds the unwrapped data key in memory) keeps serving. Databases made before the hierarchy
//! derived their keys straight from the master key file: on their first start the file's 32 bytes
//! become data key generation 1, wrapped under that same file, and every stored value still opens.

mod config;
mod file;
mod hierarchy;
mod pkcs11;

pub use config::{KekKind, KekSpec, KeysSection, Pkcs11Config, DEFAULT_PIN_ENV};
pub use file::FileKek;
pub use hierarchy::{
    create_kek, load_keyring, rotate, status, KeysError, LoadEvent, Loaded, Rotated, Status,
};
pub use pkcs11::Pkcs11Kek;

use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("the key file {0} does not exist")]
    FileMissing(String),
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the key file {path} has mode {mode:04o}: others than its owner may read it; \
         refused (chmod 600 {path})"
    )]
    LooseMode { path: String, mode: u32 },
    #[error("the key file {0} must hold exactly 32 bytes")]
    BadLength(String),
    #[error("the key file {0} exists already; it is never overwritten")]
    FileExists(String),
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    #[error("the wrapped data key does not open under {0}")]
    Unwrap(String),
}

/// Opening a configured KEK: the one place that knows every kind of KEK (`config.rs` only
/// describes where one is).
impl KekSpec {
    /// Opens the KEK. A missing key file is created (32 random bytes, mode 0600) only when
    /// `create_file` is set; an HSM key is never created here (`pooya keys create-kek`).
    pub fn open(&self, create_file: bool) -> Result<Kek, KekError> {
        match self {
            KekSpec::File(path) if create_file => FileKek::open_or_create(path).map(Kek::File),
            KekSpec::File(path) => FileKek::open(path).map(Kek::File),
            KekSpec::Pkcs11(cfg) => Pkcs11Kek::open(cfg).map(Kek::Pkcs11),
        }
    }

    /// Creates a new KEK here: a new key file, or a new AES-256 key in the token (non-extractable,
    /// sensitive). Refuses if one exists already.
    pub fn create(&self) -> Result<Kek, KekError> {
        match self {
            KekSpec::File(path) => FileKek::create(path).map(Kek::File),
            KekSpec::Pkcs11(cfg) => Pkcs11Kek::create(cfg).map(Kek::Pkcs11),
        }
    }
}

/// A key encryption key, ready to wrap and unwrap data keys.
pub enum Kek {
    File(FileKek),
    Pkcs11(Pkcs11Kek),
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.describe())
    }
}

impl Kek {
    /// What an operator reads: "key file /etc/pooya/kek.key", "PKCS#11 key … in token …".
    pub fn describe(&self) -> String {
        match self {
            Kek::File(k) => k.describe(),
            Kek::Pkcs11(k) => k.describe(),
        }
    }

    /// Stored beside each wrapped data key: a fingerprint (file) or the token and key labels
    /// (PKCS#11); never the key.
    pub fn id(&self) -> &str {
        match self {
            Kek::File(k) => k.id(),
            Kek::Pkcs11(k) => k.id(),
        }
    }

    pub fn wrap(&self, aad: &[u8], key: &[u8]) -> Result<Vec<u8>, KekError> {
        match self {
            Kek::File(k) => Ok(k.wrap(aad, key)),
            Kek::Pkcs11(k) => k.wrap(aad, key),
        }
    }

    pub fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        match self {
            Kek::File(k) => k.unwrap(aad, wrapped),
            Kek::Pkcs11(k) => k.unwrap(aad, wrapped),
        }
    }

    /// The file's bytes, which were the master key of a database made before data keys.
    fn legacy_master(&self) -> Option<&Zeroizing<[u8; 32]>> {
        match self {
            Kek::File(k) => Some(k.secret()),
            Kek::Pkcs11(_) => None,
        }
    }
}
