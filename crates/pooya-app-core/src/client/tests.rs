//! The app's side of the protocol against a scripted server, and against the real server side
//! of `pooya_enroll` run in the test.

use super::*;
use std::cell::RefCell;
use std::collections::VecDeque;

type Handler = Box<dyn Fn(&str, Option<&Value>) -> Option<HttpReply>>;

/// A scripted server: answers in order and records what it was asked.
struct Fake {
    replies: RefCell<VecDeque<std::result::Result<HttpReply, TransportError>>>,
    seen: RefCell<Vec<(Method, String, Option<Value>)>>,
    /// Called on each request to compute a reply dynamically (for the SPAKE2 server side).
    handler: Option<Handler>,
}

impl Fake {
    fn new(replies: Vec<std::result::Result<HttpReply, TransportError>>) -> Self {
        Self {
            replies: RefCell::new(replies.into()),
            seen: RefCell::default(),
            handler: None,
        }
    }
}

impl Transport for Fake {
    fn server(&self) -> &str {
        "http://bank.test"
    }
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<HttpReply, TransportError> {
        self.seen
            .borrow_mut()
            .push((method, path.to_owned(), body.cloned()));
        if let Some(h) = &self.handler {
            if let Some(r) = h(path, body) {
                return Ok(r);
            }
        }
        self.replies
            .borrow_mut()
            .pop_front()
            .expect("no more scripted replies")
    }
}

fn reply(status: u16, body: Value) -> std::result::Result<HttpReply, TransportError> {
    Ok(HttpReply {
        status,
        body: serde_json::to_vec(&body).unwrap(),
    })
}

fn refusal(status: u16, code: &str) -> std::result::Result<HttpReply, TransportError> {
    reply(status, json!({"error": {"code": code, "message": "nope"}}))
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

const PAN: &str = "6280231234567890";

fn req() -> EnrollRequest<'static> {
    EnrollRequest {
        pan: PAN,
        receipt_code: "123456",
        sms_code: "654321",
        label: "card-7890",
    }
}

fn params_ok() -> std::result::Result<HttpReply, TransportError> {
    reply(200, params_body())
}

fn params_body() -> Value {
    json!({"protocol": pooya_enroll::PROTOCOL, "receipt_code_digits": 6,
           "sms_code_digits": 6, "tries_per_address": 3})
}

fn enroll_err(replies: Vec<std::result::Result<HttpReply, TransportError>>) -> String {
    let fake = Fake::new(replies);
    block_on(enroll(&fake, &req(), || 1_000_000, || None))
        .unwrap_err()
        .to_string()
}

#[test]
fn server_addresses() {
    assert_eq!(
        normalize_server("https://bank.example/").unwrap(),
        "https://bank.example"
    );
    assert_eq!(
        normalize_server("http://127.0.0.1:8080").unwrap(),
        "http://127.0.0.1:8080"
    );
    assert_eq!(
        normalize_server("https://b.example/pooya/").unwrap(),
        "https://b.example/pooya"
    );
    assert!(normalize_server("ftp://bank.example").is_err());
    assert!(normalize_server("bank.example").is_err());
    // An address without a scheme is told what to add, not "relative URL without a base".
    let e = normalize_server("127.0.0.1:18181").unwrap_err().to_string();
    assert!(e.contains("add http:// or https://"), "{e}");
    assert!(e.contains("https://127.0.0.1:18181"), "{e}");
    assert!(!e.contains("relative URL"), "{e}");
    // An address without a scheme is told what to add, not "relative URL without a base".
    let e = normalize_server("127.0.0.1:18181").unwrap_err().to_string();
    assert!(e.contains("add http:// or https://"), "{e}");
    assert!(e.contains("https://127.0.0.1:18181"), "{e}");
    assert!(!e.contains("relative URL"), "{e}");
    assert!(normalize_server("https://u:p@bank.example").is_err());
    assert!(normalize_server("https://bank.example/?x=1").is_err());
}

#[test]
fn path_segments_are_escaped() {
    assert_eq!(segment("tok_AZ-09.~"), "tok_AZ-09.~");
    assert_eq!(segment("../x y"), "..%2Fx%20y");
}

#[test]
fn enrollment_refusals_in_plain_words() {
    let cases = [
        (422, "invalid_pan", "not valid"),
        (
            429,
            "enrollment_tries_used_up",
            "no tries are left for this card from this network",
        ),
        (403, "network_not_allowed", "VPN"),
        (418, "teapot", "the server refused (HTTP 418, teapot): nope"),
    ];
    for (status, code, expect) in cases {
        let msg = enroll_err(vec![params_ok(), refusal(status, code)]);
        assert!(msg.contains(expect), "{code}: {msg}");
    }
    // A server without this app's enrollment, or of another protocol version.
    let msg = enroll_err(vec![refusal(404, "not_found")]);
    assert!(
        msg.contains("does not offer this app's enrollment"),
        "{msg}"
    );
    let mut other = params_body();
    other["protocol"] = json!("pooya-enroll-v1");
    let msg = enroll_err(vec![reply(200, other)]);
    assert!(msg.contains("update the app"), "{msg}");
}

#[test]
fn unreachable_and_garbage() {
    let msg = enroll_err(vec![Err(TransportError::Unreachable(
        "could not connect".into(),
    ))]);
    assert_eq!(
        msg,
        "cannot reach the server at http://bank.test (could not connect): check the internet \
         connection"
    );
    let msg = enroll_err(vec![Ok(HttpReply {
        status: 200,
        body: b"<html>".to_vec(),
    })]);
    assert!(
        msg.starts_with("the server at http://bank.test gave an answer"),
        "{msg}"
    );
    let msg = enroll_err(vec![Ok(HttpReply {
        status: 502,
        body: b"bad gateway".to_vec(),
    })]);
    assert_eq!(
        msg,
        "the server at http://bank.test failed (HTTP 502); try again later"
    );
    let msg = enroll_err(vec![Ok(HttpReply {
        status: 302,
        body: vec![],
    })]);
    assert!(msg.contains("does not understand (HTTP 302)"), "{msg}");
    let msg = enroll_err(vec![params_ok(), reply(201, json!({"enrollment_id": "e"}))]);
    assert!(msg.contains("does not understand"), "{msg}");
    let msg = enroll_err(vec![
        params_ok(),
        reply(
            201,
            json!({"enrollment_id": "e", "spake_msg": "!!", "confirm": "", "tries_left": 2}),
        ),
    ]);
    assert!(msg.contains("spake_msg is not base64"), "{msg}");
}

/// A fake server that runs the real server side of the protocol.
fn spake_server(receipt: &'static str, sms: &'static str, tries_left: u32) -> Fake {
    use pooya_enroll::{activation_secret, server_finish, server_respond, PendingEnrollment};
    let pending: std::rc::Rc<RefCell<Option<PendingEnrollment>>> = Default::default();
    let mut fake = Fake::new(vec![]);
    fake.handler = Some(Box::new(move |path, body| {
        let body = body.cloned().unwrap_or(Value::Null);
        let (status, out) = if path == "/v1/app/enrollment-parameters" {
            (200, params_body())
        } else if path == "/v1/app/enrollments" {
            assert_eq!(body["pan"], PAN);
            let msg = b64_decode(body["spake_msg"].as_str().unwrap()).unwrap();
            let secret = activation_secret(PAN, receipt, sms);
            let r = server_respond(&secret, PAN, &msg).unwrap();
            *pending.borrow_mut() = Some(r.pending);
            (
                201,
                json!({"enrollment_id": "enr 1", "spake_msg": b64_encode(&r.msg),
                       "confirm": b64_encode(&r.confirm), "tries_left": tries_left}),
            )
        } else if path == "/v1/app/enrollments/enr%201/confirm" {
            let confirm = b64_decode(body["confirm"].as_str().unwrap()).unwrap();
            let p = pending.borrow();
            let seed = server_finish(p.as_ref().unwrap(), &confirm).unwrap();
            let issued = IssuedToken {
                token_id: "tok1".into(),
                pan_masked: "628023******7890".into(),
                bank_name: "Maskan".into(),
                lifetime_secs: 120,
                algorithm: "SHA256".into(),
                first_digits: 4,
                second_digits: 8,
                server_unix_ms: 5_000_000,
            };
            (
                200,
                json!({"token_id": "tok1", "pan_masked": "628023******7890",
                       "bank_name": "Maskan", "lifetime_secs": 120, "algorithm": "SHA256",
                       "first_digits": 4, "second_digits": 8, "server_unix_ms": 5_000_000,
                       "mac": b64_encode(&issued.mac(&seed))}),
            )
        } else {
            return None;
        };
        Some(HttpReply {
            status,
            body: serde_json::to_vec(&out).unwrap(),
        })
    }));
    fake
}

#[test]
fn enrollment_end_to_end_with_fake_server() {
    let fake = spake_server("123456", "654321", 2);
    let clock = std::cell::Cell::new(4_000_000i64);
    let now = || {
        clock.set(clock.get() + 100);
        clock.get()
    };
    let boot = || {
        Some(Boot {
            id: "boot-1".into(),
            uptime_ms: 1_000_000,
        })
    };
    let enrolled = block_on(enroll(&fake, &req(), now, boot)).unwrap();
    let t = &enrolled.token;
    assert_eq!(t.token_id, "tok1");
    assert_eq!(t.label, "card-7890");
    assert_eq!(t.bank_name, "Maskan");
    assert_eq!(t.pan.expose(), PAN);
    assert_eq!(t.pan_masked, "628023******7890");
    assert_eq!(t.lifetime_secs, 120);
    assert_eq!(t.algorithm, "SHA256");
    assert_eq!((t.first_digits, t.second_digits), (4, 8));
    assert_eq!(t.seed.expose().len(), 32);
    // The confirm request went out at 4_000_100 and came back at 4_000_200.
    assert_eq!(enrolled.clock.offset_ms, 5_000_000 - 4_000_150);
    assert_eq!(enrolled.clock.round_trip_ms, 100);
    assert_eq!(enrolled.clock.server, fake.server());
    // The boot, read after the answer, dates the measurement in it (the middle minus uptime).
    assert_eq!(enrolled.clock.boot_id.as_deref(), Some("boot-1"));
    assert_eq!(enrolled.clock.boot_wall_ms, Some(4_000_150 - 1_000_000));
    let seen = fake.seen.borrow();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].0, Method::Get);
}

#[test]
fn wrong_codes_detected_locally() {
    let fake = spake_server("123456", "999999", 2);
    let err = block_on(enroll(&fake, &req(), || 1, || None))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("no app activation is waiting for this card, or the receipt code"),
        "{err}"
    );
    assert!(err.ends_with("(2 tries left from this network)"), "{err}");
    // No confirmation was posted.
    assert_eq!(fake.seen.borrow().len(), 2);

    let fake = spake_server("123456", "999999", 0);
    let err = block_on(enroll(&fake, &req(), || 1, || None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no tries are left"), "{err}");
}

#[test]
fn wrong_codes_reported_by_server() {
    let mut fake = spake_server("123456", "654321", 2);
    let inner = fake.handler.take().unwrap();
    fake.handler = Some(Box::new(move |path, body| {
        if path.ends_with("/confirm") {
            let b = json!({"error": {"code": "wrong_activation_codes", "message": "x",
                                     "tries_left": 1}});
            return Some(HttpReply {
                status: 403,
                body: serde_json::to_vec(&b).unwrap(),
            });
        }
        inner(path, body)
    }));
    let err = block_on(enroll(&fake, &req(), || 1, || None))
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("(1 try left from this network)"), "{err}");
}

#[test]
fn codes_in_persian_digits_enroll_and_typos_send_nothing() {
    let fake = spake_server("123456", "654321", 2);
    let persian = EnrollRequest {
        receipt_code: "۱۲۳ ۴۵۶",
        sms_code: "٦٥٤٣٢١",
        ..req()
    };
    block_on(enroll(&fake, &persian, || 1, || None)).expect("Persian digits are digits");
    for (receipt, sms, says) in [
        ("12345", "654321", "the receipt code has 5 digits"),
        ("123456", "6543", "the SMS code has 4 digits"),
        ("12345x", "654321", "the receipt code must be digits only"),
    ] {
        let fake = spake_server("123456", "654321", 2);
        let typo = EnrollRequest {
            receipt_code: receipt,
            sms_code: sms,
            ..req()
        };
        let err = block_on(enroll(&fake, &typo, || 1, || None))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(says), "{err}");
        // Only the parameters were asked for: no start, no try.
        assert_eq!(fake.seen.borrow().len(), 1, "{err}");
    }
}

/// The enrollment with the real server side, its confirm reply changed by `change` on the
/// way: the app's message.
fn enroll_with_changed_reply(change: impl Fn(&mut Value) + 'static) -> String {
    let mut fake = spake_server("123456", "654321", 2);
    let inner = fake.handler.take().unwrap();
    fake.handler = Some(Box::new(move |path, body| {
        let mut r = inner(path, body)?;
        if path.ends_with("/confirm") {
            let mut v: Value = serde_json::from_slice(&r.body).unwrap();
            change(&mut v);
            r.body = serde_json::to_vec(&v).unwrap();
        }
        Some(r)
    }));
    block_on(enroll(&fake, &req(), || 1, || None))
        .unwrap_err()
        .to_string()
}

/// A man in the middle changes one field of the last reply: the app refuses it.
#[test]
fn a_changed_confirm_reply_is_refused() {
    let fields: [(&str, Value); 8] = [
        ("token_id", json!("tok2")),
        ("pan_masked", json!("628023******7891")),
        ("bank_name", json!("Other")),
        ("lifetime_secs", json!(60)),
        ("algorithm", json!("SHA1")),
        ("first_digits", json!(6)),
        ("second_digits", json!(6)),
        ("server_unix_ms", json!(9_000_000)),
    ];
    for (field, value) in fields {
        let err = enroll_with_changed_reply(move |v| v[field] = value.clone());
        assert!(err.contains("does not check out"), "{field}: {err}");
    }
    // No MAC at all: not this protocol.
    let err = enroll_with_changed_reply(|v| {
        v.as_object_mut().unwrap().remove("mac");
    });
    assert!(err.contains("does not understand"), "{err}");
}

fn token() -> Token {
    Token {
        label: "card-7890".into(),
        token_id: "tok/1".into(),
        server: "http://bank.test".into(),
        bank_name: "Maskan".into(),
        pan: SecretString::new(PAN.into()),
        pan_masked: mask_pan(PAN),
        seed: SecretBytes::from_slice(&[9; 32]),
        lifetime_secs: 60,
        algorithm: "SHA256".into(),
        first_digits: 4,
        second_digits: 8,
        added_at_unix_ms: 0,
    }
}

#[test]
fn removal() {
    let nonce = [5u8; 16];
    let fake = Fake::new(vec![
        reply(
            200,
            json!({"nonce": b64_encode(&nonce), "expires_at": "2030-01-01T00:00:00Z"}),
        ),
        reply(200, json!({"removed": true})),
    ]);
    block_on(remove_token(&fake, &token())).unwrap();
    let seen = fake.seen.borrow();
    assert_eq!(seen[0].1, "/v1/app/tokens/tok%2F1/removal-challenge");
    assert_eq!(seen[1].1, "/v1/app/tokens/tok%2F1/removal");
    let body = seen[1].2.as_ref().unwrap();
    let proof = b64_decode(body["proof"].as_str().unwrap()).unwrap();
    let seed = Seed::from_bytes(&[9; 32]).unwrap();
    assert!(pooya_enroll::verify_removal_proof(
        &seed, "tok/1", &nonce, &proof
    ));
}

#[test]
fn removal_refusals() {
    let ch = || reply(200, json!({"nonce": "AAAA", "expires_at": "x"}));
    let cases = [
        (vec![refusal(404, "unknown_token")], "--local-only"),
        (vec![ch(), refusal(403, "bad_proof")], "did not accept"),
        (vec![ch(), refusal(410, "challenge_expired")], "try again"),
        (vec![refusal(403, "network_not_allowed")], "VPN"),
        (
            vec![ch(), reply(200, json!({"removed": false}))],
            "did not remove",
        ),
    ];
    for (replies, expect) in cases {
        let fake = Fake::new(replies);
        let msg = block_on(remove_token(&fake, &token()))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(expect), "{expect}: {msg}");
    }
}
