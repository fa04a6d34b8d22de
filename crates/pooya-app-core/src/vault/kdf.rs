//! The password slot's key derivation: Argon2id, its cost parameters, and the **floor** below
//! which the app neither makes nor keeps a slot (`docs/vault.md`).
//!
//! * New slots (`init`, `passwd`, a migration) are calibrated on the device by its
//!   [`KdfPolicy`]: 64 MiB, one lane, and as many passes as fit the policy's time. `pooya app`
//!   ([`KdfPolicy::TERMINAL`]): about 0.4 s, 3 to 12 passes. The web app on a phone
//!   ([`KdfPolicy::BROWSER`]): about 0.6 s, 2 to 12 passes, so that the password typed to the code
//!   on screen stays within 1 s on a mid-range phone (issue 15, `BENCHMARKS.md`); a fast device
//!   still gets many more passes than the floor.
//! * A file is read with any cost inside wide bounds (8 MiB–1 GiB, 1–64 passes, 1–16 lanes),
//!   so that a file made below a floor (by an older app, or by the web app and then opened by
//!   `pooya app`) still opens and can be migrated at once (see [`KdfParams::needs_upgrade`]);
//!   outside those bounds it is refused before any derivation, so a doctored header cannot
//!   exhaust the machine.
//! * `POOYA_APP_KDF_FAST=1` (8 MiB, 1 pass) is honoured by test and debug builds only: a release
//!   build ignores it and never writes a slot below [`KdfPolicy::LOWEST_FLOOR`].

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::error::{AppError, Result};

/// The only key derivation function of the password slot.
pub const KDF_ALG: &str = "argon2id";
/// Environment variable that selects cheap Argon2 parameters (test and debug builds only).
pub const KDF_FAST_ENV: &str = "POOYA_APP_KDF_FAST";
/// Whether this build honours [`KDF_FAST_ENV`]: the test suite runs debug builds; a release
/// build must never make a weak slot, whatever its environment says.
pub const FAST_ALLOWED: bool = cfg!(any(test, debug_assertions));

/// Length of the derived slot key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of a new salt.
pub(crate) const SALT_LEN: usize = 16;

/// Argon2id cost parameters, stored in the password slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The terminal app's floor: 64 MiB, 3 passes, 1 lane. `pooya app` never makes a slot below
    /// it (calibration only adds passes), and re-makes a slot found below it at the next unlock
    /// with the password.
    pub const FLOOR: Self = KdfPolicy::TERMINAL.floor;
    /// Cheap parameters for test suites only (`POOYA_APP_KDF_FAST=1` in a test or debug build):
    /// 8 MiB, 1 pass.
    pub const FAST_FOR_TESTS: Self = Self {
        m_kib: 8 * 1024,
        t: 1,
        p: 1,
    };

    // The bounds of a file that can be read at all; below the floor it is migrated.
    const MIN_M_KIB: u32 = 8 * 1024;
    const MAX_M_KIB: u32 = 1024 * 1024;
    const MAX_T: u32 = 64;
    const MAX_P: u32 = 16;
    /// What one unlock should cost on the machine that creates a terminal app's slot.
    pub const TARGET_UNLOCK: Duration = KdfPolicy::TERMINAL.target;
    /// Passes a calibration may choose at most (keeps a slow first measurement from running away).
    pub(crate) const MAX_CALIBRATED_T: u32 = 12;

    /// The parameters of a new `pooya app` slot: [`Self::FAST_FOR_TESTS`] when a test or debug
    /// build runs with `POOYA_APP_KDF_FAST=1`, else calibrated by [`KdfPolicy::TERMINAL`].
    pub fn for_new_vault() -> Result<Self> {
        if fast_requested() {
            Ok(Self::FAST_FOR_TESTS)
        } else {
            Self::calibrate(Self::TARGET_UNLOCK)
        }
    }

    /// The terminal app's calibration: [`KdfPolicy::TERMINAL`] with the time `target`.
    pub fn calibrate(target: Duration) -> Result<Self> {
        let start = Instant::now();
        KdfPolicy {
            target,
            ..KdfPolicy::TERMINAL
        }
        .calibrate_with(|| start.elapsed().as_secs_f64() * 1000.0)
    }

    /// Less memory or fewer passes than the terminal app's [`Self::FLOOR`].
    pub fn is_below_floor(self) -> bool {
        self.is_below(Self::FLOOR)
    }

    /// Less memory or fewer passes than `floor`.
    fn is_below(self, floor: Self) -> bool {
        self.m_kib < floor.m_kib || self.t < floor.t
    }

    /// Whether `pooya app` must re-make a slot with these parameters at the next unlock with the
    /// password: it is below the terminal floor, and this run did not ask for the test
    /// parameters.
    pub fn needs_upgrade(self) -> bool {
        self.is_below_floor() && !fast_requested()
    }

    /// The bounds of a file that can be read at all (else it was doctored).
    pub(crate) fn check_readable(self) -> std::result::Result<(), String> {
        if !(Self::MIN_M_KIB..=Self::MAX_M_KIB).contains(&self.m_kib) {
            return Err(format!("Argon2 memory {} KiB is out of range", self.m_kib));
        }
        if !(1..=Self::MAX_T).contains(&self.t) {
            return Err(format!("Argon2 passes {} out of range", self.t));
        }
        if !(1..=Self::MAX_P).contains(&self.p) {
            return Err(format!("Argon2 lanes {} out of range", self.p));
        }
        Ok(())
    }

    /// What a new slot may use: readable, and not below the lowest floor of any device unless
    /// this is a test or debug build.
    pub(crate) fn check_new(self) -> Result<()> {
        self.check_readable().map_err(AppError::Internal)?;
        if self.is_below(KdfPolicy::LOWEST_FLOOR) && !FAST_ALLOWED {
            return Err(AppError::Internal(format!(
                "Argon2 at {} KiB and {} passes is below the floor of a new slot",
                self.m_kib, self.t
            )));
        }
        Ok(())
    }
}

/// How a device calibrates a new password slot: the floor it never goes below, and the time
/// one derivation should take on it. Memory stays at 64 MiB on every device (memory is what
/// makes a guess dear on a GPU); the passes are what a slower device gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfPolicy {
    /// The least cost of a slot this device makes or keeps.
    pub floor: KdfParams,
    /// What one derivation should cost on the device that makes the slot.
    pub target: Duration,
}

impl KdfPolicy {
    /// `pooya app`: 64 MiB, 3 passes at least, about 0.4 s.
    pub const TERMINAL: Self = Self {
        floor: KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        },
        target: Duration::from_millis(400),
    };
    /// The web app: 64 MiB, 2 passes at least, about 0.6 s. On a mid-range phone (Chromium's
    /// CPU throttled 4×) three passes brought the password typed to the code on screen to about
    /// 1.0 s, over the second the holder is given; two passes to 0.7–1.0 s (BENCHMARKS.md). Two
    /// passes are still above OWASP's Argon2id minimum (46 MiB × 1 or 19 MiB × 2), and a
    /// phone's vault never leaves its browser; `pooya app` re-keys such a file up to its own
    /// floor when it opens one.
    pub const BROWSER: Self = Self {
        floor: KdfParams {
            m_kib: 64 * 1024,
            t: 2,
            p: 1,
        },
        target: Duration::from_millis(600),
    };
    /// The lowest floor of any device: no new slot goes below it (outside tests).
    pub const LOWEST_FLOOR: KdfParams = Self::BROWSER.floor;

    /// 64 MiB and as many whole passes as fit in [`Self::target`] on this device, timed by
    /// `now_ms`, a monotonic clock in milliseconds (a browser's `performance.now()`, where
    /// `Instant` does not exist); never below [`Self::floor`], at most 12 passes. Costs two
    /// derivations of one pass.
    pub fn calibrate_with(self, now_ms: impl Fn() -> f64) -> Result<KdfParams> {
        let one = KdfParams { t: 1, ..self.floor };
        let salt = [0u8; SALT_LEN];
        // The first run pays for page faults; time the second.
        derive_key(b"calibration", &salt, one)?;
        let start = now_ms();
        derive_key(b"calibration", &salt, one)?;
        let per_pass_ms = (now_ms() - start).max(1.0);
        // Whole passes that fit: rounding up could overshoot the time by most of a pass, which
        // on a slow phone is the difference between under and over a second.
        let t = (self.target.as_secs_f64() * 1000.0 / per_pass_ms).floor() as u32;
        Ok(KdfParams {
            t: t.clamp(self.floor.t, KdfParams::MAX_CALIBRATED_T),
            ..self.floor
        })
    }
}

/// Whether this run asked for the test parameters, and may have them.
fn fast_requested() -> bool {
    fast_requested_in(FAST_ALLOWED, std::env::var(KDF_FAST_ENV).ok().as_deref())
}

fn fast_requested_in(allowed: bool, var: Option<&str>) -> bool {
    allowed && var == Some("1")
}

/// Argon2id (version 0x13) of `password` and `salt` at `kdf`: a 32-byte key.
pub(crate) fn derive_key(
    password: &[u8],
    salt: &[u8],
    kdf: KdfParams,
) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(KEY_LEN))
        .map_err(|e| AppError::Internal(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    argon
        .hash_password_into(password, salt, key.as_mut())
        .map_err(|e| AppError::Internal(format!("argon2: {e}")))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_reaches_the_target_cost() {
        // Only the floor and the shape are checked here; the measured cost is in BENCHMARKS.md.
        let k = KdfParams::calibrate(Duration::from_millis(1)).unwrap();
        assert_eq!(k, KdfParams::FLOOR, "never below 64 MiB and 3 passes");
        assert!(!k.is_below_floor());
        let k = KdfParams::calibrate(Duration::from_secs(3600)).unwrap();
        assert_eq!(k.t, KdfParams::MAX_CALIBRATED_T, "bounded");
        assert_eq!(k.m_kib, 64 * 1024);
    }

    #[test]
    fn the_browser_calibrates_to_its_own_floor_and_time() {
        // A device where one pass costs 300 ms (a mid-range phone): the browser's floor, two
        // passes; the terminal's policy on the same device would take three.
        let slow = |policy: KdfPolicy| {
            let ticks = std::cell::Cell::new(0.0);
            policy
                .calibrate_with(|| {
                    ticks.set(ticks.get() + 300.0);
                    ticks.get()
                })
                .unwrap()
        };
        assert_eq!(slow(KdfPolicy::BROWSER), KdfPolicy::BROWSER.floor);
        assert_eq!(slow(KdfPolicy::TERMINAL), KdfParams::FLOOR);
        // A device where a pass costs 70 ms: 0.6 s holds 8 whole passes (8.57, not rounded up).
        let ticks = std::cell::Cell::new(0.0);
        let fast = KdfPolicy::BROWSER
            .calibrate_with(|| {
                ticks.set(ticks.get() + 70.0);
                ticks.get()
            })
            .unwrap();
        assert_eq!((fast.m_kib, fast.t, fast.p), (64 * 1024, 8, 1));
        // A browser-made slot is a new slot anywhere, and `pooya app` migrates it up.
        assert!(KdfPolicy::BROWSER.floor.check_new().is_ok());
        assert!(KdfPolicy::BROWSER.floor.is_below_floor());
        assert!(!KdfParams::FLOOR.is_below_floor());
    }

    #[test]
    fn the_floor() {
        assert!(KdfParams::FAST_FOR_TESTS.is_below_floor());
        assert!(!KdfParams::FLOOR.is_below_floor());
        let more = KdfParams {
            m_kib: 256 * 1024,
            t: 5,
            p: 4,
        };
        assert!(!more.is_below_floor());
        for weak in [
            KdfParams {
                m_kib: 32 * 1024,
                ..more
            },
            KdfParams { t: 2, ..more },
        ] {
            assert!(weak.is_below_floor(), "{weak:?}");
            assert!(weak.check_readable().is_ok(), "still read, to be migrated");
        }
        assert!(KdfParams {
            m_kib: 4 * 1024,
            ..more
        }
        .check_readable()
        .is_err());
    }

    #[test]
    fn the_fast_setting_is_for_test_builds_only() {
        // A release build (allowed = false) ignores the variable whatever it says.
        assert!(!fast_requested_in(false, Some("1")));
        assert!(!fast_requested_in(false, None));
        assert!(fast_requested_in(true, Some("1")));
        assert!(!fast_requested_in(true, Some("0")));
        assert!(!fast_requested_in(true, Some("yes")));
        assert!(!fast_requested_in(true, None));
        // This build is a test build: a weak slot may be made here, and only here.
        const { assert!(FAST_ALLOWED) };
        assert!(KdfParams::FAST_FOR_TESTS.check_new().is_ok());
        assert!(KdfParams {
            m_kib: 1024,
            t: 1,
            p: 1
        }
        .check_new()
        .is_err());
    }
}
