//! RFC 6030 §5, `<Policy>`, and the device's dates (§4.3.1): what the receiver must honour. Every
//! element and attribute is read; one pooya does not understand refuses the key, because "the
//! recipient MUST assume that key usage is not permitted" (§5). Of what is understood, the PIN
//! checked on the device (`PINUsageMode="Local"`) needs nothing from the server, a `KeyUsage`
//! list must permit `OTP`, and the dates and the number of transactions go into [`Usage`] for the
//! verifier to enforce.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::xml::El;

/// The element named `name` under `parent`, if any; a second one is an error (the schema allows
/// one).
fn at_most_one<'a>(parent: &'a El, name: &'a str, path: &str) -> Result<Option<&'a El>, String> {
    let mut found = parent.children_named(name);
    let first = found.next();
    if found.next().is_some() {
        return Err(format!("{path}/{name} appears more than once"));
    }
    Ok(first)
}

/// An `xs:dateTime` with its time zone, in unix milliseconds. A date without a zone (local time
/// of an unknown place) is refused rather than guessed.
fn date_ms(e: &El, path: &str) -> Result<i64, String> {
    let s = e.trimmed();
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        format!(
            "{path} {s:?} is not a date and time with a time zone \
             (xs:dateTime such as 2030-12-31T23:59:59Z)"
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{path} {s:?} is out of range"))
}

/// The key's validity period and use limit, as far as the file restricts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Restrictions {
    pub(crate) not_before_ms: Option<i64>,
    pub(crate) not_after_ms: Option<i64>,
    pub(crate) number_of_transactions: Option<u64>,
    /// Where each came from, for messages: e.g. "Policy/ExpiryDate".
    pub(crate) not_before_from: &'static str,
    pub(crate) not_after_from: &'static str,
}

impl Restrictions {
    /// Narrows the validity period to `[start, end]` (the later start, the earlier end).
    fn narrow(&mut self, start: Option<(i64, &'static str)>, end: Option<(i64, &'static str)>) {
        if let Some((s, from)) = start {
            if self.not_before_ms.is_none_or(|b| s > b) {
                self.not_before_ms = Some(s);
                self.not_before_from = from;
            }
        }
        if let Some((e, from)) = end {
            if self.not_after_ms.is_none_or(|a| e < a) {
                self.not_after_ms = Some(e);
                self.not_after_from = from;
            }
        }
    }
}

/// `DeviceInfo/StartDate` and `ExpiryDate`: "the device should only be used" between them
/// (§4.3.1, and python-pskc reads them so); they narrow the key's validity like the policy's.
fn device_dates(kp: &El, r: &mut Restrictions) -> Result<(), String> {
    let Some(info) = kp.child("DeviceInfo") else {
        return Ok(());
    };
    let p = "DeviceInfo";
    let start = at_most_one(info, "StartDate", p)?
        .map(|e| date_ms(e, "DeviceInfo/StartDate").map(|t| (t, "DeviceInfo/StartDate")))
        .transpose()?;
    let end = at_most_one(info, "ExpiryDate", p)?
        .map(|e| date_ms(e, "DeviceInfo/ExpiryDate").map(|t| (t, "DeviceInfo/ExpiryDate")))
        .transpose()?;
    r.narrow(start, end);
    Ok(())
}

/// RFC 6030 §5's registered key usages.
const KEY_USAGES: [&str; 11] = [
    "OTP",
    "CR",
    "Encrypt",
    "Integrity",
    "Verify",
    "Unlock",
    "Decrypt",
    "KeyWrap",
    "Unwrap",
    "Derive",
    "Generate",
];

const PIN_POLICY_ATTRIBUTES: [&str; 6] = [
    "PINKeyId",
    "PINUsageMode",
    "MaxFailedAttempts",
    "MinLength",
    "MaxLength",
    "PINEncoding",
];

/// `PINPolicy`: a PIN the device checks (`Local`) is the device's business; a PIN typed with the
/// code (`Prepend`, `Append`) or mixed into it (`Algorithmic`) would have to be checked by pooya,
/// which has no such PIN: refused, or the PIN requirement would silently drop.
fn pin_policy(pp: &El) -> Result<(), String> {
    if let Some((name, _)) = pp
        .attrs
        .iter()
        .find(|(k, _)| !PIN_POLICY_ATTRIBUTES.contains(&k.as_str()))
    {
        return Err(format!(
            "Policy/PINPolicy attribute {name} is not understood, so the key may not be used \
             (RFC 6030 §5)"
        ));
    }
    if let Some(c) = pp.children.first() {
        return Err(format!(
            "Policy/PINPolicy/{} is not understood, so the key may not be used (RFC 6030 §5)",
            c.name
        ));
    }
    match pp.attr("PINUsageMode").map(str::trim) {
        Some("Local") => Ok(()),
        Some(mode @ ("Prepend" | "Append" | "Algorithmic")) => Err(format!(
            "Policy/PINPolicy PINUsageMode=\"{mode}\": the server would have to check the \
             token's PIN with each code, which pooya does not do (only \"Local\", a PIN checked \
             on the token, is supported)"
        )),
        Some(other) => Err(format!(
            "Policy/PINPolicy PINUsageMode={other:?} is not understood, so the key may not be \
             used (RFC 6030 §5)"
        )),
        None => Err(
            "Policy/PINPolicy without a PINUsageMode: how the PIN is used is unknown, so the \
             key may not be used"
                .into(),
        ),
    }
}

/// Reads `Key/Policy` and the device's dates.
pub(crate) fn restrictions(kp: &El, key: &El) -> Result<Restrictions, String> {
    let mut r = Restrictions::default();
    device_dates(kp, &mut r)?;
    let Some(policy) = at_most_one(key, "Policy", "Key")? else {
        return check_period(r);
    };
    if let Some((name, _)) = policy.attrs.first() {
        return Err(format!(
            "Policy attribute {name} is not understood, so the key may not be used (RFC 6030 §5)"
        ));
    }
    let mut start = None;
    let mut end = None;
    let mut usages = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for e in &policy.children {
        let name = e.name.as_str();
        if name != "KeyUsage" {
            if seen.contains(&name) {
                return Err(format!("Policy/{name} appears more than once"));
            }
            seen.push(name);
        }
        match name {
            "StartDate" => start = Some((date_ms(e, "Policy/StartDate")?, "Policy/StartDate")),
            "ExpiryDate" => end = Some((date_ms(e, "Policy/ExpiryDate")?, "Policy/ExpiryDate")),
            "NumberOfTransactions" => {
                let n: u64 = e.trimmed().parse().map_err(|_| {
                    format!(
                        "Policy/NumberOfTransactions {:?} is not a non-negative integer",
                        e.trimmed()
                    )
                })?;
                if n == 0 {
                    return Err("Policy/NumberOfTransactions 0: the key may never be used".into());
                }
                r.number_of_transactions = Some(n);
            }
            "KeyUsage" => {
                let u = e.trimmed();
                if !KEY_USAGES.contains(&u) {
                    return Err(format!(
                        "Policy/KeyUsage {u:?} is not understood, so the key may not be used \
                         (RFC 6030 §5)"
                    ));
                }
                usages.push(u);
            }
            "PINPolicy" => pin_policy(e)?,
            other => {
                return Err(format!(
                    "Policy/{other} is not understood, so the key may not be used (RFC 6030 §5)"
                ))
            }
        }
    }
    if !usages.is_empty() && !usages.contains(&"OTP") {
        return Err(format!(
            "Policy/KeyUsage permits {} but not OTP: the key may not make one-time passwords",
            usages.join(", ")
        ));
    }
    r.narrow(start, end);
    check_period(r)
}

fn check_period(r: Restrictions) -> Result<Restrictions, String> {
    if let (Some(b), Some(a)) = (r.not_before_ms, r.not_after_ms) {
        if b > a {
            return Err(format!(
                "{} is after {}: the key may never be used",
                r.not_before_from, r.not_after_from
            ));
        }
    }
    Ok(r)
}
