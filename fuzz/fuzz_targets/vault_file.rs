//! The app's vault file, and the token list inside it.
//!
//! The envelope is what anyone who can write the file controls; the contents are what a vault of
//! an older or other app could hold once decrypted. Unlocking (Argon2, at least 8 MiB) is too slow
//! to fuzz, so the contents are fed to the same code paths the app runs after unlocking.
//!
//! Asserts: no panic in reading the file or in anything the app does with its tokens (listing,
//! picking a card by label or digits, making and showing codes); contents round-trip through JSON.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pooya_app::cards::{self, PasswordKind};
use pooya_app::vault::{LockedVault, LockedVaultFile, VaultContents};

fn scratch() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm").unwrap()
        } else {
            tempfile::tempdir().unwrap()
        }
    })
    .path()
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    if mode % 2 == 0 {
        // The envelope, from a file as `pooya app` reads it.
        let path = scratch().join("vault.json");
        std::fs::write(&path, rest).unwrap();
        let _ = LockedVault::read(&path);
        return;
    }
    // The decrypted contents.
    let Ok(contents) = serde_json::from_slice::<VaultContents>(rest) else {
        return;
    };
    let json = serde_json::to_string(&contents).unwrap();
    let again: VaultContents = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&again).unwrap(), json);

    let tokens = &contents.tokens;
    let _ = cards::list_lines(tokens);
    for t in tokens {
        let last4 = t.last4().to_owned();
        let _ = cards::resolve(tokens, &last4);
        let _ = cards::resolve(tokens, &t.label);
        let _ = cards::resolve(tokens, t.pan.expose());
        for kind in [PasswordKind::First, PasswordKind::Second] {
            for now in [0, t.added_at_unix_ms, i64::MIN, i64::MAX] {
                if let Ok((code, left)) = pooya_app::token_code(t, kind, now) {
                    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code:?}");
                    let _ = cards::format_code_line(kind, t, &code, left);
                }
            }
        }
    }
});
