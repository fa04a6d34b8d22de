//! The load: C workers, each on its own keep-alive connection, send right (and a share of wrong)
//! codes until the deadline; the fake clock moves one step once every card has given its codes
//! (every node's clock, with `--nodes`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::io::Write as _;

use bytes::Bytes;
use pooya_bench::{bearer, micros, send_and_judge, Conn, Expect, Request, Res};
use serde_json::{json, Value};

use crate::cards::{Cards, PIN, STEP_MS};
use crate::http::{expect, new_client};
use crate::server::Keys;

/// The server's (fake, standing) time; moved only with every request of the step answered.
pub struct Round {
    pub now_ms: i64,
    pub number: u64,
}

#[derive(Default)]
pub struct WorkerReport {
    /// Of right answers to right codes (or health probes).
    pub latencies_us: Vec<u32>,
    /// Right answers not timed: declines of wrong codes.
    pub other_ok: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub error_examples: Vec<String>,
    pub clock_advances: u64,
    pub clock_time: Duration,
}

pub struct Shared {
    /// The nodes' URLs: worker w talks to node w % N.
    pub bases: Vec<String>,
    pub keys: Arc<Keys>,
    pub cards: Cards,
    pub round: tokio::sync::RwLock<Round>,
    /// Index of the next (card, kind) of this round: `i % N` is the card, `Cards::kinds()[i / N]`
    /// the kind (app tokens: `i < N` the first password, `N <= i < 2N` the second; hardware
    /// tokens: the second only, `i < N`).
    pub next: AtomicUsize,
    pub deadline: Instant,
    pub wrong_share: f64,
    pub health: bool,
}

pub async fn worker(w: usize, sh: Arc<Shared>) -> Res<WorkerReport> {
    // The clock moves rarely: through reqwest. The load goes through the worker's own
    // connection, with everything but the card, the code and the transaction id made here once.
    let http = new_client(1)?;
    let mut conn = Conn::new(&sh.bases[w % sh.bases.len()])?;
    let auth = bearer(&sh.keys.switch)?;
    let n = sh.cards.len();
    let kinds = sh.cards.kinds();
    let mut body = Vec::with_capacity(192);
    let mut rep = WorkerReport::default();
    let mut seq = 0u64;
    while Instant::now() < sh.deadline {
        if sh.health {
            let t0 = Instant::now();
            let (j, detail) = send_and_judge(
                &mut conn,
                Request::Health { path: "/v1/health" },
                Expect::Healthy,
            )
            .await;
            rep.record(j, detail, t0.elapsed(), true);
            continue;
        }
        let round = sh.round.read().await;
        let i = sh.next.fetch_add(1, Ordering::Relaxed);
        if i >= kinds.len() * n {
            // Every card gave its codes of this step: move the clock once all requests in
            // flight are answered (the write lock waits for them).
            let seen = round.number;
            drop(round);
            let t0 = Instant::now();
            let mut r = sh.round.write().await;
            if r.number == seen {
                let body = json!({"advance_ms": STEP_MS});
                move_clocks(&http, &sh.bases, &sh.keys.admin, &body, r.now_ms + STEP_MS).await?;
                r.now_ms += STEP_MS;
                r.number += 1;
                sh.next.store(0, Ordering::Relaxed);
                rep.clock_advances += 1;
                rep.clock_time += t0.elapsed();
            }
            continue;
        }
        let card = i % n;
        let second = kinds[i / n];
        let right = sh.cards.code(card, second, round.now_ms);
        let wrong = pooya_bench::is_wrong(i as u64, round.number, sh.wrong_share);
        let (password, want) = if wrong {
            // Never the static PIN (with `static_pin_with_dynamic` it is approved) nor a code of
            // the ten steps before this one (the server answers those `expired_password` or
            // `replayed`).
            let mut avoid = vec![PIN.to_owned()];
            avoid.extend((1..=10).map(|k| sh.cards.code(card, second, round.now_ms - k * STEP_MS)));
            (
                pooya_bench::wrong_code(&right, &avoid),
                Expect::WrongPassword,
            )
        } else {
            (right, Expect::Approved)
        };
        seq += 1;
        // The request's JSON, written straight as bytes: card numbers, codes and ids are ASCII
        // letters and digits, nothing to escape.
        body.clear();
        write!(
            body,
            r#"{{"pan":"{}","kind":"{}","password":"{password}","txn":{{"id":"w{w}r{}n{seq}","amount":1250000,"merchant":"Load test shop"}}}}"#,
            sh.cards.pan(card),
            if second { "second" } else { "first" },
            round.number,
        )
        .expect("writing to a Vec");
        let t0 = Instant::now();
        let req = Request::Verify {
            path: "/v1/verify",
            auth: &auth,
            body: Bytes::copy_from_slice(&body),
        };
        let (j, detail) = send_and_judge(&mut conn, req, want).await;
        let took = t0.elapsed();
        drop(round);
        rep.record(j, detail, took, want == Expect::Approved);
    }
    Ok(rep)
}

/// Sends `body` to every node's `POST /v1/test/clock` (one after the other) and checks that each
/// clock then stands at `want_ms`.
pub async fn move_clocks(
    http: &reqwest::Client,
    bases: &[String],
    admin: &str,
    body: &Value,
    want_ms: i64,
) -> Res<()> {
    for base in bases {
        let url = format!("{base}/v1/test/clock");
        let v = expect(http, &url, Some(admin), body.clone(), 200).await?;
        if v["unix_ms"].as_i64() != Some(want_ms) {
            return Err(format!("the clock of {base} is at {v}, expected {want_ms}"));
        }
    }
    Ok(())
}

impl WorkerReport {
    /// Counts an answer; a right one's latency is a data point when `timed`.
    pub fn record(
        &mut self,
        j: pooya_bench::Judged,
        detail: Option<String>,
        took: Duration,
        timed: bool,
    ) {
        // Counted without a new String for a label already seen: one per answer would show in
        // the driver's CPU.
        match self.outcomes.get_mut(&j.label) {
            Some(c) => *c += 1,
            None => {
                self.outcomes.insert(j.label.clone(), 1);
            }
        }
        if j.ok {
            if timed {
                self.latencies_us.push(micros(took));
            } else {
                self.other_ok += 1;
            }
        } else {
            *self.errors.entry(j.label).or_default() += 1;
            if let Some(d) = detail {
                if self.error_examples.len() < 5 {
                    self.error_examples.push(d);
                }
            }
        }
    }
}
