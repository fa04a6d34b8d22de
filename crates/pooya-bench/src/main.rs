//! `pooya-bench`: how many verifications per second one `pooya serve` decides, and how long each
//! answer takes; or, with `--target health`, its bare HTTP rate on `GET /v1/health`.
//!
//! ```sh
//! cargo build --release -p pooya -p pooya-bench       # the server binary it starts, and itself
//! $CARGO_TARGET_DIR/release/pooya-bench \
//!     [--database-url postgres://USER@HOST/DB] [--cards N] [--setup enroll|pskc] \
//!     [--connections C] [--seconds T] [--pool-size P] [--wrong-share F] \
//!     [--target verify|health] [--csv FILE] [--label TEXT]
//! $CARGO_TARGET_DIR/release/pooya-bench chart FILE.csv OUT.svg   # the chart of BENCHMARKS.md
//! ```
//!
//! It starts the release `pooya` binary that sits beside its own executable on a temporary data
//! directory, on SQLite or, with `--database-url`, on a fresh PostgreSQL database it creates
//! through that URL (`CREATE DATABASE pooya_load_…`) and drops at the end. Setup plays the bank and
//! the holders through the HTTP contract: N customers and cards at the branch, an app activation of
//! each at the ATM (the SMS code read from the file outbox) and an enrollment of each with the real
//! SPAKE2 client library, so the driver knows every token's seed without any public endpoint being
//! weakened. Static secrets use a cheap Argon2 cost; only setup and wrong codes hash them.
//!
//! That costs a few ms per card, too much for 10^5 or 10^6 cards: `--setup pskc` (the bulk setup;
//! never chosen by itself: the default stays `enroll`, which drives both passwords, and only
//! prints a note pointing here above 20 000 cards, as the two loads differ) registers the
//! N customers and cards at the branch over 16 connections, then imports a TOTP hardware token for
//! each through the admin PSKC import (`POST /v1/admin/pskc`, plain RFC 6030 files of 2 000 key
//! packages, two requests at once; the bench server's `[server] max_body_bytes` is raised to
//! 4 MiB for them). Token `i`'s seed is HMAC-SHA256 of the index under a random key of the run
//! (`pooya_bench::HardwareCards`), and card `i`'s number comes from `i` too, so the driver keeps
//! nothing per card. A hardware token is the card's second password only (8 digits, HMAC-SHA1,
//! the same 300 s step as the server's codes, so the clock stepping below holds); the first
//! password of such a card is the static PIN, so the load of this setup is second passwords
//! only, one per card and step.
//!
//! Then C workers, each with its own keep-alive HTTP connection, send `POST /v1/verify` for T
//! seconds, every request with a RIGHT, UNUSED dynamic password (first or second) of a card, on a
//! transaction id of its own — or, for a share F of the requests, a WRONG code of that card. A code
//! is good once per card, kind and TOTP step, so the server runs on its test-only fake clock
//! (`--unsafe-fake-clock`) standing in the middle of a 300 s step: when every card has given its
//! answers of the step (two with app tokens, one with hardware tokens), the driver waits for the
//! requests in flight, moves the clock one step on (`POST /v1/test/clock`, admin key) and goes on.
//! The lockout window is set shorter than a step (`[policy.lockout] window_secs = 200`), so a
//! card's wrong codes of one step (two at most) never lock it, and the PIN lock, which counts wrong
//! first passwords over 90 days, is off (`[policy.pin_lock] max_failures = 0`). The per-address
//! limit on `/v1/app/*` is off (`[limits] app_per_ip` burst 0): every holder of the setup enrolls
//! from the one loopback address.
//!
//! Every answer is checked (`pooya_bench::judge`): a right code must be approved, a wrong one
//! declined as `wrong_password`; anything else — a wrong approval as much as a wrong decline — is
//! an error, reported and never a data point. The exit status is 1 when there was any error.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pooya_bench::{
    card_pan, customer_id, micros, mobile, percentile, send_and_judge, Expect, HardwareCards,
    Request, Res,
};
use pooya_enroll::{b64_decode, b64_encode, ClientEnrollment};
use pooya_store_sql::test_support::TempPg;
use serde_json::{json, Value};

/// The TOTP step (= code lifetime) the server is configured with, in seconds.
const STEP_SECS: i64 = pooya_bench::STEP_SECS as i64;
const STEP_MS: i64 = STEP_SECS * 1000;
/// Cards are set up (enrolled, or registered at the branch) by this many concurrent holders at
/// most.
const SETUP_CONCURRENCY: usize = 16;
/// The bulk setup imports this many hardware tokens per PSKC file (about 510 bytes each in the
/// request, key package and assignment, so 2 000 make about 1 MB) …
const PSKC_CHUNK: u64 = 2_000;
/// … this many files at once …
const PSKC_CONCURRENCY: usize = 2;
/// … under this body limit (`[server] max_body_bytes` of the bench server's config).
const PSKC_MAX_BODY: usize = 4 << 20;
/// Above this many cards, `--setup enroll` warns that `--setup pskc` would be much faster.
const ENROLL_HINT_CARDS: usize = 20_000;
const PIN: &str = "1234";
const STATIC_SECOND: &str = "55555";

// ------------------------------------------------------------------ command line

/// How the cards are set up (`--setup`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Branch registration, ATM activation and SPAKE2 app enrollment of every card: app tokens,
    /// both passwords dynamic.
    Enroll,
    /// Branch registration, then TOTP hardware tokens imported in bulk through the admin PSKC
    /// import: the second password dynamic, the first the static PIN (not driven).
    Pskc,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Enroll => "enroll",
            Setup::Pskc => "pskc",
        }
    }
}

struct Args {
    database_url: Option<String>,
    cards: usize,
    setup: Setup,
    connections: usize,
    seconds: f64,
    pool_size: Option<u32>,
    wrong_share: f64,
    health: bool,
    csv: Option<PathBuf>,
    label: Option<String>,
}

const USAGE: &str = "usage: pooya-bench [--database-url postgres://…] [--cards N (200)] \
     [--setup enroll|pskc (enroll)] [--connections C (32)] [--seconds T (10)] [--pool-size P (server default)] \
     [--wrong-share F (0)] [--target verify|health] [--csv FILE (append one line)] \
     [--label TEXT (the csv line's series)]\n       pooya-bench chart FILE.csv OUT.svg";

fn parse_args() -> Res<Args> {
    let mut a = Args {
        database_url: None,
        cards: 200,
        setup: Setup::Enroll,
        connections: 32,
        seconds: 10.0,
        pool_size: None,
        wrong_share: 0.0,
        health: false,
        csv: None,
        label: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let bad = |v: &str| format!("{name}: bad value {v:?}\n{USAGE}");
        match name.as_str() {
            "--database-url" => a.database_url = Some(value()?),
            "--cards" => {
                let v = value()?;
                a.cards = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&v))?;
            }
            "--connections" => {
                let v = value()?;
                a.connections = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&v))?;
            }
            "--seconds" => {
                let v = value()?;
                a.seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or_else(|| bad(&v))?;
            }
            "--pool-size" => {
                let v = value()?;
                a.pool_size = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&v))?);
            }
            "--wrong-share" => {
                let v = value()?;
                a.wrong_share = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| (0.0..=1.0).contains(s))
                    .ok_or_else(|| bad(&v))?;
            }
            "--setup" => match value()?.as_str() {
                "enroll" => a.setup = Setup::Enroll,
                "pskc" => a.setup = Setup::Pskc,
                v => return Err(bad(v)),
            },
            "--target" => match value()?.as_str() {
                "verify" => a.health = false,
                "health" => a.health = true,
                v => return Err(bad(v)),
            },
            "--csv" => a.csv = Some(PathBuf::from(value()?)),
            "--label" => a.label = Some(value()?),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    if a.cards >= 10_000_000 {
        // Card numbers, customer ids and mobile numbers are made of the index's digits.
        return Err(format!("--cards: at most 9999999\n{USAGE}"));
    }
    if let Some(u) = &a.database_url {
        if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
            return Err("--database-url must be a postgres:// URL".into());
        }
    }
    Ok(a)
}

// ------------------------------------------------------------------ the server process

struct Server {
    child: Option<Child>,
    url: String,
    log: PathBuf,
}

impl Server {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGTERM, then wait (up to 15 s) for the graceful stop; SIGKILL after that.
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match c.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    eprintln!("server did not stop within 15 s of SIGTERM: killing it");
                    let _ = c.kill();
                    return c.wait().ok();
                }
            }
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `target/release/pooya`, beside this tool's own `target/release/pooya-bench`.
fn server_binary() -> Res<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe
        .parent()
        .ok_or("cannot find the target directory from this executable's path")?;
    let bin = dir.join(format!("pooya{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: build the server first with `cargo build --release -p pooya` \
             (with the same CARGO_TARGET_DIR as this tool)",
            bin.display()
        ));
    }
    if dir.file_name().is_some_and(|n| n != "release") {
        eprintln!(
            "warning: {} is not a release build; figures of a debug build mean little",
            bin.display()
        );
    }
    Ok(bin)
}

fn start_server(bin: &Path, work: &Path, data: &Path, db_url: Option<&str>) -> Res<Server> {
    let cfg = work.join("pooya.toml");
    let log = work.join("server.log");
    let logf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--config")
        .arg(&cfg)
        .arg("--unsafe-fake-clock")
        .env_remove("POOYA_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(logf));
    if let Some(u) = db_url {
        cmd.arg("--database-url").arg(u);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut server = Server {
        child: Some(child),
        url: String::new(),
        log,
    };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| format!("reading the server's first line: {e}"))?;
    let Some(url) = line.trim().strip_prefix("pooya listening on ") else {
        return Err(format!(
            "the server's first line was {:?} ({n} bytes), not `pooya listening on …`; its log:\n{}",
            line,
            server.log_tail(20)
        ));
    };
    server.url = url.to_owned();
    // Keep reading whatever else it prints, so it never writes into a closed pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    Ok(server)
}

// ------------------------------------------------------------------ HTTP helpers

async fn call(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: Value,
) -> Res<(u16, Value)> {
    let mut req = http.post(url).json(&body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let res = req.send().await.map_err(|e| format!("POST {url}: {e}"))?;
    let status = res.status().as_u16();
    let text = res.text().await.map_err(|e| format!("POST {url}: {e}"))?;
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, v))
}

async fn expect(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: Value,
    want: u16,
) -> Res<Value> {
    let (s, v) = call(http, url, key, body).await?;
    if s != want {
        return Err(format!("POST {url}: HTTP {s} (expected {want}): {v}"));
    }
    Ok(v)
}

fn new_client(max_idle: usize) -> Res<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(max_idle)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

// ------------------------------------------------------------------ the SMS outbox file

/// Reads `sms-outbox.jsonl` as it grows and keeps the texts by recipient.
struct Outbox {
    path: PathBuf,
    state: Mutex<OutboxState>,
}

#[derive(Default)]
struct OutboxState {
    offset: u64,
    /// Bytes after the last complete line (the server may be in the middle of appending one).
    partial: Vec<u8>,
    by_mobile: HashMap<String, Vec<String>>,
}

impl Outbox {
    fn refresh(&self, st: &mut OutboxState) -> Res<()> {
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        f.seek(SeekFrom::Start(st.offset))
            .map_err(|e| e.to_string())?;
        let n = f.read_to_end(&mut st.partial).map_err(|e| e.to_string())?;
        st.offset += n as u64;
        while let Some(i) = st.partial.iter().position(|&b| b == b'\n') {
            let bytes: Vec<u8> = st.partial.drain(..=i).collect();
            let line =
                String::from_utf8(bytes).map_err(|_| "an outbox line is not UTF-8".to_string())?;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| format!("outbox line is not JSON ({e}): {line:?}"))?;
            let to = v["to"].as_str().unwrap_or_default().to_owned();
            let text = v["text"].as_str().unwrap_or_default().to_owned();
            st.by_mobile.entry(to).or_default().push(text);
        }
        Ok(())
    }

    /// The 6-digit code of the first SMS to `mobile`, waiting for it up to 30 s.
    async fn sms_code(&self, mobile: &str) -> Res<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let mut st = self.state.lock().unwrap();
                self.refresh(&mut st)?;
                if let Some(text) = st.by_mobile.get(mobile).and_then(|t| t.first()) {
                    return first_digit_run(text, 6)
                        .ok_or_else(|| format!("no 6-digit code in the SMS to {mobile}"));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no SMS to {mobile} within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The first run of exactly `n` ASCII digits in `text`.
fn first_digit_run(text: &str, n: usize) -> Option<String> {
    let mut run = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            run.push(ch);
        } else {
            if run.len() == n {
                return Some(run);
            }
            run.clear();
        }
    }
    None
}

// ------------------------------------------------------------------ cards

/// The cards of the load.
enum Cards {
    /// `--setup enroll` (and `--target health`, with none): each card as its holder's app holds
    /// it.
    Enrolled(Vec<Card>),
    /// `--setup pskc`: cards `0..n`, everything derived from the index and the run key.
    Hardware { n: usize, tokens: HardwareCards },
}

impl Cards {
    fn len(&self) -> usize {
        match self {
            Cards::Enrolled(c) => c.len(),
            Cards::Hardware { n, .. } => *n,
        }
    }

    /// The dynamic passwords each card gives in every step (`true`: the second): an app token
    /// makes both; a hardware token only the second (the first password of such a card is the
    /// static PIN, which no load should hash over and over).
    fn kinds(&self) -> &'static [bool] {
        match self {
            Cards::Enrolled(_) => &[false, true],
            Cards::Hardware { .. } => &[true],
        }
    }

    fn pan(&self, i: usize) -> String {
        match self {
            Cards::Enrolled(c) => c[i].pan.clone(),
            Cards::Hardware { .. } => card_pan(i as u64),
        }
    }

    fn code(&self, i: usize, second: bool, unix_ms: i64) -> String {
        match self {
            Cards::Enrolled(c) => c[i].code(second, unix_ms),
            Cards::Hardware { tokens, .. } => {
                assert!(second, "a hardware token makes second passwords only");
                tokens.code(i as u64, unix_ms)
            }
        }
    }
}

/// An enrolled card as the holder's app holds it.
struct Card {
    pan: String,
    keys: pooya_otp::PasswordKeys,
    first: pooya_otp::Totp,
    second: pooya_otp::Totp,
}

impl Card {
    fn code(&self, second: bool, unix_ms: i64) -> String {
        if second {
            self.second.code_at(&self.keys.second, unix_ms)
        } else {
            self.first.code_at(&self.keys.first, unix_ms)
        }
        .as_str()
        .to_owned()
    }
}

struct Keys {
    admin: String,
    branch: String,
    atm: String,
    switch: String,
}

/// Branch registration of card `i` and its holder (a customer of its own).
async fn register_card(http: &reqwest::Client, base: &str, keys: &Keys, i: usize) -> Res<()> {
    let customer = customer_id(i as u64);
    let mobile = mobile(i as u64);
    let pan = card_pan(i as u64);
    expect(
        http,
        &format!("{base}/v1/customers"),
        Some(&keys.branch),
        json!({"customer_id": customer, "mobile": mobile}),
        201,
    )
    .await?;
    expect(
        http,
        &format!("{base}/v1/cards"),
        Some(&keys.branch),
        json!({"pan": pan, "customer_id": customer, "expiry": "9912",
               "pin": PIN, "second_password": STATIC_SECOND}),
        201,
    )
    .await?;
    Ok(())
}

/// Branch registration, ATM activation, and the app's enrollment of card `i`.
async fn set_up_card(
    http: &reqwest::Client,
    base: &str,
    keys: &Keys,
    outbox: &Outbox,
    i: usize,
) -> Res<Card> {
    let mobile = mobile(i as u64);
    let pan = card_pan(i as u64);
    register_card(http, base, keys, i).await?;
    let v = expect(
        http,
        &format!("{base}/v1/atm/activate-app"),
        Some(&keys.atm),
        json!({"pan": pan, "pin": PIN, "mobile": mobile}),
        200,
    )
    .await?;
    let receipt = v["receipt_code"]
        .as_str()
        .ok_or_else(|| format!("activate-app answered no receipt_code: {v}"))?
        .to_owned();
    let sms = outbox.sms_code(&mobile).await?;

    let (client, msg) = ClientEnrollment::start(&pan, &receipt, &sms);
    let v = expect(
        http,
        &format!("{base}/v1/app/enrollments"),
        None,
        json!({"pan": pan, "spake_msg": b64_encode(&msg)}),
        201,
    )
    .await?;
    let field = |name: &str| -> Res<Vec<u8>> {
        v[name]
            .as_str()
            .and_then(|s| b64_decode(s).ok())
            .ok_or_else(|| format!("enrollment answer without a base64 `{name}`: {v}"))
    };
    let server_msg = field("spake_msg")?;
    let server_confirm = field("confirm")?;
    let id = v["enrollment_id"]
        .as_str()
        .ok_or_else(|| format!("enrollment answer without enrollment_id: {v}"))?
        .to_owned();
    let finish = client
        .finish(&server_msg, &server_confirm)
        .map_err(|_| format!("card {i}: the server's key confirmation failed"))?;
    let t = expect(
        http,
        &format!("{base}/v1/app/enrollments/{id}/confirm"),
        None,
        json!({"confirm": b64_encode(&finish.confirm)}),
        200,
    )
    .await?;
    let num = |name: &str| -> Res<u64> {
        t[name]
            .as_u64()
            .ok_or_else(|| format!("token answer without `{name}`: {t}"))
    };
    let step = num("lifetime_secs")? as u32;
    if i64::from(step) != STEP_SECS {
        return Err(format!(
            "token lifetime is {step} s, the driver expects {STEP_SECS} s"
        ));
    }
    let alg: pooya_otp::Algorithm = t["algorithm"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("token answer with an unknown algorithm: {t}"))?;
    let totp = |digits: u64| -> Res<pooya_otp::Totp> {
        let d = pooya_otp::Digits::new(digits as u8).map_err(|e| format!("{e:?}"))?;
        pooya_otp::Totp::new(step, d, alg).map_err(|e| format!("{e:?}"))
    };
    Ok(Card {
        keys: pooya_otp::derive_password_keys(finish.seed.as_bytes()),
        first: totp(num("first_digits")?)?,
        second: totp(num("second_digits")?)?,
        pan,
    })
}

async fn set_up_cards(
    base: &str,
    keys: Arc<Keys>,
    outbox: Arc<Outbox>,
    n: usize,
) -> Res<Vec<Card>> {
    let http = new_client(SETUP_CONCURRENCY)?;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SETUP_CONCURRENCY.min(n) {
        let (http, base, keys, outbox, next, done) = (
            http.clone(),
            base.to_owned(),
            keys.clone(),
            outbox.clone(),
            next.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, String>(mine);
                }
                mine.push((i, set_up_card(&http, &base, &keys, &outbox, i).await?));
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 100 && d % (n / 4) == 0 {
                    eprintln!("  {d}/{n} cards enrolled");
                }
            }
        }));
    }
    let mut cards = Vec::with_capacity(n);
    for t in tasks {
        cards.extend(t.await.map_err(|e| format!("setup task: {e}"))??);
    }
    cards.sort_by_key(|(i, _)| *i);
    Ok(cards.into_iter().map(|(_, c)| c).collect())
}

/// `--setup pskc`: cards `0..n` registered at the branch over [`SETUP_CONCURRENCY`] connections,
/// then their TOTP hardware tokens imported, [`PSKC_CHUNK`] a file, [`PSKC_CONCURRENCY`] files at
/// once. Returns the time each phase took.
async fn set_up_hardware_cards(
    base: &str,
    keys: Arc<Keys>,
    n: usize,
) -> Res<(Cards, Duration, Duration)> {
    let t0 = Instant::now();
    let http = new_client(SETUP_CONCURRENCY)?;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SETUP_CONCURRENCY.min(n) {
        let (http, base, keys, next, done) = (
            http.clone(),
            base.to_owned(),
            keys.clone(),
            next.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, String>(());
                }
                register_card(&http, &base, &keys, i).await?;
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 100 && d % (n / 4) == 0 {
                    eprintln!("  {d}/{n} cards registered");
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("setup task: {e}"))??;
    }
    let registration = t0.elapsed();

    let t1 = Instant::now();
    let tokens = Arc::new(HardwareCards::new(pooya_issuer::keys::random_bytes()));
    let chunks = (n as u64).div_ceil(PSKC_CHUNK);
    let next = Arc::new(AtomicUsize::new(0));
    let imported = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..PSKC_CONCURRENCY.min(chunks as usize) {
        let (http, url, admin, tokens, next, imported) = (
            http.clone(),
            format!("{base}/v1/admin/pskc"),
            keys.admin.clone(),
            tokens.clone(),
            next.clone(),
            imported.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let c = next.fetch_add(1, Ordering::Relaxed) as u64;
                if c >= chunks {
                    return Ok::<_, String>(());
                }
                let range = c * PSKC_CHUNK..((c + 1) * PSKC_CHUNK).min(n as u64);
                let want = (range.end - range.start) as usize;
                let body = tokens.pskc_import(range.clone());
                let v = expect(&http, &url, Some(&admin), body, 200)
                    .await
                    .map_err(|e| format!("importing the tokens of cards {range:?}: {e}"))?;
                if v["imported"].as_u64() != Some(want as u64) {
                    return Err(format!(
                        "importing the tokens of cards {range:?}: the server answered {v}"
                    ));
                }
                let before = imported.fetch_add(want, Ordering::Relaxed);
                if n >= 4 * PSKC_CHUNK as usize && (before + want) * 4 / n > before * 4 / n {
                    eprintln!("  {}/{n} hardware tokens imported", before + want);
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("import task: {e}"))??;
    }
    // Every task is done: the run key is the driver's alone again.
    let tokens = Arc::try_unwrap(tokens).map_err(|_| "an import task still holds the run key")?;
    Ok((Cards::Hardware { n, tokens }, registration, t1.elapsed()))
}

// ------------------------------------------------------------------ the load

/// The server's (fake, standing) time; moved only with every request of the step answered.
struct Round {
    now_ms: i64,
    number: u64,
}

#[derive(Default)]
struct WorkerReport {
    /// Of right answers to right codes (or health probes).
    latencies_us: Vec<u32>,
    /// Right answers not timed: declines of wrong codes.
    other_ok: u64,
    outcomes: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    error_examples: Vec<String>,
    clock_advances: u64,
    clock_time: Duration,
}

struct Shared {
    base: String,
    keys: Arc<Keys>,
    cards: Cards,
    round: tokio::sync::RwLock<Round>,
    /// Index of the next (card, kind) of this round: `i % N` is the card, `Cards::kinds()[i / N]`
    /// the kind (app tokens: `i < N` the first password, `N <= i < 2N` the second; hardware
    /// tokens: the second only, `i < N`).
    next: AtomicUsize,
    deadline: Instant,
    wrong_share: f64,
    health: bool,
}

async fn worker(w: usize, sh: Arc<Shared>) -> Res<WorkerReport> {
    let http = new_client(1)?;
    let n = sh.cards.len();
    let kinds = sh.cards.kinds();
    let verify_url = format!("{}/v1/verify", sh.base);
    let health_url = format!("{}/v1/health", sh.base);
    let clock_url = format!("{}/v1/test/clock", sh.base);
    let mut rep = WorkerReport::default();
    let mut seq = 0u64;
    while Instant::now() < sh.deadline {
        if sh.health {
            let t0 = Instant::now();
            let (j, detail) =
                send_and_judge(&http, Request::Health { url: &health_url }, Expect::Healthy).await;
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
                let v = expect(
                    &http,
                    &clock_url,
                    Some(&sh.keys.admin),
                    json!({"advance_ms": STEP_MS}),
                    200,
                )
                .await?;
                if v["unix_ms"].as_i64() != Some(r.now_ms + STEP_MS) {
                    return Err(format!(
                        "the server's clock is at {v}, expected {}",
                        r.now_ms + STEP_MS
                    ));
                }
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
        let body = json!({
            "pan": sh.cards.pan(card),
            "kind": if second { "second" } else { "first" },
            "password": password,
            "txn": {"id": format!("w{w}r{}n{seq}", round.number), "amount": 1_250_000,
                    "merchant": "Load test shop"},
        });
        let t0 = Instant::now();
        let req = Request::Verify {
            url: &verify_url,
            key: &sh.keys.switch,
            body,
        };
        let (j, detail) = send_and_judge(&http, req, want).await;
        let took = t0.elapsed();
        drop(round);
        rep.record(j, detail, took, want == Expect::Approved);
    }
    Ok(rep)
}

impl WorkerReport {
    /// Counts an answer; a right one's latency is a data point when `timed`.
    fn record(
        &mut self,
        j: pooya_bench::Judged,
        detail: Option<String>,
        took: Duration,
        timed: bool,
    ) {
        *self.outcomes.entry(j.label.clone()).or_default() += 1;
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

// ------------------------------------------------------------------ CPU accounting (Linux)

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn memory(pid: &str) -> Option<(u64, u64)> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |k: &str| -> Option<u64> {
        st.lines()
            .find_map(|l| l.strip_prefix(k))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((kib("VmRSS:")?, kib("VmHWM:")?))
}

/// utime + stime of a process, in clock ticks.
fn proc_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Ticks of every process called `postgres`.
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().into_string().ok()?;
            pid.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "postgres").then(|| proc_ticks(&pid))?
        })
        .sum()
}

/// (busy, total) ticks of the whole machine, from /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

struct CpuSnapshot {
    server: Option<u64>,
    driver: Option<u64>,
    postgres: u64,
    machine: Option<(u64, u64)>,
}

fn cpu_snapshot(server_pid: Option<u32>) -> CpuSnapshot {
    CpuSnapshot {
        server: server_pid.and_then(|p| proc_ticks(&p.to_string())),
        driver: proc_ticks("self"),
        postgres: postgres_ticks(),
        machine: machine_ticks(),
    }
}

// ------------------------------------------------------------------ main

fn per_card_ms(d: Duration, cards: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / cards.max(1) as f64
}

/// `chart FILE.csv OUT.svg`: throughput against connections, one line per label, from the lines
/// `--csv` appended (`label,store,target,cards,connections,seconds,rate,p50,p90,p99,p999,errors`).
fn chart(csv: &Path, out: &Path) -> Res<()> {
    let text = std::fs::read_to_string(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let (series, left_out) = pooya_bench::series_by_connections(&text)?;
    for name in left_out {
        eprintln!(
            "{name}: every point has the same number of connections (a sweep by cards): not drawn"
        );
    }
    let svg = pooya_bench::svg_chart(
        "pooya: right-code verifications/s (and bare /v1/health) by connections",
        "keep-alive connections (log scale)",
        "answers per second",
        &series,
    );
    std::fs::write(out, svg).map_err(|e| format!("{}: {e}", out.display()))
}

fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("chart") {
        let (Some(csv), Some(out)) = (argv.get(2), argv.get(3)) else {
            eprintln!("{USAGE}");
            return std::process::ExitCode::from(2);
        };
        return match chart(Path::new(csv), Path::new(out)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pooya-bench chart: {e}");
                std::process::ExitCode::from(1)
            }
        };
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("pooya-bench: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Runs everything; `Ok(false)` when the load met errors.
async fn run(args: Args) -> Res<bool> {
    let bin = server_binary()?;
    let work = tempfile::Builder::new()
        .prefix("pooya-load-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let data = work.path().join("data");
    let mut config = format!(
        "[hashing]\nm_kib = 64\nt = 1\np = 1\n\n\
         [policy.otp]\nlifetime_secs = {STEP_SECS}\nmax_lifetime_secs = {STEP_SECS}\n\n\
         [policy.lockout]\nwindow_secs = 200\n\n\
         [policy.pin_lock]\nmax_failures = 0\n\n\
         [limits]\napp_per_ip = {{ burst = 0, per_secs = 60 }}\n"
    );
    let mut server_section = String::new();
    if let Some(p) = args.pool_size {
        server_section.push_str(&format!("pool_size = {p}\n"));
    }
    if args.setup == Setup::Pskc && !args.health {
        // A PSKC file of PSKC_CHUNK tokens is far over the default 64 KiB.
        server_section.push_str(&format!("max_body_bytes = {PSKC_MAX_BODY}\n"));
    }
    if !server_section.is_empty() {
        config.push_str(&format!("\n[server]\n{server_section}"));
    }
    std::fs::write(work.path().join("pooya.toml"), &config).map_err(|e| e.to_string())?;

    let db = match &args.database_url {
        Some(u) => Some(TempPg::create(u, "pooya_load")?),
        None => None,
    };
    let store = match &db {
        Some(d) => format!("PostgreSQL (fresh database {})", d.name()),
        None => "SQLite (embedded, in the temporary data directory)".to_owned(),
    };
    let t_setup = Instant::now();
    let mut server = start_server(
        &bin,
        work.path(),
        &data,
        db.as_ref().map(|d| d.url.as_str()),
    )?;
    let result = drive(&args, &server, &data, &store, t_setup).await;
    if let Err(e) = &result {
        eprintln!(
            "error: {e}\nlast lines of the server's log:\n{}",
            server.log_tail(20)
        );
    }
    let status = server.stop();
    if let Some(st) = status {
        if !st.success() {
            eprintln!("the server exited with {st}; last lines of its log:");
            eprintln!("{}", server.log_tail(20));
        }
    }
    drop(server);
    if let Some(db) = db {
        let name = db.name().to_owned();
        match db.remove() {
            Ok(()) => eprintln!("dropped database {name}"),
            Err(e) => eprintln!("could not drop database {name}: {e}"),
        }
    }
    result
}

async fn drive(
    args: &Args,
    server: &Server,
    data: &Path,
    store: &str,
    t_setup: Instant,
) -> Res<bool> {
    let base = server.url.clone();
    let kt = std::fs::read_to_string(data.join("bootstrap-keys.json"))
        .map_err(|e| format!("bootstrap-keys.json: {e}"))?;
    let kv: Value = serde_json::from_str(&kt).map_err(|e| format!("bootstrap-keys.json: {e}"))?;
    let key = |r: &str| -> Res<String> {
        kv[r]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {r} key in bootstrap-keys.json"))
    };
    let keys = Arc::new(Keys {
        admin: key("admin")?,
        branch: key("branch")?,
        atm: key("atm")?,
        switch: key("switch")?,
    });
    let outbox = Arc::new(Outbox {
        path: data.join("sms-outbox.jsonl"),
        state: Mutex::new(OutboxState::default()),
    });
    println!("pooya-bench");
    println!("  server        {base} ({store})");
    let mut setup_detail = String::new();
    let cards = if args.health {
        println!(
            "  load          GET /v1/health, {} connections, {} s",
            args.connections, args.seconds
        );
        Cards::Enrolled(Vec::new())
    } else {
        println!(
            "  load          {} cards ({}), {} connections, {} s, {:.0}% wrong codes",
            args.cards,
            match args.setup {
                Setup::Enroll => "app tokens: first and second passwords",
                Setup::Pskc => "TOTP hardware tokens: second passwords",
            },
            args.connections,
            args.seconds,
            args.wrong_share * 100.0
        );
        match args.setup {
            Setup::Enroll => {
                if args.cards > ENROLL_HINT_CARDS {
                    eprintln!(
                        "note: enrolling costs a few ms per card; `--setup pskc` sets up large \
                         counts much faster (hardware tokens, second passwords only)"
                    );
                }
                eprintln!("setting up {} cards (enrollment) …", args.cards);
                let t = Instant::now();
                let cards = set_up_cards(&base, keys.clone(), outbox, args.cards).await?;
                setup_detail = format!(
                    "{} registrations, ATM activations, enrollments: {:.2} ms per card",
                    args.cards,
                    per_card_ms(t.elapsed(), args.cards)
                );
                Cards::Enrolled(cards)
            }
            Setup::Pskc => {
                eprintln!(
                    "setting up {} cards (branch registration, PSKC import) …",
                    args.cards
                );
                let (cards, reg, import) =
                    set_up_hardware_cards(&base, keys.clone(), args.cards).await?;
                setup_detail = format!(
                    "{} registrations {:.2} s ({:.3} ms per card), hardware tokens imported \
                     {:.2} s ({:.3} ms per card)",
                    args.cards,
                    reg.as_secs_f64(),
                    per_card_ms(reg, args.cards),
                    import.as_secs_f64(),
                    per_card_ms(import, args.cards)
                );
                cards
            }
        }
    };

    // Stand the fake clock in the middle of a step: no neighbouring step is inside the tolerance.
    let http = new_client(1)?;
    let v = reqwest::Client::get(&http, format!("{base}/v1/time"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json::<Value>()
        .await
        .map_err(|e| e.to_string())?;
    let now = v["unix_ms"]
        .as_i64()
        .ok_or("GET /v1/time without unix_ms")?;
    let start_ms = (now / STEP_MS + 1) * STEP_MS + STEP_MS / 2;
    expect(
        &http,
        &format!("{base}/v1/test/clock"),
        Some(&keys.admin),
        json!({"set_unix_ms": start_ms}),
        200,
    )
    .await?;
    drop(http);
    let setup = t_setup.elapsed();
    if args.health {
        println!(
            "  setup         {:.2} s (server start; no cards for --target health)",
            setup.as_secs_f64()
        );
    } else {
        println!(
            "  setup         {:.2} s in all, server start included (--setup {}: {setup_detail})",
            setup.as_secs_f64(),
            args.setup.name(),
        );
    }

    let shared = Arc::new(Shared {
        base: base.clone(),
        keys,
        cards,
        round: tokio::sync::RwLock::new(Round {
            now_ms: start_ms,
            number: 0,
        }),
        next: AtomicUsize::new(0),
        deadline: Instant::now() + Duration::from_secs_f64(args.seconds),
        wrong_share: args.wrong_share,
        health: args.health,
    });
    let rss_after_setup = server.pid().and_then(|p| memory(&p.to_string()));
    let ticks = clock_ticks();
    let cpu0 = cpu_snapshot(server.pid());
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..args.connections)
        .map(|w| tokio::spawn(worker(w, shared.clone())))
        .collect();
    let mut total = WorkerReport::default();
    let mut failure = None;
    for t in tasks {
        match t.await.map_err(|e| format!("worker: {e}")).and_then(|r| r) {
            Ok(r) => {
                total.latencies_us.extend(r.latencies_us);
                total.other_ok += r.other_ok;
                for (k, v) in r.outcomes {
                    *total.outcomes.entry(k).or_default() += v;
                }
                for (k, v) in r.errors {
                    *total.errors.entry(k).or_default() += v;
                }
                if total.error_examples.len() < 5 {
                    total.error_examples.extend(r.error_examples);
                }
                total.clock_advances += r.clock_advances;
                total.clock_time += r.clock_time;
            }
            Err(e) => failure = Some(e),
        }
    }
    let elapsed = t0.elapsed();
    let cpu1 = cpu_snapshot(server.pid());
    let rss = server.pid().and_then(|p| memory(&p.to_string()));
    let driver_rss = memory("self");
    if let Some(e) = failure {
        return Err(e);
    }

    let approved = total.latencies_us.len() as u64;
    let requests: u64 = total.outcomes.values().sum();
    let errors: u64 = total.errors.values().sum();
    let secs = elapsed.as_secs_f64();
    let mut lat = std::mem::take(&mut total.latencies_us);
    lat.sort_unstable();
    let mean = if lat.is_empty() {
        f64::NAN
    } else {
        lat.iter().map(|&x| f64::from(x)).sum::<f64>() / lat.len() as f64 / 1000.0
    };
    println!("  measured      {secs:.2} s");
    println!("  requests      {requests}");
    let what = if args.health {
        "health answers"
    } else {
        "verifications"
    };
    let rate = approved as f64 / secs;
    println!(
        "  right         {approved} ({rate:.0} {what}/s{})",
        if args.health { "" } else { " approved" }
    );
    if !args.health {
        println!(
            "  declined      {} wrong codes, rightly ({:.0}/s); all right answers {:.0}/s",
            total.other_ok,
            total.other_ok as f64 / secs,
            (approved + total.other_ok) as f64 / secs
        );
    }
    println!(
        "  latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2} \
         (right answers to right codes)",
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
        percentile(&lat, 100.0),
        mean
    );
    println!(
        "  clock moves   {} (each waits for the requests in flight; {:.3} s in all, counted in \
         the measured time)",
        total.clock_advances,
        total.clock_time.as_secs_f64()
    );
    println!("  answers");
    for (k, v) in &total.outcomes {
        println!("    {v:>9}  {k}");
    }
    println!("  errors        {errors}");
    for (k, v) in &total.errors {
        println!("    {v:>9}  {k}");
    }
    for e in &total.error_examples {
        println!("    e.g. {e}");
    }
    let cpu = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2} s", (b.saturating_sub(a)) as f64 / ticks),
        _ => "n/a".into(),
    };
    let machine = match (cpu0.machine, cpu1.machine) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            format!("{:.0}%", 100.0 * (b1 - b0) as f64 / (t1 - t0) as f64)
        }
        _ => "n/a".into(),
    };
    let pg = if args.database_url.is_some() {
        format!(
            ", postgres processes {:.2} s",
            cpu1.postgres.saturating_sub(cpu0.postgres) as f64 / ticks
        )
    } else {
        String::new()
    };
    println!(
        "  CPU           server {}, this driver {}{pg}; machine busy {machine} of {} cores",
        cpu(cpu0.server, cpu1.server),
        cpu(cpu0.driver, cpu1.driver),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    if let Some((now, peak)) = rss {
        println!(
            "  server RSS    {:.1} MiB at the end, {:.1} MiB at most{}",
            mib(now),
            mib(peak),
            rss_after_setup.map_or(String::new(), |(s, _)| format!(
                " ({:.1} MiB after the setup)",
                mib(s)
            ))
        );
    }
    if let Some((_, peak)) = driver_rss {
        println!("  driver RSS    {:.1} MiB at most", mib(peak));
    }
    if let Some(path) = &args.csv {
        use std::io::Write;
        let store_name = if args.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        let target = if args.health { "health" } else { "verify" };
        let label = args.label.clone().unwrap_or_else(|| match args.setup {
            Setup::Pskc if !args.health => format!("{store_name} {target} (hardware tokens)"),
            _ => format!("{store_name} {target}"),
        });
        let line = format!(
            "{},{store_name},{target},{},{},{secs:.2},{rate:.0},{:.2},{:.2},{:.2},{:.2},{errors}\n",
            pooya_bench::csv_label(&label),
            if args.health { 0 } else { args.cards },
            args.connections,
            percentile(&lat, 50.0),
            percentile(&lat, 90.0),
            percentile(&lat, 99.0),
            percentile(&lat, 99.9),
        );
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| {
                // A new file starts with the names of its fields.
                if f.metadata()?.len() == 0 {
                    writeln!(f, "# label,{}", pooya_bench::CSV_FIELDS)?;
                }
                f.write_all(line.as_bytes())
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(errors == 0 && approved > 0)
}
