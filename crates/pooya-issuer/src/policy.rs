//! The bank's settings for the rules (R26: every number the article names is configuration, with
//! its value as the default). Deserialised from the `[otp]`, `[lockout]`, … tables of the TOML file.

use serde::{Deserialize, Serialize};

use crate::messages::TemplateLimits;
pub use crate::messages::{Language, LanguageTemplates, Templates};

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// The bank's name, shown in the app and in SMS texts.
    pub bank_name: String,
    pub otp: OtpPolicy,
    pub lockout: LockoutPolicy,
    pub pin: PinPolicy,
    /// The PIN lock (issue 20): slow guessing of the 4 digits over weeks.
    pub pin_lock: PinLockPolicy,
    pub activation: ActivationPolicy,
    pub sms: SmsPolicy,
    /// Hardware tokens imported from PSKC files.
    pub hardware: HardwarePolicy,
    /// Texts of the SMS that follow a template (R24), per language.
    pub templates: Templates,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtpPolicy {
    /// R2: how long a dynamic password lives, and the TOTP time step (60 s; Maskan 120 s).
    pub lifetime_secs: u32,
    /// Bounds for a lifetime the holder chooses at enrollment (R2).
    pub min_lifetime_secs: u32,
    pub max_lifetime_secs: u32,
    /// Clock skew tolerated on either side of a code's step (R19).
    pub skew_tolerance_secs: u32,
    /// R1: digits of the first and second passwords.
    pub first_digits: u8,
    pub second_digits: u8,
    /// HMAC of the app tokens: SHA1, SHA256 or SHA512.
    pub algorithm: String,
    /// Whether the static PIN is still accepted as a first password once the card has dynamic
    /// first passwords (R9: the static PIN keeps working unless the bank says otherwise).
    pub static_pin_with_dynamic: bool,
}

/// Event-based (HOTP) hardware tokens drift ahead of the server's counter when the holder presses
/// the button without using the code.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HardwarePolicy {
    /// How many counter values from the stored one a code may be: a match moves the counter past it.
    pub hotp_look_ahead: u32,
    /// Beyond the look-ahead, how far two consecutive codes resynchronise the counter.
    pub hotp_resync_window: u32,
}

impl Default for HardwarePolicy {
    fn default() -> Self {
        HardwarePolicy {
            hotp_look_ahead: 10,
            hotp_resync_window: 100,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutPolicy {
    /// R5: wrong passwords within the window that lock the dynamic service.
    pub max_failures: u32,
    pub window_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinPolicy {
    /// Wrong PINs at the ATM within the window after which the ATM channel refuses the card.
    pub max_tries: u32,
    pub window_secs: u64,
}

/// Wrong first passwords and wrong ATM PINs over a long window lock the card's PIN until a branch
/// unlocks it (`card::pin_lock`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinLockPolicy {
    /// The failure within the window that locks; 0 turns the PIN lock off.
    pub max_failures: u32,
    pub window_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivationPolicy {
    /// How long the two ATM codes stay usable (R8).
    pub ttl_secs: u64,
    /// Enrollment runs one client address may start for one card number within `ttl_secs` of
    /// its first (R16): a stranger's address cannot use up the holder's. Counted for every card
    /// number asked about, real or not, so the count tells nothing about the card.
    pub max_tries: u32,
    /// Enrollment runs one activation allows from all addresses together before it dies: the
    /// bound on online guesses of its two codes.
    pub max_tries_total: u32,
    pub receipt_code_digits: u8,
    pub sms_code_digits: u8,
    /// How long the server waits between the two messages of one enrollment run.
    pub enrollment_ttl_secs: u64,
    /// How long a token-removal challenge lives.
    pub removal_challenge_ttl_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsPolicy {
    /// The bank's short number that receives password requests (R21).
    pub short_number: String,
    pub language: Language,
    /// R20/R21: digits of the fixed part (on the receipt) and of the variable part (by SMS).
    pub fixed_part_digits: u8,
    pub variable_part_digits: u8,
    /// R21 edge: a second request for the same card within this many seconds, while the variable
    /// part it got is unused and alive, issues and sends nothing new.
    pub request_interval_secs: u64,
    /// R24: the longest merchant name a unified transaction SMS carries; a longer one is refused
    /// (422 `invalid_merchant`).
    pub merchant_max_chars: u32,
    /// R24: the most SMS parts a unified transaction SMS may take (70 Persian or 160 Latin
    /// characters make one; longer texts are sent in parts of 67 or 153). Checked at start-up
    /// with the longest values a text can hold.
    pub max_parts: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            bank_name: "Pooya Bank".into(),
            otp: OtpPolicy::default(),
            lockout: LockoutPolicy::default(),
            pin: PinPolicy::default(),
            pin_lock: PinLockPolicy::default(),
            activation: ActivationPolicy::default(),
            sms: SmsPolicy::default(),
            hardware: HardwarePolicy::default(),
            templates: Templates::default(),
        }
    }
}

impl Default for OtpPolicy {
    fn default() -> Self {
        OtpPolicy {
            lifetime_secs: 60,
            min_lifetime_secs: 30,
            max_lifetime_secs: 300,
            skew_tolerance_secs: 10,
            first_digits: 4,
            second_digits: 8,
            algorithm: "SHA256".into(),
            static_pin_with_dynamic: true,
        }
    }
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            window_secs: 24 * 3600,
        }
    }
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy {
            max_tries: 3,
            window_secs: 24 * 3600,
        }
    }
}

impl Default for PinLockPolicy {
    fn default() -> Self {
        PinLockPolicy {
            max_failures: 10,
            window_secs: 90 * 24 * 3600,
        }
    }
}

impl Default for ActivationPolicy {
    fn default() -> Self {
        ActivationPolicy {
            ttl_secs: 24 * 3600,
            max_tries: 3,
            max_tries_total: 30,
            receipt_code_digits: 6,
            sms_code_digits: 6,
            enrollment_ttl_secs: 300,
            removal_challenge_ttl_secs: 300,
        }
    }
}

impl Default for SmsPolicy {
    fn default() -> Self {
        SmsPolicy {
            short_number: "10002516".into(),
            language: Language::Fa,
            fixed_part_digits: 4,
            variable_part_digits: 4,
            request_interval_secs: 30,
            merchant_max_chars: 40,
            max_parts: 4,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting {setting}: {why}")]
pub struct PolicyError {
    pub setting: &'static str,
    pub why: String,
}

impl Policy {
    /// A named profile: `central-bank` (the defaults, 60 s) or `maskan` (Bank Maskan, 120 s).
    pub fn profile(name: &str) -> Option<Policy> {
        match name {
            "central-bank" | "default" => Some(Policy::default()),
            "maskan" => {
                let mut p = Policy {
                    bank_name: "Bank Maskan".into(),
                    ..Policy::default()
                };
                p.otp.lifetime_secs = 120;
                Some(p)
            }
            _ => None,
        }
    }

    /// Checks the settings hang together; the server refuses to start otherwise.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let err = |setting, why: &str| {
            Err(PolicyError {
                setting,
                why: why.into(),
            })
        };
        let o = &self.otp;
        if o.lifetime_secs == 0 || o.lifetime_secs > 3600 {
            return err("otp.lifetime_secs", "must be 1..=3600");
        }
        // The lifetime first: it is the setting an operator changes, the bounds come with the
        // profile.
        if o.lifetime_secs < o.min_lifetime_secs {
            return err(
                "otp.lifetime_secs",
                &format!(
                    "{} is below otp.min_lifetime_secs ({}): raise it, or lower \
                     min_lifetime_secs too",
                    o.lifetime_secs, o.min_lifetime_secs
                ),
            );
        }
        if o.lifetime_secs > o.max_lifetime_secs {
            return err(
                "otp.lifetime_secs",
                &format!(
                    "{} is above otp.max_lifetime_secs ({}): lower it, or raise \
                     max_lifetime_secs too",
                    o.lifetime_secs, o.max_lifetime_secs
                ),
            );
        }
        if o.min_lifetime_secs == 0 {
            return err("otp.min_lifetime_secs", "must be at least 1");
        }
        if o.max_lifetime_secs > 3600 {
            return err("otp.max_lifetime_secs", "must be at most 3600");
        }
        if o.skew_tolerance_secs >= o.min_lifetime_secs {
            return err(
                "otp.skew_tolerance_secs",
                "must be smaller than the shortest lifetime",
            );
        }
        for (name, d) in [
            ("otp.first_digits", o.first_digits),
            ("otp.second_digits", o.second_digits),
        ] {
            if pooya_otp::Digits::new(d).is_err() {
                return err(name, "must be 4..=10");
            }
        }
        if o.algorithm.parse::<pooya_otp::Algorithm>().is_err() {
            return err("otp.algorithm", "must be SHA1, SHA256 or SHA512");
        }
        let h = &self.hardware;
        if !(1..=1000).contains(&h.hotp_look_ahead)
            || h.hotp_resync_window < h.hotp_look_ahead
            || h.hotp_resync_window > 10_000
        {
            return err(
                "hardware.hotp_look_ahead/hotp_resync_window",
                "must satisfy 1 <= look_ahead <= 1000 and look_ahead <= resync_window <= 10000",
            );
        }
        if self.lockout.max_failures == 0 || self.lockout.window_secs == 0 {
            return err("lockout", "max_failures and window_secs must be positive");
        }
        if self.pin.max_tries == 0 || self.pin.window_secs == 0 {
            return err("pin", "max_tries and window_secs must be positive");
        }
        let l = &self.pin_lock;
        if l.max_failures > 1000 || !(1..=10 * 365 * 24 * 3600).contains(&l.window_secs) {
            return err(
                "pin_lock",
                "max_failures must be 0 (off) to 1000 and window_secs 1 s to 10 years",
            );
        }
        let a = &self.activation;
        if a.ttl_secs == 0 || a.max_tries == 0 || a.enrollment_ttl_secs == 0 {
            return err(
                "activation",
                "ttl_secs, max_tries and enrollment_ttl_secs must be positive",
            );
        }
        if a.max_tries_total < a.max_tries {
            return err(
                "activation.max_tries_total",
                "must be at least max_tries (the tries of one address)",
            );
        }
        if !(4..=12).contains(&a.receipt_code_digits) || !(4..=12).contains(&a.sms_code_digits) {
            return err("activation", "code digits must be 4..=12");
        }
        let s = &self.sms;
        if s.short_number.is_empty() || !s.short_number.bytes().all(|b| b.is_ascii_digit()) {
            return err("sms.short_number", "must be ASCII digits");
        }
        if !(2..=8).contains(&s.fixed_part_digits)
            || !(2..=8).contains(&s.variable_part_digits)
            || s.fixed_part_digits + s.variable_part_digits != o.second_digits
        {
            return err(
                "sms.fixed_part_digits/variable_part_digits",
                "must be 2..=8 each and add up to otp.second_digits",
            );
        }
        if self.bank_name.trim().is_empty() || self.bank_name.chars().count() > 40 {
            return err("bank_name", "must be 1 to 40 characters");
        }
        if s.request_interval_secs > 3600 {
            return err("sms.request_interval_secs", "must be 0..=3600");
        }
        if !(1..=100).contains(&s.merchant_max_chars) {
            return err("sms.merchant_max_chars", "must be 1..=100");
        }
        if !(1..=10).contains(&s.max_parts) {
            return err("sms.max_parts", "must be 1..=10");
        }
        for (setting, lang) in [
            ("templates.fa.unified_otp", Language::Fa),
            ("templates.en.unified_otp", Language::En),
        ] {
            crate::messages::check_unified_template(&self.templates, lang, &self.template_limits())
                .map_err(|why| PolicyError { setting, why })?;
        }
        Ok(())
    }

    /// What the unified SMS template must fit: the longest values a text can hold (R24).
    pub fn template_limits(&self) -> TemplateLimits<'_> {
        TemplateLimits {
            bank: &self.bank_name,
            code_digits: self.otp.second_digits,
            merchant_max_chars: self.sms.merchant_max_chars,
            lifetime_secs: self.otp.lifetime_secs,
            max_parts: self.sms.max_parts,
        }
    }

    pub fn lifetime_ms(&self) -> i64 {
        i64::from(self.otp.lifetime_secs) * 1000
    }

    /// The code lifetime a holder asked for at enrollment (R2), or the bank's when none: `None`
    /// outside the bank's bounds.
    pub fn enrollment_lifetime(&self, asked: Option<u32>) -> Option<u32> {
        let lifetime = asked.unwrap_or(self.otp.lifetime_secs);
        (self.otp.min_lifetime_secs..=self.otp.max_lifetime_secs)
            .contains(&lifetime)
            .then_some(lifetime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TxnType;
    use crate::messages::{
        check_unified_template, sms_parts, unified_otp, UnifiedOtp, UNIFIED_OTP_EN, UNIFIED_OTP_FA,
    };

    #[test]
    fn defaults_and_profiles_validate() {
        Policy::default().validate().unwrap();
        let m = Policy::profile("maskan").unwrap();
        m.validate().unwrap();
        assert_eq!(m.otp.lifetime_secs, 120);
        assert!(Policy::profile("nope").is_none());
    }

    #[test]
    fn a_lifetime_outside_its_bounds_names_the_lifetime() {
        let mut p = Policy::default();
        p.otp.lifetime_secs = 5;
        let e = p.validate().unwrap_err();
        assert_eq!(e.setting, "otp.lifetime_secs");
        assert!(e.why.contains("below otp.min_lifetime_secs (30)"), "{e}");
        p.otp.lifetime_secs = 600;
        let e = p.validate().unwrap_err();
        assert_eq!(e.setting, "otp.lifetime_secs");
        assert!(e.why.contains("above otp.max_lifetime_secs (300)"), "{e}");
        // Raising the bound with it is fine.
        p.otp.max_lifetime_secs = 600;
        p.validate().unwrap();
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut p = Policy::default();
        p.otp.lifetime_secs = 0;
        assert!(p.validate().is_err());
        let mut p = Policy::default();
        p.sms.fixed_part_digits = 3;
        assert!(p.validate().is_err());
        let mut p = Policy::default();
        p.otp.algorithm = "MD5".into();
        assert!(p.validate().is_err());
        let mut p = Policy::default();
        p.otp.skew_tolerance_secs = 30;
        assert!(p.validate().is_err());
        let mut p = Policy::default();
        p.pin_lock.window_secs = 0;
        assert!(p.validate().is_err());
        p.pin_lock.window_secs = 1;
        p.pin_lock.max_failures = 0;
        p.validate().unwrap();
    }

    fn sample<'a>(merchant: &'a str) -> UnifiedOtp<'a> {
        UnifiedOtp {
            bank: "Pooya Bank",
            code: "12345678",
            txn_type: TxnType::Purchase,
            amount_rials: 1_250_000,
            merchant,
            last4: "7898",
            // 2026-03-21T10:00:00Z = 1405/01/01 13:30 Tehran.
            issued_at_ms: 1_774_087_200_000,
            expires_at_ms: 1_774_087_260_000,
            lifetime_secs: 60,
        }
    }

    #[test]
    fn unified_sms_in_persian_and_english() {
        let p = Policy::default();
        let fa = unified_otp(&p.templates, Language::Fa, &sample("فروشگاه نمونه")).unwrap();
        for part in [
            "12345678",
            "خرید",
            "1,250,000 ریال",
            "فروشگاه نمونه",
            "7898",
            "اعتبار تا: 13:31:00",
            "1405/01/01 13:30",
            "Pooya Bank",
        ] {
            assert!(fa.contains(part), "{part:?} in {fa}");
        }
        let en = unified_otp(&p.templates, Language::En, &sample("Shop")).unwrap();
        assert!(en.is_ascii(), "{en}");
        for part in [
            "12345678",
            "Purchase",
            "1,250,000 rials",
            "Merchant: Shop",
            "Valid until: 13:31:00",
            "1405/01/01 13:30",
        ] {
            assert!(en.contains(part), "{part:?} in {en}");
        }
        assert!(sms_parts(&fa) <= p.sms.max_parts);
    }

    #[test]
    fn default_templates_pass_the_start_up_check() {
        let p = Policy::default();
        check_unified_template(&p.templates, Language::Fa, &p.template_limits()).unwrap();
        check_unified_template(&p.templates, Language::En, &p.template_limits()).unwrap();
    }

    #[test]
    fn bad_templates_fail_the_start_up_check() {
        let mut p = Policy::default();
        p.templates.fa.unified_otp = UNIFIED_OTP_FA.replace("{code}", "");
        assert!(
            check_unified_template(&p.templates, Language::Fa, &p.template_limits())
                .unwrap_err()
                .contains("{code}")
        );
        assert!(p.validate().is_err());
        let mut p = Policy::default();
        p.templates.en.unified_otp = format!("{UNIFIED_OTP_EN} {{nope}}");
        assert!(
            check_unified_template(&p.templates, Language::En, &p.template_limits())
                .unwrap_err()
                .contains("{nope}")
        );
        let mut p = Policy::default();
        p.templates.en.unified_otp = format!("{UNIFIED_OTP_EN} {{code");
        assert!(check_unified_template(&p.templates, Language::En, &p.template_limits()).is_err());
        // Too long for the allowed parts once the longest merchant name is in.
        let mut p = Policy::default();
        p.sms.max_parts = 1;
        assert!(
            check_unified_template(&p.templates, Language::Fa, &p.template_limits())
                .unwrap_err()
                .contains("parts")
        );
        let mut p = Policy::default();
        p.sms.merchant_max_chars = 100;
        p.templates.fa.unified_otp = format!("{UNIFIED_OTP_FA}\n{{merchant}}\n{{merchant}}");
        assert!(p.validate().is_err());
    }
}
