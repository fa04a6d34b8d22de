//! Crash test (hardening, item 7): a verification load on several cards, the server killed with
//! SIGKILL at a random moment, restarted on the same data, and checked after every restart:
//! - **no approved code approved again**: the last code approved on each card, typed for a new
//!   transaction, is refused (R3);
//! - **no failure count lost**: each card's `recent_failures` and lock state equal what the load
//!   was told (R5);
//! - **no outbox message lost**: every unified transaction SMS the switch was told was queued
//!   (R24), and every activation SMS of an answered ATM activation (R8), is in the outbox.
//!
//! A request cut by the kill has no known outcome: after the restart it is sent again unchanged
//! (`/v1/verify` and `/v1/otp-requests` are idempotent on the transaction id), and its answer
//! is the outcome. An ATM activation cut by the kill is simply done again.
//!
//! `crash::sigkill_and_restart` kills `POOYA_CRASH_KILLS` times (default 5, CI's short form) on the
//! store the suite runs on; the full form is the same test with 100: docs/crash-test.md.

use crate::common::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CARDS: usize = 4;
/// Codes live 5 minutes (the longest allowed): a message that a killed server had claimed waits
/// out its lease (a minute) after the restart and still leaves with a live code.
const STEP_MS: i64 = 300_000;
const LEASE_MS: i64 = 60_000;
const MAX_FAILURES: usize = 5;
const WINDOW_MS: i64 = 24 * 3600 * 1000;

/// A small deterministic generator (splitmix64): a failing schedule can be run again from its seed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the load knows of one card: only answers it received.
struct Card {
    pan: String,
    mobile: String,
    token: Option<Token>,
    /// Failures the server answered (55), by the server's time.
    failures: Vec<i64>,
    locked: bool,
    /// The last code approved, for the replay check.
    last_approved: Option<String>,
    /// Requests sent whose answer never came (the kill cut them).
    unknown: Vec<Value>,
    /// An ATM activation or enrollment was cut: do it again.
    needs_activation: bool,
}

impl Card {
    fn recent_failures(&self, now: i64) -> usize {
        self.failures
            .iter()
            .filter(|&&t| t > now - WINDOW_MS)
            .count()
    }
}

#[derive(Default)]
struct Tally {
    verifications: u64,
    approvals: u64,
    failures: u64,
    replays_refused: u64,
    otp_requests: u64,
    sms_checked: u64,
    activations: u64,
    retried_unknown: u64,
}

/// The load's view of the server: its URL changes with every restart.
#[derive(Clone)]
struct Conn {
    url: String,
    http: reqwest::Client,
    keys: Value,
}

enum Answer {
    Got(u16, Value),
    /// No answer: the server died under the request.
    Lost,
}

impl Conn {
    async fn post(&self, path: &str, role: Option<&str>, body: &Value) -> Answer {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(body);
        if let Some(r) = role {
            req = req.bearer_auth(self.keys[r].as_str().unwrap());
        }
        match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.json::<Value>().await {
                    Ok(v) => Answer::Got(status, v),
                    Err(_) => Answer::Lost,
                }
            }
            Err(_) => Answer::Lost,
        }
    }
}

struct Load {
    conn: Conn,
    now: i64,
    cards: Vec<Card>,
    /// Merchant names of the transaction SMS the server said it queued.
    expected_sms: Vec<String>,
    tally: Tally,
    next_txn: u64,
    rng: Rng,
    /// Set once the server is killed: waits for the outbox end.
    stop: Arc<AtomicBool>,
    /// The last requests, for a failure's message.
    journal: std::collections::VecDeque<String>,
}

impl Load {
    fn note(&mut self, what: String) {
        if self.journal.len() >= 40 {
            self.journal.pop_front();
        }
        self.journal.push_back(format!("t={} {what}", self.now));
    }

    fn txn_id(&mut self) -> String {
        self.next_txn += 1;
        format!("T{}", self.next_txn)
    }

    /// Applies the answer of a verification to the card; panics on an answer the card's known
    /// state rules out.
    fn take_verify(&mut self, i: usize, body: &Value, expect_right: bool, v: &Value) {
        self.tally.verifications += 1;
        let c = &mut self.cards[i];
        let code = v["response_code"].as_str().unwrap_or_default();
        let approved = v["approved"].as_bool().unwrap_or(false);
        if c.locked {
            assert_eq!(code, "75", "{}: a locked card answered {v}", mask(&c.pan));
            return;
        }
        match code {
            "00" => {
                assert!(approved && expect_right, "{v} for {body}");
                self.tally.approvals += 1;
                c.last_approved = Some(body["password"].as_str().unwrap().to_owned());
            }
            "55" => {
                self.tally.failures += 1;
                c.failures.push(self.now);
                if c.recent_failures(self.now) >= MAX_FAILURES {
                    c.locked = true;
                    c.token = None;
                }
            }
            "75" => panic!(
                "{}: locked after {} failures, fewer than {MAX_FAILURES}: {v}",
                mask(&c.pan),
                c.recent_failures(self.now)
            ),
            _ => panic!("unexpected verification answer {v}"),
        }
    }

    /// One verification; `false` when the server died under it.
    async fn verify(&mut self, i: usize, password: String, expect_right: bool) -> bool {
        let id = self.txn_id();
        let body = json!({"pan": self.cards[i].pan, "kind": "second", "password": password,
                          "txn": {"id": id, "amount": 1000, "merchant": "Shop"}});
        self.send_verify(i, body, expect_right).await
    }

    async fn send_verify(&mut self, i: usize, body: Value, expect_right: bool) -> bool {
        match self.conn.post("/v1/verify", Some("switch"), &body).await {
            Answer::Got(200, v) => {
                self.take_verify(i, &body, expect_right, &v);
                true
            }
            Answer::Got(s, v) => panic!("verify answered {s} {v}"),
            Answer::Lost => {
                self.cards[i]
                    .unknown
                    .push(json!({"verify": body, "right": expect_right}));
                false
            }
        }
    }

    async fn otp_request(&mut self, i: usize) -> bool {
        let id = self.txn_id();
        let merchant = format!("Shop {id} end");
        let body = json!({"pan": self.cards[i].pan,
                          "txn": {"id": id, "amount": 2000, "merchant": merchant}});
        self.send_otp_request(i, body).await
    }

    async fn send_otp_request(&mut self, i: usize, body: Value) -> bool {
        let a = self
            .conn
            .post("/v1/otp-requests", Some("switch"), &body)
            .await;
        self.note(format!(
            "card {i} otp-request {}: {}",
            body["txn"]["merchant"],
            match &a {
                Answer::Got(s, v) => format!("{s} {v}"),
                Answer::Lost => "lost".into(),
            }
        ));
        match a {
            Answer::Got(202, _) => {
                self.tally.otp_requests += 1;
                self.expected_sms
                    .push(body["txn"]["merchant"].as_str().unwrap().to_owned());
                true
            }
            // A card locked by the cut requests: nothing queued, nothing expected.
            Answer::Got(403, v) if v["error"]["code"] == "locked" => {
                assert!(self.cards[i].locked, "otp-request refused as locked: {v}");
                true
            }
            Answer::Got(s, v) => panic!("otp-request answered {s} {v}"),
            Answer::Lost => {
                self.cards[i].unknown.push(json!({"otp": body}));
                false
            }
        }
    }

    /// ATM app activation and enrollment: a fresh token, failures cleared.
    async fn activate(&mut self, i: usize, outbox: &dyn Fn() -> Vec<Value>) -> bool {
        let (pan, mobile) = (self.cards[i].pan.clone(), self.cards[i].mobile.clone());
        self.cards[i].needs_activation = true;
        let codes_before = activation_codes(&outbox(), &mobile).len();
        let body = json!({"pan": pan, "pin": PIN, "mobile": mobile});
        let receipt = match self
            .conn
            .post("/v1/atm/activate-app", Some("atm"), &body)
            .await
        {
            Answer::Got(200, v) => v["receipt_code"].as_str().unwrap().to_owned(),
            Answer::Got(s, v) => panic!("activate-app answered {s} {v}"),
            Answer::Lost => return false,
        };
        self.tally.activations += 1;
        self.note(format!("card {i} activated"));
        let c = &mut self.cards[i];
        c.failures.clear();
        c.locked = false;
        c.token = None;
        c.last_approved = None;
        // The activation SMS was queued with the answer: it must reach the outbox, kill or not.
        // (An activation cut by a kill may have queued one too: the newest code is tried first.)
        // A code tried and refused (an earlier, cut activation's SMS arriving late) is skipped;
        // the right one must arrive within the deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut tried = Vec::new();
        loop {
            let codes = activation_codes(&outbox(), &mobile);
            let fresh: Vec<String> = codes
                .into_iter()
                .skip(codes_before)
                .filter(|c| !tried.contains(c))
                .collect();
            for sms in fresh.iter().rev() {
                tried.push(sms.clone());
                match enroll(&self.conn, &pan, &receipt, sms).await {
                    Enrolled::Token(t) => {
                        self.cards[i].token = Some(t);
                        self.cards[i].needs_activation = false;
                        return true;
                    }
                    Enrolled::WrongCode => continue,
                    Enrolled::Lost => return false,
                }
            }
            if self.stop.load(Ordering::SeqCst) {
                return false; // the server died before it sent the SMS: activated again later
            }
            assert!(
                Instant::now() < deadline,
                "no activation SMS to {} enrolls the app ({} tried; outbox file has {} \
                 messages; the server's outbox: {})",
                mask(&mobile),
                tried.len(),
                outbox().len(),
                self.conn.get("/v1/admin/outbox", "admin").await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One round of load on card `i` at the current step: the right code, sometimes a wrong one,
    /// sometimes a transaction SMS.
    async fn round(
        &mut self,
        i: usize,
        stop: &AtomicBool,
        outbox: &dyn Fn() -> Vec<Value>,
    ) -> bool {
        if self.cards[i].locked || self.cards[i].token.is_none() {
            return true; // activated between rounds
        }
        let right = self.cards[i]
            .token
            .as_ref()
            .unwrap()
            .code("second", self.now);
        if !self.verify(i, right, true).await {
            return false;
        }
        if self.rng.below(3) == 0 && !self.verify(i, "00000000".into(), false).await {
            return false;
        }
        if self.rng.below(4) == 0 && !self.cards[i].locked {
            if !self.otp_request(i).await {
                return false;
            }
            // The holder waits for the SMS before going on (the clock races ahead otherwise).
            if let Some(m) = self.expected_sms.last().cloned() {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !outbox()
                    .iter()
                    .any(|x| x["text"].as_str().is_some_and(|t| t.contains(m.as_str())))
                {
                    if stop.load(Ordering::SeqCst) {
                        return false;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "a transaction SMS was not delivered while the server ran"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        true
    }

    async fn set_clock(&self) {
        match self
            .conn
            .post(
                "/v1/test/clock",
                Some("admin"),
                &json!({"set_unix_ms": self.now}),
            )
            .await
        {
            Answer::Got(200, _) | Answer::Lost => {}
            Answer::Got(s, v) => panic!("clock answered {s} {v}"),
        }
    }
}

fn mask(s: &str) -> String {
    let n = s.len();
    if n <= 10 {
        return "*".repeat(n);
    }
    format!("{}{}{}", &s[..6], "*".repeat(n - 10), &s[n - 4..])
}

/// The activation codes sent to `mobile`, oldest first.
fn activation_codes(outbox: &[Value], mobile: &str) -> Vec<String> {
    outbox
        .iter()
        .filter(|m| m["to"] == mobile)
        .filter_map(|m| first_digit_run(m["text"].as_str()?, 6))
        .collect()
}

/// The outbox file, whole lines only (the delivery worker may be writing the last one).
fn read_outbox(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

enum Enrolled {
    Token(Token),
    /// The app found the server's confirmation wrong: not this SMS code.
    WrongCode,
    Lost,
}

/// The app's side of enrollment (the real client library).
async fn enroll(conn: &Conn, pan: &str, receipt: &str, sms: &str) -> Enrolled {
    use pooya_enroll::{b64_decode, b64_encode, ClientEnrollment};
    let (client, msg) = ClientEnrollment::start(pan, receipt, sms);
    let body = json!({"pan": pan, "spake_msg": b64_encode(&msg)});
    let v = match conn.post("/v1/app/enrollments", None, &body).await {
        Answer::Got(201, v) => v,
        Answer::Got(s, v) => panic!("enrollment start answered {s} {v}"),
        Answer::Lost => return Enrolled::Lost,
    };
    let server_msg = b64_decode(v["spake_msg"].as_str().unwrap()).unwrap();
    let confirm = b64_decode(v["confirm"].as_str().unwrap()).unwrap();
    let id = v["enrollment_id"].as_str().unwrap();
    let Ok(f) = client.finish(&server_msg, &confirm) else {
        return Enrolled::WrongCode;
    };
    let path = format!("/v1/app/enrollments/{id}/confirm");
    let t = match conn
        .post(&path, None, &json!({"confirm": b64_encode(&f.confirm)}))
        .await
    {
        Answer::Got(200, t) => t,
        Answer::Got(s, v) => panic!("enrollment confirm answered {s} {v}"),
        Answer::Lost => return Enrolled::Lost,
    };
    Enrolled::Token(Token {
        token_id: t["token_id"].as_str().unwrap().to_owned(),
        seed: f.seed,
        step_secs: t["lifetime_secs"].as_u64().unwrap() as u32,
        algorithm: t["algorithm"].as_str().unwrap().parse().unwrap(),
        first_digits: t["first_digits"].as_u64().unwrap() as u8,
        second_digits: t["second_digits"].as_u64().unwrap() as u8,
    })
}

/// Runs the load until `stop`, one round of every card per time step. Returns when the server
/// stops answering (or `stop` is set between rounds).
async fn run_load(load: &mut Load, stop: &AtomicBool, outbox: &dyn Fn() -> Vec<Value>) {
    while !stop.load(Ordering::SeqCst) {
        // The fake clock jumps a step in milliseconds: first let every queued SMS leave, as real
        // time would (else its code dies before the worker gets to it).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match load.conn.outbox_queued().await {
                Some(0) => break,
                Some(n) => assert!(
                    Instant::now() < deadline,
                    "{n} SMS stay queued while the server runs"
                ),
                None => return,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The next step, 20 s in: one step's code is the only live one.
        load.now = (load.now / STEP_MS + 1) * STEP_MS + 20_000;
        load.set_clock().await;
        for i in 0..load.cards.len() {
            let ok = if load.cards[i].locked || load.cards[i].needs_activation {
                load.activate(i, outbox).await
            } else {
                load.round(i, stop, outbox).await
            };
            if !ok {
                return;
            }
        }
    }
}

/// After a restart: the cut requests sent again, then every check.
async fn check_after_restart(
    load: &mut Load,
    outbox: &dyn Fn() -> Vec<Value>,
    log_path: &std::path::Path,
    kill: usize,
) {
    // Past the lease of whatever the killed server's worker had claimed (the step stays the same).
    load.now += LEASE_MS + 1000;
    load.set_clock().await;
    for i in 0..load.cards.len() {
        // Cut requests, in the order they were sent: their answer now is their outcome.
        for u in std::mem::take(&mut load.cards[i].unknown) {
            load.tally.retried_unknown += 1;
            let done = if let Some(body) = u.get("verify") {
                let right = u["right"].as_bool().unwrap();
                load.send_verify(i, body.clone(), right).await
            } else {
                load.send_otp_request(i, u["otp"].clone()).await
            };
            assert!(done, "kill {kill}: the restarted server did not answer");
        }
    }
    // An activation or enrollment the kill cut: done again first (it clears the failures).
    for i in 0..load.cards.len() {
        if load.cards[i].needs_activation {
            assert!(
                load.activate(i, outbox).await,
                "kill {kill}: the restarted server did not answer"
            );
        }
    }
    for i in 0..load.cards.len() {
        let pan = load.cards[i].pan.clone();
        // No approved code approved again (R3).
        if let Some(code) = load.cards[i].last_approved.clone() {
            if !load.cards[i].locked {
                let id = load.txn_id();
                let body = json!({"pan": pan, "kind": "second", "password": code,
                                  "txn": {"id": id, "amount": 1000, "merchant": "Shop"}});
                let v = match load.conn.post("/v1/verify", Some("switch"), &body).await {
                    Answer::Got(200, v) => v,
                    _ => panic!("kill {kill}: no answer to the replay check"),
                };
                assert_ne!(
                    v["approved"],
                    true,
                    "kill {kill}: {}: a code approved before the kill was approved again: {v}",
                    mask(&pan)
                );
                load.tally.replays_refused += 1;
                load.take_verify(i, &body, false, &v);
            }
        }
        // No failure count lost (R5).
        let v = match load.conn.post_get(&format!("/v1/cards/{pan}")).await {
            Some(v) => v,
            None => panic!("kill {kill}: no card answer"),
        };
        let c = &load.cards[i];
        let want = c.recent_failures(load.now);
        assert_eq!(
            v["recent_failures"].as_u64(),
            Some(want as u64),
            "kill {kill}: {}: failures the load was told of: {want}; the server: {v}",
            mask(&pan)
        );
        let state = v["dynamic"]["state"].as_str().unwrap_or_default();
        assert_eq!(
            state == "locked",
            c.locked,
            "kill {kill}: {}: lock state {v}",
            mask(&pan)
        );
    }
    // No outbox message lost: every transaction SMS the switch was told was queued.
    let expected = std::mem::take(&mut load.expected_sms);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let texts: Vec<String> = outbox()
            .iter()
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect();
        let missing: Vec<&String> = expected
            .iter()
            .filter(|m| !texts.iter().any(|t| t.contains(m.as_str())))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kill {kill}: {} queued SMS never reached the outbox: {missing:?}",
            missing.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    load.tally.sms_checked += expected.len() as u64;
    let v = load.conn.get("/v1/admin/outbox", "admin").await;
    if v["given_up"] != 0 {
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("given up")).collect();
        let ids: Vec<String> = lines
            .iter()
            .filter_map(|l| l.split("id=").nth(1))
            .map(|r| format!("id={}", r.split(' ').next().unwrap_or("")))
            .collect();
        let about: Vec<&str> = log
            .lines()
            .filter(|l| ids.iter().any(|id| l.contains(&format!("{id} "))))
            .collect();
        let journal: Vec<&String> = load.journal.iter().collect();
        panic!(
            "kill {kill}: SMS given up: {v}\n{}\nlog of those messages:\n{}\nlast requests:\n{journal:#?}",
            lines.join("\n"),
            about.join("\n")
        );
    }
}

impl Conn {
    /// How many SMS wait in the server's outbox; `None` when the server does not answer.
    async fn outbox_queued(&self) -> Option<u64> {
        let res = self
            .http
            .get(format!("{}/v1/admin/outbox", self.url))
            .bearer_auth(self.keys["admin"].as_str().unwrap())
            .send()
            .await
            .ok()?;
        let v: Value = res.json().await.ok()?;
        v["queued"].as_u64()
    }

    async fn get(&self, path: &str, role: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(self.keys[role].as_str().unwrap())
            .send()
            .await
            .expect("the restarted server answers");
        assert_eq!(res.status().as_u16(), 200);
        res.json().await.expect("JSON")
    }

    async fn post_get(&self, path: &str) -> Option<Value> {
        let res = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(self.keys["branch"].as_str().unwrap())
            .send()
            .await
            .ok()?;
        assert_eq!(res.status().as_u16(), 200);
        res.json().await.ok()
    }
}

/// The crash test: `kills` SIGKILLs at random moments of the load. Returns a one-line summary.
pub async fn crash_test(kills: usize, seed: u64) -> String {
    let started = Instant::now();
    let config =
        format!("{TEST_CONFIG}\n[policy.otp]\nlifetime_secs = 300\nmax_lifetime_secs = 300\n");
    let mut srv = TestServer::start_with(&config, &[]).await;
    let mut rng = Rng(seed);
    let mut cards = Vec::new();
    for i in 0..CARDS {
        let mobile = format!("0912000{:04}", 100 + i);
        let pan = pan_with("628023", &format!("00000{:04}", 10 + i));
        srv.customer(&format!("C{i}"), &mobile).await;
        srv.card(&pan, &format!("C{i}")).await;
        cards.push(Card {
            pan,
            mobile,
            token: None,
            failures: Vec::new(),
            locked: false,
            last_approved: None,
            unknown: Vec::new(),
            needs_activation: true,
        });
    }
    let mut load = Load {
        conn: Conn {
            url: srv.url.clone(),
            http: srv.http.clone(),
            keys: srv.keys.clone(),
        },
        now: srv.now_ms().await,
        cards,
        expected_sms: Vec::new(),
        tally: Tally::default(),
        next_txn: 0,
        rng: rng.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        journal: Default::default(),
    };
    let outbox_path = srv.outbox_path();
    let outbox = move || read_outbox(&outbox_path);
    for kill in 1..=kills {
        let stop = Arc::new(AtomicBool::new(false));
        load.stop = stop.clone();
        let delay = Duration::from_millis(50 + rng.below(1200));
        // The load runs on this task; the kill comes from a timer beside it.
        {
            let load_fut = run_load(&mut load, &stop, &outbox);
            tokio::pin!(load_fut);
            tokio::select! {
                _ = &mut load_fut => panic!("kill {kill}: the load stopped before the kill"),
                _ = tokio::time::sleep(delay) => {}
            }
            // SIGKILL while requests are in flight, then let the load notice.
            srv.kill9();
            stop.store(true, Ordering::SeqCst);
            load_fut.await;
        }
        srv.restart();
        load.note(format!("killed and restarted ({kill})"));
        load.conn.url = srv.url.clone();
        load.stop = Arc::new(AtomicBool::new(false));
        check_after_restart(&mut load, &outbox, &srv.log_path(), kill).await;
    }
    let t = &load.tally;
    let summary = format!(
        "crash test ({} store): {kills} kills, {} verifications ({} approved, {} failures), \
         {} replays refused, {} transaction SMS checked, {} activations, {} cut requests \
         resolved, {:.0} s, seed {seed}",
        if postgres_mode() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        t.verifications,
        t.approvals,
        t.failures,
        t.replays_refused,
        t.sms_checked,
        t.activations,
        t.retried_unknown,
        started.elapsed().as_secs_f64()
    );
    summary
}

fn seed_from_env() -> u64 {
    std::env::var("POOYA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// `POOYA_CRASH_KILLS` kills (CI's short form: 5 by default; the full form is 100, run as
/// docs/crash-test.md says), on the store the suite runs on.
#[tokio::test]
async fn sigkill_and_restart() {
    let kills = std::env::var("POOYA_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let summary = crash_test(kills, seed_from_env()).await;
    eprintln!("{summary}");
    if let Ok(path) = std::env::var("POOYA_CRASH_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("report file");
        writeln!(f, "{summary}").expect("write report");
    }
}
