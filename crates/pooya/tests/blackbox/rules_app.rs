//! Black-box tests of the rules of `docs/rules.md` that concern the app channel, each named after
//! its rule, over the HTTP contract of `docs/api.md`: R1–R12, the ATM PIN, token removal and
//! re-activation. Time moves on the server's fake clock only.

use crate::common::*;

use std::sync::atomic::{AtomicU64, Ordering};

use pooya_enroll::{b64_decode, b64_encode, ClientEnrollment};
use serde_json::{json, Value};

const SEC: i64 = 1000;
const DAY_MS: i64 = 24 * 3600 * SEC;
/// Default OTP lifetime and skew tolerance (policy.rs).
const STEP: i64 = 60;
const TOL_MS: i64 = 10 * SEC;

/// A card and a mobile of a customer that no test otherwise touches: its SMS proves that nothing
/// was queued before it.
const SENTINEL_PAN: &str = "6280231234567864";
const SENTINEL_MOBILE: &str = "09190000001";

// ------------------------------------------------------------------------------------ helpers

/// A transaction id never used before in this process.
fn tx() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    format!("T{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A code of the same length that is surely neither `code` (every digit moved) nor the static PIN.
fn wrong(code: &str) -> String {
    let w = shift_digits(code, 1);
    if w == PIN {
        shift_digits(code, 2)
    } else {
        w
    }
}

/// `code` with every digit moved up by `by` (mod 10): never `code` itself.
fn shift_digits(code: &str, by: u8) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + by) % 10))
        .collect()
}

/// The first passwords `token`'s card takes at `now` as its own: the live steps, the ten before
/// them (named `expired_password`, not `wrong_password`) and the static PIN. A 4-digit code
/// picked without looking meets one of them about 1 time in 700.
fn first_passwords_taken(token: &Token, now: i64) -> Vec<String> {
    let step = i64::from(token.step_secs) * SEC;
    let mut taken: Vec<String> = (-12..=2)
        .map(|k| token.code("first", now + k * step))
        .collect();
    taken.push(PIN.to_owned());
    taken
}

/// A first password that is wrong for `token`'s card at `now`, by every rule.
fn wrong_first(token: &Token, now: i64) -> String {
    let taken = first_passwords_taken(token, now);
    let code = token.code("first", now);
    (1..10)
        .map(|by| shift_digits(&code, by))
        .find(|w| !taken.contains(w))
        .expect("nine distinct candidates are not all among the codes taken")
}

/// Moves the clock a whole step at a time until `other`'s first password is none that `card`'s
/// card takes: a code of another card must be refused by R4, not match by chance.
async fn step_until_first_is_foreign(srv: &TestServer, card: &Token, other: &Token) -> i64 {
    loop {
        let now = srv.now_ms().await;
        if !first_passwords_taken(card, now).contains(&other.code("first", now)) {
            return now;
        }
        srv.advance(i64::from(card.step_secs) * SEC).await;
    }
}

/// Aligns the clock to `offset_ms` into a step whose first password is not the static PIN (which
/// the switch and the ATM accept too) and differs from the next two steps' first passwords, so
/// that a check of "this step's code" cannot be answered for another one.
async fn align_first_alone(srv: &TestServer, token: &Token, offset_ms: i64) -> i64 {
    let step = i64::from(token.step_secs) * SEC;
    loop {
        let t = srv
            .align_to_step(i64::from(token.step_secs), offset_ms)
            .await;
        let first = token.code("first", t);
        if first != PIN && (1..=2).all(|k| token.code("first", t + k * step) != first) {
            return t;
        }
    }
}

fn config(extra: &str) -> String {
    format!("{extra}\n{TEST_CONFIG}")
}

#[track_caller]
fn assert_verdict(v: &VerifyResult, code: &str, reason: &str) {
    assert_eq!(v.response_code, code, "{v:?}");
    assert_eq!(v.reason, reason, "{v:?}");
    assert_eq!(v.approved, code == "00", "{v:?}");
}

#[track_caller]
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
}

/// `/v1/verify` with a fresh transaction id, asserting the verdict.
async fn check(srv: &TestServer, pan: &str, kind: &str, password: &str, code: &str, reason: &str) {
    if kind == "first" && password == PIN && code != "00" {
        // A dynamic first password that happens to equal the static PIN (1 in 10 000) passes as
        // the PIN: nothing to learn from it.
        eprintln!("skipped: dynamic first password equals the static PIN");
        return;
    }
    let v = srv.verify(pan, kind, password, &tx()).await;
    assert_eq!(
        (v.response_code.as_str(), v.reason.as_str()),
        (code, reason),
        "verify {kind} {password}: {v:?}"
    );
    assert_eq!(v.approved, code == "00", "{v:?}");
}

async fn approved(srv: &TestServer, pan: &str, kind: &str, password: &str) {
    check(srv, pan, kind, password, "00", "approved").await;
}

/// (mode, state, second_password_blocked, recent_failures) of a card.
async fn status(srv: &TestServer, pan: &str) -> (String, String, bool, u64) {
    let v = srv.card_info(pan).await;
    (
        v.dynamic.mode.as_str().to_owned(),
        v.dynamic.state.as_str().to_owned(),
        v.second_password_blocked,
        v.recent_failures,
    )
}

async fn state(srv: &TestServer, pan: &str) -> (String, String) {
    let (m, s, _, _) = status(srv, pan).await;
    (m, s)
}

/// An ATM operation (`activate-app`, `deactivate`, …) with this PIN and, where given, mobile.
async fn atm(
    srv: &TestServer,
    op: &str,
    pan: &str,
    pin: &str,
    mobile: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({"pan": pan, "pin": pin});
    if let Some(m) = mobile {
        body["mobile"] = json!(m);
    }
    srv.post(&format!("/v1/atm/{op}"), "atm", body).await
}

/// First enrollment message with the codes the holder typed and, where given, a lifetime.
async fn enroll_start(
    srv: &TestServer,
    pan: &str,
    receipt: &str,
    sms: &str,
    lifetime: Option<Value>,
) -> (u16, Value, ClientEnrollment) {
    let (client, msg) = ClientEnrollment::start(pan, receipt, sms);
    let mut body = json!({"pan": pan, "spake_msg": b64_encode(&msg)});
    if let Some(l) = lifetime {
        body["lifetime_secs"] = l;
    }
    let (s, v) = srv
        .call("POST", "/v1/app/enrollments", None, Some(body))
        .await;
    (s, v, client)
}

/// Second half of the app's enrollment, after a 201 start answer `v`.
async fn enroll_finish(
    srv: &TestServer,
    client: ClientEnrollment,
    v: &Value,
) -> Result<Token, (u16, Value)> {
    let server_msg = b64_decode(v["spake_msg"].as_str().unwrap()).unwrap();
    let server_confirm = b64_decode(v["confirm"].as_str().unwrap()).unwrap();
    let id = v["enrollment_id"].as_str().unwrap().to_owned();
    let finish = match client.finish(&server_msg, &server_confirm) {
        Ok(f) => f,
        Err(_) => return Err((0, v.clone())),
    };
    let (s, t) = srv
        .call(
            "POST",
            &format!("/v1/app/enrollments/{id}/confirm"),
            None,
            Some(json!({"confirm": b64_encode(&finish.confirm)})),
        )
        .await;
    if s != 200 {
        return Err((s, t));
    }
    Ok(Token {
        token_id: t["token_id"].as_str().unwrap().to_owned(),
        seed: finish.seed,
        step_secs: t["lifetime_secs"].as_u64().unwrap() as u32,
        algorithm: t["algorithm"].as_str().unwrap().parse().unwrap(),
        first_digits: t["first_digits"].as_u64().unwrap() as u8,
        second_digits: t["second_digits"].as_u64().unwrap() as u8,
    })
}

/// No enrollment is possible with these codes: the start gets a run like any other (the server
/// tells no card's state to someone who has not proven the codes), the app's check of the
/// server's confirmation fails, and a confirmation sent anyway is `wrong_activation_codes`.
async fn assert_cannot_enroll(srv: &TestServer, pan: &str, receipt: &str, sms: &str) {
    let (st, v, client) = enroll_start(srv, pan, receipt, sms, None).await;
    assert_eq!(st, 201, "every well-formed start gets a run: {v}");
    match enroll_finish(srv, client, &v).await {
        Err((0, _)) => {}
        other => panic!(
            "enrolled, or the app's check passed: {:?}",
            other.map(|t| t.token_id)
        ),
    }
    let id = v["enrollment_id"].as_str().unwrap();
    let (st, e) = srv
        .call(
            "POST",
            &format!("/v1/app/enrollments/{id}/confirm"),
            None,
            Some(json!({"confirm": b64_encode(&[7u8; 32])})),
        )
        .await;
    assert_error(&(st, e), 403, "wrong_activation_codes");
}

/// A whole enrollment with a holder-chosen lifetime; also answers the start's `tries_left`.
async fn enroll_lifetime(
    srv: &TestServer,
    pan: &str,
    receipt: &str,
    sms: &str,
    lifetime: u32,
) -> (Token, u64) {
    let (s, v, client) = enroll_start(srv, pan, receipt, sms, Some(json!(lifetime))).await;
    assert_eq!(s, 201, "{v}");
    let tries = v["tries_left"].as_u64().expect("tries_left");
    let token = enroll_finish(srv, client, &v).await.expect("enrollment");
    (token, tries)
}

/// Asserts that no SMS was queued since the outbox held `before` messages: an SMS queued now to a
/// number of its own must be the very next line of the outbox. Once per test.
async fn assert_no_sms_since(srv: &TestServer, before: usize) {
    srv.customer("SENTINEL", SENTINEL_MOBILE).await;
    srv.card(SENTINEL_PAN, "SENTINEL").await;
    srv.activate_app(SENTINEL_PAN, SENTINEL_MOBILE).await;
    let msgs = srv.outbox();
    assert_eq!(msgs.len(), before + 1, "unexpected SMS: {msgs:?}");
    assert_eq!(msgs[before]["to"], SENTINEL_MOBILE, "{msgs:?}");
}

/// Locks PAN's service with wrong first passwords (default policy: 5).
async fn lock_with_wrong_first(srv: &TestServer, pan: &str, token: &Token, n: usize) {
    let now = srv.now_ms().await;
    let bad = wrong_first(token, now);
    for _ in 0..n {
        check(srv, pan, "first", &bad, "55", "wrong_password").await;
    }
}

// ------------------------------------------------------------------------------------ R1

#[tokio::test]
async fn r1_first_password_4_digits_second_8_digits() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    assert_eq!((token.first_digits, token.second_digits), (4, 8));
    let now = srv.now_ms().await;
    let first = token.code("first", now);
    let second = token.code("second", now);
    assert_eq!(first.len(), 4);
    assert_eq!(second.len(), 8);
    assert!(first
        .bytes()
        .chain(second.bytes())
        .all(|b| b.is_ascii_digit()));

    let v = srv.verify(PAN, "first", &first, &tx()).await;
    assert_verdict(&v, "00", "approved");
    let v = srv.verify(PAN, "second", &second, &tx()).await;
    assert_verdict(&v, "00", "approved");

    // A 4-digit code is no second password, an 8-digit one no first password.
    srv.advance(STEP * SEC).await;
    let now = srv.now_ms().await;
    check(
        &srv,
        PAN,
        "second",
        &token.code("first", now),
        "55",
        "wrong_password",
    )
    .await;
    check(
        &srv,
        PAN,
        "first",
        &token.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
}

// ------------------------------------------------------------------------------------ R2, R17, R19

#[tokio::test]
async fn r2_code_approved_at_any_moment_of_its_step() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    assert_eq!(token.step_secs, 60);
    for offset in [0, 1, 30 * SEC, 59 * SEC, 59 * SEC + 999] {
        let t = srv.align_to_step(STEP, offset).await;
        approved(&srv, PAN, "second", &token.code("second", t)).await;
        approved(&srv, PAN, "first", &token.code("first", t)).await;
    }
}

#[tokio::test]
async fn r19_code_approved_up_to_tolerance_after_its_step_then_expired() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;

    // Shown in the middle of its step, typed 9.999 s after the step ended: within tolerance.
    let t = srv.align_to_step(STEP, 30 * SEC).await;
    let code = token.code("second", t);
    srv.advance(30 * SEC + TOL_MS - 1).await;
    approved(&srv, PAN, "second", &code).await;

    // Shown at its start, typed exactly at end + tolerance: expired.
    let t = align_first_alone(&srv, &token, 0).await;
    let code = token.code("second", t);
    let first = token.code("first", t);
    srv.advance(STEP * SEC + TOL_MS).await;
    check(&srv, PAN, "second", &code, "55", "expired_password").await;
    check(&srv, PAN, "first", &first, "55", "expired_password").await;

    // A phone clock ahead by less than the tolerance: the next step's code is accepted early.
    let t = srv.align_to_step(STEP, STEP * SEC - TOL_MS + SEC).await;
    approved(&srv, PAN, "second", &token.code("second", t + STEP * SEC)).await;
}

#[tokio::test]
async fn r2_r17_maskan_profile_codes_live_120_seconds() {
    let srv = TestServer::start_with(&config("profile = \"maskan\""), &[]).await;
    let token = srv.enrolled_card().await;
    assert_eq!(token.step_secs, 120);

    // The code shown at the start of a step is still the app's code 119 s later, and approved.
    let t = srv.align_to_step(120, 0).await;
    let code = token.code("second", t);
    assert_eq!(token.code("second", t + 119 * SEC), code);
    assert_ne!(token.code("second", t + 120 * SEC), code);
    srv.advance(119 * SEC).await;
    approved(&srv, PAN, "second", &code).await;

    // Still approved past 60 s and up to the tolerance past its 120 s.
    let t = srv.align_to_step(120, 0).await;
    let code = token.code("second", t);
    srv.advance(120 * SEC + TOL_MS - 1).await;
    approved(&srv, PAN, "second", &code).await;

    let t = srv.align_to_step(120, 0).await;
    let code = token.code("second", t);
    srv.advance(120 * SEC + TOL_MS).await;
    check(&srv, PAN, "second", &code, "55", "expired_password").await;
}

#[tokio::test]
async fn r2_holder_chosen_lifetime_inside_bounds() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;

    // Outside the bank's bounds (30..=300 s by default): 422, and no try spent.
    for bad in [0, 29, 301, 3600] {
        let (st, v, _) = enroll_start(&srv, PAN, &r, &s, Some(json!(bad))).await;
        assert_error(&(st, v), 422, "invalid_lifetime");
    }
    let (token, tries) = enroll_lifetime(&srv, PAN, &r, &s, 90).await;
    assert_eq!(tries, 2, "the refused starts must not cost a try");
    assert_eq!(token.step_secs, 90);
    assert_eq!(state(&srv, PAN).await, ("app".into(), "active".into()));

    // Codes are made and checked with 90 s steps.
    let t = srv.align_to_step(90, 0).await;
    let code = token.code("second", t);
    srv.advance(89 * SEC).await;
    approved(&srv, PAN, "second", &code).await;
    let t = srv.align_to_step(90, 0).await;
    let code = token.code("second", t);
    srv.advance(90 * SEC + TOL_MS).await;
    check(&srv, PAN, "second", &code, "55", "expired_password").await;

    // The bounds themselves are inside.
    for lifetime in [30u32, 300] {
        let (r, s) = srv.activate_app(PAN, MOBILE).await;
        let (token, _) = enroll_lifetime(&srv, PAN, &r, &s, lifetime).await;
        assert_eq!(token.step_secs, lifetime);
        let t = srv.align_to_step(i64::from(lifetime), 0).await;
        let code = token.code("second", t);
        srv.advance(i64::from(lifetime) * SEC - 1).await;
        approved(&srv, PAN, "second", &code).await;
    }
}

// ------------------------------------------------------------------------------------ R3

#[tokio::test]
async fn r3_code_usable_once_even_inside_its_lifetime() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let t = align_first_alone(&srv, &token, 10 * SEC).await;
    let second = token.code("second", t);
    let first = token.code("first", t);
    approved(&srv, PAN, "second", &second).await;
    approved(&srv, PAN, "first", &first).await;
    check(&srv, PAN, "second", &second, "55", "replayed").await;
    check(&srv, PAN, "first", &first, "55", "replayed").await;
    // Later in the same step, still alive: still used.
    srv.advance(40 * SEC).await;
    check(&srv, PAN, "second", &second, "55", "replayed").await;
    check(&srv, PAN, "first", &first, "55", "replayed").await;
    // The next step's code is fine.
    srv.advance(20 * SEC).await;
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &token.code("second", now)).await;
}

#[tokio::test]
async fn r3_earlier_step_code_after_later_one_is_replayed() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    // 5 s into a step: the previous step's code is still inside the tolerance.
    let t = srv.align_to_step(STEP, 5 * SEC).await;
    let prev = t - STEP * SEC;
    approved(&srv, PAN, "second", &token.code("second", t)).await;
    check(
        &srv,
        PAN,
        "second",
        &token.code("second", prev),
        "55",
        "replayed",
    )
    .await;
    approved(&srv, PAN, "first", &token.code("first", t)).await;
    check(
        &srv,
        PAN,
        "first",
        &token.code("first", prev),
        "55",
        "replayed",
    )
    .await;
}

// ------------------------------------------------------------------------------------ R4

#[tokio::test]
async fn r4_code_of_one_card_refused_on_another_card_of_same_holder() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    let a = srv.enroll(PAN, &r, &s).await.expect("enroll A");
    let (r, s) = srv.activate_app(PAN2, MOBILE).await;
    let b = srv.enroll(PAN2, &r, &s).await.expect("enroll B");

    let now = step_until_first_is_foreign(&srv, &b, &a).await;
    check(
        &srv,
        PAN2,
        "second",
        &a.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
    check(
        &srv,
        PAN2,
        "first",
        &a.code("first", now),
        "55",
        "wrong_password",
    )
    .await;
    check(
        &srv,
        PAN,
        "second",
        &b.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
    assert_eq!(status(&srv, PAN2).await.3, 2);
    // Each card's own codes still pass.
    approved(&srv, PAN, "second", &a.code("second", now)).await;
    approved(&srv, PAN2, "second", &b.code("second", now)).await;
}

// ------------------------------------------------------------------------------------ R5

#[tokio::test]
async fn r5_five_wrong_passwords_lock_until_atm_activation() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    let right = token.code("second", now);
    let bad = wrong(&right);
    for i in 1..=4 {
        check(&srv, PAN, "second", &bad, "55", "wrong_password").await;
        assert_eq!(
            status(&srv, PAN).await,
            ("app".into(), "active".into(), false, i)
        );
    }
    check(&srv, PAN, "second", &bad, "55", "wrong_password").await;
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "locked".into(), false, 5)
    );
    // The 6th, even a right unused code, of either kind: locked, and not counted.
    check(&srv, PAN, "second", &right, "75", "locked").await;
    check(
        &srv,
        PAN,
        "first",
        &token.code("first", now),
        "75",
        "locked",
    )
    .await;
    check(&srv, PAN, "second", STATIC_SECOND, "75", "locked").await;
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "locked".into(), false, 5)
    );
    // The lock outlives the failure window: only an ATM activation ends it.
    srv.advance(DAY_MS + SEC).await;
    assert_eq!(state(&srv, PAN).await, ("app".into(), "locked".into()));
    let now = srv.now_ms().await;
    check(
        &srv,
        PAN,
        "second",
        &token.code("second", now),
        "75",
        "locked",
    )
    .await;
    // The app cannot enroll again by itself.
    assert_cannot_enroll(&srv, PAN, "123456", "123456").await;

    // Activation at the ATM starts from the start.
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "pending".into(), false, 0)
    );
    let fresh = srv.enroll(PAN, &r, &s).await.expect("enroll again");
    assert_eq!(state(&srv, PAN).await, ("app".into(), "active".into()));
    srv.advance(STEP * SEC).await;
    let now = step_until_first_is_foreign(&srv, &fresh, &token).await;
    check(
        &srv,
        PAN,
        "second",
        &token.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
    check(
        &srv,
        PAN,
        "first",
        &token.code("first", now),
        "55",
        "wrong_password",
    )
    .await;
    approved(&srv, PAN, "second", &fresh.code("second", now)).await;
    approved(&srv, PAN, "first", &fresh.code("first", now)).await;
}

#[tokio::test]
async fn r5_failures_older_than_the_window_do_not_count() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    let bad = wrong(&token.code("second", now));
    for _ in 0..4 {
        check(&srv, PAN, "second", &bad, "55", "wrong_password").await;
    }
    assert_eq!(status(&srv, PAN).await.3, 4);
    srv.advance(DAY_MS + SEC).await;
    assert_eq!(status(&srv, PAN).await.3, 0);
    check(&srv, PAN, "second", &bad, "55", "wrong_password").await;
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "active".into(), false, 1)
    );
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &token.code("second", now)).await;
}

#[tokio::test]
async fn r5_failures_spread_over_the_window_still_lock() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    let bad = wrong(&token.code("second", now));
    for _ in 0..3 {
        check(&srv, PAN, "second", &bad, "55", "wrong_password").await;
    }
    srv.advance(DAY_MS - 60 * SEC).await;
    check(&srv, PAN, "second", &bad, "55", "wrong_password").await;
    assert_eq!(status(&srv, PAN).await.1, "active");
    check(
        &srv,
        PAN,
        "first",
        &wrong_first(&token, srv.now_ms().await),
        "55",
        "wrong_password",
    )
    .await;
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "locked".into(), false, 5)
    );
}

#[tokio::test]
async fn r5_r26_lockout_threshold_is_configurable() {
    let srv = TestServer::start_with(&config("[policy.lockout]\nmax_failures = 3"), &[]).await;
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    let right = token.code("second", now);
    let bad = wrong(&right);
    for _ in 0..3 {
        check(&srv, PAN, "second", &bad, "55", "wrong_password").await;
    }
    assert_eq!(state(&srv, PAN).await, ("app".into(), "locked".into()));
    check(&srv, PAN, "second", &right, "75", "locked").await;
}

// ------------------------------------------------------------------------------------ R6

#[tokio::test]
async fn r6_app_first_password_at_switch_and_as_atm_pin_single_use() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;

    // At the switch, kind first.
    let t = align_first_alone(&srv, &token, 0).await;
    let f1 = token.code("first", t);
    approved(&srv, PAN, "first", &f1).await;
    check(&srv, PAN, "first", &f1, "55", "replayed").await;
    // Once used at the switch it is no ATM PIN either.
    let got = atm(&srv, "block-second-password", PAN, &f1, None).await;
    assert_error(&got, 403, "wrong_pin");

    // As the PIN of an ATM operation (next step: a code never used).
    let t = align_first_alone(&srv, &token, 0).await;
    let f2 = token.code("first", t);
    let got = atm(&srv, "block-second-password", PAN, &f2, None).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert!(status(&srv, PAN).await.2, "second password blocked");
    // Used once: not again at the ATM, nor at the switch.
    let got = atm(&srv, "deactivate", PAN, &f2, None).await;
    assert_error(&got, 403, "wrong_pin");
    assert_eq!(state(&srv, PAN).await, ("app".into(), "active".into()));
    check(&srv, PAN, "first", &f2, "55", "replayed").await;

    // The second password of the app is no PIN.
    let got = atm(&srv, "deactivate", PAN, &token.code("second", t), None).await;
    assert_error(&got, 403, "wrong_pin");
}

// ------------------------------------------------------------------------------------ R7, R8

#[tokio::test]
async fn r8_activation_accepts_every_form_of_the_registered_mobile() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let mut codes = Vec::new();
    for form in ["+989121234567", "989121234567", "9121234567", "09121234567"] {
        let before = srv.outbox().len();
        let (r, s) = srv.activate_app(PAN, form).await;
        let msgs = srv.outbox();
        assert_eq!(
            msgs[before]["to"], MOBILE,
            "SMS goes to the registered number"
        );
        assert_eq!(state(&srv, PAN).await, ("app".into(), "pending".into()));
        codes.push((r, s));
    }
    // Each activation replaced the one before: the first codes are dead.
    let (r0, s0) = &codes[0];
    let err = srv
        .enroll(PAN, r0, s0)
        .await
        .err()
        .expect("old codes refused");
    assert_eq!(err.0, 0, "{}", err.1);
    let (r, s) = codes.last().unwrap();
    let token = srv.enroll(PAN, r, s).await.expect("enrollment");
    assert_eq!(state(&srv, PAN).await, ("app".into(), "active".into()));
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &token.code("second", now)).await;
}

#[tokio::test]
async fn r8_other_mobile_refused_no_sms_state_unchanged() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    srv.card(PAN2, "C1").await;
    let before = srv.outbox().len();

    for op in ["activate-app", "activate-sms"] {
        for pan in [PAN, PAN2] {
            let got = atm(&srv, op, pan, PIN, Some(MOBILE2)).await;
            assert_error(&got, 403, "mobile_mismatch");
            let got = atm(&srv, op, pan, PIN, Some("+989351234567")).await;
            assert_error(&got, 403, "mobile_mismatch");
        }
    }
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "active".into(), false, 0)
    );
    assert_eq!(
        status(&srv, PAN2).await,
        ("none".into(), "inactive".into(), false, 0)
    );
    // The enrolled token still works and the static password is still off.
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &token.code("second", now)).await;
    check(
        &srv,
        PAN,
        "second",
        STATIC_SECOND,
        "55",
        "static_password_disabled",
    )
    .await;
    approved(&srv, PAN2, "second", STATIC_SECOND).await;
    // Nothing can be enrolled on the refused card.
    assert_cannot_enroll(&srv, PAN2, "123456", "123456").await;
    assert_no_sms_since(&srv, before).await;
}

#[tokio::test]
async fn r8_both_codes_needed_three_tries() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;

    // Wrong receipt code, then wrong SMS code, then both wrong: each run costs a try of this
    // address.
    let runs = [
        (wrong(&r), s.clone()),
        (r.clone(), wrong(&s)),
        (wrong(&r), wrong(&s)),
    ];
    for (i, (rc, sc)) in runs.iter().enumerate() {
        let err = srv
            .enroll(PAN, rc, sc)
            .await
            .err()
            .expect("wrong codes refused");
        assert_eq!(err.0, 0, "the app sees the mismatch itself: {}", err.1);
        assert_eq!(err.1["tries_left"], json!(2 - i as u64), "{}", err.1);
        assert_ne!(state(&srv, PAN).await.1, "active");
    }
    // The codes are right now, but this address has used its tries for this card: the same
    // answer for every card number, with the time they come back.
    let (st, v, _) = enroll_start(&srv, PAN, &r, &s, None).await;
    assert_error(&(st, v.clone()), 429, "enrollment_tries_used_up");
    assert_eq!(v["error"]["retry_after_secs"], json!(24 * 3600), "{v}");
    assert_ne!(state(&srv, PAN).await.1, "active");
    approved(&srv, PAN, "second", STATIC_SECOND).await;

    // The activation itself is not used up (other addresses, `max_tries_total`): once this
    // address's window has passed, the same codes enroll the holder while it lives; a new ATM
    // visit would do as well.
    srv.advance(DAY_MS - 60 * SEC).await;
    let (st, _, _) = enroll_start(&srv, PAN, &r, &s, None).await;
    assert_eq!(st, 429, "the window lasts the activation's life");
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    srv.advance(60 * SEC).await;
    let (st, v, client) = enroll_start(&srv, PAN, &r, &s, None).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["tries_left"], 2);
    enroll_finish(&srv, client, &v).await.expect("enrollment");
    assert_eq!(state(&srv, PAN).await, ("app".into(), "active".into()));
}

#[tokio::test]
async fn r8_server_refuses_confirmation_made_without_the_codes() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;

    // An app that ignores its own check and sends a made-up confirmation.
    let (st, v, _) = enroll_start(&srv, PAN, &wrong(&r), &s, None).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["tries_left"], 2);
    let id = v["enrollment_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/app/enrollments/{id}/confirm");
    let (st, e) = srv
        .call(
            "POST",
            &path,
            None,
            Some(json!({"confirm": b64_encode(&[7u8; 32])})),
        )
        .await;
    assert_error(&(st, e.clone()), 403, "wrong_activation_codes");
    assert_eq!(e["error"]["tries_left"], 2, "{e}");
    assert_ne!(state(&srv, PAN).await.1, "active");
    // That run is closed.
    let (st, e) = srv
        .call(
            "POST",
            &path,
            None,
            Some(json!({"confirm": b64_encode(&[7u8; 32])})),
        )
        .await;
    assert_error(&(st, e), 404, "unknown_enrollment");

    let (st, v, client) = enroll_start(&srv, PAN, &r, &s, None).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["tries_left"], 1);
    enroll_finish(&srv, client, &v).await.expect("enrollment");
}

#[tokio::test]
async fn r8_activation_expires_after_24_hours() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;

    // Just inside the 24 h: fine.
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    srv.advance(DAY_MS - 60 * SEC).await;
    srv.enroll(PAN, &r, &s)
        .await
        .expect("enrollment inside 24 h");

    let (r, s) = srv.activate_app(PAN2, MOBILE).await;
    srv.advance(DAY_MS + SEC).await;
    assert_cannot_enroll(&srv, PAN2, &r, &s).await;
    assert_eq!(state(&srv, PAN2).await.1, "inactive");
    approved(&srv, PAN2, "second", STATIC_SECOND).await;
}

#[tokio::test]
async fn r8_enrollment_needs_a_pending_activation_of_a_known_card() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    // No activation, no such card: no enrollment, and no word of which.
    assert_cannot_enroll(&srv, PAN, "123456", "654321").await;
    assert_cannot_enroll(&srv, PAN3, "123456", "654321").await;
    let (st, v, _) = enroll_start(&srv, "6280231234567899", "123456", "654321", None).await;
    assert_error(&(st, v), 422, "invalid_pan");
    assert_eq!(state(&srv, PAN).await, ("none".into(), "inactive".into()));
}

// ------------------------------------------------------------------------------------ R9

#[tokio::test]
async fn r9_static_second_password_dies_when_dynamic_service_is_active() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    approved(&srv, PAN, "second", STATIC_SECOND).await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    // Pending is not active yet.
    approved(&srv, PAN, "second", STATIC_SECOND).await;
    let token = srv.enroll(PAN, &r, &s).await.expect("enrollment");
    check(
        &srv,
        PAN,
        "second",
        STATIC_SECOND,
        "55",
        "static_password_disabled",
    )
    .await;
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &token.code("second", now)).await;
    // The static PIN keeps working as a first password (policy default).
    approved(&srv, PAN, "first", PIN).await;
}

// ------------------------------------------------------------------------------------ R10

#[tokio::test]
async fn r10_deactivation_brings_back_static_password() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    check(
        &srv,
        PAN,
        "second",
        STATIC_SECOND,
        "55",
        "static_password_disabled",
    )
    .await;

    let got = atm(&srv, "deactivate", PAN, PIN, None).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(
        status(&srv, PAN).await,
        ("none".into(), "inactive".into(), false, 0)
    );
    let now = srv.now_ms().await;
    check(
        &srv,
        PAN,
        "second",
        &token.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
    check(
        &srv,
        PAN,
        "first",
        &token.code("first", now),
        "55",
        "wrong_password",
    )
    .await;
    approved(&srv, PAN, "second", STATIC_SECOND).await;
    // Activating again needs another ATM visit.
    assert_cannot_enroll(&srv, PAN, "123456", "123456").await;
    let got = srv
        .call(
            "POST",
            &format!("/v1/app/tokens/{}/removal-challenge", token.token_id),
            None,
            None,
        )
        .await;
    assert_error(&got, 404, "unknown_token");
}

#[tokio::test]
async fn r10_deactivation_works_from_the_locked_state() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    lock_with_wrong_first(&srv, PAN, &token, 5).await;
    assert_eq!(state(&srv, PAN).await, ("app".into(), "locked".into()));
    let got = atm(&srv, "deactivate", PAN, PIN, None).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(
        status(&srv, PAN).await,
        ("none".into(), "inactive".into(), false, 0)
    );
    approved(&srv, PAN, "second", STATIC_SECOND).await;
}

// ------------------------------------------------------------------------------------ R11

#[tokio::test]
async fn r11_blocked_second_password_until_branch_unblocks() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let got = atm(&srv, "block-second-password", PAN, PIN, None).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "active".into(), true, 0)
    );

    let now = srv.now_ms().await;
    let right = token.code("second", now);
    check(&srv, PAN, "second", &right, "57", "second_password_blocked").await;
    check(
        &srv,
        PAN,
        "second",
        &wrong(&right),
        "57",
        "second_password_blocked",
    )
    .await;
    check(
        &srv,
        PAN,
        "second",
        STATIC_SECOND,
        "57",
        "second_password_blocked",
    )
    .await;
    // The first password is not affected, and 57s are no failures.
    approved(&srv, PAN, "first", &token.code("first", now)).await;
    assert_eq!(status(&srv, PAN).await.3, 0);

    // The ATM cannot unblock: only the branch.
    let path = format!("/v1/cards/{PAN}/second-password/unblock");
    let got = srv.post(&path, "atm", json!({})).await;
    assert_error(&got, 403, "forbidden");
    assert!(status(&srv, PAN).await.2);
    let got = srv.post(&path, "branch", json!({})).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "active".into(), false, 0)
    );
    srv.advance(STEP * SEC).await;
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &token.code("second", now)).await;
}

#[tokio::test]
async fn r11_block_is_checked_before_the_lock() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let got = atm(&srv, "block-second-password", PAN, PIN, None).await;
    assert_eq!(got.0, 200, "{}", got.1);
    lock_with_wrong_first(&srv, PAN, &token, 5).await;
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "locked".into(), true, 5)
    );
    let now = srv.now_ms().await;
    check(
        &srv,
        PAN,
        "second",
        &token.code("second", now),
        "57",
        "second_password_blocked",
    )
    .await;
    check(
        &srv,
        PAN,
        "first",
        &token.code("first", now),
        "75",
        "locked",
    )
    .await;
}

// ------------------------------------------------------------------------------------ R12

#[tokio::test]
async fn r12_mobile_change_revokes_every_token_of_the_customer() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    srv.card(PAN3, "C1").await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    let a = srv.enroll(PAN, &r, &s).await.expect("enroll A");
    let (r, s) = srv.activate_app(PAN2, MOBILE).await;
    let b = srv.enroll(PAN2, &r, &s).await.expect("enroll B");
    // The third card has only a pending activation: no token.
    let (r3, s3) = srv.activate_app(PAN3, MOBILE).await;

    let got = srv
        .call(
            "PUT",
            "/v1/customers/C1/mobile",
            Some("branch"),
            Some(json!({"mobile": "+989351234567"})),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["mobile"], MOBILE2, "{}", got.1);
    assert_eq!(got.1["revoked_tokens"], 2, "{}", got.1);

    for pan in [PAN, PAN2, PAN3] {
        assert_eq!(state(&srv, pan).await.1, "inactive", "{pan}");
    }
    let now = srv.now_ms().await;
    for (pan, t) in [(PAN, &a), (PAN2, &b)] {
        check(
            &srv,
            pan,
            "second",
            &t.code("second", now),
            "55",
            "wrong_password",
        )
        .await;
        check(
            &srv,
            pan,
            "first",
            &t.code("first", now),
            "55",
            "wrong_password",
        )
        .await;
    }

    // The activation made on the old number is dead too.
    assert_cannot_enroll(&srv, PAN3, &r3, &s3).await;

    // Activation on the old number is refused; on the new one it works.
    let got = atm(&srv, "activate-app", PAN, PIN, Some(MOBILE)).await;
    assert_error(&got, 403, "mobile_mismatch");
    let got = atm(&srv, "activate-sms", PAN2, PIN, Some(MOBILE)).await;
    assert_error(&got, 403, "mobile_mismatch");
    let before = srv.outbox().len();
    let (r, s) = srv.activate_app(PAN, MOBILE2).await;
    assert_eq!(srv.outbox()[before]["to"], MOBILE2);
    let fresh = srv
        .enroll(PAN, &r, &s)
        .await
        .expect("enroll on the new number");
    assert_eq!(state(&srv, PAN).await, ("app".into(), "active".into()));
    srv.advance(STEP * SEC).await;
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &fresh.code("second", now)).await;
    check(
        &srv,
        PAN,
        "second",
        &a.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
}

// ------------------------------------------------------------------------------------ ATM PIN

#[tokio::test]
async fn atm_wrong_pin_changes_nothing_and_three_lock_the_atm_for_a_day() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let before = srv.outbox().len();
    // The ATM takes the dynamic first password as the PIN too (R6): none of these may be one.
    let taken = first_passwords_taken(&token, srv.now_ms().await);
    let bad: Vec<String> = (0..100)
        .map(|i| format!("{}", 9999 - i))
        .filter(|p| !taken.contains(p))
        .take(3)
        .collect();

    let got = atm(&srv, "activate-app", PAN, &bad[0], Some(MOBILE)).await;
    assert_error(&got, 403, "wrong_pin");
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "active".into(), false, 0)
    );
    let got = atm(&srv, "deactivate", PAN, &bad[1], None).await;
    assert_error(&got, 403, "wrong_pin");
    let got = atm(&srv, "block-second-password", PAN, &bad[2], None).await;
    assert_error(&got, 403, "wrong_pin");
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "active".into(), false, 0)
    );
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &token.code("second", now)).await;
    check(
        &srv,
        PAN,
        "second",
        STATIC_SECOND,
        "55",
        "static_password_disabled",
    )
    .await;

    // Three wrong PINs: even the right one is refused, for every ATM operation.
    for (op, mobile) in [
        ("activate-app", Some(MOBILE)),
        ("activate-sms", Some(MOBILE)),
        ("deactivate", None),
        ("block-second-password", None),
    ] {
        let got = atm(&srv, op, PAN, PIN, mobile).await;
        assert_error(&got, 403, "pin_tries_exceeded");
    }
    assert_eq!(
        status(&srv, PAN).await,
        ("app".into(), "active".into(), false, 1)
    );
    srv.advance(DAY_MS - SEC).await;
    let got = atm(&srv, "activate-app", PAN, PIN, Some(MOBILE)).await;
    assert_error(&got, 403, "pin_tries_exceeded");
    assert_no_sms_since(&srv, before).await;

    // The window passes: the right PIN works again.
    srv.advance(2 * SEC).await;
    let got = atm(&srv, "block-second-password", PAN, PIN, None).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert!(status(&srv, PAN).await.2);
}

#[tokio::test]
async fn atm_pin_tries_count_within_a_sliding_day() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    for bad in ["9999", "9998"] {
        let got = atm(&srv, "deactivate", PAN, bad, None).await;
        assert_error(&got, 403, "wrong_pin");
    }
    srv.advance(12 * 3600 * SEC).await;
    let got = atm(&srv, "deactivate", PAN, "9997", None).await;
    assert_error(&got, 403, "wrong_pin");
    let got = atm(&srv, "deactivate", PAN, PIN, None).await;
    assert_error(&got, 403, "pin_tries_exceeded");
    // 24 h after the first two, only the third is left in the window.
    srv.advance(12 * 3600 * SEC + SEC).await;
    let got = atm(&srv, "deactivate", PAN, PIN, None).await;
    assert_eq!(got.0, 200, "{}", got.1);
}

// ------------------------------------------------------------------------------------ removal

#[tokio::test]
async fn app_token_removal_with_proof_of_the_seed() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let id = &token.token_id;

    // Unknown token.
    let got = srv
        .call(
            "POST",
            "/v1/app/tokens/NOSUCHTOKEN123/removal-challenge",
            None,
            None,
        )
        .await;
    assert_error(&got, 404, "unknown_token");
    let body = json!({"nonce": b64_encode(&[1u8; 32]), "proof": b64_encode(&[2u8; 32])});
    let got = srv
        .call(
            "POST",
            "/v1/app/tokens/NOSUCHTOKEN123/removal",
            None,
            Some(body),
        )
        .await;
    assert_error(&got, 404, "unknown_token");

    // A wrong proof: refused, token kept.
    let challenge = format!("/v1/app/tokens/{id}/removal-challenge");
    let removal = format!("/v1/app/tokens/{id}/removal");
    let (st, c) = srv.call("POST", &challenge, None, None).await;
    assert_eq!(st, 200, "{c}");
    let nonce_b64 = c["nonce"].as_str().expect("nonce").to_owned();
    let nonce = b64_decode(&nonce_b64).unwrap();
    let got = srv
        .call(
            "POST",
            &removal,
            None,
            Some(json!({"nonce": nonce_b64, "proof": b64_encode(&[9u8; 32])})),
        )
        .await;
    assert_error(&got, 403, "bad_proof");
    assert_eq!(state(&srv, PAN).await, ("app".into(), "active".into()));
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &token.code("second", now)).await;

    // The right proof, on a fresh challenge.
    let (st, c) = srv.call("POST", &challenge, None, None).await;
    assert_eq!(st, 200, "{c}");
    let nonce_b64 = c["nonce"].as_str().expect("nonce").to_owned();
    let nonce2 = b64_decode(&nonce_b64).unwrap();
    assert_ne!(nonce, nonce2, "a fresh nonce each time");
    let proof = pooya_enroll::removal_proof(&token.seed, id, &nonce2);
    let got = srv
        .call(
            "POST",
            &removal,
            None,
            Some(json!({"nonce": nonce_b64, "proof": b64_encode(&proof)})),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(state(&srv, PAN).await.1, "inactive");
    srv.advance(STEP * SEC).await;
    let now = srv.now_ms().await;
    check(
        &srv,
        PAN,
        "second",
        &token.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
    check(
        &srv,
        PAN,
        "first",
        &token.code("first", now),
        "55",
        "wrong_password",
    )
    .await;
    let got = srv.call("POST", &challenge, None, None).await;
    assert_error(&got, 404, "unknown_token");
}

// ------------------------------------------------------------------------------------ re-activation

#[tokio::test]
async fn activating_again_replaces_the_old_token() {
    let srv = TestServer::start().await;
    let old = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    approved(&srv, PAN, "second", &old.code("second", now)).await;

    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    assert_eq!(state(&srv, PAN).await, ("app".into(), "pending".into()));

    // An enrollment run of that activation, left open, dies with the next activation.
    let (st, v, client) = enroll_start(&srv, PAN, &r, &s, None).await;
    assert_eq!(st, 201, "{v}");
    let server_msg = b64_decode(v["spake_msg"].as_str().unwrap()).unwrap();
    let server_confirm = b64_decode(v["confirm"].as_str().unwrap()).unwrap();
    let finish = client
        .finish(&server_msg, &server_confirm)
        .expect("right codes");
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    let got = srv
        .call(
            "POST",
            &format!(
                "/v1/app/enrollments/{}/confirm",
                v["enrollment_id"].as_str().unwrap()
            ),
            None,
            Some(json!({"confirm": b64_encode(&finish.confirm)})),
        )
        .await;
    assert_error(&got, 403, "wrong_activation_codes");
    assert_eq!(state(&srv, PAN).await, ("app".into(), "pending".into()));
    srv.advance(STEP * SEC).await;
    let now = srv.now_ms().await;
    check(
        &srv,
        PAN,
        "second",
        &old.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
    check(
        &srv,
        PAN,
        "first",
        &old.code("first", now),
        "55",
        "wrong_password",
    )
    .await;
    let got = srv
        .call(
            "POST",
            &format!("/v1/app/tokens/{}/removal-challenge", old.token_id),
            None,
            None,
        )
        .await;
    assert_error(&got, 404, "unknown_token");

    let fresh = srv.enroll(PAN, &r, &s).await.expect("enrollment");
    assert_ne!(fresh.token_id, old.token_id);
    assert_eq!(state(&srv, PAN).await, ("app".into(), "active".into()));
    srv.advance(STEP * SEC).await;
    let now = srv.now_ms().await;
    check(
        &srv,
        PAN,
        "second",
        &old.code("second", now),
        "55",
        "wrong_password",
    )
    .await;
    approved(&srv, PAN, "second", &fresh.code("second", now)).await;
    approved(&srv, PAN, "first", &fresh.code("first", now)).await;
}
