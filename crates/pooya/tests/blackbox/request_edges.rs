//! Issue 13, point 5: small edges of requests. A lower-case `bearer` scheme is accepted, a past
//! expiry and a control character in a merchant name are refused with messages that say so, an
//! activation whose tries are used up is shown dead at once, and the fake clock refuses to
//! overflow.

use pooya_enroll::{b64_encode, ClientEnrollment};
use serde_json::{json, Value};

use crate::common::*;

fn assert_error(got: &(u16, Value), status: u16, code: &str) -> String {
    let (s, v) = got;
    assert_eq!(
        (*s, v["error"]["code"].as_str()),
        (status, Some(code)),
        "{v}"
    );
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let key = srv.key("branch");
    let status = |scheme: &str| {
        let req = srv
            .http
            .get(format!("{}/v1/cards/{PAN}", srv.url))
            .header("Authorization", format!("{scheme} {key}"));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        assert_eq!(status(scheme).await, 200, "{scheme}");
    }
    // Another scheme is no key at all.
    assert_eq!(status("Basic").await, 401);
}

#[tokio::test]
async fn a_past_expiry_is_refused_as_past_not_as_a_bad_month() {
    let srv = TestServer::start().await;
    srv.customer("C1", MOBILE).await;
    let card = |expiry: &str| {
        json!({"pan": PAN, "customer_id": "C1", "expiry": expiry, "pin": PIN,
               "second_password": STATIC_SECOND})
    };
    let past = srv.post("/v1/cards", "branch", card("2001")).await;
    let m = assert_error(&past, 422, "invalid_expiry");
    assert!(m.contains("passed"), "{m}");
    assert!(!m.contains("month"), "{m}");
    let bad = srv.post("/v1/cards", "branch", card("2613")).await;
    let m = assert_error(&bad, 422, "invalid_expiry");
    assert!(m.contains("month"), "{m}");
    // Nothing was made.
    let (s, _) = srv.get(&format!("/v1/cards/{PAN}"), "branch").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_control_character_in_a_merchant_name_is_named() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    for (path, merchant) in [
        ("/v1/verify", "Shop\nBank"),
        ("/v1/verify", "Shop\u{7}"),
        ("/v1/otp-requests", "Shop\tBank"),
    ] {
        let got = srv
            .post(
                path,
                "switch",
                json!({"pan": PAN, "kind": "second", "password": STATIC_SECOND,
                       "txn": {"id": "T1", "amount": 1000, "merchant": merchant}}),
            )
            .await;
        let m = assert_error(&got, 422, "invalid_merchant");
        assert!(m.contains("control character"), "{path} {merchant:?}: {m}");
    }
    assert_eq!(srv.card_info(PAN).await.recent_failures, 0);
}

/// The app sees wrong codes itself (the server's confirmation does not match) and never sends its
/// own: with `max_tries_total = 3` the third such run uses the activation up (all addresses
/// together), and the branch sees that at once.
#[tokio::test]
async fn a_used_up_activation_is_shown_dead_at_once() {
    let cfg = format!("{TEST_CONFIG}[policy.activation]\nmax_tries_total = 3\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let wrong = if sms == "000000" { "111111" } else { "000000" };
    for left in [2, 1, 0] {
        let (_, msg) = ClientEnrollment::start(PAN, &receipt, wrong);
        let (s, v) = srv
            .call(
                "POST",
                "/v1/app/enrollments",
                None,
                Some(json!({"pan": PAN, "spake_msg": b64_encode(&msg)})),
            )
            .await;
        assert_eq!((s, &v["tries_left"]), (201, &json!(left)), "{v}");
        let want = if left > 0 {
            DynamicState::Pending
        } else {
            DynamicState::Inactive
        };
        let card = srv.card_info(PAN).await;
        assert_eq!(card.dynamic.state, want, "{card:?}");
    }
    let card = srv.card_info(PAN).await;
    assert_eq!(card.dynamic, Dynamic::NONE, "{card:?}");
}

#[tokio::test]
async fn the_fake_clock_refuses_to_overflow() {
    let srv = TestServer::start().await;
    let before = srv.now_ms().await;
    for body in [
        json!({"advance_ms": i64::MAX}),
        json!({"advance_ms": i64::MIN}),
        json!({"set_unix_ms": i64::MAX}),
        json!({"set_unix_ms": -1}),
        json!({"set_unix_ms": 1_800_000_000_000i64, "advance_ms": i64::MAX}),
    ] {
        let got = srv.post("/v1/test/clock", "admin", body.clone()).await;
        assert_error(&got, 422, "invalid_clock");
        assert_eq!(srv.now_ms().await, before, "{body}: the clock did not move");
    }
    let (s, v) = srv
        .post("/v1/test/clock", "admin", json!({"advance_ms": 1000}))
        .await;
    assert_eq!((s, v["unix_ms"].as_i64()), (200, Some(before + 1000)));
}
