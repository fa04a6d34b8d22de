//! The texts the bank sends by SMS, in Persian (the default) or English. Codes are always written
//! in ASCII digits (docs/api.md), whatever the language; so are amounts, dates and times.
//!
//! The unified transaction SMS (R24) follows a template of the bank's (`[policy.templates.LANG]
//! unified_otp`), checked at start-up: see [`check_unified_template`].

use serde::{Deserialize, Serialize};

use crate::domain::TxnType;
use crate::jalali;

/// The language of the SMS texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Fa,
    En,
}

/// R8: the second activation code, sent to the registered mobile.
pub fn activation_code(lang: Language, bank: &str, code: &str, valid_hours: u64) -> String {
    match lang {
        Language::Fa => format!(
            "{bank}\nکد فعال‌سازی رمز پویا: {code}\nمهلت {valid_hours} ساعت؛ به کسی ندهید."
        ),
        Language::En => format!(
            "{bank}: dynamic password activation code {code}. Enter it in the app with your ATM receipt code. Valid {valid_hours} h. Never share it."
        ),
    }
}

/// R21: the variable part of an SMS second password.
pub fn variable_part(
    lang: Language,
    bank: &str,
    last4: &str,
    var: &str,
    valid_secs: u32,
) -> String {
    match lang {
        Language::Fa => format!(
            "{bank}\nرمز دوم کارت {last4}: بخش ثابت + {var}\n{valid_secs} ثانیه، یک‌بار مصرف"
        ),
        Language::En => format!(
            "{bank}: variable part for card ending {last4}: {var}. Second password = the fixed part on your receipt followed by {var}. Valid {valid_secs} s, one use."
        ),
    }
}

/// R21/R22 edge: two of the sender's SMS cards end in the `digits` the holder texted, and more
/// digits (up to `max_digits`) would tell them apart: no password, and a request for more digits.
/// In Persian it takes two parts: saying that no password was issued, the digits, how many more
/// and where to send them does not fit in 70 characters (`pooya-sms/tests/templates.rs`).
pub fn ambiguous_card(
    lang: Language,
    bank: &str,
    digits: &str,
    short_number: &str,
    max_digits: usize,
) -> String {
    match lang {
        Language::Fa => format!(
            "{bank}\nچند کارت شما به {digits} ختم می‌شود؛ رمزی صادر نشد. {max_digits} رقم آخر کارت را از همین شماره به {short_number} پیامک کنید."
        ),
        Language::En => format!(
            "{bank}: more than one of your cards ends in {digits}; no password was issued. Text the last {max_digits} digits of the card from this phone to {short_number}."
        ),
    }
}

/// R21/R22 edge: even the most digits a request may hold match two of the sender's SMS cards.
/// Two parts in Persian, as [`ambiguous_card`].
pub fn ambiguous_card_final(lang: Language, bank: &str, digits: &str) -> String {
    match lang {
        Language::Fa => format!(
            "{bank}\nچند کارت شما به {digits} ختم می‌شود؛ رمزی صادر نشد. از برنامه رمز پویا استفاده کنید یا با بانک تماس بگیرید."
        ),
        Language::En => format!(
            "{bank}: more than one of your cards ends in {digits}; no password was issued. Please use the dynamic password app or contact the bank."
        ),
    }
}

/// R20: the text printed on the ATM receipt of an SMS activation.
pub fn sms_receipt(lang: Language, bank: &str, fixed: &str, short_number: &str) -> String {
    match lang {
        Language::Fa => format!(
            "{bank} - رمز دوم پویای پیامکی فعال شد.\nبخش ثابت رمز: {fixed}\nبرای دریافت بخش متغیر، چهار رقم آخر کارت را از شماره همراه ثبت‌شده به {short_number} پیامک کنید. رمز دوم = بخش ثابت و سپس بخش متغیر. این رسید را نزد خود نگه دارید."
        ),
        Language::En => format!(
            "{bank} - SMS dynamic second password activated.\nFixed part: {fixed}\nTo get the variable part, text the last 4 digits of the card from your registered mobile to {short_number}. Second password = fixed part then variable part. Keep this receipt safe."
        ),
    }
}

// ------------------------------------------------------------------ R24: the unified SMS

/// The default Persian unified transaction SMS.
pub const UNIFIED_OTP_FA: &str = "{bank}\nرمز دوم پویا: {code}\n{txn_type}\nمبلغ: {amount} ریال\nپذیرنده: {merchant}\nکارت: ***{last4}\nاعتبار تا: {expires}\n{date} {time}";

/// The default English unified transaction SMS.
pub const UNIFIED_OTP_EN: &str = "{bank}\nSecond password: {code}\n{txn_type}\nAmount: {amount} rials\nMerchant: {merchant}\nCard: ***{last4}\nValid until: {expires}\n{date} {time}";

/// The placeholders of the unified SMS template: (name, what it becomes, required).
pub const UNIFIED_PLACEHOLDERS: &[(&str, &str, bool)] = &[
    ("code", "the one-time second password, ASCII digits", true),
    (
        "txn_type",
        "the transaction type in the SMS's language (purchase, transfer, bill payment, top-up)",
        true,
    ),
    (
        "amount",
        "the amount in rials with thousands separators: 1,250,000",
        true,
    ),
    (
        "merchant",
        "the merchant's name as the switch gave it",
        true,
    ),
    (
        "expires",
        "when the password dies, Tehran time: HH:MM:SS",
        true,
    ),
    (
        "date",
        "the date of the request, Solar Hijri (Jalali), Tehran: 1405/01/01",
        true,
    ),
    ("time", "the time of the request, Tehran: HH:MM", true),
    ("bank", "the bank's name (policy.bank_name)", false),
    ("last4", "the card's last 4 digits", false),
    ("lifetime_secs", "the password's lifetime in seconds", false),
];

/// Templates of one language. Placeholders are names in braces (`{code}`); `{{` and `}}` stand for
/// a brace. See [`UNIFIED_PLACEHOLDERS`].
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageTemplates {
    /// R24: the central bank's unified second-password SMS for one transaction.
    pub unified_otp: String,
}

/// The bank's SMS templates for each language; `sms.language` picks the one used.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Templates {
    pub fa: LanguageTemplates,
    pub en: LanguageTemplates,
}

impl Templates {
    pub fn of(&self, lang: Language) -> &LanguageTemplates {
        match lang {
            Language::Fa => &self.fa,
            Language::En => &self.en,
        }
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            fa: LanguageTemplates {
                unified_otp: UNIFIED_OTP_FA.into(),
            },
            en: LanguageTemplates {
                unified_otp: UNIFIED_OTP_EN.into(),
            },
        }
    }
}

/// What one unified transaction SMS says. `Debug` leaves the code out.
#[derive(Clone, Copy)]
pub struct UnifiedOtp<'a> {
    pub bank: &'a str,
    pub code: &'a str,
    pub txn_type: TxnType,
    pub amount_rials: i64,
    pub merchant: &'a str,
    pub last4: &'a str,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub lifetime_secs: u32,
}

impl std::fmt::Debug for UnifiedOtp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnifiedOtp")
            .field("bank", &self.bank)
            .field("code", &"[redacted]")
            .field("txn_type", &self.txn_type)
            .field("amount_rials", &self.amount_rials)
            .field("merchant", &self.merchant)
            .field("last4", &self.last4)
            .finish_non_exhaustive()
    }
}

/// The name of a transaction type in an SMS.
pub fn txn_type_name(lang: Language, t: TxnType) -> &'static str {
    match (lang, t) {
        (Language::Fa, TxnType::Purchase) => "خرید",
        (Language::Fa, TxnType::Transfer) => "انتقال وجه",
        (Language::Fa, TxnType::Bill) => "پرداخت قبض",
        (Language::Fa, TxnType::TopUp) => "خرید شارژ",
        (Language::En, TxnType::Purchase) => "Purchase",
        (Language::En, TxnType::Transfer) => "Transfer",
        (Language::En, TxnType::Bill) => "Bill payment",
        (Language::En, TxnType::TopUp) => "Top-up",
    }
}

/// Rials with thousands separators, ASCII digits: `1250000` → `1,250,000`.
pub fn format_rials(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if amount < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Replaces each `{name}` of `template` by `value(name)`; `{{` and `}}` are braces. Errors name the
/// fault: an unknown placeholder, an unclosed `{`, a lone `}`.
pub fn render(template: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) if name.len() < 32 => name.push(ch),
                        _ => return Err("a '{' is not closed (write {{ for a brace)".into()),
                    }
                }
                match value(&name) {
                    Some(v) => out.push_str(&v),
                    None => return Err(format!("unknown placeholder {{{name}}}")),
                }
            }
            '}' => return Err("a lone '}' (write }} for a brace)".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// R24: the unified transaction SMS in `lang` from the bank's template.
pub fn unified_otp(
    templates: &Templates,
    lang: Language,
    f: &UnifiedOtp<'_>,
) -> Result<String, String> {
    let template = &templates.of(lang).unified_otp;
    let issued = jalali::tehran(f.issued_at_ms);
    let expires = jalali::tehran(f.expires_at_ms);
    render(template, |name| {
        Some(match name {
            "bank" => f.bank.to_owned(),
            "code" => f.code.to_owned(),
            "txn_type" => txn_type_name(lang, f.txn_type).to_owned(),
            "amount" => format_rials(f.amount_rials),
            "merchant" => f.merchant.to_owned(),
            "last4" => f.last4.to_owned(),
            "lifetime_secs" => f.lifetime_secs.to_string(),
            "expires" => expires.map(|t| t.hh_mm_ss()).unwrap_or_else(|| "?".into()),
            "date" => issued
                .map(|t| t.date.to_string())
                .unwrap_or_else(|| "?".into()),
            "time" => issued.map(|t| t.hh_mm()).unwrap_or_else(|| "?".into()),
            _ => return None,
        })
    })
}

/// How many SMS parts `text` takes: GSM 7-bit for plain ASCII (160, or 153 a part), UCS-2
/// otherwise (70, or 67 a part). ASCII characters of the GSM extension table count twice.
pub fn sms_parts(text: &str) -> u32 {
    let (units, single, part) = if text.is_ascii() {
        let n: usize = text
            .chars()
            .map(|c| if "[]{}\\^~|".contains(c) { 2 } else { 1 })
            .sum();
        (n, 160, 153)
    } else {
        (text.encode_utf16().count(), 70, 67)
    };
    let parts = if units <= single {
        1
    } else {
        units.div_ceil(part)
    };
    u32::try_from(parts).unwrap_or(u32::MAX)
}

/// The bank's settings a unified SMS template must fit (`Policy::template_limits`).
#[derive(Clone, Copy, Debug)]
pub struct TemplateLimits<'a> {
    /// The bank's name.
    pub bank: &'a str,
    /// Digits of the code (`otp.second_digits`).
    pub code_digits: u8,
    /// The longest merchant name allowed (`sms.merchant_max_chars`).
    pub merchant_max_chars: u32,
    /// The code's lifetime (`otp.lifetime_secs`).
    pub lifetime_secs: u32,
    /// The most SMS parts the text may take (`sms.max_parts`).
    pub max_parts: u32,
}

/// Start-up check of the unified template of `lang`: it renders, holds every required
/// placeholder, and with the longest values it can meet (the longest merchant name allowed, the
/// largest amount, the bank's name) it fits in `sms.max_parts` SMS parts.
pub fn check_unified_template(
    templates: &Templates,
    lang: Language,
    limits: &TemplateLimits<'_>,
) -> Result<(), String> {
    let template = &templates.of(lang).unified_otp;
    let used = std::cell::RefCell::new(Vec::new());
    render(template, |name| {
        UNIFIED_PLACEHOLDERS
            .iter()
            .any(|(n, _, _)| *n == name)
            .then(|| used.borrow_mut().push(name.to_owned()))
            .map(|()| String::new())
    })?;
    let used = used.into_inner();
    for (name, _, required) in UNIFIED_PLACEHOLDERS {
        if *required && !used.iter().any(|u| u == name) {
            return Err(format!("the template must hold {{{name}}}"));
        }
    }
    let code = "9".repeat(usize::from(limits.code_digits));
    let merchant = "م".repeat(limits.merchant_max_chars as usize);
    let longest_type = [
        TxnType::Purchase,
        TxnType::Transfer,
        TxnType::Bill,
        TxnType::TopUp,
    ]
    .into_iter()
    .max_by_key(|t| txn_type_name(lang, *t).chars().count())
    .unwrap_or(TxnType::Purchase);
    let sample = UnifiedOtp {
        bank: limits.bank,
        code: &code,
        txn_type: longest_type,
        amount_rials: i64::MAX,
        merchant: &merchant,
        last4: "9999",
        // 1405/01/01 00:00 Tehran.
        issued_at_ms: 1_774_038_600_000,
        expires_at_ms: 1_774_038_600_000 + i64::from(limits.lifetime_secs) * 1000,
        lifetime_secs: limits.lifetime_secs,
    };
    let text = unified_otp(templates, lang, &sample)?;
    if !text.contains(&code) {
        return Err("the rendered text does not show the code".into());
    }
    let parts = sms_parts(&text);
    if parts > limits.max_parts {
        return Err(format!(
            "with the longest values it takes {parts} SMS parts; sms.max_parts allows {}",
            limits.max_parts
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rials_have_thousands_separators() {
        for (n, s) in [
            (1, "1"),
            (999, "999"),
            (1000, "1,000"),
            (12_500, "12,500"),
            (1_250_000, "1,250,000"),
            (100_000_000, "100,000,000"),
            (i64::MAX, "9,223,372,036,854,775,807"),
            (-1_000, "-1,000"),
        ] {
            assert_eq!(format_rials(n), s);
        }
    }

    #[test]
    fn render_placeholders_and_braces() {
        let v = |n: &str| (n == "a").then(|| "X".to_owned());
        assert_eq!(render("{a}-{{a}}-}}", v).unwrap(), "X-{a}-}");
        assert!(render("{b}", v).unwrap_err().contains("{b}"));
        assert!(render("{a", v).is_err());
        assert!(render("a}", v).is_err());
        assert!(render(&format!("{{{}", "x".repeat(40)), v).is_err());
    }

    #[test]
    fn sms_parts_counts_like_a_phone() {
        assert_eq!(sms_parts(&"a".repeat(160)), 1);
        assert_eq!(sms_parts(&"a".repeat(161)), 2);
        assert_eq!(sms_parts(&"[".repeat(80)), 1);
        assert_eq!(sms_parts(&"[".repeat(81)), 2);
        assert_eq!(sms_parts(&"م".repeat(70)), 1);
        assert_eq!(sms_parts(&"م".repeat(71)), 2);
        assert_eq!(sms_parts(&"م".repeat(134)), 2);
        assert_eq!(sms_parts(&"م".repeat(135)), 3);
    }
}
