//! The one error type of the app: every variant reads as a plain sentence for the user, in
//! English or Persian ([`crate::i18n`]).

use std::fmt;
use std::path::PathBuf;

use crate::tr;

/// Anything that stops an app command. `Display` is the one line shown to the user.
#[derive(Debug)]
pub enum AppError {
    /// `init` on a path that already holds a file.
    VaultExists(PathBuf),
    /// Any command but `init` on a path with no file.
    VaultMissing(PathBuf),
    /// The file is not JSON of the vault's shape.
    NotAVault(PathBuf),
    /// The envelope has a version this app does not know.
    UnsupportedVersion(PathBuf, u64),
    /// The envelope is well formed but its values are out of range, or its contents fail the
    /// integrity check.
    VaultDamaged(PathBuf, String),
    /// The password slot's AEAD refused: a wrong password or a changed slot.
    WrongPasswordOrTampered(PathBuf),
    /// Reading or writing the vault file failed.
    VaultIo(PathBuf, &'static str, std::io::Error),
    /// The app password breaks the policy of R13.
    WeakPassword,
    /// The two entries of a new password differ.
    PasswordMismatch,
    /// No terminal to read the password from, and no `POOYA_APP_PASSWORD`.
    PasswordPrompt(std::io::Error),
    /// The OS key store cannot be used here.
    KeystoreUnavailable(String),
    /// The vault has a platform slot, but the key store no longer holds its key.
    KeystoreEntryMissing(String),
    /// A command-line value is wrong (a card number, a label, a server address).
    Invalid(String),
    /// Another token in the vault already has this label.
    DuplicateLabel(String),
    /// CARD matches no token.
    UnknownCard(String),
    /// CARD matches several tokens: CARD and the matches' descriptions.
    AmbiguousCard(String, Vec<String>),
    /// The server could not be reached at all.
    Unreachable(String, String),
    /// The server answered something outside the protocol.
    Garbage(String, String),
    /// The server refused, with a reason the user can act on (already in the run's language).
    Refused(String),
    /// The local part of the enrollment or a code computation failed.
    Crypto(String),
    /// The full-screen app needs a terminal.
    NoTerminal,
    /// Anything else that is the app's own fault.
    Internal(String),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::VaultExists(p) => {
                let p = p.display();
                tr!(
                    "{p} already exists; the app will not overwrite it",
                    "{p} از پیش وجود دارد؛ برنامه آن را بازنویسی نمی‌کند"
                )
            }
            Self::VaultMissing(p) => {
                let p = p.display();
                tr!(
                    "no vault at {p}: create one with `pooya app --vault {p} init`",
                    "گاوصندوقی در {p} نیست: با `pooya app --vault {p} init` یکی بسازید"
                )
            }
            Self::NotAVault(p) => {
                let p = p.display();
                tr!(
                    "{p} is not a pooya vault (or it is damaged or truncated); it was not changed",
                    "{p} گاوصندوق پویا نیست (یا آسیب دیده یا ناقص است)؛ تغییری در آن داده نشد"
                )
            }
            Self::UnsupportedVersion(p, v) => {
                let p = p.display();
                tr!(
                    "{p} is a pooya vault of version {v}, which this app does not support",
                    "{p} گاوصندوق پویا با نسخهٔ {v} است که این برنامه پشتیبانی نمی‌کند"
                )
            }
            Self::VaultDamaged(p, why) => {
                let p = p.display();
                tr!(
                    "{p} is damaged: {why}; it was not changed",
                    "{p} آسیب دیده است ({why})؛ تغییری در آن داده نشد"
                )
            }
            Self::WrongPasswordOrTampered(p) => {
                let p = p.display();
                tr!(
                    "cannot open {p}: wrong app password, or the file has been tampered with",
                    "{p} باز نشد: رمز برنامه اشتباه است، یا پرونده دست‌کاری شده است"
                )
            }
            Self::VaultIo(p, op, e) => {
                let p = p.display();
                tr!("cannot {op} {p}: {e}", "خطا در {op} {p}: {e}")
            }
            Self::WeakPassword => tr!(
                "the app password must be at least 8 characters long and contain at least one \
                 letter and one digit",
                "رمز برنامه باید دست‌کم ۸ (8) نویسه باشد و دست‌کم یک حرف و یک رقم داشته باشد"
            ),
            Self::PasswordMismatch => tr!(
                "the two passwords do not match",
                "دو رمزی که وارد کردید یکی نیستند"
            ),
            Self::PasswordPrompt(e) => tr!(
                "cannot read the app password from the terminal ({e}); set POOYA_APP_PASSWORD \
                 instead",
                "رمز برنامه از پایانه خوانده نشد ({e})؛ به جای آن POOYA_APP_PASSWORD را تنظیم کنید"
            ),
            Self::KeystoreUnavailable(why) => tr!(
                "this system offers no usable key store ({why}); the app password still opens \
                 the vault",
                "این سامانه انبار کلید قابل استفاده‌ای ندارد ({why})؛ رمز برنامه همچنان گاوصندوق \
                 را باز می‌کند"
            ),
            Self::KeystoreEntryMissing(store) => tr!(
                "{store} no longer holds this vault's key (after a reboot or a new login); open \
                 it with the app password and run `keystore enable` again",
                "{store} دیگر کلید این گاوصندوق را ندارد (پس از راه‌اندازی دوباره یا ورود تازه)؛ \
                 با رمز برنامه بازش کنید و دوباره `keystore enable` را اجرا کنید"
            ),
            Self::Invalid(m) | Self::Refused(m) | Self::Crypto(m) => m.clone(),
            Self::DuplicateLabel(l) => tr!(
                "a card labelled {l:?} is already in the vault; choose another label with --label",
                "کارتی با برچسب {l:?} از پیش در گاوصندوق هست؛ با --label برچسب دیگری بدهید"
            ),
            Self::UnknownCard(c) => tr!(
                "no card in the vault matches {c:?} (give a label, a full card number or its last \
                 4 digits)",
                "هیچ کارتی در گاوصندوق با {c:?} جور نیست (برچسب، شمارهٔ کامل کارت یا ۴ رقم آخر آن را \
                 بدهید)"
            ),
            Self::AmbiguousCard(c, matches) => {
                let m = matches.join("; ");
                tr!(
                    "{c:?} matches several cards: {m}; give the label instead",
                    "{c:?} با چند کارت جور است: {m}؛ به جای آن برچسب را بدهید"
                )
            }
            Self::Unreachable(s, why) => tr!(
                "cannot reach the server at {s} ({why}): check the internet connection",
                "به کارساز {s} دسترسی نیست ({why}): اتصال اینترنت را بررسی کنید"
            ),
            Self::Garbage(s, why) => tr!(
                "the server at {s} gave an answer the app does not understand ({why})",
                "کارساز {s} پاسخی داد که برنامه آن را نمی‌فهمد ({why})"
            ),
            Self::NoTerminal => tr!(
                "the full-screen app needs a terminal; use a subcommand (list, code …) in scripts",
                "برنامهٔ تمام‌صفحه پایانه می‌خواهد؛ در اسکریپت‌ها از زیرفرمان‌ها (list، code …) \
                 استفاده کنید"
            ),
            Self::Internal(m) => tr!("internal error: {m}", "خطای درونی: {m}"),
        };
        f.write_str(&s)
    }
}

impl std::error::Error for AppError {}

/// Shorthand used across the crate.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
