//! The verification decisions (R1, R3, R5, R9, R11, R19, R21, R24) and the ATM's PIN check.

use super::record::{CardRecord, Sealed};
use super::service::{AppToken, HardwareKind, HardwareToken, Service};
use super::switch::txn_binding;
use super::verdict::{AtmRefusal, Verdict};
use crate::domain::{Digits, PasswordKind, Transaction};
use crate::keys::{CardCode, Keyring, StaticSecret};
use crate::policy::Policy;

/// R3, R19: the TOTP decision over the steps the verifier accepts at `now` with tolerance `tol`
/// (ms): `Ok(step)`, the typed code is the code of `step` (`matches(step)`), later than `last`
/// (the last step used); otherwise `Replayed` (the code of a step not after `last`),
/// `ExpiredPassword` (the code of one of the ten steps before the window) or `WrongPassword`.
/// Every step of the window is looked at, no early exit: the time taken says nothing.
fn decide_totp(
    totp: &pooya_otp::Totp,
    matches: impl Fn(u64) -> bool,
    now: i64,
    tol: i64,
    last: Option<u64>,
) -> Result<u64, Verdict> {
    let window = totp.accepted_steps(now, tol);
    let mut verdict = Err(Verdict::WrongPassword);
    for step in window.clone() {
        if matches(step) {
            verdict = if last.is_some_and(|l| step <= l) {
                Err(Verdict::Replayed)
            } else {
                Ok(step)
            };
        }
    }
    if verdict == Err(Verdict::WrongPassword) {
        // A code of one of the last ten steps before the window: expired, not merely wrong.
        let low = *window.start();
        for step in low.saturating_sub(10)..low {
            if matches(step) {
                verdict = if last.is_some_and(|l| step <= l) {
                    Err(Verdict::Replayed)
                } else {
                    Err(Verdict::ExpiredPassword)
                };
            }
        }
    }
    verdict
}

/// A hardware HOTP token's decision (see the module doc of `card`): a code among the next `look`
/// counter values approves and moves the counter past it; the second of two consecutive codes
/// beyond them, within `resync`, resynchronises; one of the `look` before is replayed.
fn decide_hotp(
    h: &mut HardwareToken,
    matches: impl Fn(u64) -> bool,
    look: u64,
    resync: u64,
) -> Result<(), Verdict> {
    if let Some(r) = h.resync_counter.take() {
        let next = r.saturating_add(1);
        if next >= h.counter && matches(next) {
            h.counter = next.saturating_add(1);
            return Ok(());
        }
    }
    let start = h.counter;
    let mut hit = None;
    for c in start..start.saturating_add(look) {
        if matches(c) && hit.is_none() {
            hit = Some(c);
        }
    }
    if let Some(c) = hit {
        h.counter = c.saturating_add(1);
        return Ok(());
    }
    let mut replayed = false;
    for c in start.saturating_sub(look)..start {
        replayed |= matches(c);
    }
    if replayed {
        return Err(Verdict::Replayed);
    }
    let mut far = None;
    for c in start.saturating_add(look)..start.saturating_add(resync) {
        if matches(c) && far.is_none() {
            far = Some(c);
        }
    }
    h.resync_counter = far;
    Err(Verdict::WrongPassword)
}

impl CardRecord {
    /// The live app token and its `kind` password key, keyed for its algorithm (only the key of
    /// that kind is derived from the seed).
    fn token_otp(
        &self,
        kind: PasswordKind,
        keys: &Keyring,
    ) -> Option<(pooya_otp::HotpKey, &AppToken, pooya_otp::Algorithm)> {
        let t = self.svc.token()?;
        let seed = keys
            .open(&Sealed::Seed.aad(&self.pan_hash, &t.id), &t.seed_sealed)
            .ok()?;
        let alg = t.algorithm.parse().ok()?;
        let key = pooya_otp::derive_password_key(&seed, kind.key_info());
        Some((pooya_otp::HotpKey::new(key.as_bytes(), alg), t, alg))
    }

    /// Checks a dynamic code of the app token. `Ok(Some(step))`: matches an unused step in the
    /// window; `Err(verdict)`: replayed, expired or wrong; `Ok(None)`: the card has no live token.
    fn check_token_code(
        &self,
        kind: PasswordKind,
        typed: &str,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<Option<u64>, Verdict> {
        let Some((key, t, alg)) = self.token_otp(kind, keys) else {
            return Ok(None);
        };
        let (digits, last) = match kind {
            PasswordKind::First => (t.first_digits, t.last_step_first),
            PasswordKind::Second => (t.second_digits, t.last_step_second),
        };
        let Ok(digits) = pooya_otp::Digits::new(digits) else {
            return Err(Verdict::WrongPassword);
        };
        let Ok(totp) = pooya_otp::Totp::new(t.step_secs, digits, alg) else {
            return Err(Verdict::WrongPassword);
        };
        if typed.len() != usize::from(digits.get()) {
            return Err(Verdict::WrongPassword);
        }
        let tol = i64::from(policy.otp.skew_tolerance_secs) * 1000;
        let matches = |step| totp.code_at_step_with(&key, step).matches(typed);
        decide_totp(&totp, matches, now, tol, last).map(Some)
    }

    fn static_second_matches(&self, typed: &str, keys: &Keyring) -> bool {
        (5..=12).contains(&typed.len())
            && crate::blocking::in_place(|| {
                keys.static_matches(
                    StaticSecret::SecondPassword,
                    &self.pan_hash,
                    typed,
                    &self.second_hash,
                )
            })
    }

    fn static_pin_matches(&self, typed: &str, keys: &Keyring) -> bool {
        typed.len() == 4
            && crate::blocking::in_place(|| {
                keys.static_matches(StaticSecret::Pin, &self.pan_hash, typed, &self.pin_hash)
            })
    }

    /// A verification that names no transaction: no transaction code approves it.
    pub fn verify(
        &mut self,
        kind: PasswordKind,
        typed: &Digits,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Verdict {
        self.verify_for(kind, typed, None, now, policy, keys)
    }

    /// R1, R3, R5, R9, R11, R21, R24: decides a verification of `txn` and records its effect on
    /// the card.
    pub fn verify_for(
        &mut self,
        kind: PasswordKind,
        typed: &Digits,
        txn: Option<&Transaction>,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Verdict {
        if kind == PasswordKind::Second && self.second_blocked {
            return Verdict::SecondPasswordBlocked;
        }
        if self.svc.is_locked() || (kind == PasswordKind::First && self.svc.pin_locked) {
            return Verdict::Locked;
        }
        if self.is_expired(now) {
            return Verdict::ExpiredCard;
        }
        self.prune(now, policy);
        let typed = typed.as_str();
        let verdict = match kind {
            PasswordKind::First => self.decide_first(typed, now, policy, keys),
            PasswordKind::Second => self.decide_second(typed, txn, now, policy, keys),
        };
        // A token outside its file's policy refuses every code, right or wrong: the holder's
        // tries are not what is at fault, and nothing was learnt of the code.
        if !verdict.approved() && verdict != Verdict::TokenNotValid {
            self.record_failure(now, policy);
        }
        // A guess of the 4 digits is wrong, not late or used: those are the holder's slips.
        if kind == PasswordKind::First && verdict == Verdict::WrongPassword {
            self.record_pin_lock_failure(now, policy);
        }
        verdict
    }

    fn record_failure(&mut self, now: i64, policy: &Policy) {
        self.svc.failures.push(now);
        if self.recent_failures(now, policy) >= policy.lockout.max_failures as usize {
            // R5: the service is disabled; the holder starts again at an ATM.
            self.svc.service = Service::Locked(self.svc.mode());
            self.svc.txn_codes.clear();
        }
    }

    fn decide_first(&mut self, typed: &str, now: i64, policy: &Policy, keys: &Keyring) -> Verdict {
        let dynamic = self.check_token_code(PasswordKind::First, typed, now, policy, keys);
        if let Ok(Some(step)) = dynamic {
            if let Some(t) = self.svc.token_mut() {
                t.last_step_first = Some(step);
            }
            return Verdict::Approved;
        }
        let has_dynamic = dynamic.is_err();
        if (!has_dynamic || policy.otp.static_pin_with_dynamic)
            && self.static_pin_matches(typed, keys)
        {
            return Verdict::Approved;
        }
        match dynamic {
            Err(v) => v,
            Ok(_) => Verdict::WrongPassword,
        }
    }

    fn decide_second(
        &mut self,
        typed: &str,
        txn: Option<&Transaction>,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Verdict {
        if let Some(v) = self.check_txn_code(typed, txn, now, policy, keys) {
            return v;
        }
        // The card's own channel; a code of no channel may still be the static password.
        let channel = match &self.svc.service {
            // RFC 6030 §5: not before its start, not after its expiry, not past its number of
            // transactions; the code is not even looked at.
            Service::Hardware(h) if !h.usable_at(now) => return Verdict::TokenNotValid,
            Service::Hardware(_) => self.check_hardware_code(typed, now, policy, keys),
            Service::App(_) => {
                match self.check_token_code(PasswordKind::Second, typed, now, policy, keys) {
                    Ok(Some(step)) => {
                        if let Some(t) = self.svc.token_mut() {
                            t.last_step_second = Some(step);
                        }
                        Ok(())
                    }
                    // The seed does not open: no code of this token is right.
                    Ok(None) => Err(Verdict::WrongPassword),
                    Err(v) => Err(v),
                }
            }
            Service::Sms(_) => self.check_sms_password(typed, now, policy, keys),
            Service::None | Service::AppPending(_) | Service::Locked(_) => {
                if !self.svc.static_second_disabled {
                    return if self.static_second_matches(typed, keys) {
                        Verdict::Approved
                    } else {
                        Verdict::WrongPassword
                    };
                }
                Err(Verdict::WrongPassword)
            }
        };
        match channel {
            Ok(()) => return Verdict::Approved,
            Err(Verdict::WrongPassword) => {}
            Err(v) => return v,
        }
        // R9: the dynamic service is (or was) active: the static second password is dead.
        if self.static_second_matches(typed, keys) {
            Verdict::StaticPasswordDisabled
        } else {
            Verdict::WrongPassword
        }
    }

    /// R24: a typed password that is one of the card's transaction codes is decided here, and
    /// only here (`None`: it is none of them).
    fn check_txn_code(
        &mut self,
        typed: &str,
        txn: Option<&Transaction>,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Option<Verdict> {
        if self.svc.txn_codes.is_empty() {
            return None;
        }
        let mac = keys.code_mac("txn-code", &[self.pan_hash.as_bytes(), typed.as_bytes()]);
        // Every entry is compared (no early exit: the time taken says nothing).
        let mut hit = None;
        for (i, c) in self.svc.txn_codes.iter().enumerate() {
            if pooya_otp::ct_eq(&c.mac, &mac) {
                hit = Some(i);
            }
        }
        let c = &mut self.svc.txn_codes[hit?];
        let same_txn = txn.is_some_and(|t| pooya_otp::ct_eq(&txn_binding(t, keys), &c.binding));
        let tol = i64::from(policy.otp.skew_tolerance_secs) * 1000;
        Some(if c.used {
            Verdict::Replayed
        } else if !same_txn {
            Verdict::WrongTransaction
        } else if now >= c.expires_at + tol {
            Verdict::ExpiredPassword
        } else {
            c.used = true;
            Verdict::Approved
        })
    }

    /// A second password of the card's hardware token (see the module doc).
    fn check_hardware_code(
        &mut self,
        typed: &str,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<(), Verdict> {
        let Service::Hardware(h) = &mut self.svc.service else {
            return Err(Verdict::WrongPassword);
        };
        let Ok(raw) = keys.open(&Sealed::Hardware.aad(&self.pan_hash, &h.id), &h.key_sealed) else {
            return Err(Verdict::WrongPassword);
        };
        let (Ok(alg), Ok(digits)) = (
            h.algorithm.parse::<pooya_otp::Algorithm>(),
            pooya_otp::Digits::new(h.digits),
        ) else {
            return Err(Verdict::WrongPassword);
        };
        // Keyed once for every counter or step looked at; `raw` is zeroized on drop.
        let key = pooya_otp::HotpKey::new(&raw, alg);
        drop(raw);
        if typed.len() != usize::from(digits.get()) {
            return Err(Verdict::WrongPassword);
        }
        // The code the token shows for a counter or step: with its Luhn digit where the file
        // says so (the import checked it can be made).
        let check_digit = h.check_digit;
        let matches = |c: u64| {
            if check_digit {
                key.code_with_check_digit(c, digits)
                    .is_ok_and(|code| code.matches(typed))
            } else {
                key.code(c, digits).matches(typed)
            }
        };
        let approved = match h.kind {
            HardwareKind::Totp => {
                let Ok(totp) = pooya_otp::Totp::new(h.step_secs, digits, alg) else {
                    return Err(Verdict::WrongPassword);
                };
                let tol = i64::from(policy.otp.skew_tolerance_secs) * 1000;
                // The token's clock runs `drift_steps` off ours: steps are counted on its clock.
                let drift_ms = h.drift_steps.saturating_mul(totp.step_ms());
                let step = decide_totp(
                    &totp,
                    matches,
                    now.saturating_add(drift_ms),
                    tol,
                    h.last_step,
                )?;
                h.last_step = Some(step);
                Ok(())
            }
            HardwareKind::Hotp => {
                let look = u64::from(policy.hardware.hotp_look_ahead);
                let resync = u64::from(policy.hardware.hotp_resync_window);
                decide_hotp(h, matches, look, resync)
            }
        };
        if approved.is_ok() {
            // Policy/NumberOfTransactions: one fewer left.
            if let Some(n) = h.transactions_left.as_mut() {
                *n = n.saturating_sub(1);
            }
        }
        approved
    }

    /// R21: the SMS password is the fixed part then the variable part.
    fn check_sms_password(
        &mut self,
        typed: &str,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<(), Verdict> {
        let fixed_len = usize::from(policy.sms.fixed_part_digits);
        let var_len = usize::from(policy.sms.variable_part_digits);
        let Service::Sms(sms) = &mut self.svc.service else {
            return Err(Verdict::WrongPassword);
        };
        if typed.len() != fixed_len + var_len {
            return Err(Verdict::WrongPassword);
        }
        let (fixed, var) = typed.split_at(fixed_len);
        let fixed_mac = keys.card_code_mac(CardCode::SmsFixed, &self.pan_hash, fixed);
        let fixed_ok = pooya_otp::ct_eq(&fixed_mac, &sms.fixed_mac);
        let Some(v) = sms.variable.as_mut() else {
            return Err(Verdict::WrongPassword);
        };
        let var_mac = keys.card_code_mac(CardCode::SmsVariable, &self.pan_hash, var);
        let var_ok = pooya_otp::ct_eq(&var_mac, &v.mac);
        if !(fixed_ok && var_ok) {
            return Err(Verdict::WrongPassword);
        }
        if v.used {
            return Err(Verdict::Replayed);
        }
        let tol = i64::from(policy.otp.skew_tolerance_secs) * 1000;
        if now >= v.expires_at + tol {
            return Err(Verdict::ExpiredPassword);
        }
        v.used = true;
        Ok(())
    }

    /// The ATM's first check (docs/api.md): the static PIN, or a dynamic first password where the card
    /// has one. A wrong PIN is counted apart from R5 failures.
    pub fn check_atm_pin(
        &mut self,
        pin: &Digits,
        now: i64,
        policy: &Policy,
        keys: &Keyring,
    ) -> Result<(), AtmRefusal> {
        if self.is_expired(now) {
            return Err(AtmRefusal::ExpiredCard);
        }
        if self.svc.pin_locked {
            return Err(AtmRefusal::PinLocked);
        }
        self.prune(now, policy);
        if self.svc.pin_failures.len() >= policy.pin.max_tries as usize {
            return Err(AtmRefusal::PinTriesExceeded);
        }
        let typed = pin.as_str();
        let dynamic = self.check_token_code(PasswordKind::First, typed, now, policy, keys);
        if let Ok(Some(step)) = dynamic {
            if let Some(t) = self.svc.token_mut() {
                t.last_step_first = Some(step);
            }
            return Ok(());
        }
        // R9 note: beside a live dynamic first password the static PIN works unless the bank's
        // policy says otherwise; without one (never enrolled, locked) it is the only way in.
        let static_allowed = dynamic.is_ok() || policy.otp.static_pin_with_dynamic;
        if static_allowed && self.static_pin_matches(typed, keys) {
            return Ok(());
        }
        self.svc.pin_failures.push(now);
        self.record_pin_lock_failure(now, policy);
        Err(AtmRefusal::WrongPin {
            tries_left: self.pin_tries_left(policy),
        })
    }
}
