//! submit_sm's `validity_period` (SMPP 3.4 §5.2.15) in the time format of §7.1.1:
//! `YYMMDDhhmmsstnnp`, 16 characters (17 octets with the NUL). pooya writes the relative form
//! (§7.1.1.2, `p` = `R`), so that the SMSC's clock and the bank's need not agree: the SMSC drops
//! a message it could not deliver within the period, and a code is never delivered after it died.

/// The longest period written: 99 days 23:59:59, the most days and hours the format holds without
/// months or years (whose length an SMSC would have to guess).
pub const MAX_RELATIVE_SECS: u64 = 99 * 86_400 + 86_399;

/// The relative time of `secs` seconds (at most [`MAX_RELATIVE_SECS`]), in days, hours, minutes
/// and seconds: 58 s is `000000000058000R`, one hour `000000010000000R`.
pub fn relative(secs: u64) -> String {
    let secs = secs.min(MAX_RELATIVE_SECS);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    format!(
        "0000{days:02}{:02}{:02}{:02}000R",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// A `validity_period` as an SMSC reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// Empty: the SMSC's default.
    Default,
    /// Relative (§7.1.1.2), in seconds; months count 30 days and years 365 (SMPP leaves their
    /// length to the SMSC; pooya writes neither).
    Relative(u64),
    /// Absolute (§7.1.1.1): a moment given with its offset from UTC.
    Absolute,
}

/// Reads a `validity_period` the way an SMSC checks it; an error is what ESME_RINVEXPIRY answers.
pub fn parse(s: &str) -> Result<Validity, String> {
    if s.is_empty() {
        return Ok(Validity::Default);
    }
    let b = s.as_bytes();
    if b.len() != 16 || !b[..15].iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "{s:?} is not YYMMDDhhmmsstnnp (16 characters, 15 digits)"
        ));
    }
    let n = |i: usize| u64::from(b[i] - b'0') * 10 + u64::from(b[i + 1] - b'0');
    let (yy, mo, dd, hh, mi, ss) = (n(0), n(2), n(4), n(6), n(8), n(10));
    match b[15] {
        b'R' => {
            if hh > 23 || mi > 59 || ss > 59 || mo > 11 {
                return Err(format!("{s:?}: a relative field is out of range"));
            }
            Ok(Validity::Relative(
                ((yy * 365 + mo * 30 + dd) * 24 + hh) * 3_600 + mi * 60 + ss,
            ))
        }
        b'+' | b'-' => {
            // nn: the offset from UTC in quarter hours, at most 48.
            if !(1..=12).contains(&mo) || !(1..=31).contains(&dd) || hh > 23 || mi > 59 || ss > 59 {
                return Err(format!("{s:?}: a date or time field is out of range"));
            }
            if n(13) > 48 {
                return Err(format!("{s:?}: the offset from UTC is out of range"));
            }
            Ok(Validity::Absolute)
        }
        _ => Err(format!("{s:?} ends in neither R, + nor -")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_as_smpp_3_4_writes_them() {
        assert_eq!(relative(58), "000000000058000R");
        assert_eq!(relative(60), "000000000100000R");
        assert_eq!(relative(3_600), "000000010000000R");
        // 2 days 3 h 4 min 5 s.
        assert_eq!(
            relative(2 * 86_400 + 3 * 3_600 + 4 * 60 + 5),
            "000002030405000R"
        );
        assert_eq!(relative(u64::MAX), "000099235959000R");
        assert_eq!(relative(0), "000000000000000R");
        for secs in [
            1,
            59,
            61,
            3_599,
            86_399,
            86_400,
            1_234_567,
            MAX_RELATIVE_SECS,
        ] {
            assert_eq!(
                parse(&relative(secs)),
                Ok(Validity::Relative(secs)),
                "{secs}"
            );
        }
    }

    #[test]
    fn what_an_smsc_refuses() {
        assert_eq!(parse(""), Ok(Validity::Default));
        // §7.1.1's own example form: 2026-03-20 12:00:00.0, UTC+03:30 (14 quarter hours).
        assert_eq!(parse("260320120000014+"), Ok(Validity::Absolute));
        assert_eq!(parse("000000000100000R"), Ok(Validity::Relative(60)));
        assert_eq!(
            parse("000100000000000R"),
            Ok(Validity::Relative(30 * 86_400))
        );
        for bad in [
            "60",
            "000000000060000R",
            "000000240000000R",
            "00000000010000R",
            "0000000001000000R",
            "000000000100000X",
            "26132012000001 +",
            "261320120000014+",
            "260320120000049+",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
