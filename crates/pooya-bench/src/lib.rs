//! The parts of the load tool that decide whether an answer is right, and how figures are
//! summed up and drawn. The driver itself is the binary (`main.rs` and its modules: `cli`,
//! `server`, `setup`, `cards`, `outbox`, `http`, `load`, `cpu`, `run`).
//!
//! Every answer is checked against what the driver knows it must be: a right, unused code must be
//! approved, a wrong code declined as `wrong_password`, a health probe answered 200. Anything else
//! — a wrong approval as much as a wrong decline — is an error, never a data point.
//!
//! [`HardwareCards`] are the cards of the bulk setup (`--setup pskc`): their numbers and their
//! hardware tokens' seeds come from the card's index and a key of the run, so the driver keeps
//! nothing per card, and the PSKC files it imports are made here.

use std::ops::Range;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use pooya_wire::admin::PskcImport;
use pooya_wire::card_number;
use pooya_wire::switch::VerifyResult;
use pooya_wire::ErrorBody;
use serde_json::Value;
use zeroize::Zeroizing;

pub mod conn;
pub use conn::{bearer, Conn, Request};

pub type Res<T> = Result<T, String>;

/// The TOTP step (= code lifetime) the server is configured with, in seconds: the driver moves the
/// server's fake clock on by one such step. The bulk setup's hardware tokens get the same step
/// (their PSKC `TimeInterval`).
pub const STEP_SECS: u32 = 300;

// ------------------------------------------------------------------ cards of the load

/// `body` (15 digits) and its Luhn check digit.
pub fn luhn_pan(body: &str) -> String {
    format!("{body}{}", card_number::check_digit(body))
}

/// The card number of card `i` (below 10^9) of a run.
pub fn card_pan(i: u64) -> String {
    luhn_pan(&format!("628023{i:09}"))
}

/// The customer id of card `i`'s holder (one customer per card).
pub fn customer_id(i: u64) -> String {
    format!("L{i:07}")
}

/// The registered mobile number of card `i`'s holder (below 10^7).
pub fn mobile(i: u64) -> String {
    format!("0912{i:07}")
}

/// The serial number of card `i`'s hardware token.
pub fn token_serial(i: u64) -> String {
    format!("PB{i:010}")
}

/// Digits of a hardware token's code: the second password's length (`policy.otp.second_digits`).
pub const HARDWARE_DIGITS: u8 = 8;

/// Bytes of a hardware token's seed: an HMAC-SHA1 key (RFC 4226 recommends 20).
pub const HARDWARE_SEED_LEN: usize = 20;

/// The cards of the bulk setup and their TOTP hardware tokens (HMAC-SHA1, [`HARDWARE_DIGITS`]
/// digits, a [`STEP_SECS`] step): card `i`'s number is [`card_pan`]`(i)` and its token's seed
/// HMAC-SHA256(run key, `"pooya-bench hardware token"` ‖ `i` as 8 big-endian bytes), cut to
/// [`HARDWARE_SEED_LEN`] bytes. Only the 32-byte run key is kept (wiped on drop).
pub struct HardwareCards {
    key: Zeroizing<[u8; 32]>,
}

impl HardwareCards {
    pub fn new(key: [u8; 32]) -> HardwareCards {
        HardwareCards {
            key: Zeroizing::new(key),
        }
    }

    /// Card `i`'s token seed.
    pub fn seed(&self, i: u64) -> pooya_otp::OtpKey {
        let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.key[..])
            .expect("HMAC takes any key length");
        m.update(b"pooya-bench hardware token");
        m.update(&i.to_be_bytes());
        let mut out: [u8; 32] = m.finalize().into_bytes().into();
        let key = pooya_otp::OtpKey::from_bytes(&out[..HARDWARE_SEED_LEN]);
        zeroize::Zeroize::zeroize(&mut out);
        key
    }

    /// The tokens' TOTP: a [`STEP_SECS`] step, [`HARDWARE_DIGITS`] digits, HMAC-SHA1.
    pub fn totp() -> pooya_otp::Totp {
        let digits = pooya_otp::Digits::new(HARDWARE_DIGITS).expect("8 digits are valid");
        pooya_otp::Totp::new(STEP_SECS, digits, pooya_otp::Algorithm::Sha1)
            .expect("a 300 s step is valid")
    }

    /// Card `i`'s code at `unix_ms`, as its hardware token shows it.
    pub fn code(&self, i: u64, unix_ms: i64) -> String {
        Self::totp()
            .code_at(&self.seed(i), unix_ms)
            .as_str()
            .to_owned()
    }

    /// The body of one `POST /v1/admin/pskc` that gives cards `cards` their tokens: a plain PSKC
    /// (RFC 6030) `KeyContainer` with one TOTP key package per card, and each token's serial
    /// assigned to its card's number.
    pub fn pskc_import(&self, cards: Range<u64>) -> Value {
        let b64 = &data_encoding::BASE64;
        let mut xml = String::with_capacity(60 + 480 * (cards.end - cards.start) as usize);
        xml.push_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n",
        );
        let mut assign = std::collections::BTreeMap::new();
        for i in cards {
            let serial = token_serial(i);
            let seed = b64.encode(self.seed(i).as_bytes());
            xml.push_str(&format!(
                "<KeyPackage><DeviceInfo><Manufacturer>pooya-bench</Manufacturer>\
                 <SerialNo>{serial}</SerialNo></DeviceInfo>\
                 <Key Id=\"{serial}\" Algorithm=\"urn:ietf:params:xml:ns:keyprov:pskc:totp\">\
                 <AlgorithmParameters><Suite>HMAC-SHA1</Suite>\
                 <ResponseFormat Length=\"{HARDWARE_DIGITS}\" Encoding=\"DECIMAL\"/>\
                 </AlgorithmParameters><Data><Secret><PlainValue>{}</PlainValue></Secret>\
                 <TimeInterval><PlainValue>{STEP_SECS}</PlainValue></TimeInterval></Data>\
                 </Key></KeyPackage>\n",
                seed
            ));
            assign.insert(serial, card_pan(i));
        }
        xml.push_str("</KeyContainer>\n");
        let import = PskcImport {
            pskc: xml,
            assign,
            preshared_key_hex: None,
            password: None,
        };
        serde_json::to_value(&import).expect("a PSKC import serializes")
    }
}

/// What the driver knows a request's answer must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A right, unused code: `200 {"approved": true, "response_code": "00"}`.
    Approved,
    /// A wrong code: `200 {"approved": false, "response_code": "55", "reason": "wrong_password"}`.
    WrongPassword,
    /// `GET /v1/health`: 200.
    Healthy,
}

/// One answer, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The answer as counted: `200 00 approved`, `503 unavailable`, `transport error`, …
    pub label: String,
    /// Whether it is the answer the request had to get.
    pub ok: bool,
}

/// The label of an answer: status, and for 200 the response code and reason (verify) or nothing
/// (health); for errors the API's error code.
pub fn label(status: u16, body: &[u8]) -> String {
    if status == 200 {
        match serde_json::from_slice::<VerifyResult>(body) {
            Ok(r) => format!("200 {} {}", r.response_code, r.reason),
            Err(_) => "200".to_owned(),
        }
    } else {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(e) => format!("{status} {}", e.error.code),
            Err(_) => format!("{status} (no error code)"),
        }
    }
}

/// The label of the answer each expectation must get.
const APPROVED: &str = "200 00 approved";
const WRONG_PASSWORD: &str = "200 55 wrong_password";
const HEALTHY: &str = "200";

/// Judges one answer (status and body bytes) against what it must be. The body is read into
/// the contract's own type: an answer with the right fields and values is right, anything else is
/// an error whose label says what came.
pub fn judge(expect: Expect, status: u16, body: &[u8]) -> Judged {
    let verdict = || serde_json::from_slice::<VerifyResult>(body).ok();
    let ok = match expect {
        Expect::Approved => {
            status == 200 && verdict().is_some_and(|r| r.approved && r.response_code == "00")
        }
        Expect::WrongPassword => {
            status == 200
                && verdict().is_some_and(|r| {
                    !r.approved && r.response_code == "55" && r.reason == "wrong_password"
                })
        }
        Expect::Healthy => status == 200,
    };
    // A right answer's label is known without formatting it again.
    let label = match (ok, expect) {
        (true, Expect::Approved) => APPROVED.to_owned(),
        (true, Expect::WrongPassword) => WRONG_PASSWORD.to_owned(),
        (true, Expect::Healthy) => HEALTHY.to_owned(),
        (false, _) => label(status, body),
    };
    Judged { label, ok }
}

/// Sends one request and judges its answer; a transport failure is an error too.
pub async fn send_and_judge(
    conn: &mut Conn,
    req: Request<'_>,
    expect: Expect,
) -> (Judged, Option<String>) {
    match conn.send(req).await {
        Ok((status, body)) => {
            let j = judge(expect, status, &body);
            let detail = (!j.ok).then(|| {
                format!(
                    "expected {expect:?}, got {}: {}",
                    j.label,
                    String::from_utf8_lossy(&body)
                )
            });
            (j, detail)
        }
        Err(e) => {
            let label = if e.contains("timed out") {
                "transport: timed out"
            } else {
                "transport error"
            };
            (
                Judged {
                    label: label.to_owned(),
                    ok: false,
                },
                Some(e),
            )
        }
    }
}

/// A wrong code of the same length as `right` that is none of `avoid`: the server would decide
/// those otherwise (a static PIN it may still accept; a code of one of the ten steps before the
/// current one, which it names `expired_password` or `replayed`). One digit of `right` is moved on.
pub fn wrong_code(right: &str, avoid: &[String]) -> String {
    let b = right.as_bytes();
    for pos in 0..b.len() {
        for by in 1..10u8 {
            let mut w = b.to_vec();
            w[pos] = b'0' + (w[pos] - b'0' + by) % 10;
            let w = String::from_utf8(w).expect("ASCII digits");
            if !avoid.contains(&w) {
                return w;
            }
        }
    }
    unreachable!("fewer than 9 * len codes to avoid")
}

/// Whether request number `i` of round `round` carries a wrong code, for a share `share` (0..=1)
/// of wrong codes: a fixed pseudo-random choice, so runs repeat.
pub fn is_wrong(i: u64, round: u64, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    // splitmix64 of (round, i).
    let mut z = i
        .wrapping_add(round.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z as f64 / u64::MAX as f64) < share
}

/// The `p`th percentile (nearest rank) of sorted latencies in microseconds, in milliseconds.
pub fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
}

pub fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

/// One line of a chart: a name and its (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The fields of a `--csv` line after its label; none of them ever holds a comma.
pub const CSV_FIELDS: &str =
    "store,target,cards,connections,seconds,rate,p50_ms,p90_ms,p99_ms,p999_ms,errors";

/// A label as the first field of a `--csv` line: quoted (RFC 4180) when it holds a comma, a
/// quote or a line break, so that a spreadsheet reads it as one field.
pub fn csv_label(label: &str) -> String {
    if label.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", label.replace('"', "\"\""))
    } else {
        label.to_owned()
    }
}

/// One point a `--csv` line gives the chart.
#[derive(Debug, PartialEq)]
pub struct CsvPoint {
    pub label: String,
    pub connections: f64,
    pub rate: f64,
}

/// Reads a `--csv` line back. The fields after the label are counted from the right, so a label
/// with commas reads whole, quoted or not (lines written before labels were quoted).
pub fn parse_csv_point(line: &str) -> Result<CsvPoint, String> {
    let after_label = CSV_FIELDS.split(',').count();
    let mut fields: Vec<&str> = line.trim_end().rsplitn(after_label + 1, ',').collect();
    if fields.len() != after_label + 1 {
        return Err(format!(
            "bad csv line {line:?}: fewer than {} fields",
            after_label + 1
        ));
    }
    fields.reverse();
    let raw = fields[0];
    let label = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => raw.to_owned(),
    };
    let number = |i: usize, name: &str| -> Result<f64, String> {
        fields[i]
            .trim()
            .parse()
            .map_err(|_| format!("bad csv line {line:?}: {name} is {:?}", fields[i]))
    };
    Ok(CsvPoint {
        label,
        connections: number(4, "connections")?,
        rate: number(6, "rate")?,
    })
}

/// The chart's lines from `--csv` text: one per label, points in order of connections. A label
/// whose points all have one number of connections (a sweep by cards) draws no line here: it
/// is named in the second list.
pub fn series_by_connections(csv: &str) -> Result<(Vec<Series>, Vec<String>), String> {
    let mut series: Vec<Series> = Vec::new();
    for line in csv
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let p = parse_csv_point(line)?;
        match series.iter_mut().find(|s| s.name == p.label) {
            Some(s) => s.points.push((p.connections, p.rate)),
            None => series.push(Series {
                name: p.label,
                points: vec![(p.connections, p.rate)],
            }),
        }
    }
    let (by_connections, other): (Vec<Series>, Vec<Series>) = series
        .into_iter()
        .partition(|s| s.points.len() < 2 || s.points.iter().any(|p| p.0 != s.points[0].0));
    let mut by_connections = by_connections;
    for s in &mut by_connections {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok((by_connections, other.into_iter().map(|s| s.name).collect()))
}

/// A line chart as SVG: x on a log2 scale (connections or cards), y linear from 0.
pub fn svg_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 420.0;
    const L: f64 = 80.0;
    const R: f64 = 190.0;
    const T: f64 = 40.0;
    const B: f64 = 60.0;
    let colours = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
    ];
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &(x, y) in pts {
        x0 = x0.min(x.log2());
        x1 = x1.max(x.log2());
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    // A round top for the y axis.
    let mag = 10f64.powf(y1.max(1.0).log10().floor());
    let y_top = ((y1 / mag).ceil().max(1.0)) * mag;
    let px = |x: f64| L + (x.log2() - x0) / (x1 - x0) * (W - L - R);
    let py = |y: f64| H - B - y / y_top * (H - T - B);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        (W - R + L) / 2.0,
        xml(title)
    );
    // Axes, grid and ticks.
    s += &format!(
        "<line x1=\"{L}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{}\" stroke=\"black\"/>\n",
        H - B,
        W - R,
        H - B,
        H - B
    );
    for k in 0..=5 {
        let y = y_top * f64::from(k) / 5.0;
        s += &format!(
            "<line x1=\"{L}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\">{4}</text>\n",
            py(y),
            W - R,
            L - 6.0,
            py(y) + 4.0,
            y as u64
        );
    }
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for x in xs {
        s += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            px(x),
            H - B + 18.0,
            x as u64
        );
    }
    s += &format!(
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">{}</text>\n",
        (W - R + L) / 2.0,
        H - 16.0,
        xml(x_label),
        (H - B + T) / 2.0,
        (H - B + T) / 2.0,
        xml(y_label)
    );
    for (i, se) in series.iter().enumerate() {
        let c = colours[i % colours.len()];
        let path: Vec<String> = se
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n",
            path.join(" ")
        );
        for &(x, y) in &se.points {
            s += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>\n",
                px(x),
                py(y)
            );
        }
        let ly = T + 10.0 + 20.0 * i as f64;
        s += &format!(
            "<line x1=\"{0}\" y1=\"{ly}\" x2=\"{1}\" y2=\"{ly}\" stroke=\"{c}\" stroke-width=\"2\"/>\
             <text x=\"{2}\" y=\"{3}\">{4}</text>\n",
            W - R + 15.0,
            W - R + 40.0,
            W - R + 46.0,
            ly + 4.0,
            xml(&se.name)
        );
    }
    s += "</svg>\n";
    s
}

fn xml(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn card_numbers_pass_luhn() {
        assert_eq!(luhn_pan("628023123456789"), "6280231234567898");
        // Every number of a run is a card number (16 digits passing the Luhn check) and unique.
        for i in [0, 1, 9, 12_345, 999_999, 9_999_999, 999_999_999] {
            let pan = card_pan(i);
            assert_eq!(pan.len(), 16);
            assert!(pan.starts_with("628023"));
            assert!(card_number::is_valid(&pan), "{i}");
        }
        assert_ne!(card_pan(1), card_pan(10));
    }

    #[test]
    fn judging_answers() {
        let b = |v: Value| v.to_string().into_bytes();
        let approved = b(json!({"approved": true, "response_code": "00", "reason": "approved"}));
        let wrong =
            b(json!({"approved": false, "response_code": "55", "reason": "wrong_password"}));
        let replayed = b(json!({"approved": false, "response_code": "55", "reason": "replayed"}));
        assert!(judge(Expect::Approved, 200, &approved).ok);
        assert!(!judge(Expect::Approved, 200, &wrong).ok);
        assert!(!judge(Expect::Approved, 503, &approved).ok);
        assert!(judge(Expect::WrongPassword, 200, &wrong).ok);
        assert!(!judge(Expect::WrongPassword, 200, &approved).ok);
        assert!(!judge(Expect::WrongPassword, 200, &replayed).ok);
        assert!(judge(Expect::Healthy, 200, &b(json!({"status": "ok"}))).ok);
        assert!(!judge(Expect::Healthy, 503, &b(json!({}))).ok);
        assert!(!judge(Expect::Approved, 200, b"not json").ok);
        assert_eq!(
            judge(Expect::Approved, 200, &wrong).label,
            "200 55 wrong_password"
        );
        // A right answer's label, known in advance, is the one its body would give.
        for (expect, body) in [
            (Expect::Approved, &approved),
            (Expect::WrongPassword, &wrong),
        ] {
            assert_eq!(judge(expect, 200, body).label, label(200, body));
        }
        assert_eq!(
            label(503, &b(json!({"error": {"code": "unavailable"}}))),
            "503 unavailable"
        );
    }

    #[test]
    fn wrong_codes_differ_and_avoid_what_they_must() {
        let avoid = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(wrong_code("0234", &avoid(&["1234"])), "2234");
        assert_eq!(wrong_code("9876", &avoid(&["1234"])), "0876");
        let all_first: Vec<String> = (0..10).map(|d| format!("{d}234")).collect();
        assert_eq!(wrong_code("0234", &all_first), "0334");
        for right in ["0000", "12345678", "99999999"] {
            let w = wrong_code(right, &avoid(&["1234"]));
            assert_ne!(w, right);
            assert_eq!(w.len(), right.len());
        }
    }

    #[test]
    fn wrong_share_is_about_right() {
        let n = (0..100_000).filter(|&i| is_wrong(i, 3, 0.1)).count();
        assert!((9_000..11_000).contains(&n), "{n}");
        assert_eq!((0..1000).filter(|&i| is_wrong(i, 0, 0.0)).count(), 0);
        assert_eq!((0..1000).filter(|&i| is_wrong(i, 0, 1.0)).count(), 1000);
    }

    #[test]
    fn chart_is_svg_with_every_series() {
        let svg = svg_chart(
            "t",
            "connections",
            "verifications/s",
            &[
                Series {
                    name: "SQLite".into(),
                    points: vec![(1.0, 100.0), (8.0, 900.0)],
                },
                Series {
                    name: "a<b".into(),
                    points: vec![(1.0, 50.0)],
                },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("SQLite") && svg.contains("a&lt;b"));
        assert_eq!(svg.matches("<polyline").count(), 2);
    }

    #[test]
    fn csv_labels_with_commas_read_back_whole() {
        let quoted = format!(
            "{},sqlite,verify,1000,64,5.00,4747,12.10,20.00,32.80,50.00,0",
            csv_label("SQLite verify, 1 000 cards")
        );
        assert!(quoted.starts_with("\"SQLite verify, 1 000 cards\","));
        let want = CsvPoint {
            label: "SQLite verify, 1 000 cards".into(),
            connections: 64.0,
            rate: 4747.0,
        };
        assert_eq!(parse_csv_point(&quoted).unwrap(), want);
        // Written before labels were quoted: the label still reads whole.
        let bare =
            "SQLite verify, 1 000 cards,sqlite,verify,1000,64,5.00,4747,12.10,20.00,32.80,50.00,0";
        assert_eq!(parse_csv_point(bare).unwrap(), want);
        assert_eq!(csv_label("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(
            parse_csv_point(&format!(
                "{},postgres,verify,1,2,3,4,5,6,7,8,0",
                csv_label("say \"hi\"")
            ))
            .unwrap()
            .label,
            "say \"hi\""
        );
        assert!(parse_csv_point("x,1,2").is_err());
        assert!(parse_csv_point("x,sqlite,verify,1000,many,5.00,1,1,1,1,1,0").is_err());
    }

    #[test]
    fn series_by_connections_leaves_a_sweep_by_cards_out() {
        let csv = "# label,store\n\
                   a,sqlite,verify,1000,8,5,200,1,1,1,1,0\n\
                   a,sqlite,verify,1000,1,5,100,1,1,1,1,0\n\
                   by cards,sqlite,verify,1000,64,8,90,1,1,1,1,0\n\
                   by cards,sqlite,verify,10000,64,8,80,1,1,1,1,0\n";
        let (series, left_out) = series_by_connections(csv).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].name, "a");
        assert_eq!(series[0].points, vec![(1.0, 100.0), (8.0, 200.0)]);
        assert_eq!(left_out, vec!["by cards".to_owned()]);
    }
}
