//! The store's contract, run against every backend: SQLite always, PostgreSQL when
//! `POOYA_TEST_POSTGRES_URL` names a server (CI sets it; `.ci/run`). Each PostgreSQL test gets a
//! database of its own, so tests run in parallel.

use pooya_issuer::card::{CardRecord, Service};
use pooya_issuer::domain::{CustomerId, Expiry, Mobile, Pan, Role};
use pooya_issuer::store::*;
use pooya_store_sql::test_support::{app_token, execute_sql, TempPg};
use pooya_store_sql::{SqlOptions, SqlStore};

const PG_ENV: &str = "POOYA_TEST_POSTGRES_URL";

/// The backends to test: (name, store, guard that keeps the database alive).
async fn backends() -> Vec<(
    &'static str,
    SqlStore,
    Option<TempPg>,
    Option<tempfile::TempDir>,
)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlStore::open_sqlite(&dir.path().join("t.sqlite3"), &SqlOptions::default())
        .await
        .expect("sqlite opens");
    let mut out = vec![("sqlite", sqlite, None, Some(dir))];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => {
            let pg = TempPg::create(&url, "pooya_t")
                .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
            let store = SqlStore::connect(&pg.url, &SqlOptions::default())
                .await
                .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
            out.push(("postgres", store, Some(pg), None));
        }
        _ => eprintln!("{PG_ENV} not set: PostgreSQL store tests skipped (SQLite only)"),
    }
    out
}

fn customer(id: &str, mobile: &str) -> CustomerRecord {
    CustomerRecord {
        id: CustomerId::parse(id).unwrap(),
        mobile: Mobile::parse(mobile).unwrap(),
        created_at: 1,
        version: 0,
    }
}

fn card(pan: &str, hash: &str, customer: &str) -> CardRecord {
    CardRecord::new(
        &Pan::parse(pan).unwrap(),
        hash.to_owned(),
        CustomerId::parse(customer).unwrap(),
        Expiry::parse("9912").unwrap(),
        "pin-hash".into(),
        "second-hash".into(),
        1,
    )
}

/// Customer `C1` with one card, `h1`: where several tests start.
async fn customer_c1_with_card_h1(store: &SqlStore) {
    store
        .commit(Commit {
            new_customers: vec![customer("C1", "09121234567")],
            new_cards: vec![card("6280231234567898", "h1", "C1")],
            ..Commit::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn customers_cards_and_version_guards() {
    for (name, store, _pg, _dir) in backends().await {
        let c1 = customer("C1", "09121234567");
        store
            .commit(Commit {
                new_customers: vec![c1.clone()],
                ..Commit::default()
            })
            .await
            .unwrap();
        let dup = store
            .commit(Commit {
                new_customers: vec![c1.clone()],
                ..Commit::default()
            })
            .await;
        assert!(matches!(dup, Err(StoreError::Duplicate)), "{name}");
        let got = store.customer(&c1.id).await.unwrap().unwrap();
        assert_eq!(got.mobile.as_str(), "09121234567", "{name}");
        assert_eq!(got.version, 0);

        let card = card("6280231234567898", "h1", "C1");
        store
            .commit(Commit {
                new_cards: vec![card.clone()],
                customer_guards: vec![(c1.id.clone(), 0)],
                ..Commit::default()
            })
            .await
            .unwrap();
        let loaded = store.card("h1").await.unwrap().unwrap();
        assert_eq!(loaded, card, "{name}: round trip");

        // Two writers read version 0; the first wins, the second must read again.
        let mut a = loaded.clone();
        a.second_blocked = true;
        let mut b = loaded.clone();
        b.svc.failures.push(5);
        store
            .commit(Commit {
                cards: vec![a],
                ..Commit::default()
            })
            .await
            .unwrap();
        let lost = store
            .commit(Commit {
                cards: vec![b],
                ..Commit::default()
            })
            .await;
        assert!(matches!(lost, Err(StoreError::Conflict)), "{name}");
        let now = store.card("h1").await.unwrap().unwrap();
        assert!(now.second_blocked && now.svc.failures.is_empty(), "{name}");
        assert_eq!(now.version, 1);

        // A failed commit leaves nothing behind (all or nothing).
        let mut stale = now.clone();
        stale.version = 0;
        let r = store
            .commit(Commit {
                cards: vec![stale],
                outbox: vec![OutgoingSms {
                    to: c1.mobile.clone(),
                    text: "x".into(),
                    msg_id: "m".into(),
                    created_at: 1,
                    expires_at: None,
                }],
                ..Commit::default()
            })
            .await;
        assert!(matches!(r, Err(StoreError::Conflict)));
        assert!(
            store.outbox_due(i64::MAX, 10).await.unwrap().is_empty(),
            "{name}"
        );

        // A customer changed meanwhile fails a guard on the version read before.
        let mut moved = got.clone();
        moved.mobile = Mobile::parse("09351234567").unwrap();
        store
            .commit(Commit {
                customers: vec![moved],
                ..Commit::default()
            })
            .await
            .unwrap();
        let guarded = store
            .commit(Commit {
                customer_guards: vec![(c1.id.clone(), 0)],
                ..Commit::default()
            })
            .await;
        assert!(matches!(guarded, Err(StoreError::Conflict)), "{name}");
        let by_mobile = store
            .cards_by_mobile(&Mobile::parse("09351234567").unwrap())
            .await
            .unwrap();
        assert_eq!(by_mobile.len(), 1, "{name}");
        assert!(store
            .cards_by_mobile(&Mobile::parse("09121234567").unwrap())
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.cards_of_customer(&c1.id).await.unwrap().len(), 1);
        assert!(store.card_by_token("nope").await.unwrap().is_none());
    }
}

fn run(id: &str, live: bool, expires_at: i64) -> EnrollmentRunRecord {
    EnrollmentRunRecord {
        id: id.into(),
        pan_hash: "h1".into(),
        pan_masked: "628023******7898".into(),
        tries_key: "k1".into(),
        kind: if live {
            RunKind::Live(pooya_issuer::card::LiveRun {
                activation_id: "act1".into(),
                pending_sealed: vec![0, 1, 2, 255],
                lifetime_secs: 90,
            })
        } else {
            RunKind::Decoy
        },
        expires_at,
    }
}

#[tokio::test]
async fn enrollment_tries_count_per_key_and_window() {
    for (name, store, _pg, _dir) in backends().await {
        let window = |used, ends_at| TriesWindow { used, ends_at };
        for used in 1..=3 {
            let t = store.take_enrollment_try("k1", 3, 1_000, 10).await.unwrap();
            assert_eq!(t, TryTaken::Counted(window(used, 1_000)), "{name}");
        }
        // Used up: nothing changes, and the window's end is told.
        let t = store.take_enrollment_try("k1", 3, 2_000, 20).await.unwrap();
        assert_eq!(t, TryTaken::UsedUp(window(3, 1_000)), "{name}");
        assert_eq!(store.enrollment_tries("k1", 999).await.unwrap(), 3);
        // Another key counts alone.
        let t = store.take_enrollment_try("k2", 3, 1_000, 10).await.unwrap();
        assert_eq!(t, TryTaken::Counted(window(1, 1_000)), "{name}");
        // An ended window counts as none, and the next try opens a new one.
        assert_eq!(store.enrollment_tries("k1", 1_000).await.unwrap(), 0);
        let t = store
            .take_enrollment_try("k1", 3, 5_000, 1_000)
            .await
            .unwrap();
        assert_eq!(t, TryTaken::Counted(window(1, 5_000)), "{name}");
        // Forgotten by a commit (the holder proved the codes).
        store
            .commit(Commit {
                cleared_enrollment_tries: vec!["k1".into()],
                ..Commit::default()
            })
            .await
            .unwrap();
        assert_eq!(store.enrollment_tries("k1", 1_001).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn enrollment_runs_are_stored_answered_once_and_forgotten() {
    for (name, store, _pg, _dir) in backends().await {
        let (live, decoy) = (run("r1", true, 500), run("r2", false, 500));
        store
            .commit(Commit {
                new_enrollment_runs: vec![live.clone(), decoy.clone()],
                ..Commit::default()
            })
            .await
            .unwrap();
        assert_eq!(
            store.enrollment_run("r1").await.unwrap(),
            Some(live),
            "{name}"
        );
        assert_eq!(
            store.enrollment_run("r2").await.unwrap(),
            Some(decoy),
            "{name}"
        );
        assert_eq!(store.enrollment_run("r3").await.unwrap(), None, "{name}");
        let close = |id: &str| Commit {
            closed_enrollment_runs: vec![id.into()],
            ..Commit::default()
        };
        store.commit(close("r1")).await.unwrap();
        assert_eq!(store.enrollment_run("r1").await.unwrap(), None, "{name}");
        // One answer per run: closing it again is a lost race.
        let again = store.commit(close("r1")).await;
        assert!(matches!(again, Err(StoreError::Conflict)), "{name}");
        // A run out of date is forgotten by a later try.
        store
            .take_enrollment_try("k9", 3, 10_000, 500)
            .await
            .unwrap();
        assert_eq!(store.enrollment_run("r2").await.unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn verifications_are_unique_per_card_and_txn() {
    for (name, store, _pg, _dir) in backends().await {
        customer_c1_with_card_h1(&store).await;
        let v = VerificationRecord {
            pan_hash: "h1".into(),
            txn_id: "T1".into(),
            fingerprint: vec![1, 2, 3],
            response_code: "00".into(),
            reason: "approved".into(),
            at: 9,
            merchant: Some("Shop".into()),
        };
        store
            .commit(Commit {
                verifications: vec![v.clone()],
                ..Commit::default()
            })
            .await
            .unwrap();
        let again = store
            .commit(Commit {
                verifications: vec![v.clone()],
                ..Commit::default()
            })
            .await;
        assert!(matches!(again, Err(StoreError::Conflict)), "{name}");
        assert_eq!(
            store.verification("h1", "T1").await.unwrap(),
            Some(v),
            "{name}"
        );
        assert_eq!(store.verification("h1", "T2").await.unwrap(), None);
    }
}

/// A verification of card `h1`, at `at`, naming `merchant`.
fn verification(txn: &str, at: i64, merchant: Option<&str>) -> VerificationRecord {
    VerificationRecord {
        pan_hash: "h1".into(),
        txn_id: txn.into(),
        fingerprint: vec![1, 2, 3],
        response_code: "00".into(),
        reason: "approved".into(),
        at,
        merchant: merchant.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_verifications_merchant_is_read_back_by_every_read() {
    for (name, store, _pg, _dir) in backends().await {
        customer_c1_with_card_h1(&store).await;
        // A Persian name, a Latin one with markup (the console escapes it), and none.
        let recs = [
            verification("T1", 10, Some("فروشگاه پویا")),
            verification("T2", 20, Some("Café <b>&</b> Co")),
            verification("T3", 30, None),
        ];
        store
            .commit(Commit {
                verifications: recs.to_vec(),
                ..Commit::default()
            })
            .await
            .unwrap();
        for v in &recs {
            let read = store.verification("h1", &v.txn_id).await.unwrap();
            assert_eq!(read.as_ref(), Some(v), "{name}");
            let (_, joined) = store.card_for_verification("h1", &v.txn_id).await.unwrap();
            assert_eq!(joined.as_ref(), Some(v), "{name}: the verification's read");
        }
        // The console's card page: the newest first.
        let recent = store.recent_verifications("h1", 2).await.unwrap();
        assert_eq!(recent, [recs[2].clone(), recs[1].clone()], "{name}");
    }
}

/// A database a server before migration 0011 wrote: its verifications have no merchant column.
/// Opened by this version, the column is added and those rows read back with none.
#[tokio::test]
async fn a_verification_stored_before_the_merchant_column_reads_back_without_one() {
    let opts = SqlOptions::default();
    for (name, store, pg, dir) in backends().await {
        customer_c1_with_card_h1(&store).await;
        drop(store);
        let (url, path) = match (&pg, &dir) {
            (Some(pg), _) => (pg.url.clone(), None),
            (None, Some(dir)) => {
                let path = dir.path().join("t.sqlite3");
                (format!("sqlite://{}", path.display()), Some(path))
            }
            (None, None) => unreachable!("every backend keeps its database"),
        };
        // Back to the schema before 0011, and a row as that server wrote it.
        execute_sql(&url, "ALTER TABLE verifications DROP COLUMN merchant").await;
        execute_sql(&url, "DELETE FROM pooya_migrations WHERE version = 11").await;
        let bytes = if pg.is_some() {
            "'\\x010203'"
        } else {
            "X'010203'"
        };
        execute_sql(
            &url,
            &format!(
                "INSERT INTO verifications (pan_hash, txn_id, fingerprint, response_code, reason, \
                 at) VALUES ('h1', 'T0', {bytes}, '00', 'approved', 5)"
            ),
        )
        .await;
        let store = match &path {
            Some(path) => SqlStore::open_sqlite(path, &opts).await.unwrap(),
            None => SqlStore::connect(&url, &opts).await.unwrap(),
        };
        let old = verification("T0", 5, None);
        assert_eq!(
            store.verification("h1", "T0").await.unwrap().as_ref(),
            Some(&old),
            "{name}"
        );
        // The column is back: a new verification keeps its merchant beside the old row.
        let new = verification("T1", 6, Some("Shop"));
        store
            .commit(Commit {
                verifications: vec![new.clone()],
                ..Commit::default()
            })
            .await
            .unwrap();
        let recent = store.recent_verifications("h1", 10).await.unwrap();
        assert_eq!(recent, [new, old], "{name}");
    }
}

#[tokio::test]
async fn outbox_lifecycle_and_keys() {
    for (name, store, _pg, _dir) in backends().await {
        let to = Mobile::parse("09121234567").unwrap();
        let msg = |t: &str, exp| OutgoingSms {
            to: to.clone(),
            text: t.into(),
            msg_id: format!("id-{t}"),
            created_at: 100,
            expires_at: exp,
        };
        store
            .commit(Commit {
                outbox: vec![msg("a", Some(1000)), msg("b", None), msg("c", None)],
                ..Commit::default()
            })
            .await
            .unwrap();
        let due = store.outbox_due(100, 10).await.unwrap();
        assert_eq!(due.len(), 3, "{name}");
        let due: Vec<QueuedSms> = due;
        assert_eq!(due[0].sms.text, "a");
        assert_eq!(due[0].sms.msg_id, "id-a", "{name}: the message's own id");
        assert_eq!(due[0].sms.expires_at, Some(1000));
        assert!(store.outbox_due(99, 10).await.unwrap().is_empty(), "{name}");
        // One worker's claim hides the messages from the others until its lease runs out.
        let claimed = store.outbox_claim(100, 50, 2).await.unwrap();
        assert_eq!(claimed.len(), 2, "{name}");
        assert_eq!(claimed[0].id, due[0].id);
        let other = store.outbox_claim(120, 50, 10).await.unwrap();
        assert_eq!(other.len(), 1, "{name}: only the unclaimed one");
        assert_eq!(other[0].id, due[2].id);
        assert!(store.outbox_claim(149, 50, 10).await.unwrap().is_empty());
        assert_eq!(
            store.outbox_claim(150, 50, 10).await.unwrap().len(),
            2,
            "{name}: lease over"
        );
        store.outbox_sent(due[0].id, 101).await.unwrap();
        store.outbox_retry(due[1].id, "busy", 5000).await.unwrap();
        store
            .outbox_give_up(due[2].id, "expired", 102)
            .await
            .unwrap();
        assert!(
            store.outbox_due(200, 10).await.unwrap().is_empty(),
            "{name}"
        );
        let later = store.outbox_claim(5000, 50, 10).await.unwrap();
        assert_eq!(
            later.len(),
            1,
            "{name}: a retried message is claimable when due"
        );
        assert_eq!(later[0].attempts, 1);

        assert_eq!(store.count_api_keys().await.unwrap(), 0);
        let k = ApiKeyRecord {
            key_hash: "abc".into(),
            role: Role::Switch,
            label: "l".into(),
            created_at: 1,
        };
        store
            .insert_api_keys(std::slice::from_ref(&k))
            .await
            .unwrap();
        assert!(matches!(
            store.insert_api_keys(std::slice::from_ref(&k)).await,
            Err(StoreError::Duplicate)
        ));
        assert_eq!(store.api_key("abc").await.unwrap(), Some(k), "{name}");
        assert_eq!(store.count_api_keys().await.unwrap(), 1);
        store.ping().await.unwrap();
        assert!(
            store.master_key_check("aa").await.unwrap(),
            "{name}: first one recorded"
        );
        assert!(store.master_key_check("aa").await.unwrap(), "{name}");
        assert!(
            !store.master_key_check("bb").await.unwrap(),
            "{name}: another key"
        );
    }
}

#[tokio::test]
async fn reopening_runs_no_migration_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite3");
    for _ in 0..2 {
        let s = SqlStore::open_sqlite(&path, &SqlOptions::default())
            .await
            .unwrap();
        s.ping().await.unwrap();
    }
    if let Ok(url) = std::env::var(PG_ENV) {
        if !url.is_empty() {
            let pg = TempPg::create(&url, "pooya_t")
                .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
            // Several servers starting at once: the advisory lock serialises their migrations.
            let opts = SqlOptions::default();
            let (a, b, c) = tokio::join!(
                SqlStore::connect(&pg.url, &opts),
                SqlStore::connect(&pg.url, &opts),
                SqlStore::connect(&pg.url, &opts)
            );
            for s in [a, b, c] {
                s.unwrap().ping().await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn outbox_status_counts_by_state() {
    for (name, store, _pg, _dir) in backends().await {
        assert_eq!(
            store.outbox_status().await.unwrap(),
            OutboxStatus::default(),
            "{name}: empty outbox"
        );
        let to = Mobile::parse("09121234567").unwrap();
        let msg = |created_at| OutgoingSms {
            to: to.clone(),
            text: "x".into(),
            msg_id: "m".into(),
            created_at,
            expires_at: None,
        };
        store
            .commit(Commit {
                outbox: vec![msg(100), msg(200), msg(300), msg(400)],
                ..Commit::default()
            })
            .await
            .unwrap();
        let ids: Vec<i64> = store
            .outbox_due(1000, 10)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        store.outbox_retry(ids[0], "busy", 2000).await.unwrap();
        store.outbox_retry(ids[0], "busy", 3000).await.unwrap();
        store.outbox_sent(ids[0], 3000).await.unwrap();
        store.outbox_retry(ids[1], "busy", 2000).await.unwrap();
        store.outbox_give_up(ids[2], "expired", 500).await.unwrap();
        store.outbox_refuse(ids[3], 600).await.unwrap();
        assert_eq!(
            store.outbox_status().await.unwrap(),
            OutboxStatus {
                queued: 1,
                oldest_queued_at: Some(200),
                retrying: 1,
                failed_attempts: 3,
                given_up: 1,
                refused: 1,
                sent: 1,
            },
            "{name}"
        );
        // A refused message is never claimed again; a sent one cannot be refused.
        let claimable: Vec<i64> = store
            .outbox_claim(10_000, 50, 10)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(claimable, vec![ids[1]], "{name}");
        store.outbox_refuse(ids[0], 700).await.unwrap();
        let st = store.outbox_status().await.unwrap();
        assert_eq!((st.sent, st.refused), (1, 1), "{name}");
    }
}

#[tokio::test]
async fn card_number_tails_round_trip() {
    for (name, store, _pg, _dir) in backends().await {
        store
            .commit(Commit {
                new_customers: vec![customer("C1", "09121234567")],
                ..Commit::default()
            })
            .await
            .unwrap();
        let mut with = card("6280231234567898", "h1", "C1");
        with.tail_macs = vec![vec![1u8; 16], vec![2u8; 16], vec![3u8; 16], vec![4u8; 16]];
        let without = card("6280231234567880", "h2", "C1");
        store
            .commit(Commit {
                new_cards: vec![with.clone(), without.clone()],
                ..Commit::default()
            })
            .await
            .unwrap();
        assert_eq!(
            store.card("h1").await.unwrap().unwrap().tail_macs,
            with.tail_macs,
            "{name}"
        );
        assert!(store
            .card("h2")
            .await
            .unwrap()
            .unwrap()
            .tail_macs
            .is_empty());
    }
}

/// A card's token (and so its `token_id` key) installed, kept through changes of the card's
/// state, replaced and removed: each commit finds the card by the token it holds and by no other,
/// and a stale version loses in each case. (SQLite writes a change that keeps the token without
/// touching the token's index, and falls back to the whole row when the token changed.)
#[tokio::test]
async fn token_keys_follow_every_kind_of_card_change() {
    for (name, store, _pg, _dir) in backends().await {
        customer_c1_with_card_h1(&store).await;
        let write = |c: CardRecord| Commit {
            cards: vec![c],
            ..Commit::default()
        };
        let token_of = |t: &str| {
            let store = &store;
            let t = t.to_owned();
            async move { store.card_by_token(&t).await.unwrap().map(|c| c.pan_hash) }
        };
        // Steps: (what the card's token becomes, a state change beside it).
        let steps: [(Option<&str>, bool); 5] = [
            (Some("T1"), false), // installed
            (Some("T1"), true),  // kept, the state changes (a verification)
            (Some("T2"), false), // replaced
            (None, true),        // removed
            (None, true),        // still none, the state changes
        ];
        for (i, (token, state_change)) in steps.into_iter().enumerate() {
            let read = store.card("h1").await.unwrap().unwrap();
            let mut next = read.clone();
            next.svc.service = token.map_or(Service::None, |t| Service::App(app_token(t)));
            if state_change {
                next.svc.failures.push(i as i64);
            }
            let mut stale = next.clone();
            stale.version -= 1;
            if read.version > 0 {
                let lost = store.commit(write(stale)).await;
                assert!(matches!(lost, Err(StoreError::Conflict)), "{name} step {i}");
            }
            store.commit(write(next.clone())).await.unwrap();
            let now = store.card("h1").await.unwrap().unwrap();
            assert_eq!(now.svc.token(), next.svc.token(), "{name} step {i}");
            assert_eq!(now.svc.failures, next.svc.failures, "{name} step {i}");
            assert_eq!(now.version, read.version + 1, "{name} step {i}");
            for t in ["T1", "T2"] {
                let want = (token == Some(t)).then(|| "h1".to_owned());
                assert_eq!(token_of(t).await, want, "{name} step {i}: token {t}");
            }
        }
    }
}

/// Under SERIALIZABLE (or a distributed PostgreSQL-compatible database) a concurrent update makes
/// PostgreSQL abort with a serialization failure: the store reports it as a lost race (`Conflict`,
/// read again and decide again), never as the database being unavailable.
#[tokio::test]
async fn serialization_failures_are_lost_races() {
    let Some(url) = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) else {
        eprintln!("{PG_ENV} not set: serialization test skipped (it needs PostgreSQL)");
        return;
    };
    let pg = TempPg::create(&url, "pooya_t")
        .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
    {
        use sqlx::Executor;
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        c.execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} SET default_transaction_isolation = 'serializable'",
            pg.name()
        )))
        .await
        .unwrap();
    }
    let store = SqlStore::connect(&pg.url, &SqlOptions::default())
        .await
        .unwrap();
    customer_c1_with_card_h1(&store).await;
    for round in 0..40 {
        let read = store.card("h1").await.unwrap().unwrap();
        let mut a = read.clone();
        a.svc.failures.push(round);
        let mut b = read.clone();
        b.second_blocked = !b.second_blocked;
        let (ra, rb) = tokio::join!(
            store.commit(Commit {
                cards: vec![a],
                ..Commit::default()
            }),
            store.commit(Commit {
                cards: vec![b],
                ..Commit::default()
            })
        );
        let oks = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1, "round {round}: {ra:?} {rb:?}");
        for r in [ra, rb] {
            assert!(
                matches!(r, Ok(()) | Err(StoreError::Conflict)),
                "round {round}: {r:?}"
            );
        }
    }
}

/// Commits arriving together share one transaction (group commit): each still stands or falls
/// alone. Of three writers of one card at one version exactly one wins; a duplicate in the same
/// batch fails alone; the losers leave nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_stand_or_fall_alone() {
    for (name, store, _pg, _dir) in backends().await {
        let store = std::sync::Arc::new(store);
        let c1 = customer("G1", "09121234567");
        let cards: Vec<CardRecord> = (0..20)
            .map(|i| card("6280231234567898", &format!("g{i}"), "G1"))
            .collect();
        store
            .commit(Commit {
                new_customers: vec![c1.clone()],
                new_cards: cards.clone(),
                ..Commit::default()
            })
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, c) in cards.iter().enumerate() {
            for w in 0..3 {
                let (store, mut next) = (store.clone(), c.clone());
                next.svc.failures.push(w);
                let v = VerificationRecord {
                    pan_hash: c.pan_hash.clone(),
                    txn_id: format!("t{i}w{w}"),
                    fingerprint: vec![1, 2, 3],
                    response_code: "00".into(),
                    reason: "approved".into(),
                    at: 1,
                    merchant: Some(format!("Shop {w}")),
                };
                tasks.spawn(async move {
                    let r = store
                        .commit(Commit {
                            cards: vec![next],
                            verifications: vec![v],
                            ..Commit::default()
                        })
                        .await;
                    ("card", i, w, r)
                });
            }
        }
        for k in 0..5 {
            let (store, dup) = (store.clone(), c1.clone());
            tasks.spawn(async move {
                let r = store
                    .commit(Commit {
                        new_customers: vec![dup],
                        ..Commit::default()
                    })
                    .await;
                ("dup", k, 0, r)
            });
        }
        let mut winners = vec![Vec::new(); cards.len()];
        while let Some(done) = tasks.join_next().await {
            match done.unwrap() {
                ("card", i, w, Ok(())) => winners[i].push(w),
                ("card", _, _, Err(StoreError::Conflict)) => {}
                ("dup", _, _, Err(StoreError::Duplicate)) => {}
                (what, i, w, r) => panic!("{name}: {what} {i} {w}: {r:?}"),
            }
        }
        assert_eq!(
            store.card_for_verification("nope", "t").await.unwrap(),
            (None, None),
            "{name}: no card"
        );
        for (i, c) in cards.iter().enumerate() {
            assert_eq!(winners[i].len(), 1, "{name}: card {i}: one winner");
            let w = winners[i][0];
            let now = store.card(&c.pan_hash).await.unwrap().unwrap();
            assert_eq!(now.version, 1, "{name}");
            assert_eq!(now.svc.failures, vec![w], "{name}: the winner's card");
            for l in 0..3 {
                let txn = format!("t{i}w{l}");
                let rec = store.verification(&c.pan_hash, &txn).await.unwrap();
                assert_eq!(rec.is_some(), l == w, "{name}: card {i} writer {l}");
                // Read together, card and verification are the same as read apart.
                let (both_card, both_rec) = store
                    .card_for_verification(&c.pan_hash, &txn)
                    .await
                    .unwrap();
                assert_eq!(both_card.as_ref(), Some(&now), "{name}");
                assert_eq!(both_rec, rec, "{name}");
            }
        }
    }
}

/// Verification reads asked at once (PostgreSQL asks those waiting in one statement) each get
/// their own card and their own transaction's stored answer: a stored one, none, or no card.
#[tokio::test]
async fn verification_reads_asked_together_each_get_their_own_answer() {
    for (name, store, _pg, _dir) in backends().await {
        customer_c1_with_card_h1(&store).await;
        let stored = [
            verification("T1", 10, Some("Shop")),
            verification("T2", 20, None),
        ];
        store
            .commit(Commit {
                verifications: stored.to_vec(),
                ..Commit::default()
            })
            .await
            .unwrap();
        let before = store.read_counters();
        let store = std::sync::Arc::new(store);
        // Card h1 with T1, T2 (stored) and T3 (not); card h9 does not exist.
        let asks: Vec<(&str, &str)> = (0..60)
            .map(|i| match i % 4 {
                0 => ("h1", "T1"),
                1 => ("h1", "T2"),
                2 => ("h1", "T3"),
                _ => ("h9", "T1"),
            })
            .collect();
        let tasks: Vec<_> = asks
            .iter()
            .map(|&(card, txn)| {
                let store = store.clone();
                tokio::spawn(async move { store.card_for_verification(card, txn).await })
            })
            .collect();
        for ((card, txn), task) in asks.into_iter().zip(tasks) {
            let (found, answer) = task.await.unwrap().unwrap();
            match card {
                "h1" => {
                    assert_eq!(found.map(|c| c.pan_hash), Some("h1".into()), "{name}");
                    let want = stored.iter().find(|v| v.txn_id == txn);
                    assert_eq!(answer.as_ref(), want, "{name}: {txn}");
                }
                _ => assert!(found.is_none() && answer.is_none(), "{name}"),
            }
        }
        let after = store.read_counters();
        if name == "postgres" {
            assert_eq!(after.reads - before.reads, 60, "{name}");
            assert!(
                after.statements - before.statements < 60,
                "{name}: reads waiting together are asked together: {before:?} -> {after:?}"
            );
        }
    }
}
