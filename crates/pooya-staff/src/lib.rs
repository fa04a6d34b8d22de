//! The bank's staff as domain types: an operator (one account per person) with a role (teller,
//! supervisor, admin), a branch, an Argon2id password, a TOTP second factor (RFC 6238, 6 digits,
//! 30 s, from any authenticator app) and a lock after repeated failures. No I/O and no clock: the
//! issuer stores operators and gives the time; the console signs them in.
//!
//! An operator's sign-in, as states:
//!
//! ```text
//!            password and code right            ┌────────┐
//!   Active ───────────────────────────────────▶ │ signed │ (failures cleared, the code's
//!    │  ▲                                        │   in   │  step used: never again)
//!    │  │ lock ends (time), or an admin unlocks  └────────┘
//!    │  │
//!    ▼  │ max_failures-th wrong password or code in a row
//!   Locked { until }
//!
//!   any state ── admin disables ──▶ Disabled (nothing signs in; sessions end at once)
//! ```

use std::fmt;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use pooya_otp::{Algorithm, OtpKey, Totp};
use rand::RngCore;
use zeroize::Zeroizing;

/// A value that does not make an operator's field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaffInvalid {
    #[error("an operator's name is 3 to 32 letters a-z, digits, '.', '_' or '-', starting with a letter")]
    Name,
    #[error("a role is teller, supervisor or admin")]
    Role,
    #[error("a branch code is 1 to 10 digits or letters A-Z")]
    Branch,
    #[error("a teller or supervisor belongs to a branch (--branch CODE)")]
    BranchRequired,
    #[error("a password is 12 to 128 characters")]
    Password,
}

/// An operator's sign-in name: lower-case, unique, shown in the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperatorName(String);

impl OperatorName {
    pub fn parse(s: &str) -> Result<OperatorName, StaffInvalid> {
        let s = s.trim().to_ascii_lowercase();
        let ok = (3..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if ok {
            Ok(OperatorName(s))
        } else {
            Err(StaffInvalid::Name)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an operator may do. Each role is a separate duty: a supervisor approves what a teller
/// asks, an admin manages people and keys, not customers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StaffRole {
    /// Finds customers and cards, registers them, asks for mobile changes, unblocks (R11).
    Teller,
    /// What a teller does, and approves or refuses the tellers' mobile changes.
    Supervisor,
    /// Operators, channel keys, PSKC files, the SMS outbox, the audit chain.
    Admin,
}

impl StaffRole {
    pub const ALL: [StaffRole; 3] = [StaffRole::Teller, StaffRole::Supervisor, StaffRole::Admin];
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Teller => "teller",
            StaffRole::Supervisor => "supervisor",
            StaffRole::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Result<StaffRole, StaffInvalid> {
        StaffRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or(StaffInvalid::Role)
    }
    /// Customers and cards: tellers and supervisors.
    pub fn serves_customers(self) -> bool {
        matches!(self, StaffRole::Teller | StaffRole::Supervisor)
    }
}

/// A branch of the bank, by its code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BranchCode(String);

impl BranchCode {
    pub fn parse(s: &str) -> Result<BranchCode, StaffInvalid> {
        let s = s.trim().to_ascii_uppercase();
        if (1..=10).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            Ok(BranchCode(s))
        } else {
            Err(StaffInvalid::Branch)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: held zeroized, never printed.
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(s: &str) -> Result<Password, StaffInvalid> {
        let n = s.chars().count();
        if (12..=128).contains(&n) {
            Ok(Password(Zeroizing::new(s.to_owned())))
        } else {
            Err(StaffInvalid::Password)
        }
    }
    /// A password made for the operator (shown once): 20 letters and digits, about 100 bits.
    pub fn generate() -> Password {
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479";
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        let s: String = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        Password(Zeroizing::new(s))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

fn argon() -> Argon2<'static> {
    // OWASP's minimum for Argon2id (19 MiB, 2 passes), as the issuer's static secrets.
    let params = argon2::Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// The Argon2id hash (PHC string) of a password.
pub fn hash_password(p: &Password) -> String {
    argon()
        .hash_password(p.expose().as_bytes())
        .map(|h| h.to_string())
        .expect("Argon2id hashes any password of at most 128 characters")
}

/// Whether `typed` is the password of the hash `phc` (false for a hash that does not parse).
pub fn password_matches(phc: &str, typed: &str) -> bool {
    argon().verify_password(typed.as_bytes(), phc).is_ok()
}

/// The TOTP of operators: RFC 6238, SHA-1, 6 digits, 30 seconds — what every authenticator app
/// reads from an `otpauth://` QR code.
pub fn totp() -> Totp {
    Totp::new(
        30,
        pooya_otp::Digits::new(6).expect("6 digits"),
        Algorithm::Sha1,
    )
    .expect("a step of 30 s")
}

/// An operator's TOTP secret (20 random bytes, RFC 4226's recommendation).
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        let mut b = Zeroizing::new(vec![0u8; 20]);
        rand::rng().fill_bytes(&mut b[..]);
        TotpSecret(b)
    }
    pub fn from_bytes(b: &[u8]) -> TotpSecret {
        TotpSecret(Zeroizing::new(b.to_vec()))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The secret in base32, as authenticator apps take it typed.
    pub fn base32(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.0))
    }
    /// The enrolment URI an authenticator app reads from a QR code.
    pub fn otpauth_uri(&self, issuer: &str, name: &OperatorName) -> Zeroizing<String> {
        let issuer: String = issuer
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        Zeroizing::new(format!(
            "otpauth://totp/{issuer}:{name}?secret={}&issuer={issuer}&algorithm=SHA1&digits=6&period=30",
            &*self.base32()
        ))
    }
    /// The code shown at `now_ms` (for tests and the enrolment check).
    pub fn code_at(&self, now_ms: i64) -> String {
        totp()
            .code_at(&OtpKey::from_bytes(&self.0), now_ms)
            .as_str()
            .to_owned()
    }
    /// The step of a right code at `now_ms` (the current step, or one before or after for a clock
    /// that is a little off), if `typed` is one.
    pub fn step_of(&self, typed: &str, now_ms: i64) -> Option<u64> {
        let t = totp();
        let key = OtpKey::from_bytes(&self.0);
        let mut found = None;
        // Every step of the window is computed and compared (constant time each), so the time
        // taken does not say which step matched.
        for step in t.accepted_steps(now_ms, t.step_ms()) {
            if t.code_at_step(&key, step).matches(typed.trim()) {
                found = found.or(Some(step));
            }
        }
        found
    }
}

/// How many failures in a row lock an operator, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockPolicy {
    pub max_failures: u32,
    pub lock_ms: i64,
}

impl Default for LockPolicy {
    fn default() -> Self {
        LockPolicy {
            max_failures: 5,
            lock_ms: 15 * 60 * 1000,
        }
    }
}

/// Whether an operator may sign in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// `failures`: wrong passwords or codes in a row since the last sign-in.
    Active { failures: u32 },
    /// Too many failures in a row: nothing signs in before `until` (unix ms).
    Locked { until: i64 },
    /// Disabled by an admin: nothing signs in until an admin enables the account again.
    Disabled,
}

/// An operator as stored. `totp_sealed` is the TOTP secret sealed by the issuer's keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: OperatorName,
    pub role: StaffRole,
    pub branch: Option<BranchCode>,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub totp_sealed: Vec<u8>,
    /// The step of the last code accepted: a code is used once.
    pub last_totp_step: Option<u64>,
    pub standing: Standing,
    pub created_at: i64,
    pub version: i64,
}

impl fmt::Debug for Operator {
    /// Neither the password's hash nor the sealed TOTP secret in Debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operator")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("branch", &self.branch)
            .field("password_hash", &"[redacted]")
            .field("totp_sealed", &"[redacted]")
            .field("standing", &self.standing)
            .field("version", &self.version)
            .finish()
    }
}

/// Why a sign-in was refused. Wrong password and wrong code answer alike to the person signing
/// in (the console shows one message), but the audit trail tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefused {
    #[error("wrong password")]
    WrongPassword,
    #[error("wrong or used second factor")]
    WrongCode,
    /// This failure locked the account.
    #[error("too many failures: the account is now locked")]
    NowLocked,
    #[error("the account is locked")]
    Locked,
    #[error("the account is disabled")]
    Disabled,
}

impl Operator {
    /// A teller or supervisor needs a branch; an admin may have one.
    pub fn check_branch(role: StaffRole, branch: &Option<BranchCode>) -> Result<(), StaffInvalid> {
        if role.serves_customers() && branch.is_none() {
            Err(StaffInvalid::BranchRequired)
        } else {
            Ok(())
        }
    }

    pub fn is_disabled(&self) -> bool {
        self.standing == Standing::Disabled
    }

    /// Decides a sign-in with `password` and TOTP `code` at `now`, changing the operator as it
    /// must be stored. `secret` is the opened TOTP secret. The password is checked first and a
    /// wrong one is not told from a wrong code by the answer's timing alone: both are checked.
    pub fn sign_in(
        &mut self,
        password: &str,
        code: &str,
        secret: &TotpSecret,
        now: i64,
        policy: LockPolicy,
    ) -> Result<(), SignInRefused> {
        let failures = match self.standing {
            Standing::Disabled => return Err(SignInRefused::Disabled),
            Standing::Locked { until } if now < until => return Err(SignInRefused::Locked),
            // A lock that has ended starts the count again.
            Standing::Locked { .. } => 0,
            Standing::Active { failures } => failures,
        };
        let password_ok = password_matches(&self.password_hash, password);
        let step = secret.step_of(code, now);
        let code_ok = step.is_some_and(|s| self.last_totp_step.is_none_or(|last| s > last));
        if password_ok && code_ok {
            self.last_totp_step = step;
            self.standing = Standing::Active { failures: 0 };
            return Ok(());
        }
        let failures = failures + 1;
        if failures >= policy.max_failures {
            self.standing = Standing::Locked {
                until: now + policy.lock_ms,
            };
            return Err(SignInRefused::NowLocked);
        }
        self.standing = Standing::Active { failures };
        Err(if password_ok {
            SignInRefused::WrongCode
        } else {
            SignInRefused::WrongPassword
        })
    }

    /// The standing's stored columns: `(state, failures, locked_until)`.
    pub fn standing_columns(&self) -> (&'static str, i64, Option<i64>) {
        match self.standing {
            Standing::Active { failures } => ("active", i64::from(failures), None),
            Standing::Locked { until } => ("locked", 0, Some(until)),
            Standing::Disabled => ("disabled", 0, None),
        }
    }

    /// The standing from its stored columns.
    pub fn standing_of(state: &str, failures: i64, until: Option<i64>) -> Option<Standing> {
        match (state, until) {
            ("active", _) => Some(Standing::Active {
                failures: u32::try_from(failures).ok()?,
            }),
            ("locked", Some(until)) => Some(Standing::Locked { until }),
            ("disabled", _) => Some(Standing::Disabled),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(secret: &TotpSecret) -> Operator {
        let _ = secret;
        Operator {
            name: OperatorName::parse("sara").unwrap(),
            role: StaffRole::Teller,
            branch: Some(BranchCode::parse("0123").unwrap()),
            password_hash: hash_password(&Password::new("correct horse battery").unwrap()),
            totp_sealed: Vec::new(),
            last_totp_step: None,
            standing: Standing::Active { failures: 0 },
            created_at: 0,
            version: 0,
        }
    }

    const T: i64 = 1_700_000_000_000;

    #[test]
    fn names_roles_and_branches_hold_only_good_values() {
        assert_eq!(OperatorName::parse(" Sara.K ").unwrap().as_str(), "sara.k");
        for bad in ["", "ab", "1abc", "sa ra", "sara!", &"a".repeat(33)] {
            assert_eq!(OperatorName::parse(bad), Err(StaffInvalid::Name), "{bad:?}");
        }
        assert_eq!(StaffRole::parse("supervisor"), Ok(StaffRole::Supervisor));
        assert_eq!(StaffRole::parse("boss"), Err(StaffInvalid::Role));
        assert_eq!(BranchCode::parse("t12").unwrap().as_str(), "T12");
        assert!(BranchCode::parse("12-3").is_err());
        assert!(Password::new("short").is_err());
        assert_eq!(
            Operator::check_branch(StaffRole::Teller, &None),
            Err(StaffInvalid::BranchRequired)
        );
        assert!(Operator::check_branch(StaffRole::Admin, &None).is_ok());
    }

    #[test]
    fn the_rfc_6238_vector_and_the_otpauth_uri() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits); 6 digits: 287082.
        let s = TotpSecret::from_bytes(b"12345678901234567890");
        assert_eq!(s.code_at(59_000), "287082");
        let uri = s.otpauth_uri("pooya bank", &OperatorName::parse("sara").unwrap());
        assert_eq!(
            &*uri,
            "otpauth://totp/pooyabank:sara?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=pooyabank&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn a_sign_in_needs_both_factors_and_a_code_is_used_once() {
        let secret = TotpSecret::generate();
        let mut op = operator(&secret);
        let p = LockPolicy::default();
        let code = secret.code_at(T);
        assert_eq!(
            op.sign_in("wrong password!!", &code, &secret, T, p),
            Err(SignInRefused::WrongPassword)
        );
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert_eq!(
            op.sign_in("correct horse battery", &wrong, &secret, T, p),
            Err(SignInRefused::WrongCode)
        );
        assert_eq!(op.standing, Standing::Active { failures: 2 });
        assert_eq!(
            op.sign_in("correct horse battery", &code, &secret, T, p),
            Ok(())
        );
        assert_eq!(op.standing, Standing::Active { failures: 0 });
        // The same code again, even in its own step: refused.
        assert_eq!(
            op.sign_in("correct horse battery", &code, &secret, T + 1000, p),
            Err(SignInRefused::WrongCode)
        );
        // The next step's code is good.
        let next = secret.code_at(T + 30_000);
        assert_eq!(
            op.sign_in("correct horse battery", &next, &secret, T + 30_000, p),
            Ok(())
        );
    }

    #[test]
    fn the_fifth_failure_locks_until_the_lock_ends_and_disabled_never_signs_in() {
        let secret = TotpSecret::generate();
        let mut op = operator(&secret);
        let p = LockPolicy::default();
        for _ in 0..4 {
            assert_eq!(
                op.sign_in("nope nope nope", "000000", &secret, T, p),
                Err(SignInRefused::WrongPassword)
            );
        }
        assert_eq!(
            op.sign_in("nope nope nope", "000000", &secret, T, p),
            Err(SignInRefused::NowLocked)
        );
        let code = secret.code_at(T + 60_000);
        assert_eq!(
            op.sign_in("correct horse battery", &code, &secret, T + 60_000, p),
            Err(SignInRefused::Locked)
        );
        let later = T + p.lock_ms + 1;
        let code = secret.code_at(later);
        assert_eq!(
            op.sign_in("correct horse battery", &code, &secret, later, p),
            Ok(())
        );
        op.standing = Standing::Disabled;
        let code = secret.code_at(later + 60_000);
        assert_eq!(
            op.sign_in("correct horse battery", &code, &secret, later + 60_000, p),
            Err(SignInRefused::Disabled)
        );
    }

    #[test]
    fn standing_columns_round_trip() {
        for s in [
            Standing::Active { failures: 3 },
            Standing::Locked { until: 42 },
            Standing::Disabled,
        ] {
            let secret = TotpSecret::generate();
            let mut op = operator(&secret);
            op.standing = s.clone();
            let (state, f, u) = op.standing_columns();
            assert_eq!(Operator::standing_of(state, f, u), Some(s));
        }
        assert_eq!(Operator::standing_of("locked", 0, None), None);
    }
}
