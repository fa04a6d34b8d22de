//! Whether an app token is still in force (`POST /v1/app/token-status`): only the seed's holder
//! learns it, and `pooya app sync` marks a card whose token the bank replaced; `code` and `list`
//! warn of it; `add` of a card already in the vault replaces the old entry.

use crate::app_support::*;
use crate::common::*;

use pooya_enroll::{b64_encode, status_proof};
use serde_json::{json, Value};

async fn status(srv: &TestServer, token_id: &str, at_ms: i64, proof: &[u8]) -> (u16, Value) {
    srv.call(
        "POST",
        "/v1/app/token-status",
        None,
        Some(json!({"token_id": token_id, "at_ms": at_ms, "proof": b64_encode(proof)})),
    )
    .await
}

#[tokio::test]
async fn only_the_seed_tells_whether_a_token_is_in_force() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    let proof = status_proof(&token.seed, &token.token_id, now);

    let (s, v) = status(&srv, &token.token_id, now, &proof).await;
    assert_eq!((s, v.clone()), (200, json!({"in_force": true})), "{v}");
    // A stranger: a wrong proof, another time, a token id never issued, one that is no id.
    let (_, v) = status(&srv, &token.token_id, now, &[0u8; 32]).await;
    assert_eq!(v, json!({"in_force": false}));
    let (_, v) = status(&srv, &token.token_id, now + 1, &proof).await;
    assert_eq!(v, json!({"in_force": false}));
    let (_, v) = status(&srv, "NOSUCHTOKEN", now, &proof).await;
    assert_eq!(v, json!({"in_force": false}));
    let (_, v) = status(&srv, "not/an id", now, &proof).await;
    assert_eq!(v, json!({"in_force": false}));
    // Far from the server's clock: refused whatever the token (a replay of an old query).
    let old = now - 301_000;
    let (s, v) = status(
        &srv,
        &token.token_id,
        old,
        &status_proof(&token.seed, &token.token_id, old),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "stale_status_query", "{v}");
    let (s, _) = status(&srv, "NOSUCHTOKEN", old, &proof).await;
    assert_eq!(s, 422);
    // A query changes nothing: the token still works.
    let code = token.code("second", now);
    assert!(srv.verify(PAN, "second", &code, "T1").await.approved);

    // An SMS activation replaces the app token: the seed's holder is told, in the same words as
    // a stranger.
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let now = srv.now_ms().await;
    let proof = status_proof(&token.seed, &token.token_id, now);
    let (s, v) = status(&srv, &token.token_id, now, &proof).await;
    assert_eq!((s, v), (200, json!({"in_force": false})));
}

#[tokio::test]
async fn sync_marks_a_replaced_card_code_warns_and_add_replaces_the_entry() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let vault = fresh_vault();
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &add_args(&srv.url, PAN, &receipt, &sms, "salary"),
    ));
    let o = succeeds(app_env(&vault.path, APP_PASSWORD, &[], &["sync"]));
    assert!(!err(&o).contains("no longer takes"), "{}", err(&o));
    let o = succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &["code", "salary", "--plain"],
    ));
    assert!(err(&o).is_empty(), "{}", err(&o));

    // The card is activated for SMS: the app's token is dead, and sync says so.
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let o = succeeds(app_env(&vault.path, APP_PASSWORD, &[], &["sync"]));
    let e = err(&o);
    assert!(
        e.contains("no longer takes the codes of salary (628023******7898)"),
        "{e}"
    );
    assert!(e.contains("Activate again at an ATM"), "{e}");
    assert!(e.contains("remove salary --local-only"), "{e}");
    assert!(!e.contains(PAN), "{e}");
    // Offline, `code` and `list` remember it.
    let o = succeeds(app_env(
        &vault.path,
        APP_PASSWORD,
        &[],
        &["code", "salary", "--plain"],
    ));
    assert!(
        err(&o).contains("no longer takes the codes of salary"),
        "{}",
        err(&o)
    );
    assert_eq!(out(&o).trim().len(), 8, "the code is still shown");
    let o = succeeds(app_env(&vault.path, APP_PASSWORD, &[], &["list"]));
    assert!(
        err(&o).contains("no longer takes the codes of salary"),
        "{}",
        err(&o)
    );

    // Activated for the app again: adding the card under its label needs --replace (no terminal
    // to ask in), and nothing is spent before that is settled.
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let args = add_args(&srv.url, PAN, &receipt, &sms, "salary");
    let o = refused(app_env(&vault.path, APP_PASSWORD, &[], &args));
    assert!(err(&o).contains("--replace"), "{}", err(&o));
    let mut with_replace = args.clone();
    with_replace.push("--replace");
    let o = succeeds(app_env(&vault.path, APP_PASSWORD, &[], &with_replace));
    assert!(
        err(&o).contains("replaced the older entry of this card (salary)"),
        "{}",
        err(&o)
    );
    let o = succeeds(app_env(&vault.path, APP_PASSWORD, &[], &["list"]));
    assert_eq!(out(&o).lines().count(), 1, "{}", out(&o));
    assert!(err(&o).is_empty(), "{}", err(&o));
    let o = succeeds(app_env(&vault.path, APP_PASSWORD, &[], &["sync"]));
    assert!(!err(&o).contains("no longer takes"), "{}", err(&o));
    let code = the_code(
        app_env(
            &vault.path,
            APP_PASSWORD,
            &[],
            &["code", "salary", "--plain"],
        ),
        8,
    );
    assert!(srv.verify(PAN, "second", &code, "T-new").await.approved);
}
