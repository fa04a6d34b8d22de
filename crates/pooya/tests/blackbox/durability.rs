//! What must hold however the server is driven or stopped: one right code approved exactly once
//! under concurrent requests (R3), decisions and failure counts that survive `kill -9` (R3, R5),
//! bootstrap keys that are written once and kept, a clean exit on SIGTERM, keys made with
//! `pooya keys create`, and no secret in the server's log.

use crate::common::*;

use std::process::Command;

use serde_json::{json, Value};

/// Codes that live 5 minutes, so that a code's step is still current after a restart (the fake
/// clock restarts at the real time).
fn long_lifetime_config() -> String {
    format!("{TEST_CONFIG}\n[policy.otp]\nlifetime_secs = 300\nmax_lifetime_secs = 300\n")
}

/// Enough allowed failures that the 15 losers of a race never lock the card.
fn no_lockout_config() -> String {
    format!(
        "{TEST_CONFIG}\n[policy.lockout]\nmax_failures = 100000\n[policy.pin_lock]\nmax_failures = 0\n"
    )
}

/// `n` verifications of the same password on one card, each with its own transaction id, all
/// sent at once. Returns the answers.
async fn race(
    srv: &TestServer,
    pan: &str,
    kind: &str,
    password: &str,
    txn_prefix: &str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Value>> {
    let mut handles = Vec::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    for i in 0..n {
        let http = srv.http.clone();
        let url = format!("{}/v1/verify", srv.url);
        let key = srv.key("switch");
        let body = json!({"pan": pan, "kind": kind, "password": password,
                          "txn": {"id": format!("{txn_prefix}-{i}"), "amount": 1000, "merchant": "Shop"}});
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("request");
            assert_eq!(res.status().as_u16(), 200);
            res.json::<Value>().await.expect("JSON")
        }));
    }
    handles
}

async fn collect(handles: Vec<tokio::task::JoinHandle<Value>>) -> Vec<Value> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

fn count(answers: &[Value], reason: &str) -> usize {
    answers.iter().filter(|v| v["reason"] == reason).count()
}

/// Customer C1 with cards `pans`, each activated and enrolled; their tokens.
async fn enrolled_cards(srv: &TestServer, pans: &[&str]) -> Vec<Token> {
    srv.customer("C1", MOBILE).await;
    let mut tokens = Vec::new();
    for pan in pans {
        srv.card(pan, "C1").await;
        let (r, s) = srv.activate_app(pan, MOBILE).await;
        tokens.push(srv.enroll(pan, &r, &s).await.expect("enrollment"));
    }
    tokens
}

// ------------------------------------------------------------------ concurrency (R3)

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_code_sixteen_concurrent_verifications_one_approval() {
    let srv = TestServer::start_with(&no_lockout_config(), &[]).await;
    let pans = [PAN, PAN2, PAN3];
    let tokens = enrolled_cards(&srv, &pans).await;
    for round in 0..4 {
        // A fresh step for every round: each card has one new, unused code.
        srv.align_to_step(i64::from(tokens[0].step_secs), 1_000)
            .await;
        let now = srv.now_ms().await;
        let kind = if round % 2 == 0 { "second" } else { "first" };
        let mut all = Vec::new();
        for (pan, token) in pans.iter().zip(&tokens) {
            let code = token.code(kind, now);
            if code == PIN {
                // The static PIN is also a right first password: not a race for one code.
                continue;
            }
            all.push((
                *pan,
                race(&srv, pan, kind, &code, &format!("R{round}{pan}"), 16).await,
            ));
        }
        for (pan, handles) in all {
            let answers = collect(handles).await;
            assert_eq!(answers.len(), 16);
            assert_eq!(
                count(&answers, "approved"),
                1,
                "round {round} {kind} card {pan}: {answers:?}"
            );
            assert_eq!(
                count(&answers, "replayed"),
                15,
                "round {round} {kind} card {pan}: {answers:?}"
            );
            for v in answers.iter().filter(|v| v["reason"] == "replayed") {
                assert_eq!(v["response_code"], "55");
                assert_eq!(v["approved"], false);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixteen_concurrent_sms_passwords_one_approval() {
    let srv = TestServer::start_with(&no_lockout_config(), &[]).await;
    srv.with_card().await;
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let fixed = v["fixed_part"].as_str().unwrap().to_owned();
    for round in 0..3 {
        let before = srv.outbox().len();
        let (s, _) = srv
            .post(
                "/v1/sms/inbound",
                "sms",
                json!({"from": MOBILE, "to": "10002516", "text": "7898"}),
            )
            .await;
        assert_eq!(s, 202);
        let msgs = srv.outbox_wait(before + 1).await;
        let text = msgs[before]["text"].as_str().unwrap();
        let var = srv.variable_part(text, "7898");
        let answers = collect(
            race(
                &srv,
                PAN,
                "second",
                &format!("{fixed}{var}"),
                &format!("S{round}"),
                16,
            )
            .await,
        )
        .await;
        assert_eq!(count(&answers, "approved"), 1, "{answers:?}");
        assert_eq!(count(&answers, "replayed"), 15, "{answers:?}");
    }
}

/// With the default lockout (5 failures), the race still approves once: the losers are replays
/// until the fifth failure locks the service, and locked after that (R3, R5).
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn race_with_default_lockout_approves_once_then_locks() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    let code = token.code("second", now);
    let answers = collect(race(&srv, PAN, "second", &code, "L", 16).await).await;
    assert_eq!(count(&answers, "approved"), 1, "{answers:?}");
    assert_eq!(count(&answers, "replayed"), 5, "{answers:?}");
    assert_eq!(count(&answers, "locked"), 10, "{answers:?}");
    let info = srv.card_info(PAN).await;
    assert_eq!(info.dynamic.state, DynamicState::Locked, "{info:?}");
}

/// Concurrent retries of one transaction: every answer is the same, the code is used once.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_retries_of_one_transaction_answer_alike() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;
    let code = token.code("second", now);
    let mut handles = Vec::new();
    for _ in 0..16 {
        let http = srv.http.clone();
        let url = format!("{}/v1/verify", srv.url);
        let key = srv.key("switch");
        let body = json!({"pan": PAN, "kind": "second", "password": code,
                          "txn": {"id": "SAME", "amount": 1000, "merchant": "Shop"}});
        handles.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }));
    }
    for h in handles {
        let (s, v) = h.await.unwrap();
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["reason"], "approved", "{v}");
    }
    assert_eq!(srv.card_info(PAN).await.recent_failures, 0);
    let v = srv.verify(PAN, "second", &code, "OTHER").await;
    assert_eq!(v.reason, "replayed", "{v:?}");
}

// ------------------------------------------------------------------ kill -9

#[tokio::test]
async fn an_approved_code_stays_used_after_kill_9() {
    let mut srv = TestServer::start_with(&long_lifetime_config(), &[]).await;
    let token = srv.enrolled_card().await;
    assert_eq!(token.step_secs, 300);
    // A step whose first password is not the static PIN, which the switch takes too.
    let mut now = srv.now_ms().await;
    while token.code("first", now) == PIN {
        srv.advance(300_000).await;
        now += 300_000;
    }
    let second = token.code("second", now);
    let first = token.code("first", now);
    let v = srv.verify(PAN, "second", &second, "T1").await;
    assert_eq!(v.reason, "approved", "{v:?}");
    let v = srv.verify(PAN, "first", &first, "T2").await;
    assert_eq!(v.reason, "approved", "{v:?}");
    srv.kill9();
    srv.restart();
    let v = srv.verify(PAN, "second", &second, "T3").await;
    assert_eq!(v.reason, "replayed", "{v:?}");
    let v = srv.verify(PAN, "first", &first, "T4").await;
    assert!(!v.approved, "{v:?}");
    // The retry of the approved transaction still answers approved, and nothing more is used.
    let v = srv.verify(PAN, "second", &second, "T1").await;
    assert_eq!(v.reason, "approved", "{v:?}");
    let info = srv.card_info(PAN).await;
    assert_eq!(info.dynamic.state, DynamicState::Active, "{info:?}");
    assert_eq!(info.recent_failures, 2, "{info:?}");
}

#[tokio::test]
async fn failure_counts_and_locks_survive_kill_9() {
    let mut srv = TestServer::start().await;
    srv.enrolled_card().await;
    srv.card(PAN2, "C1").await;
    let (r, s) = srv.activate_app(PAN2, MOBILE).await;
    srv.enroll(PAN2, &r, &s).await.expect("enrollment");
    for i in 0..3 {
        let v = srv
            .verify(PAN, "second", "00000000", &format!("W{i}"))
            .await;
        assert!(!v.approved, "{v:?}");
    }
    for i in 0..5 {
        let v = srv
            .verify(PAN2, "second", "00000000", &format!("W{i}"))
            .await;
        assert!(!v.approved, "{v:?}");
    }
    assert_eq!(srv.card_info(PAN).await.recent_failures, 3);
    assert_eq!(
        srv.card_info(PAN2).await.dynamic.state,
        DynamicState::Locked
    );
    srv.restart();
    let info = srv.card_info(PAN).await;
    assert_eq!(info.recent_failures, 3, "{info:?}");
    assert_eq!(info.dynamic.state, DynamicState::Active, "{info:?}");
    let info = srv.card_info(PAN2).await;
    assert_eq!(info.dynamic.state, DynamicState::Locked, "{info:?}");
    let v = srv.verify(PAN2, "second", "00000000", "W9").await;
    assert_eq!(v.response_code, "75", "{v:?}");
    // Two more failures lock PAN: the count went on from 3.
    for i in 3..5 {
        let v = srv
            .verify(PAN, "second", "00000000", &format!("W{i}"))
            .await;
        assert_eq!(v.response_code, "55", "{v:?}");
    }
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Locked);
}

#[tokio::test]
async fn activation_and_sms_service_survive_kill_9() {
    let mut srv = TestServer::start_with(&long_lifetime_config(), &[]).await;
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    // An app activation waiting for the app, and an SMS service with a variable part.
    let (receipt, sms_code) = srv.activate_app(PAN, MOBILE).await;
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN2, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let fixed = v["fixed_part"].as_str().unwrap().to_owned();
    let before = srv.outbox().len();
    let (s, _) = srv
        .post(
            "/v1/sms/inbound",
            "sms",
            json!({"from": MOBILE, "to": "10002516", "text": "7880"}),
        )
        .await;
    assert_eq!(s, 202);
    let msgs = srv.outbox_wait(before + 1).await;
    let var = srv.variable_part(msgs[before]["text"].as_str().unwrap(), "7880");
    srv.restart();
    assert_eq!(
        srv.card_info(PAN).await.dynamic.state,
        DynamicState::Pending
    );
    let token = srv
        .enroll(PAN, &receipt, &sms_code)
        .await
        .expect("enrollment");
    let now = srv.now_ms().await;
    let v = srv
        .verify(PAN, "second", &token.code("second", now), "T1")
        .await;
    assert_eq!(v.reason, "approved", "{v:?}");
    let v = srv
        .verify(PAN2, "second", &format!("{fixed}{var}"), "T2")
        .await;
    assert_eq!(v.reason, "approved", "{v:?}");
}

// ------------------------------------------------------------------ keys and shutdown

#[tokio::test]
async fn bootstrap_keys_are_private_written_once_and_kept() {
    use std::os::unix::fs::PermissionsExt;
    let mut srv = TestServer::start().await;
    let path = srv.data_dir().join("bootstrap-keys.json");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode 0600");
    let text = std::fs::read_to_string(&path).unwrap();
    let keys: Value = serde_json::from_str(&text).unwrap();
    let roles = ["admin", "branch", "atm", "sms", "switch"];
    assert_eq!(keys.as_object().unwrap().len(), 5, "{keys}");
    let mut seen = std::collections::HashSet::new();
    for r in roles {
        let k = keys[r].as_str().expect("a key per role");
        assert!(k.len() >= 32, "a long random key");
        assert!(seen.insert(k.to_owned()), "keys differ");
    }
    let mtime = meta.modified().unwrap();
    // The master key beside it is private too.
    let master = srv.data_dir().join("master.key");
    if master.exists() {
        let mode = std::fs::metadata(&master).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "master.key is private: {mode:o}");
    }
    srv.with_card().await;
    srv.restart();
    srv.restart();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "not rewritten"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The same keys work after the restarts, each for its own role.
    srv.card_info(PAN).await;
    let v = srv.verify(PAN, "second", STATIC_SECOND, "T1").await;
    assert!(v.approved, "{v:?}");
    let (s, v) = srv.get(&format!("/v1/cards/{PAN}"), "switch").await;
    assert_eq!(s, 403, "{v}");
    // The keys are written nowhere else in clear: not in the database, its journal, the outbox or
    // the log.
    let mut files = vec![srv.log_path()];
    for e in std::fs::read_dir(srv.data_dir()).unwrap() {
        let p = e.unwrap().path();
        if p != path && p.is_file() {
            files.push(p);
        }
    }
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        for r in roles {
            let k = keys[r].as_str().unwrap().as_bytes();
            assert!(
                !bytes.windows(k.len()).any(|w| w == k),
                "the {r} key is in {}",
                f.display()
            );
        }
    }
}

/// The keys file is made on the first start only: once the store holds keys, a lost file is not
/// made again (with new keys), and the keys in use keep working.
#[tokio::test]
async fn a_deleted_keys_file_is_not_made_again() {
    let mut srv = TestServer::start().await;
    srv.with_card().await;
    let path = srv.data_dir().join("bootstrap-keys.json");
    std::fs::remove_file(&path).unwrap();
    srv.restart();
    assert!(!path.exists(), "no new keys file on a store that has keys");
    srv.card_info(PAN).await;
    let v = srv.verify(PAN, "second", STATIC_SECOND, "T1").await;
    assert!(v.approved, "{v:?}");
}

/// R3 across channels: the dynamic first password typed at the ATM in place of the PIN and the
/// same code sent by the switch, all at once: exactly one of them is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_first_password_at_the_atm_and_the_switch_at_once() {
    let cfg = format!(
        "{}\n[policy.pin]\nmax_tries = 100000\n",
        no_lockout_config()
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    let token = srv.enrolled_card().await;
    for round in 0..3 {
        srv.align_to_step(i64::from(token.step_secs), 1_000).await;
        let code = token.code("first", srv.now_ms().await);
        if code == PIN {
            continue;
        }
        let verifies = race(&srv, PAN, "first", &code, &format!("A{round}"), 8).await;
        let mut atms = Vec::new();
        for _ in 0..8 {
            let http = srv.http.clone();
            let url = format!("{}/v1/atm/block-second-password", srv.url);
            let key = srv.key("atm");
            let body = json!({"pan": PAN, "pin": code});
            atms.push(tokio::spawn(async move {
                let res = http
                    .post(url)
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let s = res.status().as_u16();
                (s, res.json::<Value>().await.unwrap())
            }));
        }
        let answers = collect(verifies).await;
        let mut atm_ok = 0;
        for h in atms {
            let (s, v) = h.await.unwrap();
            if s == 200 {
                atm_ok += 1;
            } else {
                assert_eq!(v["error"]["code"], "wrong_pin", "{v}");
            }
        }
        let approved = count(&answers, "approved");
        assert_eq!(
            approved + atm_ok,
            1,
            "round {round}: {answers:?}, {atm_ok} ATM"
        );
        assert_eq!(count(&answers, "replayed"), 8 - approved, "{answers:?}");
    }
}

#[tokio::test]
async fn sigterm_exits_cleanly_and_keeps_the_data() {
    let mut srv = TestServer::start().await;
    srv.with_card().await;
    // An SMS queued just before the stop still leaves.
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let status = srv.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(status.code(), Some(0));
    assert_eq!(srv.outbox().len(), 1, "the queued SMS was delivered");
    srv.restart();
    let info = srv.card_info(PAN).await;
    assert_eq!(info.dynamic.state, DynamicState::Pending, "{info:?}");
    let status = srv.terminate();
    assert_eq!(status.code(), Some(0));
}

/// `pooya keys create` on the server's data directory (and its database, on PostgreSQL).
fn keys_create(srv: &TestServer, role: &str) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pooya"));
    cmd.args(["keys", "create", "--role", role, "--data-dir"])
        .arg(srv.data_dir())
        .env_remove("POOYA_DATABASE_URL");
    if let Some(db) = &srv.db {
        cmd.arg("--database-url").arg(&db.url);
    }
    cmd.output().expect("run pooya keys create")
}

#[tokio::test]
async fn keys_create_makes_a_working_key_while_the_server_runs() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let out = keys_create(&srv, "switch");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .expect("the key on standard output")
        .to_owned();
    assert!(!key.contains(' '), "{stdout:?}");
    let call = |path: &str, method: &str, body: Option<Value>| {
        let mut req = srv
            .http
            .request(method.parse().unwrap(), format!("{}{}", srv.url, path))
            .bearer_auth(&key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = call(
        "/v1/verify",
        "POST",
        Some(
            json!({"pan": PAN, "kind": "second", "password": STATIC_SECOND,
                    "txn": {"id": "K1", "amount": 10, "merchant": "Shop"}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["approved"], true, "{v}");
    // It has the switch role only.
    let (s, v) = call(&format!("/v1/cards/{PAN}"), "GET", None).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "forbidden");
    // Every role can be made; each key is new.
    let out2 = keys_create(&srv, "switch");
    assert!(out2.status.success());
    assert_ne!(String::from_utf8(out2.stdout).unwrap().trim(), key);
    let out = keys_create(&srv, "branch");
    assert!(out.status.success(), "{out:?}");
    let branch = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let res = srv
        .http
        .get(format!("{}/v1/cards/{PAN}", srv.url))
        .bearer_auth(&branch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn keys_create_refuses_an_unknown_role() {
    let srv = TestServer::start().await;
    for role in ["root", "", "Switch", "admins"] {
        let out = keys_create(&srv, role);
        assert!(!out.status.success(), "{role:?}: {out:?}");
        assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("pooya_"));
        assert!(!out.stderr.is_empty(), "a message on standard error");
    }
}

// ------------------------------------------------------------------ secret hygiene

/// The log without what legitimately holds digits: the timestamp at the start of each line and
/// the request durations.
fn log_without_noise(log: &str) -> String {
    log.lines()
        .map(|line| {
            line.split_whitespace()
                .skip(1)
                .filter(|w| !w.starts_with("micros="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `digits` stands alone in `text`: a whole word, not part of a longer number nor of a
/// hex id (a request id holds digit runs that can equal a 4-digit code).
fn has_digit_run(text: &str, digits: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == digits)
}

#[tokio::test]
async fn the_log_holds_no_secret() {
    let srv = TestServer::start().await;
    let mut secrets: Vec<(String, String)> = Vec::new();
    srv.with_card().await;
    srv.card(PAN2, "C1").await;
    // App: activation, enrollment with a wrong code first, then the right codes; verifications.
    let (receipt, sms_code) = srv.activate_app(PAN, MOBILE).await;
    secrets.push(("receipt code".into(), receipt.clone()));
    secrets.push(("SMS activation code".into(), sms_code.clone()));
    let wrong = if sms_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(srv.enroll(PAN, &receipt, wrong).await.is_err());
    let token = srv
        .enroll(PAN, &receipt, &sms_code)
        .await
        .expect("enrollment");
    let now = srv.now_ms().await;
    for kind in ["second", "first"] {
        let code = token.code(kind, now);
        secrets.push((format!("{kind} code"), code.clone()));
        let v = srv.verify(PAN, kind, &code, &format!("A-{kind}")).await;
        assert!(v.approved, "{v:?}");
        let v = srv.verify(PAN, kind, &code, &format!("B-{kind}")).await;
        assert_eq!(v.reason, "replayed", "{v:?}");
    }
    let v = srv.verify(PAN, "second", "98765432", "C").await;
    assert!(!v.approved);
    secrets.push(("typed wrong password".into(), "98765432".into()));
    // The first password at the ATM in place of the PIN.
    srv.advance(i64::from(token.step_secs) * 1000).await;
    let pin_code = token.code("first", srv.now_ms().await);
    secrets.push(("dynamic PIN".into(), pin_code.clone()));
    let (s, v) = srv
        .post(
            "/v1/atm/block-second-password",
            "atm",
            json!({"pan": PAN, "pin": pin_code}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // SMS channel on the second card.
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN2, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let fixed = v["fixed_part"].as_str().unwrap().to_owned();
    secrets.push(("fixed part".into(), fixed.clone()));
    let before = srv.outbox().len();
    let (s, _) = srv
        .post(
            "/v1/sms/inbound",
            "sms",
            json!({"from": MOBILE, "to": "10002516", "text": "7880"}),
        )
        .await;
    assert_eq!(s, 202);
    let msgs = srv.outbox_wait(before + 1).await;
    let var = srv.variable_part(msgs[before]["text"].as_str().unwrap(), "7880");
    secrets.push(("variable part".into(), var.clone()));
    let v = srv
        .verify(PAN2, "second", &format!("{fixed}{var}"), "D")
        .await;
    assert!(v.approved, "{v:?}");
    secrets.push(("SMS password".into(), format!("{fixed}{var}")));
    // Refusals with secrets in them, and a PAN in a URL.
    srv.post(
        "/v1/atm/activate-app",
        "atm",
        json!({"pan": PAN2, "pin": "9999", "mobile": MOBILE}),
    )
    .await;
    srv.get(&format!("/v1/cards/{PAN3}"), "branch").await;
    srv.post(
        "/v1/verify",
        "switch",
        json!({"pan": PAN, "kind": "second"}),
    )
    .await;
    srv.post(
        "/v1/verify",
        "switch",
        json!({"pan": PAN3, "kind": "second", "password": "13572468", "txn": txn("E")}),
    )
    .await;
    secrets.push(("password for an unknown card".into(), "13572468".into()));
    // A graceful stop writes its last lines too.
    let mut srv = srv;
    srv.terminate();

    let log = std::fs::read_to_string(srv.log_path()).unwrap();
    assert!(!log.is_empty(), "the server logs");
    for pan in [PAN, PAN2, PAN3] {
        assert!(!log.contains(pan), "full PAN {pan} in the log");
    }
    let keys = srv.keys.as_object().unwrap().clone();
    for (role, k) in keys {
        assert!(
            !log.contains(k.as_str().unwrap()),
            "the {role} key in the log"
        );
    }
    let clean = log_without_noise(&log);
    for (what, code) in &secrets {
        assert!(
            !has_digit_run(&clean, code),
            "{what} {code} in the log:\n{log}"
        );
    }
    assert!(
        !has_digit_run(&clean, STATIC_SECOND),
        "static second password"
    );
}
