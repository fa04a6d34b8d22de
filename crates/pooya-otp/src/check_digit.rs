//! Codes with a check digit: some hardware tokens append a Luhn digit to the HOTP code they show
//! (PSKC `ResponseFormat CheckDigits="true"`, RFC 6030 §4.3.4; the `addChecksum` option of
//! RFC 4226's reference implementation), so that a mistyped digit is caught before it costs a
//! failure. The token's `Length` counts every digit it shows, the check digit included: an
//! 8-digit RFC 4226 code with its check digit is 9 long, the longest RFC 6030's HOTP profile
//! allows (§10.1, `Length` 6 to 9).

use zeroize::Zeroize;

use crate::{Code, Digits, HotpKey, OtpError};

/// The ISO/IEC 7812 (Luhn) check digit of `digits`, ASCII decimal digits: the digit that, put
/// after them, makes the whole pass the Luhn check. It is the check digit tokens append to a code
/// and the last digit of a card number. `None` when `digits` holds anything but ASCII digits.
///
/// The digits may be a code, so the sum is computed without branching on them.
pub fn luhn_check_digit(digits: &str) -> Option<u8> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut sum = 0u32;
    // From the right: the digit next to the check digit is doubled, then every second one.
    for (i, b) in digits.bytes().rev().enumerate() {
        let d = u32::from(b - b'0');
        let doubled = 2 * d;
        // 2d for d < 5, 2d - 9 (the sum of its two digits) for d >= 5.
        let folded = doubled - 9 * u32::from(d >= 5);
        let even = u32::from(i % 2 == 0);
        sum += even * folded + (1 - even) * d;
    }
    let digit = ((10 - sum % 10) % 10) as u8;
    sum.zeroize();
    Some(digit)
}

impl HotpKey {
    /// The code a token with a check digit shows for `counter`: the HOTP code of `shown - 1`
    /// digits, then its Luhn digit ([`luhn_check_digit`]); `shown` digits in all. A `shown` under
    /// 5 is [`OtpError::BadDigits`] of the code before the check digit (at least 4 digits).
    pub fn code_with_check_digit(&self, counter: u64, shown: Digits) -> Result<Code, OtpError> {
        let bare = Digits::new(shown.get() - 1)?;
        let mut code = self.code(counter, bare);
        let check = luhn_check_digit(code.as_str()).expect("a code is ASCII digits");
        code.buf[usize::from(bare.get())] = b'0' + check;
        code.len = shown.get();
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, OtpKey};

    /// Luhn's own test values (ISO/IEC 7812-1 Annex B's worked example and card numbers that
    /// card schemes publish for testing), none of them from a token vendor or an OTP library.
    #[test]
    fn luhn_known_values() {
        // The classic worked example: 7992739871 takes 3.
        assert_eq!(luhn_check_digit("7992739871"), Some(3));
        // Published test card numbers end with their check digit.
        for pan in ["4111111111111111", "5555555555554444", "378282246310005"] {
            let (body, last) = pan.split_at(pan.len() - 1);
            assert_eq!(
                luhn_check_digit(body),
                Some(last.as_bytes()[0] - b'0'),
                "{pan}"
            );
        }
        assert_eq!(luhn_check_digit(""), Some(0));
        assert_eq!(luhn_check_digit("0"), Some(0));
        assert_eq!(luhn_check_digit("1"), Some(8));
        assert_eq!(luhn_check_digit("5"), Some(9));
        assert_eq!(luhn_check_digit("12a"), None);
        assert_eq!(luhn_check_digit("۱۲"), None);
    }

    /// Leading zeros do not change the digit: a zero-padded code and its value agree.
    #[test]
    fn leading_zeros_do_not_count() {
        assert_eq!(luhn_check_digit("000123"), luhn_check_digit("123"));
        assert_eq!(luhn_check_digit("0059"), luhn_check_digit("59"));
    }

    /// Any one mistyped digit changes the check digit (what it is there for).
    #[test]
    fn a_single_wrong_digit_is_caught() {
        let code = "287082";
        let good = luhn_check_digit(code).unwrap();
        for i in 0..code.len() {
            for d in b'0'..=b'9' {
                let mut typo = code.as_bytes().to_vec();
                if typo[i] == d {
                    continue;
                }
                typo[i] = d;
                let typo = String::from_utf8(typo).unwrap();
                assert_ne!(luhn_check_digit(&typo), Some(good), "{typo}");
            }
        }
    }

    /// RFC 4226 Appendix D's 6-digit codes with their check digit, worked by hand with the Luhn
    /// rule.
    #[test]
    fn rfc4226_codes_with_a_check_digit() {
        // Doubling from the rightmost digit: 755224 → 7, 1(5→10→1), 5, 4(2→4), 2, 8(4→8)
        // = 7+1+5+4+2+8 = 27, check digit 3.
        let key = HotpKey::new(b"12345678901234567890", Algorithm::Sha1);
        let seven = Digits::new(7).unwrap();
        assert_eq!(
            key.code_with_check_digit(0, seven).unwrap().as_str(),
            "7552243"
        );
        // 287082 → 2, 7(8→16→7), 7, 0(0), 8, 4(2→4) = 28, check digit 2.
        assert_eq!(
            key.code_with_check_digit(1, seven).unwrap().as_str(),
            "2870822"
        );
        let code = key.code_with_check_digit(1, seven).unwrap();
        assert!(code.matches("2870822"));
        assert!(!code.matches("287082"));
        assert_eq!(code.digits(), seven);
        // Ten shown: the 9-digit code and its digit.
        let nine = key.code(0, Digits::new(9).unwrap());
        let ten = key.code_with_check_digit(0, Digits::TEN).unwrap();
        assert_eq!(&ten.as_str()[..9], nine.as_str());
        assert_eq!(ten.as_str().len(), 10);
        // Four shown would leave a 3-digit code.
        assert_eq!(
            key.code_with_check_digit(0, Digits::FOUR).unwrap_err(),
            OtpError::BadDigits(3)
        );
        // The same through a plain key.
        let k = OtpKey::from_bytes(b"12345678901234567890");
        assert_eq!(
            crate::hotp(&k, 0, Digits::SIX, Algorithm::Sha1).as_str(),
            "755224"
        );
    }
}
