//! The cards of the load and the codes each gives: app tokens enrolled by the setup, or hardware
//! tokens derived from the run key (`--setup pskc`).

use pooya_bench::{card_pan, HardwareCards};

/// The TOTP step (= code lifetime) the server is configured with, in seconds.
pub const STEP_SECS: i64 = pooya_bench::STEP_SECS as i64;
pub const STEP_MS: i64 = STEP_SECS * 1000;
pub const PIN: &str = "1234";
pub const STATIC_SECOND: &str = "55555";

/// The cards of the load.
pub enum Cards {
    /// `--setup enroll` (and `--target health`, with none): each card as its holder's app holds
    /// it.
    Enrolled(Vec<Card>),
    /// `--setup pskc`: cards `0..n`, everything derived from the index and the run key.
    Hardware { n: usize, tokens: HardwareCards },
}

impl Cards {
    pub fn len(&self) -> usize {
        match self {
            Cards::Enrolled(c) => c.len(),
            Cards::Hardware { n, .. } => *n,
        }
    }

    /// The dynamic passwords each card gives in every step (`true`: the second): an app token
    /// makes both; a hardware token only the second (the first password of such a card is the
    /// static PIN, which no load should hash over and over).
    pub fn kinds(&self) -> &'static [bool] {
        match self {
            Cards::Enrolled(_) => &[false, true],
            Cards::Hardware { .. } => &[true],
        }
    }

    pub fn pan(&self, i: usize) -> String {
        match self {
            Cards::Enrolled(c) => c[i].pan.clone(),
            Cards::Hardware { .. } => card_pan(i as u64),
        }
    }

    pub fn code(&self, i: usize, second: bool, unix_ms: i64) -> String {
        match self {
            Cards::Enrolled(c) => c[i].code(second, unix_ms),
            Cards::Hardware { tokens, .. } => {
                assert!(second, "a hardware token makes second passwords only");
                tokens.code(i as u64, unix_ms)
            }
        }
    }
}

/// An enrolled card as the holder's app holds it.
pub struct Card {
    pub pan: String,
    pub keys: pooya_otp::PasswordKeys,
    pub first: pooya_otp::Totp,
    pub second: pooya_otp::Totp,
}

impl Card {
    pub fn code(&self, second: bool, unix_ms: i64) -> String {
        if second {
            self.second.code_at(&self.keys.second, unix_ms)
        } else {
            self.first.code_at(&self.keys.first, unix_ms)
        }
        .as_str()
        .to_owned()
    }
}
