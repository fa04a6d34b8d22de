//! The console's words in Persian (right to left, the default) and English.

/// The console's language, chosen by the `pooya_lang` cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Fa,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "fa" => Some(Lang::Fa),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fa => "fa",
            Lang::En => "en",
        }
    }
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Fa => "rtl",
            Lang::En => "ltr",
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::Fa => Lang::En,
            Lang::En => Lang::Fa,
        }
    }

    /// The text of `key`; the key itself for one not listed (a bug, but still readable).
    pub fn t(self, key: &'static str) -> &'static str {
        TEXTS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(key, |(_, fa, en)| match self {
                Lang::Fa => fa,
                Lang::En => en,
            })
    }
}

/// (key, Persian, English)
const TEXTS: &[(&str, &str, &str)] = &[
    ("console", "میز کار کارکنان بانک", "Bank staff console"),
    ("language", "English", "فارسی"),
    ("sign_in", "ورود", "Sign in"),
    ("sign_out", "خروج", "Sign out"),
    ("name", "نام کاربری", "User name"),
    ("password", "گذرواژه", "Password"),
    (
        "totp",
        "کد شش‌رقمی برنامهٔ احراز هویت",
        "6-digit code from your authenticator app",
    ),
    (
        "sign_in_refused",
        "نام کاربری، گذرواژه یا کد نادرست است.",
        "Wrong user name, password or code.",
    ),
    (
        "locked",
        "حساب پس از چند تلاش نادرست قفل شده است؛ بعداً دوباره بکوشید یا با مدیر تماس بگیرید.",
        "The account is locked after repeated failures; try later or ask an admin.",
    ),
    (
        "disabled",
        "این حساب غیرفعال است.",
        "This account is disabled.",
    ),
    (
        "csrf",
        "فرم نامعتبر است (نشانهٔ CSRF ندارد یا نادرست است). صفحه را دوباره باز کنید.",
        "The form is not valid (its CSRF token is missing or wrong). Open the page again.",
    ),
    (
        "forbidden",
        "این صفحه برای نقش شما نیست.",
        "This page is not for your role.",
    ),
    ("not_found", "پیدا نشد.", "Not found."),
    ("home", "خانه", "Home"),
    ("find", "جست‌وجو", "Find"),
    (
        "find_customer",
        "یافتن مشتری (شمارهٔ مشتری یا تلفن همراه)",
        "Find a customer (customer number or mobile)",
    ),
    (
        "find_card",
        "یافتن کارت (شمارهٔ کارت)",
        "Find a card (card number)",
    ),
    ("customer", "مشتری", "Customer"),
    ("customer_id", "شمارهٔ مشتری", "Customer number"),
    ("mobile", "تلفن همراه", "Mobile"),
    ("cards", "کارت‌ها", "Cards"),
    ("card", "کارت", "Card"),
    ("card_number", "شمارهٔ کارت", "Card number"),
    ("expiry", "تاریخ انقضا (YYMM)", "Expiry (YYMM)"),
    ("pin", "رمز اول ایستا (۴ رقم)", "Static PIN (4 digits)"),
    ("second_password", "رمز دوم ایستا", "Static second password"),
    ("register_customer", "ثبت مشتری", "Register a customer"),
    ("register_card", "ثبت کارت", "Register a card"),
    (
        "change_mobile",
        "درخواست تغییر تلفن همراه",
        "Request a mobile change",
    ),
    ("new_mobile", "تلفن همراه جدید", "New mobile"),
    ("service", "سرویس رمز پویا", "Dynamic password service"),
    ("state", "وضعیت", "State"),
    ("mode_none", "ندارد", "none"),
    ("mode_app", "برنامه", "app"),
    ("mode_sms", "پیامک", "SMS"),
    ("state_inactive", "غیرفعال", "inactive"),
    (
        "state_pending",
        "در انتظار فعال‌سازی",
        "waiting for activation",
    ),
    ("state_active", "فعال", "active"),
    ("state_locked", "قفل", "locked"),
    ("recent_failures", "خطاهای اخیر", "Recent failures"),
    ("second_blocked", "رمز دوم مسدود", "Second password blocked"),
    ("static_second", "رمز دوم ایستا", "Static second password"),
    ("alive", "معتبر", "alive"),
    ("dead", "از کار افتاده (R9)", "dead (R9)"),
    ("pin_locked", "قفل رمز اول", "PIN locked"),
    ("yes", "بله", "yes"),
    ("no", "خیر", "no"),
    (
        "unblock_second",
        "رفع انسداد رمز دوم (R11)",
        "Unblock the second password (R11)",
    ),
    ("unlock_pin", "رفع قفل رمز اول", "Unlock the PIN"),
    ("verifications", "تراکنش‌های اخیر", "Recent verifications"),
    ("time", "زمان", "Time"),
    ("response_code", "کد پاسخ", "Response code"),
    ("reason", "علت", "Reason"),
    ("txn", "شناسهٔ تراکنش", "Transaction id"),
    ("merchant", "پذیرنده", "Merchant"),
    ("timeline", "رویدادها (دفتر ممیزی)", "Audit timeline"),
    ("event", "رویداد", "Event"),
    ("by", "انجام‌دهنده", "By"),
    ("detail", "شرح", "Detail"),
    ("none_yet", "هنوز چیزی نیست.", "Nothing yet."),
    (
        "approvals",
        "تأیید تغییر تلفن همراه",
        "Mobile change approvals",
    ),
    ("requested_by", "درخواست‌کننده", "Requested by"),
    ("branch", "شعبه", "Branch"),
    ("approve", "تأیید", "Approve"),
    ("refuse", "رد", "Refuse"),
    (
        "pending",
        "در انتظار تأیید سرپرست",
        "Waiting for a supervisor",
    ),
    (
        "mobile_change_pending",
        "درخواست ثبت شد و تا تأیید سرپرستی دیگر در انتظار می‌ماند.",
        "Requested: it waits for another supervisor's approval.",
    ),
    (
        "mobile_changed",
        "تلفن همراه تغییر کرد.",
        "The mobile was changed.",
    ),
    (
        "approved",
        "تأیید شد: تلفن همراه جدید برقرار است و توکن‌های شمارهٔ قبلی باطل شدند.",
        "Approved: the new mobile is in force and the old number's tokens are revoked.",
    ),
    ("refused", "رد شد.", "Refused."),
    (
        "own_request",
        "درخواست‌کننده نمی‌تواند درخواست خود را تأیید یا رد کند.",
        "The requester cannot approve or refuse their own request.",
    ),
    (
        "not_supervisor",
        "فقط سرپرست تأیید یا رد می‌کند.",
        "Only a supervisor approves or refuses.",
    ),
    (
        "decided",
        "این درخواست پیش‌تر تعیین تکلیف شده است.",
        "This request was decided already.",
    ),
    ("done", "انجام شد.", "Done."),
    ("back", "بازگشت", "Back"),
    ("operators", "کارکنان", "Operators"),
    ("role", "نقش", "Role"),
    ("role_teller", "متصدی", "teller"),
    ("role_supervisor", "سرپرست", "supervisor"),
    ("role_admin", "مدیر", "admin"),
    ("standing", "وضعیت حساب", "Standing"),
    ("add_operator", "افزودن کارمند", "Add an operator"),
    ("disable", "غیرفعال‌سازی", "Disable"),
    ("enable", "فعال‌سازی", "Enable"),
    (
        "operator_added",
        "کارمند افزوده شد. گذرواژه و کد QR فقط همین یک بار نشان داده می‌شوند.",
        "Operator added. The password and the QR code are shown this once only.",
    ),
    ("totp_secret", "کلید TOTP", "TOTP secret"),
    ("outbox", "صف پیامک", "SMS outbox"),
    ("queued", "در صف", "Queued"),
    ("retrying", "در حال تلاش دوباره", "Retrying"),
    ("failed_attempts", "تلاش‌های ناموفق", "Failed attempts"),
    ("given_up", "رهاشده", "Given up"),
    ("refused_sms", "ردشده", "Refused"),
    ("sent", "ارسال‌شده", "Sent"),
    ("audit_chain", "زنجیرهٔ دفتر ممیزی", "Audit chain"),
    ("chain_ok", "زنجیره سالم است.", "The chain is intact."),
    ("chain_broken", "زنجیره شکسته است:", "The chain is BROKEN:"),
    ("records", "رکوردها", "Records"),
    ("admin", "مدیریت", "Administration"),
    ("error", "خطا", "Error"),
    ("invalid", "مقدار نادرست:", "Invalid value:"),
    ("exists", "از پیش وجود دارد.", "It exists already."),
    (
        "unknown_customer",
        "چنین مشتری‌ای نیست.",
        "No such customer.",
    ),
    ("unknown_card", "چنین کارتی نیست.", "No such card."),
    (
        "try_again",
        "تغییر هم‌زمان؛ دوباره بکوشید.",
        "A concurrent change; try again.",
    ),
    (
        "unavailable",
        "پایگاه داده پاسخ نمی‌دهد.",
        "The database does not answer.",
    ),
    ("pskc", "توکن‌های سخت‌افزاری (PSKC)", "Hardware tokens (PSKC)"),
    (
        "pskc_file",
        "فایل PSKC (متن XML)",
        "PSKC file (its XML text)",
    ),
    (
        "pskc_assign",
        "واگذاری: هر خط SERIAL=شمارهٔ کارت",
        "Assignments: one SERIAL=CARD NUMBER a line",
    ),
    (
        "pskc_psk",
        "کلید پیش‌اشتراکی (هگز، برای فایل رمزشده)",
        "Pre-shared key (hex, for an encrypted file)",
    ),
    (
        "pskc_password",
        "گذرواژهٔ فایل (PBKDF2)",
        "The file's password (PBKDF2)",
    ),
    (
        "pskc_import",
        "وارد کردن همه یا هیچ",
        "Import, all or nothing",
    ),
    (
        "pskc_imported",
        "توکن‌ها وارد شدند. تعداد:",
        "Tokens imported:",
    ),
    (
        "invalid_pskc",
        "فایل PSKC پذیرفته نشد؛ هیچ توکنی وارد نشد:",
        "The PSKC file was refused; nothing was imported:",
    ),
    ("keys", "کلیدهای کانال‌ها", "Channel keys"),
    ("key_id", "شناسه (ابتدای درهم‌ساز)", "Id (start of its hash)"),
    ("label", "برچسب", "Label"),
    ("revoked", "باطل‌شده", "revoked"),
    ("revoke", "ابطال", "Revoke"),
    ("create_key", "ساخت کلید", "Create a key"),
    ("key", "کلید", "Key"),
    (
        "key_created",
        "کلید ساخته شد. فقط همین یک بار نشان داده می‌شود.",
        "Key created. It is shown this once only.",
    ),
    (
        "invalid_key",
        "نقش یا برچسب نادرست است (برچسب: ۱ تا ۶۴ نویسه).",
        "A wrong role or label (a label is 1 to 64 characters).",
    ),
    ("unsent", "پیامک‌های ارسال‌نشده", "Unsent messages"),
    ("last_error", "آخرین خطا", "Last error"),
    ("retry_now", "تلاش دوباره اکنون", "Retry now"),
    ("code_expired", "کد منقضی شده", "code expired"),
    (
        "cannot_retry",
        "این پیامک را نمی‌توان دوباره فرستاد (ارسال یا رد شده، یا کدش منقضی شده است).",
        "This message cannot be retried (sent, refused, or its code expired).",
    ),
    ("standing_disabled", "غیرفعال", "disabled"),
    ("comma", "، ", ", "),
    ("branch_of", "شعبه", "branch"),
    ("signed_in_as", "کاربر:", "Signed in:"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once_with_both_languages() {
        let mut keys: Vec<&str> = TEXTS.iter().map(|(k, _, _)| *k).collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is listed twice");
        assert!(TEXTS
            .iter()
            .all(|(_, fa, en)| !fa.is_empty() && !en.is_empty()));
        assert_eq!(Lang::Fa.t("sign_in"), "ورود");
        assert_eq!(Lang::En.t("sign_in"), "Sign in");
        assert_eq!(Lang::Fa.dir(), "rtl");
    }
}
