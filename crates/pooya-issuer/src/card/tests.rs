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
            .finish(&s.started.reply.msg, &s.started.reply.confirm)
            .expect("the app accepts the server's confirmation");
        let (token, seed) = card.enroll_confirm(
            &s.started.reply.enrollment_id,
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

/// Locks `card` (app token) with five wrong second passwords at `now`.
fn lock(c: &Ctx, card: &mut CardRecord, e: &Enrolled, now: i64) {
    let wrong = e.app.wrong_second(now);
    for i in 0..5 {
        c.second(card, &wrong, now + i);
    }
    assert_eq!(card.effective(now + 5).1, ServiceState::Locked);
}

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

mod app_codes;
mod atm;
mod documents;
mod enrollment;
mod hardware;
mod hardware_policy;
mod lockout;
mod mobile_change;
mod pin_lock;
mod removal;
mod replacement;
mod sms;
mod static_and_expiry;
mod stored;
mod txn_codes;
mod verdicts;
