//! Unit tests of the card state machine: every transition of the module doc's drawing and every
//! verdict, with fixed times (unix ms) and cheap Argon2.
use super::*;

use crate::domain::{CustomerId, Digits, Expiry, Mobile, Pan, PasswordKind, Transaction};
use crate::keys::{HashCost, Keyring, StaticSecret};
use crate::policy::Policy;
use pooya_enroll::{ClientEnrollment, Seed};
use pooya_otp::{derive_password_keys, Algorithm, PasswordKeys, Totp};

/// 2027-01-15T08:00:00Z: a step boundary for steps of 30, 60, 90 and 120 s.
const T0: i64 = 1_800_000_000_000;
const SEC: i64 = 1000;
const HOUR: i64 = 3600 * SEC;
const DAY: i64 = 24 * HOUR;
/// Two valid (Luhn) card numbers.
const PAN_A: &str = "6280231234567898";
const PAN_B: &str = "6280239876543218";
const STATIC_PIN: &str = "1234";
const STATIC_SECOND: &str = "55555";
const REGISTERED: &str = "09121234567";
const OTHER_MOBILE: &str = "09357654321";

fn mobile(s: &str) -> Mobile {
    Mobile::parse(s).unwrap()
}

fn registered() -> Mobile {
    mobile(REGISTERED)
}

fn typed(s: &str) -> Digits {
    Digits::typed_password(s).unwrap()
}

/// The codes an app holding `seed` shows for a token.
struct AppCodes {
    pk: PasswordKeys,
    first: Totp,
    second: Totp,
}

impl AppCodes {
    fn of(token: &AppToken, seed: &Seed) -> AppCodes {
        let alg: Algorithm = token.algorithm.parse().unwrap();
        let first = pooya_otp::Digits::new(token.first_digits).unwrap();
        let second = pooya_otp::Digits::new(token.second_digits).unwrap();
        AppCodes {
            pk: derive_password_keys(seed.as_bytes()),
            first: Totp::new(token.step_secs, first, alg).unwrap(),
            second: Totp::new(token.step_secs, second, alg).unwrap(),
        }
    }
    fn step(&self, t: i64) -> u64 {
        self.second.step_at(t)
    }
    fn start(&self, step: u64) -> i64 {
        self.second.step_start_ms(step)
    }
    fn end(&self, step: u64) -> i64 {
        self.second.step_end_ms(step)
    }
    fn first_of(&self, step: u64) -> String {
        self.first
            .code_at_step(&self.pk.first, step)
            .as_str()
            .to_owned()
    }
    fn second_of(&self, step: u64) -> String {
        self.second
            .code_at_step(&self.pk.second, step)
            .as_str()
            .to_owned()
    }
    fn first_at(&self, t: i64) -> String {
        self.first_of(self.step(t))
    }
    fn second_at(&self, t: i64) -> String {
        self.second_of(self.step(t))
    }
    /// The steps whose codes a verifier around `t` may look at (window and the ten before it),
    /// with margin.
    fn steps_around(&self, t: i64) -> std::ops::RangeInclusive<u64> {
        let s = self.step(t);
        s.saturating_sub(12)..=s + 20
    }
    /// A 4-digit code that is no first code of any step around `t`, nor the static PIN.
    fn wrong_first(&self, t: i64) -> String {
        let used: Vec<String> = self.steps_around(t).map(|s| self.first_of(s)).collect();
        (0..10_000)
            .map(|n| format!("{n:04}"))
            .find(|c| !used.contains(c) && c != STATIC_PIN)
            .unwrap()
    }
    /// An 8-digit code that is no second code of any step around `t`.
    fn wrong_second(&self, t: i64) -> String {
        let used: Vec<String> = self.steps_around(t).map(|s| self.second_of(s)).collect();
        (0..1000)
            .map(|n| format!("{:08}", 31_415_000 + n))
            .find(|c| !used.contains(c))
            .unwrap()
    }
    /// Whether the first codes around `t` are pairwise distinct and none is the static PIN, so
    /// that a 4-digit code names exactly one step.
    fn first_codes_distinct(&self, t: i64) -> bool {
        let codes: Vec<String> = self.steps_around(t).map(|s| self.first_of(s)).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        sorted.len() == codes.len() && !codes.iter().any(|c| c == STATIC_PIN)
    }
}

/// A token born from a real enrollment, with the app's side of it.
struct Enrolled {
    token: AppToken,
    seed: Seed,
    app: AppCodes,
}

/// The result of an ATM app activation followed by the app's first message.
struct Started {
    client: ClientEnrollment,
    started: EnrollStarted,
}

struct Ctx {
    keys: Keyring,
    policy: Policy,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx::with_policy(Policy::default())
    }
    fn maskan() -> Ctx {
        Ctx::with_policy(Policy::profile("maskan").unwrap())
    }
    fn with_policy(policy: Policy) -> Ctx {
        let keys = Keyring::from_master(
            &[7u8; 32],
            HashCost {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        )
        .unwrap();
        Ctx { keys, policy }
    }

    fn card(&self, pan: &str) -> (Pan, CardRecord) {
        let pan = Pan::parse(pan).unwrap();
        let card = CardRecord::new(
            &pan,
            self.keys.pan_hash(&pan),
            CustomerId::parse("C1").unwrap(),
            Expiry::parse("3512").unwrap(),
            self.keys
                .hash_static(StaticSecret::Pin, &self.keys.pan_hash(&pan), STATIC_PIN)
                .unwrap(),
            self.keys
                .hash_static(
                    StaticSecret::SecondPassword,
                    &self.keys.pan_hash(&pan),
                    STATIC_SECOND,
                )
                .unwrap(),
            T0 - DAY,
        );
        (pan, card)
    }

    fn verify(&self, card: &mut CardRecord, kind: PasswordKind, code: &str, now: i64) -> Verdict {
        card.verify(kind, &typed(code), now, &self.policy, &self.keys)
    }
    fn first(&self, card: &mut CardRecord, code: &str, now: i64) -> Verdict {
        self.verify(card, PasswordKind::First, code, now)
    }
    fn second(&self, card: &mut CardRecord, code: &str, now: i64) -> Verdict {
        self.verify(card, PasswordKind::Second, code, now)
    }

    fn pin(&self, card: &mut CardRecord, pin: &str, now: i64) -> Result<(), AtmRefusal> {
        card.check_atm_pin(&Digits::pin(pin).unwrap(), now, &self.policy, &self.keys)
    }

    fn activate_app(&self, card: &mut CardRecord, pan: &Pan, now: i64) -> ActivationCodes {
        card.activate_app(
            pan,
            &registered(),
            &registered(),
            now,
            &self.policy,
            &self.keys,
        )
        .unwrap()
    }

    fn activate_sms(&self, card: &mut CardRecord) -> String {
        card.activate_sms(&registered(), &registered(), &self.policy, &self.keys)
            .unwrap()
            .to_string()
    }

    fn variable(&self, card: &mut CardRecord, now: i64) -> (String, i64) {
        let (v, exp) = card
            .issue_variable_part(now, &self.policy, &self.keys)
            .unwrap();
        (v.to_string(), exp)
    }

    /// The app's first message with the given codes, and the server's answer.
    fn start(
        &self,
        card: &mut CardRecord,
        pan: &Pan,
        receipt: &str,
        sms: &str,
        lifetime: Option<u32>,
        now: i64,
    ) -> Result<Started, AppRefusal> {
        let (client, msg) = ClientEnrollment::start(pan.digits(), receipt, sms);
        let started = card.enroll_start(pan, &msg, lifetime, now, &self.policy, &self.keys)?;
        Ok(Started { client, started })
    }

    /// The app's second message after a successful first one.
    fn confirm(&self, card: &mut CardRecord, s: Started, now: i64) -> Result<Enrolled, AppRefusal> {
        let fin = s
            .client
            .finish(&s.started.msg, &s.started.confirm)
            .expect("the app accepts the server's confirmation");
        let (token, seed) = card.enroll_confirm(
            &s.started.enrollment_id,
            &s.started.run,
            &fin.confirm,
            now,
            &self.policy,
            &self.keys,
        )?;
        assert_eq!(seed, fin.seed, "both ends hold the same seed");
        let app = AppCodes::of(&token, &fin.seed);
        Ok(Enrolled {
            token,
            seed: fin.seed,
            app,
        })
    }

    /// The whole R8 + R16 path on the registered mobile.
    fn enroll(
        &self,
        card: &mut CardRecord,
        pan: &Pan,
        lifetime: Option<u32>,
        now: i64,
    ) -> Enrolled {
        let codes = self.activate_app(card, pan, now);
        let s = self
            .start(
                card,
                pan,
                &codes.receipt_code,
                &codes.sms_code,
                lifetime,
                now,
            )
            .unwrap();
        self.confirm(card, s, now).unwrap()
    }

    /// Enrolls until the token's 4-digit first codes around `around` name one step each.
    fn enroll_distinct(&self, card: &mut CardRecord, pan: &Pan, now: i64, around: i64) -> Enrolled {
        for _ in 0..100 {
            let e = self.enroll(card, pan, None, now);
            if e.app.first_codes_distinct(around) {
                return e;
            }
        }
        panic!("no seed with distinct first codes in 100 enrollments");
    }
}

// ---------------------------------------------------------------------------------------------
// none/inactive → app/pending → app/active (R8, R9, R16)
// ---------------------------------------------------------------------------------------------

#[test]
fn new_card_is_inactive_and_takes_its_static_passwords() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert_eq!(c.second(&mut card, STATIC_SECOND, T0), Verdict::Approved);
    assert_eq!(c.first(&mut card, STATIC_PIN, T0), Verdict::Approved);
    assert_eq!(c.second(&mut card, "55556", T0), Verdict::WrongPassword);
    assert_eq!(c.first(&mut card, "4321", T0), Verdict::WrongPassword);
    assert_eq!(card.recent_failures(T0, &c.policy), 2);
}

#[test]
fn activate_app_makes_card_pending_and_static_second_still_works() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    assert_eq!(codes.receipt_code.len(), 6);
    assert_eq!(codes.sms_code.len(), 6);
    assert!(codes.receipt_code.bytes().all(|b| b.is_ascii_digit()));
    assert!(codes.sms_code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(codes.expires_at, T0 + DAY);
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Pending));
    let act = card.svc.activation.as_ref().unwrap();
    assert_eq!(act.tries_left, 30);
    assert_eq!(act.mobile, registered());
    assert!(!card.svc.static_second_disabled);
    // R9 applies only once the dynamic service is active.
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + SEC),
        Verdict::Approved
    );
    assert_eq!(c.first(&mut card, STATIC_PIN, T0 + SEC), Verdict::Approved);
    // Starting a run leaves the card pending.
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            T0 + 2 * SEC,
        )
        .unwrap();
    let act = card.svc.activation.as_ref().unwrap();
    assert_eq!(act.tries_left, 29);
    assert_eq!(s.started.run.activation_id, act.id);
    assert_eq!(
        card.effective(T0 + 2 * SEC),
        (Mode::App, ServiceState::Pending)
    );
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + 3 * SEC),
        Verdict::Approved
    );
}

#[test]
fn enroll_confirm_makes_card_active_and_kills_static_second_password() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    assert!(card.svc.activation.is_none());
    assert!(card.svc.static_second_disabled);
    assert_eq!(card.svc.token.as_ref(), Some(&e.token));
    assert_eq!(e.token.step_secs, 60);
    assert_eq!(e.token.first_digits, 4);
    assert_eq!(e.token.second_digits, 8);
    assert_eq!(e.token.algorithm, "SHA256");
    assert_eq!(e.token.mobile, registered());
    assert_eq!(e.token.issued_at, T0);
    assert_eq!(e.token.last_step_first, None);
    assert_eq!(e.token.last_step_second, None);
    // R9: the static second password stops working.
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + SEC),
        Verdict::StaticPasswordDisabled
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + SEC), T0 + SEC),
        Verdict::Approved
    );
    // R9 (italics): the static PIN keeps working by default.
    assert_eq!(c.first(&mut card, STATIC_PIN, T0 + SEC), Verdict::Approved);
}

#[test]
fn static_pin_refused_beside_dynamic_first_password_when_policy_says_so() {
    let mut policy = Policy::default();
    policy.otp.static_pin_with_dynamic = false;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    // Without a token the static PIN is the only first password.
    assert_eq!(c.first(&mut card, STATIC_PIN, T0), Verdict::Approved);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + SEC);
    assert_eq!(
        c.first(&mut card, STATIC_PIN, T0 + SEC),
        Verdict::WrongPassword
    );
    assert_eq!(
        c.first(&mut card, &e.app.first_at(T0 + SEC), T0 + SEC),
        Verdict::Approved
    );
}

// ---------------------------------------------------------------------------------------------
// app/pending → none/inactive, and the enrollment refusals
// ---------------------------------------------------------------------------------------------

#[test]
fn pending_activation_expires_after_its_ttl() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let exp = codes.expires_at;
    assert_eq!(card.effective(exp - 1).1, ServiceState::Pending);
    assert_eq!(card.effective(exp).1, ServiceState::Inactive);
    let before = card.clone();
    let r = c.start(
        &mut card,
        &pan,
        &codes.receipt_code,
        &codes.sms_code,
        None,
        exp,
    );
    assert_eq!(r.err(), Some(AppRefusal::ActivationExpired));
    assert_eq!(card, before);
    // One millisecond earlier the same codes still work.
    let mut early = before.clone();
    let s = c
        .start(
            &mut early,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            exp - 1,
        )
        .unwrap();
    assert!(c.confirm(&mut early, s, exp - 1).is_ok());
}

#[test]
fn enroll_confirm_after_activation_expiry_is_refused() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let exp = codes.expires_at;
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            exp - SEC,
        )
        .unwrap();
    assert_eq!(
        c.confirm(&mut card, s, exp).err(),
        Some(AppRefusal::ActivationExpired)
    );
    assert!(card.svc.token.is_none());
    assert_eq!(card.effective(exp).1, ServiceState::Inactive);
}

#[test]
fn wrong_activation_codes_change_nothing_but_each_run_costs_a_try() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let wrong_sms = if codes.sms_code.as_str() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for (i, expected_left) in [29u32, 28, 27].into_iter().enumerate() {
        let now = T0 + (i as i64 + 1) * 10 * SEC;
        let s = c
            .start(&mut card, &pan, &codes.receipt_code, wrong_sms, None, now)
            .unwrap();
        assert_eq!(
            card.svc.activation.as_ref().unwrap().tries_left,
            expected_left
        );
        // The app sees the mismatch itself...
        assert_eq!(
            s.client.finish(&s.started.msg, &s.started.confirm).err(),
            Some(pooya_enroll::EnrollError::ConfirmMismatch)
        );
        // ...and a client that confirms anyway is refused, and changes nothing.
        let before = card.clone();
        let r = card.enroll_confirm(
            &s.started.enrollment_id,
            &s.started.run,
            &[0u8; 32],
            now + SEC,
            &c.policy,
            &c.keys,
        );
        assert_eq!(r.err(), Some(AppRefusal::WrongActivationCodes));
        assert_eq!(card, before);
        assert_eq!(card.effective(now + SEC).1, ServiceState::Pending);
    }
    // The static second password was never disabled, and the right codes still enroll.
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + HOUR),
        Verdict::Approved
    );
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            T0 + HOUR,
        )
        .unwrap();
    c.confirm(&mut card, s, T0 + HOUR).unwrap();
    assert_eq!(card.effective(T0 + HOUR).1, ServiceState::Active);
}

#[test]
fn runs_use_up_the_activation_all_addresses_together() {
    let mut policy = Policy::default();
    policy.activation.max_tries_total = 3;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let mut last = None;
    for i in 0..3i64 {
        let s = c
            .start(
                &mut card,
                &pan,
                &codes.receipt_code,
                &codes.sms_code,
                None,
                T0 + i * SEC,
            )
            .unwrap();
        assert_eq!(
            card.svc.activation.as_ref().unwrap().tries_left,
            2 - i as u32
        );
        last = Some(s);
    }
    let run_end = T0 + 2 * SEC + 300 * SEC;
    let before = card.clone();
    let r = c.start(
        &mut card,
        &pan,
        &codes.receipt_code,
        &codes.sms_code,
        None,
        T0 + 3 * SEC,
    );
    assert_eq!(r.err(), Some(AppRefusal::ActivationExhausted));
    assert_eq!(card, before);
    // Used up: no longer pending at once (issue 13), while the last run is still open.
    assert_eq!(
        card.effective(T0 + 3 * SEC),
        (Mode::None, ServiceState::Inactive)
    );
    assert_eq!(card.effective(run_end).1, ServiceState::Inactive);
    // The last run can still complete in time...
    let mut done = card.clone();
    let e = c
        .confirm(&mut done, last.take().unwrap(), run_end - 1)
        .unwrap();
    assert_eq!(done.effective(run_end).1, ServiceState::Active);
    assert_eq!(done.svc.token.as_ref(), Some(&e.token));
}

#[test]
fn runs_do_not_replace_each_other_and_die_with_their_activation() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let start = |card: &mut CardRecord, now| {
        c.start(card, &pan, &codes.receipt_code, &codes.sms_code, None, now)
            .unwrap()
    };
    let first = start(&mut card, T0);
    let second = start(&mut card, T0 + SEC);
    // The later run did not replace the earlier one: either confirms.
    let mut other = card.clone();
    c.confirm(&mut other, second, T0 + 2 * SEC).unwrap();
    let fin = first
        .client
        .finish(&first.started.msg, &first.started.confirm)
        .unwrap();
    // A new activation leaves an earlier run nothing to confirm.
    let mut renewed = card.clone();
    c.activate_app(&mut renewed, &pan, T0 + 2 * SEC);
    let before = renewed.clone();
    let r = renewed.enroll_confirm(
        &first.started.enrollment_id,
        &first.started.run,
        &fin.confirm,
        T0 + 3 * SEC,
        &c.policy,
        &c.keys,
    );
    assert_eq!(r.err(), Some(AppRefusal::WrongActivationCodes));
    assert_eq!(renewed, before);
    // No activation at all: the same.
    let (_, mut fresh) = c.card(PAN_A);
    let r = fresh.enroll_confirm(
        &first.started.enrollment_id,
        &first.started.run,
        &fin.confirm,
        T0,
        &c.policy,
        &c.keys,
    );
    assert_eq!(r.err(), Some(AppRefusal::WrongActivationCodes));
    // The run's state is sealed to its id: under another id it opens to nothing.
    let r = card.enroll_confirm(
        &second_id_of(&c, &mut card.clone(), &pan, &codes),
        &first.started.run,
        &fin.confirm,
        T0 + 2 * SEC,
        &c.policy,
        &c.keys,
    );
    assert_eq!(r.err(), Some(AppRefusal::WrongActivationCodes));
    // Under its own, it completes.
    let (token, seed) = card
        .enroll_confirm(
            &first.started.enrollment_id,
            &first.started.run,
            &fin.confirm,
            T0 + 2 * SEC,
            &c.policy,
            &c.keys,
        )
        .unwrap();
    assert_eq!(seed, fin.seed);
    assert_eq!(card.svc.token.as_ref(), Some(&token));
}

/// The id of a fresh run on `card`.
fn second_id_of(c: &Ctx, card: &mut CardRecord, pan: &Pan, codes: &ActivationCodes) -> String {
    c.start(card, pan, &codes.receipt_code, &codes.sms_code, None, T0)
        .unwrap()
        .started
        .enrollment_id
}

#[test]
fn enroll_start_without_pending_activation_is_refused() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let (_, msg) = ClientEnrollment::start(pan.digits(), "123456", "654321");
    let attempt = |card: &mut CardRecord| {
        let before = card.clone();
        let r = card.enroll_start(&pan, &msg, None, T0 + HOUR, &c.policy, &c.keys);
        assert_eq!(r.err(), Some(AppRefusal::NoPendingActivation));
        assert_eq!(*card, before);
    };
    // Never activated.
    attempt(&mut card);
    // SMS channel.
    let mut sms = card.clone();
    c.activate_sms(&mut sms);
    attempt(&mut sms);
    // An active app token.
    let mut active = card.clone();
    c.enroll(&mut active, &pan, None, T0);
    attempt(&mut active);
    // Locked.
    let mut locked = card.clone();
    c.activate_app(&mut locked, &pan, T0);
    for i in 0..5 {
        c.second(&mut locked, "98765432", T0 + i);
    }
    assert_eq!(locked.effective(T0 + 5).1, ServiceState::Locked);
    attempt(&mut locked);
}

#[test]
fn lifetime_outside_bounds_is_invalid_and_changes_nothing() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    for lifetime in [0, 29, 301, u32::MAX] {
        let before = card.clone();
        let r = c.start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            Some(lifetime),
            T0,
        );
        assert_eq!(r.err(), Some(AppRefusal::InvalidLifetime), "{lifetime}");
        assert_eq!(card, before);
    }
    for lifetime in [30, 300] {
        let mut edge = card.clone();
        let s = c
            .start(
                &mut edge,
                &pan,
                &codes.receipt_code,
                &codes.sms_code,
                Some(lifetime),
                T0,
            )
            .unwrap();
        let e = c.confirm(&mut edge, s, T0).unwrap();
        assert_eq!(e.token.step_secs, lifetime);
    }
}

#[test]
fn holder_chosen_lifetime_gives_a_token_with_that_step() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, Some(90), T0);
    assert_eq!(e.token.step_secs, 90);
    let s = e.app.step(T0);
    assert_eq!(e.app.end(s) - e.app.start(s), 90 * SEC);
    // A code lives 90 s (plus tolerance).
    let mut late = card.clone();
    assert_eq!(
        c.second(&mut late, &e.app.second_of(s), T0 + 89 * SEC),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_of(s), T0 + 100 * SEC),
        Verdict::ExpiredPassword
    );
}

#[test]
fn default_lifetime_is_the_policy_lifetime() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    assert_eq!(e.token.step_secs, c.policy.otp.lifetime_secs);
    assert_eq!(e.token.step_secs, 60);
}

#[test]
fn malformed_enrollment_message_changes_nothing() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    let (_, good) = ClientEnrollment::start(pan.digits(), &codes.receipt_code, &codes.sms_code);
    let mut wrong_side = good.clone();
    wrong_side[0] = b'B';
    for msg in [Vec::new(), vec![0u8; 10], vec![0xffu8; 33], wrong_side] {
        let before = card.clone();
        let r = card.enroll_start(&pan, &msg, None, T0, &c.policy, &c.keys);
        assert_eq!(r.err(), Some(AppRefusal::MalformedMessage));
        assert_eq!(card, before);
        assert_eq!(card.svc.activation.as_ref().unwrap().tries_left, 30);
    }
}

#[test]
fn dead_activation_is_reported_as_none_inactive() {
    let mut policy = Policy::default();
    policy.activation.max_tries_total = 3;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    // Expired.
    assert_eq!(
        card.effective(codes.expires_at),
        (Mode::None, ServiceState::Inactive)
    );
    // Tries used up (all addresses together): dead at once.
    for i in 0..3 {
        c.start(&mut card, &pan, "000000", "000000", None, T0 + i)
            .unwrap();
    }
    assert_eq!(
        card.effective(T0 + 10),
        (Mode::None, ServiceState::Inactive)
    );
}

// ---------------------------------------------------------------------------------------------
// SMS channel (R20, R21)
// ---------------------------------------------------------------------------------------------

#[test]
fn activate_sms_makes_card_sms_active_and_kills_static_second() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    assert_eq!(fixed.len(), 4);
    assert!(fixed.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(card.effective(T0), (Mode::Sms, ServiceState::Active));
    assert!(card.svc.static_second_disabled);
    assert_eq!(card.svc.sms.as_ref().unwrap().mobile, registered());
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0),
        Verdict::StaticPasswordDisabled
    );
    // No variable part asked for yet: nothing passes.
    assert_eq!(
        c.second(&mut card, &format!("{fixed}0000"), T0),
        Verdict::WrongPassword
    );
    // The static PIN is still the first password.
    assert_eq!(c.first(&mut card, STATIC_PIN, T0), Verdict::Approved);
}

#[test]
fn sms_password_is_approved_once_then_replayed() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, exp) = c.variable(&mut card, T0);
    assert_eq!(var.len(), 4);
    assert_eq!(exp, T0 + 60 * SEC);
    let password = format!("{fixed}{var}");
    assert_eq!(c.second(&mut card, &password, T0 + SEC), Verdict::Approved);
    assert_eq!(
        c.second(&mut card, &password, T0 + 2 * SEC),
        Verdict::Replayed
    );
    assert_eq!(card.recent_failures(T0 + 2 * SEC, &c.policy), 1);
}

#[test]
fn sms_password_expires_after_lifetime_plus_tolerance() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, exp) = c.variable(&mut card, T0);
    let password = format!("{fixed}{var}");
    let tol = 10 * SEC;
    let mut in_time = card.clone();
    assert_eq!(
        c.second(&mut in_time, &password, exp + tol - 1),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &password, exp + tol),
        Verdict::ExpiredPassword
    );
}

#[test]
fn sms_password_with_wrong_fixed_part_is_wrong_password() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    let mut wrong = fixed.clone().into_bytes();
    wrong[0] = b'0' + (wrong[0] - b'0' + 1) % 10;
    let wrong = String::from_utf8(wrong).unwrap();
    assert_eq!(
        c.second(&mut card, &format!("{wrong}{var}"), T0 + SEC),
        Verdict::WrongPassword
    );
    // Only the variable part, or the parts swapped: wrong too.
    assert_eq!(c.second(&mut card, &var, T0 + SEC), Verdict::WrongPassword);
    if var != fixed {
        assert_eq!(
            c.second(&mut card, &format!("{var}{fixed}"), T0 + SEC),
            Verdict::WrongPassword
        );
    }
    // The variable part was not used up by the failures.
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + 2 * SEC),
        Verdict::Approved
    );
}

#[test]
fn new_variable_part_kills_the_old_one() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (old, _) = c.variable(&mut card, T0);
    let (new, _) = c.variable(&mut card, T0 + SEC);
    if old != new {
        assert_eq!(
            c.second(&mut card, &format!("{fixed}{old}"), T0 + 2 * SEC),
            Verdict::WrongPassword
        );
    }
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{new}"), T0 + 3 * SEC),
        Verdict::Approved
    );
    let v = card.svc.sms.as_ref().unwrap().variable.as_ref().unwrap();
    assert_eq!(v.issued_at, T0 + SEC);
    assert!(v.used);
}

#[test]
fn no_variable_part_without_a_live_sms_service() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    // No service.
    assert!(card.issue_variable_part(T0, &c.policy, &c.keys).is_none());
    // App service.
    let mut app = card.clone();
    c.enroll(&mut app, &pan, None, T0);
    assert!(app.issue_variable_part(T0, &c.policy, &c.keys).is_none());
    // Locked SMS service.
    let mut locked = card.clone();
    c.activate_sms(&mut locked);
    for i in 0..5 {
        c.second(&mut locked, "12345678", T0 + i);
    }
    assert!(locked.svc.locked);
    assert!(locked
        .issue_variable_part(T0 + 10, &c.policy, &c.keys)
        .is_none());
    // Expired card.
    c.activate_sms(&mut card);
    let exp = card.expiry.expires_at_ms();
    assert!(card
        .issue_variable_part(exp - 1, &c.policy, &c.keys)
        .is_some());
    assert!(card.issue_variable_part(exp, &c.policy, &c.keys).is_none());
}

#[test]
fn sms_variable_part_lives_120_s_under_maskan_profile() {
    let c = Ctx::maskan();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, exp) = c.variable(&mut card, T0);
    assert_eq!(exp, T0 + 120 * SEC);
    let mut in_time = card.clone();
    assert_eq!(
        c.second(&mut in_time, &format!("{fixed}{var}"), T0 + 119 * SEC),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), exp + 10 * SEC),
        Verdict::ExpiredPassword
    );
}

// ---------------------------------------------------------------------------------------------
// App codes (R1, R2, R3, R4)
// ---------------------------------------------------------------------------------------------

#[test]
fn app_second_code_is_approved_once_then_replayed() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let code = e.app.second_at(T0 + 5 * SEC);
    assert_eq!(c.second(&mut card, &code, T0 + 5 * SEC), Verdict::Approved);
    assert_eq!(
        card.svc.token.as_ref().unwrap().last_step_second,
        Some(e.app.step(T0))
    );
    // R3: never twice, even inside its lifetime...
    assert_eq!(c.second(&mut card, &code, T0 + 6 * SEC), Verdict::Replayed);
    // ...nor after it has left the window.
    assert_eq!(
        c.second(&mut card, &code, T0 + 5 * 60 * SEC),
        Verdict::Replayed
    );
    assert_eq!(card.recent_failures(T0 + 5 * 60 * SEC, &c.policy), 2);
}

#[test]
fn app_first_code_is_approved_once_then_replayed() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 5 * SEC);
    let code = e.app.first_at(T0 + 5 * SEC);
    assert_eq!(code.len(), 4);
    assert_eq!(c.first(&mut card, &code, T0 + 5 * SEC), Verdict::Approved);
    assert_eq!(c.first(&mut card, &code, T0 + 6 * SEC), Verdict::Replayed);
}

#[test]
fn code_of_earlier_step_after_a_later_one_is_replayed() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 60 * SEC);
    let s = e.app.step(T0) + 1;
    // Just after step s began, step s - 1 is still inside the tolerance.
    let now = e.app.start(s) + 2 * SEC;
    assert_eq!(
        c.second(&mut card, &e.app.second_of(s), now),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_of(s - 1), now + 1),
        Verdict::Replayed
    );
    assert_eq!(
        c.first(&mut card, &e.app.first_of(s), now),
        Verdict::Approved
    );
    assert_eq!(
        c.first(&mut card, &e.app.first_of(s - 1), now + 1),
        Verdict::Replayed
    );
}

#[test]
fn app_code_is_accepted_over_its_countdown_and_tolerance_then_expired() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0 - HOUR);
    let s = e.app.step(T0);
    let code = e.app.second_of(s);
    let tol = 10 * SEC;
    let (start, end) = (e.app.start(s), e.app.end(s));
    for now in [
        start - tol,
        start,
        start + 30 * SEC,
        end - 1,
        end,
        end + tol - 1,
    ] {
        let mut k = card.clone();
        assert_eq!(c.second(&mut k, &code, now), Verdict::Approved, "at {now}");
    }
    let mut k = card.clone();
    assert_eq!(c.second(&mut k, &code, end + tol), Verdict::ExpiredPassword);
    let mut k = card.clone();
    assert_eq!(
        c.second(&mut k, &code, end + 5 * 60 * SEC),
        Verdict::ExpiredPassword
    );
    // Before its time (beyond the tolerance) it is merely wrong.
    let mut k = card.clone();
    assert_eq!(
        c.second(&mut k, &code, start - tol - 1),
        Verdict::WrongPassword
    );
}

#[test]
fn first_code_is_accepted_over_its_countdown_and_tolerance_then_expired() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 60 * SEC);
    let s = e.app.step(T0) + 1;
    let code = e.app.first_of(s);
    let (start, end) = (e.app.start(s), e.app.end(s));
    for now in [start, end - 1, end + 10 * SEC - 1] {
        let mut k = card.clone();
        assert_eq!(c.first(&mut k, &code, now), Verdict::Approved, "at {now}");
    }
    assert_eq!(
        c.first(&mut card, &code, end + 10 * SEC),
        Verdict::ExpiredPassword
    );
}

#[test]
fn code_of_another_cards_token_is_wrong_password() {
    let c = Ctx::new();
    let (pan_a, mut a) = c.card(PAN_A);
    let (pan_b, mut b) = c.card(PAN_B);
    let now = T0 + 5 * SEC;
    let ea = c.enroll_distinct(&mut a, &pan_a, T0, now);
    // A seed for B whose first code of this step is none of A's codes around now.
    let eb = loop {
        let eb = c.enroll(&mut b, &pan_b, None, T0);
        let theirs = eb.app.first_at(now);
        if ea
            .app
            .steps_around(now)
            .all(|s| ea.app.first_of(s) != theirs)
            && theirs != STATIC_PIN
        {
            break eb;
        }
    };
    let b_second = eb.app.second_at(now);
    let b_first = eb.app.first_at(now);
    assert_ne!(b_second, ea.app.second_at(now));
    assert_eq!(c.second(&mut a, &b_second, now), Verdict::WrongPassword);
    assert_eq!(c.first(&mut a, &b_first, now), Verdict::WrongPassword);
    // B's codes still work on B (nothing was consumed on A's account).
    assert_eq!(c.second(&mut b, &b_second, now), Verdict::Approved);
    assert_eq!(c.first(&mut b, &b_first, now), Verdict::Approved);
    // And A's own codes on A.
    assert_eq!(
        c.second(&mut a, &ea.app.second_at(now), now),
        Verdict::Approved
    );
}

#[test]
fn sealed_seed_copied_onto_another_card_does_not_open() {
    let c = Ctx::new();
    let (pan_a, mut a) = c.card(PAN_A);
    let (_, mut b) = c.card(PAN_B);
    let ea = c.enroll(&mut a, &pan_a, None, T0);
    // Someone with write access to the store copies A's whole service onto B.
    b.svc = a.svc.clone();
    let now = T0 + 5 * SEC;
    assert_eq!(
        c.second(&mut b, &ea.app.second_at(now), now),
        Verdict::WrongPassword
    );
    assert_eq!(
        c.second(&mut a, &ea.app.second_at(now), now),
        Verdict::Approved
    );
}

#[test]
fn first_and_second_passwords_are_independent() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 5 * SEC);
    let now = T0 + 5 * SEC;
    let mut k = card.clone();
    assert_eq!(
        c.first(&mut k, &e.app.first_at(now), now),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut k, &e.app.second_at(now), now),
        Verdict::Approved
    );
    let t = k.svc.token.as_ref().unwrap();
    assert_eq!(t.last_step_first, Some(e.app.step(now)));
    assert_eq!(t.last_step_second, Some(e.app.step(now)));
    // The other order.
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now),
        Verdict::Approved
    );
    assert_eq!(card.svc.token.as_ref().unwrap().last_step_first, None);
    assert_eq!(
        c.first(&mut card, &e.app.first_at(now), now),
        Verdict::Approved
    );
    // The two keys differ.
    assert_ne!(e.app.pk.first.as_bytes(), e.app.pk.second.as_bytes());
}

#[test]
fn first_password_has_4_digits_and_second_8() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 5 * SEC);
    let now = T0 + 5 * SEC;
    let first = e.app.first_at(now);
    let second = e.app.second_at(now);
    assert_eq!(first.len(), 4);
    assert_eq!(second.len(), 8);
    // Each is refused as the other kind, and is not used up by that.
    let mut k = card.clone();
    assert_eq!(c.second(&mut k, &first, now), Verdict::WrongPassword);
    assert_eq!(c.first(&mut k, &second, now), Verdict::WrongPassword);
    // The last 4 digits of the second password are no first password either.
    let tail = &second[4..];
    if tail != STATIC_PIN && e.app.steps_around(now).all(|s| e.app.first_of(s) != tail) {
        assert_eq!(c.first(&mut k, &second[4..], now), Verdict::WrongPassword);
    }
    assert_eq!(c.first(&mut k, &first, now), Verdict::Approved);
    assert_eq!(c.second(&mut k, &second, now), Verdict::Approved);
}

#[test]
fn maskan_profile_codes_live_120_s() {
    let c = Ctx::maskan();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    assert_eq!(e.token.step_secs, 120);
    let s = e.app.step(T0);
    assert_eq!(e.app.start(s), T0);
    assert_eq!(e.app.end(s), T0 + 120 * SEC);
    let code = e.app.second_of(s);
    let mut k = card.clone();
    assert_eq!(c.second(&mut k, &code, T0 + 119 * SEC), Verdict::Approved);
    let mut k = card.clone();
    assert_eq!(c.second(&mut k, &code, T0 + 129 * SEC), Verdict::Approved);
    assert_eq!(
        c.second(&mut card, &code, T0 + 130 * SEC),
        Verdict::ExpiredPassword
    );
}

// ---------------------------------------------------------------------------------------------
// R5: lockout
// ---------------------------------------------------------------------------------------------

#[test]
fn five_failures_in_the_window_lock_the_service() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let wrong = e.app.wrong_second(T0);
    for i in 0..4 {
        assert_eq!(
            c.second(&mut card, &wrong, T0 + i * HOUR),
            Verdict::WrongPassword
        );
        assert!(!card.svc.locked);
        assert_eq!(card.effective(T0 + i * HOUR).1, ServiceState::Active);
    }
    let fifth = T0 + 4 * HOUR;
    assert_eq!(c.second(&mut card, &wrong, fifth), Verdict::WrongPassword);
    assert!(card.svc.locked);
    assert_eq!(card.effective(fifth), (Mode::App, ServiceState::Locked));
    assert!(card.svc.token.is_none(), "R5: the old token is dead");
    assert!(card.svc.activation.is_none());
    assert!(card.svc.sms.is_none());
    assert_eq!(card.recent_failures(fifth, &c.policy), 5);
    // Afterwards even the right code is refused.
    let now = fifth + SEC;
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now),
        Verdict::Locked
    );
    assert_eq!(
        c.first(&mut card, &e.app.first_at(now), now),
        Verdict::Locked
    );
    assert_eq!(c.first(&mut card, STATIC_PIN, now), Verdict::Locked);
    assert_eq!(c.second(&mut card, STATIC_SECOND, now), Verdict::Locked);
    // Still locked long after the window.
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now + 30 * DAY), now + 30 * DAY),
        Verdict::Locked
    );
    assert_eq!(Verdict::Locked.response_code(), "75");
}

#[test]
fn four_failures_then_the_window_passes_does_not_lock() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let wrong = e.app.wrong_second(T0);
    for i in 0..4 {
        assert_eq!(c.second(&mut card, &wrong, T0 + i), Verdict::WrongPassword);
    }
    assert_eq!(card.recent_failures(T0 + 3, &c.policy), 4);
    // The window is 24 h: a failure at T0 + 3 no longer counts at T0 + 3 + 24 h.
    let later = T0 + 3 + DAY;
    assert_eq!(card.recent_failures(later, &c.policy), 0);
    let wrong = e.app.wrong_second(later);
    assert_eq!(c.second(&mut card, &wrong, later), Verdict::WrongPassword);
    assert!(!card.svc.locked);
    assert_eq!(card.recent_failures(later, &c.policy), 1);
    assert_eq!(card.effective(later).1, ServiceState::Active);
    assert_eq!(
        c.second(&mut card, &e.app.second_at(later + 1), later + 1),
        Verdict::Approved
    );
}

#[test]
fn every_declined_reason_counts_toward_the_lockout() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let now = T0 + 5 * SEC;
    let code = e.app.second_at(now);
    // A code of three steps ago, never used: expired.
    let old = e.app.second_of(e.app.step(T0) - 3);
    assert_eq!(c.second(&mut card, &old, now), Verdict::ExpiredPassword);
    assert_eq!(c.second(&mut card, &code, now + 1), Verdict::Approved);
    assert_eq!(c.second(&mut card, &code, now + 2), Verdict::Replayed);
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, now + 3),
        Verdict::StaticPasswordDisabled
    );
    assert_eq!(
        c.first(&mut card, &e.app.wrong_first(now), now + 4),
        Verdict::WrongPassword
    );
    assert!(!card.svc.locked);
    assert_eq!(card.recent_failures(now + 4, &c.policy), 4);
    assert_eq!(
        c.second(&mut card, &e.app.wrong_second(now), now + 5),
        Verdict::WrongPassword
    );
    assert!(card.svc.locked);
    for v in [
        Verdict::WrongPassword,
        Verdict::Replayed,
        Verdict::ExpiredPassword,
        Verdict::StaticPasswordDisabled,
        Verdict::WrongTransaction,
    ] {
        assert_eq!(v.response_code(), "55");
    }
}

#[test]
fn sms_failures_lock_and_kill_the_fixed_part() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    for i in 0..5 {
        c.second(&mut card, "00000000", T0 + i);
    }
    if format!("{fixed}{var}") == "00000000" {
        return; // one chance in 10^8: the right password was typed.
    }
    assert_eq!(card.effective(T0 + 5), (Mode::Sms, ServiceState::Locked));
    assert!(card.svc.sms.is_none());
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + 6),
        Verdict::Locked
    );
}

/// Locks `card` (app token) with five wrong second passwords at `now`.
fn lock(c: &Ctx, card: &mut CardRecord, e: &Enrolled, now: i64) {
    let wrong = e.app.wrong_second(now);
    for i in 0..5 {
        c.second(card, &wrong, now + i);
    }
    assert_eq!(card.effective(now + 5).1, ServiceState::Locked);
}

#[test]
fn atm_activation_unlocks_and_resets_failures() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    lock(&c, &mut card, &e, T0);
    let now = T0 + HOUR;
    // The static PIN still opens the ATM, where the holder activates again.
    assert_eq!(c.pin(&mut card, STATIC_PIN, now), Ok(()));

    let mut app = card.clone();
    c.activate_app(&mut app, &pan, now);
    assert!(!app.svc.locked);
    assert!(app.svc.failures.is_empty());
    assert_eq!(app.recent_failures(now, &c.policy), 0);
    assert_eq!(app.effective(now), (Mode::App, ServiceState::Pending));
    // The old token stays dead: a fresh enrollment gives a new one.
    assert_eq!(
        c.second(&mut app, &e.app.second_at(now), now),
        Verdict::WrongPassword
    );
    // A lock never brings the static second password back (module doc).
    assert_eq!(
        c.second(&mut app, STATIC_SECOND, now),
        Verdict::StaticPasswordDisabled
    );
    let e2 = c.enroll(&mut app, &pan, None, now + SEC);
    assert_ne!(e2.token.id, e.token.id);
    assert_eq!(
        c.second(&mut app, &e2.app.second_at(now + 2 * SEC), now + 2 * SEC),
        Verdict::Approved
    );

    let mut sms = card.clone();
    let fixed = c.activate_sms(&mut sms);
    assert!(!sms.svc.locked);
    assert!(sms.svc.failures.is_empty());
    assert_eq!(sms.effective(now), (Mode::Sms, ServiceState::Active));
    let (var, _) = c.variable(&mut sms, now);
    assert_eq!(
        c.second(&mut sms, &format!("{fixed}{var}"), now + SEC),
        Verdict::Approved
    );
}

#[test]
fn deactivate_unlocks() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    lock(&c, &mut card, &e, T0);
    card.deactivate();
    assert!(!card.svc.locked);
    assert!(card.svc.failures.is_empty());
    assert_eq!(
        card.effective(T0 + HOUR),
        (Mode::None, ServiceState::Inactive)
    );
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + HOUR),
        Verdict::Approved
    );
}

// ---------------------------------------------------------------------------------------------
// R10, R11, card expiry
// ---------------------------------------------------------------------------------------------

#[test]
fn deactivate_brings_the_static_second_password_back() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let mut app = card.clone();
    let e = c.enroll(&mut app, &pan, None, T0);
    assert_eq!(
        c.second(&mut app, STATIC_SECOND, T0),
        Verdict::StaticPasswordDisabled
    );
    app.deactivate();
    assert_eq!(app.effective(T0), (Mode::None, ServiceState::Inactive));
    assert!(app.svc.token.is_none());
    assert!(!app.svc.static_second_disabled);
    assert_eq!(c.second(&mut app, STATIC_SECOND, T0 + 1), Verdict::Approved);
    assert_eq!(
        c.second(&mut app, &e.app.second_at(T0 + 2), T0 + 2),
        Verdict::WrongPassword
    );

    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    card.deactivate();
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert!(card.svc.sms.is_none());
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + 1),
        Verdict::Approved
    );
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + 2),
        Verdict::WrongPassword
    );

    // From pending too.
    let (_, mut pending) = c.card(PAN_A);
    c.activate_app(&mut pending, &pan, T0);
    pending.deactivate();
    assert_eq!(pending.effective(T0), (Mode::None, ServiceState::Inactive));
    assert!(pending.svc.activation.is_none());
}

#[test]
fn blocked_second_password_is_refused_before_anything_else() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll_distinct(&mut card, &pan, T0, T0 + 5 * SEC);
    card.second_blocked = true;
    let now = T0 + 5 * SEC;
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now),
        Verdict::SecondPasswordBlocked
    );
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, now),
        Verdict::SecondPasswordBlocked
    );
    assert_eq!(
        c.second(&mut card, &e.app.wrong_second(now), now),
        Verdict::SecondPasswordBlocked
    );
    // Nothing was counted nor consumed.
    assert_eq!(card.recent_failures(now, &c.policy), 0);
    assert_eq!(card.svc.token.as_ref().unwrap().last_step_second, None);
    // The first password is unaffected.
    assert_eq!(
        c.first(&mut card, &e.app.first_at(now), now),
        Verdict::Approved
    );
    assert_eq!(c.first(&mut card, STATIC_PIN, now), Verdict::Approved);
    // Before the expiry and lock checks too.
    let exp = card.expiry.expires_at_ms();
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, exp),
        Verdict::SecondPasswordBlocked
    );
    let mut locked = card.clone();
    locked.second_blocked = false;
    lock(&c, &mut locked, &e, now + HOUR);
    locked.second_blocked = true;
    assert_eq!(
        c.second(&mut locked, STATIC_SECOND, now + 2 * HOUR),
        Verdict::SecondPasswordBlocked
    );
    // Only a branch unblocks (R11): an ATM deactivation does not.
    card.deactivate();
    assert!(card.second_blocked);
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, now),
        Verdict::SecondPasswordBlocked
    );
    assert_eq!(Verdict::SecondPasswordBlocked.response_code(), "57");
}

#[test]
fn expired_card_is_refused_and_not_counted() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let exp = card.expiry.expires_at_ms();
    assert_eq!(exp, Expiry::parse("3512").unwrap().expires_at_ms());
    let mut before = card.clone();
    assert_eq!(
        c.second(&mut before, &e.app.second_at(exp - SEC), exp - SEC),
        Verdict::Approved
    );
    for i in 0..6 {
        assert_eq!(
            c.second(&mut card, &e.app.second_at(exp + i), exp + i),
            Verdict::ExpiredCard
        );
        assert_eq!(
            c.first(&mut card, STATIC_PIN, exp + i),
            Verdict::ExpiredCard
        );
    }
    assert!(!card.svc.locked);
    assert_eq!(card.recent_failures(exp + 6, &c.policy), 0);
    assert_eq!(Verdict::ExpiredCard.response_code(), "54");
}

// ---------------------------------------------------------------------------------------------
// R12: mobile number change
// ---------------------------------------------------------------------------------------------

#[test]
fn revoke_mobile_kills_the_app_token_issued_on_the_old_number() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    assert_eq!(card.revoke_mobile(&registered()), 1);
    assert!(card.svc.token.is_none());
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + SEC), T0 + SEC),
        Verdict::WrongPassword
    );
    // The static second password does not come back (module doc).
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + SEC),
        Verdict::StaticPasswordDisabled
    );
    // Nothing left to revoke.
    assert_eq!(card.revoke_mobile(&registered()), 0);
}

#[test]
fn revoke_mobile_kills_the_sms_service_issued_on_the_old_number() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    assert_eq!(card.revoke_mobile(&registered()), 1);
    assert!(card.svc.sms.is_none());
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert!(card.issue_variable_part(T0, &c.policy, &c.keys).is_none());
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + SEC),
        Verdict::WrongPassword
    );
}

#[test]
fn revoke_mobile_leaves_a_card_on_another_number_untouched() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    // This card's token was issued on OTHER_MOBILE.
    let codes = card
        .activate_app(
            &pan,
            &mobile(OTHER_MOBILE),
            &mobile(OTHER_MOBILE),
            T0,
            &c.policy,
            &c.keys,
        )
        .unwrap();
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            T0,
        )
        .unwrap();
    let e = c.confirm(&mut card, s, T0).unwrap();
    assert_eq!(e.token.mobile, mobile(OTHER_MOBILE));
    let before = card.clone();
    assert_eq!(card.revoke_mobile(&registered()), 0);
    assert_eq!(card, before);
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + SEC), T0 + SEC),
        Verdict::Approved
    );
    // An SMS card on another number, too.
    let (_, mut sms) = c.card(PAN_B);
    sms.activate_sms(
        &mobile(OTHER_MOBILE),
        &mobile(OTHER_MOBILE),
        &c.policy,
        &c.keys,
    )
    .unwrap();
    let before = sms.clone();
    assert_eq!(sms.revoke_mobile(&registered()), 0);
    assert_eq!(sms, before);
}

#[test]
fn revoke_mobile_drops_a_pending_activation_on_the_old_number() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let codes = c.activate_app(&mut card, &pan, T0);
    assert_eq!(card.revoke_mobile(&registered()), 0);
    assert!(card.svc.activation.is_none());
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    let r = c.start(
        &mut card,
        &pan,
        &codes.receipt_code,
        &codes.sms_code,
        None,
        T0,
    );
    assert_eq!(r.err(), Some(AppRefusal::NoPendingActivation));
}

// ---------------------------------------------------------------------------------------------
// ATM: PIN and mobile checks
// ---------------------------------------------------------------------------------------------

#[test]
fn atm_accepts_the_static_pin() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let before = card.clone();
    assert_eq!(c.pin(&mut card, STATIC_PIN, T0), Ok(()));
    assert_eq!(card, before);
}

#[test]
fn atm_counts_a_wrong_pin() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    assert_eq!(c.pin(&mut card, "9999", T0), Err(AtmRefusal::WrongPin));
    assert_eq!(card.svc.pin_failures, vec![T0]);
    // Counted apart from the R5 failures.
    assert_eq!(card.recent_failures(T0, &c.policy), 0);
    assert!(card.svc.failures.is_empty());
    assert_eq!(c.pin(&mut card, STATIC_PIN, T0 + 1), Ok(()));
}

#[test]
fn atm_refuses_after_three_wrong_pins_until_the_window_passes() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    for i in 0..3 {
        assert_eq!(c.pin(&mut card, "9999", T0 + i), Err(AtmRefusal::WrongPin));
    }
    let last = T0 + 2;
    for now in [last + 1, last + HOUR, T0 + DAY - 1] {
        assert_eq!(
            c.pin(&mut card, STATIC_PIN, now),
            Err(AtmRefusal::PinTriesExceeded),
            "at {now}"
        );
    }
    // Refusals are not counted as further tries.
    assert_eq!(card.svc.pin_failures.len(), 3);
    assert_eq!(c.pin(&mut card, STATIC_PIN, last + DAY), Ok(()));
}

#[test]
fn atm_accepts_a_dynamic_first_password_once() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let now = T0 + 5 * SEC;
    let e = c.enroll_distinct(&mut card, &pan, T0, now);
    let code = e.app.first_at(now);
    assert_eq!(c.pin(&mut card, &code, now), Ok(()));
    assert_eq!(
        card.svc.token.as_ref().unwrap().last_step_first,
        Some(e.app.step(now))
    );
    // Used up: the same code again is a wrong PIN, and a payment refuses it as replayed.
    assert_eq!(c.pin(&mut card, &code, now + 1), Err(AtmRefusal::WrongPin));
    assert_eq!(card.svc.pin_failures, vec![now + 1]);
    assert_eq!(c.first(&mut card, &code, now + 2), Verdict::Replayed);
    // The static PIN still opens the ATM.
    assert_eq!(c.pin(&mut card, STATIC_PIN, now + 3), Ok(()));
}

#[test]
fn atm_refuses_the_static_pin_beside_a_dynamic_one_when_policy_says_so() {
    let mut policy = Policy::default();
    policy.otp.static_pin_with_dynamic = false;
    let c = Ctx::with_policy(policy);
    let (pan, mut card) = c.card(PAN_A);
    // No dynamic first password yet: the static PIN opens the ATM.
    assert_eq!(c.pin(&mut card, STATIC_PIN, T0), Ok(()));
    let now = T0 + 5 * SEC;
    let e = c.enroll_distinct(&mut card, &pan, T0, now);
    assert_eq!(c.pin(&mut card, STATIC_PIN, now), Err(AtmRefusal::WrongPin));
    assert_eq!(c.pin(&mut card, &e.app.first_at(now), now + 1), Ok(()));
    // Once the token is gone (a lock), the static PIN is the only way back in.
    lock(&c, &mut card, &e, now + HOUR);
    assert_eq!(c.pin(&mut card, STATIC_PIN, now + 2 * HOUR), Ok(()));
}

#[test]
fn atm_refuses_an_expired_card() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let exp = card.expiry.expires_at_ms();
    assert_eq!(c.pin(&mut card, STATIC_PIN, exp - 1), Ok(()));
    let before = card.clone();
    assert_eq!(
        c.pin(&mut card, STATIC_PIN, exp),
        Err(AtmRefusal::ExpiredCard)
    );
    assert_eq!(c.pin(&mut card, "9999", exp), Err(AtmRefusal::ExpiredCard));
    assert_eq!(card, before);
}

#[test]
fn activate_app_with_another_mobile_is_refused_and_changes_nothing() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let other = mobile(OTHER_MOBILE);
    let before = card.clone();
    let r = card.activate_app(&pan, &registered(), &other, T0, &c.policy, &c.keys);
    assert_eq!(r.err(), Some(AtmRefusal::MobileMismatch));
    assert_eq!(card, before);
    // An active card keeps its token.
    let e = c.enroll(&mut card, &pan, None, T0);
    let before = card.clone();
    let r = card.activate_app(&pan, &registered(), &other, T0 + SEC, &c.policy, &c.keys);
    assert!(matches!(r, Err(AtmRefusal::MobileMismatch)));
    assert_eq!(card, before);
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + SEC), T0 + SEC),
        Verdict::Approved
    );
}

#[test]
fn activate_sms_with_another_mobile_is_refused_and_changes_nothing() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let other = mobile(OTHER_MOBILE);
    let before = card.clone();
    let r = card.activate_sms(&registered(), &other, &c.policy, &c.keys);
    assert!(matches!(r, Err(AtmRefusal::MobileMismatch)));
    assert_eq!(card, before);
    c.enroll(&mut card, &pan, None, T0);
    let before = card.clone();
    let r = card.activate_sms(&registered(), &other, &c.policy, &c.keys);
    assert!(matches!(r, Err(AtmRefusal::MobileMismatch)));
    assert_eq!(card, before);
}

// ---------------------------------------------------------------------------------------------
// Token removal by the app
// ---------------------------------------------------------------------------------------------

#[test]
fn removal_with_the_right_proof_removes_the_token() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let ch = card.removal_challenge(&e.token.id, T0, &c.policy).unwrap();
    assert_eq!(ch.nonce.len(), 32);
    assert_eq!(ch.expires_at, T0 + 300 * SEC);
    let proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &ch.nonce);
    assert_eq!(
        card.remove_token(&e.token.id, &ch.nonce, &proof, T0 + SEC, &c.keys),
        Ok(())
    );
    assert!(card.svc.token.is_none());
    assert_eq!(card.svc.mode, Mode::None);
    assert_eq!(
        card.effective(T0 + SEC),
        (Mode::None, ServiceState::Inactive)
    );
    assert_eq!(
        c.second(&mut card, &e.app.second_at(T0 + 2 * SEC), T0 + 2 * SEC),
        Verdict::WrongPassword
    );
    // Removing the token never brings the static second password back (module doc).
    assert!(card.svc.static_second_disabled);
    assert_eq!(
        c.second(&mut card, STATIC_SECOND, T0 + 2 * SEC),
        Verdict::StaticPasswordDisabled
    );
}

#[test]
fn removal_with_a_wrong_proof_is_refused_and_uses_up_the_challenge() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let ch = card.removal_challenge(&e.token.id, T0, &c.policy).unwrap();
    let proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &ch.nonce);
    let mut bad = proof.clone();
    bad[0] ^= 1;
    assert_eq!(
        card.remove_token(&e.token.id, &ch.nonce, &bad, T0 + SEC, &c.keys),
        Err(AppRefusal::BadProof)
    );
    assert!(card.svc.token.as_ref().unwrap().removal.is_none());
    // The right proof for the same challenge comes too late.
    assert_eq!(
        card.remove_token(&e.token.id, &ch.nonce, &proof, T0 + 2 * SEC, &c.keys),
        Err(AppRefusal::BadProof)
    );
    assert_eq!(
        card.effective(T0 + 2 * SEC),
        (Mode::App, ServiceState::Active)
    );
    // A proof over another nonce than the challenge's: refused, challenge used up too.
    let ch2 = card
        .removal_challenge(&e.token.id, T0 + 3 * SEC, &c.policy)
        .unwrap();
    let other_nonce = vec![0u8; 32];
    let other_proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &other_nonce);
    assert_eq!(
        card.remove_token(
            &e.token.id,
            &other_nonce,
            &other_proof,
            T0 + 4 * SEC,
            &c.keys
        ),
        Err(AppRefusal::BadProof)
    );
    let proof2 = pooya_enroll::removal_proof(&e.seed, &e.token.id, &ch2.nonce);
    assert_eq!(
        card.remove_token(&e.token.id, &ch2.nonce, &proof2, T0 + 5 * SEC, &c.keys),
        Err(AppRefusal::BadProof)
    );
    assert!(card.svc.token.is_some());
}

#[test]
fn removal_without_a_challenge_is_bad_proof() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let nonce = vec![1u8; 32];
    let proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &nonce);
    assert_eq!(
        card.remove_token(&e.token.id, &nonce, &proof, T0, &c.keys),
        Err(AppRefusal::BadProof)
    );
    assert!(card.svc.token.is_some());
}

#[test]
fn removal_after_the_challenge_expired_is_refused() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let ch = card.removal_challenge(&e.token.id, T0, &c.policy).unwrap();
    let proof = pooya_enroll::removal_proof(&e.seed, &e.token.id, &ch.nonce);
    let mut in_time = card.clone();
    assert_eq!(
        in_time.remove_token(&e.token.id, &ch.nonce, &proof, ch.expires_at - 1, &c.keys),
        Ok(())
    );
    assert_eq!(
        card.remove_token(&e.token.id, &ch.nonce, &proof, ch.expires_at, &c.keys),
        Err(AppRefusal::ChallengeExpired)
    );
    assert!(card.svc.token.is_some());
    assert!(card.svc.token.as_ref().unwrap().removal.is_none());
}

#[test]
fn removal_of_an_unknown_token_is_refused() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    assert_eq!(
        card.removal_challenge("nope", T0, &c.policy).err(),
        Some(AppRefusal::UnknownToken)
    );
    let e = c.enroll(&mut card, &pan, None, T0);
    let before = card.clone();
    assert_eq!(
        card.removal_challenge("nope", T0, &c.policy).err(),
        Some(AppRefusal::UnknownToken)
    );
    assert_eq!(card, before);
    let ch = card.removal_challenge(&e.token.id, T0, &c.policy).unwrap();
    let proof = pooya_enroll::removal_proof(&e.seed, "nope", &ch.nonce);
    assert_eq!(
        card.remove_token("nope", &ch.nonce, &proof, T0, &c.keys),
        Err(AppRefusal::UnknownToken)
    );
    assert!(card.svc.token.as_ref().unwrap().removal.is_some());
}

// ---------------------------------------------------------------------------------------------
// Activating again replaces everything (API.md)
// ---------------------------------------------------------------------------------------------

#[test]
fn activating_the_app_again_kills_the_old_token() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    let old = c.enroll(&mut card, &pan, None, T0);
    let now = T0 + 5 * SEC;
    c.activate_app(&mut card, &pan, now);
    assert!(card.svc.token.is_none());
    assert_eq!(card.effective(now), (Mode::App, ServiceState::Pending));
    assert_eq!(
        c.second(&mut card, &old.app.second_at(now), now),
        Verdict::WrongPassword
    );
    let new = c.enroll(&mut card, &pan, None, now);
    assert_ne!(new.token.id, old.token.id);
    let later = now + 60 * SEC;
    assert_eq!(
        c.second(&mut card, &old.app.second_at(later), later),
        Verdict::WrongPassword
    );
    assert_eq!(
        c.second(&mut card, &new.app.second_at(later), later),
        Verdict::Approved
    );
    // Removal by the old token id is refused.
    assert_eq!(
        card.removal_challenge(&old.token.id, later, &c.policy)
            .err(),
        Some(AppRefusal::UnknownToken)
    );
}

#[test]
fn changing_channel_replaces_the_old_credentials() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    // App → SMS: the token dies.
    let e = c.enroll(&mut card, &pan, None, T0);
    let fixed = c.activate_sms(&mut card);
    assert!(card.svc.token.is_none());
    assert_eq!(card.effective(T0), (Mode::Sms, ServiceState::Active));
    let now = T0 + 5 * SEC;
    assert_eq!(
        c.second(&mut card, &e.app.second_at(now), now),
        Verdict::WrongPassword
    );
    // SMS → app: the fixed part dies.
    let (var, _) = c.variable(&mut card, now);
    c.activate_app(&mut card, &pan, now);
    assert!(card.svc.sms.is_none());
    assert!(card.issue_variable_part(now, &c.policy, &c.keys).is_none());
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), now + 1),
        Verdict::WrongPassword
    );
    // SMS → SMS: a new fixed part.
    let mut again = card.clone();
    let f1 = c.activate_sms(&mut again);
    let (v1, _) = c.variable(&mut again, now);
    let f2 = c.activate_sms(&mut again);
    assert!(again.svc.sms.as_ref().unwrap().variable.is_none());
    let (v2, _) = c.variable(&mut again, now + 1);
    if f1 != f2 {
        assert_eq!(
            c.second(&mut again, &format!("{f1}{v2}"), now + 2),
            Verdict::WrongPassword
        );
    }
    if v1 != v2 {
        assert_eq!(
            c.second(&mut again, &format!("{f2}{v1}"), now + 2),
            Verdict::WrongPassword
        );
    }
    assert_eq!(
        c.second(&mut again, &format!("{f2}{v2}"), now + 3),
        Verdict::Approved
    );
}

// ---------------------------------------------------------------------------------------------
// The stored document
// ---------------------------------------------------------------------------------------------

/// Every string and number of a JSON value, depth first.
fn leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            leaves(x, out)
        }),
        _ => {}
    }
}

/// Round-trips the service through JSON and checks no secret appears in it in clear.
fn assert_stored_safely(svc: &DynamicService, secrets: &[&str], seed: Option<&Seed>) {
    let json = serde_json::to_string(svc).unwrap();
    let back: DynamicService = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, svc);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut all = Vec::new();
    leaves(&value, &mut all);
    // Byte fields are base64 text, never arrays of bytes (the failure times are arrays of
    // timestamps, far above 255).
    fn no_byte_arrays(v: &serde_json::Value) {
        match v {
            serde_json::Value::Array(a) => {
                let bytes = a.iter().filter(|x| x.as_u64().is_some_and(|n| n <= 255));
                assert_eq!(bytes.count(), 0, "a byte array in clear");
                a.iter().for_each(no_byte_arrays);
            }
            serde_json::Value::Object(o) => o.values().for_each(no_byte_arrays),
            _ => {}
        }
    }
    no_byte_arrays(&value);
    for s in secrets {
        for leaf in &all {
            // Numbers (timestamps) may contain any digit run by chance; codes would be strings.
            let is_number = leaf.bytes().all(|b| b.is_ascii_digit() || b == b'-');
            assert!(
                (is_number && leaf.len() > s.len()) || !leaf.contains(s),
                "secret {s:?} appears in the stored JSON {json}"
            );
        }
    }
    if let Some(seed) = seed {
        let bytes = seed.as_bytes();
        for enc in [
            data_encoding::BASE64.encode(bytes),
            data_encoding::BASE64URL_NOPAD.encode(bytes),
            data_encoding::HEXLOWER.encode(bytes),
            data_encoding::HEXUPPER.encode(bytes),
        ] {
            assert!(!json.contains(&enc), "the seed appears in clear");
        }
    }
}

/// A row as the code before this document format wrote it: every optional value as `null`, an
/// empty `txn_codes` as `[]` (an app token with a removal challenge; sealed values shortened).
const OLD_ROW_APP: &str = r#"{"mode":"app","locked":false,"activation":null,"token":{"id":"t1","seed_sealed":"AAECAw==","mobile":"09121234567","algorithm":"SHA256","step_secs":60,"first_digits":4,"second_digits":8,"last_step_first":null,"last_step_second":29833333,"issued_at":1790000000000,"removal":{"nonce":"BAUG","expires_at":1790000060000}},"sms":null,"static_second_disabled":true,"failures":[1790000000001],"pin_failures":[],"txn_codes":[],"hardware":null}"#;

/// Older still: before transaction codes and hardware tokens (no such keys), an SMS service.
const OLD_ROW_SMS: &str = r#"{"mode":"sms","locked":false,"activation":null,"token":null,"sms":{"mobile":"09121234567","fixed_mac":"AAEC","variable":null},"static_second_disabled":true,"failures":[],"pin_failures":[1,2]}"#;

/// A hardware token as the code before wrote it.
const OLD_ROW_HARDWARE: &str = r#"{"mode":"app","locked":false,"activation":null,"token":null,"sms":null,"static_second_disabled":true,"failures":[],"pin_failures":[],"txn_codes":[],"hardware":{"id":"h1","serial":"S1","kind":"totp","key_sealed":"AAECAwQF","algorithm":"SHA1","digits":8,"step_secs":60,"counter":0,"last_step":null,"resync_counter":null,"imported_at":1790000000000}}"#;

#[test]
fn old_rows_still_parse_and_are_written_leaner() {
    let mobile = Mobile::parse("09121234567").unwrap();
    let app: DynamicService = serde_json::from_str(OLD_ROW_APP).unwrap();
    let t = app.token.as_ref().unwrap();
    assert_eq!(t.seed_sealed, [0, 1, 2, 3]);
    assert_eq!(t.mobile, mobile);
    assert_eq!(
        (t.last_step_first, t.last_step_second),
        (None, Some(29_833_333))
    );
    assert_eq!(t.removal.as_ref().unwrap().nonce, [4, 5, 6]);
    assert_eq!(app.failures, [1_790_000_000_001]);
    assert!(app.activation.is_none() && app.sms.is_none() && app.hardware.is_none());

    let sms: DynamicService = serde_json::from_str(OLD_ROW_SMS).unwrap();
    assert_eq!(sms.mode, Mode::Sms);
    let s = sms.sms.as_ref().unwrap();
    assert_eq!(
        (s.fixed_mac.as_slice(), &s.mobile),
        (&[0u8, 1, 2][..], &mobile)
    );
    assert!(s.variable.is_none() && sms.txn_codes.is_empty() && sms.hardware.is_none());
    assert_eq!(sms.pin_failures, [1, 2]);

    let hw: DynamicService = serde_json::from_str(OLD_ROW_HARDWARE).unwrap();
    let h = hw.hardware.as_ref().unwrap();
    assert_eq!(
        (h.kind, h.key_sealed.as_slice()),
        (HardwareKind::Totp, &[0u8, 1, 2, 3, 4, 5][..])
    );
    assert_eq!((h.last_step, h.resync_counter), (None, None));

    for (old, svc) in [
        (OLD_ROW_APP, &app),
        (OLD_ROW_SMS, &sms),
        (OLD_ROW_HARDWARE, &hw),
    ] {
        let new = serde_json::to_string(svc).unwrap();
        // No `null` nor empty `txn_codes` written, and the same value read back.
        assert!(
            !new.contains("null") && !new.contains("\"txn_codes\":[]"),
            "{new}"
        );
        assert!(new.len() < old.len());
        assert_eq!(&serde_json::from_str::<DynamicService>(&new).unwrap(), svc);
        // What a reader of the old format requires is there: the fields that were never
        // optional. (Leaving out optional fields changes only `Serialize`; `Deserialize`, the
        // reader, is the old one, which the round trip above exercises.)
        let v: serde_json::Value = serde_json::from_str(&new).unwrap();
        for key in [
            "mode",
            "locked",
            "static_second_disabled",
            "failures",
            "pin_failures",
        ] {
            assert!(v.get(key).is_some(), "{key} in {new}");
        }
    }
    // A value that is there is written as before.
    let new = serde_json::to_string(&hw).unwrap();
    assert!(new.contains(r#""key_sealed":"AAECAwQF""#), "{new}");
    // Bad base64 and a bad mobile number are still refused.
    assert!(serde_json::from_str::<DynamicService>(&OLD_ROW_SMS.replace("AAEC", "AA=C")).is_err());
    assert!(
        serde_json::from_str::<DynamicService>(&OLD_ROW_SMS.replace("09121234567", "0812"))
            .is_err()
    );
}

#[test]
fn dynamic_service_round_trips_without_secrets_in_clear() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    // A fresh card.
    assert_stored_safely(&card.svc, &[STATIC_PIN, STATIC_SECOND], None);

    // Pending, with an enrollment run under way.
    let codes = c.activate_app(&mut card, &pan, T0);
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            T0,
        )
        .unwrap();
    assert_stored_safely(
        &card.svc,
        &[
            codes.receipt_code.as_str(),
            codes.sms_code.as_str(),
            STATIC_SECOND,
        ],
        None,
    );

    // Active, with a removal challenge and a used step.
    let e = c.confirm(&mut card, s, T0).unwrap();
    let now = T0 + 5 * SEC;
    let second = e.app.second_at(now);
    let first = e.app.first_at(now);
    assert_eq!(c.second(&mut card, &second, now), Verdict::Approved);
    card.removal_challenge(&e.token.id, now, &c.policy).unwrap();
    assert_stored_safely(&card.svc, &[second.as_str(), STATIC_SECOND], Some(&e.seed));
    assert_stored_safely(&card.svc, &[first.as_str()], None);

    // SMS with a variable part, and failures recorded.
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, now);
    c.second(&mut card, STATIC_SECOND, now + 1);
    assert_eq!(card.svc.failures.len(), 1);
    assert_stored_safely(
        &card.svc,
        &[
            fixed.as_str(),
            var.as_str(),
            format!("{fixed}{var}").as_str(),
            STATIC_SECOND,
        ],
        None,
    );

    // Locked.
    for i in 0..5 {
        c.second(&mut card, "00000000", now + 2 + i);
    }
    assert!(card.svc.locked);
    assert_stored_safely(&card.svc, &[], None);
    let json = serde_json::to_value(&card.svc).unwrap();
    assert_eq!(json["mode"], "sms");
    assert_eq!(json["locked"], true);
}

// ---------------------------------------------------------------------------------------------
// Verdicts (API.md response codes)
// ---------------------------------------------------------------------------------------------

#[test]
fn verdicts_map_to_the_api_codes_and_reasons() {
    let table = [
        (Verdict::Approved, "00", "approved"),
        (Verdict::UnknownCard, "14", "unknown_card"),
        (Verdict::ExpiredCard, "54", "expired_card"),
        (Verdict::WrongPassword, "55", "wrong_password"),
        (Verdict::Replayed, "55", "replayed"),
        (Verdict::ExpiredPassword, "55", "expired_password"),
        (
            Verdict::StaticPasswordDisabled,
            "55",
            "static_password_disabled",
        ),
        (Verdict::WrongTransaction, "55", "wrong_transaction"),
        (
            Verdict::SecondPasswordBlocked,
            "57",
            "second_password_blocked",
        ),
        (Verdict::Locked, "75", "locked"),
    ];
    for (v, code, reason) in table {
        assert_eq!(v.response_code(), code);
        assert_eq!(v.reason(), reason);
        assert_eq!(Verdict::parse(code, reason), Some(v));
        assert_eq!(v.approved(), v == Verdict::Approved);
    }
    assert_eq!(Verdict::parse("55", "locked"), None);
    assert_eq!(Mode::Sms.as_str(), "sms");
    assert_eq!(ServiceState::Pending.as_str(), "pending");
}

// ---------------------------------------------------------------------------------------------
// R24: transaction codes of the unified SMS
// ---------------------------------------------------------------------------------------------

fn txn(id: &str, amount: i64, merchant: &str) -> Transaction {
    Transaction::new(id, amount, merchant).unwrap()
}

impl Ctx {
    fn issue(&self, card: &mut CardRecord, t: &Transaction, now: i64) -> (String, i64) {
        match card
            .issue_txn_code(t, &registered(), now, &self.policy, &self.keys)
            .unwrap()
        {
            TxnCodeIssue::Issued { code, expires_at } => (code.to_string(), expires_at),
            TxnCodeIssue::AlreadySent { .. } => panic!("expected a new code"),
        }
    }
    fn second_for(&self, card: &mut CardRecord, code: &str, t: &Transaction, now: i64) -> Verdict {
        card.verify_for(
            PasswordKind::Second,
            &typed(code),
            Some(t),
            now,
            &self.policy,
            &self.keys,
        )
    }
}

#[test]
fn txn_code_approves_its_own_transaction_once() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let t = txn("T1", 1_250_000, "Shop");
    let (code, exp) = c.issue(&mut card, &t, T0);
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(exp, T0 + 60 * SEC);
    // The card's mode and state do not change.
    assert_eq!(card.effective(T0), (Mode::None, ServiceState::Inactive));
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
    // R3: once, even for the same amount and merchant under another id.
    let again = txn("T2", 1_250_000, "Shop");
    assert_eq!(
        c.second_for(&mut card, &code, &again, T0 + 2 * SEC),
        Verdict::Replayed
    );
    assert_eq!(card.recent_failures(T0 + 2 * SEC, &c.policy), 1);
    // Not a first password.
    assert_eq!(c.first(&mut card, &code[..4], T0), Verdict::WrongPassword);
}

#[test]
fn txn_code_for_another_transaction_is_wrong_transaction_and_counts() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let t = txn("T1", 1_250_000, "Shop");
    let (code, _) = c.issue(&mut card, &t, T0);
    for (i, other) in [
        txn("T1", 1_250_001, "Shop"),
        txn("T1", 1_250_000, "Shop2"),
        txn("T9", 1_250_000, "Shop"),
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            c.second_for(&mut card, &code, other, T0 + SEC),
            Verdict::WrongTransaction,
            "{other:?}"
        );
        assert_eq!(card.recent_failures(T0 + SEC, &c.policy), i + 1);
    }
    // A verification that names no transaction takes no transaction code.
    assert_eq!(
        c.second(&mut card, &code, T0 + SEC),
        Verdict::WrongTransaction
    );
    // The code still serves its own transaction.
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
}

#[test]
fn txn_code_expires_after_lifetime_plus_tolerance_and_is_forgotten_later() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let t = txn("T1", 5000, "Shop");
    let (code, exp) = c.issue(&mut card, &t, T0);
    let tol = 10 * SEC;
    let mut in_time = card.clone();
    assert_eq!(
        c.second_for(&mut in_time, &code, &t, exp + tol - 1),
        Verdict::Approved
    );
    let mut late = card.clone();
    assert_eq!(
        c.second_for(&mut late, &code, &t, exp + tol),
        Verdict::ExpiredPassword
    );
    // Ten lifetimes on, the card no longer remembers it: merely wrong.
    assert_eq!(
        c.second_for(&mut card, &code, &t, exp + tol + 10 * 60 * SEC),
        Verdict::WrongPassword
    );
    assert!(card.svc.txn_codes.is_empty());
}

#[test]
fn txn_codes_stand_beside_the_app_and_the_sms_channel() {
    let c = Ctx::new();
    // App: the token's code and the transaction code both work, each once.
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    let t = txn("T1", 1000, "Shop");
    let (code, _) = c.issue(&mut card, &t, T0);
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
    let app = e.app.second_at(T0 + SEC);
    let t2 = txn("T2", 1000, "Shop");
    assert_eq!(
        c.second_for(&mut card, &app, &t2, T0 + SEC),
        Verdict::Approved
    );
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    // SMS: the fixed + variable password and the transaction code both work.
    let (_, mut card) = c.card(PAN_B);
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, T0);
    let (code, _) = c.issue(&mut card, &t, T0);
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
    assert_eq!(
        c.second_for(&mut card, &format!("{fixed}{var}"), &t2, T0 + SEC),
        Verdict::Approved
    );
    // No dynamic service: the static second password still works beside it (R9 untouched).
    let (_, mut card) = c.card(PAN_A);
    c.issue(&mut card, &t, T0);
    assert_eq!(
        c.second_for(&mut card, STATIC_SECOND, &t2, T0),
        Verdict::Approved
    );
}

#[test]
fn otp_request_is_refused_for_blocked_locked_or_expired_cards() {
    let c = Ctx::new();
    let t = txn("T1", 1000, "Shop");
    let refused = |card: &mut CardRecord, now| {
        card.issue_txn_code(&t, &registered(), now, &c.policy, &c.keys)
            .err()
    };
    let (_, mut card) = c.card(PAN_A);
    card.second_blocked = true;
    assert_eq!(
        refused(&mut card, T0),
        Some(TxnRefusal::SecondPasswordBlocked)
    );
    let (pan, mut card) = c.card(PAN_A);
    let e = c.enroll(&mut card, &pan, None, T0);
    lock(&c, &mut card, &e, T0);
    assert_eq!(refused(&mut card, T0), Some(TxnRefusal::Locked));
    let (_, mut card) = c.card(PAN_A);
    let after_expiry = card.expiry.expires_at_ms();
    assert_eq!(
        refused(&mut card, after_expiry),
        Some(TxnRefusal::ExpiredCard)
    );
    assert!(card.svc.txn_codes.is_empty());
}

#[test]
fn the_same_transaction_again_sends_nothing_new_within_the_interval() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let t = txn("T1", 1000, "Shop");
    let (code, exp) = c.issue(&mut card, &t, T0);
    match card
        .issue_txn_code(&t, &registered(), T0 + 29 * SEC, &c.policy, &c.keys)
        .unwrap()
    {
        TxnCodeIssue::AlreadySent { expires_at } => assert_eq!(expires_at, exp),
        TxnCodeIssue::Issued { .. } => panic!("nothing new within 30 s"),
    }
    // Another amount under the same id is a conflict.
    let other = txn("T1", 2000, "Shop");
    assert_eq!(
        card.issue_txn_code(&other, &registered(), T0 + SEC, &c.policy, &c.keys)
            .err(),
        Some(TxnRefusal::TxnConflict)
    );
    // After the interval a new code replaces the old one.
    let (new, _) = c.issue(&mut card, &t, T0 + 30 * SEC);
    assert_eq!(card.svc.txn_codes.len(), 1);
    if new != code {
        assert_eq!(
            c.second_for(&mut card.clone(), &code, &t, T0 + 31 * SEC),
            Verdict::WrongPassword
        );
    }
    assert_eq!(
        c.second_for(&mut card, &new, &t, T0 + 31 * SEC),
        Verdict::Approved
    );
    // A used transaction takes no new code.
    assert_eq!(
        card.issue_txn_code(&t, &registered(), T0 + 90 * SEC, &c.policy, &c.keys)
            .err(),
        Some(TxnRefusal::AlreadyVerified)
    );
}

#[test]
fn txn_codes_die_with_a_lock_an_activation_a_deactivation_or_a_mobile_change() {
    let c = Ctx::new();
    let t = txn("T1", 1000, "Shop");
    // Lock by five failures.
    let (pan, mut card) = c.card(PAN_A);
    let (code, _) = c.issue(&mut card, &t, T0);
    for i in 0..5 {
        c.second_for(&mut card, "00000000", &t, T0 + i);
    }
    assert!(card.svc.locked);
    assert!(card.svc.txn_codes.is_empty());
    assert_eq!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Locked
    );
    // An ATM activation replaces everything.
    c.activate_app(&mut card, &pan, T0);
    let (code, _) = c.issue(&mut card, &t, T0);
    c.activate_sms(&mut card);
    assert!(card.svc.txn_codes.is_empty());
    assert_ne!(
        c.second_for(&mut card, &code, &t, T0 + SEC),
        Verdict::Approved
    );
    // Deactivation.
    c.issue(&mut card, &txn("T2", 1000, "Shop"), T0);
    card.deactivate();
    assert!(card.svc.txn_codes.is_empty());
    // R12: a code sent to the old number dies; one sent to another number stays.
    c.issue(&mut card, &txn("T3", 1000, "Shop"), T0);
    card.issue_txn_code(
        &txn("T4", 1000, "Shop"),
        &mobile(OTHER_MOBILE),
        T0,
        &c.policy,
        &c.keys,
    )
    .unwrap();
    card.revoke_mobile(&registered());
    assert_eq!(card.svc.txn_codes.len(), 1);
    assert_eq!(card.svc.txn_codes[0].txn_id, "T4");
}

#[test]
fn a_card_keeps_a_bounded_number_of_txn_codes() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let mut codes = Vec::new();
    for i in 0..(MAX_TXN_CODES + 3) {
        let t = txn(&format!("T{i}"), 1000, "Shop");
        codes.push((c.issue(&mut card, &t, T0 + i as i64).0, t));
    }
    assert_eq!(card.svc.txn_codes.len(), MAX_TXN_CODES);
    assert_eq!(card.svc.txn_codes[0].txn_id, "T3");
    let (newest, t) = codes.last().unwrap();
    assert_eq!(
        c.second_for(&mut card, newest, t, T0 + SEC),
        Verdict::Approved
    );
}

#[test]
fn txn_codes_are_stored_as_macs_only() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let (code, _) = c.issue(&mut card, &txn("T1", 1_250_000, "Shop"), T0);
    assert_stored_safely(&card.svc, &[&code], None);
    // Documents stored before transaction codes existed still load.
    let mut v = serde_json::to_value(&card.svc).unwrap();
    v.as_object_mut().unwrap().remove("txn_codes");
    let old: DynamicService = serde_json::from_value(v).unwrap();
    assert!(old.txn_codes.is_empty());
}

#[test]
fn more_digits_of_the_number_tell_cards_apart() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A); // 6280231234567898
    assert!(card.number_ends_with("7898", &c.keys));
    // Without the keyed hashes (a card stored before them) only 4 digits match.
    assert!(!card.number_ends_with("67898", &c.keys));
    card.set_pan_tails(&pan, &c.keys);
    for digits in ["7898", "67898", "567898", "4567898", "34567898"] {
        assert!(card.number_ends_with(digits, &c.keys), "{digits}");
    }
    for digits in ["7899", "77898", "24567898", "234567898", "898", "", "abcd"] {
        assert!(!card.number_ends_with(digits, &c.keys), "{digits}");
    }
    // The digits themselves are not kept.
    let hex: Vec<String> = card
        .tail_macs
        .iter()
        .map(|m| data_encoding::HEXLOWER.encode(m))
        .collect();
    assert_eq!(hex.len(), 4);
    assert!(hex.iter().all(|h| !h.contains("7898")));
}

#[test]
fn a_repeated_sms_request_within_the_interval_is_noticed() {
    let c = Ctx::new();
    let (_, mut card) = c.card(PAN_A);
    let fixed = c.activate_sms(&mut card);
    assert!(!card.variable_part_recently_sent(T0, &c.policy));
    let (var, _) = c.variable(&mut card, T0);
    assert!(card.variable_part_recently_sent(T0 + 29 * SEC, &c.policy));
    assert!(!card.variable_part_recently_sent(T0 + 30 * SEC, &c.policy));
    // Once used, a new request is a new need.
    assert_eq!(
        c.second(&mut card, &format!("{fixed}{var}"), T0 + SEC),
        Verdict::Approved
    );
    assert!(!card.variable_part_recently_sent(T0 + 2 * SEC, &c.policy));
}

// ---------------------------------------------------------------- hardware tokens (PSKC import)

/// RFC 4226's test key.
const HW_KEY: &[u8] = b"12345678901234567890";

fn hw_key(
    kind: HardwareKind,
    digits: u8,
    algorithm: &'static str,
    step: u32,
    counter: u64,
) -> HardwareKey<'static> {
    HardwareKey {
        serial: "SN1",
        kind,
        key: HW_KEY,
        algorithm,
        digits,
        step_secs: step,
        counter,
    }
}

fn hotp_code(counter: u64, digits: u8) -> String {
    pooya_otp::hotp(
        &pooya_otp::OtpKey::from_bytes(HW_KEY),
        counter,
        pooya_otp::Digits::new(digits).unwrap(),
        Algorithm::Sha1,
    )
    .as_str()
    .to_owned()
}

#[test]
fn hardware_import_makes_card_app_active_and_kills_static_second() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(&hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0), T0, &ctx.keys)
        .unwrap();
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    assert_eq!(
        ctx.second(&mut card, STATIC_SECOND, T0),
        Verdict::StaticPasswordDisabled
    );
    // The first password stays the static PIN.
    assert_eq!(ctx.first(&mut card, STATIC_PIN, T0), Verdict::Approved);
    assert_eq!(ctx.pin(&mut card, STATIC_PIN, T0), Ok(()));
    // The raw key is sealed, never stored as is.
    let doc = serde_json::to_string(&card.svc).unwrap();
    assert!(!doc.contains("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"), "{doc}");
}

#[test]
fn hardware_import_replaces_an_app_token() {
    let ctx = Ctx::new();
    let (pan, mut card) = ctx.card(PAN_A);
    let e = ctx.enroll(&mut card, &pan, None, T0);
    card.install_hardware_token(&hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0), T0, &ctx.keys)
        .unwrap();
    assert!(card.svc.token.is_none());
    assert_eq!(
        ctx.second(&mut card, &e.app.second_at(T0), T0),
        Verdict::WrongPassword
    );
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Approved);
}

#[test]
fn hardware_import_refuses_bad_parameters_and_changes_nothing() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    let before = card.clone();
    for k in [
        hw_key(HardwareKind::Hotp, 6, "MD5", 0, 0),
        hw_key(HardwareKind::Hotp, 3, "SHA1", 0, 0),
        hw_key(HardwareKind::Totp, 6, "SHA1", 0, 0),
    ] {
        assert!(card.install_hardware_token(&k, T0, &ctx.keys).is_err());
        assert_eq!(card, before);
    }
}

#[test]
fn hardware_hotp_rfc4226_codes_once_each_with_look_ahead() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(&hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0), T0, &ctx.keys)
        .unwrap();
    // RFC 4226 Appendix D.
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Approved);
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Replayed);
    assert_eq!(ctx.second(&mut card, "287082", T0), Verdict::Approved);
    // Counter 2 expected; 2 + 9 = 11 is the last of a look-ahead of 10.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(11, 6), T0),
        Verdict::Approved
    );
    assert_eq!(card.svc.hardware.as_ref().unwrap().counter, 12);
    // Codes skipped over are dead.
    assert_eq!(ctx.second(&mut card, "359152", T0), Verdict::Replayed);
    // Any time later: HOTP codes do not expire.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(12, 6), T0 + 30 * DAY),
        Verdict::Approved
    );
}

#[test]
fn hardware_hotp_resync_by_two_consecutive_codes() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(
        &hw_key(HardwareKind::Hotp, 8, "SHA1", 0, 100),
        T0,
        &ctx.keys,
    )
    .unwrap();
    // 100 + 10 is just beyond the look-ahead: refused, remembered.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(110, 8), T0),
        Verdict::WrongPassword
    );
    assert_eq!(
        card.svc.hardware.as_ref().unwrap().resync_counter,
        Some(110)
    );
    // Not the code after it: no resync, and the memory is gone.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(112, 8), T0),
        Verdict::WrongPassword
    );
    assert_eq!(
        ctx.second(&mut card, &hotp_code(113, 8), T0),
        Verdict::Approved
    );
    assert_eq!(card.svc.hardware.as_ref().unwrap().counter, 114);
    assert_eq!(
        ctx.second(&mut card, &hotp_code(113, 8), T0),
        Verdict::Replayed
    );
    // Beyond the resync window (114 + 100): never.
    assert_eq!(
        ctx.second(&mut card, &hotp_code(214, 8), T0),
        Verdict::WrongPassword
    );
    assert_eq!(card.svc.hardware.as_ref().unwrap().resync_counter, None);
    assert_eq!(
        ctx.second(&mut card, &hotp_code(215, 8), T0),
        Verdict::WrongPassword
    );
}

#[test]
fn hardware_hotp_windows_follow_the_policy() {
    let mut policy = Policy::default();
    policy.hardware.hotp_look_ahead = 2;
    policy.hardware.hotp_resync_window = 5;
    let ctx = Ctx::with_policy(policy);
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(&hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0), T0, &ctx.keys)
        .unwrap();
    assert_eq!(
        ctx.second(&mut card, &hotp_code(2, 6), T0),
        Verdict::WrongPassword
    );
    assert_eq!(
        ctx.second(&mut card, &hotp_code(3, 6), T0),
        Verdict::Approved
    );
    assert_eq!(
        ctx.second(&mut card, &hotp_code(9, 6), T0),
        Verdict::WrongPassword
    );
    assert_eq!(card.svc.hardware.as_ref().unwrap().resync_counter, None);
}

#[test]
fn hardware_totp_rfc6238_codes_with_the_files_step_once_per_step() {
    let ctx = Ctx::new();
    let (_, mut card) = ctx.card(PAN_A);
    card.install_hardware_token(&hw_key(HardwareKind::Totp, 8, "SHA1", 30, 0), T0, &ctx.keys)
        .unwrap();
    // RFC 6238 Appendix B, SHA1: T = 1111111109 s and 1234567890 s.
    let t1 = 1_111_111_109 * SEC;
    assert_eq!(ctx.second(&mut card, "07081804", t1), Verdict::Approved);
    assert_eq!(ctx.second(&mut card, "07081804", t1), Verdict::Replayed);
    let t2 = 1_234_567_890 * SEC;
    assert_eq!(ctx.second(&mut card, "89005924", t2), Verdict::Approved);
    // A code well past its step and the tolerance: expired.
    let totp = Totp::new(30, pooya_otp::Digits::EIGHT, Algorithm::Sha1).unwrap();
    let key = pooya_otp::OtpKey::from_bytes(HW_KEY);
    let old = totp.code_at(&key, T0).as_str().to_owned();
    assert_eq!(
        ctx.second(&mut card, &old, T0 + 120 * SEC),
        Verdict::ExpiredPassword
    );
    // Within the skew tolerance after its step: accepted.
    let c = totp.code_at(&key, T0 + 200 * SEC).as_str().to_owned();
    let end = totp.step_end_ms(totp.step_at(T0 + 200 * SEC));
    assert_eq!(ctx.second(&mut card, &c, end + 5 * SEC), Verdict::Approved);
}

#[test]
fn hardware_token_dies_with_a_lock_and_an_atm_activation_but_not_a_mobile_change() {
    let ctx = Ctx::new();
    let (pan, mut card) = ctx.card(PAN_A);
    let hw = hw_key(HardwareKind::Hotp, 6, "SHA1", 0, 0);
    card.install_hardware_token(&hw, T0, &ctx.keys).unwrap();
    assert_eq!(card.revoke_mobile(&registered()), 0);
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    for i in 0..5 {
        assert_eq!(
            ctx.second(&mut card, "000000", T0 + i),
            Verdict::WrongPassword
        );
    }
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Locked));
    assert!(card.svc.hardware.is_none());
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Locked);
    // A new import after a lock starts afresh.
    card.install_hardware_token(&hw, T0, &ctx.keys).unwrap();
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Active));
    assert_eq!(ctx.second(&mut card, "755224", T0), Verdict::Approved);
    // An ATM app activation replaces it.
    ctx.activate_app(&mut card, &pan, T0);
    assert!(card.svc.hardware.is_none());
    assert_eq!(card.effective(T0), (Mode::App, ServiceState::Pending));
    assert_eq!(ctx.second(&mut card, "287082", T0), Verdict::WrongPassword);
}

mod documents;
mod pin_lock;
