//! The texts the bank sends by SMS, in Persian (the default) or English. Codes are always written
//! in ASCII digits (API.md), whatever the language.

use crate::policy::Language;

/// R8: the second activation code, sent to the registered mobile.
pub fn activation_code(lang: Language, bank: &str, code: &str, valid_hours: u64) -> String {
    match lang {
        Language::Fa => format!(
            "{bank}\nکد فعال‌سازی رمز پویا: {code}\nاین کد را همراه کد رسید خودپرداز در برنامه وارد کنید. تا {valid_hours} ساعت معتبر است. آن را به هیچ‌کس ندهید."
        ),
        Language::En => format!(
            "{bank}: your dynamic password activation code is {code}. Enter it in the app with the code on your ATM receipt. Valid for {valid_hours} h. Never share it."
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
            "{bank}\nبخش متغیر رمز دوم کارت {last4}: {var}\nرمز دوم = بخش ثابت رسید + {var}\nاعتبار: {valid_secs} ثانیه، یک‌بار مصرف."
        ),
        Language::En => format!(
            "{bank}: variable part for card ending {last4}: {var}. Second password = the fixed part on your receipt followed by {var}. Valid {valid_secs} s, one use."
        ),
    }
}

/// R21/R22 edge: two of the sender's SMS cards end in the same digits.
pub fn ambiguous_card(lang: Language, bank: &str, last4: &str) -> String {
    match lang {
        Language::Fa => format!(
            "{bank}\nبیش از یک کارت شما به {last4} ختم می‌شود؛ رمزی صادر نشد. لطفاً از برنامه رمز پویا استفاده کنید یا با بانک تماس بگیرید."
        ),
        Language::En => format!(
            "{bank}: more than one of your cards ends in {last4}; no password was issued. Please use the dynamic password app or contact the bank."
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
