//! The edges of the HTTP contract (docs/api.md, "Transport and errors" and "Who may call what"): keys
//! and roles on every endpoint, bad input of every kind on every endpoint, unknown and duplicate
//! things, idempotency of `/v1/verify`, body size, unknown paths and the shape of every error.
//! Every refusal must change nothing, and each test checks that afterwards.

use crate::common::*;

use serde_json::{json, Value};

const BARRIER_CUSTOMER: &str = "BARRIER";
const BARRIER_MOBILE: &str = "09190000000";
/// Passes Luhn; the branch never registers it.
const UNKNOWN_PAN: &str = "6037991234567893";

// ------------------------------------------------------------------ helpers

/// A request with a raw body (`None`: no body), optional role key or raw Authorization header.
async fn raw(
    srv: &TestServer,
    method: &str,
    path: &str,
    auth: Auth<'_>,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = srv.http.request(m, format!("{}{}", srv.url, path));
    match auth {
        Auth::None => {}
        Auth::Role(r) => req = req.bearer_auth(srv.key(r)),
        Auth::Header(h) => req = req.header("Authorization", h),
    }
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Role(&'a str),
    Header(&'a str),
}

/// `{"error": {"code": code, "message": "…"}}` with this status, and nothing else in the body.
#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str, what: &str) {
    let (s, v) = got;
    assert_eq!(*s, status, "{what}: {v}");
    assert_error_shape(v, what);
    assert_eq!(v["error"]["code"], code, "{what}: {v}");
}

#[track_caller]
fn assert_error_shape(v: &Value, what: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    assert_eq!(obj.len(), 1, "{what}: only `error` in an error body: {v}");
    let e = v["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {v}"));
    let code = e.get("code").and_then(Value::as_str).unwrap_or("");
    assert!(
        !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "{what}: snake_case code: {v}"
    );
    let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
    assert!(!msg.is_empty(), "{what}: a human message: {v}");
}

fn set(body: &Value, pointer: &str, value: Value) -> Value {
    let mut b = body.clone();
    *b.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")) = value;
    b
}

fn remove(body: &Value, pointer: &str) -> Value {
    let mut b = body.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let obj = if parent.is_empty() {
        b.as_object_mut()
    } else {
        b.pointer_mut(parent).and_then(Value::as_object_mut)
    };
    assert!(obj.unwrap().remove(key).is_some(), "{pointer}");
    b
}

/// One endpoint that takes a JSON body: a body the server would act on, and which of its fields
/// are strings and which numbers (JSON pointers).
struct BodyEndpoint {
    method: &'static str,
    path: &'static str,
    role: Option<&'static str>,
    body: Value,
    strings: &'static [&'static str],
    numbers: &'static [&'static str],
}

fn body_endpoints() -> Vec<BodyEndpoint> {
    vec![
        BodyEndpoint {
            method: "POST",
            path: "/v1/customers",
            role: Some("branch"),
            body: json!({"customer_id": "C9", "mobile": "09129999999"}),
            strings: &["/customer_id", "/mobile"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "PUT",
            path: "/v1/customers/C1/mobile",
            role: Some("branch"),
            body: json!({"mobile": MOBILE2}),
            strings: &["/mobile"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/cards",
            role: Some("branch"),
            body: json!({"pan": PAN2, "customer_id": "C1", "expiry": "9912",
                         "pin": PIN, "second_password": STATIC_SECOND}),
            strings: &[
                "/pan",
                "/customer_id",
                "/expiry",
                "/pin",
                "/second_password",
            ],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/atm/activate-app",
            role: Some("atm"),
            body: json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
            strings: &["/pan", "/pin", "/mobile"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/atm/activate-sms",
            role: Some("atm"),
            body: json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
            strings: &["/pan", "/pin", "/mobile"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/atm/deactivate",
            role: Some("atm"),
            body: json!({"pan": PAN, "pin": PIN}),
            strings: &["/pan", "/pin"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/atm/block-second-password",
            role: Some("atm"),
            body: json!({"pan": PAN, "pin": PIN}),
            strings: &["/pan", "/pin"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/sms/inbound",
            role: Some("sms"),
            body: json!({"from": MOBILE, "to": "10002516", "text": "7898"}),
            strings: &["/from", "/to", "/text"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/verify",
            role: Some("switch"),
            body: json!({"pan": PAN, "kind": "second", "password": STATIC_SECOND,
                         "txn": {"id": "TB", "amount": 1_250_000, "merchant": "Shop"}}),
            strings: &["/pan", "/kind", "/password", "/txn/id", "/txn/merchant"],
            numbers: &["/txn/amount"],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/otp-requests",
            role: Some("switch"),
            body: json!({"pan": PAN, "txn": {"id": "TO", "amount": 1_250_000, "merchant": "Shop"}}),
            strings: &["/pan", "/txn/id", "/txn/merchant"],
            numbers: &["/txn/amount"],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/app/enrollments",
            role: None,
            body: json!({"pan": PAN, "spake_msg": "AAAA"}),
            strings: &["/pan", "/spake_msg"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/app/enrollments/abc123/confirm",
            role: None,
            body: json!({"confirm": "AAAA"}),
            strings: &["/confirm"],
            numbers: &[],
        },
        BodyEndpoint {
            method: "POST",
            path: "/v1/app/tokens/abc123/removal",
            role: None,
            body: json!({"nonce": "AAAA", "proof": "AAAA"}),
            strings: &["/nonce", "/proof"],
            numbers: &[],
        },
    ]
}

/// Every endpoint of docs/api.md's tables with the role it needs and a body of the right shape.
fn keyed_endpoints() -> Vec<(&'static str, String, &'static str, Option<Value>)> {
    let mut v: Vec<(&'static str, String, &'static str, Option<Value>)> = body_endpoints()
        .into_iter()
        .filter_map(|e| {
            e.role
                .map(|r| (e.method, e.path.to_owned(), r, Some(e.body.clone())))
        })
        .collect();
    v.push(("GET", format!("/v1/cards/{PAN}"), "branch", None));
    v.push((
        "POST",
        format!("/v1/cards/{PAN}/second-password/unblock"),
        "branch",
        None,
    ));
    v.push((
        "POST",
        "/v1/test/clock".to_owned(),
        "admin",
        Some(json!({"advance_ms": 0})),
    ));
    v
}

const ROLES: [&str; 5] = ["admin", "branch", "atm", "sms", "switch"];

/// A customer and card whose app activation flushes the SMS outbox: see [`settle`].
async fn barrier_setup(srv: &TestServer) -> String {
    let pan = (0..10)
        .map(|d| format!("60379911111{d}0001"))
        .find(|p| luhn_ok(p))
        .unwrap();
    srv.customer(BARRIER_CUSTOMER, BARRIER_MOBILE).await;
    srv.card(&pan, BARRIER_CUSTOMER).await;
    pan
}

/// Queues an SMS of its own and waits for it: every SMS queued before has left by then. Returns
/// the messages that are not the barrier's.
async fn settle(srv: &TestServer, barrier_pan: &str) -> Vec<Value> {
    let before = srv.outbox().len();
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": barrier_pan, "pin": PIN, "mobile": BARRIER_MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let msgs = srv.outbox();
        if msgs.len() > before && msgs.last().unwrap()["to"] == BARRIER_MOBILE {
            return msgs
                .into_iter()
                .filter(|m| m["to"] != BARRIER_MOBILE)
                .collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "barrier not delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The card PAN as a fresh card: no dynamic service, not blocked, no failures.
#[track_caller]
fn assert_untouched(info: &CardView) {
    assert_eq!(info.dynamic.mode, DynamicMode::None, "{info:?}");
    assert_eq!(info.dynamic.state, DynamicState::Inactive, "{info:?}");
    assert!(!info.second_password_blocked, "{info:?}");
    assert_eq!(info.recent_failures, 0, "{info:?}");
    assert_eq!(info.customer_id, "C1", "{info:?}");
}

/// After a batch of refusals: nothing was created, changed or sent.
async fn assert_nothing_changed(srv: &TestServer, barrier: &str) {
    assert_untouched(&srv.card_info(PAN).await);
    assert!(settle(srv, barrier).await.is_empty(), "no SMS sent");
    // C1's mobile is still MOBILE: an SMS activation with it is accepted (done last: it changes
    // the card).
    // C9, PAN2 and transaction TB were never created.
    let (s, v) = srv
        .post(
            "/v1/customers",
            "branch",
            json!({"customer_id": "C9", "mobile": "09129999999"}),
        )
        .await;
    assert_eq!(s, 201, "C9 was not created by a refused request: {v}");
    srv.card(PAN2, "C1").await;
    let v = srv.verify(PAN, "second", STATIC_SECOND, "TB").await;
    assert!(v.approved, "TB was not recorded: {v:?}");
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "C1's mobile is unchanged: {v}");
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month) → days since 1970-01-01 of its first day.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ------------------------------------------------------------------ keys and roles

#[tokio::test]
async fn every_endpoint_needs_a_key_of_its_role() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    let bogus = format!("Bearer {}x", srv.key("admin"));
    for (method, path, role, body) in keyed_endpoints() {
        let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
        let what = format!("{method} {path}");
        // No key at all; an unknown key; a key of another scheme; an empty bearer.
        for auth in [
            Auth::None,
            Auth::Header("Bearer pooya_admin_nosuchkey"),
            Auth::Header(&bogus),
            Auth::Header("Bearer "),
            Auth::Header("Basic YWRtaW46YWRtaW4="),
        ] {
            let got = raw(&srv, method, &path, auth, bytes.clone()).await;
            assert_error(&got, 401, "unauthenticated", &what);
        }
        // Even a malformed body is answered 401 first.
        if body.is_some() {
            let got = raw(&srv, method, &path, Auth::None, Some(b"{".to_vec())).await;
            assert_error(&got, 401, "unauthenticated", &what);
        }
        // Keys of every other role.
        for other in ROLES.iter().filter(|r| **r != role) {
            let got = raw(&srv, method, &path, Auth::Role(other), bytes.clone()).await;
            assert_error(&got, 403, "forbidden", &format!("{what} as {other}"));
        }
    }
    assert_nothing_changed(&srv, &barrier).await;
    // And the right role is let through (whatever the answer).
    for (method, path, role, body) in keyed_endpoints() {
        let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
        let (s, v) = raw(&srv, method, &path, Auth::Role(role), bytes).await;
        let code = v["error"]["code"].as_str().unwrap_or("");
        assert!(
            code != "unauthenticated" && code != "forbidden",
            "{method} {path} as {role}: {s} {v}"
        );
    }
}

#[tokio::test]
async fn keyless_endpoints_answer_without_a_key() {
    let srv = TestServer::start().await;
    let (s, v) = raw(&srv, "GET", "/v1/health", Auth::None, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"status": "ok"}));
    let before = srv.now_ms().await;
    let (s, v) = raw(&srv, "GET", "/v1/time", Auth::None, None).await;
    assert_eq!(s, 200, "{v}");
    let obj = v.as_object().expect("object");
    let t = obj["unix_ms"].as_i64().expect("unix_ms is a JSON integer");
    assert!(obj["unix_ms"].is_i64() || obj["unix_ms"].is_u64());
    assert!(t >= before, "{t} {before}");
    // Around the real time (the fake clock starts there).
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((t - real).abs() < 600_000, "{t} vs {real}");
    srv.advance(5_000).await;
    assert_eq!(srv.now_ms().await, t + 5_000, "the fake clock moved");
}

// ------------------------------------------------------------------ bad input

#[tokio::test]
async fn malformed_missing_and_mistyped_bodies_are_400() {
    // Hundreds of app requests from one address on a clock that stands still: no address limit.
    let cfg = format!("{TEST_CONFIG}[limits]\napp_per_ip = {{ burst = 0, per_secs = 0 }}\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    for ep in body_endpoints() {
        let auth = ep.role.map_or(Auth::None, Auth::Role);
        let what = |how: &str| format!("{} {} {how}", ep.method, ep.path);
        let send = |body: Option<Vec<u8>>| raw(&srv, ep.method, ep.path, auth, body);
        // Malformed JSON and bodies that are no object.
        for bad in [
            &b"{"[..],
            b"{\"pan\": ",
            b"not json",
            b"",
            b"[]",
            b"\"text\"",
            b"42",
            b"null",
            b"{\"a\":1,}",
            b"\xff\xfe{}",
            b"{\"pan\": \"\xff\"}",
        ] {
            let got = send(Some(bad.to_vec())).await;
            assert_error(
                &got,
                400,
                "bad_request",
                &what(&format!("body {:?}", String::from_utf8_lossy(bad))),
            );
        }
        let got = send(None).await;
        assert_error(&got, 400, "bad_request", &what("no body"));
        // A JSON body cut short.
        let full = serde_json::to_vec(&ep.body).unwrap();
        let got = send(Some(full[..full.len() - 1].to_vec())).await;
        assert_error(&got, 400, "bad_request", &what("truncated"));
        // Each field missing.
        for f in ep.strings.iter().chain(ep.numbers) {
            let b = serde_json::to_vec(&remove(&ep.body, f)).unwrap();
            assert_error(
                &send(Some(b)).await,
                400,
                "bad_request",
                &what(&format!("no {f}")),
            );
        }
        // Strings given as numbers, null, arrays, objects, booleans.
        for f in ep.strings {
            for wrong in [
                json!(6280231234567898u64),
                json!(null),
                json!(["x"]),
                json!({}),
                json!(true),
            ] {
                let b = serde_json::to_vec(&set(&ep.body, f, wrong.clone())).unwrap();
                assert_error(
                    &send(Some(b)).await,
                    400,
                    "bad_request",
                    &what(&format!("{f} = {wrong}")),
                );
            }
        }
        // Numbers given as strings, fractions, null.
        for f in ep.numbers {
            for wrong in [json!("1250000"), json!(1.5), json!(null), json!([1])] {
                let b = serde_json::to_vec(&set(&ep.body, f, wrong.clone())).unwrap();
                assert_error(
                    &send(Some(b)).await,
                    400,
                    "bad_request",
                    &what(&format!("{f} = {wrong}")),
                );
            }
        }
        // The nested transaction given as something else.
        if ep.path == "/v1/verify" {
            for wrong in [json!("T1"), json!(null), json!([]), json!(7)] {
                let b = serde_json::to_vec(&set(&ep.body, "/txn", wrong.clone())).unwrap();
                assert_error(
                    &send(Some(b)).await,
                    400,
                    "bad_request",
                    &what(&format!("txn = {wrong}")),
                );
            }
        }
    }
    assert_nothing_changed(&srv, &barrier).await;
}

/// `(endpoint index in body_endpoints(), field, value, expected code)`.
fn invalid_values() -> Vec<(&'static str, &'static str, Value, &'static str)> {
    let pans: Vec<Value> = vec![
        json!("6280231234567897"),     // Luhn fails
        json!("628023123456789"),      // 15 digits
        json!("62802312345678980000"), // 20 digits
        json!("۶۲۸۰۲۳۱۲۳۴۵۶۷۸۹۸"),     // Persian digits
        json!("٦٢٨٠٢٣١٢٣٤٥٦٧٨٩٨"),     // Arabic-Indic digits
        json!("6280 2312 3456 7898"),  // spaces
        json!("628023123456789a"),     // a letter
        json!(""),                     // empty
    ];
    let mobiles: Vec<Value> = vec![
        json!("08121234567"),
        json!("0912123456"),
        json!("091212345678"),
        json!("۰۹۱۲۱۲۳۴۵۶۷"),
        json!("+9809121234567"),
        json!("0912-123-4567"),
        json!("0912123456a"),
        json!(""),
    ];
    let mut out = Vec::new();
    let with_pan = [
        "/v1/cards",
        "/v1/atm/activate-app",
        "/v1/atm/activate-sms",
        "/v1/atm/deactivate",
        "/v1/atm/block-second-password",
        "/v1/verify",
        "/v1/otp-requests",
    ];
    for ep in with_pan {
        for p in &pans {
            out.push((ep, "/pan", p.clone(), "invalid_pan"));
        }
    }
    for ep in [
        "/v1/customers",
        "/v1/customers/C1/mobile",
        "/v1/atm/activate-app",
        "/v1/atm/activate-sms",
    ] {
        for m in &mobiles {
            out.push((ep, "/mobile", m.clone(), "invalid_mobile"));
        }
    }
    for m in &mobiles {
        out.push(("/v1/sms/inbound", "/from", m.clone(), "invalid_mobile"));
    }
    for ep in ["/v1/customers", "/v1/cards"] {
        for c in [json!(""), json!("C".repeat(200))] {
            out.push((ep, "/customer_id", c, "invalid_customer_id"));
        }
    }
    for e in ["1313", "2600", "2613", "261", "26012", "۲۶۱۲", "26-1", ""] {
        out.push(("/v1/cards", "/expiry", json!(e), "invalid_expiry"));
    }
    for p in ["123", "12345", "12a4", "۱۲۳۴", ""] {
        out.push(("/v1/cards", "/pin", json!(p), "invalid_pin"));
    }
    for ep in [
        "/v1/atm/activate-app",
        "/v1/atm/activate-sms",
        "/v1/atm/deactivate",
        "/v1/atm/block-second-password",
    ] {
        for p in ["123", "12a4", "۱۲۳۴", ""] {
            out.push((ep, "/pin", json!(p), "invalid_pin"));
        }
    }
    for sp in ["1234", "1234567890123", "12a45", "۱۲۳۴۵", ""] {
        out.push((
            "/v1/cards",
            "/second_password",
            json!(sp),
            "invalid_second_password",
        ));
    }
    for ep in ["/v1/verify", "/v1/otp-requests"] {
        for a in [json!(0), json!(-1), json!(-1_250_000)] {
            out.push((ep, "/txn/amount", a, "invalid_amount"));
        }
        for m in [json!(""), json!("M".repeat(1000)), json!("ف".repeat(1000))] {
            out.push((ep, "/txn/merchant", m, "invalid_merchant"));
        }
        for t in [json!(""), json!("T".repeat(200))] {
            out.push((ep, "/txn/id", t, "invalid_txn_id"));
        }
    }
    for p in [
        json!(""),
        json!("1234567a"),
        json!("۱۲۳۴۵۶۷۸"),
        json!("1".repeat(100)),
        json!("12 34"),
    ] {
        out.push(("/v1/verify", "/password", p, "invalid_password"));
    }
    for k in ["third", "", "Second", "FIRST", "second "] {
        out.push(("/v1/verify", "/kind", json!(k), "invalid_kind"));
    }
    out
}

#[tokio::test]
async fn invalid_values_are_422_with_their_code() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    let eps = body_endpoints();
    for (path, field, value, code) in invalid_values() {
        let ep = eps.iter().find(|e| e.path == path).unwrap();
        let body = set(&ep.body, field, value.clone());
        let got = raw(
            &srv,
            ep.method,
            ep.path,
            ep.role.map_or(Auth::None, Auth::Role),
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
        assert_error(&got, 422, code, &format!("{path} {field} = {value}"));
    }
    // In the path of the branch's card endpoints.
    for p in [
        "6280231234567897",
        "628023123456789",
        "۶۲۸۰۲۳۱۲۳۴۵۶۷۸۹۸",
        "628023123456789a",
    ] {
        let got = srv.get(&format!("/v1/cards/{p}"), "branch").await;
        assert_error(&got, 422, "invalid_pan", &format!("GET /v1/cards/{p}"));
        let got = srv
            .call(
                "POST",
                &format!("/v1/cards/{p}/second-password/unblock"),
                Some("branch"),
                None,
            )
            .await;
        assert_error(&got, 422, "invalid_pan", &format!("unblock {p}"));
    }
    assert_nothing_changed(&srv, &barrier).await;
}

#[tokio::test]
async fn reasonable_values_are_accepted() {
    let srv = TestServer::start().await;
    let long_id = "Customer-0123456789_abc.DEF-xyz";
    srv.customer(long_id, MOBILE).await;
    let (s, v) = srv
        .post(
            "/v1/cards",
            "branch",
            json!({"pan": PAN, "customer_id": long_id, "expiry": "9901",
                   "pin": "0000", "second_password": "123456789012"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v, json!({"pan_masked": "628023******7898"}));
    srv.card(PAN2, long_id).await;
    let v = srv.verify(PAN2, "second", "55555", "five-digit").await;
    assert!(v.approved, "{v:?}");
    for (i, (id, merchant)) in [
        ("T-0123456789_abcdefghij.KLMNOP".to_owned(), "M".repeat(40)),
        ("t-1_2.3:4".to_owned(), "ف".repeat(40)),
        ("X".to_owned(), "فروشگاه کتاب".to_owned()),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, v) = srv
            .post(
                "/v1/verify",
                "switch",
                json!({"pan": PAN, "kind": "second", "password": "123456789012",
                       "txn": {"id": id, "amount": 1 + i as i64, "merchant": merchant}}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["approved"], true, "{v}");
    }
    let v = srv.verify(PAN, "first", "0000", "pin").await;
    assert!(v.approved, "{v:?}");
}

#[tokio::test]
async fn unknown_cards_and_customers_are_404() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    let got = srv.get(&format!("/v1/cards/{UNKNOWN_PAN}"), "branch").await;
    assert_error(&got, 404, "unknown_card", "GET card");
    let got = srv
        .call(
            "POST",
            &format!("/v1/cards/{UNKNOWN_PAN}/second-password/unblock"),
            Some("branch"),
            None,
        )
        .await;
    assert_error(&got, 404, "unknown_card", "unblock");
    for path in [
        "/v1/atm/activate-app",
        "/v1/atm/activate-sms",
        "/v1/atm/deactivate",
        "/v1/atm/block-second-password",
    ] {
        let got = srv
            .post(
                path,
                "atm",
                json!({"pan": UNKNOWN_PAN, "pin": PIN, "mobile": MOBILE}),
            )
            .await;
        assert_error(&got, 404, "unknown_card", path);
    }
    let got = srv
        .post(
            "/v1/otp-requests",
            "switch",
            json!({"pan": UNKNOWN_PAN, "txn": txn("O1")}),
        )
        .await;
    assert_error(&got, 404, "unknown_card", "otp-request");
    let got = srv
        .post(
            "/v1/cards",
            "branch",
            json!({"pan": UNKNOWN_PAN, "customer_id": "NOPE", "expiry": "9912",
                   "pin": PIN, "second_password": STATIC_SECOND}),
        )
        .await;
    assert_error(&got, 404, "unknown_customer", "card of unknown customer");
    let got = srv
        .call(
            "PUT",
            "/v1/customers/NOPE/mobile",
            Some("branch"),
            Some(json!({"mobile": MOBILE2})),
        )
        .await;
    assert_error(&got, 404, "unknown_customer", "mobile of unknown customer");
    // The card of the refused creation does not exist; NOPE does not either.
    let got = srv.get(&format!("/v1/cards/{UNKNOWN_PAN}"), "branch").await;
    assert_error(&got, 404, "unknown_card", "GET card after");
    srv.customer("NOPE", MOBILE2).await;
    assert_nothing_changed(&srv, &barrier).await;
}

#[tokio::test]
async fn duplicates_are_409() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    srv.customer("C2", MOBILE2).await;
    for mobile in [MOBILE, MOBILE2] {
        let got = srv
            .post(
                "/v1/customers",
                "branch",
                json!({"customer_id": "C1", "mobile": mobile}),
            )
            .await;
        assert_error(&got, 409, "already_exists", "customer again");
    }
    for (customer, pin) in [("C1", PIN), ("C2", "9999")] {
        let got = srv
            .post(
                "/v1/cards",
                "branch",
                json!({"pan": PAN, "customer_id": customer, "expiry": "9912",
                       "pin": pin, "second_password": "99999"}),
            )
            .await;
        assert_error(&got, 409, "already_exists", "card again");
    }
    // Still C1's card with its PIN and static second password; C1 still has MOBILE.
    let info = srv.card_info(PAN).await;
    assert_eq!(info.customer_id, "C1");
    let v = srv.verify(PAN, "first", PIN, "P1").await;
    assert!(v.approved, "{v:?}");
    let v = srv.verify(PAN, "second", "99999", "P2").await;
    assert!(!v.approved, "{v:?}");
    let v = srv.verify(PAN, "second", STATIC_SECOND, "P3").await;
    assert!(v.approved, "{v:?}");
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE2}),
        )
        .await;
    assert_error(&(s, v), 403, "mobile_mismatch", "C1's mobile unchanged");
    assert!(settle(&srv, &barrier).await.is_empty());
}

// ------------------------------------------------------------------ verify

#[tokio::test]
async fn verify_unknown_card_is_response_code_14() {
    let srv = TestServer::start().await;
    let v = srv.verify(UNKNOWN_PAN, "second", "12345678", "T1").await;
    assert_eq!(v, verdict(false, "14", "unknown_card"));
    let v = srv.verify(UNKNOWN_PAN, "first", "1234", "T2").await;
    assert_eq!(v.response_code, "14", "{v:?}");
    assert_eq!(v.reason, "unknown_card", "{v:?}");
}

#[tokio::test]
async fn verify_expired_card_is_response_code_54() {
    let srv = TestServer::start().await;
    let now = srv.now_ms().await;
    let (y, m, _) = civil_from_days(now.div_euclid(86_400_000));
    // Valid through the end of this month.
    let expiry = format!("{:02}{:02}", y % 100, m);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let next_month_ms = days_from_civil(ny, nm, 1) * 86_400_000;
    srv.customer("C1", MOBILE).await;
    let (s, v) = srv
        .post(
            "/v1/cards",
            "branch",
            json!({"pan": PAN, "customer_id": "C1", "expiry": expiry,
                   "pin": PIN, "second_password": STATIC_SECOND}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // The last millisecond of the month: still valid.
    srv.advance(next_month_ms - 1 - now).await;
    let v = srv.verify(PAN, "second", STATIC_SECOND, "T1").await;
    assert_eq!(
        v.response_code, "00",
        "valid through the month's end: {v:?}"
    );
    // The month after: expired.
    srv.advance(1 + 86_400_000).await;
    let v = srv.verify(PAN, "second", STATIC_SECOND, "T2").await;
    assert_eq!(v, verdict(false, "54", "expired_card"));
    let v = srv.verify(PAN, "first", PIN, "T3").await;
    assert_eq!(v.response_code, "54", "{v:?}");
    // ~40 days later, still.
    srv.advance(40 * 86_400_000).await;
    let v = srv.verify(PAN, "second", "00000000", "T4").await;
    assert_eq!(v.response_code, "54", "{v:?}");
}

#[tokio::test]
async fn verify_is_idempotent_on_the_transaction_id() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    srv.card(PAN2, "C1").await;
    let now = srv.now_ms().await;
    let code = token.code("second", now);
    let body = |id: &str, password: &str, amount: i64, merchant: &str, kind: &str| {
        json!({"pan": PAN, "kind": kind, "password": password,
               "txn": {"id": id, "amount": amount, "merchant": merchant}})
    };
    let approved = json!({"approved": true, "response_code": "00", "reason": "approved"});
    let (s, v) = srv
        .post(
            "/v1/verify",
            "switch",
            body("T1", &code, 1000, "Shop", "second"),
        )
        .await;
    assert_eq!((s, &v), (200, &approved));
    // The retry: the same answer, nothing consumed, no failure counted.
    for _ in 0..3 {
        let (s, v) = srv
            .post(
                "/v1/verify",
                "switch",
                body("T1", &code, 1000, "Shop", "second"),
            )
            .await;
        assert_eq!((s, &v), (200, &approved), "retry");
    }
    assert_eq!(srv.card_info(PAN).await.recent_failures, 0);
    // Another transaction with the same code: replayed (R3).
    let (s, v) = srv
        .post(
            "/v1/verify",
            "switch",
            body("T2", &code, 1000, "Shop", "second"),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["reason"], "replayed", "{v}");
    assert_eq!(srv.card_info(PAN).await.recent_failures, 1);
    // Another password under the same id is no new transaction: the stored answer, whatever the
    // password (else the answer would tell a right guess from a wrong one).
    let other_code = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let (s, v) = srv
        .post(
            "/v1/verify",
            "switch",
            body("T1", other_code, 1000, "Shop", "second"),
        )
        .await;
    assert_eq!((s, &v), (200, &approved), "another password");
    // The same id with another kind, amount or merchant: 409, and nothing else happens.
    for (what, b) in [
        ("amount", body("T1", &code, 1001, "Shop", "second")),
        ("merchant", body("T1", &code, 1000, "Shop2", "second")),
        ("kind", body("T1", &code[..4], 1000, "Shop", "first")),
    ] {
        let got = srv.post("/v1/verify", "switch", b).await;
        assert_error(&got, 409, "txn_conflict", what);
    }
    assert_eq!(srv.card_info(PAN).await.recent_failures, 1);
    // A declined retry answers the same and counts once.
    for _ in 0..3 {
        let (s, v) = srv
            .post(
                "/v1/verify",
                "switch",
                body("T2", &code, 1000, "Shop", "second"),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(v["reason"], "replayed", "{v}");
    }
    assert_eq!(srv.card_info(PAN).await.recent_failures, 1);
    // The same id on another card is another transaction.
    let (s, v) = srv
        .post(
            "/v1/verify",
            "switch",
            json!({"pan": PAN2, "kind": "second", "password": STATIC_SECOND,
                   "txn": {"id": "T1", "amount": 5, "merchant": "Other"}}),
        )
        .await;
    assert_eq!((s, &v), (200, &approved), "T1 on PAN2");
    // The next step's code is approved normally.
    srv.advance(i64::from(token.step_secs) * 1000).await;
    let now = srv.now_ms().await;
    let v = srv
        .verify(PAN, "second", &token.code("second", now), "T3")
        .await;
    assert_eq!(v, verdict(true, "00", "approved"));
}

// ------------------------------------------------------------------ transport

#[tokio::test]
async fn bodies_over_64_kib_are_413_and_change_nothing() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let pad = "x".repeat(70 * 1024);
    let got = raw(
        &srv,
        "POST",
        "/v1/customers",
        Auth::Role("branch"),
        Some(
            serde_json::to_vec(&json!({"customer_id": "BIG", "mobile": MOBILE2, "pad": pad}))
                .unwrap(),
        ),
    )
    .await;
    assert_error(&got, 413, "payload_too_large", "customer");
    // A right code in a body that is too large is not consumed.
    let now = srv.now_ms().await;
    let code = token.code("second", now);
    let got = raw(
        &srv,
        "POST",
        "/v1/verify",
        Auth::Role("switch"),
        Some(
            serde_json::to_vec(&json!({"pan": PAN, "kind": "second", "password": code,
                "txn": {"id": "T1", "amount": 1_250_000, "merchant": "Shop"}, "pad": pad}))
            .unwrap(),
        ),
    )
    .await;
    assert_error(&got, 413, "payload_too_large", "verify");
    let got = raw(
        &srv,
        "POST",
        "/v1/sms/inbound",
        Auth::Role("sms"),
        Some(serde_json::to_vec(&json!({"from": MOBILE, "to": "10002516", "text": pad})).unwrap()),
    )
    .await;
    assert_error(&got, 413, "payload_too_large", "sms");
    assert_eq!(srv.card_info(PAN).await.recent_failures, 0);
    let v = srv.verify(PAN, "second", &code, "T1").await;
    assert!(v.approved, "{v:?}");
    srv.customer("BIG", MOBILE2).await;
}

#[tokio::test]
async fn the_body_limit_is_64_kib_exactly() {
    let srv = TestServer::start().await;
    // JSON whitespace pads a valid body to an exact size.
    let sized = |id: &str, size: usize| {
        let mut b = serde_json::to_vec(&json!({"customer_id": id, "mobile": MOBILE})).unwrap();
        let close = b.pop().unwrap();
        b.resize(size - 1, b' ');
        b.push(close);
        assert_eq!(b.len(), size);
        b
    };
    let got = raw(
        &srv,
        "POST",
        "/v1/customers",
        Auth::Role("branch"),
        Some(sized("OVER", 65_537)),
    )
    .await;
    assert_error(&got, 413, "payload_too_large", "65537 bytes");
    let (s, v) = raw(
        &srv,
        "POST",
        "/v1/customers",
        Auth::Role("branch"),
        Some(sized("EXACT", 65_536)),
    )
    .await;
    assert_eq!(s, 201, "65536 bytes are accepted: {v}");
    srv.customer("OVER", MOBILE2).await;
}

/// `(method, path, auth, body, expected status)`.
type JsonCheck<'a> = (&'a str, String, Auth<'a>, Option<Vec<u8>>, u16);

#[tokio::test]
async fn answers_are_json() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let checks: Vec<JsonCheck> = vec![
        ("GET", "/v1/health".into(), Auth::None, None, 200),
        ("GET", "/v1/time".into(), Auth::None, None, 200),
        (
            "GET",
            format!("/v1/cards/{PAN}"),
            Auth::Role("branch"),
            None,
            200,
        ),
        ("GET", format!("/v1/cards/{PAN}"), Auth::None, None, 401),
        (
            "GET",
            format!("/v1/cards/{PAN}"),
            Auth::Role("atm"),
            None,
            403,
        ),
        (
            "GET",
            "/v1/cards/1234".into(),
            Auth::Role("branch"),
            None,
            422,
        ),
        (
            "GET",
            format!("/v1/cards/{UNKNOWN_PAN}"),
            Auth::Role("branch"),
            None,
            404,
        ),
        ("GET", "/v1/nope".into(), Auth::None, None, 404),
        (
            "POST",
            "/v1/verify".into(),
            Auth::Role("switch"),
            Some(b"{".to_vec()),
            400,
        ),
        (
            "POST",
            "/v1/verify".into(),
            Auth::Role("switch"),
            Some(
                serde_json::to_vec(&json!({"pan": PAN, "kind": "second", "password": "1",
                "txn": {"id": "J", "amount": 1, "merchant": "M"}}))
                .unwrap(),
            ),
            200,
        ),
    ];
    for (method, path, auth, body, status) in checks {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = srv.http.request(m, format!("{}{}", srv.url, path));
        match auth {
            Auth::None => {}
            Auth::Role(r) => req = req.bearer_auth(srv.key(r)),
            Auth::Header(h) => req = req.header("Authorization", h),
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            ct.starts_with("application/json"),
            "{method} {path}: {ct:?}"
        );
        let v: Value = res.json().await.expect("a JSON body");
        if status >= 400 {
            assert_error_shape(&v, &format!("{method} {path}"));
        }
    }
}

#[tokio::test]
async fn unknown_paths_are_404_with_an_error_body() {
    let srv = TestServer::start().await;
    for (method, path) in [
        ("GET", "/v1/nope"),
        ("GET", "/nope"),
        ("GET", "/"),
        ("GET", "/v2/health"),
        ("POST", "/v1/cards/6280231234567898/nope"),
        ("GET", "/v1/customers/C1"),
        ("POST", "/v1/verify/extra"),
    ] {
        for auth in [Auth::None, Auth::Role("admin")] {
            let (s, v) = raw(&srv, method, path, auth, None).await;
            assert_eq!(s, 404, "{method} {path}: {v}");
            assert_error_shape(&v, &format!("{method} {path}"));
        }
    }
}

#[tokio::test]
async fn a_wrong_method_is_refused_with_an_error_body() {
    let srv = TestServer::start().await;
    for (method, path) in [
        ("GET", "/v1/verify"),
        ("DELETE", "/v1/customers"),
        ("POST", "/v1/health"),
        ("PUT", "/v1/cards"),
    ] {
        let (s, v) = raw(&srv, method, path, Auth::Role("admin"), None).await;
        assert!((400..500).contains(&s), "{method} {path}: {s} {v}");
        assert_error_shape(&v, &format!("{method} {path} ({s})"));
    }
}

#[tokio::test]
async fn mobiles_are_answered_in_the_09_form() {
    let srv = TestServer::start().await;
    for (id, sent) in [
        ("A", "09121234567"),
        ("B", "9131234567"),
        ("C", "989141234567"),
        ("D", "+989151234567"),
    ] {
        let (s, v) = srv
            .post(
                "/v1/customers",
                "branch",
                json!({"customer_id": id, "mobile": sent}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let expect = format!("09{}", &sent[sent.len() - 9..]);
        assert_eq!(v, json!({"customer_id": id, "mobile": expect}), "{sent}");
    }
    for sent in ["+989351234567", "989351234567", "9351234567"] {
        let (s, v) = srv
            .call(
                "PUT",
                "/v1/customers/A/mobile",
                Some("branch"),
                Some(json!({"mobile": sent})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["mobile"], MOBILE2, "{sent}: {v}");
        assert!(v["revoked_tokens"].is_u64(), "{v}");
    }
    // Activation with another form of the registered number; the SMS goes to the 09 form.
    srv.card(PAN, "A").await;
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": "+989351234567"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let msgs = srv.outbox_wait(1).await;
    assert_eq!(msgs[0]["to"], MOBILE2);
}

#[tokio::test]
async fn refused_atm_requests_change_nothing() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    // Wrong PIN (counted apart), mobile mismatch: nothing issued, nothing sent.
    let got = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": "4321", "mobile": MOBILE}),
        )
        .await;
    assert_error(&got, 403, "wrong_pin", "wrong pin");
    // The PIN is checked before anything else: a wrong PIN with a wrong mobile is wrong_pin.
    let got = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN, "pin": "4321", "mobile": MOBILE2}),
        )
        .await;
    assert_error(&got, 403, "wrong_pin", "wrong pin and mobile");
    for path in ["/v1/atm/activate-app", "/v1/atm/activate-sms"] {
        let got = srv
            .post(
                path,
                "atm",
                json!({"pan": PAN, "pin": PIN, "mobile": MOBILE2}),
            )
            .await;
        assert_error(&got, 403, "mobile_mismatch", path);
    }
    assert_nothing_changed(&srv, &barrier).await;
}

/// "A full PAN never appears in an answer" (docs/api.md), nor a PIN or a password: not even in the
/// message of a refusal of a mistyped body.
#[tokio::test]
async fn refusals_never_echo_a_pan_pin_or_password() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let cases = [
        (
            "/v1/verify",
            "switch",
            json!({"pan": 6280231234567898u64, "kind": "second", "password": "12345678", "txn": txn("T")}),
            "6280231234567898",
        ),
        (
            "/v1/verify",
            "switch",
            json!({"pan": PAN, "kind": "second", "password": 87654321, "txn": txn("T")}),
            "87654321",
        ),
        (
            "/v1/verify",
            "switch",
            json!({"pan": PAN, "kind": "second", "password": "12345678",
                   "txn": {"id": "T", "amount": "6280231234567898", "merchant": "x"}}),
            "6280231234567898",
        ),
        (
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": 4321, "mobile": MOBILE}),
            "4321",
        ),
        (
            "/v1/cards",
            "branch",
            json!({"pan": 6280231234567880u64, "customer_id": "C1", "expiry": "9912",
                   "pin": PIN, "second_password": STATIC_SECOND}),
            "6280231234567880",
        ),
    ];
    for (path, role, body, secret) in cases {
        let got = srv.post(path, role, body).await;
        assert_error(&got, 400, "bad_request", path);
        let text = got.1.to_string();
        assert!(!text.contains(secret), "{path}: {secret} echoed in {text}");
    }
}
