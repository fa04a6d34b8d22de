//! Solar Hijri (Jalali, Persian) dates and Tehran time, for the texts of SMS (R24: the unified
//! transaction SMS carries the date in the Solar Hijri calendar, Tehran time).
//!
//! Iran's official calendar starts each year at the vernal equinox (Nowruz, 1 Farvardin). Its
//! months are 6 × 31 days, 5 × 30 days and Esfand with 29 days (30 in a leap year). Which years are
//! leap follows the equinox, not a simple rule; the conversion here uses the well-known
//! break-year table of Kazimierz M. Borkowski's algorithm (as in the `jalaali` libraries), which
//! reproduces the official calendar for the years this server can meet (it is exact well beyond
//! 1178–1633 AP, i.e. 1799–2254 CE). Years 1 to 3176 AP are accepted; outside them the functions
//! answer `None`.
//!
//! Tehran time is UTC+03:30 all year: Iran abolished daylight saving time in 2022 (the last
//! change was on 1401/06/30, 2022-09-21). Times before that are still shown at +03:30, which for
//! summers up to 2022 is one hour behind the clocks of the day; the server only ever formats the
//! present, so this does not matter.
//!
//! Why not a crate: `icu_calendar` (ICU4X) has a Persian calendar but brings its data provider and
//! a dozen crates for this one function; the smaller Jalali crates are young, one-person projects.
//! This module is a few dozen lines and tested against known dates below.

use std::fmt;

/// Tehran's offset from UTC: +03:30, without daylight saving time since 2022.
pub const TEHRAN_OFFSET_SECS: i32 = 3 * 3600 + 30 * 60;

/// A date of the Solar Hijri calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct JalaliDate {
    pub year: i32,
    /// 1 (Farvardin) to 12 (Esfand).
    pub month: u8,
    pub day: u8,
}

impl fmt::Display for JalaliDate {
    /// `YYYY/MM/DD` in ASCII digits, as Iranian banks print dates: `1405/01/01`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }
}

/// A moment as a clock in Tehran shows it, with the date in the Solar Hijri calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TehranDateTime {
    pub date: JalaliDate,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl TehranDateTime {
    /// `HH:MM` (24 h).
    pub fn hh_mm(&self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }
    /// `HH:MM:SS` (24 h).
    pub fn hh_mm_ss(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// First and last accepted Solar Hijri years.
pub const MIN_YEAR: i32 = 1;
pub const MAX_YEAR: i32 = 3176;

/// Borkowski's break years: the years where the 33-year leap pattern shifts.
const BREAKS: [i32; 20] = [
    -61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262, 2324,
    2394, 2456, 3178,
];

/// The Gregorian date of 1 Farvardin of `jy`: (Gregorian year, day of March).
fn farvardin_first(jy: i32) -> Option<(i32, u8)> {
    if !(BREAKS[0]..BREAKS[BREAKS.len() - 1]).contains(&jy) {
        return None;
    }
    let gy = jy + 621;
    let mut leap_j = -14;
    let mut jp = BREAKS[0];
    for &jm in &BREAKS[1..] {
        if jy < jm {
            break;
        }
        let jump = jm - jp;
        leap_j += jump / 33 * 8 + (jump % 33) / 4;
        jp = jm;
    }
    let n = jy - jp;
    // The Jalali leap years from 621 CE to the start of `jy` …
    leap_j += n / 33 * 8 + (n % 33 + 3) / 4;
    let jump = BREAKS
        .iter()
        .find(|&&b| b > jy)
        .map(|&b| b - jp)
        .unwrap_or(0);
    if jump % 33 == 4 && jump - n == 4 {
        leap_j += 1;
    }
    // … and the Gregorian ones to the start of `gy`.
    let leap_g = gy / 4 - (gy / 100 + 1) * 3 / 4 - 150;
    let march = 20 + leap_j - leap_g;
    u8::try_from(march).ok().map(|m| (gy, m))
}

fn nowruz(jy: i32) -> Option<time::Date> {
    if !(MIN_YEAR..=MAX_YEAR + 1).contains(&jy) {
        return None;
    }
    let (gy, march) = farvardin_first(jy)?;
    time::Date::from_calendar_date(gy, time::Month::March, march).ok()
}

/// Whether Esfand of `jy` has 30 days.
pub fn is_leap_year(jy: i32) -> Option<bool> {
    if !(MIN_YEAR..=MAX_YEAR).contains(&jy) {
        return None;
    }
    Some((nowruz(jy + 1)? - nowruz(jy)?).whole_days() == 366)
}

/// Days in month `month` of year `jy`.
pub fn month_days(jy: i32, month: u8) -> Option<u8> {
    match month {
        1..=6 => Some(31),
        7..=11 => Some(30),
        12 => is_leap_year(jy).map(|leap| if leap { 30 } else { 29 }),
        _ => None,
    }
}

/// The Solar Hijri date of a Gregorian date.
pub fn from_gregorian(date: time::Date) -> Option<JalaliDate> {
    let mut jy = date.year() - 621;
    let mut first = nowruz(jy)?;
    if date < first {
        jy -= 1;
        first = nowruz(jy)?;
    }
    if !(MIN_YEAR..=MAX_YEAR).contains(&jy) {
        return None;
    }
    let k = (date - first).whole_days();
    let (month, day) = if k < 186 {
        (1 + k / 31, k % 31 + 1)
    } else {
        let k = k - 186;
        (7 + k / 30, k % 30 + 1)
    };
    Some(JalaliDate {
        year: jy,
        month: u8::try_from(month).ok()?,
        day: u8::try_from(day).ok()?,
    })
}

/// The Gregorian date of a Solar Hijri date; `None` for a date that does not exist.
pub fn to_gregorian(j: JalaliDate) -> Option<time::Date> {
    if j.day == 0 || j.day > month_days(j.year, j.month)? {
        return None;
    }
    let (m, d) = (i64::from(j.month), i64::from(j.day));
    let k = if m <= 6 {
        (m - 1) * 31 + d - 1
    } else {
        186 + (m - 7) * 30 + d - 1
    };
    nowruz(j.year)?.checked_add(time::Duration::days(k))
}

/// The moment `unix_ms` as a clock in Tehran shows it.
pub fn tehran(unix_ms: i64) -> Option<TehranDateTime> {
    let offset = time::UtcOffset::from_whole_seconds(TEHRAN_OFFSET_SECS).ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(unix_ms.div_euclid(1000))
        .ok()?
        .to_offset(offset);
    Some(TehranDateTime {
        date: from_gregorian(t.date())?,
        hour: t.hour(),
        minute: t.minute(),
        second: t.second(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn j(year: i32, month: u8, day: u8) -> JalaliDate {
        JalaliDate { year, month, day }
    }

    /// Nowruz (1 Farvardin) of recent and coming years, as Iran's calendar authority published them.
    const NOWRUZ: &[(i32, time::Date)] = &[
        (1354, date!(1975 - 03 - 21)),
        (1358, date!(1979 - 03 - 21)),
        (1370, date!(1991 - 03 - 21)),
        (1379, date!(2000 - 03 - 20)),
        (1390, date!(2011 - 03 - 21)),
        (1391, date!(2012 - 03 - 20)),
        (1395, date!(2016 - 03 - 20)),
        (1396, date!(2017 - 03 - 21)),
        (1398, date!(2019 - 03 - 21)),
        (1399, date!(2020 - 03 - 20)),
        (1400, date!(2021 - 03 - 21)),
        (1401, date!(2022 - 03 - 21)),
        (1402, date!(2023 - 03 - 21)),
        (1403, date!(2024 - 03 - 20)),
        (1404, date!(2025 - 03 - 21)),
        (1405, date!(2026 - 03 - 21)),
        (1406, date!(2027 - 03 - 21)),
        (1407, date!(2028 - 03 - 20)),
        (1408, date!(2029 - 03 - 20)),
        (1409, date!(2030 - 03 - 21)),
    ];

    #[test]
    fn nowruz_of_many_years() {
        for &(jy, g) in NOWRUZ {
            assert_eq!(from_gregorian(g), Some(j(jy, 1, 1)), "{g}");
            assert_eq!(to_gregorian(j(jy, 1, 1)), Some(g), "{jy}");
            // The day before is the last of Esfand of the year before.
            let eve = g.previous_day().unwrap();
            let last = if is_leap_year(jy - 1).unwrap() {
                30
            } else {
                29
            };
            assert_eq!(from_gregorian(eve), Some(j(jy - 1, 12, last)), "{eve}");
        }
    }

    #[test]
    fn known_dates() {
        for (g, jd) in [
            (date!(2026 - 03 - 21), j(1405, 1, 1)),
            (date!(2026 - 03 - 20), j(1404, 12, 29)),
            (date!(2025 - 03 - 20), j(1403, 12, 30)),
            (date!(2021 - 03 - 20), j(1399, 12, 30)),
            (date!(1979 - 02 - 11), j(1357, 11, 22)),
            (date!(2023 - 09 - 23), j(1402, 7, 1)),
            (date!(2024 - 09 - 21), j(1403, 6, 31)),
            (date!(2024 - 09 - 22), j(1403, 7, 1)),
            (date!(2024 - 12 - 20), j(1403, 9, 30)),
            (date!(2000 - 01 - 01), j(1378, 10, 11)),
            (date!(2030 - 03 - 20), j(1408, 12, 30)),
        ] {
            assert_eq!(from_gregorian(g), Some(jd), "{g}");
            assert_eq!(to_gregorian(jd), Some(g), "{jd}");
        }
        assert_eq!(j(1405, 1, 1).to_string(), "1405/01/01");
    }

    #[test]
    fn leap_years() {
        // The 1300s–1400s: every 4 years, with the 5-year gap after 1403 (1408, not 1407).
        let leap: Vec<i32> = (1360..=1420)
            .filter(|&y| is_leap_year(y).unwrap())
            .collect();
        assert_eq!(
            leap,
            [
                1362, 1366, 1370, 1375, 1379, 1383, 1387, 1391, 1395, 1399, 1403, 1408, 1412, 1416,
                1420
            ]
        );
        assert_eq!(month_days(1403, 12), Some(30));
        assert_eq!(month_days(1404, 12), Some(29));
        assert_eq!(to_gregorian(j(1404, 12, 30)), None, "1404 is no leap year");
        assert_eq!(to_gregorian(j(1404, 13, 1)), None);
        assert_eq!(to_gregorian(j(1404, 7, 31)), None);
        assert_eq!(to_gregorian(j(1404, 1, 0)), None);
    }

    /// Day after day over two centuries: consecutive days, months of the right lengths, and the
    /// way back.
    #[test]
    fn every_day_of_two_centuries() {
        let mut g = date!(1900 - 01 - 01);
        let mut prev = from_gregorian(g).unwrap();
        while g < date!(2100 - 01 - 01) {
            g = g.next_day().unwrap();
            let cur = from_gregorian(g).unwrap();
            assert_eq!(to_gregorian(cur), Some(g));
            let expected = if prev.day < month_days(prev.year, prev.month).unwrap() {
                j(prev.year, prev.month, prev.day + 1)
            } else if prev.month < 12 {
                j(prev.year, prev.month + 1, 1)
            } else {
                j(prev.year + 1, 1, 1)
            };
            assert_eq!(cur, expected, "{g}");
            prev = cur;
        }
    }

    #[test]
    fn out_of_range() {
        assert_eq!(is_leap_year(0), None);
        assert_eq!(is_leap_year(MAX_YEAR + 1), None);
        assert_eq!(from_gregorian(date!(0600 - 01 - 01)), None);
        assert_eq!(to_gregorian(j(5000, 1, 1)), None);
    }

    #[test]
    fn tehran_time_is_utc_plus_three_and_a_half() {
        // 2026-03-20T20:29:59Z is 23:59:59 on 1404/12/29 in Tehran; a second later it is Nowruz.
        let ms = time::macros::datetime!(2026-03-20 20:29:59 UTC).unix_timestamp() * 1000;
        let t = tehran(ms).unwrap();
        assert_eq!(t.date, j(1404, 12, 29));
        assert_eq!(t.hh_mm_ss(), "23:59:59");
        let t = tehran(ms + 1000).unwrap();
        assert_eq!(t.date, j(1405, 1, 1));
        assert_eq!(t.hh_mm_ss(), "00:00:00");
        assert_eq!(t.hh_mm(), "00:00");
        // Summer: no daylight saving time any more.
        let ms = time::macros::datetime!(2025-07-01 08:45:30.999 UTC).unix_timestamp() * 1000;
        let t = tehran(ms).unwrap();
        assert_eq!(t.date, j(1404, 4, 10));
        assert_eq!(t.hh_mm_ss(), "12:15:30");
    }
}
