//! Small file helpers: what the server writes is private to its user (files 0600, directories
//! 0700) whatever the umask it runs with, and what it finds open to others it can tell.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Mode of a file the server creates.
pub const PRIVATE_FILE: u32 = 0o600;
/// Mode of a directory the server creates.
pub const PRIVATE_DIR: u32 = 0o700;

/// Creates `path` (which must not exist) with mode 0600, writes `bytes` and syncs it to disk.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = create_new_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Creates `path`, which must not exist, writable and of mode 0600 exactly (the umask may only
/// have narrowed the mode `open` gave it).
fn create_new_private(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(PRIVATE_FILE);
    let f = opts.open(path)?;
    #[cfg(unix)]
    f.set_permissions(std::fs::Permissions::from_mode(PRIVATE_FILE))?;
    Ok(f)
}

/// Opens `path` to write, creating it with mode 0600 when absent: at its end (`append`), else
/// emptied. An existing file keeps its mode ([`make_private`] tightens it).
pub fn open_private(path: &Path, append: bool) -> std::io::Result<File> {
    match create_new_private(path) {
        Ok(f) if append => {
            drop(f);
            OpenOptions::new().append(true).open(path)
        }
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => OpenOptions::new()
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path),
        Err(e) => Err(e),
    }
}

/// Creates the directory `path` (and its missing parents) with mode 0700 when absent; an existing
/// one keeps its mode ([`open_to_others`] tells).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(PRIVATE_DIR);
    b.create(path)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_DIR))?;
    Ok(())
}

/// The mode of `path` when its group or others have any access to it; `None` when only its
/// owner has, or when it does not exist.
pub fn open_to_others(path: &Path) -> std::io::Result<Option<u32>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        let mode = meta.permissions().mode() & 0o7777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(None)
    }
}

/// Takes every access of group and others away from the file `path` (mode 0600); returns the mode
/// it had, or `None` when it was private already or does not exist.
pub fn make_private(path: &Path) -> std::io::Result<Option<u32>> {
    let loose = open_to_others(path)?;
    #[cfg(unix)]
    if loose.is_some() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_FILE))?;
    }
    Ok(loose)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_private_and_loose_ones_found() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        create_private_dir(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        let f = d.join("f");
        let mut w = open_private(&f, true).unwrap();
        w.write_all(b"one\n").unwrap();
        open_private(&f, true).unwrap().write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "one\ntwo\n");
        assert_eq!(mode(&f), 0o600);
        open_private(&f, false).unwrap().write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        write_new_private(&d.join("k"), b"x").unwrap();
        assert_eq!(mode(&d.join("k")), 0o600);
        assert!(
            write_new_private(&d.join("k"), b"y").is_err(),
            "never replaced"
        );

        assert_eq!(open_to_others(&f).unwrap(), None);
        assert_eq!(open_to_others(&d.join("absent")).unwrap(), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(open_to_others(&f).unwrap(), Some(0o644));
        assert_eq!(make_private(&f).unwrap(), Some(0o644));
        assert_eq!(mode(&f), 0o600);
        assert_eq!(make_private(&f).unwrap(), None);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(open_to_others(&d).unwrap(), Some(0o750));
    }
}
