//! One `KeyPackage`: the key's algorithm, response format, secret and data, and its policy.

use zeroize::Zeroizing;

use crate::policy::{self, Restrictions};
use crate::protection::{b64, Protection};
use crate::xml::El;
use crate::{Honoured, ImportedKey, OtpKind, Usage};

pub(crate) enum Parsed {
    Key(ImportedKey),
    /// A PIN package: not an OTP key.
    Skipped,
}

/// A `Data` element's integer `PlainValue`, if the element is there.
fn int_value<T: std::str::FromStr>(data: &El, name: &str) -> Result<Option<T>, String> {
    let Some(e) = data.child(name) else {
        return Ok(None);
    };
    if e.child("EncryptedValue").is_some() {
        return Err(format!("an encrypted {name} is not supported"));
    }
    let v = e
        .child("PlainValue")
        .ok_or_else(|| format!("{name} without a PlainValue"))?;
    v.trimmed()
        .parse()
        .map(Some)
        .map_err(|_| format!("Data/{name} {:?} is not a valid integer here", v.trimmed()))
}

/// `xs:boolean`.
fn xs_bool(v: &str, what: &str) -> Result<bool, String> {
    match v.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("{what} {other:?} is not true or false")),
    }
}

/// The response format: how many digits the token shows and whether the last is a check digit.
fn response_format(params: Option<&El>) -> Result<(u8, bool), String> {
    let Some(fmt) = params.and_then(|p| p.child("ResponseFormat")) else {
        return Ok((6, false));
    };
    if let Some((name, _)) = fmt
        .attrs
        .iter()
        .find(|(k, _)| !["Encoding", "Length", "CheckDigits"].contains(&k.as_str()))
    {
        return Err(format!("ResponseFormat attribute {name} is not understood"));
    }
    if let Some(enc) = fmt.attr("Encoding") {
        if enc != "DECIMAL" {
            return Err(format!("response encoding {enc:?} (DECIMAL only)"));
        }
    }
    let check = match fmt.attr("CheckDigits") {
        Some(v) => xs_bool(v, "ResponseFormat CheckDigits")?,
        None => false,
    };
    // With a check digit, the token shows a code of at least 4 digits and the check digit.
    let shortest = if check { 5 } else { 4 };
    let digits = match fmt.attr("Length") {
        Some(l) => l
            .parse()
            .ok()
            .filter(|d| (shortest..=10).contains(d))
            .ok_or_else(|| {
                format!(
                    "response length {l:?} ({shortest} to 10 digits{})",
                    if check {
                        ", the check digit included"
                    } else {
                        ""
                    }
                )
            })?,
        None => 6,
    };
    Ok((digits, check))
}

/// A drift beyond this is a broken clock rather than a drifting one.
const MAX_DRIFT_SECS: i64 = 86_400;

/// `Data/Time` and `Data/TimeDrift` of a TOTP key: the origin must be the unix epoch (pooya
/// counts steps from it, as RFC 6238 does with T0 = 0); the drift, in steps, is the token's.
fn time_state(data: &El, kind: OtpKind, step: u64) -> Result<i64, String> {
    let origin: Option<u64> = int_value(data, "Time")?;
    let drift: i64 = int_value(data, "TimeDrift")?.unwrap_or(0);
    if kind == OtpKind::Hotp {
        for (name, set) in [
            ("Time", origin.unwrap_or(0) != 0),
            ("TimeDrift", drift != 0),
        ] {
            if set {
                return Err(format!(
                    "Data/{name} on an event-based (HOTP) key is not understood"
                ));
            }
        }
        return Ok(0);
    }
    if let Some(t) = origin.filter(|&t| t != 0) {
        return Err(format!(
            "Data/Time {t}: a time origin other than the unix epoch (0) is not supported"
        ));
    }
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if drift.unsigned_abs().saturating_mul(step.unsigned_abs()) > MAX_DRIFT_SECS as u64 {
        return Err(format!(
            "Data/TimeDrift {drift} steps of {step} s: more than a day, not a token's drift"
        ));
    }
    Ok(drift)
}

/// Refuses what the key asks of the verifier that the caller does not enforce (RFC 6030 §5).
fn check_honoured(r: &Restrictions, usage: &Usage, h: &Honoured) -> Result<(), String> {
    let not = "is not enforced by this server, so the key may not be used (RFC 6030 §5)";
    if !h.validity_period {
        if r.not_before_ms.is_some() {
            return Err(format!("{}: a start date {not}", r.not_before_from));
        }
        if r.not_after_ms.is_some() {
            return Err(format!("{}: an expiry date {not}", r.not_after_from));
        }
    }
    if !h.number_of_transactions && usage.number_of_transactions.is_some() {
        return Err(format!(
            "Policy/NumberOfTransactions: a limit on the key's uses {not}"
        ));
    }
    if !h.check_digit && usage.check_digit {
        return Err(format!(
            "ResponseFormat CheckDigits=\"true\": a code ending in a check digit {not}"
        ));
    }
    if !h.time_drift && usage.time_drift_steps != 0 {
        return Err(format!(
            "Data/TimeDrift {}: a token clock's drift {not}",
            usage.time_drift_steps
        ));
    }
    Ok(())
}

pub(crate) fn package(
    kp: &El,
    index: usize,
    prot: &Protection,
    honoured: &Honoured,
) -> Result<Parsed, String> {
    let key = kp.child("Key").ok_or("no Key")?;
    let alg_uri = key.attr("Algorithm").unwrap_or("");
    let short = alg_uri
        .rsplit([':', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let known_prefix = alg_uri.starts_with("urn:ietf:params:xml:ns:keyprov:pskc")
        || alg_uri.starts_with("http://www.ietf.org/keyprov/pskc");
    let kind = match (known_prefix, short.as_str()) {
        (true, "hotp") => OtpKind::Hotp,
        (true, "totp") => OtpKind::Totp,
        (true, "pin") => return Ok(Parsed::Skipped),
        _ => return Err(format!("unknown algorithm {alg_uri:?} (HOTP or TOTP only)")),
    };
    let serial = kp
        .path(&["DeviceInfo", "SerialNo"])
        .map(|e| e.trimmed().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or("no DeviceInfo/SerialNo")?;
    let params = key.child("AlgorithmParameters");
    let (digits, check_digit) = response_format(params)?;
    let algorithm = match params.and_then(|p| p.child("Suite")).map(|s| s.trimmed()) {
        None | Some("") => "SHA1",
        Some(s) => match s.to_ascii_uppercase().replace('-', "").as_str() {
            "HMACSHA1" | "SHA1" => "SHA1",
            "HMACSHA256" | "SHA256" => "SHA256",
            "HMACSHA512" | "SHA512" => "SHA512",
            _ => return Err(format!("unknown algorithm suite {s:?}")),
        },
    };
    let restrictions = policy::restrictions(kp, key)?;
    let data = key.child("Data").ok_or("no Data (no secret)")?;
    let secret_el = data
        .child("Secret")
        .ok_or("no Secret (keys derived from a master key are not supported)")?;
    if key.child("KeyProfileId").is_some() {
        return Err(
            "KeyProfileId: a key profile agreed out of band is not supported (its settings are \
             not in the file)"
                .into(),
        );
    }
    let secret = if let Some(pv) = secret_el.child("PlainValue") {
        Zeroizing::new(b64(pv.trimmed())?)
    } else if let Some(ev) = secret_el.child("EncryptedValue") {
        prot.decrypt(ev, secret_el.child("ValueMAC"))?
    } else {
        return Err("a Secret with neither PlainValue nor EncryptedValue".into());
    };
    if secret.len() < 10 {
        return Err(format!(
            "the secret is {} bytes: too short (at least 10)",
            secret.len()
        ));
    }
    let counter: u64 = int_value(data, "Counter")?.unwrap_or(0);
    let step: u64 = int_value(data, "TimeInterval")?.unwrap_or(30);
    if kind == OtpKind::Totp && !(1..=3600).contains(&step) {
        return Err(format!("time interval {step} s (1 to 3600)"));
    }
    let time_drift_steps = time_state(data, kind, step)?;
    let usage = Usage {
        not_before_ms: restrictions.not_before_ms,
        not_after_ms: restrictions.not_after_ms,
        number_of_transactions: restrictions.number_of_transactions,
        check_digit,
        time_drift_steps,
    };
    check_honoured(&restrictions, &usage, honoured)?;
    Ok(Parsed::Key(ImportedKey {
        index,
        serial,
        key_id: key.attr("Id").unwrap_or("").to_owned(),
        kind,
        secret,
        digits,
        algorithm,
        counter: if kind == OtpKind::Hotp { counter } else { 0 },
        time_step: if kind == OtpKind::Totp {
            step as u32
        } else {
            0
        },
        usage,
    }))
}

pub(crate) fn package_name(kp: &El) -> String {
    let serial = kp.path(&["DeviceInfo", "SerialNo"]).map(|e| e.trimmed());
    let id = kp.child("Key").and_then(|k| k.attr("Id"));
    match (serial, id) {
        (Some(s), Some(i)) => format!("serial {s}, key {i}"),
        (Some(s), None) => format!("serial {s}"),
        (None, Some(i)) => format!("key {i}"),
        (None, None) => "no serial, no key id".into(),
    }
}
