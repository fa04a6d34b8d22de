//! The SMS channel, black box over HTTP: activation at the ATM with a fixed part on the receipt
//! (R20), the variable part by SMS to the bank's short number (R21), and the requests the server
//! must ignore (R22). Also the language and digits of the activation SMS (R8).

use crate::common::*;

use serde_json::{json, Value};

const SHORT_NUMBER: &str = "10002516";
/// A new request for a card whose variable part is unused and alive issues a new one only this
/// long after the last (`[policy.sms] request_interval_secs`, default 30 s).
const REQUEST_INTERVAL_MS: i64 = 30_000;
/// A customer and card used only to flush the SMS outbox (see [`settle`]).
const BARRIER_CUSTOMER: &str = "BARRIER";
const BARRIER_MOBILE: &str = "09190000000";

// ------------------------------------------------------------------ helpers

/// Whether `text` has a run of `n` Persian or Arabic-Indic digits (a code not in ASCII digits).
fn has_non_ascii_digit_run(text: &str, n: usize) -> bool {
    let mut len = 0;
    for ch in text.chars() {
        if ('۰'..='۹').contains(&ch) || ('٠'..='٩').contains(&ch) {
            len += 1;
            if len >= n {
                return true;
            }
        } else {
            len = 0;
        }
    }
    false
}

async fn activate_sms(srv: &TestServer, pan: &str, mobile: &str) -> (u16, Value) {
    srv.post(
        "/v1/atm/activate-sms",
        "atm",
        json!({"pan": pan, "pin": PIN, "mobile": mobile}),
    )
    .await
}

/// SMS activation that must succeed; returns the fixed part.
async fn fixed_part(srv: &TestServer, pan: &str) -> String {
    let (s, v) = activate_sms(srv, pan, MOBILE).await;
    assert_eq!(s, 200, "{v}");
    v["fixed_part"].as_str().expect("fixed_part").to_owned()
}

async fn inbound(srv: &TestServer, from: &str, to: &str, text: &str) -> (u16, Value) {
    srv.post(
        "/v1/sms/inbound",
        "sms",
        json!({"from": from, "to": to, "text": text}),
    )
    .await
}

/// Texts `text` from `from` to the short number, expects 202 and one reply to `from`; returns it.
async fn request_reply(srv: &TestServer, from: &str, text: &str) -> String {
    let before = srv.outbox().len();
    let (s, v) = inbound(srv, from, SHORT_NUMBER, text).await;
    assert_eq!(s, 202, "{v}");
    let msgs = srv.outbox_wait(before + 1).await;
    assert_eq!(msgs.len(), before + 1, "exactly one reply: {msgs:?}");
    let m = &msgs[before];
    assert_eq!(m["to"], from, "{m}");
    m["text"].as_str().expect("text").to_owned()
}

/// Requests a variable part for the card ending in `last4` and returns it.
async fn request_variable(srv: &TestServer, last4: &str) -> String {
    let text = request_reply(srv, MOBILE, last4).await;
    assert!(
        !has_non_ascii_digit_run(&text, 2),
        "codes in ASCII digits: {text:?}"
    );
    let var = srv.variable_part(&text, last4);
    assert_eq!(var.len(), 4);
    assert!(var.bytes().all(|b| b.is_ascii_digit()));
    var
}

async fn verify_second(srv: &TestServer, pan: &str, password: &str, txn: &str) -> VerifyResult {
    srv.verify(pan, "second", password, txn).await
}

fn assert_verdict(v: &VerifyResult, code: &str, reason: &str) {
    assert_eq!(v.response_code, code, "{v:?}");
    assert_eq!(v.reason, reason, "{v:?}");
    assert_eq!(v.approved, code == "00", "{v:?}");
}

/// A customer and a card whose app activation is used as a barrier in the outbox.
async fn barrier_setup(srv: &TestServer) -> String {
    let pan = pan_with("60379911111", "0001");
    srv.customer(BARRIER_CUSTOMER, BARRIER_MOBILE).await;
    srv.card(&pan, BARRIER_CUSTOMER).await;
    pan
}

/// Makes sure every SMS queued so far has left: queues one SMS of its own (an app activation of the
/// barrier card) and waits for it. The delivery worker sends in order, so whatever an earlier
/// request queued is in the outbox file by then. Returns the messages that are not the barrier's.
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
            "barrier SMS not delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn ascii_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

// ------------------------------------------------------------------ R20

#[tokio::test]
async fn r20_sms_activation_prints_the_fixed_part_and_the_short_number() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (s, v) = activate_sms(&srv, PAN, MOBILE).await;
    assert_eq!(s, 200, "{v}");
    let fixed = v["fixed_part"].as_str().expect("fixed_part");
    assert!(ascii_digits(fixed, 4), "{v}");
    let receipt = v["receipt_text"].as_str().expect("receipt_text");
    assert!(receipt.contains(fixed), "{receipt}");
    assert!(receipt.contains(SHORT_NUMBER), "{receipt}");
    assert!(!receipt.contains(PAN), "no full PAN on the receipt");
    let info = srv.card_info(PAN).await;
    assert_eq!(info.dynamic.mode, DynamicMode::Sms, "{info:?}");
    assert_eq!(info.dynamic.state, DynamicState::Active, "{info:?}");
}

#[tokio::test]
async fn r20_sms_activation_accepts_every_form_of_the_registered_mobile() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    for m in ["+989121234567", "989121234567", "9121234567", MOBILE] {
        let (s, v) = activate_sms(&srv, PAN, m).await;
        assert_eq!(s, 200, "{m}: {v}");
    }
    assert_eq!(srv.card_info(PAN).await.dynamic.mode, DynamicMode::Sms);
}

#[tokio::test]
async fn r20_mobile_mismatch_issues_and_sends_nothing() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    let (s, v) = activate_sms(&srv, PAN, MOBILE2).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "mobile_mismatch", "{v}");
    let info = srv.card_info(PAN).await;
    assert_eq!(info.dynamic.mode, DynamicMode::None, "{info:?}");
    assert_eq!(info.dynamic.state, DynamicState::Inactive, "{info:?}");
    // The static second password still works: nothing was activated.
    let v = verify_second(&srv, PAN, STATIC_SECOND, "T1").await;
    assert_verdict(&v, "00", "approved");
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn r20_a_new_sms_activation_replaces_the_fixed_part() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let old = fixed_part(&srv, PAN).await;
    let mut new = fixed_part(&srv, PAN).await;
    // The odds that two random fixed parts are equal are 1 in 10 000: draw again then.
    while new == old {
        new = fixed_part(&srv, PAN).await;
    }
    let var = request_variable(&srv, "7898").await;
    let v = verify_second(&srv, PAN, &format!("{old}{var}"), "T1").await;
    assert!(!v.approved, "the old fixed part is dead: {v:?}");
    assert_eq!(v.response_code, "55", "{v:?}");
    // The variable part is still unused: a new one comes only after the request interval.
    srv.advance(REQUEST_INTERVAL_MS).await;
    let var = request_variable(&srv, "7898").await;
    let v = verify_second(&srv, PAN, &format!("{new}{var}"), "T2").await;
    assert_verdict(&v, "00", "approved");
}

// ------------------------------------------------------------------ R21

#[tokio::test]
async fn r21_variable_part_by_sms_makes_a_one_time_password() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let fixed = fixed_part(&srv, PAN).await;
    let text = request_reply(&srv, MOBILE, "7898").await;
    assert!(!text.contains(PAN), "no full PAN in an SMS: {text}");
    assert!(!has_non_ascii_digit_run(&text, 2), "{text}");
    let var = srv.variable_part(&text, "7898");
    assert!(ascii_digits(&var, 4), "{text}");
    let password = format!("{fixed}{var}");
    assert_eq!(password.len(), 8);
    let v = verify_second(&srv, PAN, &password, "T1").await;
    assert_verdict(&v, "00", "approved");
    // R3: used once, even inside its lifetime.
    let v = verify_second(&srv, PAN, &password, "T2").await;
    assert_verdict(&v, "55", "replayed");
}

#[tokio::test]
async fn r21_a_new_request_kills_the_previous_variable_part() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let fixed = fixed_part(&srv, PAN).await;
    let old = request_variable(&srv, "7898").await;
    srv.advance(REQUEST_INTERVAL_MS).await;
    let mut new = request_variable(&srv, "7898").await;
    while new == old {
        srv.advance(REQUEST_INTERVAL_MS).await;
        new = request_variable(&srv, "7898").await;
    }
    let v = verify_second(&srv, PAN, &format!("{fixed}{old}"), "T1").await;
    assert!(!v.approved, "{v:?}");
    assert_eq!(v.response_code, "55", "{v:?}");
    let v = verify_second(&srv, PAN, &format!("{fixed}{new}"), "T2").await;
    assert_verdict(&v, "00", "approved");
}

#[tokio::test]
async fn r21_variable_part_lives_60_seconds_plus_tolerance() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let fixed = fixed_part(&srv, PAN).await;

    // 59 s later: alive.
    let var = request_variable(&srv, "7898").await;
    srv.advance(59_000).await;
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");

    // 60 s + 10 s tolerance later: expired.
    let var = request_variable(&srv, "7898").await;
    srv.advance(70_000).await;
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T2").await;
    assert_verdict(&v, "55", "expired_password");

    // Much later: still expired, never approved.
    let var = request_variable(&srv, "7898").await;
    srv.advance(3_600_000).await;
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T3").await;
    assert_verdict(&v, "55", "expired_password");
}

#[tokio::test]
async fn r21_a_repeated_request_within_the_interval_sends_nothing_new() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    let fixed = fixed_part(&srv, PAN).await;
    let var = request_variable(&srv, "7898").await;
    srv.advance(10_000).await;
    let (s, v) = inbound(&srv, MOBILE, SHORT_NUMBER, "7898").await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(settle(&srv, &barrier).await.len(), 1, "nothing new sent");
    // The variable part already sent stands.
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");
    // Once it is used, a new request is answered at once.
    let var = request_variable(&srv, "7898").await;
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T2").await;
    assert_verdict(&v, "00", "approved");
}

#[tokio::test]
async fn r21_wrong_fixed_part_is_a_wrong_password() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let fixed = fixed_part(&srv, PAN).await;
    let var = request_variable(&srv, "7898").await;
    let first = fixed.as_bytes()[0] - b'0';
    let wrong = format!("{}{}", (first + 1) % 10, &fixed[1..]);
    let v = verify_second(&srv, PAN, &format!("{wrong}{var}"), "T1").await;
    assert_verdict(&v, "55", "wrong_password");
    // The variable part alone, or reversed order, is no password either (unless the two parts
    // are equal, 1 in 10^4: then the reversed order is the password).
    let reversed = if var == fixed {
        format!("{wrong}{var}")
    } else {
        format!("{var}{fixed}")
    };
    let v = verify_second(&srv, PAN, &reversed, "T2").await;
    assert!(!v.approved, "{v:?}");
    let v = verify_second(&srv, PAN, &var, "T3").await;
    assert!(!v.approved, "{v:?}");
    assert_eq!(srv.card_info(PAN).await.recent_failures, 3);
}

#[tokio::test]
async fn r21_persian_and_arabic_digits_and_spaces_in_the_request() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let fixed = fixed_part(&srv, PAN).await;
    let mut var = String::new();
    for (i, text) in ["۷۸۹۸", "٧٨٩٨", " 78 98 ", "۷۸ ۹۸\n", "7898"]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            srv.advance(REQUEST_INTERVAL_MS).await;
        }
        let reply = request_reply(&srv, MOBILE, text).await;
        assert!(!has_non_ascii_digit_run(&reply, 2), "{reply}");
        var = srv.variable_part(&reply, "7898");
        assert!(ascii_digits(&var, 4), "request {i} {text:?}: {reply}");
    }
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");
}

#[tokio::test]
async fn r21_request_from_another_form_of_the_registered_mobile() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let fixed = fixed_part(&srv, PAN).await;
    let before = srv.outbox().len();
    let (s, v) = inbound(&srv, "+989121234567", SHORT_NUMBER, "7898").await;
    assert_eq!(s, 202, "{v}");
    let msgs = srv.outbox_wait(before + 1).await;
    assert_eq!(msgs[before]["to"], MOBILE, "answered in the 09 form");
    let var = srv.variable_part(msgs[before]["text"].as_str().unwrap(), "7898");
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");
}

#[tokio::test]
async fn r9_static_second_password_is_disabled_by_sms_activation() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let v = verify_second(&srv, PAN, STATIC_SECOND, "T0").await;
    assert_verdict(&v, "00", "approved");
    fixed_part(&srv, PAN).await;
    let v = verify_second(&srv, PAN, STATIC_SECOND, "T1").await;
    assert_verdict(&v, "55", "static_password_disabled");
    // Also after a variable part was asked for.
    request_variable(&srv, "7898").await;
    let v = verify_second(&srv, PAN, STATIC_SECOND, "T2").await;
    assert_verdict(&v, "55", "static_password_disabled");
}

#[tokio::test]
async fn r4_sms_password_of_one_card_is_not_valid_for_another() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    let fixed = fixed_part(&srv, PAN).await;
    fixed_part(&srv, PAN2).await;
    let var = request_variable(&srv, "7898").await;
    let v = verify_second(&srv, PAN2, &format!("{fixed}{var}"), "T1").await;
    assert!(!v.approved, "{v:?}");
    assert_eq!(v.response_code, "55", "{v:?}");
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T2").await;
    assert_verdict(&v, "00", "approved");
}

#[tokio::test]
async fn switching_channels_kills_the_old_credentials() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    // App → SMS: the app's codes die.
    let fixed = fixed_part(&srv, PAN).await;
    let now = srv.now_ms().await;
    let v = verify_second(&srv, PAN, &token.code("second", now), "T1").await;
    assert!(!v.approved, "app token dead after SMS activation: {v:?}");
    assert_eq!(v.response_code, "55", "{v:?}");
    // SMS → app: the fixed part and the variable part die.
    let var = request_variable(&srv, "7898").await;
    srv.activate_app(PAN, MOBILE).await;
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T2").await;
    assert!(!v.approved, "SMS password dead after app activation: {v:?}");
    assert_eq!(v.response_code, "55", "{v:?}");
}

// ------------------------------------------------------------------ R22

#[tokio::test]
async fn r22_request_from_another_mobile_sends_nothing() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    fixed_part(&srv, PAN).await;
    // An unregistered number, and the registered number of another customer.
    srv.customer("C2", MOBILE2).await;
    for from in ["09350000000", MOBILE2] {
        let (s, v) = inbound(&srv, from, SHORT_NUMBER, "7898").await;
        assert_eq!(s, 202, "{from}: {v}");
    }
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn r22_wrong_short_number_is_refused() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    fixed_part(&srv, PAN).await;
    for to in ["10002517", "1000251", "100025160", "3000"] {
        let (s, v) = inbound(&srv, MOBILE, to, "7898").await;
        assert_eq!(s, 422, "{to}: {v}");
        assert_eq!(v["error"]["code"], "unknown_short_number", "{to}: {v}");
    }
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn r22_text_that_is_not_four_digits_sends_nothing() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    fixed_part(&srv, PAN).await;
    for text in [
        "",
        "789",
        "78989",
        "abcd",
        "code 7898",
        "7898?",
        "۷۸۹",
        "7x98",
        "0000",
    ] {
        let (s, v) = inbound(&srv, MOBILE, SHORT_NUMBER, text).await;
        assert_eq!(s, 202, "{text:?}: {v}");
    }
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn r22_card_without_sms_service_gets_nothing() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    // PAN: app-activated and enrolled; PAN2: app activation pending; PAN3: no service.
    srv.enrolled_card().await;
    srv.card(PAN2, "C1").await;
    srv.card(PAN3, "C1").await;
    srv.activate_app(PAN2, MOBILE).await;
    let before = settle(&srv, &barrier).await.len();
    for last4 in ["7898", "7880", "7872"] {
        let (s, v) = inbound(&srv, MOBILE, SHORT_NUMBER, last4).await;
        assert_eq!(s, 202, "{v}");
    }
    assert_eq!(settle(&srv, &barrier).await.len(), before, "nothing sent");
}

#[tokio::test]
async fn r22_deactivated_or_locked_sms_card_gets_nothing() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    // PAN: SMS service deactivated at the ATM (R10).
    fixed_part(&srv, PAN).await;
    let (s, v) = srv
        .post("/v1/atm/deactivate", "atm", json!({"pan": PAN, "pin": PIN}))
        .await;
    assert_eq!(s, 200, "{v}");
    // PAN2: SMS service locked by 5 wrong passwords (R5).
    fixed_part(&srv, PAN2).await;
    for i in 0..5 {
        let v = verify_second(&srv, PAN2, "00000000", &format!("W{i}")).await;
        assert!(!v.approved, "{v:?}");
    }
    assert_eq!(
        srv.card_info(PAN2).await.dynamic.state,
        DynamicState::Locked
    );
    for last4 in ["7898", "7880"] {
        let (s, v) = inbound(&srv, MOBILE, SHORT_NUMBER, last4).await;
        assert_eq!(s, 202, "{v}");
    }
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn r12_after_a_mobile_change_neither_number_gets_a_variable_part() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    srv.with_card().await;
    fixed_part(&srv, PAN).await;
    let (s, v) = srv
        .call(
            "PUT",
            "/v1/customers/C1/mobile",
            Some("branch"),
            Some(json!({"mobile": MOBILE2})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["revoked_tokens"], 1, "{v}");
    for from in [MOBILE, MOBILE2] {
        let (s, v) = inbound(&srv, from, SHORT_NUMBER, "7898").await;
        assert_eq!(s, 202, "{v}");
    }
    assert!(settle(&srv, &barrier).await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn r22_two_sms_cards_ending_alike_get_one_reply_without_a_code() {
    let srv = TestServer::start().await;
    let barrier = barrier_setup(&srv).await;
    let a = pan_with("62802311111", "4321");
    let b = pan_with("62802322222", "4321");
    assert_ne!(a, b);
    srv.customer("C1", MOBILE).await;
    srv.card(&a, "C1").await;
    srv.card(&b, "C1").await;
    let fixed_a = fixed_part(&srv, &a).await;
    let fixed_b = fixed_part(&srv, &b).await;
    let text = request_reply(&srv, MOBILE, "4321").await;
    assert!(text.contains("4321"), "{text}");
    assert!(
        text.contains("رمزی صادر نشد"),
        "says no password was issued: {text}"
    );
    assert!(
        digit_runs(&text, 4).iter().all(|r| r == "4321"),
        "no code in the reply: {text}"
    );
    assert!(!text.contains(&a) && !text.contains(&b), "{text}");
    // Exactly one reply, and no variable part was issued for either card.
    let msgs = settle(&srv, &barrier).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    for (pan, fixed) in [(&a, &fixed_a), (&b, &fixed_b)] {
        let v = verify_second(&srv, pan, &format!("{fixed}4321"), "T1").await;
        assert!(!v.approved, "{v:?}");
    }
}

#[tokio::test]
async fn r22_same_last_digits_but_only_one_sms_card_gets_the_code() {
    let srv = TestServer::start().await;
    let a = pan_with("62802311111", "4321");
    let b = pan_with("62802322222", "4321");
    srv.customer("C1", MOBILE).await;
    srv.card(&a, "C1").await;
    srv.card(&b, "C1").await;
    // a: app activation (pending); b: SMS.
    srv.activate_app(&a, MOBILE).await;
    let fixed = fixed_part(&srv, &b).await;
    let var = request_variable(&srv, "4321").await;
    let v = verify_second(&srv, &b, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");
}

#[tokio::test]
async fn r22_same_last_digits_on_cards_of_different_customers() {
    let srv = TestServer::start().await;
    let a = pan_with("62802311111", "4321");
    let b = pan_with("62802322222", "4321");
    srv.customer("C1", MOBILE).await;
    srv.customer("C2", MOBILE2).await;
    srv.card(&a, "C1").await;
    srv.card(&b, "C2").await;
    let fixed = fixed_part(&srv, &a).await;
    let (s, v) = activate_sms(&srv, &b, MOBILE2).await;
    assert_eq!(s, 200, "{v}");
    // Each holder gets the variable part of their own card only.
    let var = request_variable(&srv, "4321").await;
    let v = verify_second(&srv, &a, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");
}

// ------------------------------------------------------------------ R8 and languages

#[tokio::test]
async fn r8_activation_sms_holds_the_code_in_ascii_digits() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let receipt = v["receipt_code"].as_str().unwrap().to_owned();
    assert!(receipt.bytes().all(|b| b.is_ascii_digit()), "{v}");
    let msgs = srv.outbox_wait(1).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["to"], MOBILE);
    let text = msgs[0]["text"].as_str().unwrap();
    assert!(!has_non_ascii_digit_run(text, 2), "{text}");
    assert!(!text.contains(PAN), "{text}");
    assert!(
        !text.contains(&receipt),
        "the receipt code is not in the SMS"
    );
    let code = first_digit_run(text, 6).expect("a 6-digit ASCII code");
    // It is the code: with the receipt code it enrolls the app.
    srv.enroll(PAN, &receipt, &code)
        .await
        .expect("enrollment with the SMS code");
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Active);
}

#[tokio::test]
async fn texts_in_english_when_configured() {
    let cfg = format!("{TEST_CONFIG}\n[policy.sms]\nlanguage = \"en\"\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    // App activation SMS.
    let (receipt, code) = srv.activate_app(PAN, MOBILE).await;
    let msgs = srv.outbox();
    let text = msgs[0]["text"].as_str().unwrap();
    assert!(text.is_ascii(), "English text: {text}");
    assert!(text.contains(&code), "{text}");
    assert!(text.to_lowercase().contains("activation code"), "{text}");
    srv.enroll(PAN, &receipt, &code).await.expect("enrollment");
    // SMS activation receipt.
    let (s, v) = activate_sms(&srv, PAN2, MOBILE).await;
    assert_eq!(s, 200, "{v}");
    let fixed = v["fixed_part"].as_str().unwrap().to_owned();
    let receipt_text = v["receipt_text"].as_str().unwrap();
    assert!(receipt_text.is_ascii(), "{receipt_text}");
    assert!(receipt_text.contains(&fixed) && receipt_text.contains(SHORT_NUMBER));
    assert!(
        receipt_text.to_lowercase().contains("fixed part"),
        "{receipt_text}"
    );
    // Variable part.
    let reply = request_reply(&srv, MOBILE, "7880").await;
    assert!(reply.is_ascii(), "{reply}");
    assert!(reply.to_lowercase().contains("variable part"), "{reply}");
    let var = srv.variable_part(&reply, "7880");
    let v = verify_second(&srv, PAN2, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");
    // Ambiguous request.
    let a = pan_with("62802311111", "4321");
    let b = pan_with("62802322222", "4321");
    srv.card(&a, "C1").await;
    srv.card(&b, "C1").await;
    fixed_part(&srv, &a).await;
    fixed_part(&srv, &b).await;
    let reply = request_reply(&srv, MOBILE, "4321").await;
    assert!(reply.is_ascii(), "{reply}");
    assert!(reply.contains("no password was issued"), "{reply}");
}

// ------------------------------------------------------------------ R2, R26: numbers are settings

#[tokio::test]
async fn r2_maskan_profile_variable_part_lives_120_seconds() {
    let cfg = format!("profile = \"maskan\"\n{TEST_CONFIG}");
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    let fixed = fixed_part(&srv, PAN).await;
    let var = request_variable(&srv, "7898").await;
    srv.advance(119_000).await;
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");
    let var = request_variable(&srv, "7898").await;
    srv.advance(130_000).await;
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T2").await;
    assert_verdict(&v, "55", "expired_password");
}

#[tokio::test]
async fn r26_short_number_is_a_setting() {
    let cfg = format!("{TEST_CONFIG}\n[policy.sms]\nshort_number = \"3000\"\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    let (s, v) = activate_sms(&srv, PAN, MOBILE).await;
    assert_eq!(s, 200, "{v}");
    let fixed = v["fixed_part"].as_str().unwrap().to_owned();
    assert!(v["receipt_text"].as_str().unwrap().contains("3000"), "{v}");
    let (s, v) = inbound(&srv, MOBILE, SHORT_NUMBER, "7898").await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "unknown_short_number", "{v}");
    let before = srv.outbox().len();
    let (s, v) = inbound(&srv, MOBILE, "3000", "7898").await;
    assert_eq!(s, 202, "{v}");
    let msgs = srv.outbox_wait(before + 1).await;
    let var = srv.variable_part(msgs[before]["text"].as_str().unwrap(), "7898");
    let v = verify_second(&srv, PAN, &format!("{fixed}{var}"), "T1").await;
    assert_verdict(&v, "00", "approved");
}
