//! The two activation codes as the holder types them (R16), checked before the app sends anything
//! that costs one of the tries: Persian (۰–۹) and Arabic-Indic (٠–٩) digits count as digits,
//! spaces are dropped, and each code must have the bank's length. A refusal says which code
//! looks wrong, or that the two look swapped.

use zeroize::Zeroizing;

use crate::error::{AppError, Result};
use crate::tr;

/// Which of the two codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The code the ATM printed on the receipt.
    Receipt,
    /// The code the SMS brought.
    Sms,
}

impl Which {
    fn name(self) -> String {
        match self {
            Which::Receipt => tr!("the receipt code", "کد رسید"),
            Which::Sms => tr!("the SMS code", "کد پیامک"),
        }
    }
}

/// `code` in ASCII digits (the form the enrollment uses, `pooya_enroll::normalize_code`), or why
/// it cannot be one: empty, or not digits.
pub fn normalize(which: Which, code: &str) -> Result<Zeroizing<String>> {
    let digits = pooya_enroll::normalize_code(code);
    let name = which.name();
    if digits.is_empty() {
        return Err(AppError::Invalid(tr!("{name} is empty", "{name} خالی است")));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::Invalid(tr!(
            "{name} must be digits only; nothing was sent",
            "{name} باید فقط رقم باشد؛ چیزی فرستاده نشد"
        )));
    }
    Ok(digits)
}

/// Both codes (normalized) against the bank's lengths.
pub fn check_lengths(receipt: &str, sms: &str, receipt_digits: u8, sms_digits: u8) -> Result<()> {
    let (r, s) = (receipt.len(), sms.len());
    let (rw, sw) = (usize::from(receipt_digits), usize::from(sms_digits));
    if r == rw && s == sw {
        return Ok(());
    }
    if rw != sw && r == sw && s == rw {
        return Err(AppError::Invalid(tr!(
            "the two codes look swapped: the receipt code (printed by the ATM) has {rw} digits \
             and the SMS code {sw}; nothing was sent, no try used",
            "دو کد جابه‌جا به نظر می‌رسند: کد رسید (چاپ‌شده در خودپرداز) {rw} رقم و کد پیامک {sw} \
             رقم دارد؛ چیزی فرستاده نشد و تلاشی مصرف نشد"
        )));
    }
    let (which, n, want) = if r != rw {
        (Which::Receipt, r, rw)
    } else {
        (Which::Sms, s, sw)
    };
    let name = which.name();
    Err(AppError::Invalid(tr!(
        "{name} has {n} digits, but this bank's have {want}: check it; nothing was sent, no try \
         used",
        "{name} {n} رقم دارد ولی این بانک {want} رقمی است: آن را بررسی کنید؛ چیزی فرستاده نشد و \
         تلاشی مصرف نشد"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persian_and_arabic_digits_and_spaces_are_digits() {
        assert_eq!(
            normalize(Which::Receipt, "۴۸۲ ۹۱۳").unwrap().as_str(),
            "482913"
        );
        assert_eq!(
            normalize(Which::Sms, " ٧٣١٠٥٤ ").unwrap().as_str(),
            "731054"
        );
        assert_eq!(normalize(Which::Sms, "731054").unwrap().as_str(), "731054");
    }

    #[test]
    fn each_refusal_names_its_code() {
        let e = normalize(Which::Receipt, "  ").unwrap_err().to_string();
        assert_eq!(e, "the receipt code is empty");
        let e = normalize(Which::Sms, "12a456").unwrap_err().to_string();
        assert!(e.starts_with("the SMS code must be digits only"), "{e}");
        let e = check_lengths("12345", "654321", 6, 6)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("the receipt code has 5 digits"), "{e}");
        assert!(e.contains("have 6"), "{e}");
        let e = check_lengths("123456", "6543210", 6, 6)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("the SMS code has 7 digits"), "{e}");
        // Lengths that differ tell a swap.
        let e = check_lengths("12345", "123456", 6, 5)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("the two codes look swapped"), "{e}");
        check_lengths("123456", "12345", 6, 5).unwrap();
        check_lengths("123456", "654321", 6, 6).unwrap();
    }
}
