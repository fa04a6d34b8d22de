//! Time comes in as a value. The server reads a [`SystemClock`]; tests move a [`FakeClock`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    /// Unix time in milliseconds.
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that stands still until told to move.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<AtomicI64>);

/// The times a fake clock may show: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (RFC 3339
/// writes four-digit years; beyond, times would be written wrong rather than refused).
pub const FAKE_CLOCK_RANGE: std::ops::RangeInclusive<i64> = 0..=253_402_300_799_999;

impl FakeClock {
    pub fn new(start_ms: i64) -> FakeClock {
        FakeClock(Arc::new(AtomicI64::new(start_ms)))
    }
    /// Sets the time; `None` (and the clock unchanged) outside [`FAKE_CLOCK_RANGE`].
    pub fn set(&self, ms: i64) -> Option<i64> {
        FAKE_CLOCK_RANGE.contains(&ms).then(|| {
            self.0.store(ms, Ordering::SeqCst);
            ms
        })
    }
    /// Moves the time by `ms` and answers the new time; `None` (and the clock unchanged) when it
    /// would overflow or leave [`FAKE_CLOCK_RANGE`].
    pub fn advance(&self, ms: i64) -> Option<i64> {
        let moved = |t: i64| t.checked_add(ms).filter(|t| FAKE_CLOCK_RANGE.contains(t));
        let old = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, moved)
            .ok()?;
        moved(old)
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 text of a unix-ms time, in UTC.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_clock_refuses_to_overflow_or_leave_its_range() {
        let c = FakeClock::new(1_000);
        assert_eq!(c.advance(i64::MAX), None);
        assert_eq!(c.advance(-1_001), None);
        assert_eq!(c.set(-1), None);
        assert_eq!(c.set(FAKE_CLOCK_RANGE.end() + 1), None);
        assert_eq!(c.now_ms(), 1_000);
        assert_eq!(c.advance(-1_000), Some(0));
        assert_eq!(
            c.set(*FAKE_CLOCK_RANGE.end()),
            Some(*FAKE_CLOCK_RANGE.end())
        );
        assert_eq!(c.advance(1), None);
        assert_eq!(c.now_ms(), *FAKE_CLOCK_RANGE.end());
    }
}
