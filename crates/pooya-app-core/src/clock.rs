//! Right codes on a wrong clock (R19).
//!
//! The app measures each issuer's clock (`GET /v1/time`, timed) at enrollment and on every online
//! action, and keeps the offset (server minus local) per issuer in the vault. Codes are made on
//! the local clock plus that offset, that is on the server's time.
//!
//! A clock set by hand *after* a sync would make the stored offset wrong. On Linux the app also
//! records, at each sync, the boot id and the wall-clock time of the boot (wall clock minus the
//! uptime, a clock no one sets). While the machine has not rebooted, a change of that boot time
//! is exactly how far the wall clock was moved since the sync: the app takes it into account,
//! and says so. After a reboot it cannot tell, and says so only if the clock went backwards past
//! the last sync. The caller reads the [`Boot`] from its OS (`pooya app`: its `clock::boot_now`;
//! a browser has none); here is only the arithmetic, on the wall clock the caller reads too
//! (`pooya app`: `clock::local_now_ms`; the web app: the page's `Date.now()`).

use serde::{Deserialize, Serialize};

/// A change of the wall clock larger than this since the last sync is a jump.
pub const JUMP_THRESHOLD_MS: i64 = 2_000;

/// This boot's id and the time since it (a clock nobody sets), as the caller's OS tells them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// Changes at every boot.
    pub id: String,
    /// Milliseconds since the boot, suspend included.
    pub uptime_ms: i64,
}

/// One issuer's clock as last measured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerClock {
    /// The issuer's server (base URL).
    pub server: String,
    /// Server clock minus local clock, milliseconds.
    pub offset_ms: i64,
    /// The local clock at the measurement.
    pub synced_at_local_ms: i64,
    /// How long the timed request took (the measurement's uncertainty is half of it).
    pub round_trip_ms: i64,
    /// The boot the measurement was made in, where known.
    #[serde(default)]
    pub boot_id: Option<String>,
    /// Local clock minus uptime at the measurement: the boot's wall-clock time.
    #[serde(default)]
    pub boot_wall_ms: Option<i64>,
}

/// What the app knows about the local clock when it makes a code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Correction {
    /// Milliseconds to add to the local clock to get the server's.
    pub offset_ms: i64,
    /// How far the local clock was moved since the sync, when that is known and over the
    /// threshold (positive: moved forward).
    pub jumped_ms: Option<i64>,
    /// The clock is behind the last sync, after a reboot: the offset may be wrong.
    pub went_back_ms: Option<i64>,
}

impl IssuerClock {
    /// A measurement: the server said `server_ms` while the local clock went from `t0` to `t1`.
    pub fn measured(server: &str, server_ms: i64, t0: i64, t1: i64, boot: Option<Boot>) -> Self {
        let middle = t0 / 2 + t1 / 2 + (t0 % 2 + t1 % 2) / 2;
        Self {
            server: server.to_owned(),
            offset_ms: server_ms.saturating_sub(middle),
            synced_at_local_ms: middle,
            round_trip_ms: t1.saturating_sub(t0).max(0),
            boot_wall_ms: boot.as_ref().map(|b| middle.saturating_sub(b.uptime_ms)),
            boot_id: boot.map(|b| b.id),
        }
    }

    /// The correction to apply at local time `now`, given the boot the app runs in.
    pub fn correction(&self, now: i64, boot: Option<&Boot>) -> Correction {
        let mut c = Correction {
            offset_ms: self.offset_ms,
            jumped_ms: None,
            went_back_ms: None,
        };
        match (boot, &self.boot_id, self.boot_wall_ms) {
            (Some(b), Some(id), Some(then)) if *id == b.id => {
                let moved = now.saturating_sub(b.uptime_ms).saturating_sub(then);
                if moved.abs() > JUMP_THRESHOLD_MS {
                    c.jumped_ms = Some(moved);
                    c.offset_ms = self.offset_ms.saturating_sub(moved);
                }
            }
            _ => {
                let back = self.synced_at_local_ms.saturating_sub(now);
                if back > JUMP_THRESHOLD_MS {
                    c.went_back_ms = Some(back);
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(id: &str, up: i64) -> Boot {
        Boot {
            id: id.into(),
            uptime_ms: up,
        }
    }

    #[test]
    fn offset_is_taken_at_the_middle_of_the_request() {
        let c = IssuerClock::measured("s", 10_000, 1_000, 1_200, Some(boot("a", 500)));
        assert_eq!(c.offset_ms, 8_900);
        assert_eq!(c.round_trip_ms, 200);
        assert_eq!(c.boot_wall_ms, Some(600));
    }

    #[test]
    fn a_jump_in_the_same_boot_is_corrected() {
        // Synced at local 100_000 (uptime 50_000); the server was 300 s ahead.
        let c = IssuerClock::measured("s", 400_000, 100_000, 100_000, Some(boot("a", 50_000)));
        // 10 s later, no change of the clock.
        let same = c.correction(110_000, Some(&boot("a", 60_000)));
        assert_eq!(same.offset_ms, 300_000);
        assert_eq!(same.jumped_ms, None);
        // 10 s later, but the clock was set 300 s forward (to the right time).
        let fixed = c.correction(410_000, Some(&boot("a", 60_000)));
        assert_eq!(fixed.jumped_ms, Some(300_000));
        assert_eq!(fixed.offset_ms, 0, "server time stays right: 410 000 + 0");
        // Set back by 5 minutes.
        let back = c.correction(110_000 - 300_000, Some(&boot("a", 60_000)));
        assert_eq!(back.jumped_ms, Some(-300_000));
        assert_eq!(back.offset_ms, 600_000);
        // Small NTP slews are no jump.
        assert_eq!(
            c.correction(111_500, Some(&boot("a", 60_000))).jumped_ms,
            None
        );
    }

    #[test]
    fn after_a_reboot_only_a_backward_clock_is_seen() {
        let c = IssuerClock::measured("s", 400_000, 100_000, 100_000, Some(boot("a", 50_000)));
        let later = c.correction(200_000, Some(&boot("b", 1_000)));
        assert_eq!(
            (later.offset_ms, later.jumped_ms, later.went_back_ms),
            (300_000, None, None)
        );
        let back = c.correction(50_000, Some(&boot("b", 1_000)));
        assert_eq!(back.went_back_ms, Some(50_000));
        assert_eq!(back.offset_ms, 300_000);
        let unknown = c.correction(50_000, None);
        assert_eq!(unknown.went_back_ms, Some(50_000));
    }
}
