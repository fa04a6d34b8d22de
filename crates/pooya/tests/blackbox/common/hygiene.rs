//! Secret hygiene (issue 6, item 8): every black-box server's log lines, every answer the harness
//! receives from it and every SMS it sends are scanned for full card numbers (any 16–19 digit run
//! that passes Luhn and starts with the BIN of a card the suite makes) and for the secrets the test
//! handed to it or got from it — PINs, passwords, codes, seeds. Each secret has the one place it
//! may appear: a receipt code or an SMS fixed part in the ATM's answer, a one-time code in SMS,
//! PINs, static passwords and seeds nowhere. A [`Ledger`] collects them as the test runs;
//! [`Ledger::check`] (run when the [`super::TestServer`] drops) fails the test on any secret found
//! where it must not be.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

/// Where a secret may legitimately appear (besides the request that carried it to the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// Never in a log line, an answer or an SMS: PINs, static passwords, seeds.
    Nowhere,
    /// In answers only (a receipt code, an SMS channel's fixed part: the ATM prints them).
    Answers,
    /// In SMS only: the code an SMS delivers, and any one-time password typed at a payment.
    Sms,
}

/// The places a registered value may appear: the union of the rules it was registered under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Places {
    answers: bool,
    sms: bool,
}

impl Places {
    fn add(&mut self, allowed: Allowed) {
        match allowed {
            Allowed::Nowhere => {}
            Allowed::Answers => self.answers = true,
            Allowed::Sms => self.sms = true,
        }
    }

    /// Whether the value may appear `here` (`None`: a log line, where nothing may).
    fn allow(self, here: Option<Allowed>) -> bool {
        match here {
            Some(Allowed::Answers) => self.answers,
            Some(Allowed::Sms) => self.sms,
            Some(Allowed::Nowhere) | None => false,
        }
    }
}

#[derive(Default)]
pub struct Ledger {
    /// Secret → where it may appear. Secrets are compared with whole tokens of the scanned text
    /// (a digit secret with whole digit runs), so a 4-digit PIN does not match inside a timestamp.
    secrets: Mutex<HashMap<String, Places>>,
    /// Numbers that answers and SMS show by design: the last 4 and last 8 digits of each card a
    /// request named ("card ending 7898"). A 4-digit secret can equal one by chance (1 in
    /// 10^4), and is then not looked for in answers and SMS, where the scan cannot tell them
    /// apart; log lines show cards masked, so it is still looked for there.
    shown: Mutex<HashSet<String>>,
    /// BINs (first 6 digits) of the cards the test named, besides [`SUITE_BINS`].
    bins: Mutex<HashSet<String>>,
    /// Answers received, scanned at the end (a secret may be registered after an answer came).
    answers: Mutex<Vec<(String, String)>>,
}

/// Request fields whose values are secrets that nothing may show again: static PINs and
/// passwords.
const SECRET_REQUEST_FIELDS: &[&str] = &["pin", "second_password", "new_pin"];
/// Request fields holding a typed one-time password: it may be the code an SMS delivered, so it
/// may appear in SMS, but never in a log line or an answer.
const TYPED_CODE_FIELDS: &[&str] = &["password"];
/// Answer fields that carry a secret the ATM prints.
const SECRET_ANSWER_FIELDS: &[&str] = &["receipt_code", "fixed_part"];

impl Ledger {
    /// Registers `value` as a secret that may appear only where `allowed` says. Two secrets can
    /// be equal by chance (a PIN and a fixed part, 1 in 10^4): the scan cannot tell which one it
    /// sees, so the value may appear wherever either may.
    pub fn secret(&self, value: &str, allowed: Allowed) {
        if value.len() < 4 {
            return; // Too short to tell from ordinary text; such values are no real secret.
        }
        let mut s = self.secrets.lock().unwrap();
        s.entry(value.to_owned()).or_default().add(allowed);
    }

    /// A seed in the encodings a careless log line would use.
    pub fn seed(&self, bytes: &[u8]) {
        for enc in [
            data_encoding::HEXLOWER.encode(bytes),
            data_encoding::HEXUPPER.encode(bytes),
            data_encoding::BASE32_NOPAD.encode(bytes),
            data_encoding::BASE64.encode(bytes),
            data_encoding::BASE64_NOPAD.encode(bytes),
            data_encoding::BASE64URL_NOPAD.encode(bytes),
        ] {
            self.secret(&enc, Allowed::Nowhere);
        }
    }

    /// Notes the secrets a request body carries to the server.
    pub fn request(&self, body: &Value) {
        walk(body, &mut |key, v| {
            if let Some(s) = v.as_str() {
                if key == "pan" && s.len() >= 8 && s.bytes().all(|b| b.is_ascii_digit()) {
                    let mut shown = self.shown.lock().unwrap();
                    shown.insert(s[s.len() - 4..].to_owned());
                    shown.insert(s[s.len() - 8..].to_owned());
                    self.bins.lock().unwrap().insert(s[..6].to_owned());
                } else if SECRET_REQUEST_FIELDS.contains(&key) {
                    self.secret(s, Allowed::Nowhere);
                } else if TYPED_CODE_FIELDS.contains(&key) {
                    self.secret(s, Allowed::Sms);
                }
            }
        });
    }

    /// Keeps an answer for the final scan, and notes the secrets it legitimately carries.
    pub fn answer(&self, what: &str, text: &str, v: &Value) {
        walk(v, &mut |key, v| {
            if SECRET_ANSWER_FIELDS.contains(&key) {
                if let Some(s) = v.as_str() {
                    self.secret(s, Allowed::Answers);
                }
            }
        });
        self.answers
            .lock()
            .unwrap()
            .push((what.to_owned(), text.to_owned()));
    }

    /// Scans the server's log, the SMS of its outbox file and the answers kept; one line per
    /// finding (empty: clean).
    pub fn findings(&self, log: &Path, outbox: &Path) -> Vec<String> {
        let secrets = self.secrets.lock().unwrap().clone();
        let shown = self.shown.lock().unwrap().clone();
        let mut bins = self.bins.lock().unwrap().clone();
        bins.extend(SUITE_BINS.iter().map(|b| b.to_string()));
        let mut found = Vec::new();
        // `here`: the kind of place scanned (`None`: a log line, where no secret may appear).
        let mut scan = |place: &str, where_: &str, text: &str, here: Option<Allowed>| {
            for pan in full_pans(text, &bins) {
                found.push(format!("a full card number {pan} in {place} {where_}"));
            }
            for token in tokens(text) {
                if let Some(&allowed) = secrets.get(token) {
                    let by_design = here.is_some() && shown.contains(token);
                    if !allowed.allow(here) && !by_design {
                        found.push(format!(
                            "secret {token:?} (allowed: {allowed:?}) in {place} {where_}"
                        ));
                    }
                }
            }
        };
        if let Ok(text) = std::fs::read_to_string(log) {
            for (i, line) in text.lines().enumerate() {
                let scanned = blank_no_secrets(&blank_numeric_fields(line));
                scan("log line", &format!("{}: {line}", i + 1), &scanned, None);
            }
        }
        if let Ok(text) = std::fs::read_to_string(outbox) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let sms = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v["text"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| line.to_owned());
                scan("SMS", &sms, &blank_no_secrets(&sms), Some(Allowed::Sms));
            }
        }
        for (what, text) in self.answers.lock().unwrap().iter() {
            scan(
                "the answer to",
                &format!("{what}: {text}"),
                &blank_no_secrets(text),
                Some(Allowed::Answers),
            );
        }
        found
    }
}

/// Log fields whose values are counts, ids, ports and durations the server names itself: a
/// 4-digit PIN would match `micros=1234` by chance.
const NUMERIC_LOG_FIELDS: &[&str] = &[
    "micros",
    "status",
    "attempts",
    "id",
    "parts",
    "port",
    "retry_in_ms",
    "message_id",
];

/// `line` with the values of [`NUMERIC_LOG_FIELDS`] (`key=123` in text logs, `"key":123` in JSON
/// logs) blanked out.
fn blank_numeric_fields(line: &str) -> String {
    let mut out = line.to_owned();
    for key in NUMERIC_LOG_FIELDS {
        for prefix in [format!(" {key}="), format!("\"{key}\":")] {
            let mut from = 0;
            while let Some(at) = out[from..].find(&prefix) {
                let start = from + at + prefix.len();
                let len = out[start..].bytes().take_while(u8::is_ascii_digit).count();
                out.replace_range(start..start + len, &"#".repeat(len));
                from = start + len;
            }
        }
    }
    out
}

/// `text` with the numbers that are no secret, though a short one may equal a code, blanked out:
/// date-times and masked values.
fn blank_no_secrets(text: &str) -> String {
    blank_masked(&blank_timestamps(text))
}

/// `text` with every date-time the server writes (`2026-11-26T01:30:30.847Z`: a log line's time,
/// an answer's `expires_at`; `1405/01/01`: an SMS's Solar Hijri date) blanked out: its year is a
/// 4-digit number, and a first password that happens to be `2026` is no leak there.
fn blank_timestamps(text: &str) -> String {
    // Shapes of the part that must match: digits where `d`, the byte itself elsewhere. The
    // second is the Solar Hijri date an SMS shows (`1405/01/01`).
    const SHAPES: [&[u8]; 2] = [b"dddd-dd-ddTdd:dd", b"dddd/dd/dd"];
    let b = text.as_bytes();
    let mut out = text.as_bytes().to_vec();
    let mut i = 0;
    while i < b.len() {
        let shape = SHAPES.iter().find(|shape| {
            shape.len() <= b.len() - i
                && shape.iter().zip(&b[i..]).all(|(&s, &c)| {
                    if s == b'd' {
                        c.is_ascii_digit()
                    } else {
                        c == s
                    }
                })
        });
        let starts_a_word = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if let (Some(shape), true) = (shape, starts_a_word) {
            // The rest: seconds, fraction and offset (`:30.847Z`, `+03:30`).
            let end = i
                + shape.len()
                + b[i + shape.len()..]
                    .iter()
                    .take_while(|c| {
                        c.is_ascii_digit() || matches!(c, b':' | b'.' | b'Z' | b'+' | b'-')
                    })
                    .count();
            out[i..end].fill(b'#');
            i = end;
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced with ASCII")
}

/// `text` with every masked card number and mobile (`628023******7898`, `0912*****67`) blanked
/// out: the digits a mask keeps are no secret, though `7898` or `0912` may equal a first password.
fn blank_masked(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        let run = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'*')
            .count();
        if run > 0 && b[i..i + run].contains(&b'*') {
            out[i..i + run].fill(b'#');
        }
        i += run.max(1);
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced with ASCII")
}

/// Calls `f(key, value)` for every object member of `v`, at any depth.
fn walk(v: &Value, f: &mut impl FnMut(&str, &Value)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                f(k, x);
                walk(x, f);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// Whole tokens of `text`: numbers (all-digit words: a digit run inside a hex or base32 id is no
/// number), and long words of the characters of base32/base64/hex encodings.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    let numbers = numbers(text);
    let words = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_')))
        .filter(|t| t.len() >= 16);
    numbers.chain(words)
}

fn numbers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
}

/// The BINs of every card number the suite makes (`common::PAN`…, `pan_with("628023…")`,
/// `pan_with("603799…")`), also those whose requests bypass the ledger (the command-line client,
/// a cluster's nodes).
const SUITE_BINS: &[&str] = &["628023", "603799"];

/// Numbers of 16–19 digits that pass Luhn and start with one of `bins`: card numbers. Any BIN
/// would not do: a 16-hex key fingerprint or key id is all digits 1 time in 1,850 and then passes
/// Luhn 1 time in 10, and the suite prints hundreds of them.
fn full_pans(text: &str, bins: &HashSet<String>) -> Vec<String> {
    numbers(text)
        .filter(|t| (16..=19).contains(&t.len()) && bins.contains(&t[..6]) && super::luhn_ok(t))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pans_and_secrets_out_of_place_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let outbox = dir.path().join("outbox");
        let l = Ledger::default();
        l.request(&serde_json::json!({"pin": "1234", "second_password": "87654321"}));
        l.secret("654321", Allowed::Sms);
        // A typed first password equal to the year: the dates that carry the year are no leak.
        l.secret("2026", Allowed::Sms);
        l.secret("0912", Allowed::Sms);
        l.secret("7898", Allowed::Nowhere);
        l.answer(
            "activate",
            r#"{"expires_at":"2026-11-27T01:30:30.847Z"}"#,
            &serde_json::json!({"expires_at": "2026-11-27T01:30:30.847Z"}),
        );
        l.answer(
            "activate",
            r#"{"receipt_code":"112233"}"#,
            &serde_json::json!({"receipt_code": "112233"}),
        );
        std::fs::write(
            &log,
            "at 1764086400123 ok\nport 41234 ok\nrequest_id=37400415313945410a771f57\n\
             INFO request status=200 micros=1234\n{\"micros\":1234,\"status\":200}\n\
             2026-11-26T01:30:30.847378Z INFO ok\n\
             SMS sent to=0912*****67 card=628023******7898\n\
             data keys unwrapped kek=key file (file:1234567890123452)\n",
        )
        .unwrap();
        std::fs::write(&outbox, "{\"text\":\"code 654321\"}\n").unwrap();
        assert_eq!(l.findings(&log, &outbox), Vec::<String>::new());

        std::fs::write(
            &log,
            "pan=6280231234567898 pin 1234 code 112233 sms 654321 typed 2026\n",
        )
        .unwrap();
        std::fs::write(&outbox, "{\"text\":\"code 654321 and 87654321\"}\n").unwrap();
        let f = l.findings(&log, &outbox);
        assert_eq!(f.len(), 6, "{f:#?}");

        // Values equal by chance: a PIN and a fixed part (the answer shows the fixed part), a
        // fixed part and the card's last 4 digits (an SMS names the card), a typed code and the
        // year of an SMS's Solar Hijri date.
        let l = Ledger::default();
        l.request(&serde_json::json!({"pan": "6280231234567898", "pin": "4321"}));
        l.answer(
            "activate",
            r#"{"fixed_part":"4321"} {"fixed_part":"7898"}"#,
            &serde_json::json!([{"fixed_part": "4321"}, {"fixed_part": "7898"}]),
        );
        l.secret("1405", Allowed::Answers);
        std::fs::write(&log, "INFO ok\n").unwrap();
        std::fs::write(
            &outbox,
            "{\"text\":\"variable part for card ending 7898 (1405/01/01 13:30)\"}\n",
        )
        .unwrap();
        assert_eq!(l.findings(&log, &outbox), Vec::<String>::new());
        // Still caught: both in a log line (cards are masked there), the PIN-or-fixed-part in an
        // SMS, and the year standing alone in an SMS.
        std::fs::write(&log, "INFO pin 4321 fixed 7898\n").unwrap();
        std::fs::write(&outbox, "{\"text\":\"fixed 4321, year 1405\"}\n").unwrap();
        let f = l.findings(&log, &outbox);
        assert_eq!(f.len(), 4, "{f:#?}");
    }
}
