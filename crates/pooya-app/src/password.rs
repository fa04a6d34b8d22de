//! The app password (R13): where it is read from, what it must look like, and opening a vault
//! with it.

use zeroize::Zeroizing;

use crate::error::{AppError, Result};
use crate::keystore::KeyStore;
use crate::tr;
use crate::vault::{KdfParams, LockedVault, Vault, VaultFile};

/// Environment variable that, when set, supplies the app password instead of the terminal.
pub const PASSWORD_ENV: &str = "POOYA_APP_PASSWORD";

pub use pooya_app_core::vault::{check_policy, MIN_PASSWORD_CHARS};

/// How many times the app asks for the password of an existing vault on the terminal.
pub const PROMPT_ATTEMPTS: u32 = 3;

/// Opens `locked` with the app password: `POOYA_APP_PASSWORD` (tried once), else asked on the
/// terminal up to [`PROMPT_ATTEMPTS`] times. A password slot below the Argon2 floor is re-made
/// at once (`docs/vault.md`): the vault is re-keyed at today's cost and saved, and `store` gets
/// the new key of its platform slot, if it has one.
pub fn unlock(locked: &LockedVault, store: &dyn KeyStore) -> Result<Vault> {
    let (mut vault, password) = match from_env(PASSWORD_ENV) {
        Some(pw) => (locked.unlock(&pw)?, pw),
        None => ask(locked)?,
    };
    let old = vault.kdf();
    if old.needs_upgrade() {
        let new = KdfParams::for_new_vault()?;
        let platform = vault.rekey(&password, new, store)?;
        vault.save()?;
        let note = tr!("note", "یادآوری");
        let (om, ot, nm, nt) = (old.m_kib / 1024, old.t, new.m_kib / 1024, new.t);
        eprintln!(
            "{note}: {}",
            tr!(
                "this vault's key derivation ({om} MiB, {ot} passes) was below the app's floor; \
                 it is re-keyed at {nm} MiB and {nt} passes",
                "کلیدسازی این گاوصندوق ({om} مگابایت، {ot} گذر) از کف برنامه پایین‌تر بود؛ با \
                 {nm} مگابایت و {nt} گذر دوباره کلیدگذاری شد"
            )
        );
        if let Some(line) = platform.note() {
            eprintln!("{note}: {line}");
        }
    }
    Ok(vault)
}

/// Asks for the password until it opens the vault, [`PROMPT_ATTEMPTS`] times at most.
fn ask(locked: &LockedVault) -> Result<(Vault, Zeroizing<String>)> {
    let mut attempt = 1;
    loop {
        let pw = prompt(&tr!("App password: ", "رمز برنامه: "))?;
        match locked.unlock(&pw) {
            Ok(vault) => return Ok((vault, pw)),
            Err(e @ AppError::WrongPasswordOrTampered(_)) if attempt < PROMPT_ATTEMPTS => {
                let left = PROMPT_ATTEMPTS - attempt;
                eprintln!(
                    "{e}; {}",
                    tr!(
                        "try again (attempts left: {left})",
                        "دوباره بکوشید (بارهای باقی‌مانده: {left})"
                    )
                );
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The password of a new vault: from `POOYA_APP_PASSWORD`, else asked twice; checked against R13.
pub fn read_new() -> Result<Zeroizing<String>> {
    read_new_from(PASSWORD_ENV)
}

/// Environment variable that, when set, supplies the new password of `passwd`.
pub const NEW_PASSWORD_ENV: &str = "POOYA_APP_NEW_PASSWORD";

/// A new password from the variable `env`, else asked twice; checked against R13.
pub fn read_new_from(env: &str) -> Result<Zeroizing<String>> {
    let pw = match from_env(env) {
        Some(pw) => pw,
        None => {
            let first = prompt(&tr!(
                "New app password (at least 8 characters, letters and digits): ",
                "رمز تازهٔ برنامه (دست‌کم ۸ نویسه، حرف و رقم): "
            ))?;
            check_policy(&first)?;
            let second = prompt(&tr!("Repeat the app password: ", "تکرار رمز برنامه: "))?;
            if *first != *second {
                return Err(AppError::PasswordMismatch);
            }
            first
        }
    };
    check_policy(&pw)?;
    Ok(pw)
}

fn from_env(name: &str) -> Option<Zeroizing<String>> {
    std::env::var_os(name).map(|v| Zeroizing::new(v.to_string_lossy().into_owned()))
}

fn prompt(text: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(AppError::PasswordPrompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check_policy("abcdefg1").is_ok());
        assert!(check_policy("1234567a").is_ok());
        assert!(check_policy("pass word 99").is_ok());
        assert!(
            check_policy("رمزعبور۱۲").is_ok(),
            "Persian letters and digits count"
        );
        assert!(check_policy("abc1234").is_err(), "7 characters");
        assert!(check_policy("abcdefgh").is_err(), "no digit");
        assert!(check_policy("12345678").is_err(), "no letter");
        assert!(check_policy("!!!!!!!!").is_err());
        assert!(check_policy("").is_err());
        let msg = check_policy("short1").unwrap_err().to_string();
        assert!(
            msg.contains("at least 8 characters")
                && msg.contains("letter")
                && msg.contains("digit")
        );
    }
}
