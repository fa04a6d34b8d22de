//! A KEK kept in a 32-byte file readable by its owner only. Data keys are wrapped with
//! XChaCha20-Poly1305 under a key derived from the file (never the file's bytes themselves, which
//! on an upgraded database are also data key generation 1).

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::KekError;
use pooya_issuer::fsutil::write_new_private;

type HmacSha256 = Hmac<Sha256>;

pub struct FileKek {
    path: PathBuf,
    secret: Zeroizing<[u8; 32]>,
    wrap_key: Zeroizing<[u8; 32]>,
    id: String,
}

fn derive(secret: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(b"pooya/v1/kek/");
    mac.update(label);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

impl FileKek {
    fn from_secret(path: &Path, secret: Zeroizing<[u8; 32]>) -> FileKek {
        let fp = derive(&secret, b"id");
        FileKek {
            path: path.to_path_buf(),
            wrap_key: derive(&secret, b"wrap"),
            id: format!("file:{}", data_encoding::HEXLOWER.encode(&fp[..8])),
            secret,
        }
    }

    /// Reads an existing key file; refuses one that group or others may read or write.
    pub fn open(path: &Path) -> Result<FileKek, KekError> {
        let shown = path.display().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KekError::FileMissing(shown))
            }
            Err(source) => {
                return Err(KekError::Read {
                    path: shown,
                    source,
                })
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(KekError::LooseMode { path: shown, mode });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| KekError::Read {
            path: shown.clone(),
            source,
        })?);
        let arr: [u8; 32] = bytes[..]
            .try_into()
            .map_err(|_| KekError::BadLength(shown))?;
        Ok(Self::from_secret(path, Zeroizing::new(arr)))
    }

    /// Creates a new key file (32 random bytes, mode 0600); refuses to overwrite one.
    pub fn create(path: &Path) -> Result<FileKek, KekError> {
        let shown = path.display().to_string();
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(&mut key[..]);
        write_new_private(path, &key[..]).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KekError::FileExists(shown.clone())
            } else {
                KekError::Write {
                    path: shown.clone(),
                    source,
                }
            }
        })?;
        Ok(Self::from_secret(path, key))
    }

    pub fn open_or_create(path: &Path) -> Result<FileKek, KekError> {
        match Self::open(path) {
            Err(KekError::FileMissing(_)) => match Self::create(path) {
                // Another server on the same shared directory made it first.
                Err(KekError::FileExists(_)) => Self::open(path),
                other => other,
            },
            other => other,
        }
    }

    pub fn describe(&self) -> String {
        format!("key file {} ({})", self.path.display(), self.id)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn secret(&self) -> &Zeroizing<[u8; 32]> {
        &self.secret
    }

    /// nonce ‖ ciphertext ‖ tag.
    pub fn wrap(&self, aad: &[u8], key: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new_from_slice(&self.wrap_key[..]).expect("32-byte key");
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = XNonce::from(nonce);
        let ct = cipher
            .encrypt(&nonce, Payload { msg: key, aad })
            .expect("encryption of a short value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        let fail = || KekError::Unwrap(self.describe());
        if wrapped.len() < 24 {
            return Err(fail());
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&self.wrap_key[..]).expect("32-byte key");
        let nonce: [u8; 24] = wrapped[..24].try_into().expect("24 bytes");
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &wrapped[24..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| fail())
    }
}

/// Reads a small secret file (a PIN), refusing one that others may read.
pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<String>, KekError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| KekError::Read {
        path: shown.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KekError::LooseMode { path: shown, mode });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|source| KekError::Read {
            path: shown,
            source,
        })?,
    );
    Ok(Zeroizing::new(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_open_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kek.key");
        assert!(matches!(FileKek::open(&p), Err(KekError::FileMissing(_))));
        let a = FileKek::create(&p).unwrap();
        assert!(matches!(FileKek::create(&p), Err(KekError::FileExists(_))));
        let b = FileKek::open(&p).unwrap();
        assert_eq!(a.id(), b.id());
        let w = a.wrap(b"g1", &[5u8; 32]);
        assert_eq!(&b.unwrap(b"g1", &w).unwrap()[..], &[5u8; 32]);
        assert!(b.unwrap(b"g2", &w).is_err(), "bound to its generation");
        let other = FileKek::create(&dir.path().join("other.key")).unwrap();
        assert_ne!(other.id(), a.id());
        assert!(other.unwrap(b"g1", &w).is_err());
        assert!(!a
            .describe()
            .contains(&data_encoding::HEXLOWER.encode(&a.secret()[..])));
    }

    #[cfg(unix)]
    #[test]
    fn loose_modes_and_bad_lengths_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kek.key");
        FileKek::create(&p).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = FileKek::open(&p).err().unwrap().to_string();
            assert!(
                e.contains(&format!("{mode:04o}")) && e.contains("chmod 600"),
                "{e}"
            );
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        FileKek::open(&p).unwrap();
        let short = dir.path().join("short.key");
        write_new_private(&short, &[1u8; 31]).unwrap();
        assert!(matches!(FileKek::open(&short), Err(KekError::BadLength(_))));
    }
}
