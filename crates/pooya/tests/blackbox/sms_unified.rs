//! The SMS issue, black box over HTTP: the central bank's unified transaction SMS (R24) from
//! `POST /v1/otp-requests` to `/v1/verify`, the edge cases of SMS requests (R21, R22), the outbox
//! status for operators, the HTTP gateway provider, and messages in flight across a `kill -9`.

use crate::common::*;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SHORT_NUMBER: &str = "10002516";
const BARRIER_CUSTOMER: &str = "BARRIER";
const BARRIER_MOBILE: &str = "09190000000";
/// 2026-03-21T10:00:00Z: Nowruz 1405, 13:30 in Tehran.
const NOWRUZ_1405_1330_TEHRAN: i64 = 1_774_087_200_000;
const MERCHANT: &str = "فروشگاه نمونه";

// ------------------------------------------------------------------ helpers

fn has_non_ascii_digit(text: &str) -> bool {
    text.chars()
        .any(|c| ('۰'..='۹').contains(&c) || ('٠'..='٩').contains(&c))
}

async fn set_clock(srv: &TestServer, unix_ms: i64) {
    let (s, v) = srv
        .post("/v1/test/clock", "admin", json!({ "set_unix_ms": unix_ms }))
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn otp_request(srv: &TestServer, pan: &str, txn: Value) -> (u16, Value) {
    srv.post(
        "/v1/otp-requests",
        "switch",
        json!({"pan": pan, "txn": txn}),
    )
    .await
}

fn txn_of(id: &str, amount: i64, merchant: &str) -> Value {
    json!({"id": id, "amount": amount, "merchant": merchant})
}

/// An otp-request that must be queued; returns the SMS it sent and the code in it.
async fn request_code(srv: &TestServer, pan: &str, txn: Value) -> (String, String) {
    let before = srv.outbox().len();
    let (s, v) = otp_request(srv, pan, txn).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], true, "{v}");
    assert_eq!(v["queued"], true, "{v}");
    let msgs = srv.outbox_wait(before + 1).await;
    let m = &msgs[before];
    assert_eq!(m["to"], MOBILE, "to the registered mobile: {m}");
    let text = m["text"].as_str().expect("text").to_owned();
    let codes = digit_runs(&text, 8);
    assert_eq!(codes.len(), 1, "one 8-digit code in {text:?}");
    (text, codes[0].clone())
}

async fn verify_txn(srv: &TestServer, pan: &str, password: &str, txn: Value) -> (u16, Value) {
    srv.post(
        "/v1/verify",
        "switch",
        json!({"pan": pan, "kind": "second", "password": password, "txn": txn}),
    )
    .await
}

fn assert_verdict(answer: &(u16, Value), code: &str, reason: &str) {
    let (s, v) = answer;
    assert_eq!(*s, 200, "{v}");
    assert_eq!(v["response_code"], code, "{v}");
    assert_eq!(v["reason"], reason, "{v}");
    assert_eq!(v["approved"], code == "00", "{v}");
}

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    let (s, v) = answer;
    assert_eq!(*s, status, "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
}

async fn inbound(srv: &TestServer, from: &str, text: &str) -> (u16, Value) {
    srv.post(
        "/v1/sms/inbound",
        "sms",
        json!({"from": from, "to": SHORT_NUMBER, "text": text}),
    )
    .await
}

/// Texts `text` from MOBILE and returns the one reply it causes.
async fn inbound_reply(srv: &TestServer, text: &str) -> String {
    let before = srv.outbox().len();
    let (s, v) = inbound(srv, MOBILE, text).await;
    assert_eq!(s, 202, "{v}");
    let msgs = srv.outbox_wait(before + 1).await;
    assert_eq!(msgs[before]["to"], MOBILE);
    msgs[before]["text"].as_str().unwrap().to_owned()
}

async fn activate_sms(srv: &TestServer, pan: &str) -> String {
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": pan, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["fixed_part"].as_str().unwrap().to_owned()
}

/// A customer and card whose otp-requests flush the outbox: see [`settle`].
async fn barrier_setup(srv: &TestServer) -> String {
    let pan = pan_with("6037991111", "00001");
    srv.customer(BARRIER_CUSTOMER, BARRIER_MOBILE).await;
    srv.card(&pan, BARRIER_CUSTOMER).await;
    pan
}

/// Queues one SMS of its own and waits for it: the worker sends in queue order, so whatever was
/// queued before has left by then. Returns the messages that are not the barrier's.
async fn settle(srv: &TestServer, barrier_pan: &str) -> Vec<Value> {
    let before = srv.outbox().len();
    let id = format!("BARRIER-{before}-{}", pooya_issuer::keys::random_id());
    let (s, v) = otp_request(srv, barrier_pan, txn_of(&id, 1, "barrier")).await;
    assert_eq!(s, 202, "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let msgs = srv.outbox();
        if msgs.len() > before && msgs.last().unwrap()["to"] == BARRIER_MOBILE {
            return msgs
                .into_iter()
                .filter(|m| m["to"] != BARRIER_MOBILE)
                .collect();
        }
        assert!(Instant::now() < deadline, "barrier SMS not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------------ R24 end to end

#[tokio::test]
async fn r24_request_sms_then_verify_only_that_transaction_once() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    set_clock(&srv, NOWRUZ_1405_1330_TEHRAN).await;
    let txn = txn_of("T1", 1_250_000, MERCHANT);
    let (s, v) = otp_request(&srv, PAN, txn.clone()).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["queued"], true, "{v}");
    assert_eq!(v["expires_at"], "2026-03-21T10:01:00Z", "{v}");
    let msgs = srv.outbox_wait(1).await;
    assert_eq!(msgs[0]["to"], MOBILE);
    let text = msgs[0]["text"].as_str().unwrap();
    // The unified format: password, type, amount with separators, merchant, validity, date
    // (Solar Hijri) and time (Tehran), all in ASCII digits.
    for part in [
        "خرید",
        "1,250,000 ریال",
        MERCHANT,
        "13:31:00",
        "1405/01/01 13:30",
        "Pooya Bank",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert!(!has_non_ascii_digit(text), "ASCII digits only: {text}");
    assert!(!text.contains(PAN), "no full PAN: {text}");
    let codes = digit_runs(text, 8);
    assert_eq!(codes.len(), 1, "{text}");
    let code = &codes[0];

    // Another amount or another merchant: not this transaction.
    let r = verify_txn(&srv, PAN, code, txn_of("T1-amount", 1_250_001, MERCHANT)).await;
    assert_verdict(&r, "55", "wrong_transaction");
    let r = verify_txn(
        &srv,
        PAN,
        code,
        txn_of("T1-shop", 1_250_000, "فروشگاه دیگر"),
    )
    .await;
    assert_verdict(&r, "55", "wrong_transaction");
    assert_eq!(srv.card_info(PAN).await.recent_failures, 2);

    // Its own transaction: approved, once.
    let r = verify_txn(&srv, PAN, code, txn.clone()).await;
    assert_verdict(&r, "00", "approved");
    // A retry of the same request answers the same (docs/api.md idempotency) …
    let r = verify_txn(&srv, PAN, code, txn.clone()).await;
    assert_verdict(&r, "00", "approved");
    // … but a second use for another transaction, even of the same amount and merchant, is not.
    let r = verify_txn(&srv, PAN, code, txn_of("T2", 1_250_000, MERCHANT)).await;
    assert_verdict(&r, "55", "replayed");
    // A decided transaction takes no new code.
    let r = otp_request(&srv, PAN, txn).await;
    assert_error(&r, 409, "txn_already_verified");
    assert_eq!(srv.outbox().len(), 1);
}

#[tokio::test]
async fn r24_wrong_amount_under_the_transactions_own_id() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let txn = txn_of("T5", 80_000, "Shop");
    let (_, code) = request_code(&srv, PAN, txn.clone()).await;
    let r = verify_txn(&srv, PAN, &code, txn_of("T5", 8_000_000, "Shop")).await;
    assert_verdict(&r, "55", "wrong_transaction");
    // The switch's id now stands for what was verified: the real request is a conflict.
    let r = verify_txn(&srv, PAN, &code, txn).await;
    assert_error(&r, 409, "txn_conflict");
    // An otp-request naming an id already used with another amount is a conflict too.
    let (_, code) = request_code(&srv, PAN, txn_of("T6", 1000, "Shop")).await;
    let r = otp_request(&srv, PAN, txn_of("T6", 2000, "Shop")).await;
    assert_error(&r, 409, "txn_conflict");
    let r = verify_txn(&srv, PAN, &code, txn_of("T6", 1000, "Shop")).await;
    assert_verdict(&r, "00", "approved");
}

#[tokio::test]
async fn r24_code_dies_after_its_lifetime() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let txn = txn_of("T1", 5000, "Shop");
    let (_, code) = request_code(&srv, PAN, txn.clone()).await;
    // 60 s + 10 s tolerance.
    srv.advance(70_000).await;
    let r = verify_txn(&srv, PAN, &code, txn).await;
    assert_verdict(&r, "55", "expired_password");
    // In time, on another request.
    let txn = txn_of("T2", 5000, "Shop");
    let (_, code) = request_code(&srv, PAN, txn.clone()).await;
    srv.advance(59_000).await;
    let r = verify_txn(&srv, PAN, &code, txn).await;
    assert_verdict(&r, "00", "approved");
}

#[tokio::test]
async fn r24_codes_stand_beside_the_app_and_are_bound_to_the_card() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    srv.card(PAN2, "C1").await;
    let txn = txn_of("T1", 1000, "Shop");
    let (_, code) = request_code(&srv, PAN, txn.clone()).await;
    // R4: not for another card of the same holder.
    let r = verify_txn(&srv, PAN2, &code, txn.clone()).await;
    assert_eq!(r.1["approved"], false, "{r:?}");
    let r = verify_txn(&srv, PAN, &code, txn).await;
    assert_verdict(&r, "00", "approved");
    // The app's own code still works on the card.
    let now = srv.now_ms().await;
    let r = verify_txn(&srv, PAN, &token.code("second", now), txn_of("T2", 1, "x")).await;
    assert_verdict(&r, "00", "approved");
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Active);
}

#[tokio::test]
async fn r24_the_same_request_again_sends_nothing_new_within_the_interval() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    let txn = txn_of("T1", 1000, "Shop");
    let (_, old) = request_code(&srv, PAN, txn.clone()).await;
    srv.advance(10_000).await;
    let (s, v) = otp_request(&srv, PAN, txn.clone()).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["queued"], false, "{v}");
    assert_eq!(settle(&srv, &barrier).await.len(), 1, "sent once");
    // Later, a resend is a new code that replaces the old one.
    srv.advance(25_000).await;
    let (_, new) = request_code(&srv, PAN, txn.clone()).await;
    if new != old {
        let r = verify_txn(&srv, PAN, &old, txn_of("T1-old", 1000, "Shop")).await;
        assert_eq!(r.1["approved"], false, "{r:?}");
    }
    let r = verify_txn(&srv, PAN, &new, txn).await;
    assert_verdict(&r, "00", "approved");
}

#[tokio::test]
async fn r24_bad_requests_are_refused_and_send_nothing() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    // Unknown card (a valid number nobody registered).
    let r = otp_request(&srv, PAN3, txn_of("T1", 1000, "Shop")).await;
    assert_error(&r, 404, "unknown_card");
    for amount in [0, -1000] {
        let r = otp_request(&srv, PAN, txn_of("T1", amount, "Shop")).await;
        assert_error(&r, 422, "invalid_amount");
    }
    // A merchant name too long for an SMS (40 characters at most by default), or one that could
    // turn the text around on the phone.
    let r = otp_request(&srv, PAN, txn_of("T1", 1000, &"ف".repeat(41))).await;
    assert_error(&r, 422, "invalid_merchant");
    assert!(r.1["error"]["message"].as_str().unwrap().contains("40"));
    let r = otp_request(&srv, PAN, txn_of("T1", 1000, "Shop\u{202e}000,1")).await;
    assert_error(&r, 422, "invalid_merchant");
    let r = otp_request(&srv, PAN, txn_of("T1", 1000, "")).await;
    assert_error(&r, 422, "invalid_merchant");
    let r = otp_request(
        &srv,
        PAN,
        json!({"id": "T1", "amount": 1000, "merchant": "Shop", "type": "gift"}),
    )
    .await;
    assert_error(&r, 422, "invalid_txn_type");
    let r = otp_request(&srv, "6280231234567890", txn_of("T1", 1000, "Shop")).await;
    assert_error(&r, 422, "invalid_pan");
    for body in [
        json!({"pan": PAN}),
        json!({"pan": PAN, "txn": {"id": "T1", "amount": "1000", "merchant": "Shop"}}),
        json!({"pan": PAN, "txn": {"id": "T1", "amount": 10.5, "merchant": "Shop"}}),
    ] {
        let r = srv.post("/v1/otp-requests", "switch", body).await;
        assert_error(&r, 400, "bad_request");
    }
    // Only the switch asks.
    let r = srv
        .post(
            "/v1/otp-requests",
            "sms",
            json!({"pan": PAN, "txn": txn_of("T1", 1000, "Shop")}),
        )
        .await;
    assert_error(&r, 403, "forbidden");
    let r = srv
        .call(
            "POST",
            "/v1/otp-requests",
            None,
            Some(json!({"pan": PAN, "txn": txn_of("T1", 1000, "Shop")})),
        )
        .await;
    assert_error(&r, 401, "unauthenticated");
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
    // The card is untouched: a good request still works.
    let (_, code) = request_code(&srv, PAN, txn_of("T1", 1000, "Shop")).await;
    let r = verify_txn(&srv, PAN, &code, txn_of("T1", 1000, "Shop")).await;
    assert_verdict(&r, "00", "approved");
}

#[tokio::test]
async fn r24_blocked_locked_or_expired_cards_get_no_code() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    // R11: blocked second password.
    let (s, v) = srv
        .post(
            "/v1/atm/block-second-password",
            "atm",
            json!({"pan": PAN, "pin": PIN}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = otp_request(&srv, PAN, txn_of("T1", 1000, "Shop")).await;
    assert_error(&r, 403, "second_password_blocked");
    // R5: locked by five wrong passwords.
    activate_sms(&srv, PAN2).await;
    for i in 0..5 {
        let r = verify_txn(&srv, PAN2, "00000000", txn_of(&format!("W{i}"), 1, "x")).await;
        assert_eq!(r.1["approved"], false);
    }
    assert_eq!(
        srv.card_info(PAN2).await.dynamic.state,
        DynamicState::Locked
    );
    let r = otp_request(&srv, PAN2, txn_of("T2", 1000, "Shop")).await;
    assert_error(&r, 403, "locked");
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
    // The card's expiry (12/99) passed.
    srv.card(PAN3, "C1").await;
    set_clock(&srv, 4_102_444_800_000 + 1000).await; // 2100-01-01T00:00:01Z
    let r = otp_request(&srv, PAN3, txn_of("T3", 1000, "Shop")).await;
    assert_error(&r, 403, "expired_card");
}

#[tokio::test]
async fn r24_templates_are_the_banks_and_checked_at_start_up() {
    let cfg = format!(
        "{TEST_CONFIG}\n[policy]\nbank_name = \"Bank Maskan\"\n[policy.sms]\nlanguage = \"en\"\n\
         [policy.templates.en]\nunified_otp = \"{{bank}} OTP {{code}} for {{txn_type}} of {{amount}} IRR at {{merchant}}, until {{expires}} ({{date}} {{time}}) {{{{shaparak}}}}\"\n"
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    set_clock(&srv, NOWRUZ_1405_1330_TEHRAN).await;
    let (text, code) = request_code(
        &srv,
        PAN,
        json!({"id": "T1", "amount": 99_000, "merchant": "Shop", "type": "bill"}),
    )
    .await;
    assert_eq!(
        text,
        format!(
            "Bank Maskan OTP {code} for Bill payment of 99,000 IRR at Shop, until 13:31:00 (1405/01/01 13:30) {{shaparak}}"
        )
    );

    // A template that cannot render, or drops the code, stops the server at start-up.
    for (template, words) in [
        ("{bank} {code} {nope}", "{nope}"),
        (
            "{txn_type} {amount} {merchant} {expires} {date} {time}",
            "{code}",
        ),
        ("{code", "closed"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("pooya.toml");
        std::fs::write(
            &cfg_path,
            format!("{TEST_CONFIG}\n[policy.templates.fa]\nunified_otp = {template:?}\n"),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooya"))
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--config")
            .arg(&cfg_path)
            .env_remove("POOYA_DATABASE_URL")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{template}: must not start");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("templates.fa.unified_otp") && err.contains(words),
            "{template}: {err}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).is_empty());
    }
}

// ------------------------------------------------------------------ R21, R22 edges

#[tokio::test]
async fn r21_two_cards_ending_alike_get_a_request_for_more_digits_then_a_code() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.customer("C1", MOBILE).await;
    let a = pan_with("6280231", "11114321");
    let b = pan_with("6280232", "22224321");
    srv.card(&a, "C1").await;
    srv.card(&b, "C1").await;
    let fixed_a = activate_sms(&srv, &a).await;
    let fixed_b = activate_sms(&srv, &b).await;
    // Four digits: ambiguous. The reply asks for more digits and holds no code.
    let text = inbound_reply(&srv, "4321").await;
    assert!(text.contains("رمزی صادر نشد"), "no password issued: {text}");
    assert!(
        text.contains(" 8 رقم آخر"),
        "asks for the last 8 digits: {text}"
    );
    assert!(text.contains(SHORT_NUMBER), "{text}");
    assert!(digit_runs(&text, 4).iter().all(|r| r == "4321"), "{text}");
    assert_eq!(settle(&srv, &barrier).await.len(), 1, "one reply");
    for (pan, fixed) in [(&a, &fixed_a), (&b, &fixed_b)] {
        let r = verify_txn(&srv, pan, &format!("{fixed}4321"), txn_of("X", 1, "x")).await;
        assert_eq!(r.1["approved"], false, "{r:?}");
    }
    // Eight digits (Persian digits and spaces too): card a's variable part.
    let text = inbound_reply(&srv, "۱۱۱۱ ۴۳۲۱").await;
    assert!(!text.contains("رمزی صادر نشد"), "{text}");
    let var = srv.variable_part(&text, "4321");
    let r = verify_txn(&srv, &a, &format!("{fixed_a}{var}"), txn_of("T1", 1, "x")).await;
    assert_verdict(&r, "00", "approved");
    // Six digits are enough for card b.
    let text = inbound_reply(&srv, "224321").await;
    let var = srv.variable_part(&text, "4321");
    let r = verify_txn(&srv, &b, &format!("{fixed_b}{var}"), txn_of("T2", 1, "x")).await;
    assert_verdict(&r, "00", "approved");
    // Digits that end like the cards but match neither: nothing.
    let (s, _) = inbound(&srv, MOBILE, "33334321").await;
    assert_eq!(s, 202);
    assert_eq!(settle(&srv, &barrier).await.len(), 3, "no reply");
}

#[tokio::test]
async fn r21_cards_alike_in_eight_digits_get_no_code_at_all() {
    let srv = TestServer::start().await;
    srv.customer("C1", MOBILE).await;
    let a = pan_with("6280231", "12344321");
    let b = pan_with("6280239", "12344321");
    srv.card(&a, "C1").await;
    srv.card(&b, "C1").await;
    activate_sms(&srv, &a).await;
    activate_sms(&srv, &b).await;
    let text = inbound_reply(&srv, "12344321").await;
    assert!(text.contains("رمزی صادر نشد"), "{text}");
    assert!(
        text.contains("تماس"),
        "sends the holder to the bank: {text}"
    );
    assert!(digit_runs(&text, 4).is_empty(), "{text}");
}

#[tokio::test]
async fn r22_strangers_learn_nothing_about_cards() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    activate_sms(&srv, PAN).await;
    srv.customer("C2", MOBILE2).await;
    // A number the bank does not know, another customer's number, and the holder's own number
    // asking for a card without SMS service (PAN2) or for a card that does not exist: the same
    // answer each time, and no SMS.
    let mut answers = Vec::new();
    for (from, text) in [
        ("09350000000", "7898"),
        (MOBILE2, "7898"),
        (MOBILE2, "34567898"),
        (MOBILE, "7880"),
        (MOBILE, "0000"),
    ] {
        answers.push(inbound(&srv, from, text).await);
    }
    for a in &answers {
        assert_eq!(a, &answers[0], "{answers:?}");
    }
    assert_eq!(answers[0].0, 202);
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn r21_a_second_request_within_30_seconds_sends_nothing_new() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    let fixed = activate_sms(&srv, PAN).await;
    let first = srv.variable_part(&inbound_reply(&srv, "7898").await, "7898");
    srv.advance(10_000).await;
    for text in ["7898", "۷۸۹۸", " 78 98 "] {
        let (s, _) = inbound(&srv, MOBILE, text).await;
        assert_eq!(s, 202);
    }
    assert_eq!(settle(&srv, &barrier).await.len(), 1, "nothing re-sent");
    // The code sent first still works; once it is used, a new request is answered at once.
    let r = verify_txn(&srv, PAN, &format!("{fixed}{first}"), txn_of("T1", 1, "x")).await;
    assert_verdict(&r, "00", "approved");
    let second = srv.variable_part(&inbound_reply(&srv, "7898").await, "7898");
    // Unused, 30 s on: a new one, and the one before dies.
    srv.advance(30_000).await;
    let third = srv.variable_part(&inbound_reply(&srv, "7898").await, "7898");
    if second != third {
        let r = verify_txn(&srv, PAN, &format!("{fixed}{second}"), txn_of("T2", 1, "x")).await;
        assert_eq!(r.1["approved"], false, "{r:?}");
    }
    let r = verify_txn(&srv, PAN, &format!("{fixed}{third}"), txn_of("T3", 1, "x")).await;
    assert_verdict(&r, "00", "approved");
}

#[tokio::test]
async fn r21_the_request_interval_is_a_setting() {
    let cfg = format!("{TEST_CONFIG}\n[policy.sms]\nrequest_interval_secs = 0\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    activate_sms(&srv, PAN).await;
    inbound_reply(&srv, "۷۸۹۸").await;
    inbound_reply(&srv, "7898").await;
    assert_eq!(srv.outbox().len(), 2);
}

// ------------------------------------------------------------------ outbox status

#[tokio::test]
async fn outbox_status_for_the_admin() {
    let srv = TestServer::start().await;
    let (s, v) = srv.get("/v1/admin/outbox", "admin").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"queued": 0, "oldest_age_ms": null, "retrying": 0, "failed_attempts": 0,
               "given_up": 0, "refused": 0, "sent": 0})
    );
    for role in ["branch", "atm", "sms", "switch"] {
        let r = srv.get("/v1/admin/outbox", role).await;
        assert_error(&r, 403, "forbidden");
    }
    let r = srv.call("GET", "/v1/admin/outbox", None, None).await;
    assert_error(&r, 401, "unauthenticated");
    srv.with_card().await;
    request_code(&srv, PAN, txn_of("T1", 1, "x")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = srv.get("/v1/admin/outbox", "admin").await;
        if v["sent"] == 1 {
            assert_eq!(v["queued"], 0, "{v}");
            assert_eq!(v["oldest_age_ms"], Value::Null, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A gateway that is down: messages wait, failures are counted, a code that expires is given up.
#[tokio::test]
async fn outbox_status_shows_a_gateway_that_is_down() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = format!(
        "{TEST_CONFIG}\n[sms_provider]\nkind = \"http\"\n[sms_provider.http]\n\
         url = \"http://127.0.0.1:{port}/send\"\nbody_template = '{{\"to\": \"{{to}}\", \"text\": \"{{text}}\"}}'\n\
         timeout_ms = 500\n"
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    let (s, v) = otp_request(&srv, PAN, txn_of("T1", 1, "x")).await;
    assert_eq!(s, 202, "{v}");
    let status = wait_status(&srv, |v| v["failed_attempts"].as_i64() >= Some(1)).await;
    assert_eq!(status["queued"], 1, "{status}");
    assert_eq!(status["retrying"], 1, "{status}");
    assert_eq!(status["sent"], 0, "{status}");
    srv.advance(5_000).await;
    let status = wait_status(&srv, |v| v["oldest_age_ms"].as_i64() >= Some(5_000)).await;
    assert_eq!(status["queued"], 1, "{status}");
    // The code's lifetime passes: the message is given up, not sent late.
    srv.advance(60_000).await;
    let status = wait_status(&srv, |v| v["given_up"] == 1).await;
    assert_eq!(status["queued"], 0, "{status}");
    assert_eq!(status["oldest_age_ms"], Value::Null, "{status}");
    assert!(status["failed_attempts"].as_i64() >= Some(1), "{status}");
    let log = srv.wait_log("SMS not sent").await;
    assert!(!log.contains("ریال"), "without the text");
}

async fn wait_status(srv: &TestServer, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, v) = srv.get("/v1/admin/outbox", "admin").await;
        assert_eq!(s, 200, "{v}");
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "outbox status never got there: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------------------------ the HTTP gateway

/// A minimal HTTP gateway on the loopback: records each request's body and answers `status`.
struct Gateway {
    port: u16,
    bodies: Arc<Mutex<Vec<(String, Value)>>>,
}

fn gateway(status: u16) -> Gateway {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Head, then as much body as Content-Length says.
            let (head_end, len) = loop {
                let Ok(n) = conn.read(&mut chunk) else {
                    break (0, 0);
                };
                if n == 0 {
                    break (0, 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (i + 4, len);
                }
            };
            if head_end == 0 {
                continue;
            }
            while buf.len() < head_end + len {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let body = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
            seen.lock().unwrap().push((head, body));
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    Gateway { port, bodies }
}

#[tokio::test]
async fn the_http_gateway_carries_the_unified_sms() {
    let gw = gateway(200);
    let cfg = format!(
        "{TEST_CONFIG}\n[sms_provider]\nkind = \"http\"\n[sms_provider.http]\n\
         url = \"http://127.0.0.1:{}/send\"\nheaders = {{ Authorization = \"Bearer GW-KEY\" }}\n\
         body_template = '{{\"receptor\": \"{{to}}\", \"message\": \"{{text}}\"}}'\n",
        gw.port
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    let txn = txn_of("T1", 1_250_000, "Shop \"Q\"");
    let (s, v) = otp_request(&srv, PAN, txn.clone()).await;
    assert_eq!(s, 202, "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (head, body) = loop {
        if let Some(b) = gw.bodies.lock().unwrap().first().cloned() {
            break b;
        }
        assert!(Instant::now() < deadline, "the gateway got nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(head.starts_with("POST /send "), "{head}");
    assert!(head.contains("Bearer GW-KEY"), "{head}");
    assert_eq!(body["receptor"], MOBILE, "{body}");
    let text = body["message"].as_str().unwrap();
    assert!(
        text.contains("Shop \"Q\"") && text.contains("1,250,000"),
        "{text}"
    );
    let code = digit_runs(text, 8).pop().unwrap();
    assert!(
        srv.outbox().is_empty(),
        "no outbox file with another provider"
    );
    let r = verify_txn(&srv, PAN, &code, txn).await;
    assert_verdict(&r, "00", "approved");
    let log = std::fs::read_to_string(srv.log_path()).unwrap();
    assert!(!log.contains("GW-KEY"), "the key is never logged");
}

// ------------------------------------------------------------------ restarts

/// `kill -9` with messages in flight: every message queued before its request was answered leaves
/// exactly once, after the restart if not before.
#[tokio::test]
async fn messages_in_flight_survive_kill_9_and_leave_once() {
    // The outbox file's folder does not exist yet: the first messages cannot leave and wait in
    // the queue. Codes live 300 s, past the 60 s a dead worker's lease holds its messages.
    let spool = tempfile::tempdir().unwrap();
    let out_dir = spool.path().join("later");
    let cfg = format!(
        "{TEST_CONFIG}\n[policy.otp]\nlifetime_secs = 300\nmax_lifetime_secs = 300\n\
         [sms_provider]\npath = {:?}\n",
        out_dir.join("sms-outbox.jsonl").display().to_string()
    );
    let mut srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    let fixed = activate_sms(&srv, PAN).await;
    let txns: Vec<(String, i64, String)> = (0..6)
        .map(|i| (format!("T{i}"), 1000 + i, format!("Shop {i}")))
        .collect();
    for (id, amount, shop) in &txns[..4] {
        let (s, v) = otp_request(&srv, PAN, txn_of(id, *amount, shop)).await;
        assert_eq!(s, 202, "{v}");
    }
    let (s, _) = inbound(&srv, MOBILE, "7898").await;
    assert_eq!(s, 202);
    let status = wait_status(&srv, |v| v["failed_attempts"].as_i64() >= Some(5)).await;
    assert_eq!(status["queued"], 5, "all waiting: {status}");
    srv.kill9();
    assert!(srv.outbox().is_empty());

    // The folder is there now: after the restart everything leaves, once.
    std::fs::create_dir_all(&out_dir).unwrap();
    srv.restart();
    srv.advance(61_000).await;
    srv.outbox_wait(5).await;
    // Two more, and kill -9 the moment they are answered.
    for (id, amount, shop) in &txns[4..] {
        let (s, v) = otp_request(&srv, PAN, txn_of(id, *amount, shop)).await;
        assert_eq!(s, 202, "{v}");
    }
    srv.kill9();
    srv.restart();
    // The fake clock starts again at the real time, behind the 61 s it was moved on: a lease the
    // killed worker took runs out 60 s after that.
    srv.advance(125_000).await;
    srv.outbox_wait(7).await;
    // Let a late duplicate show, then count.
    let _ = wait_status(&srv, |v| v["queued"] == 0).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let msgs = srv.outbox();
    assert_eq!(msgs.len(), 7, "{msgs:?}");
    for (id, amount, shop) in &txns {
        let found: Vec<&Value> = msgs
            .iter()
            .filter(|m| m["text"].as_str().unwrap().contains(shop.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "{shop}: {msgs:?}");
        let code = digit_runs(found[0]["text"].as_str().unwrap(), 8)
            .pop()
            .unwrap();
        let r = verify_txn(&srv, PAN, &code, txn_of(id, *amount, shop)).await;
        assert_verdict(&r, "00", "approved");
    }
    let replies: Vec<&Value> = msgs
        .iter()
        .filter(|m| !m["text"].as_str().unwrap().contains("Shop"))
        .collect();
    assert_eq!(replies.len(), 1, "{msgs:?}");
    let var = srv.variable_part(replies[0]["text"].as_str().unwrap(), "7898");
    let r = verify_txn(&srv, PAN, &format!("{fixed}{var}"), txn_of("V", 1, "x")).await;
    assert_verdict(&r, "00", "approved");
    let (_, status) = srv.get("/v1/admin/outbox", "admin").await;
    assert_eq!(status["queued"], 0, "{status}");
    assert_eq!(status["sent"], 7, "{status}");
}
