//! Request bodies and the extractors: any body, on any route, under the route's own key (or
//! another role's, or none), through the real router on a real SQLite store.
//!
//! Asserts: no panic; never a 5xx (a client's bytes can only be refused, never break the server);
//! every answer is JSON; every refusal has the API's shape `{"error": {"code", "message"}}` with
//! a snake_case code; a refusal's message never repeats a number the client sent (PANs, codes).
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request};
use libfuzzer_sys::fuzz_target;
use pooya_issuer::clock::SystemClock;
use pooya_server::limits::Limits;
use pooya_server::netpolicy::{NetPolicy, NetworkSection};
use pooya_server::tls::ClientCerts;
use pooya_server::{apikeys::ApiKeys, state::AppState, ServeOptions};
use tower::ServiceExt;

/// A valid card number for path parameters.
const PAN: &str = "6280231234567898";

/// (method, path, role whose key the route wants).
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("POST", "/v1/customers", Some("branch")),
    ("PUT", "/v1/customers/C1/mobile", Some("branch")),
    ("POST", "/v1/cards", Some("branch")),
    ("GET", "/v1/cards/6280231234567898", Some("branch")),
    (
        "POST",
        "/v1/cards/6280231234567898/second-password/unblock",
        Some("branch"),
    ),
    ("POST", "/v1/atm/activate-app", Some("atm")),
    ("POST", "/v1/atm/activate-sms", Some("atm")),
    ("POST", "/v1/atm/deactivate", Some("atm")),
    ("POST", "/v1/atm/block-second-password", Some("atm")),
    ("POST", "/v1/sms/inbound", Some("sms")),
    ("POST", "/v1/verify", Some("switch")),
    ("POST", "/v1/otp-requests", Some("switch")),
    ("POST", "/v1/admin/pskc", Some("admin")),
    ("GET", "/v1/admin/outbox", Some("admin")),
    ("POST", "/v1/app/enrollments", None),
    ("POST", "/v1/app/enrollments/ABC/confirm", None),
    ("POST", "/v1/app/tokens/ABC/removal-challenge", None),
    ("POST", "/v1/app/tokens/ABC/removal", None),
    ("GET", "/v1/time", None),
];

const ROLES: &[&str] = &["admin", "branch", "atm", "sms", "switch"];

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    keys: serde_json::Value,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // RAM-backed where there is one: SQLite's fsyncs would dominate.
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm").unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let cfg = dir.path().join("pooya.toml");
        std::fs::write(&cfg, "[hashing]\nm_kib = 64\nt = 1\np = 1\n").unwrap();
        let data = dir.path().join("data");
        let (app, keys) = rt.block_on(async {
            let opts = ServeOptions {
                data_dir: Some(data.clone()),
                config: Some(cfg),
                ..ServeOptions::default()
            };
            let opened = pooya_server::open(&opts).await.unwrap();
            let policy = opened.config.policy().unwrap();
            let issuer = Arc::new(pooya_issuer::Issuer::new(
                opened.store.clone(),
                opened.keyring.clone(),
                policy,
                Arc::new(SystemClock),
            ));
            let keys = ApiKeys::new(opened.store.clone());
            keys.bootstrap(&data, 0).await.unwrap();
            let text = std::fs::read_to_string(data.join("bootstrap-keys.json")).unwrap();
            // No abuse limits (a 429 would hide the handlers from the fuzzer), every network
            // allowed, no client certificates: the handlers are what is fuzzed here.
            let state = Arc::new(AppState {
                issuer,
                keys,
                fake_clock: None,
                net: NetPolicy::from_section(&NetworkSection::default()).unwrap(),
                limits: Arc::new(Limits::off(Arc::new(SystemClock))),
                client_certs: ClientCerts::none(),
            });
            (
                pooya_server::router::router(state, opened.config.server.max_body_bytes, None),
                serde_json::from_str(&text).unwrap(),
            )
        });
        World {
            rt,
            app,
            keys,
            _dir: dir,
        }
    })
}

/// Every run of at least 6 ASCII digits (codes, card and mobile numbers).
fn digit_runs(text: &[u8]) -> Vec<&[u8]> {
    text.split(|b| !b.is_ascii_digit())
        .filter(|r| r.len() >= 6)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let [route, who, body @ ..] = data else {
        return;
    };
    let w = world();
    let (method, path, role) = ROUTES[*route as usize % ROUTES.len()];
    // Mostly the route's own key, sometimes another role's or none: the refusal must come first.
    let key = match (who % 8, role) {
        (0, _) => None,
        (1, _) => Some(ROLES[(*who as usize / 8) % ROLES.len()]),
        (_, r) => r,
    };
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header("content-type", "application/json");
    if let Some(k) = key {
        let k = w.keys[k].as_str().unwrap();
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let req = req.body(Body::from(body.to_vec())).unwrap();
    let (status, bytes) = w.rt.block_on(async {
        let res = w.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, bytes)
    });
    assert!(
        !status.is_server_error(),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{method} {path}: {status}: not JSON ({e})"));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains(PAN),
        "{method} {path}: a full PAN in the answer"
    );
    if status.is_client_error() {
        let code = v["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: {status} without error.code: {v}"));
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code:?}"
        );
        let message = v["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: {status} without error.message: {v}"));
        // The example number some messages give is not an echo. A PSKC file's refusal names the
        // element or key package at fault (the file is no secret); card numbers it must not name.
        let own = message.replace("09121234567", "");
        let shortest = if path == "/v1/admin/pskc" { 13 } else { 6 };
        for run in digit_runs(body).into_iter().filter(|r| r.len() >= shortest) {
            assert!(
                !own.as_bytes().windows(run.len()).any(|w| w == run),
                "{method} {path}: the refusal repeats a number the client sent: {message}"
            );
        }
    }
});
