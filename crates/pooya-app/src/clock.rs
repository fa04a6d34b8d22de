//! Codes on the issuer's clock (R19): the arithmetic ([`pooya_app_core::clock`]) and what only
//! the OS tells, read here: the wall clock ([`local_now_ms`]) and the boot ([`boot_now`]).
//!
//! `POOYA_APP_TEST_CLOCK_SKEW_MS` (**tests only**) shifts the app's wall clock by that many
//! milliseconds, so tests can run the app "on a wrong clock" without faketime.

pub use pooya_app_core::clock::*;

/// Environment variable that shifts the app's idea of the wall clock (tests only).
pub const TEST_SKEW_ENV: &str = "POOYA_APP_TEST_CLOCK_SKEW_MS";

/// The local wall clock as the app sees it: Unix milliseconds, plus the test skew if set.
pub fn local_now_ms() -> i64 {
    system_now_ms().saturating_add(test_skew_ms())
}

fn system_now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn test_skew_ms() -> i64 {
    std::env::var(TEST_SKEW_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0)
}

/// This boot: `/proc/sys/kernel/random/boot_id` and `/proc/uptime` (Linux); `None` elsewhere.
pub fn boot_now() -> Option<Boot> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    Some(Boot {
        id: id.trim().to_owned(),
        uptime_ms: (secs * 1000.0) as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_is_readable_here() {
        if cfg!(target_os = "linux") {
            let b = boot_now().expect("Linux has /proc/uptime and a boot id");
            assert!(b.uptime_ms > 0 && !b.id.is_empty());
        }
    }
}
