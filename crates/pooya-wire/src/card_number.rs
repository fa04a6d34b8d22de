//! What a card number (PAN) looks like: 16 to 19 ASCII digits that pass the Luhn check (a PAN
//! that fails it is the server's 422 `invalid_pan`), and how it is shown: the first 6 and the
//! last 4 digits, the rest as `*` (PCI DSS display rule; `pan_masked` in every answer).

use std::ops::RangeInclusive;

/// How many digits a card number has.
pub const LENGTHS: RangeInclusive<usize> = 16..=19;

/// Whether `s` is a card number: [`LENGTHS`] ASCII digits passing the Luhn check.
pub fn is_valid(s: &str) -> bool {
    LENGTHS.contains(&s.len()) && luhn_ok(s)
}

/// The Luhn check (ISO/IEC 7812-1) of a string of ASCII digits; false for anything else.
pub fn luhn_ok(digits: &str) -> bool {
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && luhn_sum(digits.bytes().rev(), false) % 10 == 0
}

/// The digit that, appended to `body` (ASCII digits), makes it pass the Luhn check.
///
/// # Panics
/// If `body` holds anything but ASCII digits.
pub fn check_digit(body: &str) -> char {
    assert!(
        body.bytes().all(|b| b.is_ascii_digit()),
        "a card number's body is ASCII digits"
    );
    let d = (10 - luhn_sum(body.bytes().rev(), true) % 10) % 10;
    char::from(b'0' + d as u8)
}

/// Luhn's sum over `digits` from the right; `double_first`: whether the first of them is doubled
/// (it is when a check digit is still to come after them).
fn luhn_sum(digits: impl Iterator<Item = u8>, double_first: bool) -> u32 {
    digits
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if (i % 2 == 1) != double_first {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum()
}

/// The first 6 and the last 4 digits, the rest as `*`; a string of 10 or fewer characters all
/// as `*`.
pub fn mask(pan: &str) -> String {
    let n = pan.len();
    if n <= 10 || !pan.is_ascii() {
        return "*".repeat(pan.chars().count());
    }
    format!("{}{}{}", &pan[..6], "*".repeat(n - 10), &pan[n - 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_ok("4111111111111111"));
        assert!(!luhn_ok("4111111111111112"));
        assert!(luhn_ok("6280231234567898"));
        assert!(!luhn_ok("6280231234567897"));
        assert!(!luhn_ok(""));
        assert!(!luhn_ok("62802312345678９8"));
        assert!(!luhn_ok("6280 2312 3456 7898"));
    }

    #[test]
    fn card_numbers() {
        assert!(is_valid("6280231234567898"));
        // 15 digits passing Luhn: too short.
        let fifteen = format!("62802312345678{}", check_digit("62802312345678"));
        assert!(luhn_ok(&fifteen) && !is_valid(&fifteen));
        assert!(is_valid(&format!(
            "628023123456789012{}",
            check_digit("628023123456789012")
        )));
        let twenty = format!("6280231234567890123{}", check_digit("6280231234567890123"));
        assert!(luhn_ok(&twenty) && !is_valid(&twenty));
    }

    #[test]
    fn check_digits() {
        assert_eq!(check_digit("628023123456789"), '8');
        assert_eq!(check_digit("411111111111111"), '1');
        for body in ["628023000000000", "628023000000001", "62802312345678", "1"] {
            let pan = format!("{body}{}", check_digit(body));
            assert!(luhn_ok(&pan), "{pan}");
            // Every other last digit fails.
            for d in '0'..='9' {
                let other = format!("{body}{d}");
                assert_eq!(luhn_ok(&other), other == pan, "{other}");
            }
        }
    }

    #[test]
    fn masking() {
        assert_eq!(mask("6280231234567898"), "628023******7898");
        assert_eq!(mask("6280231234567898123"), "628023*********8123");
        assert_eq!(mask("1234567890"), "**********");
        assert_eq!(mask(""), "");
    }
}
