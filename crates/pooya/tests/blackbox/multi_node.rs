//! Several `pooya serve` processes on one PostgreSQL database, and PostgreSQL going away under a
//! server. Needs `POOYA_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! without it every test here says so and passes as skipped. With it set, a PostgreSQL that does
//! not answer fails the tests.
//!
//! No proxy or balancer stands in front of the nodes: each test spreads its requests itself. Each
//! node has its own fake clock; the tests set all of them to the same instant and move them
//! together.

use crate::common::*;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pooya_enroll::{b64_decode, b64_encode, ClientEnrollment};
use serde_json::{json, Value};
use tokio::task::JoinSet;

// ------------------------------------------------------------------ helpers

/// Lockout far away, for tests that make many (legitimate) failures on purpose.
fn config_many_failures() -> String {
    format!("{TEST_CONFIG}\n[policy.lockout]\nmax_failures = 100000\n")
}

/// A cloneable handle on one node, so requests can run on spawned tasks.
#[derive(Clone)]
struct Node {
    url: String,
    keys: Value,
    http: reqwest::Client,
}

impl Node {
    fn of(s: &TestServer) -> Node {
        Node {
            url: s.url.clone(),
            keys: s.keys.clone(),
            http: s.http.clone(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        role: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(m, format!("{}{}", self.url, path));
        if let Some(r) = role {
            req = req.bearer_auth(self.keys[r].as_str().expect("role key"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", self.url));
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn post(&self, path: &str, role: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(role), Some(body)).await
    }

    async fn now_ms(&self) -> i64 {
        let (s, v) = self.call("GET", "/v1/time", None, None).await;
        assert_eq!(s, 200, "{v}");
        v["unix_ms"].as_i64().expect("unix_ms")
    }

    async fn set_clock(&self, unix_ms: i64) {
        let (s, v) = self
            .post("/v1/test/clock", "admin", json!({ "set_unix_ms": unix_ms }))
            .await;
        assert_eq!(s, 200, "{v}");
    }

    async fn health(&self) -> (u16, Value) {
        self.call("GET", "/v1/health", None, None).await
    }

    async fn card_info(&self, pan: &str) -> Value {
        let (s, v) = self
            .call("GET", &format!("/v1/cards/{pan}"), Some("branch"), None)
            .await;
        assert_eq!(s, 200, "GET card on {}: {v}", self.url);
        v
    }

    /// A customer `id` with `mobile` and one card `pan`.
    async fn customer_and_card(&self, id: &str, mobile: &str, pan: &str) {
        let (s, v) = self
            .post(
                "/v1/customers",
                "branch",
                json!({"customer_id": id, "mobile": mobile}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let (s, v) = self
            .post(
                "/v1/cards",
                "branch",
                json!({"pan": pan, "customer_id": id, "expiry": "9912",
                       "pin": PIN, "second_password": STATIC_SECOND}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }

    /// ATM app activation; the receipt code (the SMS code goes through the shared outbox).
    async fn activate_app(&self, pan: &str, mobile: &str) -> String {
        let (s, v) = self
            .post(
                "/v1/atm/activate-app",
                "atm",
                json!({"pan": pan, "pin": PIN, "mobile": mobile}),
            )
            .await;
        assert_eq!(s, 200, "activate-app on {}: {v}", self.url);
        v["receipt_code"].as_str().expect("receipt_code").to_owned()
    }

    /// ATM SMS activation; the fixed part.
    async fn activate_sms(&self, pan: &str, mobile: &str) -> String {
        let (s, v) = self
            .post(
                "/v1/atm/activate-sms",
                "atm",
                json!({"pan": pan, "pin": PIN, "mobile": mobile}),
            )
            .await;
        assert_eq!(s, 200, "activate-sms on {}: {v}", self.url);
        v["fixed_part"].as_str().expect("fixed_part").to_owned()
    }

    async fn sms_inbound(&self, from: &str, last4: &str) {
        let (s, v) = self
            .post(
                "/v1/sms/inbound",
                "sms",
                json!({"from": from, "to": "10002516", "text": last4}),
            )
            .await;
        assert_eq!(s, 202, "{v}");
    }

    /// The raw answer of `/v1/verify`.
    async fn verify_raw(&self, pan: &str, kind: &str, password: &str, txn: &str) -> (u16, Value) {
        self.post(
            "/v1/verify",
            "switch",
            json!({"pan": pan, "kind": kind, "password": password,
                   "txn": {"id": txn, "amount": 1_250_000, "merchant": "Shop"}}),
        )
        .await
    }

    async fn verify(&self, pan: &str, kind: &str, password: &str, txn: &str) -> Value {
        let (s, v) = self.verify_raw(pan, kind, password, txn).await;
        assert_eq!(s, 200, "verify on {}: {v}", self.url);
        v
    }
}

fn nodes_of(servers: &[TestServer]) -> Vec<Node> {
    servers.iter().map(Node::of).collect()
}

/// Sets every node's clock to the same instant: the start of the next `step_secs` step (counted
/// from the latest node clock) plus `offset_ms`. Returns that instant.
async fn sync_clocks(nodes: &[Node], step_secs: i64, offset_ms: i64) -> i64 {
    let mut latest = 0;
    for n in nodes {
        latest = latest.max(n.now_ms().await);
    }
    let step = step_secs * 1000;
    let target = (latest / step + 1) * step + offset_ms;
    set_clocks(nodes, target).await;
    target
}

async fn set_clocks(nodes: &[Node], unix_ms: i64) {
    for n in nodes {
        n.set_clock(unix_ms).await;
    }
}

/// A 16-digit PAN that passes Luhn: `628023`, `i` in nine digits, the check digit.
fn pan_no(i: usize) -> String {
    pan_with(&format!("628023{i:09}"), "")
}

fn mobile_no(i: usize) -> String {
    format!("0912{:07}", 1_000_000 + i)
}

/// The messages of the outbox file sent to `mobile`.
fn outbox_to(path: &Path, mobile: &str) -> Vec<Value> {
    read_jsonl(path)
        .into_iter()
        .filter(|m| m["to"] == mobile)
        .collect()
}

/// Waits (bounded) for the `n`-th (from 1) message to `mobile` in the shared outbox; its text.
async fn wait_sms_to(path: &Path, mobile: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let msgs = outbox_to(path, mobile);
        if msgs.len() >= n {
            return msgs[n - 1]["text"].as_str().expect("text").to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no SMS #{n} to {mobile} in {} after 20 s",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until the outbox file holds at least `n` messages.
async fn wait_outbox_len(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let msgs = read_jsonl(path);
        if msgs.len() >= n {
            return msgs;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox has {} messages after 30 s, expected {n}",
            msgs.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The app's side of enrollment, its first message to `start` and its confirmation to `confirm`
/// (two different nodes, as a balancer may send them).
async fn enroll_split(
    start: &Node,
    confirm: &Node,
    pan: &str,
    receipt: &str,
    sms_code: &str,
) -> Token {
    let (client, msg) = ClientEnrollment::start(pan, receipt, sms_code);
    let (s, v) = start
        .call(
            "POST",
            "/v1/app/enrollments",
            None,
            Some(json!({"pan": pan, "spake_msg": b64_encode(&msg)})),
        )
        .await;
    assert_eq!(s, 201, "enrollment start on {}: {v}", start.url);
    let server_msg = b64_decode(v["spake_msg"].as_str().expect("spake_msg")).unwrap();
    let server_confirm = b64_decode(v["confirm"].as_str().expect("confirm")).unwrap();
    let id = v["enrollment_id"]
        .as_str()
        .expect("enrollment_id")
        .to_owned();
    let finish = client
        .finish(&server_msg, &server_confirm)
        .unwrap_or_else(|_| panic!("the server's confirmation does not check out: {v}"));
    let (s, t) = confirm
        .call(
            "POST",
            &format!("/v1/app/enrollments/{id}/confirm"),
            None,
            Some(json!({"confirm": b64_encode(&finish.confirm)})),
        )
        .await;
    assert_eq!(s, 200, "enrollment confirm on {}: {t}", confirm.url);
    Token {
        token_id: t["token_id"].as_str().unwrap().to_owned(),
        seed: finish.seed,
        step_secs: t["lifetime_secs"].as_u64().unwrap() as u32,
        algorithm: t["algorithm"].as_str().unwrap().parse().unwrap(),
        first_digits: t["first_digits"].as_u64().unwrap() as u8,
        second_digits: t["second_digits"].as_u64().unwrap() as u8,
    }
}

/// Customer `C{i}` with `mobile_no(i)` and card `pan_no(i)` registered on `reg`, activated at the
/// ATM through `atm`, enrolled through `start` and `confirm`.
async fn enrolled_card(
    i: usize,
    reg: &Node,
    atm: &Node,
    start: &Node,
    confirm: &Node,
    outbox: &Path,
) -> Token {
    let (pan, mobile) = (pan_no(i), mobile_no(i));
    reg.customer_and_card(&format!("C{i}"), &mobile, &pan).await;
    let receipt = atm.activate_app(&pan, &mobile).await;
    let text = wait_sms_to(outbox, &mobile, 1).await;
    let sms_code = first_digit_run(&text, 6).expect("a 6-digit code in the activation SMS");
    enroll_split(start, confirm, &pan, &receipt, &sms_code).await
}

/// A code of `digits` digits that is none of the token's codes from 15 steps back to 2 ahead.
fn wrong_code(token: &Token, kind: &str, now: i64) -> String {
    let step = i64::from(token.step_secs) * 1000;
    let near: Vec<String> = (-15..=2)
        .map(|k| token.code(kind, now + k * step))
        .collect();
    let right = token.code(kind, now);
    let digits = right.len() as u32;
    let modulus = 10u64.pow(digits);
    let mut n: u64 = right.parse().unwrap();
    loop {
        n = (n + 7919) % modulus;
        let c = format!("{n:0width$}", width = digits as usize);
        if !near.contains(&c) && c != PIN {
            return c;
        }
    }
}

fn skip(test: &str) {
    eprintln!(
        "SKIPPED {test}: {PG_URL_ENV} is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
    );
}

fn assert_verdict(v: &Value, code: &str, reason: &str, what: &str) {
    assert_eq!(v["response_code"], code, "{what}: {v}");
    assert_eq!(v["reason"], reason, "{what}: {v}");
    assert_eq!(v["approved"], code == "00", "{what}: {v}");
}

// ------------------------------------------------------------------ 1. single use across nodes

/// R3 across servers: one right code sent to three nodes at once, several requests per node, each
/// with its own transaction id: exactly one approval, every other answer 55 `replayed`. Many
/// rounds, several cards at once, first and second passwords. Every replay is counted as a failure
/// (none lost to a race), and a retry of the approved transaction on another node answers the same
/// approval without consuming anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_sent_to_three_nodes_at_once_is_approved_exactly_once() {
    let Some(servers) = TestServer::start_cluster(3, &config_many_failures()) else {
        return skip("one_code_sent_to_three_nodes_at_once_is_approved_exactly_once");
    };
    let nodes = nodes_of(&servers);
    let outbox = servers[0].outbox_path();
    const CARDS: usize = 3;
    const ROUNDS: usize = 8;
    const PER_NODE: usize = 4;
    let mut tokens = Vec::new();
    for c in 0..CARDS {
        let n = |k: usize| &nodes[(c + k) % 3];
        tokens.push(enrolled_card(c, n(0), n(1), n(2), n(0), &outbox).await);
    }
    let tokens = Arc::new(tokens);
    let step_secs = i64::from(tokens[0].step_secs);
    let mut failures = [0usize; CARDS];
    let mut approvals = 0;
    for round in 0..ROUNDS {
        let now = sync_clocks(&nodes, step_secs, 5_000).await;
        let mut kind = if round % 2 == 0 { "second" } else { "first" };
        let mut set = JoinSet::new();
        for (c, token) in tokens.iter().enumerate() {
            // A first code that happens to be the static PIN would pass as the PIN itself.
            if kind == "first" && token.code("first", now) == PIN {
                kind = "second";
            }
            let code = token.code(kind, now);
            for (n, node) in nodes.iter().enumerate() {
                for k in 0..PER_NODE {
                    let node = node.clone();
                    let code = code.clone();
                    let txn = format!("R{round}-C{c}-N{n}-K{k}");
                    set.spawn(async move {
                        let v = node.verify(&pan_no(c), kind, &code, &txn).await;
                        (c, n, txn, code, v)
                    });
                }
            }
        }
        let mut approved: HashMap<usize, Vec<(usize, String, String)>> = HashMap::new();
        while let Some(r) = set.join_next().await {
            let (c, n, txn, code, v) = r.expect("task");
            if v["approved"] == true {
                assert_verdict(&v, "00", "approved", &txn);
                approved.entry(c).or_default().push((n, txn, code));
            } else {
                assert_verdict(&v, "55", "replayed", &txn);
                failures[c] += 1;
            }
        }
        for c in 0..CARDS {
            let a = approved.get(&c).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(
                a.len(),
                1,
                "round {round}, card {c} ({kind}): {} approvals of one code over 3 nodes: {a:?}",
                a.len()
            );
            approvals += 1;
            // The same transaction again, on another node: the same answer, nothing consumed.
            let (n, txn, code) = &a[0];
            let v = nodes[(n + 1) % 3].verify(&pan_no(c), kind, code, txn).await;
            assert_verdict(&v, "00", "approved", &format!("retry of {txn}"));
        }
    }
    assert_eq!(approvals, CARDS * ROUNDS);
    for (c, &f) in failures.iter().enumerate() {
        assert_eq!(f, ROUNDS * (3 * PER_NODE - 1));
        for node in &nodes {
            let info = node.card_info(&pan_no(c)).await;
            assert_eq!(info["dynamic"]["state"], "active", "{info}");
            assert_eq!(
                info["recent_failures"], f,
                "card {c}: every replay answered 55 must be counted once: {info}"
            );
        }
    }
}

// ------------------------------------------------------------------ 2. lockout across nodes

/// R5 across servers: wrong passwords sent round-robin to the three nodes still lock at the fifth.
/// The fifth answers 55; from the sixth on every node answers 75 `locked`, even for the right
/// code; every node shows the card locked with 5 recent failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_spread_over_three_nodes_lock_at_the_fifth() {
    let Some(servers) = TestServer::start_cluster(3, TEST_CONFIG) else {
        return skip("failures_spread_over_three_nodes_lock_at_the_fifth");
    };
    let nodes = nodes_of(&servers);
    let outbox = servers[0].outbox_path();
    let token = enrolled_card(0, &nodes[0], &nodes[1], &nodes[2], &nodes[0], &outbox).await;
    let pan = pan_no(0);
    let now = sync_clocks(&nodes, i64::from(token.step_secs), 5_000).await;
    let wrong = wrong_code(&token, "second", now);
    for i in 0..5 {
        let node = &nodes[i % 3];
        let v = node.verify(&pan, "second", &wrong, &format!("W{i}")).await;
        assert_verdict(
            &v,
            "55",
            "wrong_password",
            &format!("wrong #{} on node {}", i + 1, i % 3),
        );
        if i < 4 {
            let info = nodes[(i + 1) % 3].card_info(&pan).await;
            assert_eq!(info["recent_failures"], i + 1, "{info}");
            assert_eq!(info["dynamic"]["state"], "active", "{info}");
        }
    }
    for (k, (i, node)) in nodes.iter().enumerate().cycle().skip(2).take(6).enumerate() {
        let v = node.verify(&pan, "second", &wrong, &format!("L{k}")).await;
        assert_verdict(
            &v,
            "75",
            "locked",
            &format!("wrong after the lock on node {i}"),
        );
    }
    let right = token.code("second", now);
    for (i, node) in nodes.iter().enumerate() {
        let v = node.verify(&pan, "second", &right, &format!("OK{i}")).await;
        assert_verdict(
            &v,
            "75",
            "locked",
            &format!("right code after the lock on node {i}"),
        );
    }
    for node in &nodes {
        let info = node.card_info(&pan).await;
        assert_eq!(info["dynamic"]["state"], "locked", "{info}");
        assert_eq!(info["recent_failures"], 5, "{info}");
    }
}

/// R5 under concurrency: twelve wrong passwords at once, four per node: exactly five answer 55
/// and seven 75; the card is locked with exactly 5 failures on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_failures_on_three_nodes_lock_at_exactly_five() {
    let Some(servers) = TestServer::start_cluster(3, TEST_CONFIG) else {
        return skip("concurrent_failures_on_three_nodes_lock_at_exactly_five");
    };
    let nodes = nodes_of(&servers);
    let outbox = servers[0].outbox_path();
    let token = enrolled_card(0, &nodes[1], &nodes[2], &nodes[0], &nodes[1], &outbox).await;
    let now = sync_clocks(&nodes, i64::from(token.step_secs), 5_000).await;
    let wrong = wrong_code(&token, "second", now);
    let mut set = JoinSet::new();
    for (n, node) in nodes.iter().enumerate() {
        for k in 0..4 {
            let (node, wrong) = (node.clone(), wrong.clone());
            set.spawn(async move {
                node.verify(&pan_no(0), "second", &wrong, &format!("N{n}K{k}"))
                    .await
            });
        }
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    while let Some(v) = set.join_next().await {
        let v = v.expect("task");
        let key = format!(
            "{} {}",
            v["response_code"].as_str().unwrap(),
            v["reason"].as_str().unwrap()
        );
        *counts.entry(key).or_default() += 1;
    }
    let expected: HashMap<String, usize> = [
        ("55 wrong_password".to_owned(), 5),
        ("75 locked".to_owned(), 7),
    ]
    .into();
    assert_eq!(counts, expected);
    for node in &nodes {
        let info = node.card_info(&pan_no(0)).await;
        assert_eq!(info["dynamic"]["state"], "locked", "{info}");
        assert_eq!(info["recent_failures"], 5, "{info}");
    }
}

// ------------------------------------------------------------------ 3. activation across nodes

/// R8, R16: an app activation started at the ATM through node 0 completes through the others
/// (enrollment start on node 1, confirmation on node 2); the token's code verifies on node 0, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn activation_started_on_one_node_completes_on_others() {
    let Some(servers) = TestServer::start_cluster(3, TEST_CONFIG) else {
        return skip("activation_started_on_one_node_completes_on_others");
    };
    let nodes = nodes_of(&servers);
    let outbox = servers[0].outbox_path();
    sync_clocks(&nodes, 1, 0).await;
    let (pan, mobile) = (pan_no(7), mobile_no(7));
    nodes[2].customer_and_card("C7", &mobile, &pan).await;
    let receipt = nodes[0].activate_app(&pan, &mobile).await;
    let info = nodes[1].card_info(&pan).await;
    assert_eq!(info["dynamic"]["mode"], "app", "{info}");
    assert_eq!(info["dynamic"]["state"], "pending", "{info}");
    let text = wait_sms_to(&outbox, &mobile, 1).await;
    let sms_code = first_digit_run(&text, 6).expect("a 6-digit code in the SMS");
    let token = enroll_split(&nodes[1], &nodes[2], &pan, &receipt, &sms_code).await;
    for node in &nodes {
        let info = node.card_info(&pan).await;
        assert_eq!(info["dynamic"]["mode"], "app", "{info}");
        assert_eq!(info["dynamic"]["state"], "active", "{info}");
    }
    let now = sync_clocks(&nodes, i64::from(token.step_secs), 5_000).await;
    let code = token.code("second", now);
    let v = nodes[0].verify(&pan, "second", &code, "T1").await;
    assert_verdict(&v, "00", "approved", "the new token's code on node 0");
    let v = nodes[1].verify(&pan, "second", &code, "T2").await;
    assert_verdict(&v, "55", "replayed", "the same code on node 1");
    // R9: the static second password stopped working on every node.
    let v = nodes[2].verify(&pan, "second", STATIC_SECOND, "T3").await;
    assert_eq!(v["response_code"], "55", "{v}");
    assert_eq!(v["approved"], false, "{v}");
    // The activation codes were used up: they do not enroll a second time, on any node (the
    // start gets a run like any, whose confirmation the codes no longer check out).
    let (client, msg) = ClientEnrollment::start(&pan, &receipt, &sms_code);
    let (s, v) = nodes[0]
        .call(
            "POST",
            "/v1/app/enrollments",
            None,
            Some(json!({"pan": pan, "spake_msg": b64_encode(&msg)})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let server_msg = b64_decode(v["spake_msg"].as_str().unwrap()).unwrap();
    let server_confirm = b64_decode(v["confirm"].as_str().unwrap()).unwrap();
    assert!(
        client.finish(&server_msg, &server_confirm).is_err(),
        "a used activation started a second enrollment: {v}"
    );
    assert_eq!(
        outbox_to(&outbox, &mobile).len(),
        1,
        "one activation, one SMS"
    );
}

/// Issue 13: the tries a caller is told are counted in the database, for a card with an activation
/// waiting and for a number that is no card alike: three nodes agree on them, and a run started
/// on one node takes one answer, on any.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrollment_tries_are_counted_across_nodes() {
    let Some(servers) = TestServer::start_cluster(3, TEST_CONFIG) else {
        return skip("enrollment_tries_are_counted_across_nodes");
    };
    let nodes = nodes_of(&servers);
    sync_clocks(&nodes, 1, 0).await;
    let (pan, mobile) = (pan_no(8), mobile_no(8));
    nodes[0].customer_and_card("C8", &mobile, &pan).await;
    nodes[1].activate_app(&pan, &mobile).await;
    for card in [pan, pan_no(9)] {
        let mut first = None;
        for (left, node) in [2, 1, 0].into_iter().zip(&nodes) {
            let (_, msg) = ClientEnrollment::start(&card, "111111", "222222");
            let (s, v) = node
                .call(
                    "POST",
                    "/v1/app/enrollments",
                    None,
                    Some(json!({"pan": card, "spake_msg": b64_encode(&msg)})),
                )
                .await;
            assert_eq!(s, 201, "{}: {v}", node.url);
            assert_eq!(v["tries_left"], left, "{}: {v}", node.url);
            first.get_or_insert(v);
        }
        let (_, msg) = ClientEnrollment::start(&card, "111111", "222222");
        let (s, v) = nodes[0]
            .call(
                "POST",
                "/v1/app/enrollments",
                None,
                Some(json!({"pan": card, "spake_msg": b64_encode(&msg)})),
            )
            .await;
        assert_eq!(s, 429, "{v}");
        assert_eq!(v["error"]["code"], "enrollment_tries_used_up", "{v}");
        let path = format!(
            "/v1/app/enrollments/{}/confirm",
            first.unwrap()["enrollment_id"].as_str().unwrap()
        );
        let guess = Some(json!({"confirm": b64_encode(&[7u8; 32])}));
        let (s, v) = nodes[1].call("POST", &path, None, guess.clone()).await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["tries_left"], 0, "{v}");
        let (s, v) = nodes[2].call("POST", &path, None, guess).await;
        assert_eq!(s, 404, "one answer per run, whichever node: {v}");
    }
}

// ------------------------------------------------------------------ 4. outbox, once each

/// Three delivery workers share one outbox: every queued SMS leaves exactly once, whichever
/// worker claims it. Thirty app activations and ten SMS-channel requests spread over the nodes:
/// the shared outbox file holds exactly one message per mobile, 40 in all, and each carries the
/// right code (the app activations enroll with it, the SMS passwords verify).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_outbox_message_is_sent_exactly_once_across_nodes() {
    let Some(servers) = TestServer::start_cluster(3, TEST_CONFIG) else {
        return skip("every_outbox_message_is_sent_exactly_once_across_nodes");
    };
    let nodes = nodes_of(&servers);
    let outbox = servers[0].outbox_path();
    for s in &servers[1..] {
        assert_eq!(
            s.outbox_path(),
            outbox,
            "the cluster shares one outbox file"
        );
    }
    sync_clocks(&nodes, 1, 0).await;
    const APP: usize = 30;
    const SMS: usize = 10;
    let all = APP + SMS;
    let base = 100;

    let mut set = JoinSet::new();
    for i in 0..all {
        let node = nodes[i % 3].clone();
        set.spawn(async move {
            let j = base + i;
            node.customer_and_card(&format!("C{j}"), &mobile_no(j), &pan_no(j))
                .await;
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("registration");
    }
    assert!(read_jsonl(&outbox).is_empty(), "registration sends no SMS");

    // Everything at once: app activations through one node, SMS activations and requests
    // through two others.
    let mut set = JoinSet::new();
    for i in 0..all {
        let nodes = nodes.clone();
        set.spawn(async move {
            let j = base + i;
            let (pan, mobile) = (pan_no(j), mobile_no(j));
            if i < APP {
                let receipt = nodes[i % 3].activate_app(&pan, &mobile).await;
                (i, receipt)
            } else {
                let fixed = nodes[i % 3].activate_sms(&pan, &mobile).await;
                nodes[(i + 1) % 3]
                    .sms_inbound(&mobile, &pan[pan.len() - 4..])
                    .await;
                (i, fixed)
            }
        });
    }
    let mut issued: HashMap<usize, String> = HashMap::new();
    while let Some(r) = set.join_next().await {
        let (i, s) = r.expect("activation");
        issued.insert(i, s);
    }

    wait_outbox_len(&outbox, all).await;
    // Give every worker time for several more rounds (each runs at least every 500 ms): a
    // message sent twice would show now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let msgs = read_jsonl(&outbox);
    let mut per_mobile: HashMap<String, Vec<String>> = HashMap::new();
    for m in &msgs {
        per_mobile
            .entry(m["to"].as_str().expect("to").to_owned())
            .or_default()
            .push(m["text"].as_str().expect("text").to_owned());
    }
    let dup: Vec<_> = per_mobile.iter().filter(|(_, t)| t.len() != 1).collect();
    assert!(dup.is_empty(), "messages sent more than once: {dup:#?}");
    assert_eq!(
        msgs.len(),
        all,
        "one SMS per activation or request, no more"
    );

    for i in 0..all {
        let j = base + i;
        let (pan, mobile) = (pan_no(j), mobile_no(j));
        let texts = per_mobile
            .get(&mobile)
            .unwrap_or_else(|| panic!("no SMS to {mobile}"));
        let text = &texts[0];
        if i < APP {
            let code = first_digit_run(text, 6).expect("a 6-digit code in the activation SMS");
            let token = enroll_split(
                &nodes[(i + 1) % 3],
                &nodes[(i + 2) % 3],
                &pan,
                &issued[&i],
                &code,
            )
            .await;
            assert_eq!(token.second_digits, 8);
        } else {
            let var = servers[0].variable_part(text, &pan[pan.len() - 4..]);
            let password = format!("{}{var}", issued[&i]);
            let v = nodes[(i + 2) % 3]
                .verify(&pan, "second", &password, &format!("S{i}"))
                .await;
            assert_verdict(&v, "00", "approved", &format!("SMS password of card {i}"));
        }
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(read_jsonl(&outbox).len(), all, "nothing more was sent");
}

// ------------------------------------------------------------------ 5. database faults

/// A TCP proxy in front of PostgreSQL, on a runtime of its own, that can be cut (every open
/// connection closed, new ones closed as soon as accepted) and restored.
struct PgProxy {
    port: u16,
    state: Arc<Mutex<ProxyState>>,
    accepted: Arc<AtomicUsize>,
    rt: Option<tokio::runtime::Runtime>,
}

struct ProxyState {
    up: bool,
    conns: Vec<tokio::task::AbortHandle>,
}

impl PgProxy {
    fn start(upstream: String) -> PgProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState {
            up: true,
            conns: Vec::new(),
        }));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (st, acc) = (state.clone(), accepted.clone());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                acc.fetch_add(1, Ordering::SeqCst);
                let mut s = st.lock().unwrap();
                if !s.up {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let h = tokio::spawn(async move {
                    let Ok(mut out) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                });
                s.conns.retain(|c| !c.is_finished());
                s.conns.push(h.abort_handle());
            }
        });
        PgProxy {
            port,
            state,
            accepted,
            rt: Some(rt),
        }
    }

    /// Closes every connection and refuses new ones.
    fn cut(&self) {
        let mut s = self.state.lock().unwrap();
        s.up = false;
        for c in s.conns.drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.state.lock().unwrap().up = true;
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// `postgres://user@host:port/db?x` → (`host:port`, the URL with `127.0.0.1:port` instead).
fn via_proxy(url: &str, proxy_port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("URL with a scheme");
    let cut = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let upstream = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    (
        upstream,
        format!("{scheme}://{userinfo}127.0.0.1:{proxy_port}{path}"),
    )
}

/// What the load saw, shared between its task and the test.
#[derive(Default)]
struct LoadLog {
    rounds_done: AtomicUsize,
    unavailable: AtomicUsize,
    /// Rounds completed after the restore with not a single 503.
    clean_rounds_after_restore: AtomicUsize,
    restored: AtomicBool,
    stop: AtomicBool,
    /// Per card: the final 55 answers (each must be one recorded failure).
    failures: Mutex<HashMap<usize, usize>>,
    approvals: AtomicUsize,
}

/// One verification, retried with the same transaction id while the server answers 503
/// `store_unavailable` (a switch's retry). Any other non-200 answer fails the test. Returns the
/// final verdict and how many 503s it met.
async fn verify_until_answered(
    node: &Node,
    pan: &str,
    password: &str,
    txn: &str,
) -> (Value, usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut unavailable = 0;
    loop {
        let (s, v) = node.verify_raw(pan, "second", password, txn).await;
        match s {
            200 => return (v, unavailable),
            503 => {
                assert_eq!(
                    v["error"]["code"], "store_unavailable",
                    "a 503 must say store_unavailable ({txn}): {v}"
                );
                unavailable += 1;
                assert!(
                    Instant::now() < deadline,
                    "{txn}: still 503 after 90 s: the server did not recover"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => panic!("{txn}: answered {s} {v} (only 200 or 503 store_unavailable allowed)"),
        }
    }
}

/// Rounds of verifications against `node` until told to stop. Each round sets the node's clock to
/// a new step and sends, per card at once: the right code twice (two transactions) and a wrong
/// code. After any 503 retries (same transaction), each card must end the round with exactly one
/// approval and one 55 `replayed` for the right code, and 55 `wrong_password` for the wrong one:
/// an outage may delay an answer, never turn it into a wrong approval or a wrong decline.
async fn verification_load(
    node: Node,
    other: Node,
    tokens: Arc<Vec<Token>>,
    start_ms: i64,
    log: Arc<LoadLog>,
) {
    let step = i64::from(tokens[0].step_secs) * 1000;
    let mut round = 0i64;
    while !log.stop.load(Ordering::SeqCst) {
        round += 1;
        let now = start_ms + round * step;
        // The admin key is cached by then: moving the clock needs no database.
        node.set_clock(now).await;
        other.set_clock(now).await;
        let restored_before = log.restored.load(Ordering::SeqCst);
        let mut set = JoinSet::new();
        for (c, t) in tokens.iter().enumerate() {
            let right = t.code("second", now);
            let wrong = wrong_code(t, "second", now);
            for (what, password) in [("ok1", &right), ("ok2", &right), ("bad", &wrong)] {
                let (node, password) = (node.clone(), password.clone());
                let txn = format!("R{round}-C{c}-{what}");
                set.spawn(async move {
                    let (v, u) =
                        verify_until_answered(&node, &pan_no(500 + c), &password, &txn).await;
                    (c, what, txn, v, u)
                });
            }
        }
        let mut per_card: HashMap<usize, Vec<(&str, String, Value)>> = HashMap::new();
        let mut round_unavailable = 0;
        while let Some(r) = set.join_next().await {
            let (c, what, txn, v, u) = r.expect("load task");
            round_unavailable += u;
            per_card.entry(c).or_default().push((what, txn, v));
        }
        log.unavailable
            .fetch_add(round_unavailable, Ordering::SeqCst);
        for (c, answers) in per_card {
            let mut approved = 0;
            for (what, txn, v) in &answers {
                if *what == "bad" {
                    assert_verdict(v, "55", "wrong_password", txn);
                } else if v["approved"] == true {
                    assert_verdict(v, "00", "approved", txn);
                    approved += 1;
                } else {
                    assert_verdict(v, "55", "replayed", txn);
                }
            }
            assert_eq!(
                approved, 1,
                "round {round}, card {c}: a right, unused code sent twice must be approved exactly once: {answers:?}"
            );
            log.approvals.fetch_add(1, Ordering::SeqCst);
            *log.failures.lock().unwrap().entry(c).or_default() += 2;
        }
        if restored_before && round_unavailable == 0 {
            log.clean_rounds_after_restore
                .fetch_add(1, Ordering::SeqCst);
        }
        log.rounds_done.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (bounded) until `done`; a load that stopped (its checks failed) fails the test with its
/// own message.
async fn wait_load(load: &mut tokio::task::JoinHandle<()>, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        if load.is_finished() {
            (&mut *load).await.expect("the verification load's checks");
            panic!("the verification load stopped early");
        }
        assert!(Instant::now() < deadline, "waited 120 s for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PostgreSQL goes away under one server for a few seconds while verifications run, then comes
/// back. During the outage the server answers 503 `store_unavailable` (or a correct verdict),
/// never a wrong approval and never a decline of a right, unused code; /v1/health answers 503,
/// and 200 again after the restore without any restart; a node with its own connection keeps
/// working all along; failures recorded are exactly the 55s answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_answers_503_and_the_server_recovers() {
    let Some(admin) = postgres_url() else {
        return skip("postgres_outage_answers_503_and_the_server_recovers");
    };
    let mut pg = fresh_pg(&admin);
    let direct_url = pg.url.clone();
    let (upstream, _) = via_proxy(&direct_url, 0);
    let proxy = PgProxy::start(upstream);
    let (_, proxied_url) = via_proxy(&direct_url, proxy.port);
    pg.url = proxied_url;
    let db = Arc::new(pg);
    let shared: PathBuf = tempfile::tempdir().expect("tempdir").keep();
    let config = format!(
        "{}\n[server]\nmaster_key_file = {:?}\n[sms_provider]\npath = {:?}\n",
        config_many_failures(),
        shared.join("master.key").display().to_string(),
        shared.join("sms-outbox.jsonl").display().to_string(),
    );
    // Node A reaches PostgreSQL through the proxy; node B directly.
    let a_srv = TestServer::start_node(&config, &[], Some(db.clone()), None);
    assert!(
        proxy.accepted.load(Ordering::SeqCst) > 0,
        "node A goes through the proxy"
    );
    let b_srv = TestServer::start_node(
        &config,
        &["--database-url", &direct_url],
        None,
        Some(a_srv.keys.clone()),
    );
    let (a, b) = (Node::of(&a_srv), Node::of(&b_srv));
    let outbox = a_srv.outbox_path();
    let both = [a.clone(), b.clone()];
    sync_clocks(&both, 1, 0).await;

    const CARDS: usize = 4;
    let mut tokens = Vec::new();
    for c in 0..CARDS {
        tokens.push(enrolled_card(500 + c, &a, &a, &a, &a, &outbox).await);
    }
    let tokens = Arc::new(tokens);
    let start_ms = sync_clocks(&both, i64::from(tokens[0].step_secs), 5_000).await;
    assert_eq!(a.health().await.0, 200);

    let log = Arc::new(LoadLog::default());
    let mut load = tokio::spawn(verification_load(
        a.clone(),
        b.clone(),
        tokens.clone(),
        start_ms,
        log.clone(),
    ));
    wait_load(&mut load, "two rounds before the outage", || {
        log.rounds_done.load(Ordering::SeqCst) >= 2
    })
    .await;
    assert_eq!(
        log.unavailable.load(Ordering::SeqCst),
        0,
        "503s before any outage"
    );

    // The outage.
    let t0 = Instant::now();
    proxy.cut();
    let (s, v) = a.health().await;
    assert_eq!(s, 503, "health during the outage: {v}");
    assert_eq!(v["error"]["code"], "store_unavailable", "{v}");
    eprintln!("health answered 503 after {:?} of outage", t0.elapsed());
    let (s, v) = b.health().await;
    assert_eq!(
        s, 200,
        "the node with its own connection stays healthy: {v}"
    );
    let probe_pan = pan_no(500);
    let since_cut = t0.elapsed();
    if since_cut < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_secs(3) - since_cut).await;
    }
    let (s, v) = a.health().await;
    assert_eq!(s, 503, "health still 503 while the proxy is cut: {v}");
    proxy.restore();
    let outage = t0.elapsed();
    log.restored.store(true, Ordering::SeqCst);

    // Recovery on its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _) = a.health().await;
        if s == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health still {s} 30 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = t0.elapsed() - outage;
    // Then a flapping link: short cuts that land in the middle of transactions and commits (a
    // commit whose answer is lost must not change what a retry of the same transaction answers).
    let rounds_before_flap = log.rounds_done.load(Ordering::SeqCst);
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(150)).await;
        proxy.restore();
    }
    log.clean_rounds_after_restore.store(0, Ordering::SeqCst);
    wait_load(&mut load, "a round ending after the flapping", || {
        log.rounds_done.load(Ordering::SeqCst) > rounds_before_flap
    })
    .await;
    wait_load(
        &mut load,
        "two rounds without a 503 after the restore",
        || log.clean_rounds_after_restore.load(Ordering::SeqCst) >= 2,
    )
    .await;
    log.stop.store(true, Ordering::SeqCst);
    load.await.expect("the load's checks passed");
    let unavailable = log.unavailable.load(Ordering::SeqCst);
    eprintln!(
        "outage {outage:?}, health 200 again {recovered_after:?} after the restore; \
         {} rounds, {} approvals, {unavailable} answers 503 along the way",
        log.rounds_done.load(Ordering::SeqCst),
        log.approvals.load(Ordering::SeqCst)
    );
    assert!(
        unavailable > 0,
        "no verification met the outage: the test did not test anything"
    );

    // A fresh right code after the restore: approved at once, on the node that lost its database.
    let round_ms = i64::from(tokens[0].step_secs) * 1000;
    let now = a.now_ms().await + round_ms;
    set_clocks(&both, now).await;
    let code = tokens[0].code("second", now);
    let v = a.verify(&probe_pan, "second", &code, "FRESH").await;
    assert_verdict(&v, "00", "approved", "a fresh code after the restore");

    // Failures: exactly the 55s answered, none from the outage's 503s; both nodes agree.
    let failures = log.failures.lock().unwrap().clone();
    for (c, _) in tokens.iter().enumerate() {
        for node in &both {
            let info = node.card_info(&pan_no(500 + c)).await;
            assert_eq!(info["dynamic"]["state"], "active", "{info}");
            assert_eq!(
                info["recent_failures"], failures[&c],
                "card {c}: recent_failures must equal the 55 answers; an outage answer counted \
                 as a failure would show here: {info}"
            );
        }
    }
    drop(b_srv);
    drop(a_srv);
    drop(db);
    drop(proxy);
    let _ = std::fs::remove_dir_all(&shared);
}
