//! The public enrollment endpoints against a stranger who knows only the card number (issue 13):
//! he cannot stop the holder from enrolling (not by wrong-code runs from his own address, not by
//! malformed starts, not by starting runs of his own), and he learns nothing of the card: every
//! start gets a run, every refusal is the same, in status, body and time.
//!
//! The holder and the stranger are two clients at different addresses behind a trusted proxy
//! (`x-forwarded-for`).

use std::time::Instant;

use crate::common::*;
use pooya_enroll::{b64_decode, b64_encode, ClientEnrollment};
use serde_json::{json, Value};

const HOLDER: &str = "198.51.100.7";
const STRANGER: &str = "203.0.113.66";

fn proxied(extra: &str) -> String {
    format!("{TEST_CONFIG}[network]\ntrusted_proxies = [\"127.0.0.1\"]\n{extra}")
}

/// A POST to the app's endpoints from the client at `from`.
async fn post_from(srv: &TestServer, from: &str, path: &str, body: Value) -> (u16, Value) {
    let res = srv
        .http
        .post(format!("{}{}", srv.url, path))
        .header("x-forwarded-for", from)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The app's first message with these codes, from `from`.
async fn start_from(
    srv: &TestServer,
    from: &str,
    pan: &str,
    receipt: &str,
    sms: &str,
) -> (u16, Value, ClientEnrollment) {
    let (client, msg) = ClientEnrollment::start(pan, receipt, sms);
    let body = json!({"pan": pan, "spake_msg": b64_encode(&msg)});
    let (s, v) = post_from(srv, from, "/v1/app/enrollments", body).await;
    (s, v, client)
}

async fn confirm_from(srv: &TestServer, from: &str, v: &Value, confirm: &[u8]) -> (u16, Value) {
    let id = v["enrollment_id"].as_str().expect("enrollment_id");
    let path = format!("/v1/app/enrollments/{id}/confirm");
    post_from(srv, from, &path, json!({"confirm": b64_encode(confirm)})).await
}

/// The rest of the holder's enrollment after a 201 start `v`: 200 and the token.
async fn finish_from(srv: &TestServer, from: &str, client: ClientEnrollment, v: &Value) -> Value {
    let server_msg = b64_decode(v["spake_msg"].as_str().unwrap()).unwrap();
    let server_confirm = b64_decode(v["confirm"].as_str().unwrap()).unwrap();
    let fin = client
        .finish(&server_msg, &server_confirm)
        .unwrap_or_else(|_| panic!("the holder's codes check out: {v}"));
    srv.hygiene.seed(fin.seed.as_bytes());
    let (s, t) = confirm_from(srv, from, v, &fin.confirm).await;
    assert_eq!(s, 200, "{t}");
    t
}

fn assert_code(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
}

/// 13.2 (a): three wrong-code runs from the stranger's address use up his tries, not the holder's.
#[tokio::test]
async fn a_strangers_wrong_runs_leave_the_holder_his_tries() {
    let srv = TestServer::start_with(&proxied(""), &[]).await;
    srv.with_card().await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    for left in [2, 1, 0] {
        let (st, v, _) = start_from(&srv, STRANGER, PAN, "111111", "222222").await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["tries_left"], left, "{v}");
        let got = confirm_from(&srv, STRANGER, &v, &[7u8; 32]).await;
        assert_code(&got, 403, "wrong_activation_codes");
        assert_eq!(got.1["error"]["tries_left"], left, "{}", got.1);
    }
    let (st, v, _) = start_from(&srv, STRANGER, PAN, "111111", "222222").await;
    assert_code(&(st, v), 429, "enrollment_tries_used_up");
    // The holder, at another address, has all his tries, and the same codes enroll him.
    let (st, v, client) = start_from(&srv, HOLDER, PAN, &r, &s).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["tries_left"], 2, "{v}");
    finish_from(&srv, HOLDER, client, &v).await;
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Active);
}

/// 13.2 (b): starts that do not parse cost the card nothing, and the stranger's well-formed ones
/// fill only his own buckets: the holder is never held at 429.
#[tokio::test]
async fn malformed_starts_cost_the_card_nothing() {
    let srv = TestServer::start_with(&proxied(""), &[]).await;
    srv.with_card().await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    // More than the default start limit (10 an hour per card and address).
    for _ in 0..12 {
        let body = json!({"pan": PAN, "spake_msg": "AAAA"});
        let got = post_from(&srv, STRANGER, "/v1/app/enrollments", body).await;
        assert_code(&got, 400, "bad_request");
    }
    // A message of the right length that is no curve point: the same.
    let mut bad = vec![b'A', 2];
    bad.resize(33, 0);
    let body = json!({"pan": PAN, "spake_msg": b64_encode(&bad)});
    let got = post_from(&srv, STRANGER, "/v1/app/enrollments", body).await;
    assert_code(&got, 400, "bad_request");
    // Well-formed starts, then one every 6 minutes: only the stranger is held back.
    for _ in 0..3 {
        let (st, v, _) = start_from(&srv, STRANGER, PAN, "111111", "222222").await;
        assert_eq!(st, 201, "{v}");
    }
    for _ in 0..5 {
        srv.advance(6 * 60 * 1000).await;
        let (st, v, _) = start_from(&srv, STRANGER, PAN, "111111", "222222").await;
        assert_eq!(st, 429, "{v}");
    }
    let (st, v, client) = start_from(&srv, HOLDER, PAN, &r, &s).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["tries_left"], 2, "{v}");
    finish_from(&srv, HOLDER, client, &v).await;
}

/// 13.2 (c): a start does not replace the holder's run in progress.
#[tokio::test]
async fn a_new_start_does_not_replace_the_holders_run() {
    let srv = TestServer::start_with(&proxied(""), &[]).await;
    srv.with_card().await;
    let (r, s) = srv.activate_app(PAN, MOBILE).await;
    let (st, holders, client) = start_from(&srv, HOLDER, PAN, &r, &s).await;
    assert_eq!(st, 201, "{holders}");
    let (st, v, _) = start_from(&srv, STRANGER, PAN, "111111", "222222").await;
    assert_eq!(st, 201, "{v}");
    // Even a second run of the holder's own does not replace the first.
    let (st, v, _) = start_from(&srv, HOLDER, PAN, &r, &s).await;
    assert_eq!(st, 201, "{v}");
    finish_from(&srv, HOLDER, client, &holders).await;
    assert_eq!(srv.card_info(PAN).await.dynamic.state, DynamicState::Active);
}

/// The cards of the 13.3 test, one per case a stranger must not tell apart.
const LIVE: &str = PAN; // an activation waiting
const UNKNOWN: &str = "6280231234567864"; // no such card
const NONE: &str = PAN2; // a card, no activation
const EXPIRED: &str = PAN3; // an activation past its 24 h
const USED_UP: &str = "6280231234567856"; // an activation whose runs are all used
const CASES: [(&str, &str); 5] = [
    ("live", LIVE),
    ("unknown card", UNKNOWN),
    ("no activation", NONE),
    ("expired", EXPIRED),
    ("used up", USED_UP),
];

/// A server with a card in each state; `max_tries_total = 3` so an activation is used up soon.
async fn five_cards() -> TestServer {
    let cfg = proxied("[policy.activation]\nmax_tries_total = 3\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    srv.card(NONE, "C1").await;
    srv.card(EXPIRED, "C1").await;
    srv.card(USED_UP, "C1").await;
    srv.activate_app(EXPIRED, MOBILE).await;
    srv.advance(25 * 3600 * 1000).await;
    srv.activate_app(USED_UP, MOBILE).await;
    for i in 0..3 {
        let (st, v, _) = start_from(&srv, &format!("192.0.2.{i}"), USED_UP, "1", "2").await;
        assert_eq!(st, 201, "{v}");
    }
    srv
}

/// The shape of an answer, without what is random in it (ids, SPAKE2 messages, MACs).
fn shape(v: &Value) -> Value {
    let mut v = v.clone();
    for key in ["enrollment_id", "spake_msg", "confirm"] {
        if let Some(s) = v.get(key).and_then(Value::as_str) {
            v[key] = json!(format!("{} chars", s.len()));
        }
    }
    v
}

/// 13.3: to a caller who has not proven the codes, a card with an activation waiting looks like
/// no card, a card without one, an expired and a used-up activation: the same start, the same
/// refusal, the same count of tries, the same refusal once they are used.
#[tokio::test]
async fn every_card_looks_alike_to_a_caller_without_the_codes() {
    let srv = five_cards().await;
    let mut answers = Vec::new();
    for (name, pan) in CASES {
        if name == "live" {
            srv.activate_app(LIVE, MOBILE).await;
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (st, v, client) = start_from(&srv, STRANGER, pan, "123456", "654321").await;
            let server_msg = b64_decode(v["spake_msg"].as_str().unwrap()).unwrap();
            let server_confirm = b64_decode(v["confirm"].as_str().unwrap()).unwrap();
            assert!(
                client.finish(&server_msg, &server_confirm).is_err(),
                "{name}: wrong codes never check out"
            );
            let (cs, c) = confirm_from(&srv, STRANGER, &v, &[7u8; 32]).await;
            seen.push((st, shape(&v), cs, c));
        }
        let (st, v, _) = start_from(&srv, STRANGER, pan, "123456", "654321").await;
        seen.push((st, v, 0, Value::Null));
        answers.push((name, seen));
    }
    let (_, live) = &answers[0];
    assert_eq!(live[0].0, 201, "{:?}", live[0]);
    assert_eq!(live[0].2, 403, "{:?}", live[0]);
    assert_eq!(live[3].0, 429, "{:?}", live[3]);
    for (name, seen) in &answers[1..] {
        assert_eq!(
            seen, live,
            "{name} differs from a card with an activation waiting"
        );
    }
    // The stranger's runs used the live activation's runs (3 here) and nothing else.
    let info = srv.card_info(LIVE).await;
    assert_eq!(info.recent_failures, 0, "{info:?}");
    assert_ne!(info.dynamic.state, DynamicState::Locked, "{info:?}");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// 13.3, time: a decoy run costs the server what a live one does (a real SPAKE2 step, one run
/// stored, one audit record; a confirmation reads the card and closes the run alike). Medians of
/// many interleaved runs from fresh addresses, under a generous bound: the machine is shared, and
/// single timings vary by more than the difference looked for.
#[tokio::test]
async fn every_card_takes_the_same_time() {
    let srv = five_cards().await;
    const ROUNDS: usize = 30;
    let mut starts: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    let mut confirms: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    for round in 0..ROUNDS {
        // A fresh activation for the live card each round (its runs are bounded too).
        srv.activate_app(LIVE, MOBILE).await;
        for k in 0..CASES.len() {
            // A different order each round, so drift in the machine's load spreads over all.
            let i = (k + round) % CASES.len();
            let from = format!("203.0.113.{}", round * CASES.len() + i + 100);
            let t0 = Instant::now();
            let (st, v, _) = start_from(&srv, &from, CASES[i].1, "123456", "654321").await;
            starts[i].push(t0.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(st, 201, "{}: {v}", CASES[i].0);
            let t0 = Instant::now();
            let (st, c) = confirm_from(&srv, &from, &v, &[7u8; 32]).await;
            confirms[i].push(t0.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(st, 403, "{}: {c}", CASES[i].0);
        }
    }
    for (what, times) in [("start", starts), ("confirm", confirms)] {
        let medians: Vec<f64> = times.into_iter().map(median).collect();
        eprintln!(
            "{what} medians (ms): {:?}",
            CASES.iter().map(|c| c.0).zip(&medians).collect::<Vec<_>>()
        );
        let live = medians[0];
        for (i, m) in medians.iter().enumerate().skip(1) {
            let (lo, hi) = (live.min(*m), live.max(*m));
            assert!(
                hi <= 2.0 * lo + 3.0,
                "{what}: {} takes {m:.2} ms, a live run {live:.2} ms",
                CASES[i].0
            );
        }
    }
}
