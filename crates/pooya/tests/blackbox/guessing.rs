//! Guessing a card's secrets through the channels: a resent transaction tells nothing about the
//! password it carries (issue 13, point 1), and slow guessing of the 4-digit first password over
//! days and weeks ends in a PIN lock that only a branch lifts (issue 20, point 3).

use serde_json::{json, Value};

use crate::common::*;

fn body(kind: &str, password: &str, id: &str) -> Value {
    json!({"pan": PAN, "kind": kind, "password": password,
           "txn": {"id": id, "amount": 1000, "merchant": "Shop"}})
}

async fn send(srv: &TestServer, kind: &str, password: &str, id: &str) -> (u16, Value) {
    srv.post("/v1/verify", "switch", body(kind, password, id))
        .await
}

fn verdict(code: &str, reason: &str) -> (u16, Value) {
    (
        200,
        json!({"approved": code == "00", "response_code": code, "reason": reason}),
    )
}

/// The card's R5 failures in the window, as the branch sees them.
async fn failures(srv: &TestServer) -> u64 {
    srv.card_info(PAN).await.recent_failures
}

/// Issue 13, point 1, its reproduction: after an approved transaction, resending it with guessed
/// passwords 1150…1299 answered 409 for each wrong guess and the stored `00` for the right one.
#[tokio::test]
async fn a_resent_transaction_answers_the_same_whatever_password_it_carries() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let approved = verdict("00", "approved");
    assert_eq!(send(&srv, "first", PIN, "PIN2").await, approved);
    // Every guess, the right one among them, gets the stored answer; none counts, none changes
    // anything.
    for g in 1150..1300 {
        let got = send(&srv, "first", &format!("{g:04}"), "PIN2").await;
        assert_eq!(got, approved, "guess {g:04}");
    }
    assert_eq!(failures(&srv).await, 0);
    // The same for the static second password.
    assert_eq!(send(&srv, "second", STATIC_SECOND, "SEC2").await, approved);
    for g in ["55554", "55556", STATIC_SECOND, "123456789012"] {
        assert_eq!(send(&srv, "second", g, "SEC2").await, approved, "{g}");
    }
    // A declined transaction resent with the right password stays declined.
    let wrong = verdict("55", "wrong_password");
    assert_eq!(send(&srv, "first", "9999", "PIN3").await, wrong);
    assert_eq!(send(&srv, "first", PIN, "PIN3").await, wrong);
    assert_eq!(failures(&srv).await, 1);
    // On a locked card (R5) too.
    for i in 0..4 {
        send(&srv, "second", "99999", &format!("W{i}")).await;
    }
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Locked);
    for g in ["1233", PIN, "1235"] {
        assert_eq!(send(&srv, "first", g, "PIN2").await, approved, "{g}");
        assert_eq!(send(&srv, "first", g, "PIN3").await, wrong, "{g}");
    }
    assert_eq!(failures(&srv).await, 5);
    // Another kind, amount or merchant under the same id is still a conflict.
    for (what, b) in [
        ("kind", body("second", PIN, "PIN2")),
        (
            "amount",
            json!({"pan": PAN, "kind": "first", "password": PIN,
                   "txn": {"id": "PIN2", "amount": 1001, "merchant": "Shop"}}),
        ),
        (
            "merchant",
            json!({"pan": PAN, "kind": "first", "password": PIN,
                   "txn": {"id": "PIN2", "amount": 1000, "merchant": "Shop2"}}),
        ),
    ] {
        let (s, v) = srv.post("/v1/verify", "switch", b).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("txn_conflict")),
            "{what}: {v}"
        );
    }
}

/// A transaction answered by a server before this change left a fingerprint with the password
/// inside (32 bytes, no format byte): a resend of it is 409 whatever password it carries, the
/// request first sent included, so no answer about it depends on the password.
#[tokio::test]
async fn a_transaction_answered_before_the_change_conflicts_whatever_the_password() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    assert_eq!(
        send(&srv, "first", PIN, "OLD").await,
        verdict("00", "approved")
    );
    // The row as the older server wrote it: a bare 32-byte MAC.
    let strip = if srv.db.is_some() {
        "UPDATE verifications SET fingerprint = substring(fingerprint from 2)"
    } else {
        "UPDATE verifications SET fingerprint = substr(fingerprint, 2)"
    };
    crate::common::sql(&srv, strip).await;
    for g in [PIN, "1233", "0000"] {
        let (s, v) = send(&srv, "first", g, "OLD").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("txn_conflict")),
            "{g}: {v}"
        );
    }
    assert_eq!(failures(&srv).await, 0);
}

/// A PIN at the ATM: the answer's status and error code (200: the operation went through).
async fn atm_pin(srv: &TestServer, pin: &str) -> (u16, String) {
    let (s, v) = srv
        .post(
            "/v1/atm/block-second-password",
            "atm",
            json!({"pan": PAN, "pin": pin}),
        )
        .await;
    (s, v["error"]["code"].as_str().unwrap_or("").to_owned())
}

/// Issue 20, point 3: a thief with the card tries, each day, as many 4-digit guesses as lock
/// nothing else (2 at the ATM, 2 at a terminal); over days on the fake clock that ends in a PIN
/// lock, after which the right PIN is refused everywhere until a branch unlocks it.
#[tokio::test]
async fn a_thiefs_slow_guessing_over_days_ends_in_a_pin_lock() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let day = 24 * 3600 * 1000;
    let mut n = 0;
    let mut locked_after = None;
    'days: for d in 0..60 {
        for _ in 0..2 {
            n += 1;
            assert_eq!(
                atm_pin(&srv, &format!("{:04}", 5000 + n)).await,
                (403, "wrong_pin".into())
            );
            n += 1;
            let v = srv
                .verify(PAN, "first", &format!("{:04}", 5000 + n), &format!("G{n}"))
                .await;
            assert_eq!(v.reason, "wrong_password", "{v:?}");
            if srv.card_info(PAN).await.pin_locked {
                locked_after = Some((d, n));
                break 'days;
            }
        }
        assert_eq!(
            srv.card_info(PAN).await.dynamic.state,
            DynamicState::Inactive
        );
        srv.advance(day).await;
    }
    // The tenth wrong entry within 90 days, on the third day.
    assert_eq!(locked_after, Some((2, 10)));
    // The right PIN: refused at the ATM and at the terminal, counting nothing.
    assert_eq!(atm_pin(&srv, PIN).await, (403, "pin_locked".into()));
    let v = srv.verify(PAN, "first", PIN, "RIGHT").await;
    assert_eq!(
        (v.response_code.as_str(), v.reason.as_str()),
        ("75", "locked")
    );
    assert_eq!(srv.card_info(PAN).await.recent_failures, 1);
    // The second password is not the PIN: it still works.
    let v = srv.verify(PAN, "second", STATIC_SECOND, "CNP").await;
    assert!(v.approved, "{v:?}");
    // Time does not lift it ...
    srv.advance(365 * day).await;
    assert_eq!(atm_pin(&srv, PIN).await, (403, "pin_locked".into()));
    // ... a branch does.
    let (s, v) = srv
        .post(&format!("/v1/cards/{PAN}/pin/unlock"), "branch", json!({}))
        .await;
    assert_eq!((s, v), (200, json!({"pin_locked": false})));
    assert!(!srv.card_info(PAN).await.pin_locked);
    assert_eq!(atm_pin(&srv, PIN).await, (200, String::new()));
    let v = srv.verify(PAN, "first", PIN, "AFTER").await;
    assert!(v.approved, "{v:?}");
}

/// The PIN lock's settings: a bank may lock after fewer failures in a shorter window; failures
/// that left the window do not count.
#[tokio::test]
async fn the_pin_lock_follows_its_settings() {
    let cfg = format!("{TEST_CONFIG}[policy.pin_lock]\nmax_failures = 3\nwindow_secs = 86400\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    for pin in ["5001", "5002"] {
        assert_eq!(atm_pin(&srv, pin).await, (403, "wrong_pin".into()));
    }
    srv.advance(24 * 3600 * 1000).await;
    // The first two left the 24 h window: two more do not lock, a third does.
    for pin in ["5003", "5004"] {
        assert_eq!(atm_pin(&srv, pin).await, (403, "wrong_pin".into()));
    }
    assert!(!srv.card_info(PAN).await.pin_locked);
    let v = srv.verify(PAN, "first", "5005", "T1").await;
    assert_eq!(v.reason, "wrong_password");
    assert!(srv.card_info(PAN).await.pin_locked);
    assert_eq!(atm_pin(&srv, PIN).await, (403, "pin_locked".into()));
}
