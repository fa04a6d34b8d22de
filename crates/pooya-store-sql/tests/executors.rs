//! One description of what a commit writes, run by every executor: the same rounds of commits go
//! through SQLite's writer thread (rusqlite), sqlx on SQLite, sqlx on PostgreSQL one commit per
//! transaction, and PostgreSQL's group commit (verifications set-based, the rest in savepoints).
//! Each executor gives every commit the same answer and leaves the same rows, column by column.
//! PostgreSQL's two run when `POOYA_TEST_POSTGRES_URL` names a server.

use std::collections::BTreeMap;
use std::sync::Arc;

use pooya_issuer::card::{CardRecord, LiveRun, Service};
use pooya_issuer::domain::{CustomerId, Expiry, Mobile, Pan};
use pooya_issuer::keys::Keyring;
use pooya_issuer::store::*;
use pooya_store_sql::test_support::{app_token, keyring, verify_chain, TempPg};
use pooya_store_sql::{BatchCounters, CommitExecutor, SqlOptions, SqlStore};
use sqlx::Row;

const PG_ENV: &str = "POOYA_TEST_POSTGRES_URL";

fn customer(id: &str, mobile: &str, version: i64) -> CustomerRecord {
    CustomerRecord {
        id: CustomerId::parse(id).unwrap(),
        mobile: Mobile::parse(mobile).unwrap(),
        created_at: 1,
        version,
    }
}

/// Card `hash` of customer C1 as read at `version`, holding `token`.
fn card(hash: &str, version: i64, token: Option<&str>) -> CardRecord {
    let mut c = CardRecord::new(
        &Pan::parse("6280231234567898").unwrap(),
        hash.to_owned(),
        CustomerId::parse("C1").unwrap(),
        Expiry::parse("9912").unwrap(),
        "pin-hash".into(),
        "second-hash".into(),
        1,
    );
    c.version = version;
    c.svc.service = token.map_or(Service::None, |t| Service::App(app_token(t)));
    c
}

fn audit(k: &Arc<Keyring>, c: &mut Commit, event: &str) {
    c.audit.push(AuditRecord {
        at: c.at,
        event: event.into(),
        pan_masked: Some("628023******7898".into()),
        customer_id: Some("C1".into()),
        detail: format!("at={}", c.at),
        actor: None,
    });
    c.audit_key = Some(k.clone());
}

/// A verification's commit as the issuer makes it: the card as decided on, the answer, a record.
fn verify(k: &Arc<Keyring>, mut c: CardRecord, txn: &str, at: i64) -> Commit {
    c.second_blocked = !c.second_blocked;
    let mut commit = Commit {
        at,
        verifications: vec![VerificationRecord {
            pan_hash: c.pan_hash.clone(),
            txn_id: txn.to_owned(),
            fingerprint: vec![1, 2, at as u8],
            response_code: "00".into(),
            reason: "approved".into(),
            at,
            // Some named (in Persian: the text as given, byte for byte), some from before 0011.
            merchant: (at % 2 == 0).then(|| format!("فروشگاه {at}")),
        }],
        cards: vec![c],
        ..Commit::default()
    };
    audit(k, &mut commit, "card.verified");
    commit
}

fn sms(msg_id: &str, expires_at: Option<i64>) -> OutgoingSms {
    OutgoingSms {
        to: Mobile::parse("09121234567").unwrap(),
        text: format!("sealed body of {msg_id}"),
        msg_id: msg_id.into(),
        created_at: 5,
        expires_at,
    }
}

fn run(id: &str, live: bool) -> EnrollmentRunRecord {
    EnrollmentRunRecord {
        id: id.into(),
        pan_hash: "ha".into(),
        pan_masked: "628023******7898".into(),
        tries_key: "k1".into(),
        kind: if live {
            RunKind::Live(LiveRun {
                activation_id: "act1".into(),
                pending_sealed: vec![0, 1, 2, 255],
                lifetime_secs: 90,
            })
        } else {
            RunKind::Decoy
        },
        expires_at: 10_000,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    Conflict,
    Duplicate,
}

/// Rounds of commits, each sent to an executor together, with the answer each must get. Within
/// a round, commits that append to one audit lane are about one card (checked below): the group
/// commit sorts a batch by lane and writes its verifications first, so commits of different
/// subjects sharing a lane would chain in another order than one at a time.
fn rounds(k: &Arc<Keyring>) -> Vec<Vec<(Commit, Answer)>> {
    use Answer::*;
    let mut setup = Commit {
        at: 100,
        new_customers: vec![
            customer("C1", "09121234567", 0),
            customer("C2", "09351234567", 0),
        ],
        new_cards: ["ha", "hb", "hd", "he", "hf"]
            .map(|h| card(h, 0, (h == "ha").then_some("T1")))
            .to_vec(),
        ..Commit::default()
    };
    setup.new_cards[0].tail_macs = vec![vec![1; 16], vec![2; 16]];
    audit(k, &mut setup, "customer.created");

    let mut b_with_sms = verify(k, card("hb", 0, None), "t2", 201);
    b_with_sms.outbox = vec![sms("m1", Some(9_000)), sms("m2", None)];
    let mut e_token = Commit {
        at: 202,
        cards: vec![card("he", 0, Some("T2"))],
        ..Commit::default()
    };
    audit(k, &mut e_token, "token.installed");
    let mut f_unaudited = card("hf", 0, None);
    f_unaudited.second_blocked = true;
    let round1 = vec![
        (verify(k, card("ha", 0, Some("T1")), "t1", 200), Ok),
        // The same card at the same version, after the first: lost.
        (verify(k, card("ha", 0, Some("T1")), "t1b", 200), Conflict),
        (b_with_sms, Ok),
        (verify(k, card("hd", 7, None), "t3", 203), Conflict),
        (e_token, Ok),
        (
            Commit {
                at: 300,
                cards: vec![f_unaudited],
                ..Commit::default()
            },
            Ok,
        ),
        (
            Commit {
                at: 301,
                new_customers: vec![customer("C1", "09121234567", 0)],
                ..Commit::default()
            },
            Duplicate,
        ),
        (
            Commit {
                at: 302,
                new_enrollment_runs: vec![run("r1", true), run("r2", false)],
                ..Commit::default()
            },
            Ok,
        ),
    ];

    let mut e_untoken = verify(k, card("he", 1, None), "t5", 401);
    e_untoken.cards[0].svc.failures.push(401);
    let mut g_taken_token = Commit {
        at: 402,
        new_cards: vec![card("hg", 0, Some("T1"))],
        ..Commit::default()
    };
    audit(k, &mut g_taken_token, "card.issued");
    let round2 = vec![
        // An answered transaction again: the set-based batch rolls back and goes one at a time.
        (verify(k, card("ha", 1, Some("T1")), "t1", 400), Conflict),
        (e_untoken, Ok),
        (
            Commit {
                at: 403,
                closed_enrollment_runs: vec!["r1".into()],
                cleared_enrollment_tries: vec!["k1".into()],
                ..Commit::default()
            },
            Ok,
        ),
        (
            Commit {
                at: 404,
                closed_enrollment_runs: vec!["r9".into()],
                ..Commit::default()
            },
            Conflict,
        ),
        // A run id taken already: a lost race, on every executor.
        (
            Commit {
                at: 405,
                new_enrollment_runs: vec![run("r2", true)],
                ..Commit::default()
            },
            Conflict,
        ),
        (g_taken_token, Duplicate),
        (
            Commit {
                at: 406,
                customer_guards: vec![(CustomerId::parse("C1").unwrap(), 5)],
                new_cards: vec![card("hh", 0, None)],
                ..Commit::default()
            },
            Conflict,
        ),
    ];

    let mut b_again = verify(k, card("hb", 1, None), "t6", 500);
    b_again.outbox = vec![sms("m3", Some(9_500))];
    let mut c2_moves = Commit {
        at: 501,
        customers: vec![customer("C2", "09131234567", 0)],
        ..Commit::default()
    };
    audit(k, &mut c2_moves, "customer.mobile_changed");
    let round3 = vec![(b_again, Ok), (c2_moves, Ok)];

    vec![vec![(setup, Ok)], round1, round2, round3]
}

/// A round's commits that append to one lane are about one subject (see [`rounds`]).
fn lanes_hold_one_subject(round: &[(Commit, Answer)]) {
    let mut subjects: BTreeMap<i64, String> = BTreeMap::new();
    for (c, answer) in round {
        if c.audit.is_empty() || *answer != Answer::Ok {
            continue;
        }
        let subject = c
            .cards
            .first()
            .or(c.new_cards.first())
            .map(|k| k.pan_hash.clone())
            .or_else(|| c.customers.first().map(|u| u.id.as_str().to_owned()))
            .unwrap_or_default();
        let held = subjects
            .entry(c.audit_lane())
            .or_insert_with(|| subject.clone());
        assert_eq!(*held, subject, "a round's lane shared by two subjects");
    }
}

/// Every row the commits wrote, as text, table by table in a fixed order; surrogate ids left out
/// (PostgreSQL's sequences move on rolled-back inserts, and the group commit writes a batch's
/// verifications first).
async fn rows(url: &str) -> BTreeMap<&'static str, Vec<Vec<String>>> {
    const TABLES: &[(&str, &str)] = &[
        (
            "customers",
            "customer_id, mobile, created_at, version FROM customers ORDER BY 1",
        ),
        (
            "cards",
            "pan_hash, customer_id, pan_masked, last4, expiry, pin_hash, second_hash, \
             second_blocked, svc, token_id, enrollment_id, created_at, updated_at, tail_macs, \
             version FROM cards ORDER BY 1",
        ),
        (
            "verifications",
            "pan_hash, txn_id, fingerprint, response_code, reason, at, merchant \
             FROM verifications ORDER BY 1, 2",
        ),
        (
            "sms_outbox",
            "msg_id, to_mobile, body, created_at, expires_at, next_attempt_at, attempts, \
             sent_at, gave_up_at, last_error, claimed_until, refused_at FROM sms_outbox \
             ORDER BY 1",
        ),
        (
            "audit",
            "lane, seq, at, event, pan_masked, customer_id, detail, mac FROM audit ORDER BY 1, 2",
        ),
        (
            "audit_chains",
            "lane, seq, mac FROM audit_chains ORDER BY 1",
        ),
        (
            "enrollment_runs",
            "run_id, pan_hash, pan_masked, tries_key, activation_id, pending, lifetime_secs, \
             expires_at FROM enrollment_runs ORDER BY 1",
        ),
        (
            "enrollment_tries",
            "tries_key, used, expires_at FROM enrollment_tries ORDER BY 1",
        ),
    ];
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for (table, select) in TABLES {
        let sql = format!("SELECT {select}");
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let text = found
            .iter()
            .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
            .collect();
        out.insert(*table, text);
    }
    out
}

/// One value as text, whichever type the dialect gave it.
fn cell(r: &sqlx::any::AnyRow, i: usize) -> String {
    if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
        return v.map_or("NULL".into(), |v| format!("int {v}"));
    }
    if let Ok(v) = r.try_get::<Option<String>, _>(i) {
        return v.map_or("NULL".into(), |v| format!("text {v}"));
    }
    match r.try_get::<Option<Vec<u8>>, _>(i) {
        Ok(v) => v.map_or("NULL".into(), |v| format!("bytes {v:?}")),
        Err(e) => panic!("column {i}: {e}"),
    }
}

struct Db {
    url: String,
    store: SqlStore,
    _guard: (Option<TempPg>, Option<tempfile::TempDir>),
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite3");
    Db {
        url: format!("sqlite://{}", path.display()),
        store: SqlStore::open_sqlite(&path, &SqlOptions::default())
            .await
            .unwrap(),
        _guard: (None, Some(dir)),
    }
}

async fn postgres(admin: &str) -> Db {
    let pg = TempPg::create(admin, "pooya_x").expect("PostgreSQL must answer");
    Db {
        url: pg.url.clone(),
        store: SqlStore::connect(&pg.url, &SqlOptions::default())
            .await
            .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer"),
        _guard: (Some(pg), None),
    }
}

#[tokio::test]
async fn every_executor_writes_the_same_rows() {
    let k = keyring(7);
    let mut runs = vec![
        (CommitExecutor::SqliteWriter, sqlite().await),
        (CommitExecutor::SqliteSqlx, sqlite().await),
    ];
    match std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) {
        Some(admin) => {
            runs.push((CommitExecutor::PostgresEach, postgres(&admin).await));
            runs.push((CommitExecutor::PostgresBatch, postgres(&admin).await));
        }
        None => eprintln!("{PG_ENV} not set: the PostgreSQL executors are not compared"),
    }
    let mut written = Vec::new();
    for (executor, db) in &runs {
        for (n, round) in rounds(&k).into_iter().enumerate() {
            lanes_hold_one_subject(&round);
            let (commits, want): (Vec<Commit>, Vec<Answer>) = round.into_iter().unzip();
            let got: Vec<Answer> = db
                .store
                .commit_through(*executor, commits)
                .await
                .into_iter()
                .map(|r| match r {
                    Ok(()) => Answer::Ok,
                    Err(StoreError::Conflict) => Answer::Conflict,
                    Err(StoreError::Duplicate) => Answer::Duplicate,
                    Err(e) => panic!("{executor:?} round {n}: {e}"),
                })
                .collect();
            assert_eq!(got, want, "{executor:?} round {n}");
        }
        assert_eq!(verify_chain(&db.store, &k).await, Ok(7), "{executor:?}");
        written.push((executor, rows(&db.url).await));
    }

    let (first, expected) = &written[0];
    let cards = &expected["cards"];
    // A card's `updated_at` is its commit's time, audited or not (card hf: no audit record);
    // a card never changed keeps its creation time (hd).
    let updated: Vec<&str> = cards.iter().map(|r| r[12].as_str()).collect();
    assert_eq!(
        updated,
        ["int 200", "int 500", "int 1", "int 401", "int 300"],
        "{first:?}"
    );
    assert_eq!(expected["verifications"].len(), 4, "{first:?}");
    assert_eq!(expected["sms_outbox"].len(), 3, "{first:?}");
    assert_eq!(expected["enrollment_runs"].len(), 1, "{first:?}");
    for (executor, got) in &written[1..] {
        for (table, want) in expected {
            assert_eq!(&got[table], want, "{executor:?} against {first:?}: {table}");
        }
    }
    if let Some((_, db)) = runs
        .iter()
        .find(|(e, _)| *e == CommitExecutor::PostgresBatch)
    {
        // Set-based: round 1's verifications of ha and hd and the token of he, statement by
        // statement (hd's stale version lost its race); round 2 redone one commit at a time (its
        // verification of ha was answered before).
        let counters = db.store.batch_counters();
        let want = BatchCounters {
            fast_commits: 3,
            at_once_batches: 0,
            redone_batches: 1,
        };
        assert_eq!(counters, want);
    }
}
