//! The app password (R13): where it is read from and what it must look like.

use zeroize::Zeroizing;

use crate::error::{AppError, Result};
use crate::tr;

/// Environment variable that, when set, supplies the app password instead of the terminal.
pub const PASSWORD_ENV: &str = "POOYA_APP_PASSWORD";

/// Minimum length of the app password, in characters (R13).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// R13: at least 8 characters, at least one letter and at least one digit.
pub fn check_policy(password: &str) -> Result<()> {
    let long_enough = password.chars().count() >= MIN_PASSWORD_CHARS;
    let has_letter = password.chars().any(char::is_alphabetic);
    let has_digit = password.chars().any(char::is_numeric);
    if long_enough && has_letter && has_digit {
        Ok(())
    } else {
        Err(AppError::WeakPassword)
    }
}

/// The password of an existing vault: from `POOYA_APP_PASSWORD`, else asked once.
pub fn read_existing() -> Result<Zeroizing<String>> {
    if let Some(pw) = from_env(PASSWORD_ENV) {
        return Ok(pw);
    }
    prompt(&tr!("App password: ", "رمز برنامه: "))
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
