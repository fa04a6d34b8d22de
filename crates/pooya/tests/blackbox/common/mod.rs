//! Black-box test harness: starts the real `pooya serve` on port 0 with a fake clock, talks HTTP
//! to it, and plays the bank's channels and the holder's app (through the real enrollment client
//! library). Nothing here sleeps to let a code expire: tests move the server's clock.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pooya_enroll::{b64_decode, b64_encode, ClientEnrollment, Seed};
use pooya_wire::app::{EnrollmentConfirm, EnrollmentStart, EnrollmentStarted, TokenIssued};
use pooya_wire::atm::{Activate, AppActivation};
pub use pooya_wire::branch::{CardView, Dynamic, DynamicMode, DynamicState};
use pooya_wire::branch::{NewCard, NewCustomer};
use pooya_wire::public::{MoveClock, Time};
pub use pooya_wire::switch::VerifyResult;
use pooya_wire::switch::{Txn, VerifyRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub mod browser;
pub mod hygiene;

/// Cheap Argon2 so tests stay fast; production uses the default cost.
pub const TEST_CONFIG: &str = "[hashing]\nm_kib = 64\nt = 1\np = 1\n";

pub const PAN: &str = "6280231234567898";
pub const PAN2: &str = "6280231234567880";
pub const PAN3: &str = "6280231234567872";
pub const MOBILE: &str = "09121234567";
pub const MOBILE2: &str = "09351234567";
pub const PIN: &str = "1234";
pub const STATIC_SECOND: &str = "55555";

/// The whole black-box suite runs on either store: SQLite (the default) or, with
/// `POOYA_TEST_STORE=postgres`, PostgreSQL at `POOYA_TEST_POSTGRES_URL`, each server on a database
/// of its own (`.ci/run` runs the suite both ways).
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub keys: Value,
    child: Option<Child>,
    extra_args: Vec<String>,
    pub config: String,
    pub http: reqwest::Client,
    /// The PostgreSQL database this server uses, shared by the nodes of a cluster.
    pub db: Option<Arc<TempPg>>,
    outbox_file: PathBuf,
    /// A cluster's shared directory (master key, outbox), removed with its last node.
    pub shared: Option<Arc<tempfile::TempDir>>,
    /// Secrets seen and answers received, scanned for leaks when the server drops.
    pub hygiene: Arc<hygiene::Ledger>,
    /// The umask the server runs under, when not the test's own.
    pub umask: Option<u32>,
    /// Whether the server runs with `--unsafe-fake-clock` (every test server but one that checks
    /// a real server's face).
    fake_clock: bool,
    /// Every answer since [`TestServer::record_answers`], when asked for.
    answers: Mutex<Option<Vec<Answer>>>,
}

/// One answer of the server, as [`TestServer::call`] got it.
#[derive(Clone, Debug)]
pub struct Answer {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

pub const PG_URL_ENV: &str = "POOYA_TEST_POSTGRES_URL";

/// Whether this run puts every test server on PostgreSQL.
pub fn postgres_mode() -> bool {
    std::env::var("POOYA_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// The admin URL of the test PostgreSQL, when there is one.
pub fn postgres_url() -> Option<String> {
    std::env::var(PG_URL_ENV).ok().filter(|u| !u.is_empty())
}

pub use pooya_store_sql::test_support::TempPg;

/// A fresh PostgreSQL database on the server at `admin_url`, dropped with the last server using
/// it.
pub fn fresh_pg(admin_url: &str) -> TempPg {
    TempPg::create(admin_url, "pooya_bb")
        .unwrap_or_else(|e| panic!("PostgreSQL at {PG_URL_ENV} must answer: {e}"))
}

/// The database of a test server of its own: its own SQLite, or a fresh PostgreSQL database.
fn own_db() -> Option<Arc<TempPg>> {
    postgres_mode().then(|| {
        let url = postgres_url().unwrap_or_else(|| {
            panic!("POOYA_TEST_STORE=postgres needs {PG_URL_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)")
        });
        Arc::new(fresh_pg(&url))
    })
}

/// The URL of `srv`'s database, for SQL played by an attacker who has only the database.
pub fn db_url(srv: &TestServer) -> String {
    match &srv.db {
        Some(pg) => pg.url.clone(),
        None => format!(
            "sqlite://{}",
            srv.data_dir().join("pooya.sqlite3").display()
        ),
    }
}

async fn db_connection(srv: &TestServer) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    <sqlx::AnyConnection as sqlx::Connection>::connect(&db_url(srv))
        .await
        .expect("connect to the test database")
}

/// Runs `statement` (no parameters; several statements allowed) on `srv`'s database.
pub async fn sql(srv: &TestServer, statement: &str) {
    use sqlx::Executor;
    db_connection(srv)
        .await
        .execute(sqlx::AssertSqlSafe(statement.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Runs `statement` on `srv`'s database with text parameters `$1`, `$2`, …: rows changed.
pub async fn sql_with(srv: &TestServer, statement: &str, args: &[&str]) -> u64 {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()));
    for a in args {
        q = q.bind(a.to_string());
    }
    q.execute(&mut db_connection(srv).await)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"))
        .rows_affected()
}

/// The one text column of the rows `query` selects, read from `srv`'s database.
pub async fn sql_texts(srv: &TestServer, query: &str) -> Vec<String> {
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_all(&mut db_connection(srv).await)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(TEST_CONFIG, &[]).await
    }

    /// Starts with `config` (TOML) and extra `serve` arguments.
    pub async fn start_with(config: &str, extra_args: &[&str]) -> TestServer {
        Self::start_node(config, extra_args, own_db(), None)
    }

    /// Starts with `config`, the server running under `umask`.
    pub async fn start_under_umask(config: &str, umask: u32) -> TestServer {
        Self::start_node_under(config, &[], own_db(), None, Some(umask))
    }

    /// Starts with `config` and a real clock: no `--unsafe-fake-clock`, as in production.
    pub async fn start_with_real_clock(config: &str) -> TestServer {
        Self::start_node_with(config, &[], own_db(), None, None, false)
    }

    /// A server on `db` (None: its own SQLite). `keys`: the cluster's keys, when another node
    /// already bootstrapped them.
    pub fn start_node(
        config: &str,
        extra_args: &[&str],
        db: Option<Arc<TempPg>>,
        keys: Option<Value>,
    ) -> TestServer {
        Self::start_node_under(config, extra_args, db, keys, None)
    }

    /// [`Self::start_node`], the server running under `umask` when given.
    pub fn start_node_under(
        config: &str,
        extra_args: &[&str],
        db: Option<Arc<TempPg>>,
        keys: Option<Value>,
        umask: Option<u32>,
    ) -> TestServer {
        Self::start_node_with(config, extra_args, db, keys, umask, true)
    }

    fn start_node_with(
        config: &str,
        extra_args: &[&str],
        db: Option<Arc<TempPg>>,
        keys: Option<Value>,
        umask: Option<u32>,
        fake_clock: bool,
    ) -> TestServer {
        install_crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox_file = dir.path().join("data").join("sms-outbox.jsonl");
        let mut s = TestServer {
            dir,
            url: String::new(),
            keys: Value::Null,
            child: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            config: config.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            db,
            outbox_file,
            shared: None,
            hygiene: Arc::default(),
            umask,
            fake_clock,
            answers: Mutex::new(None),
        };
        if let Some(path) = sms_path_in(config) {
            s.outbox_file = path;
        }
        s.spawn();
        s.keys = match keys {
            Some(k) => k,
            None => {
                let text = std::fs::read_to_string(s.data_dir().join("bootstrap-keys.json"))
                    .expect("bootstrap-keys.json written on first start");
                serde_json::from_str(&text).expect("keys JSON")
            }
        };
        s
    }

    /// `n` servers on one fresh PostgreSQL database, sharing one master key and one outbox file,
    /// like a bank's nodes behind a balancer. `None` (with a message) without PostgreSQL.
    pub fn start_cluster(n: usize, config: &str) -> Option<Vec<TestServer>> {
        let Some(url) = postgres_url() else {
            eprintln!("{PG_URL_ENV} not set: multi-node test skipped (it needs PostgreSQL)");
            return None;
        };
        let db = Arc::new(fresh_pg(&url));
        let shared_dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let shared = shared_dir.path().to_path_buf();
        let config = format!(
            "{config}\n[server]\nmaster_key_file = {:?}\n[sms_provider]\npath = {:?}\n",
            shared.join("master.key").display().to_string(),
            shared.join("sms-outbox.jsonl").display().to_string(),
        );
        let first = Self::start_node(&config, &[], Some(db.clone()), None);
        let keys = first.keys.clone();
        let mut nodes = vec![first];
        for _ in 1..n {
            nodes.push(Self::start_node(
                &config,
                &[],
                Some(db.clone()),
                Some(keys.clone()),
            ));
        }
        for node in &mut nodes {
            node.shared = Some(shared_dir.clone());
        }
        Some(nodes)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn spawn(&mut self) {
        let cfg = self.dir.path().join("pooya.toml");
        std::fs::write(&cfg, &self.config).expect("write config");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = match self.umask {
            None => Command::new(env!("CARGO_BIN_EXE_pooya")),
            Some(mask) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("umask {mask:03o} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_pooya"));
                sh
            }
        };
        let mut child = cmd
            .arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--config")
            .arg(&cfg)
            .args(self.fake_clock.then_some("--unsafe-fake-clock"))
            .args(
                self.db
                    .iter()
                    .flat_map(|d| ["--database-url".to_owned(), d.url.clone()]),
            )
            .args(&self.extra_args)
            .env_remove("POOYA_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start pooya serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let url = line
            .trim()
            .strip_prefix("pooya listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        self.url = url;
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill");
            c.wait().expect("wait");
        }
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        c.wait().expect("wait")
    }

    /// Starts the server again on the same data directory (a new port). The fake clock restarts
    /// at the real time.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn key(&self, role: &str) -> String {
        self.keys[role].as_str().expect("role key").to_owned()
    }

    // ------------------------------------------------------------ raw HTTP

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        role: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(m, format!("{}{}", self.url, path));
        if let Some(r) = role {
            req = req.bearer_auth(self.key(r));
        }
        if let Some(b) = body {
            self.hygiene.request(&b);
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = res.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        self.hygiene.answer(&format!("{method} {path}"), &text, &v);
        if let Some(answers) = self.answers.lock().unwrap().as_mut() {
            answers.push(Answer {
                method: method.to_owned(),
                path: path.to_owned(),
                status,
                content_type,
                body: v.clone(),
            });
        }
        (status, v)
    }

    /// Sends `body`, a request type of pooya-wire.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        role: Option<&str>,
        body: &impl Serialize,
    ) -> (u16, Value) {
        let body = serde_json::to_value(body).expect("a request body serializes");
        self.call(method, path, role, Some(body)).await
    }

    /// From now on, keeps every answer [`Self::call`] gets, for [`Self::answers`].
    pub fn record_answers(&self) {
        self.answers.lock().unwrap().get_or_insert_with(Vec::new);
    }

    /// The answers kept since [`Self::record_answers`].
    pub fn answers(&self) -> Vec<Answer> {
        self.answers.lock().unwrap().clone().unwrap_or_default()
    }

    pub async fn post(&self, path: &str, role: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(role), Some(body)).await
    }

    pub async fn get(&self, path: &str, role: &str) -> (u16, Value) {
        self.call("GET", path, Some(role), None).await
    }

    // ------------------------------------------------------------ clock

    pub async fn now_ms(&self) -> i64 {
        let (s, v) = self.call("GET", "/v1/time", None, None).await;
        assert_eq!(s, 200);
        read::<Time>(v).unix_ms
    }

    pub async fn advance(&self, ms: i64) {
        let (s, _) = self.move_clock(Some(ms), None).await;
        assert_eq!(s, 200);
    }

    /// `POST /v1/test/clock`.
    pub async fn move_clock(
        &self,
        advance_ms: Option<i64>,
        set_unix_ms: Option<i64>,
    ) -> (u16, Value) {
        let body = MoveClock {
            advance_ms,
            set_unix_ms,
        };
        self.send("POST", "/v1/test/clock", Some("admin"), &body)
            .await
    }

    /// Moves the clock to the start of the next `step_secs` step plus `offset_ms`, so a test knows
    /// exactly where in a code's life it stands.
    pub async fn align_to_step(&self, step_secs: i64, offset_ms: i64) -> i64 {
        let now = self.now_ms().await;
        let step = step_secs * 1000;
        let target = (now / step + 1) * step + offset_ms;
        let (s, _) = self.move_clock(None, Some(target)).await;
        assert_eq!(s, 200);
        target
    }

    // ------------------------------------------------------------ branch

    pub async fn customer(&self, id: &str, mobile: &str) {
        let body = NewCustomer {
            customer_id: id.to_owned(),
            mobile: mobile.to_owned(),
        };
        let (s, v) = self
            .send("POST", "/v1/customers", Some("branch"), &body)
            .await;
        assert_eq!(s, 201, "{v}");
    }

    pub async fn card(&self, pan: &str, customer: &str) {
        let body = NewCard {
            pan: pan.to_owned(),
            customer_id: customer.to_owned(),
            expiry: "9912".to_owned(),
            pin: PIN.to_owned(),
            second_password: STATIC_SECOND.to_owned(),
        };
        let (s, v) = self.send("POST", "/v1/cards", Some("branch"), &body).await;
        assert_eq!(s, 201, "{v}");
    }

    /// A customer `C1` with MOBILE and a card PAN.
    pub async fn with_card(&self) {
        self.customer("C1", MOBILE).await;
        self.card(PAN, "C1").await;
    }

    pub async fn card_info(&self, pan: &str) -> CardView {
        let (s, v) = self.get(&format!("/v1/cards/{pan}"), "branch").await;
        assert_eq!(s, 200, "{v}");
        read(v)
    }

    // ------------------------------------------------------------ SMS outbox

    pub fn outbox_path(&self) -> PathBuf {
        self.outbox_file.clone()
    }

    /// The variable part in an SMS about the card ending in `last4`: the 4-digit run that is not
    /// the card's last digits (or those digits, when the variable part happens to equal them).
    /// Noted as a code that SMS may carry: it can equal a PIN or a fixed part by chance.
    pub fn variable_part(&self, text: &str, last4: &str) -> String {
        let runs = digit_runs(text, 4);
        assert!(!runs.is_empty(), "no 4-digit ASCII run in the SMS {text:?}");
        let var = runs
            .iter()
            .find(|r| r.as_str() != last4)
            .cloned()
            .unwrap_or_else(|| last4.to_owned());
        self.hygiene.secret(&var, hygiene::Allowed::Sms);
        var
    }

    /// The server's log once it holds `needle`: log lines reach the file through a writer thread,
    /// a moment after the request that made them was answered.
    pub async fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "no log line {needle:?} in {log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn outbox(&self) -> Vec<Value> {
        read_jsonl(&self.outbox_path())
    }

    /// Waits (bounded) until the outbox file holds at least `n` messages; the delivery worker runs
    /// beside the request that queued them.
    pub async fn outbox_wait(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let msgs = self.outbox();
            if msgs.len() >= n {
                return msgs;
            }
            assert!(
                Instant::now() < deadline,
                "outbox has {} messages, expected {n}",
                msgs.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // ------------------------------------------------------------ ATM + app

    /// ATM app activation; returns (receipt code, SMS code read from the outbox).
    pub async fn activate_app(&self, pan: &str, mobile: &str) -> (String, String) {
        let before = self.outbox().len();
        let body = Activate {
            pan: pan.to_owned(),
            pin: PIN.to_owned(),
            mobile: mobile.to_owned(),
        };
        let (s, v) = self
            .send("POST", "/v1/atm/activate-app", Some("atm"), &body)
            .await;
        assert_eq!(s, 200, "{v}");
        let receipt = read::<AppActivation>(v).receipt_code.clone();
        let msgs = self.outbox_wait(before + 1).await;
        let sms = msgs[before]["text"].as_str().expect("text");
        let code = first_digit_run(sms, 6).expect("a 6-digit code in the SMS");
        self.hygiene.secret(&code, hygiene::Allowed::Sms);
        (receipt, code)
    }

    /// Runs the app's side of enrollment over HTTP with the real client library.
    pub async fn enroll(&self, pan: &str, receipt: &str, sms: &str) -> Result<Token, (u16, Value)> {
        let (client, msg) = ClientEnrollment::start(pan, receipt, sms);
        let start = EnrollmentStart {
            pan: pan.to_owned(),
            spake_msg: b64_encode(&msg),
            lifetime_secs: None,
        };
        let (s, v) = self.send("POST", "/v1/app/enrollments", None, &start).await;
        if s != 201 {
            return Err((s, v));
        }
        let started: EnrollmentStarted = read(v.clone());
        let server_msg = b64_decode(&started.spake_msg).unwrap();
        let server_confirm = b64_decode(&started.confirm).unwrap();
        let finish = match client.finish(&server_msg, &server_confirm) {
            Ok(f) => f,
            Err(_) => return Err((0, v)),
        };
        let confirm = EnrollmentConfirm {
            confirm: b64_encode(&finish.confirm),
        };
        let path = format!("/v1/app/enrollments/{}/confirm", started.enrollment_id);
        let (s, t) = self.send("POST", &path, None, &confirm).await;
        if s != 200 {
            return Err((s, t));
        }
        self.hygiene.seed(finish.seed.as_bytes());
        let t: TokenIssued = read(t);
        Ok(Token {
            token_id: t.token_id,
            seed: finish.seed,
            step_secs: t.lifetime_secs,
            algorithm: t.algorithm.parse().unwrap(),
            first_digits: t.first_digits,
            second_digits: t.second_digits,
        })
    }

    /// Customer, card, ATM activation and enrollment: a card with a live app token.
    pub async fn enrolled_card(&self) -> Token {
        self.with_card().await;
        let (r, s) = self.activate_app(PAN, MOBILE).await;
        self.enroll(PAN, &r, &s).await.expect("enrollment")
    }

    // ------------------------------------------------------------ switch

    pub async fn verify(&self, pan: &str, kind: &str, password: &str, txn: &str) -> VerifyResult {
        let body = VerifyRequest {
            pan: pan.to_owned(),
            kind: kind.to_owned(),
            password: password.to_owned(),
            txn: wire_txn(txn),
        };
        let (s, v) = self.send("POST", "/v1/verify", Some("switch"), &body).await;
        assert_eq!(s, 200, "{v}");
        read(v)
    }
}

/// `[sms_provider] path = "…"` of a config text, if it sets one.
fn sms_path_in(config: &str) -> Option<PathBuf> {
    let v: toml::Table = toml::from_str(config).ok()?;
    v.get("sms_provider")?
        .get("path")?
        .as_str()
        .map(PathBuf::from)
}

impl TestServer {
    /// Fails the test if the server's log, its SMS or its answers so far hold a full card number
    /// or a secret out of place (`hygiene`). Runs on drop too.
    pub fn check_hygiene(&self) {
        let found = self.hygiene.findings(&self.log_path(), &self.outbox_path());
        assert!(
            found.is_empty(),
            "secret hygiene: {} leak(s):\n{}",
            found.len(),
            found.join("\n")
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        // A test already failing keeps its own message (a second panic would abort).
        if !std::thread::panicking() {
            self.check_hygiene();
        }
    }
}

/// An app token as the test (playing the app) holds it.
pub struct Token {
    pub token_id: String,
    pub seed: Seed,
    pub step_secs: u32,
    pub algorithm: pooya_otp::Algorithm,
    pub first_digits: u8,
    pub second_digits: u8,
}

impl Token {
    pub fn code(&self, kind: &str, unix_ms: i64) -> String {
        let keys = pooya_otp::derive_password_keys(self.seed.as_bytes());
        let (key, digits) = match kind {
            "first" => (&keys.first, self.first_digits),
            _ => (&keys.second, self.second_digits),
        };
        let totp = pooya_otp::Totp::new(
            self.step_secs,
            pooya_otp::Digits::new(digits).unwrap(),
            self.algorithm,
        )
        .unwrap();
        totp.code_at(key, unix_ms).as_str().to_owned()
    }
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(t) => t
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("outbox line is JSON"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The first run of exactly `n` ASCII digits in `text`.
pub fn first_digit_run(text: &str, n: usize) -> Option<String> {
    digit_runs(text, n).into_iter().next()
}

/// The test's usual transaction `id`: 1 250 000 rials at "Shop".
pub fn wire_txn(id: &str) -> Txn {
    Txn {
        id: id.to_owned(),
        amount: 1_250_000,
        merchant: "Shop".to_owned(),
    }
}

pub fn txn(id: &str) -> Value {
    serde_json::to_value(wire_txn(id)).expect("a transaction serializes")
}

/// The verdict `/v1/verify` answers: approved or not, response code, reason.
pub fn verdict(approved: bool, response_code: &str, reason: &str) -> VerifyResult {
    VerifyResult {
        approved,
        response_code: response_code.to_owned(),
        reason: reason.to_owned(),
    }
}

/// An answer read as the pooya-wire type `T`; panics, showing the body, if it is not one.
pub fn read<T: DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| {
        panic!(
            "the answer is not a {}: {e}: {body}",
            std::any::type_name::<T>()
        )
    })
}

/// Whether `digits` is a card number: 16 to 19 digits passing the Luhn check.
pub fn luhn_ok(digits: &str) -> bool {
    pooya_wire::card_number::is_valid(digits)
}

/// The card number `prefix` + the one digit that makes it pass Luhn + `tail`.
pub fn pan_with(prefix: &str, tail: &str) -> String {
    (0..10)
        .map(|d| format!("{prefix}{d}{tail}"))
        .find(|p| luhn_ok(p))
        .expect("one digit completes the Luhn check")
}

/// Every run of exactly `n` ASCII digits in `text`.
pub fn digit_runs(text: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            run.push(ch);
        } else {
            if run.len() == n {
                out.push(run.clone());
            }
            run.clear();
        }
    }
    out
}
