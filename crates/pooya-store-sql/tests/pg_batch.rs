//! The PostgreSQL group commit's set-based path for verification commits, on a real server
//! (`POOYA_TEST_POSTGRES_URL`; skipped without it). `SqlStore::commit_together` hands the store
//! one batch as if its commits had arrived together, so each test knows what shares a batch.

use std::sync::Arc;

use pooya_issuer::card::{AppToken, CardRecord, Service};
use pooya_issuer::domain::{CustomerId, Expiry, Mobile, Pan};
use pooya_issuer::keys::Keyring;
use pooya_issuer::store::*;
use pooya_store_sql::test_support::{keyring, verify_chain, TempPg};
use pooya_store_sql::{SqlOptions, SqlStore};

const PG_ENV: &str = "POOYA_TEST_POSTGRES_URL";

async fn pg() -> Option<(SqlStore, TempPg)> {
    let Some(url) = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) else {
        eprintln!("{PG_ENV} not set: PostgreSQL batch tests skipped");
        return None;
    };
    let pg = TempPg::create(&url, "pooya_b")
        .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
    let store = SqlStore::connect(&pg.url, &SqlOptions::default())
        .await
        .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
    Some((store, pg))
}

fn rec(event: &str, detail: String) -> AuditRecord {
    AuditRecord {
        at: 1_000,
        event: event.into(),
        pan_masked: Some("628023******7898".into()),
        customer_id: Some("C1".into()),
        detail,
        actor: Some("key:core-banking".into()),
    }
}

fn card(hash: &str) -> CardRecord {
    CardRecord::new(
        &Pan::parse("6280231234567898").unwrap(),
        hash.to_owned(),
        CustomerId::parse("C1").unwrap(),
        Expiry::parse("9912").unwrap(),
        "pin-hash".into(),
        "second-hash".into(),
        1,
    )
}

fn customer(id: &str) -> CustomerRecord {
    CustomerRecord {
        id: CustomerId::parse(id).unwrap(),
        mobile: Mobile::parse("09121234567").unwrap(),
        created_at: 1,
        version: 0,
    }
}

/// Customer C1 and one card per hash, with one audit record.
async fn setup(store: &SqlStore, k: &Arc<Keyring>, hashes: &[String]) {
    store
        .commit(Commit {
            new_customers: vec![customer("C1")],
            new_cards: hashes.iter().map(|h| card(h)).collect(),
            audit: vec![rec("setup", String::new())],
            audit_key: Some(k.clone()),
            ..Commit::default()
        })
        .await
        .unwrap();
}

/// The merchant of [`verify_commit`]'s verification `mark`: none for odd marks (a row as written
/// before migration 0011), so padding rows and real NULLs meet in one batch.
fn merchant(mark: i64) -> Option<String> {
    (mark % 2 == 0).then(|| format!("فروشگاه {mark}"))
}

/// A verification's commit, as the issuer makes it: the card as decided on (its version as
/// read), the verification, an audit record.
fn verify_commit(k: &Arc<Keyring>, mut c: CardRecord, txn: &str, mark: i64) -> Commit {
    c.svc.failures.push(mark);
    Commit {
        verifications: vec![VerificationRecord {
            pan_hash: c.pan_hash.clone(),
            txn_id: txn.to_owned(),
            fingerprint: vec![1, 2, 3],
            response_code: "00".into(),
            reason: "approved".into(),
            at: 1_000 + mark,
            merchant: merchant(mark),
        }],
        audit: vec![rec("verify", format!("txn={txn}"))],
        audit_key: Some(k.clone()),
        cards: vec![c],
        ..Commit::default()
    }
}

async fn count(url: &str, sql: &str) -> i64 {
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// One batch of verification commits on distinct cards (set-based), a second commit on one of
/// their cards, a commit that adds a customer, one with an SMS, and one on a stale version: each
/// gets its own result, and exactly the winners' rows are written.
#[tokio::test]
async fn a_mixed_batch_gives_each_commit_its_own_result() {
    let Some((store, pg)) = pg().await else {
        return;
    };
    let k = keyring(7);
    let hashes: Vec<String> = (0..10).map(|i| format!("g{i}")).collect();
    setup(&store, &k, &hashes).await;
    let read = |i: usize| card(&hashes[i]);
    let before = store.batch_counters();

    let mut batch: Vec<Commit> = (0..8)
        .map(|i| verify_commit(&k, read(i), &format!("t{i}"), i as i64))
        .collect();
    // 8: the same card as commit 0, decided on the same version: it must lose.
    batch.push(verify_commit(&k, read(0), "t0-second", 100));
    // 9: not a verification's commit (a new customer): the one-at-a-time path.
    batch.push(Commit {
        new_customers: vec![customer("C2")],
        audit: vec![rec("customer.created", "C2".into())],
        audit_key: Some(k.clone()),
        ..Commit::default()
    });
    // 10: a stale version: lost its race before the batch began.
    let mut stale = read(8);
    stale.version = 3;
    batch.push(verify_commit(&k, stale, "t-stale", 200));
    // 11: a verification with an SMS: one at a time, and it wins.
    let mut with_sms = verify_commit(&k, read(9), "t9", 9);
    with_sms.outbox.push(OutgoingSms {
        to: Mobile::parse("09121234567").unwrap(),
        text: "code".into(),
        msg_id: "m".into(),
        created_at: 1,
        expires_at: None,
    });
    batch.push(with_sms);

    let results = store.commit_together(batch).await;
    for (i, r) in results.iter().enumerate() {
        let want_ok = !matches!(i, 8 | 10);
        match r {
            Ok(()) => assert!(want_ok, "commit {i} must lose"),
            Err(StoreError::Conflict) => assert!(!want_ok, "commit {i} must win"),
            Err(e) => panic!("commit {i}: {e:?}"),
        }
    }

    for (i, h) in hashes.iter().enumerate() {
        let now = store.card(h).await.unwrap().unwrap();
        match i {
            0..=7 | 9 => {
                assert_eq!(now.version, 1, "card {i}");
                assert_eq!(
                    now.svc.failures,
                    vec![i as i64],
                    "card {i}: the winner's card"
                );
            }
            _ => assert_eq!(now, read(i), "card {i}: untouched"),
        }
        let txn = format!("t{i}");
        let stored = store.verification(h, &txn).await.unwrap();
        assert_eq!(stored.is_some(), i != 8, "card {i}");
        if let Some(v) = stored {
            assert_eq!(v.merchant, merchant(i as i64), "card {i}: its merchant");
        }
    }
    assert!(store
        .verification("g0", "t0-second")
        .await
        .unwrap()
        .is_none());
    assert!(store.verification("g8", "t-stale").await.unwrap().is_none());
    assert_eq!(
        count(&pg.url, "SELECT COUNT(*) FROM verifications").await,
        9
    );
    assert!(store
        .customer(&CustomerId::parse("C2").unwrap())
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.outbox_due(i64::MAX, 10).await.unwrap().len(), 1);
    // setup + 8 set-based winners + the customer + the SMS one.
    assert_eq!(verify_chain(&store, &k).await, Ok(11));

    let after = store.batch_counters();
    assert_eq!(
        after.fast_commits - before.fast_commits,
        9,
        "the 8 winners and the stale one went set-based"
    );
    assert_eq!(
        after.at_once_batches, before.at_once_batches,
        "the stale one sent the batch statement by statement"
    );
    assert_eq!(after.redone_batches, before.redone_batches);
}

/// A batch whose verification commits all win (the common case) writes them in one statement,
/// beside a commit of another kind in its savepoint: every row and the audit chain as the
/// statement-by-statement path writes them.
#[tokio::test]
async fn a_batch_without_a_loser_is_written_in_one_statement() {
    let Some((store, pg)) = pg().await else {
        return;
    };
    let k = keyring(7);
    let hashes: Vec<String> = (0..12).map(|i| format!("w{i}")).collect();
    setup(&store, &k, &hashes).await;
    let before = store.batch_counters();
    let mut batch: Vec<Commit> = (0..12)
        .map(|i| verify_commit(&k, card(&hashes[i]), &format!("t{i}"), i as i64))
        .collect();
    batch.push(Commit {
        new_customers: vec![customer("C2")],
        audit: vec![rec("customer.created", "C2".into())],
        audit_key: Some(k.clone()),
        ..Commit::default()
    });
    let results = store.commit_together(batch).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let after = store.batch_counters();
    assert_eq!(after.at_once_batches, before.at_once_batches + 1);
    assert_eq!(after.fast_commits, before.fast_commits + 12);
    assert_eq!(after.redone_batches, before.redone_batches);
    for (i, h) in hashes.iter().enumerate() {
        let now = store.card(h).await.unwrap().unwrap();
        assert_eq!(now.version, 1, "card {i}");
        assert_eq!(now.svc.failures, vec![i as i64], "card {i}");
        let v = store.verification(h, &format!("t{i}")).await.unwrap();
        assert_eq!(v.map(|v| v.merchant), Some(merchant(i as i64)), "card {i}");
    }
    assert_eq!(
        count(&pg.url, "SELECT COUNT(*) FROM verifications").await,
        12
    );
    // setup + 12 verifications + the customer.
    assert_eq!(verify_chain(&store, &k).await, Ok(14));
}

/// A winner of the card update whose verification is already stored cannot be left out alone:
/// the batch rolls back and goes one commit at a time, and only that commit fails.
#[tokio::test]
async fn a_stored_verification_sends_the_batch_one_commit_at_a_time() {
    let Some((store, pg)) = pg().await else {
        return;
    };
    let k = keyring(7);
    let hashes: Vec<String> = (0..6).map(|i| format!("b{i}")).collect();
    setup(&store, &k, &hashes).await;
    // A verification of b3 stored without its card changing.
    let stored = VerificationRecord {
        pan_hash: "b3".into(),
        txn_id: "T-dup".into(),
        fingerprint: vec![9],
        response_code: "00".into(),
        reason: "approved".into(),
        at: 5,
        merchant: None,
    };
    store
        .commit(Commit {
            verifications: vec![stored.clone()],
            ..Commit::default()
        })
        .await
        .unwrap();
    let before = store.batch_counters();
    let batch: Vec<Commit> = (0..6)
        .map(|i| {
            let txn = if i == 3 {
                "T-dup".to_owned()
            } else {
                format!("t{i}")
            };
            verify_commit(&k, card(&hashes[i]), &txn, i as i64)
        })
        .collect();
    let results = store.commit_together(batch).await;
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert!(matches!(r, Err(StoreError::Conflict)), "commit 3: {r:?}");
        } else {
            assert!(r.is_ok(), "commit {i}: {r:?}");
        }
    }
    let after = store.batch_counters();
    assert_eq!(after.redone_batches, before.redone_batches + 1);
    assert_eq!(after.fast_commits, before.fast_commits);

    for (i, h) in hashes.iter().enumerate() {
        let now = store.card(h).await.unwrap().unwrap();
        assert_eq!(now.version, u64::from(i != 3) as i64, "card {i}");
    }
    assert_eq!(
        store.verification("b3", "T-dup").await.unwrap(),
        Some(stored),
        "the stored verification stays"
    );
    assert_eq!(
        count(&pg.url, "SELECT COUNT(*) FROM verifications").await,
        6
    );
    // setup + 5 winners: nothing of the rolled-back attempt stays in the chain.
    assert_eq!(verify_chain(&store, &k).await, Ok(6));
}

/// A unique card key taken twice in one batch (two cards given one app token id) fails the
/// set-based card update as a whole: the batch goes one commit at a time, the first wins.
#[tokio::test]
async fn a_taken_token_id_sends_the_batch_one_commit_at_a_time() {
    let Some((store, _pg)) = pg().await else {
        return;
    };
    let k = keyring(7);
    let hashes: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
    setup(&store, &k, &hashes).await;
    let token = AppToken {
        id: "TOK".into(),
        seed_sealed: vec![1],
        mobile: Mobile::parse("09121234567").unwrap(),
        algorithm: "SHA1".into(),
        step_secs: 30,
        first_digits: 6,
        second_digits: 8,
        last_step_first: None,
        last_step_second: None,
        issued_at: 1,
        removal: None,
    };
    let before = store.batch_counters();
    let batch: Vec<Commit> = (0..4)
        .map(|i| {
            let mut c = card(&hashes[i]);
            if i < 2 {
                c.svc.service = Service::App(token.clone());
            }
            verify_commit(&k, c, &format!("t{i}"), i as i64)
        })
        .collect();
    let results = store.commit_together(batch).await;
    let after = store.batch_counters();
    assert_eq!(after.redone_batches, before.redone_batches + 1);
    assert!(results[2].is_ok() && results[3].is_ok(), "{results:?}");
    let won: Vec<usize> = (0..2).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let lost = 1 - won[0];
    assert!(matches!(results[lost], Err(StoreError::Conflict)));
    assert_eq!(
        store.card_by_token("TOK").await.unwrap().unwrap().pan_hash,
        hashes[won[0]]
    );
    assert_eq!(store.card(&hashes[lost]).await.unwrap().unwrap().version, 0);
    assert!(store
        .verification(&hashes[lost], &format!("t{lost}"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(verify_chain(&store, &k).await, Ok(4));
}

/// Two servers' stores, many callers each deciding on shared cards and retrying lost races, some
/// commits one at a time among them: every won decision is written once, and every lane of the
/// audit chain stays one unbroken chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chain_verifies_after_many_concurrent_batches() {
    let Some((store, pg)) = pg().await else {
        return;
    };
    let k = keyring(7);
    let cards = 48;
    let hashes: Vec<String> = (0..cards).map(|i| format!("c{i}")).collect();
    setup(&store, &k, &hashes).await;
    let second = SqlStore::connect(&pg.url, &SqlOptions::default())
        .await
        .unwrap();
    let stores = [Arc::new(store), Arc::new(second)];

    let callers = 32;
    let per_caller = 20;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..callers {
        let (s, k, hashes) = (stores[t % 2].clone(), k.clone(), hashes.clone());
        tasks.spawn(async move {
            let mut won = Vec::new();
            let mut others = 0u64;
            for n in 0..per_caller {
                let h = &hashes[(t * 7 + n * 13) % hashes.len()];
                let txn = format!("x{t}n{n}");
                loop {
                    let c = s.card(h).await.unwrap().unwrap();
                    let mut commit = verify_commit(&k, c, &txn, (t * 1000 + n) as i64);
                    if n % 10 == 3 {
                        // Now and then one that goes one at a time.
                        commit.outbox.push(OutgoingSms {
                            to: Mobile::parse("09121234567").unwrap(),
                            text: "code".into(),
                            msg_id: "m".into(),
                            created_at: 1,
                            expires_at: None,
                        });
                    }
                    match s.commit(commit).await {
                        Ok(()) => {
                            won.push((h.clone(), txn));
                            break;
                        }
                        Err(StoreError::Conflict) => tokio::task::yield_now().await,
                        Err(e) => panic!("caller {t}: {e:?}"),
                    }
                }
                if n % 10 == 7 {
                    // An audit-only commit of another subject, in some lane.
                    s.commit(Commit {
                        audit: vec![AuditRecord {
                            customer_id: Some(format!("X{t}")),
                            ..rec("verify", "unknown card".into())
                        }],
                        audit_key: Some(k.clone()),
                        ..Commit::default()
                    })
                    .await
                    .unwrap();
                    others += 1;
                }
            }
            (won, others)
        });
    }
    let mut won = Vec::new();
    let mut others = 0;
    while let Some(done) = tasks.join_next().await {
        let (w, o) = done.unwrap();
        won.extend(w);
        others += o;
    }
    assert_eq!(won.len(), callers * per_caller);
    let store = &stores[0];
    for (h, txn) in &won {
        assert!(
            store.verification(h, txn).await.unwrap().is_some(),
            "{h} {txn}"
        );
    }
    assert_eq!(
        count(&pg.url, "SELECT COUNT(*) FROM verifications").await,
        won.len() as i64
    );
    let versions = count(&pg.url, "SELECT CAST(SUM(version) AS BIGINT) FROM cards").await;
    assert_eq!(
        versions,
        won.len() as i64,
        "one card change per decision won"
    );
    assert_eq!(
        verify_chain(store, &k).await,
        Ok(1 + won.len() as u64 + others)
    );
    let fast: u64 = stores.iter().map(|s| s.batch_counters().fast_commits).sum();
    assert!(fast > 0, "some commits went set-based");
}

/// Full batches spread over every lane, from two stores at once, keep the chain too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_batches_from_two_stores_keep_the_chain() {
    let Some((store, pg)) = pg().await else {
        return;
    };
    let k = keyring(7);
    let hashes: Vec<String> = (0..512).map(|i| format!("f{i}")).collect();
    setup(&store, &k, &hashes).await;
    let second = SqlStore::connect(&pg.url, &SqlOptions::default())
        .await
        .unwrap();
    let stores = [Arc::new(store), Arc::new(second)];
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..4i64 {
        for (s_i, s) in stores.iter().enumerate() {
            // Each store's batches take their own half of the cards: no lost races, only lanes
            // shared.
            let (s, k, hashes) = (s.clone(), k.clone(), hashes.clone());
            tasks.spawn(async move {
                let mut batch = Vec::new();
                for h in hashes.iter().skip(s_i).step_by(2) {
                    let c = s.card(h).await.unwrap().unwrap();
                    batch.push(verify_commit(&k, c, &format!("r{round}"), round));
                }
                // 256 commits in one batch: the most a writer takes at once.
                let r = s.commit_together(batch).await;
                r.iter().filter(|r| r.is_ok()).count()
            });
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            ok += done.unwrap();
        }
        assert_eq!(ok, hashes.len(), "round {round}");
    }
    assert_eq!(verify_chain(&stores[0], &k).await, Ok(1 + 4 * 512));
    assert_eq!(
        count(&pg.url, "SELECT COUNT(*) FROM verifications").await,
        4 * 512
    );
}
