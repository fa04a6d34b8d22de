//! Card numbers, labels, picking a card from the command line, and showing a code.

use pooya_wire::card_number;
/// Which of a card's two dynamic passwords: the wire's, the same the issuer uses.
pub use pooya_wire::PasswordKind;

use crate::error::{AppError, Result};
use crate::tr;
use crate::vault::Token;

/// A password kind's name for the holder.
pub trait KindName {
    /// "first password" or "second password" in the run's language.
    fn name(self) -> String;
}

impl KindName for PasswordKind {
    fn name(self) -> String {
        match self {
            PasswordKind::First => tr!("first password", "رمز اول"),
            PasswordKind::Second => tr!("second password", "رمز دوم"),
        }
    }
}

/// Checks a card number as typed (spaces and dashes allowed) and returns its digits.
pub fn normalize_pan(input: &str) -> Result<String> {
    let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::Invalid(tr!(
            "the card number must contain only digits",
            "شمارهٔ کارت باید فقط رقم داشته باشد"
        )));
    }
    let n = digits.len();
    if !card_number::LENGTHS.contains(&n) {
        let (min, max) = (card_number::LENGTHS.start(), card_number::LENGTHS.end());
        return Err(AppError::Invalid(tr!(
            "the card number must have {min} to {max} digits, not {n}",
            "شمارهٔ کارت باید {min} تا {max} رقم داشته باشد، نه {n}"
        )));
    }
    if !card_number::luhn_ok(&digits) {
        return Err(AppError::Invalid(tr!(
            "this is not a valid card number (check digit wrong); check for a typing mistake",
            "این شمارهٔ کارت معتبر نیست (رقم کنترل نادرست است)؛ اشتباه تایپی را بررسی کنید"
        )));
    }
    Ok(digits)
}

/// The first 6 and the last 4 digits, the rest as `*`.
pub fn mask_pan(pan: &str) -> String {
    card_number::mask(pan)
}

/// The default label of a card: `card-` and its last 4 digits.
pub fn default_label(pan: &str) -> String {
    format!("card-{}", &pan[pan.len().saturating_sub(4)..])
}

/// Checks a label given with `--label`.
pub fn check_label(label: &str) -> Result<()> {
    if label.trim().is_empty() || label.trim() != label {
        return Err(AppError::Invalid(tr!(
            "a label must not be empty or start or end with spaces",
            "برچسب نباید خالی باشد یا با فاصله آغاز یا تمام شود"
        )));
    }
    if label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(AppError::Invalid(tr!(
            "a label must be at most 64 characters, without control characters",
            "برچسب باید حداکثر ۶۴ (64) نویسه و بدون نویسهٔ کنترلی باشد"
        )));
    }
    if label.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::Invalid(tr!(
            "a label must not be only digits (it would be mistaken for a card number)",
            "برچسب نباید فقط رقم باشد (با شمارهٔ کارت اشتباه گرفته می‌شود)"
        )));
    }
    Ok(())
}

/// Finds the one token CARD names: a label, a full card number, or its last 4 digits.
pub fn resolve<'a>(tokens: &'a [Token], card: &str) -> Result<&'a Token> {
    let card = card.trim();
    let digits: String = card.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let is_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let matches: Vec<&Token> = tokens
        .iter()
        .filter(|t| {
            t.label == card
                || (is_digits && digits.len() == 4 && t.last4() == digits)
                || (is_digits && digits.len() > 4 && t.pan.expose() == digits)
        })
        .collect();
    match matches.as_slice() {
        [] => Err(AppError::UnknownCard(card.to_owned())),
        [one] => Ok(one),
        many => Err(AppError::AmbiguousCard(
            card.to_owned(),
            many.iter()
                .map(|t| format!("{} ({}, {})", t.label, t.bank_name, t.pan_masked))
                .collect(),
        )),
    }
}

/// One line of `list`: label, bank, masked card number, server, in aligned columns.
pub fn list_lines(tokens: &[Token]) -> Vec<String> {
    let w_label = tokens
        .iter()
        .map(|t| t.label.chars().count())
        .max()
        .unwrap_or(0);
    let w_bank = tokens
        .iter()
        .map(|t| t.bank_name.chars().count())
        .max()
        .unwrap_or(0);
    tokens
        .iter()
        .map(|t| {
            format!(
                "{:<wl$}  {:<wb$}  {}  {}",
                t.label,
                t.bank_name,
                t.pan_masked,
                t.server,
                wl = w_label,
                wb = w_bank
            )
        })
        .collect()
}

const BAR_WIDTH: u64 = 20;

/// `[#####---------------]`: the part of the code's lifetime still left.
pub fn time_bar(remaining_ms: i64, lifetime_secs: u32) -> String {
    let total = u64::from(lifetime_secs.max(1)) * 1000;
    let left = u64::try_from(remaining_ms).unwrap_or(0).min(total);
    let filled = (left * BAR_WIDTH).div_ceil(total);
    format!(
        "[{}{}]",
        "#".repeat(filled as usize),
        "-".repeat((BAR_WIDTH - filled) as usize)
    )
}

/// Seconds left, rounded up (a code with 200 ms left shows "1 s").
pub fn seconds_left(remaining_ms: i64) -> u64 {
    u64::try_from(remaining_ms).unwrap_or(0).div_ceil(1000)
}

/// The full line of `code`:
/// `second password for LABEL (628023******7890): 12345678  [########------------] 41 s left`.
pub fn format_code_line(
    kind: PasswordKind,
    token: &Token,
    code: &str,
    remaining_ms: i64,
) -> String {
    let (name, label, masked) = (kind.name(), &token.label, &token.pan_masked);
    let bar = time_bar(remaining_ms, token.lifetime_secs);
    let left = seconds_left(remaining_ms);
    tr!(
        "{name} for {label} ({masked}): {code}  {bar} {left} s left",
        "{name} {label} ({masked}): {code}  {bar} {left} ثانیه مانده"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{SecretBytes, SecretString};

    fn tok(label: &str, pan: &str) -> Token {
        Token {
            label: label.to_owned(),
            token_id: format!("id-{label}"),
            server: "https://bank.example".to_owned(),
            bank_name: "Maskan".to_owned(),
            pan: SecretString::new(pan.to_owned()),
            pan_masked: mask_pan(pan),
            seed: SecretBytes::from_slice(&[1; 32]),
            lifetime_secs: 60,
            algorithm: "SHA256".to_owned(),
            first_digits: 4,
            second_digits: 8,
            added_at_unix_ms: 0,
        }
    }

    #[test]
    fn pan_checks() {
        assert_eq!(
            normalize_pan("6280 2312 3456 7898").unwrap(),
            "6280231234567898"
        );
        assert!(normalize_pan("6280231234567890").is_err(), "Luhn");
        // 13 digits passing Luhn: not a card number of the bank's.
        assert!(normalize_pan("4222222222222").is_err());
        assert!(normalize_pan("4111-1111-1111-1111").is_ok());
        assert!(normalize_pan("4111111111111112").is_err());
        assert!(normalize_pan("41111111").is_err());
        assert!(normalize_pan("4111a11111111111").is_err());
        assert_eq!(mask_pan("6280231234567890"), "628023******7890");
        assert_eq!(default_label("6280231234567890"), "card-7890");
    }

    #[test]
    fn labels() {
        assert!(check_label("salary").is_ok());
        assert!(check_label("کارت مسکن").is_ok());
        assert!(check_label("").is_err());
        assert!(check_label(" x").is_err());
        assert!(check_label("7890").is_err());
        assert!(check_label("a\nb").is_err());
        assert!(check_label(&"x".repeat(65)).is_err());
    }

    #[test]
    fn resolution() {
        let tokens = vec![
            tok("salary", "6280231234567890"),
            tok("card-7890", "6037991111117890"),
            tok("card-0004", "6280231234560004"),
        ];
        assert_eq!(resolve(&tokens, "salary").unwrap().token_id, "id-salary");
        assert_eq!(resolve(&tokens, "0004").unwrap().label, "card-0004");
        assert_eq!(
            resolve(&tokens, "6037991111117890").unwrap().label,
            "card-7890"
        );
        assert_eq!(
            resolve(&tokens, "6280 2312 3456 7890").unwrap().label,
            "salary"
        );
        assert_eq!(
            resolve(&tokens, "card-7890").unwrap().token_id,
            "id-card-7890"
        );

        match resolve(&tokens, "7890") {
            Err(AppError::AmbiguousCard(_, labels)) => {
                assert_eq!(
                    labels,
                    vec![
                        "salary (Maskan, 628023******7890)".to_owned(),
                        "card-7890 (Maskan, 603799******7890)".to_owned()
                    ]
                )
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
        let msg = resolve(&tokens, "7890").unwrap_err().to_string();
        assert!(msg.contains("salary") && msg.contains("card-7890"), "{msg}");
        assert!(!msg.contains("6280231234567890"));

        assert!(matches!(
            resolve(&tokens, "1111"),
            Err(AppError::UnknownCard(_))
        ));
        assert!(matches!(
            resolve(&tokens, "nope"),
            Err(AppError::UnknownCard(_))
        ));
        assert!(matches!(
            resolve(&tokens, "6280231234567891"),
            Err(AppError::UnknownCard(_))
        ));
        // A partial number is neither a full PAN nor the last 4.
        assert!(matches!(
            resolve(&tokens, "567890"),
            Err(AppError::UnknownCard(_))
        ));
        assert!(matches!(
            resolve(&[], "salary"),
            Err(AppError::UnknownCard(_))
        ));
    }

    #[test]
    fn code_formatting() {
        let t = tok("salary", "6280231234567890");
        assert_eq!(
            format_code_line(PasswordKind::Second, &t, "12345678", 41_000),
            "second password for salary (628023******7890): 12345678  \
             [##############------] 41 s left"
        );
        assert_eq!(
            format_code_line(PasswordKind::First, &t, "1234", 60_000),
            "first password for salary (628023******7890): 1234  [####################] 60 s left"
        );
        assert_eq!(time_bar(200, 60), "[#-------------------]");
        assert_eq!(seconds_left(200), 1);
        assert_eq!(time_bar(0, 60), "[--------------------]");
        assert_eq!(time_bar(-5, 60), "[--------------------]");
        assert_eq!(time_bar(999_999, 60), "[####################]");
        assert_eq!(time_bar(60_000, 120), "[##########----------]");
    }

    #[test]
    fn list_never_shows_full_pan() {
        let tokens = vec![
            tok("salary", "6280231234567890"),
            tok("x", "6280231234560004"),
        ];
        let lines = list_lines(&tokens);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "salary  Maskan  628023******7890  https://bank.example"
        );
        assert_eq!(
            lines[1],
            "x       Maskan  628023******0004  https://bank.example"
        );
        assert!(lines.iter().all(|l| !l.contains("6280231234567890")));
    }
}
