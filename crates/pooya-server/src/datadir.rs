//! The data directory: created private to the server's user (0700, its files 0600) whatever the
//! umask, and checked at every start. Files the server keeps there and finds open to others are
//! made private; anything else open to others is named in a warning.

use std::path::Path;

use pooya_issuer::fsutil;

/// The files the server itself keeps in its data directory (the master key file is checked, and
/// refused when open to others, by the key loader).
const OWN_FILES: &[&str] = &[
    "pooya.sqlite3",
    "pooya.sqlite3-wal",
    "pooya.sqlite3-shm",
    "pooya.sqlite3-journal",
    "sms-outbox.jsonl",
    "bootstrap-keys.json",
];

/// Creates `dir` (0700) when absent; warns when an existing one is open to others; makes the
/// server's own files in it private.
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    fsutil::create_private_dir(dir)?;
    if let Some(mode) = fsutil::open_to_others(dir)? {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{mode:04o}"),
            "the data directory is open to others than its owner: its files are kept 0600, but \
             make it private too (chmod 700)"
        );
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let own = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| OWN_FILES.contains(&n));
        if own {
            make_private(&path)?;
        } else if let Some(mode) = fsutil::open_to_others(&path)? {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:04o}"),
                "a file in the data directory is open to others than its owner"
            );
        }
    }
    Ok(())
}

/// Makes one of the server's files private, saying so when it was not.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    if let Some(mode) = fsutil::make_private(path)? {
        tracing::warn!(
            path = %path.display(),
            was = format!("{mode:04o}"),
            "a file of the server was open to others than its owner: now 0600"
        );
    }
    Ok(())
}
