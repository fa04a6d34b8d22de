//! Values of the bank's world that cannot hold a bad value: a [`Pan`] always passes Luhn, a
//! [`Mobile`] is always an Iranian mobile number in the form `09121234567`, and so on. Parse once at
//! the edge; everything past it takes these types.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

/// Why a value was refused. Each variant maps to one `422` error code at the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("the card number must be 16 to 19 ASCII digits and pass the Luhn check")]
    Pan,
    #[error("the mobile number must be an Iranian mobile number such as 09121234567")]
    Mobile,
    #[error("the customer id must be 1 to 64 letters, digits, '-', '_' or '.'")]
    CustomerId,
    #[error("the expiry must be YYMM with a month from 01 to 12")]
    Expiry,
    #[error("the expiry has passed: a card registered now must not be expired already")]
    ExpiryPassed,
    #[error("the PIN must be exactly 4 ASCII digits")]
    Pin,
    #[error("the second password must be 5 to 12 ASCII digits")]
    SecondPassword,
    #[error("the transaction id must be 1 to 64 printable ASCII characters")]
    TxnId,
    #[error("the amount must be a whole number of rials greater than zero")]
    Amount,
    #[error("the merchant name must be 1 to 100 characters")]
    Merchant,
    #[error("the merchant name holds a control character (such as a line break or a tab)")]
    MerchantControl,
    #[error("the password must be 1 to 32 ASCII digits")]
    Password,
    #[error("the transaction type must be purchase, transfer, bill or topup")]
    TxnType,
}

fn all_ascii_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A card number (primary account number): 16–19 ASCII digits passing the Luhn check.
/// Its `Debug` and `Display` show only the masked form; the full number is reachable only through
/// [`Pan::digits`], for keyed hashing and the enrollment protocol.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(String);

impl Pan {
    pub fn parse(s: &str) -> Result<Pan, InvalidValue> {
        if !pooya_wire::card_number::is_valid(s) {
            return Err(InvalidValue::Pan);
        }
        Ok(Pan(s.to_owned()))
    }
    pub fn digits(&self) -> &str {
        &self.0
    }
    /// First 6 and last 4 digits, the rest as `*` (PCI DSS display rule).
    pub fn masked(&self) -> String {
        pooya_wire::card_number::mask(&self.0)
    }
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

impl Drop for Pan {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// An Iranian mobile number, kept in the national form `09xxxxxxxxx`.
/// Accepted as `09121234567`, `9121234567`, `989121234567` or `+989121234567`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mobile(String);

impl Mobile {
    pub fn parse(s: &str) -> Result<Mobile, InvalidValue> {
        let rest = if let Some(r) = s.strip_prefix("+98") {
            r
        } else if let Some(r) = s.strip_prefix("98").filter(|r| r.len() == 10) {
            r
        } else if let Some(r) = s.strip_prefix('0') {
            r
        } else {
            s
        };
        if rest.len() != 10 || !rest.starts_with('9') || !all_ascii_digits(rest) {
            return Err(InvalidValue::Mobile);
        }
        let mut national = String::with_capacity(11);
        national.push('0');
        national.push_str(rest);
        Ok(Mobile(national))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// For logs: the operator prefix and the last two digits only.
    pub fn masked(&self) -> String {
        format!("{}*****{}", &self.0[..4], &self.0[9..])
    }
}

impl serde::Serialize for Mobile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Mobile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mobile, D::Error> {
        // Parsed from the document's own text: no intermediate `String`.
        struct MobileVisitor;
        impl serde::de::Visitor<'_> for MobileVisitor {
            type Value = Mobile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mobile number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Mobile, E> {
                Mobile::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(MobileVisitor)
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mobile({})", self.masked())
    }
}

impl fmt::Display for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The bank's own identifier of a customer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(s: &str) -> Result<CustomerId, InvalidValue> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if ok {
            Ok(CustomerId(s.to_owned()))
        } else {
            Err(InvalidValue::CustomerId)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A card's expiry as printed on it, `YYMM`: valid through the last day of that month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub year: u16,
    pub month: u8,
}

impl Expiry {
    pub fn parse(s: &str) -> Result<Expiry, InvalidValue> {
        if s.len() != 4 || !all_ascii_digits(s) {
            return Err(InvalidValue::Expiry);
        }
        let yy: u16 = s[..2].parse().map_err(|_| InvalidValue::Expiry)?;
        let month: u8 = s[2..].parse().map_err(|_| InvalidValue::Expiry)?;
        if !(1..=12).contains(&month) {
            return Err(InvalidValue::Expiry);
        }
        Ok(Expiry {
            year: 2000 + yy,
            month,
        })
    }
    pub fn as_yymm(&self) -> String {
        format!("{:02}{:02}", self.year % 100, self.month)
    }
    /// The first instant (unix ms, UTC) at which the card is expired: the start of the next month.
    pub fn expires_at_ms(&self) -> i64 {
        let (y, m) = if self.month == 12 {
            (i32::from(self.year) + 1, 1u8)
        } else {
            (i32::from(self.year), self.month + 1)
        };
        let month = time::Month::try_from(m).expect("month is 1..=12");
        let date = time::Date::from_calendar_date(y, month, 1).expect("valid date");
        date.midnight().assume_utc().unix_timestamp() * 1000
    }
}

/// A secret of ASCII digits typed by the holder (PIN, static second password, one-time code):
/// zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Digits(Zeroizing<String>);

impl Digits {
    fn parse_len(s: &str, min: usize, max: usize) -> Option<Digits> {
        ((min..=max).contains(&s.len()) && all_ascii_digits(s))
            .then(|| Digits(Zeroizing::new(s.to_owned())))
    }
    /// The static PIN: exactly 4 digits.
    pub fn pin(s: &str) -> Result<Digits, InvalidValue> {
        Self::parse_len(s, 4, 4).ok_or(InvalidValue::Pin)
    }
    /// The static second password: 5 to 12 digits.
    pub fn second_password(s: &str) -> Result<Digits, InvalidValue> {
        Self::parse_len(s, 5, 12).ok_or(InvalidValue::SecondPassword)
    }
    /// Whatever a holder typed as a password at a payment: 1 to 32 digits.
    pub fn typed_password(s: &str) -> Result<Digits, InvalidValue> {
        Self::parse_len(s, 1, 32).ok_or(InvalidValue::Password)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digits([redacted])")
    }
}

/// An amount in whole rials, greater than zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount(i64);

impl Amount {
    pub fn new(rials: i64) -> Result<Amount, InvalidValue> {
        if rials > 0 {
            Ok(Amount(rials))
        } else {
            Err(InvalidValue::Amount)
        }
    }
    pub fn rials(self) -> i64 {
        self.0
    }
}

/// The payment a password is typed for, as the switch describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub id: String,
    pub amount: Amount,
    pub merchant: String,
}

impl Transaction {
    pub fn new(id: &str, amount: i64, merchant: &str) -> Result<Transaction, InvalidValue> {
        if !(1..=64).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidValue::TxnId);
        }
        let chars = merchant.chars().count();
        if !(1..=100).contains(&chars) {
            return Err(InvalidValue::Merchant);
        }
        if merchant.chars().any(char::is_control) {
            return Err(InvalidValue::MerchantControl);
        }
        Ok(Transaction {
            id: id.to_owned(),
            amount: Amount::new(amount)?,
            merchant: merchant.to_owned(),
        })
    }
}

/// What kind of payment a unified transaction SMS is for (R24); its text names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TxnType {
    #[default]
    Purchase,
    Transfer,
    Bill,
    TopUp,
}

impl TxnType {
    pub fn parse(s: &str) -> Result<TxnType, InvalidValue> {
        match s {
            "purchase" => Ok(TxnType::Purchase),
            "transfer" => Ok(TxnType::Transfer),
            "bill" => Ok(TxnType::Bill),
            "topup" => Ok(TxnType::TopUp),
            _ => Err(InvalidValue::TxnType),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TxnType::Purchase => "purchase",
            TxnType::Transfer => "transfer",
            TxnType::Bill => "bill",
            TxnType::TopUp => "topup",
        }
    }
}

/// Which of the card's two passwords (R1): defined once, in `pooya-otp`, for the issuer and the app.
pub use pooya_otp::PasswordKind;

/// The roles of the bank's channel keys (docs/api.md, "Who may call what").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Branch,
    Atm,
    Sms,
    Switch,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Branch,
        Role::Atm,
        Role::Sms,
        Role::Switch,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Branch => "branch",
            Role::Atm => "atm",
            Role::Sms => "sms",
            Role::Switch => "switch",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_luhn_and_mask() {
        let pan = Pan::parse("6280231234567898").unwrap();
        assert_eq!(pan.masked(), "628023******7898");
        assert_eq!(pan.last4(), "7898");
        assert_eq!(format!("{pan:?}"), "Pan(628023******7898)");
        assert_eq!(Pan::parse("6280231234567897"), Err(InvalidValue::Pan));
        assert_eq!(Pan::parse("628023123456789"), Err(InvalidValue::Pan));
        assert_eq!(Pan::parse("62802312345678９8"), Err(InvalidValue::Pan));
        assert_eq!(Pan::parse(""), Err(InvalidValue::Pan));
        assert!(Pan::parse("4111111111111111").is_ok());
    }

    #[test]
    fn mobile_forms() {
        for s in ["09121234567", "9121234567", "989121234567", "+989121234567"] {
            assert_eq!(Mobile::parse(s).unwrap().as_str(), "09121234567", "{s}");
        }
        for s in [
            "",
            "0912123456",
            "08121234567",
            "+9809121234567",
            "۰۹۱۲۱۲۳۴۵۶۷",
            "0912123456a",
        ] {
            assert!(Mobile::parse(s).is_err(), "{s}");
        }
        assert_eq!(
            Mobile::parse("09121234567").unwrap().masked(),
            "0912*****67"
        );
    }

    #[test]
    fn expiry() {
        let e = Expiry::parse("2812").unwrap();
        assert_eq!(e.as_yymm(), "2812");
        assert_eq!(e.expires_at_ms(), 1861920000000); // 2029-01-01T00:00:00Z
        assert!(Expiry::parse("2813").is_err());
        assert!(Expiry::parse("2800").is_err());
        assert!(Expiry::parse("281").is_err());
    }

    #[test]
    fn digits_and_amounts() {
        assert!(Digits::pin("1234").is_ok());
        assert!(Digits::pin("123").is_err());
        assert!(Digits::pin("12345").is_err());
        assert!(Digits::second_password("12345").is_ok());
        assert!(Digits::second_password("1234567890123").is_err());
        assert_eq!(
            format!("{:?}", Digits::pin("1234").unwrap()),
            "Digits([redacted])"
        );
        assert!(Amount::new(0).is_err());
        assert!(Transaction::new("T1", 10, "Shop").is_ok());
        assert!(Transaction::new("", 10, "Shop").is_err());
        assert!(Transaction::new("T1", 10, "").is_err());
        assert!(Transaction::new("T 1", 10, "Shop").is_err());
        assert_eq!(
            Transaction::new("T1", 10, "Sh\nop"),
            Err(InvalidValue::MerchantControl)
        );
    }
}
