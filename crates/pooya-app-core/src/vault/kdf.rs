//! The password slot's key derivation: Argon2id, its cost parameters, and the **floor** below
//! which the app neither makes nor keeps a slot (`docs/vault.md`).
//!
//! * New slots (`init`, `passwd`, a migration) are calibrated on the machine: 64 MiB, one lane,
//!   and as many passes as make one derivation take about 0.4 s (3 to 12).
//! * A file is read with any cost inside wide bounds (8 MiB–1 GiB, 1–64 passes, 1–16 lanes),
//!   so that a file made below the floor by an older app still opens and can be migrated at once
//!   (see [`KdfParams::needs_upgrade`]); outside those bounds it is refused before any
//!   derivation, so a doctored header cannot exhaust the machine.
//! * `POOYA_APP_KDF_FAST=1` (8 MiB, 1 pass) is honoured by test and debug builds only: a release
//!   build ignores it and never writes a slot below the floor.

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
    /// The floor: 64 MiB, 3 passes, 1 lane. New slots never go below it (calibration only adds
    /// passes), and a slot found below it is re-made at the next unlock with the password.
    pub const FLOOR: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
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
    /// What one unlock should cost on the machine that creates the slot.
    pub const TARGET_UNLOCK: Duration = Duration::from_millis(400);
    /// Passes a calibration may choose at most (keeps a slow first measurement from running away).
    pub(crate) const MAX_CALIBRATED_T: u32 = 12;

    /// The parameters of a new slot: [`Self::FAST_FOR_TESTS`] when a test or debug build runs
    /// with `POOYA_APP_KDF_FAST=1`, else [`Self::calibrate`]d.
    pub fn for_new_vault() -> Result<Self> {
        if fast_requested() {
            Ok(Self::FAST_FOR_TESTS)
        } else {
            Self::calibrate(Self::TARGET_UNLOCK)
        }
    }

    /// 64 MiB and as many passes as make one derivation take about `target` on this machine
    /// (never below [`Self::FLOOR`]). Costs two derivations of one pass.
    pub fn calibrate(target: Duration) -> Result<Self> {
        let start = Instant::now();
        Self::calibrate_with(target, || start.elapsed().as_secs_f64() * 1000.0)
    }

    /// [`Self::calibrate`] timed by `now_ms`, a monotonic clock in milliseconds (a browser's
    /// `performance.now()`, where `Instant` does not exist).
    pub fn calibrate_with(target: Duration, now_ms: impl Fn() -> f64) -> Result<Self> {
        let one = Self {
            t: 1,
            ..Self::FLOOR
        };
        let salt = [0u8; SALT_LEN];
        // The first run pays for page faults; time the second.
        derive_key(b"calibration", &salt, one)?;
        let start = now_ms();
        derive_key(b"calibration", &salt, one)?;
        let per_pass = Duration::from_secs_f64((now_ms() - start).max(1.0) / 1000.0);
        let t = (target.as_secs_f64() / per_pass.as_secs_f64()).round() as u32;
        Ok(Self {
            t: t.clamp(Self::FLOOR.t, Self::MAX_CALIBRATED_T),
            ..Self::FLOOR
        })
    }

    /// Less memory or fewer passes than [`Self::FLOOR`].
    pub fn is_below_floor(self) -> bool {
        self.m_kib < Self::FLOOR.m_kib || self.t < Self::FLOOR.t
    }

    /// Whether a slot with these parameters must be re-made at the next unlock with the
    /// password: it is below the floor, and this run did not ask for the test parameters.
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

    /// What a new slot may use: readable, and not below the floor unless this is a test or
    /// debug build.
    pub(crate) fn check_new(self) -> Result<()> {
        self.check_readable().map_err(AppError::Internal)?;
        if self.is_below_floor() && !FAST_ALLOWED {
            return Err(AppError::Internal(format!(
                "Argon2 at {} KiB and {} passes is below the floor of a new slot",
                self.m_kib, self.t
            )));
        }
        Ok(())
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
