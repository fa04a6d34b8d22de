//! The start-time upgrade of values at rest (`pooya_issuer::at_rest`) over every backend: SQLite
//! always, PostgreSQL when `POOYA_TEST_POSTGRES_URL` names a server. The rows are written as the
//! code before wrote them (plain Argon2id hashes, MACs of the codes alone, SMS bodies sealed under
//! one constant associated data, no message id); two servers then start on them at once.

use argon2::PasswordHasher;
use pooya_issuer::at_rest::{open_sms, AtRestUpgrade};
use pooya_issuer::card::{CardRecord, Service, SmsService};
use pooya_issuer::domain::{CustomerId, Expiry, Mobile, Pan};
use pooya_issuer::keys::{CardCode, Keyring, StaticSecret};
use pooya_issuer::store::*;
use pooya_store_sql::test_support::{execute_sql, keyring, TempPg};
use pooya_store_sql::{SqlOptions, SqlStore};

const PG_ENV: &str = "POOYA_TEST_POSTGRES_URL";

/// Two stores on one database (two servers starting together) and its URL for raw SQL.
struct Backend {
    name: &'static str,
    stores: [SqlStore; 2],
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<TempPg>,
}

async fn backends() -> Vec<Backend> {
    let opts = SqlOptions::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite3");
    let mut out = vec![Backend {
        name: "sqlite",
        stores: [
            SqlStore::open_sqlite(&path, &opts).await.unwrap(),
            SqlStore::open_sqlite(&path, &opts).await.unwrap(),
        ],
        url: format!("sqlite://{}", path.display()),
        _dir: Some(dir),
        _pg: None,
    }];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => {
            let pg = TempPg::create(&url, "pooya_r")
                .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
            out.push(Backend {
                name: "postgres",
                stores: [
                    SqlStore::connect(&pg.url, &opts).await.unwrap(),
                    SqlStore::connect(&pg.url, &opts).await.unwrap(),
                ],
                url: pg.url.clone(),
                _dir: None,
                _pg: Some(pg),
            });
        }
        _ => eprintln!("{PG_ENV} not set: PostgreSQL upgrade tests skipped (SQLite only)"),
    }
    out
}

/// A plain Argon2id hash, as the code before stored it.
fn plain(secret: &str) -> String {
    argon2::Argon2::default()
        .hash_password(secret.as_bytes())
        .unwrap()
        .to_string()
}

fn legacy_card(k: &Keyring, pan: &str, pin: &str, second: &str, fixed: Option<&str>) -> CardRecord {
    let pan = Pan::parse(pan).unwrap();
    let mut c = CardRecord::new(
        &pan,
        k.pan_hash(&pan),
        CustomerId::parse("C1").unwrap(),
        Expiry::parse("9912").unwrap(),
        plain(pin),
        plain(second),
        1,
    );
    if let Some(fixed) = fixed {
        c.svc.service = Service::Sms(SmsService {
            mobile: Mobile::parse("09121234567").unwrap(),
            fixed_mac: k.code_mac("sms-fixed", &[fixed.as_bytes()]),
            variable: None,
        });
    }
    c
}

#[tokio::test]
async fn a_database_written_before_is_upgraded_once_by_one_of_two_servers() {
    let k = keyring(3);
    for b in backends().await {
        let name = b.name;
        let to = Mobile::parse("09121234567").unwrap();
        let a = legacy_card(&k, "6280231234567898", "1234", "55555", Some("4321"));
        let c = legacy_card(&k, "6280231234567880", "9876", "667788", None);
        let sealed = k.seal(b"pooya/v1/sms", "your code 246810".as_bytes());
        let legacy_sms = |text: String| OutgoingSms {
            to: to.clone(),
            text,
            msg_id: String::new(),
            created_at: 1,
            expires_at: None,
        };
        b.stores[0]
            .commit(Commit {
                new_customers: vec![CustomerRecord {
                    id: CustomerId::parse("C1").unwrap(),
                    mobile: to.clone(),
                    created_at: 1,
                    version: 0,
                }],
                new_cards: vec![a.clone(), c.clone()],
                outbox: vec![
                    legacy_sms(data_encoding::BASE64.encode(&sealed)),
                    legacy_sms("bm90IHNlYWxlZA==".into()),
                ],
                ..Commit::default()
            })
            .await
            .unwrap();
        execute_sql(&b.url, "UPDATE sms_outbox SET msg_id = NULL").await;

        let (one, two) = tokio::join!(
            b.stores[0].upgrade_at_rest(&k, 50),
            b.stores[1].upgrade_at_rest(&k, 50)
        );
        let mut outcomes = [one.unwrap(), two.unwrap()];
        outcomes.sort_by_key(|o| matches!(o, AtRestUpgrade::Current { .. }));
        assert_eq!(
            outcomes,
            [
                AtRestUpgrade::Upgraded {
                    cards: 2,
                    sms_resealed: 1,
                    sms_refused: 1
                },
                AtRestUpgrade::Current { plain_cards: 0 }
            ],
            "{name}"
        );

        let a2 = b.stores[1].card(&a.pan_hash).await.unwrap().unwrap();
        assert!(k.static_matches(StaticSecret::Pin, &a.pan_hash, "1234", &a2.pin_hash));
        assert!(k.static_matches(
            StaticSecret::SecondPassword,
            &a.pan_hash,
            "55555",
            &a2.second_hash
        ));
        assert_eq!(
            a2.svc.sms().unwrap().fixed_mac,
            k.card_code_mac(CardCode::SmsFixed, &a.pan_hash, "4321"),
            "{name}"
        );
        assert_eq!(a2.version, a.version + 1, "{name}: a changed row");
        let c2 = b.stores[1].card(&c.pan_hash).await.unwrap().unwrap();
        assert!(k.static_matches(StaticSecret::Pin, &c.pan_hash, "9876", &c2.pin_hash));
        assert_eq!(
            c2.svc, c.svc,
            "{name}: no SMS channel, nothing else touched"
        );

        let due = b.stores[1].outbox_due(10, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{name}");
        assert_eq!(&open_sms(&k, &due[0].sms).unwrap()[..], "your code 246810");
        let st = b.stores[1].outbox_status().await.unwrap();
        assert_eq!((st.queued, st.refused, st.given_up), (1, 1, 0), "{name}");

        // Never again: a plain hash planted now is counted, not sealed.
        assert_eq!(
            b.stores[0].upgrade_at_rest(&k, 60).await.unwrap(),
            AtRestUpgrade::Current { plain_cards: 0 }
        );
        execute_sql(
            &b.url,
            &format!(
                "UPDATE cards SET pin_hash = '{}' WHERE pan_hash = '{}'",
                plain("0000"),
                c.pan_hash
            ),
        )
        .await;
        assert_eq!(
            b.stores[0].upgrade_at_rest(&k, 70).await.unwrap(),
            AtRestUpgrade::Current { plain_cards: 1 },
            "{name}"
        );
        let c3 = b.stores[0].card(&c.pan_hash).await.unwrap().unwrap();
        assert!(!k.static_matches(StaticSecret::Pin, &c.pan_hash, "0000", &c3.pin_hash));
    }
}

#[tokio::test]
async fn a_new_database_has_nothing_to_upgrade() {
    let k = keyring(3);
    for b in backends().await {
        assert_eq!(
            b.stores[0].upgrade_at_rest(&k, 1).await.unwrap(),
            AtRestUpgrade::Current { plain_cards: 0 },
            "{}",
            b.name
        );
    }
}
