//! The key hierarchy over the real store, on SQLite always and on PostgreSQL when
//! `POOYA_TEST_POSTGRES_URL` names a server (CI sets it): making, adopting, rotating and refusing.

use pooya_issuer::domain::{Pan, Role};
use pooya_issuer::keys::{HashCost, Keyring};
use pooya_issuer::store::{ApiKeyRecord, Store, StoreError};
use pooya_keys::{load_keyring, rotate, KekError, KekSpec, KeysError, LoadEvent};
use pooya_store_sql::test_support::TempPg;
use pooya_store_sql::{SqlOptions, SqlStore};

const PG_ENV: &str = "POOYA_TEST_POSTGRES_URL";
const COST: HashCost = HashCost {
    m_kib: 64,
    t: 1,
    p: 1,
};

struct Backend {
    name: &'static str,
    store: SqlStore,
    _pg: Option<TempPg>,
    _dir: tempfile::TempDir,
}

async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlStore::open_sqlite(&dir.path().join("t.sqlite3"), &SqlOptions::default())
        .await
        .unwrap();
    let mut out = vec![Backend {
        name: "sqlite",
        store: sqlite,
        _pg: None,
        _dir: dir,
    }];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => {
            let pg = TempPg::create(&url, "pooya_k")
                .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
            let store = SqlStore::connect(&pg.url, &SqlOptions::default())
                .await
                .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
            out.push(Backend {
                name: "postgres",
                store,
                _pg: Some(pg),
                _dir: tempfile::tempdir().unwrap(),
            });
        }
        _ => eprintln!("{PG_ENV} not set: PostgreSQL key tests skipped (SQLite only)"),
    }
    out
}

fn pan() -> Pan {
    Pan::parse("6280231234567898").unwrap()
}

/// Two keyrings are the same keys: one opens what the other sealed, and they hash PANs alike.
fn same_keys(a: &Keyring, b: &Keyring) {
    let sealed = a.seal(b"row", b"seed");
    assert_eq!(&b.open(b"row", &sealed).unwrap()[..], b"seed");
    assert_eq!(a.pan_hash(&pan()), b.pan_hash(&pan()));
    assert_eq!(a.master_check_value(), b.master_check_value());
}

#[tokio::test]
async fn a_new_database_gets_a_data_key_that_is_not_the_kek() {
    for b in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek.key");
        let spec = KekSpec::File(file.clone());
        let s: &dyn Store = &b.store;
        // Only a start may make keys: a command on a new database refuses.
        assert!(matches!(
            load_keyring(s, &spec, COST, 1, false).await,
            Err(KeysError::NoDataKeys)
        ));
        assert!(!file.exists(), "{}: nothing made", b.name);
        let first = load_keyring(s, &spec, COST, 1, true).await.unwrap();
        assert_eq!(first.event, LoadEvent::Created, "{}", b.name);
        assert!(file.exists());
        let again = load_keyring(s, &spec, COST, 2, true).await.unwrap();
        assert_eq!(again.event, LoadEvent::Opened);
        same_keys(&first.keyring, &again.keyring);
        // The KEK file's bytes are not the data key: a keyring made from them is another one.
        let kek_bytes: [u8; 32] = std::fs::read(&file).unwrap().try_into().unwrap();
        let from_file = Keyring::from_master(&kek_bytes, COST).unwrap();
        assert_ne!(from_file.pan_hash(&pan()), first.keyring.pan_hash(&pan()));
        // The database holds the data key only wrapped.
        let rows = s.data_keys().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].wrapped.len(), 24 + 32 + 16);
    }
}

#[tokio::test]
async fn an_older_database_adopts_its_master_key_without_re_encrypting() {
    for b in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let s: &dyn Store = &b.store;
        // What a server before data keys left: keys derived straight from the master key file,
        // their check value, a channel key, and values sealed under them.
        pooya_keys::FileKek::create(&file).unwrap();
        let master: [u8; 32] = std::fs::read(&file).unwrap().try_into().unwrap();
        let old = Keyring::from_master(&master, COST).unwrap();
        assert!(s.master_key_check(&old.master_check_value()).await.unwrap());
        s.insert_api_keys(&[ApiKeyRecord {
            key_hash: "h".into(),
            role: Role::Admin,
            label: String::new(),
            created_at: 1,
        }])
        .await
        .unwrap();
        let sealed = old.seal(b"card", b"token seed");

        // Another file is refused, and nothing is written.
        let other = dir.path().join("other.key");
        pooya_keys::FileKek::create(&other).unwrap();
        let e = load_keyring(s, &KekSpec::File(other.clone()), COST, 1, true)
            .await
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("is not the one this database was made with"),
            "{e}"
        );
        assert!(s.data_keys().await.unwrap().is_empty(), "{}", b.name);

        // Its own file: adopted as generation 1, every old value opens.
        let spec = KekSpec::File(file.clone());
        let loaded = load_keyring(s, &spec, COST, 1, true).await.unwrap();
        assert_eq!(loaded.event, LoadEvent::Adopted, "{}", b.name);
        assert_eq!(
            &loaded.keyring.open(b"card", &sealed).unwrap()[..],
            b"token seed"
        );
        same_keys(&old, &loaded.keyring);
        assert_eq!(s.data_keys().await.unwrap().len(), 1);
        let next = load_keyring(s, &spec, COST, 2, true).await.unwrap();
        assert_eq!(next.event, LoadEvent::Opened);

        // Rotated to a new file, the old file is needed no more.
        let new = KekSpec::File(dir.path().join("new.key"));
        let r = rotate(s, &spec, &new, COST, 3).await.unwrap();
        assert!(!r.already);
        std::fs::remove_file(&file).unwrap();
        let after = load_keyring(s, &new, COST, 4, true).await.unwrap();
        same_keys(&old, &after.keyring);
    }
}

#[tokio::test]
async fn rotation_re_wraps_and_the_old_kek_is_refused_after() {
    for b in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let s: &dyn Store = &b.store;
        let a = KekSpec::File(dir.path().join("a.key"));
        let c = KekSpec::File(dir.path().join("c.key"));
        let first = load_keyring(s, &a, COST, 1, true).await.unwrap();
        let before = s.data_keys().await.unwrap();

        // A wrong "old" KEK: refused, nothing written.
        pooya_keys::FileKek::create(&dir.path().join("x.key")).unwrap();
        let x = KekSpec::File(dir.path().join("x.key"));
        assert!(matches!(
            rotate(s, &x, &c, COST, 2).await,
            Err(KeysError::WrongKek { .. })
        ));
        assert_eq!(s.data_keys().await.unwrap(), before, "{}", b.name);
        assert!(matches!(
            rotate(s, &a, &a, COST, 2).await,
            Err(KeysError::SameKek(_))
        ));

        let r = rotate(s, &a, &c, COST, 5).await.unwrap();
        assert_eq!(r.generations, vec![1]);
        let rows = s.data_keys().await.unwrap();
        assert_ne!(rows[0].kek_id, before[0].kek_id);
        assert_eq!(rows[0].wrapped_at, 5);
        // Run again: nothing to do, nothing written.
        assert!(rotate(s, &a, &c, COST, 6).await.unwrap().already);
        assert_eq!(s.data_keys().await.unwrap(), rows);

        let e = load_keyring(s, &a, COST, 7, true).await.err().unwrap();
        assert!(matches!(e, KeysError::WrongKek { .. }), "{e}");
        let with_c = load_keyring(s, &c, COST, 7, true).await.unwrap();
        same_keys(&first.keyring, &with_c.keyring);

        // A concurrent rotation's guard: rows not under the named KEK are never rewritten.
        let mut stale = rows.clone();
        stale[0].kek_id = "file:0000".into();
        assert!(matches!(
            s.rewrap_data_keys(&before[0].kek_id, &stale).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(s.data_keys().await.unwrap(), rows);
    }
}

#[tokio::test]
async fn a_missing_or_loose_kek_stops_the_start_and_changes_nothing() {
    for b in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let s: &dyn Store = &b.store;
        let path = dir.path().join("kek.key");
        let spec = KekSpec::File(path.clone());
        load_keyring(s, &spec, COST, 1, true).await.unwrap();
        let rows = s.data_keys().await.unwrap();
        let saved = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        // Missing: not made again (a new KEK would open nothing).
        let e = load_keyring(s, &spec, COST, 2, true).await.err().unwrap();
        assert!(matches!(e, KeysError::Kek(KekError::FileMissing(_))), "{e}");
        assert!(!path.exists(), "{}", b.name);
        assert_eq!(s.data_keys().await.unwrap(), rows);
        #[cfg(unix)]
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path)
                .unwrap();
            f.write_all(&saved).unwrap();
            let e = load_keyring(s, &spec, COST, 3, true).await.err().unwrap();
            assert!(e.to_string().contains("mode 0644"), "{e}");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
        }
        #[cfg(not(unix))]
        std::fs::write(&path, &saved).unwrap();
        load_keyring(s, &spec, COST, 4, true).await.unwrap();
        assert_eq!(s.data_keys().await.unwrap(), rows);
    }
}
