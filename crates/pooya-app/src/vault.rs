//! The vault ([`pooya_app_core::vault`]: its format, crypto and slots, as bytes) and its file:
//! reading it, making it, and replacing it atomically (`docs/vault.md`).
//!
//! Every write is atomic: a temporary file (create-new, mode 0600) in the same directory, fsync,
//! rename over the vault (a hard link for a new one, which never replaces a file), fsync of the
//! directory. A crash at any point leaves the old file or the new one, never a mix.
//!
//! `POOYA_APP_TEST_CRASH_BEFORE_RENAME=1` (**tests only**) makes every save abort the process
//! after the temporary file is written and fsynced and before the rename, as a power cut would.

pub use pooya_app_core::vault::*;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::error::{AppError, Result};

/// Environment variable that makes every save crash before its rename (tests only).
pub const TEST_CRASH_ENV: &str = "POOYA_APP_TEST_CRASH_BEFORE_RENAME";

/// A vault read from its file: `LockedVault::read(path)`.
pub trait LockedVaultFile: Sized {
    /// Reads `path` and checks it is a vault this app can open.
    fn read(path: &Path) -> Result<Self>;
}

impl LockedVaultFile for LockedVault {
    fn read(path: &Path) -> Result<Self> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(AppError::VaultMissing(path.to_owned()))
            }
            Err(e) => return Err(AppError::VaultIo(path.to_owned(), "read", e)),
        };
        Self::from_bytes(path, &bytes)
    }
}

/// A vault in its file: `Vault::create(path, ..)`, `Vault::open(path, ..)`, `vault.save()`.
/// The vault's [`Vault::path`] is its file.
pub trait VaultFile: Sized {
    /// Creates a new, empty vault at `path` with a random master key and one password slot;
    /// fails if anything exists there.
    fn create(path: &Path, password: &str, kdf: KdfParams) -> Result<Self>;
    /// Reads and decrypts the vault at `path` with the app password.
    fn open(path: &Path, password: &str) -> Result<Self>;
    /// Encrypts the contents if they changed (fresh nonce) and replaces the file atomically.
    fn save(&mut self) -> Result<()>;
}

impl VaultFile for Vault {
    fn create(path: &Path, password: &str, kdf: KdfParams) -> Result<Self> {
        refuse_existing(path)?;
        let mut vault = Self::new_unsaved(path, password, kdf)?;
        let bytes = vault.to_bytes()?;
        write_atomic(path, &bytes, WriteMode::CreateNew).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                AppError::VaultExists(path.to_owned())
            } else {
                AppError::VaultIo(path.to_owned(), "write", e)
            }
        })?;
        Ok(vault)
    }

    fn open(path: &Path, password: &str) -> Result<Self> {
        LockedVault::read(path)?.unlock(password)
    }

    fn save(&mut self) -> Result<()> {
        let bytes = self.to_bytes()?;
        let path = self.path();
        let crash = std::env::var(TEST_CRASH_ENV).is_ok_and(|v| v == "1");
        write_atomic_with(path, &bytes, WriteMode::Replace, |_| {
            if crash {
                // Tests only: die as a power cut would, between the fsync and the rename.
                std::process::abort();
            }
            Ok(())
        })
        .map_err(|e| AppError::VaultIo(path.to_owned(), "write", e))
    }
}

/// `init`'s first check, before any password is asked: nothing may exist at `path`.
pub(crate) fn refuse_existing(path: &Path) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(AppError::VaultExists(path.to_owned()));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Atomic writes

/// Whether an atomic write may replace an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteMode {
    /// Fail with `AlreadyExists` if the target exists.
    CreateNew,
    /// Replace the target.
    Replace,
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync of the directory).
fn write_atomic(path: &Path, bytes: &[u8], mode: WriteMode) -> io::Result<()> {
    write_atomic_with(path, bytes, mode, |_| Ok(()))
}
/// [`write_atomic`] with a hook run after the temporary file is complete and before it replaces
/// the target; a failing hook aborts the write (tests use it to inject failures).
fn write_atomic_with(
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

    use pooya_app_core::test_support::sample_token as token;

    fn new_vault(dir: &Path) -> (PathBuf, Vault) {
        let path = dir.join("vault.json");
        let v = Vault::create(&path, PW, KdfParams::FAST_FOR_TESTS).unwrap();
        (path, v)
    }

    #[test]
    fn create_save_open() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        assert_eq!(v.path(), path);
        assert_eq!(fs::read(&path).unwrap(), v.to_bytes().unwrap());
        v.add(token("salary", "6280231234567890")).unwrap();
        v.save().unwrap();

        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("6280231234567890"),
            "no card number in clear"
        );
        assert_eq!(text.into_bytes(), v.to_bytes().unwrap(), "the core's bytes");
        let back = Vault::open(&path, PW).unwrap();
        assert_eq!(back.path(), path, "saved where it was read");
        assert_eq!(back.tokens()[0].pan.expose(), "6280231234567890");
        assert!(LockedVault::read(&path).unwrap().kdf() == KdfParams::FAST_FOR_TESTS);
        // Only the vault in the directory: no temporary file left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn file_mode_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        v.save().unwrap();
        assert_eq!(mode(&path), 0o600);
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
    fn missing_vault() {
        let dir = tempfile::tempdir().unwrap();
        let err = Vault::open(&dir.path().join("nope"), PW).unwrap_err();
        assert!(matches!(err, AppError::VaultMissing(_)));
        assert!(err.to_string().contains("init"));
    }

    /// A wrong password, a damaged or a foreign file: refused, and the file is not touched.
    #[test]
    fn refusals_leave_the_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut v) = new_vault(dir.path());
        v.add(token("a", "6280231234567890")).unwrap();
        v.save().unwrap();
        let full = fs::read(&path).unwrap();

        let err = Vault::open(&path, "wrong password 2").unwrap_err();
        assert!(matches!(err, AppError::WrongPasswordOrTampered(_)), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(fs::read(&path).unwrap(), full);

        for bytes in [&full[..full.len() / 2], b"{\"hello\": 1}".as_slice()] {
            fs::write(&path, bytes).unwrap();
            let err = Vault::open(&path, PW).unwrap_err();
            assert!(
                matches!(err, AppError::NotAVault(_) | AppError::VaultDamaged(..)),
                "{err}"
            );
            assert_eq!(fs::read(&path).unwrap(), bytes, "file must stay untouched");
        }
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
}
