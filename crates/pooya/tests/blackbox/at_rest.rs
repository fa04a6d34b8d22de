//! Issues 13 and 20: data at rest, through the real binary, on SQLite and PostgreSQL.
//!
//! - Every file the server writes is private (0600, its data directory 0700) whatever the umask it
//!   runs under; an existing directory open to others is named at start.
//! - A copy of the database, without the key hierarchy, checks no PIN.
//! - Someone who can write the database but holds no key gains nothing by editing it: a queued
//!   SMS whose recipient was changed, or whose sealed body was swapped with another's, is refused,
//!   not sent; a card's PIN hash, static password hash or SMS-channel MACs copied onto another card
//!   open nothing there.
//! - A database written by the code before (commit 96e3aff: `fixtures/main-96e3aff`, made by its
//!   `make.sh` with that commit's binary) is upgraded at start: its PINs, static passwords, fixed
//!   and variable parts and queued SMS keep working; a plain hash planted afterwards is refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

const PAN2_PIN: &str = "4321";
const PAN2_SECOND: &str = "667788";
const SHORT_NUMBER: &str = "10002516";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every file under `dir` (not the directories), recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn activate_sms(srv: &TestServer, pan: &str, pin: &str, mobile: &str) -> String {
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": pan, "pin": pin, "mobile": mobile}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["fixed_part"].as_str().unwrap().to_owned()
}

async fn request_variable_part(srv: &TestServer, from: &str, last4: &str) {
    let (s, v) = srv
        .post(
            "/v1/sms/inbound",
            "sms",
            json!({"from": from, "to": SHORT_NUMBER, "text": last4}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
}

async fn atm_deactivate(srv: &TestServer, pan: &str, pin: &str) -> (u16, Value) {
    srv.post("/v1/atm/deactivate", "atm", json!({"pan": pan, "pin": pin}))
        .await
}

/// Customers C1 (MOBILE, card PAN: PIN and STATIC_SECOND) and C2 (MOBILE2, card PAN2:
/// PAN2_PIN and PAN2_SECOND).
async fn two_holders(srv: &TestServer) {
    srv.with_card().await;
    srv.customer("C2", MOBILE2).await;
    let (s, v) = srv
        .post(
            "/v1/cards",
            "branch",
            json!({"pan": PAN2, "customer_id": "C2", "expiry": "9912",
                   "pin": PAN2_PIN, "second_password": PAN2_SECOND}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

async fn outbox_status(srv: &TestServer, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, v) = srv.get("/v1/admin/outbox", "admin").await;
        assert_eq!(s, 200, "{v}");
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------------ files

#[tokio::test]
async fn files_are_private_whatever_the_umask() {
    for umask in [0o022, 0o000] {
        let srv = TestServer::start_under_umask(TEST_CONFIG, umask).await;
        srv.with_card().await;
        activate_sms(&srv, PAN, PIN, MOBILE).await;
        request_variable_part(&srv, MOBILE, "7898").await;
        srv.outbox_wait(1).await;
        let data = srv.data_dir();
        assert_eq!(mode(&data), 0o700, "umask {umask:03o}: the data directory");
        let files = files_under(&data);
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut expected = vec!["master.key", "bootstrap-keys.json", "sms-outbox.jsonl"];
        if srv.db.is_none() {
            expected.extend(["pooya.sqlite3", "pooya.sqlite3-wal", "pooya.sqlite3-shm"]);
        }
        for name in expected {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        for f in &files {
            assert_eq!(mode(f), 0o600, "umask {umask:03o}: {}", f.display());
        }
    }
}

#[tokio::test]
async fn an_existing_data_directory_open_to_others_is_named_and_the_servers_files_made_private() {
    let mut srv = TestServer::start().await;
    srv.with_card().await;
    activate_sms(&srv, PAN, PIN, MOBILE).await;
    request_variable_part(&srv, MOBILE, "7898").await;
    srv.outbox_wait(1).await;
    srv.kill9();
    let data = srv.data_dir();
    let loose = std::fs::Permissions::from_mode(0o644);
    let outbox = data.join("sms-outbox.jsonl");
    std::fs::set_permissions(&outbox, loose.clone()).unwrap();
    let db = data.join("pooya.sqlite3");
    if srv.db.is_none() {
        std::fs::set_permissions(&db, loose.clone()).unwrap();
    }
    let stray = data.join("notes.txt");
    std::fs::write(&stray, "the operator's").unwrap();
    std::fs::set_permissions(&stray, loose).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    srv.restart();
    let log = srv
        .wait_log("the data directory is open to others than its owner")
        .await;
    assert!(log.contains("0755"), "{log}");
    assert!(
        log.contains("a file in the data directory is open to others") && log.contains("notes.txt"),
        "{log}"
    );
    assert_eq!(mode(&outbox), 0o600);
    if srv.db.is_none() {
        assert_eq!(mode(&db), 0o600);
        for f in ["pooya.sqlite3-wal", "pooya.sqlite3-shm"] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    }
    assert_eq!(mode(&stray), 0o644, "not the server's: named, left alone");
    assert_eq!(
        mode(&data),
        0o755,
        "the operator's choice: named, left alone"
    );
    assert_eq!(srv.card_info(PAN).await.pan_masked, "628023******7898");
}

// ------------------------------------------------------------------ the database alone

#[tokio::test]
async fn a_copied_database_cannot_check_a_pin() {
    let srv = TestServer::start().await;
    srv.with_card().await;
    let pin_hash = sql_texts(&srv, "SELECT pin_hash FROM cards")
        .await
        .remove(0);
    let second_hash = sql_texts(&srv, "SELECT second_hash FROM cards")
        .await
        .remove(0);
    // The thief's offline search: every 4-digit PIN against the stored hash, with Argon2id's own
    // parameters as the stored value gives them.
    use argon2::PasswordVerifier;
    let argon = argon2::Argon2::default();
    let found = (0..10_000)
        .map(|n| format!("{n:04}"))
        .find(|pin| argon.verify_password(pin.as_bytes(), &*pin_hash).is_ok());
    assert_eq!(found, None, "the PIN from the database alone: {pin_hash}");
    assert!(argon
        .verify_password(STATIC_SECOND.as_bytes(), &*second_hash)
        .is_err());
    assert!(!pin_hash.contains("argon2") && !second_hash.contains("argon2"));
    // The server, with its keys, still checks it.
    let (s, v) = atm_deactivate(&srv, PAN, PIN).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_pin_or_static_password_hash_copied_onto_another_card_unlocks_nothing() {
    let srv = TestServer::start().await;
    two_holders(&srv).await;
    // The holder of PAN2, with write access to the database, gives PAN his own hashes.
    let n = sql_with(
        &srv,
        "UPDATE cards SET \
           pin_hash = (SELECT pin_hash FROM cards WHERE pan_masked = $1), \
           second_hash = (SELECT second_hash FROM cards WHERE pan_masked = $2) \
         WHERE pan_masked = $3",
        &["628023******7880", "628023******7880", "628023******7898"],
    )
    .await;
    assert_eq!(n, 1);
    let (s, v) = atm_deactivate(&srv, PAN, PAN2_PIN).await;
    assert_eq!((s, &v["error"]["code"]), (403, &json!("wrong_pin")), "{v}");
    let v = srv.verify(PAN, "second", PAN2_SECOND, "t1").await;
    assert!(!v.approved, "{v:?}");
    let v = srv.verify(PAN, "first", PAN2_PIN, "t2").await;
    assert!(!v.approved, "{v:?}");
    // On their own card they still work.
    let (s, v) = atm_deactivate(&srv, PAN2, PAN2_PIN).await;
    assert_eq!(s, 200, "{v}");
    let v = srv.verify(PAN2, "second", PAN2_SECOND, "t3").await;
    assert!(v.approved, "{v:?}");
}

#[tokio::test]
async fn sms_channel_macs_copied_onto_another_card_unlock_nothing() {
    let srv = TestServer::start().await;
    two_holders(&srv).await;
    activate_sms(&srv, PAN, PIN, MOBILE).await;
    let fixed2 = activate_sms(&srv, PAN2, PAN2_PIN, MOBILE2).await;
    // The holder of PAN2 asks for a variable part: his own password is fixed2 + var2.
    request_variable_part(&srv, MOBILE2, "7880").await;
    let msgs = srv.outbox_wait(1).await;
    assert_eq!(msgs[0]["to"], MOBILE2);
    let var2 = srv.variable_part(msgs[0]["text"].as_str().unwrap(), "7880");
    // He copies his card's SMS MACs into PAN's record.
    let svc = |pan_masked: &'static str| {
        let srv = &srv;
        async move {
            let q = format!("SELECT svc FROM cards WHERE pan_masked = '{pan_masked}'");
            serde_json::from_str::<Value>(&sql_texts(srv, &q).await.remove(0)).unwrap()
        }
    };
    let his = svc("628023******7880").await;
    let mut victim = svc("628023******7898").await;
    victim["sms"]["fixed_mac"] = his["sms"]["fixed_mac"].clone();
    victim["sms"]["variable"] = his["sms"]["variable"].clone();
    let n = sql_with(
        &srv,
        "UPDATE cards SET svc = $1 WHERE pan_masked = $2",
        &[&victim.to_string(), "628023******7898"],
    )
    .await;
    assert_eq!(n, 1);
    let v = srv
        .verify(PAN, "second", &format!("{fixed2}{var2}"), "t1")
        .await;
    assert!(!v.approved, "{v:?}");
    // On his own card it was a good password.
    let v = srv
        .verify(PAN2, "second", &format!("{fixed2}{var2}"), "t2")
        .await;
    assert!(v.approved, "{v:?}");
}

#[tokio::test]
async fn queued_sms_edited_in_the_database_are_refused_not_sent() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = format!(
        "{TEST_CONFIG}\n[sms_provider]\nkind = \"http\"\n[sms_provider.http]\n\
         url = \"http://127.0.0.1:{port}/send\"\nbody_template = '{{\"to\": \"{{to}}\", \"text\": \"{{text}}\"}}'\n\
         timeout_ms = 500\n"
    );
    let mut srv = TestServer::start_with(&down, &[]).await;
    two_holders(&srv).await;
    activate_sms(&srv, PAN, PIN, MOBILE).await;
    activate_sms(&srv, PAN2, PAN2_PIN, MOBILE2).await;
    // Four messages wait for a gateway that is down: two variable parts, two transaction codes.
    request_variable_part(&srv, MOBILE, "7898").await;
    request_variable_part(&srv, MOBILE2, "7880").await;
    for (pan, id) in [(PAN, "T1"), (PAN2, "T2")] {
        let (s, v) = srv
            .post(
                "/v1/otp-requests",
                "switch",
                json!({"pan": pan, "txn": {"id": id, "amount": 1000, "merchant": "Shop"}}),
            )
            .await;
        assert_eq!(s, 202, "{v}");
    }
    outbox_status(&srv, |v| v["queued"] == 4 && v["retrying"] == 4).await;
    srv.kill9();
    let ids = sql_texts(
        &srv,
        "SELECT CAST(id AS TEXT) || ':' || to_mobile FROM sms_outbox ORDER BY id",
    )
    .await;
    assert_eq!(ids.len(), 4, "{ids:?}");
    let id = |i: usize| ids[i].split(':').next().unwrap().to_owned();
    // PAN's variable part redirected to MOBILE2.
    let n = sql_with(
        &srv,
        "UPDATE sms_outbox SET to_mobile = $1 WHERE CAST(id AS TEXT) = $2",
        &[MOBILE2, &id(0)],
    )
    .await;
    assert_eq!(n, 1);
    // PAN2's variable part and PAN's transaction code swap their sealed bodies.
    let body = |i: String| {
        let srv = &srv;
        async move {
            let q = format!("SELECT body FROM sms_outbox WHERE CAST(id AS TEXT) = '{i}'");
            sql_texts(srv, &q).await.remove(0)
        }
    };
    let (b1, b2) = (body(id(1)).await, body(id(2)).await);
    for (i, b) in [(id(1), b2), (id(2), b1)] {
        let q = "UPDATE sms_outbox SET body = $1 WHERE CAST(id AS TEXT) = $2";
        assert_eq!(sql_with(&srv, q, &[&b, &i]).await, 1);
    }
    // The gateway is back (the outbox file); the retries fall due.
    srv.config = TEST_CONFIG.to_owned();
    srv.restart();
    srv.advance(5_000).await;
    let st = outbox_status(&srv, |v| v["refused"] == 3 && v["sent"] == 1).await;
    assert_eq!(
        (st["queued"].clone(), st["given_up"].clone()),
        (json!(0), json!(0)),
        "{st}"
    );
    let sent = srv.outbox();
    assert_eq!(sent.len(), 1, "only the untouched message: {sent:?}");
    assert_eq!(sent[0]["to"], MOBILE2);
    assert!(
        sent[0]["text"].as_str().unwrap().contains("7880"),
        "{sent:?}"
    );
    srv.wait_log("SMS refused").await;
    // Refused for good: long after, the worker sends a new message and none of them.
    srv.advance(600_000).await;
    request_variable_part(&srv, MOBILE2, "7880").await;
    let sent = srv.outbox_wait(2).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let st = outbox_status(&srv, |v| v["sent"] == 2).await;
    assert_eq!(
        (st["refused"].clone(), st["queued"].clone()),
        (json!(3), json!(0)),
        "{st}"
    );
}

// ------------------------------------------------------------------ the upgrade

/// What `make.sh` recorded beside the database it made.
struct Fixture {
    t0: i64,
    sql: String,
    master_key: Vec<u8>,
    keys: Value,
    fixed_part_a: String,
    receipt_code_c: String,
}

fn fixture(store: &str) -> Fixture {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/blackbox/fixtures/main-96e3aff");
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{store}.json"))).unwrap())
            .unwrap();
    let s = |k: &str| meta[k].as_str().unwrap().to_owned();
    Fixture {
        t0: meta["t0"].as_i64().unwrap(),
        sql: std::fs::read_to_string(dir.join(format!("{store}.sql"))).unwrap(),
        master_key: data_encoding::HEXLOWER
            .decode(s("master_key_hex").as_bytes())
            .unwrap(),
        keys: meta["keys"].clone(),
        fixed_part_a: s("fixed_part_a"),
        receipt_code_c: s("receipt_code_c"),
    }
}

/// `srv` (stopped) on the fixture's database, master key and channel keys instead of its own.
async fn load_fixture(srv: &mut TestServer) -> Fixture {
    let f = fixture(if srv.db.is_some() {
        "postgres"
    } else {
        "sqlite"
    });
    let data = srv.data_dir();
    match &srv.db {
        Some(_) => {
            sql(srv, "DROP SCHEMA public CASCADE; CREATE SCHEMA public").await;
            sql(srv, &f.sql).await;
        }
        None => {
            for name in ["pooya.sqlite3", "pooya.sqlite3-wal", "pooya.sqlite3-shm"] {
                let _ = std::fs::remove_file(data.join(name));
            }
            std::fs::File::create(data.join("pooya.sqlite3")).unwrap();
            sql(srv, &f.sql).await;
        }
    }
    std::fs::write(data.join("master.key"), &f.master_key).unwrap();
    std::fs::set_permissions(
        data.join("master.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(data.join("bootstrap-keys.json"), f.keys.to_string()).unwrap();
    srv.keys = f.keys.clone();
    f
}

#[tokio::test]
async fn a_database_written_before_is_upgraded_at_start_and_keeps_working() {
    let mut srv = TestServer::start().await;
    srv.kill9();
    let f = load_fixture(&mut srv).await;
    srv.restart();
    let log = srv.wait_log("database upgraded").await;
    assert!(
        log.contains("cards=3") && log.contains("sms_resealed=3"),
        "{log}"
    );
    // Nothing plain is left to guess at.
    for col in ["pin_hash", "second_hash"] {
        let q = format!("SELECT {col} FROM cards");
        let hashes = sql_texts(&srv, &q).await;
        assert_eq!(hashes.len(), 3);
        assert!(hashes.iter().all(|h| !h.contains("argon2")), "{hashes:?}");
    }

    // The three SMS queued by the old server leave, to their own recipients.
    let (s, v) = srv
        .post(
            "/v1/test/clock",
            "admin",
            json!({ "set_unix_ms": f.t0 + 5_000 }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let msgs = srv.outbox_wait(3).await;
    let text = |to: &str, digits: usize| {
        msgs.iter()
            .filter(|m| m["to"] == to)
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .find(|t| first_digit_run(t, digits).is_some())
            .unwrap_or_else(|| panic!("an SMS to {to} with {digits} digits in {msgs:?}"))
    };
    // Card A (SMS channel): the fixed part of the old receipt and the queued variable part.
    let var_a = srv.variable_part(&text(MOBILE, 4), "7898");
    let v = srv
        .verify(PAN, "second", &format!("{}{var_a}", f.fixed_part_a), "a1")
        .await;
    assert!(v.approved, "{v:?}");
    // Card B: the queued transaction code, for its own transaction; the static passwords.
    let txn_code = first_digit_run(&text(MOBILE2, 8), 8).unwrap();
    srv.hygiene.secret(&txn_code, hygiene::Allowed::Sms);
    let v = srv.verify(PAN2, "second", &txn_code, "TB1").await;
    assert!(v.approved, "{v:?}");
    let v = srv.verify(PAN2, "second", PAN2_SECOND, "b2").await;
    assert!(v.approved, "{v:?}");
    let (s, v) = atm_deactivate(&srv, PAN2, PAN2_PIN).await;
    assert_eq!(s, 200, "{v}");
    // Card C: the app activation, with the old receipt and the queued SMS code.
    let activation = msgs
        .iter()
        .filter(|m| m["to"] == MOBILE2)
        .map(|m| m["text"].as_str().unwrap())
        .find(|t| digit_runs(t, 8).is_empty())
        .expect("the activation SMS");
    let sms_code = first_digit_run(activation, 6).expect("its code");
    srv.hygiene.secret(&sms_code, hygiene::Allowed::Sms);
    srv.enroll(PAN3, &f.receipt_code_c, &sms_code)
        .await
        .expect("enrollment with the codes of the old server");

    // Once: a second start upgrades nothing and everything still works.
    srv.restart();
    let (s, v) = atm_deactivate(&srv, PAN2, PAN2_PIN).await;
    assert_eq!(s, 200, "{v}");
    let log = std::fs::read_to_string(srv.log_path()).unwrap();
    assert_eq!(log.matches("database upgraded").count(), 1, "{log}");

    // A plain hash planted afterwards (anyone can compute one) is refused, not adopted.
    use argon2::PasswordHasher;
    let planted = argon2::Argon2::default()
        .hash_password(b"9999")
        .unwrap()
        .to_string();
    let n = sql_with(
        &srv,
        "UPDATE cards SET pin_hash = $1 WHERE pan_masked = $2",
        &[&planted, "628023******7880"],
    )
    .await;
    assert_eq!(n, 1);
    srv.restart();
    srv.wait_log("plain PIN or second-password hash").await;
    let (s, v) = atm_deactivate(&srv, PAN2, "9999").await;
    assert_eq!((s, &v["error"]["code"]), (403, &json!("wrong_pin")), "{v}");
}
