//! The audit chain over every backend: SQLite always, PostgreSQL when `POOYA_TEST_POSTGRES_URL`
//! names a server. Records are written by `Store::commit` in the same transaction as the change,
//! and `audit::Verifier` names the first record that SQL edits, deletions and reorderings break.

use std::sync::Arc;

use pooya_issuer::audit::{StoredAudit, Verifier, LANES};
use pooya_issuer::card::CardRecord;
use pooya_issuer::domain::{CustomerId, Expiry, Mobile, Pan};
use pooya_issuer::keys::Keyring;
use pooya_issuer::store::*;
use pooya_store_sql::test_support::{execute_sql, keyring, TempPg};
use pooya_store_sql::{SqlOptions, SqlStore};

const PG_ENV: &str = "POOYA_TEST_POSTGRES_URL";

/// A store and a raw connection URL to tamper with it; the guards keep the database alive.
struct Backend {
    name: &'static str,
    store: SqlStore,
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<TempPg>,
}

async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite3");
    let store = SqlStore::open_sqlite(&path, &SqlOptions::default())
        .await
        .unwrap();
    let mut out = vec![Backend {
        name: "sqlite",
        store,
        url: format!("sqlite://{}", path.display()),
        _dir: Some(dir),
        _pg: None,
    }];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => {
            let pg = TempPg::create(&url, "pooya_a")
                .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
            let store = SqlStore::connect(&pg.url, &SqlOptions::default())
                .await
                .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
            out.push(Backend {
                name: "postgres",
                store,
                url: pg.url.clone(),
                _dir: None,
                _pg: Some(pg),
            });
        }
        _ => eprintln!("{PG_ENV} not set: PostgreSQL audit tests skipped (SQLite only)"),
    }
    out
}

/// Runs one statement on the database behind the store, as an attacker with only the database.
async fn tamper(url: &str, sql: &str) {
    execute_sql(url, sql).await
}

fn rec(i: i64, event: &str) -> AuditRecord {
    AuditRecord {
        at: 1_000 + i,
        event: event.into(),
        pan_masked: Some("628023******7898".into()),
        customer_id: Some("C1".into()),
        detail: format!("n={i}"),
        // Half the records name who made them (migration 0010): chained and verified alike.
        actor: (i % 2 == 0).then(|| "operator:sara@0123".to_owned()),
    }
}

fn card(pan: &str, hash: &str) -> CardRecord {
    CardRecord::new(
        &Pan::parse(pan).unwrap(),
        hash.to_owned(),
        CustomerId::parse("C1").unwrap(),
        Expiry::parse("9912").unwrap(),
        "pin-hash".into(),
        "second-hash".into(),
        1,
    )
}

async fn all(store: &SqlStore) -> Vec<StoredAudit> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map(|r: &StoredAudit| r.id).unwrap_or(0);
        let page = store.audit_page(after, 7).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

async fn verify(store: &SqlStore, k: &Keyring) -> Result<u64, pooya_issuer::audit::Break> {
    let heads = store.audit_heads().await.unwrap();
    let mut v = Verifier::new(k, &heads)?;
    for r in all(store).await {
        v.push(&r)?;
    }
    v.finish().map(|s| s.records)
}

/// A customer, two cards, and `n` audited commits on them.
async fn fill(store: &SqlStore, k: &Arc<Keyring>, n: i64) {
    store
        .commit(Commit {
            new_customers: vec![CustomerRecord {
                id: CustomerId::parse("C1").unwrap(),
                mobile: Mobile::parse("09121234567").unwrap(),
                created_at: 1,
                version: 0,
            }],
            new_cards: vec![
                card("6280231234567898", "h1"),
                card("6280231234567880", "h2"),
            ],
            audit: vec![rec(0, "card.created"), rec(1, "card.created")],
            audit_key: Some(k.clone()),
            ..Commit::default()
        })
        .await
        .unwrap();
    for i in 0..n {
        let hash = if i % 2 == 0 { "h1" } else { "h2" };
        let c = store.card(hash).await.unwrap().unwrap();
        store
            .commit(Commit {
                cards: vec![c],
                audit: vec![rec(10 + i, "verify")],
                audit_key: Some(k.clone()),
                ..Commit::default()
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn commits_append_chained_records_in_their_transaction() {
    for b in backends().await {
        let k = keyring(1);
        fill(&b.store, &k, 8).await;
        let recs = all(&b.store).await;
        assert_eq!(recs.len(), 10, "{}", b.name);
        assert!(recs.iter().all(|r| r.mac.is_some()), "{}", b.name);
        assert_eq!(verify(&b.store, &k).await, Ok(10), "{}", b.name);
        // The heads name the last link of each lane.
        let heads = b.store.audit_heads().await.unwrap();
        assert_eq!(heads.len() as i64, LANES);
        assert_eq!(heads.iter().map(|h| h.seq).sum::<i64>(), 10, "{}", b.name);

        // Without the key nothing is written, not even the change it came with.
        let c = b.store.card("h1").await.unwrap().unwrap();
        let r = b
            .store
            .commit(Commit {
                cards: vec![c.clone()],
                audit: vec![rec(99, "verify")],
                ..Commit::default()
            })
            .await;
        assert!(r.is_err(), "{}", b.name);
        assert_eq!(
            b.store.card("h1").await.unwrap().unwrap().version,
            c.version
        );
        assert_eq!(all(&b.store).await.len(), 10, "{}", b.name);

        // Another server key cannot vouch for the chain.
        assert_eq!(
            verify(&b.store, &keyring(2)).await.unwrap_err().id,
            Some(recs[0].id)
        );
    }
}

#[tokio::test]
async fn sql_edits_deletions_and_reorderings_name_the_first_broken_record() {
    for b in backends().await {
        let k = keyring(1);
        fill(&b.store, &k, 8).await;
        let recs = all(&b.store).await;
        let victim = &recs[5];
        // Edit.
        tamper(
            &b.url,
            &format!("UPDATE audit SET detail = 'n=0' WHERE id = {}", victim.id),
        )
        .await;
        let broken = verify(&b.store, &k).await.unwrap_err();
        assert_eq!(broken.id, Some(victim.id), "{}: {broken}", b.name);
        tamper(
            &b.url,
            &format!(
                "UPDATE audit SET detail = '{}' WHERE id = {}",
                victim.record.detail, victim.id
            ),
        )
        .await;
        assert_eq!(verify(&b.store, &k).await, Ok(10), "{}", b.name);

        // Deletion: the next record of the same lane is named.
        tamper(
            &b.url,
            &format!("DELETE FROM audit WHERE id = {}", victim.id),
        )
        .await;
        let next = recs[6..]
            .iter()
            .find(|r| r.lane == victim.lane)
            .expect("a later record in the lane");
        let broken = verify(&b.store, &k).await.unwrap_err();
        assert_eq!(broken.id, Some(next.id), "{}: {broken}", b.name);
        assert!(broken.reason.contains("deleted"), "{broken}");
    }
}

#[tokio::test]
async fn a_reordering_or_a_cut_tail_is_named() {
    for b in backends().await {
        let k = keyring(1);
        fill(&b.store, &k, 8).await;
        let recs = all(&b.store).await;
        // Two records of one lane swap places (their seqs).
        let lane = recs[4].lane;
        let other = recs[5..].iter().find(|r| r.lane == lane).unwrap();
        tamper(
            &b.url,
            &format!("UPDATE audit SET seq = -1 WHERE id = {}", recs[4].id),
        )
        .await;
        tamper(
            &b.url,
            &format!(
                "UPDATE audit SET seq = {} WHERE id = {}",
                recs[4].seq.unwrap(),
                other.id
            ),
        )
        .await;
        tamper(
            &b.url,
            &format!(
                "UPDATE audit SET seq = {} WHERE id = {}",
                other.seq.unwrap(),
                recs[4].id
            ),
        )
        .await;
        let broken = verify(&b.store, &k).await.unwrap_err();
        assert_eq!(broken.id, Some(recs[4].id), "{}: {broken}", b.name);

        // A cut tail: the newest record goes, the head row still names it.
        let b2 = backends()
            .await
            .into_iter()
            .find(|x| x.name == b.name)
            .unwrap();
        fill(&b2.store, &k, 8).await;
        let recs = all(&b2.store).await;
        let last = recs.last().unwrap();
        tamper(
            &b2.url,
            &format!("DELETE FROM audit WHERE id = {}", last.id),
        )
        .await;
        let broken = verify(&b2.store, &k).await.unwrap_err();
        assert_eq!(
            (broken.id, broken.lane, broken.seq),
            (None, last.lane, last.seq),
            "{}: {broken}",
            b.name
        );
    }
}

/// Two stores (two servers' pools) appending at once keep every lane one unbroken chain.
#[tokio::test]
async fn concurrent_commits_keep_the_chain() {
    for b in backends().await {
        let k = keyring(1);
        fill(&b.store, &k, 0).await;
        let second = if b.name == "postgres" {
            Some(
                SqlStore::connect(&b.url, &SqlOptions::default())
                    .await
                    .unwrap(),
            )
        } else {
            None
        };
        let stores: Vec<&SqlStore> = std::iter::once(&b.store).chain(second.as_ref()).collect();
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let s = stores[i as usize % stores.len()];
            let k = k.clone();
            tasks.push(async move {
                // Audit-only commits (like unknown-card verifications) for many subjects, so
                // several land in one lane at once.
                s.commit(Commit {
                    audit: vec![AuditRecord {
                        customer_id: Some(format!("X{}", i % 5)),
                        ..rec(i, "verify")
                    }],
                    audit_key: Some(k),
                    ..Commit::default()
                })
                .await
            });
        }
        let results = futures_join_all(tasks).await;
        assert!(results.iter().all(|r| r.is_ok()), "{}: {results:?}", b.name);
        assert_eq!(verify(&b.store, &k).await, Ok(42), "{}", b.name);
    }
}

/// Commits that lose their race inside a batch (the same card at the same version) leave no link
/// behind: the winners' records chain on, with no gap and no fork.
#[tokio::test]
async fn the_losers_of_a_batch_leave_no_link() {
    for b in backends().await {
        let k = keyring(1);
        fill(&b.store, &k, 0).await;
        let h1 = b.store.card("h1").await.unwrap().unwrap();
        let h2 = b.store.card("h2").await.unwrap().unwrap();
        let mut tasks = Vec::new();
        for i in 0..30i64 {
            let (store, k) = (&b.store, k.clone());
            let mut c = if i % 3 == 0 { h2.clone() } else { h1.clone() };
            c.svc.failures.push(i);
            tasks.push(async move {
                store
                    .commit(Commit {
                        cards: vec![c],
                        audit: vec![rec(100 + i, "verify")],
                        audit_key: Some(k),
                        ..Commit::default()
                    })
                    .await
            });
        }
        let results = futures_join_all(tasks).await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 2, "{}: one winner per card: {results:?}", b.name);
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict))),
            "{}: {results:?}",
            b.name
        );
        assert_eq!(verify(&b.store, &k).await, Ok(4), "{}", b.name);
        assert_eq!(all(&b.store).await.len(), 4, "{}", b.name);
    }
}

/// `join_all` without the futures crate: each future on its own task would need 'static, so
/// poll them together on this task.
async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut fs: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = fs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in fs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}
