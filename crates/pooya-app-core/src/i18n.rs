//! English and Persian (R25: the app is for Iranian banks' card holders).
//!
//! The language is chosen once per run: `--lang fa|en`, else the locale (`LC_ALL`, then
//! `LC_MESSAGES`, then `LANG`; a value starting with `fa` is Persian), else English. Every
//! sentence the app shows is written in both, side by side, with [`tr!`](crate::tr).
//! Codes, card numbers and addresses stay in ASCII digits in both: they are typed elsewhere.

use std::sync::OnceLock;

/// A language of the app's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Lang {
    /// English.
    En,
    /// Persian (Farsi).
    Fa,
}

static LANG: OnceLock<Lang> = OnceLock::new();

/// Fixes the language for this run (the first call wins).
pub fn set(lang: Lang) {
    let _ = LANG.set(lang);
}

/// The language of this run: as [`set`], else from the locale.
pub fn lang() -> Lang {
    *LANG.get_or_init(from_locale)
}

/// The language the locale variables ask for.
pub fn from_locale() -> Lang {
    from_locale_values(
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .map(|k| std::env::var(k).ok()),
    )
}

fn from_locale_values(values: impl IntoIterator<Item = Option<String>>) -> Lang {
    // POSIX: the first one set and not empty decides.
    for v in values.into_iter().flatten() {
        if v.is_empty() {
            continue;
        }
        return if v.to_ascii_lowercase().starts_with("fa") {
            Lang::Fa
        } else {
            Lang::En
        };
    }
    Lang::En
}

/// `tr!("English {x}", "فارسی {x}")`: the sentence in the run's language. Use inline
/// arguments (`{x}`), so both texts may name different ones.
#[macro_export]
macro_rules! tr {
    ($en:literal, $fa:literal) => {
        match $crate::i18n::lang() {
            $crate::i18n::Lang::Fa => format!($fa),
            $crate::i18n::Lang::En => format!($en),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale() {
        let v = |xs: &[Option<&str>]| from_locale_values(xs.iter().map(|x| x.map(String::from)));
        assert_eq!(v(&[None, None, Some("fa_IR.UTF-8")]), Lang::Fa);
        assert_eq!(
            v(&[Some("en_US.UTF-8"), None, Some("fa_IR.UTF-8")]),
            Lang::En
        );
        assert_eq!(v(&[Some(""), Some("fa_IR"), None]), Lang::Fa);
        assert_eq!(v(&[None, None, None]), Lang::En);
        assert_eq!(v(&[Some("C")]), Lang::En);
    }
}
