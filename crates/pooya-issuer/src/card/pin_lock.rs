//! The PIN lock: a limit on slow guessing of the card's 4 digits (issue 20).
//!
//! R5 counts failures in 24 h and the ATM's wrong PINs are counted apart and never lock, so a card
//! thief could try about 7 four-digit guesses a day for ever. Here every wrong first password
//! (`/v1/verify` of kind first answered `wrong_password`) and every wrong ATM PIN counts, over a
//! long window (`pin_lock.window_secs`, 90 days); the `pin_lock.max_failures`-th (10) locks the
//! PIN. A locked PIN refuses every first password (`75 locked`, nothing checked, nothing counted)
//! and every ATM operation (403 `pin_locked`); the second password is not touched. No ATM
//! activation clears it, since an ATM visit proves only the PIN being guessed: a branch, after
//! checking the holder in person, unlocks it (`POST /v1/cards/{pan}/pin/unlock`).
//!
//! A late (`expired_password`) or used (`replayed`) first password does not count: those are a
//! holder's slips, and a guess hits one no more often than a live code.

use super::record::CardRecord;
use crate::policy::Policy;

impl CardRecord {
    /// Counts a wrong first password or a wrong ATM PIN at `now`, and locks the PIN when it is the
    /// `pin_lock.max_failures`-th within the window (a limit of 0 counts nothing).
    pub(super) fn record_pin_lock_failure(&mut self, now: i64, policy: &Policy) {
        let max = policy.pin_lock.max_failures as usize;
        if max == 0 {
            return;
        }
        let window =
            i64::try_from(policy.pin_lock.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let failures = &mut self.svc.pin_lock_failures;
        failures.retain(|&t| t > now.saturating_sub(window));
        failures.push(now);
        if failures.len() >= max {
            self.svc.pin_locked = true;
        }
    }

    /// Wrong PINs the card may still take: the fewer of the ATM's tries in its window and the
    /// PIN lock's (none once the PIN is locked).
    pub(super) fn pin_tries_left(&self, policy: &Policy) -> u32 {
        if self.svc.pin_locked {
            return 0;
        }
        let left =
            |max: u32, used: usize| max.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX));
        let atm = left(policy.pin.max_tries, self.svc.pin_failures.len());
        match policy.pin_lock.max_failures {
            0 => atm,
            max => atm.min(left(max, self.svc.pin_lock_failures.len())),
        }
    }

    /// Whether the card's PIN is locked.
    pub fn pin_locked(&self) -> bool {
        self.svc.pin_locked
    }

    /// The branch lifts the PIN lock: its failures and the ATM's PIN tries start again from none.
    pub fn unlock_pin(&mut self) {
        self.svc.pin_locked = false;
        self.svc.pin_lock_failures.clear();
        self.svc.pin_failures.clear();
    }
}
