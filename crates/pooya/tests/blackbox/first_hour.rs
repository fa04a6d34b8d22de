//! What a new operator trips over in the first hour (issue 18): a start on a port in use leaves
//! nothing behind, `serve --help` says what is required, and the log tells a refused payment
//! from an approved one and a lock from a refusal.

use crate::common::*;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[test]
fn a_start_on_a_port_in_use_creates_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_pooya"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .arg("--listen")
        .arg(addr.to_string())
        .env_remove("POOYA_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(out.stdout.is_empty(), "it never listened");
    // No database, master key or bootstrap keys: not even the directory.
    assert!(!data.exists(), "{:?}", std::fs::read_dir(&data).ok());

    // Once the port is free, the same command starts and creates them.
    drop(taken);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pooya"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env_remove("POOYA_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.starts_with("pooya listening on http://"), "{line}");
    for f in ["master.key", "bootstrap-keys.json"] {
        assert!(data.join(f).exists(), "{f}");
    }
}

#[test]
fn serve_help_says_a_data_directory_is_required() {
    let out = Command::new(env!("CARGO_BIN_EXE_pooya"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    // As one line: clap wraps the help to the terminal's width.
    let help = String::from_utf8_lossy(&out.stdout);
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("Required: this, or `[server] data_dir`"),
        "{help}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_pooya"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("POOYA_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--data-dir DIR, or [server] data_dir"),
        "{err}"
    );
}

/// The JSON log lines of the server, as they are now.
fn log_lines(srv: &TestServer) -> Vec<Value> {
    std::fs::read_to_string(srv.log_path())
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Waits for the log line of `request_id` whose message is `message`.
async fn log_line(srv: &TestServer, request_id: &str, message: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = log_lines(srv).into_iter().find(|l| {
            l["span"]["request_id"] == request_id
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
        });
        if let Some(l) = found {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no line {message:?} for {request_id}:\n{}",
            std::fs::read_to_string(srv.log_path()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn verify_as(srv: &TestServer, request_id: &str, password: &str) -> Value {
    let res = srv
        .http
        .post(format!("{}/v1/verify", srv.url))
        .bearer_auth(srv.key("switch"))
        .header("x-request-id", request_id)
        .json(&json!({"pan": PAN, "kind": "second", "password": password,
            "txn": {"id": request_id, "amount": 1000, "merchant": "Shop"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn verify_lines_name_the_verdict_and_a_lock_is_a_warning() {
    let srv = TestServer::start_with(TEST_CONFIG, &["--log-format", "json"]).await;
    let token = srv.enrolled_card().await;
    let code = token.code("second", srv.now_ms().await);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };

    assert_eq!(verify_as(&srv, "v-ok", &code).await["response_code"], "00");
    let line = log_line(&srv, "v-ok", "request").await;
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["fields"]["route"], "/v1/verify", "{line}");
    assert_eq!(line["fields"]["status"], 200, "{line}");
    assert_eq!(line["fields"]["response_code"], "00", "{line}");
    assert_eq!(line["fields"]["reason"], "approved", "{line}");

    // Four refusals; the fifth failure in the window locks the service (R5).
    for i in 1..=4 {
        let id = format!("v-wrong-{i}");
        assert_eq!(verify_as(&srv, &id, wrong).await["response_code"], "55");
        let line = log_line(&srv, &id, "request").await;
        assert_eq!(line["fields"]["response_code"], "55", "{line}");
        assert_eq!(line["fields"]["reason"], "wrong_password", "{line}");
    }
    assert!(
        !log_lines(&srv)
            .iter()
            .any(|l| l["level"] == "WARN" && l["span"]["request_id"] == "v-wrong-4"),
        "a warning before the lock"
    );
    assert_eq!(
        verify_as(&srv, "v-lock", wrong).await["reason"],
        "wrong_password"
    );
    let warn = log_line(&srv, "v-lock", "card locked").await;
    assert_eq!(warn["level"], "WARN", "{warn}");
    assert_eq!(warn["fields"]["response_code"], "55", "{warn}");
    assert_eq!(warn["fields"]["reason"], "wrong_password", "{warn}");

    assert_eq!(verify_as(&srv, "v-75", &code).await["response_code"], "75");
    let line = log_line(&srv, "v-75", "request").await;
    assert_eq!(line["fields"]["response_code"], "75", "{line}");
    assert_eq!(line["fields"]["reason"], "locked", "{line}");

    // Never the card number or a password.
    let log = std::fs::read_to_string(srv.log_path()).unwrap();
    assert!(!log.contains(PAN), "a full PAN in the log");
    assert!(
        !log.contains(&code) && !log.contains(wrong),
        "a password in the log"
    );

    // Counted in /metrics: the verdicts by code and reason, the lock.
    let text = srv
        .http
        .get(format!("{}/metrics", srv.url))
        .bearer_auth(srv.key("admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "pooya_verifications_total{code=\"55\",reason=\"wrong_password\"} 5",
        "pooya_verifications_total{code=\"75\",reason=\"locked\"} 1",
        "pooya_verifications_total{code=\"00\",reason=\"approved\"} 1",
        "pooya_lockouts_total 1",
    ] {
        assert!(text.lines().any(|l| l == want), "{want} not in:\n{text}");
    }
}

#[tokio::test]
async fn a_wrong_pin_at_the_atm_says_how_many_tries_are_left() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    for left in [2, 1, 0] {
        let (s, v) = srv
            .post(
                "/v1/atm/activate-app",
                "atm",
                json!({"pan": PAN, "pin": "9999", "mobile": MOBILE}),
            )
            .await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["code"], "wrong_pin", "{v}");
        assert_eq!(v["error"]["tries_left"], left, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.ends_with(&format!("tries left: {left}")), "{v}");
    }
    let (s, v) = srv
        .post(
            "/v1/atm/activate-app",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "pin_tries_exceeded", "{v}");
    assert!(v["error"].get("tries_left").is_none(), "{v}");
}

/// R9 in the card view: the static second password's own state, apart from the holder's block.
#[tokio::test]
async fn the_card_view_shows_the_static_second_password_state() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let view = |v: Value| {
        (
            v["static_second_password"].clone(),
            v["second_password_blocked"].clone(),
        )
    };
    let (s, v) = srv
        .call("GET", &format!("/v1/cards/{PAN}"), Some("branch"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(view(v), (json!("enabled"), json!(false)));

    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    srv.enroll(PAN, &receipt, &sms).await.expect("enrollment");
    let (_, v) = srv
        .call("GET", &format!("/v1/cards/{PAN}"), Some("branch"), None)
        .await;
    assert_eq!(view(v), (json!("disabled"), json!(false)));
    let r = srv.verify(PAN, "second", STATIC_SECOND, "T-static").await;
    assert_eq!(r.reason, "static_password_disabled");

    let (s, v) = srv
        .post("/v1/atm/deactivate", "atm", json!({"pan": PAN, "pin": PIN}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = srv
        .call("GET", &format!("/v1/cards/{PAN}"), Some("branch"), None)
        .await;
    assert_eq!(view(v), (json!("enabled"), json!(false)));
}
