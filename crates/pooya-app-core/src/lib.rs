//! # pooya-app-core — the card holder's app without its terminal
//!
//! Everything of `pooya app` that is neither a terminal, a socket nor a file, so the command line
//! (`pooya-app`) and the web app (`pooya-web`, compiled to WebAssembly) run the same code:
//!
//! * The vault: [`vault`], specified in `docs/vault.md` (Argon2id, XChaCha20-Poly1305, slots),
//!   as bytes: [`vault::LockedVault::from_bytes`] and [`vault::Vault::to_bytes`]. The caller
//!   keeps them: `pooya app` in a file (atomic writes), the web app in IndexedDB. The key store
//!   a platform slot needs: [`keystore`] (the trait).
//! * The server protocol: [`client`], over any [`client::Transport`].
//! * Codes on the issuer's time: [`clock`] (R19) and [`token_code`].
//! * The cards: [`cards`]; the activation codes as typed: [`codes`].
//! * Messages in English and Persian: [`i18n`]; the one error type: [`error`].
//!
//! No function here reads a file or a clock the browser lacks: the wall clock and the boot
//! ([`clock::Boot`]) are arguments wherever a code or a measurement needs them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cards;
pub mod client;
pub mod clock;
pub mod codes;
pub mod error;
pub mod i18n;
pub mod keystore;
pub mod vault;

#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod test_support;

use crate::cards::PasswordKind;
use crate::clock::{Boot, Correction};
pub use crate::error::AppError;
use crate::error::Result;
use crate::vault::{Token, Vault};

/// The code of `token` at the server's time `server_ms`, and the milliseconds it has left.
pub fn token_code(token: &Token, kind: PasswordKind, server_ms: i64) -> Result<(String, i64)> {
    let label = &token.label;
    let bad =
        |what: String| AppError::Crypto(tr!("the card {label} has {what}", "کارت {label}: {what}"));
    let alg: pooya_otp::Algorithm = token
        .algorithm
        .parse()
        .map_err(|_| bad(tr!("an unknown algorithm", "الگوریتم ناشناخته")))?;
    let digits = match kind {
        PasswordKind::First => token.first_digits,
        PasswordKind::Second => token.second_digits,
    };
    let digits = pooya_otp::Digits::new(digits)
        .map_err(|_| bad(tr!("a bad code length", "طول رمز نادرست")))?;
    let totp = pooya_otp::Totp::new(token.lifetime_secs, digits, alg)
        .map_err(|_| bad(tr!("a bad code lifetime", "عمر رمز نادرست")))?;
    let keys = pooya_otp::derive_password_keys(token.seed.expose());
    let key = match kind {
        PasswordKind::First => &keys.first,
        PasswordKind::Second => &keys.second,
    };
    let code = totp.code_at(key, server_ms);
    Ok((code.as_str().to_owned(), totp.remaining_ms(server_ms)))
}

/// How to get from the local clock to `token`'s server's clock now (R19), in the boot `boot`
/// (`None` where the OS does not tell it: then the stored offset is the correction).
pub fn correction_for(
    vault: &Vault,
    token: &Token,
    local_ms: i64,
    boot: Option<&Boot>,
) -> Correction {
    match vault.clock(&token.server) {
        Some(c) => c.correction(local_ms, boot),
        None => Correction {
            offset_ms: 0,
            jumped_ms: None,
            went_back_ms: None,
        },
    }
}

/// The warnings a correction deserves, in the run's language.
pub fn correction_warnings(bank: &str, c: &Correction, lifetime_secs: u32) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(moved) = c.jumped_ms {
        let secs = rounded_secs(moved);
        let dir = if moved > 0 {
            tr!("forward", "جلو")
        } else {
            tr!("back", "عقب")
        };
        out.push(tr!(
            "warning: this device's clock was moved {dir} by {secs} s since the last sync with \
             {bank}; the codes take it into account, but run `pooya app sync` when online",
            "هشدار: ساعت این دستگاه از آخرین همگام‌سازی با {bank}، {secs} ثانیه به {dir} برده شده \
             است؛ رمزها این را در نظر می‌گیرند، ولی هنگام اتصال `pooya app sync` را اجرا کنید"
        ));
    }
    if let Some(back) = c.went_back_ms {
        let secs = rounded_secs(back);
        out.push(tr!(
            "warning: this device's clock is {secs} s behind the last sync with {bank}; if the \
             codes fail, run `pooya app sync`",
            "هشدار: ساعت این دستگاه {secs} ثانیه از آخرین همگام‌سازی با {bank} عقب‌تر است؛ اگر \
             رمزها پذیرفته نشدند `pooya app sync` را اجرا کنید"
        ));
    }
    if c.offset_ms.abs() > i64::from(lifetime_secs) * 1000 {
        let secs = rounded_secs(c.offset_ms);
        out.push(if c.offset_ms > 0 {
            tr!(
                "note: this device's clock is {secs} s behind {bank}'s; codes are made on the \
                 bank's time, but set the clock to update automatically",
                "یادآوری: ساعت این دستگاه {secs} ثانیه از ساعت {bank} عقب است؛ رمزها با ساعت بانک \
                 ساخته می‌شوند، ولی ساعت را روی تنظیم خودکار بگذارید"
            )
        } else {
            tr!(
                "note: this device's clock is {secs} s ahead of {bank}'s; codes are made on the \
                 bank's time, but set the clock to update automatically",
                "یادآوری: ساعت این دستگاه {secs} ثانیه از ساعت {bank} جلو است؛ رمزها با ساعت بانک \
                 ساخته می‌شوند، ولی ساعت را روی تنظیم خودکار بگذارید"
            )
        });
    }
    out
}

/// |ms| in whole seconds, rounded (the boot clock behind a jump is read to 10 ms).
pub fn rounded_secs(ms: i64) -> i64 {
    ms.saturating_abs().saturating_add(500) / 1000
}
