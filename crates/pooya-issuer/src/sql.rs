//! The [`Store`] over SQL, one code base for SQLite (embedded, the default) and PostgreSQL
//! (shared by many servers), through sqlx's `Any` driver. Statements use `$n` placeholders and
//! only SQL both accept; the schema differs only where the dialects must (auto ids, byte types).
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: an approved code is on disk before its answer
//! leaves. Commits and the verification read go through rusqlite without hand-offs ([`direct`]);
//! the rest through sqlx's pools. Single use holds because every card change is a conditional update on the
//! version the decision read (`... WHERE pan_hash = $1 AND version = $2`): of two servers deciding
//! on the same card at once, one commits and the other reads again.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyConnection;
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::{mpsc, oneshot};

use crate::card::{CardRecord, DynamicService};
use crate::domain::{CustomerId, Expiry, Mobile, Role};
use crate::store::*;

mod at_rest;
mod direct;
mod enroll;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Embedded migrations: (version, SQLite text, PostgreSQL text).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        include_str!("../migrations/sqlite/0002_outbox_claims.sql"),
        include_str!("../migrations/postgres/0002_outbox_claims.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_card_tails.sql"),
        include_str!("../migrations/postgres/0003_card_tails.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_master_key_check.sql"),
        include_str!("../migrations/postgres/0004_master_key_check.sql"),
    ),
    (
        5,
        include_str!("../migrations/sqlite/0005_audit_chain.sql"),
        include_str!("../migrations/postgres/0005_audit_chain.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_data_keys.sql"),
        include_str!("../migrations/postgres/0006_data_keys.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_sms_binding.sql"),
        include_str!("../migrations/postgres/0007_sms_binding.sql"),
    ),
    (
        8,
        include_str!("../migrations/sqlite/0008_enrollment_runs.sql"),
        include_str!("../migrations/postgres/0008_enrollment_runs.sql"),
    ),
];

/// Key of the PostgreSQL advisory lock that serialises migrations of servers starting together.
const MIGRATION_LOCK: i64 = 0x0070_6f6f_7961; // "pooya"

pub struct SqlStore {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    writer: Writer,
}

/// Who writes [`Commit`]s: on PostgreSQL sqlx tasks batching commits; on SQLite a thread of
/// its own that also serves the hot reads ([`direct`]).
enum Writer {
    Group(GroupCommit),
    Direct(direct::DirectSqlite),
}

#[derive(Clone, Debug)]
pub struct SqlOptions {
    /// Connections of the read pool (SQLite) or of the one pool (PostgreSQL).
    pub pool_size: u32,
    pub connect_timeout: Duration,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A write that lost to a concurrent transaction (PostgreSQL's serialization failure or deadlock,
/// under SERIALIZABLE or on distributed PostgreSQL-compatible databases) rolled back whole: the
/// caller reads again and decides again, as for a lost version check.
fn write_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40001" | "40P01")) => {
            StoreError::Conflict
        }
        _ => unavailable(e),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open_sqlite(
        path: &std::path::Path,
        opts: &SqlOptions,
    ) -> Result<SqlStore, StoreError> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect(&url, opts).await
    }

    /// Connects to `url` (`sqlite://…` or `postgres://…`) and runs the migrations.
    pub async fn connect(url: &str, opts: &SqlOptions) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Unavailable(
                "the database URL must start with sqlite:// or postgres://".into(),
            ));
        };
        if backend == Backend::Sqlite {
            // Made private before SQLite opens it: SQLite gives its -wal and -shm files the
            // database file's mode.
            crate::fsutil::open_private(&direct::path_of_url(url)?, true).map_err(|e| {
                StoreError::Unavailable(format!("cannot create the SQLite database: {e}"))
            })?;
        }
        let pool = |size: u32| {
            // No ping before each acquire (sqlx's default): it cost a round trip (PostgreSQL) or a
            // thread hand-off (SQLite) per statement group, about three per verification. A
            // connection that died fails its statement, is dropped by the pool, and the caller
            // gets `Unavailable`.
            let o = AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(opts.connect_timeout)
                .test_before_acquire(false);
            if backend == Backend::Sqlite {
                o.after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                })
            } else {
                o
            }
        };
        let (read, write) = match backend {
            Backend::Sqlite => {
                let write = pool(1).connect(url).await.map_err(unavailable)?;
                let read = pool(opts.pool_size.max(1))
                    .connect(url)
                    .await
                    .map_err(unavailable)?;
                (read, write)
            }
            Backend::Postgres => {
                let p = pool(opts.pool_size.max(1))
                    .connect(url)
                    .await
                    .map_err(unavailable)?;
                (p.clone(), p)
            }
        };
        migrate(&write, backend).await?;
        let writer = match backend {
            // SQLite has one writer anyway: a thread of its own, without sqlx's hand-offs.
            Backend::Sqlite => {
                Writer::Direct(direct::DirectSqlite::start(direct::path_of_url(url)?)?)
            }
            // Several batches commit side by side, on half the pool's connections, leaving the
            // rest to reads.
            Backend::Postgres => Writer::Group(GroupCommit::start(
                write.clone(),
                backend,
                (opts.pool_size / 2).max(1),
            )),
        };
        Ok(SqlStore {
            read,
            write,
            backend,
            writer,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

async fn migrate(write: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let mut conn = write.acquire().await.map_err(unavailable)?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
    }
    let result = async {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS pooya_migrations \
                 (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await
        .map_err(unavailable)?;
        for (version, sqlite, pg) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM pooya_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(unavailable)?;
            if done.is_some() {
                continue;
            }
            let text = if backend == Backend::Sqlite {
                sqlite
            } else {
                pg
            };
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .map_err(unavailable)?;
            for stmt in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                tx.execute(stmt).await.map_err(unavailable)?;
            }
            sqlx::query("INSERT INTO pooya_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(crate::clock::Clock::now_ms(&crate::clock::SystemClock))
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
        }
        Ok::<(), StoreError>(())
    }
    .await;
    if backend == Backend::Postgres {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
    }
    result
}

macro_rules! card_columns {
    () => {
        "c.pan_hash, c.customer_id, c.pan_masked, c.last4, c.tail_macs, c.expiry, c.pin_hash, \
         c.second_hash, c.second_blocked, c.svc, c.created_at, c.version"
    };
}
const CARD_COLUMNS: &str = card_columns!();

/// The statements of the hot path and of [`Commit`]s, shared by the sqlx code (PostgreSQL) and
/// the direct SQLite code ([`direct`]). `$n` placeholders appear in order, so SQLite binds them
/// by position as PostgreSQL does.
const CARD_FOR_VERIFICATION: &str = concat!(
    "SELECT ",
    card_columns!(),
    ", v.fingerprint AS v_fingerprint, v.response_code AS v_response_code, \
     v.reason AS v_reason, v.at AS v_at \
     FROM cards c LEFT JOIN verifications v ON v.pan_hash = c.pan_hash AND v.txn_id = $2 \
     WHERE c.pan_hash = $1"
);
const INSERT_CUSTOMER: &str = "INSERT INTO customers (customer_id, mobile, created_at, version) \
     VALUES ($1, $2, $3, 0)";
const UPDATE_CUSTOMER: &str = "UPDATE customers SET mobile = $1, version = version + 1 \
     WHERE customer_id = $2 AND version = $3";
const GUARD_CUSTOMER: &str =
    "UPDATE customers SET version = version WHERE customer_id = $1 AND version = $2";
const INSERT_CARD: &str = "INSERT INTO cards (pan_hash, customer_id, pan_masked, last4, expiry, \
     pin_hash, second_hash, second_blocked, svc, token_id, enrollment_id, created_at, updated_at, \
     tail_macs, version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0)";
const UPDATE_CARD: &str = "UPDATE cards SET second_blocked = $1, svc = $2, token_id = $3, \
     enrollment_id = $4, updated_at = $5, version = version + 1 \
     WHERE pan_hash = $6 AND version = $7";
/// [`UPDATE_CARD`] for a card whose token and enrollment run are the ones stored: it matches no
/// row when they changed (or the version did). SQLite rewrites the entries of every index on a
/// column the `SET` names, changed or not; leaving `token_id` and `enrollment_id` out spares a
/// verification two index pages of its commit (PostgreSQL compares the values itself).
const UPDATE_CARD_STATE: &str = "UPDATE cards SET second_blocked = $1, svc = $2, \
     updated_at = $5, version = version + 1 \
     WHERE pan_hash = $6 AND version = $7 AND token_id IS $3 AND enrollment_id IS $4";
const INSERT_VERIFICATION: &str = "INSERT INTO verifications (pan_hash, txn_id, fingerprint, \
     response_code, reason, at) VALUES ($1, $2, $3, $4, $5, $6)";
const INSERT_SMS: &str = "INSERT INTO sms_outbox (to_mobile, body, created_at, expires_at, \
     next_attempt_at, attempts, msg_id) VALUES ($1, $2, $3, $4, $5, 0, $6)";
/// Refuses a queued SMS ([`crate::at_rest::SMS_REFUSED`]); `$1` and `$2` are the same time.
const REFUSE_SMS: &str = "UPDATE sms_outbox SET gave_up_at = $1, refused_at = $2, \
     last_error = $3, claimed_until = NULL WHERE id = $4 AND sent_at IS NULL";
const INSERT_AUDIT: &str = "INSERT INTO audit (at, event, pan_masked, customer_id, detail, lane, \
     seq, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const UPDATE_AUDIT_HEAD: &str =
    "UPDATE audit_chains SET seq = $1, mac = $2 WHERE lane = $3 AND seq = $4";

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A `cards` row as stored, before it is decoded: what both drivers read.
struct CardColumns {
    pan_hash: String,
    customer_id: String,
    pan_masked: String,
    last4: String,
    tail_macs: Option<String>,
    expiry: String,
    pin_hash: String,
    second_hash: String,
    second_blocked: i64,
    svc: String,
    created_at: i64,
    version: i64,
}

impl CardColumns {
    fn decode(self) -> Result<CardRecord, StoreError> {
        let svc: DynamicService = serde_json::from_str(&self.svc).map_err(corrupt)?;
        let tail_macs = self
            .tail_macs
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| {
                data_encoding::HEXLOWER
                    .decode(t.as_bytes())
                    .map_err(corrupt)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CardRecord {
            pan_hash: self.pan_hash,
            customer_id: CustomerId::parse(&self.customer_id).map_err(corrupt)?,
            pan_masked: self.pan_masked,
            last4: self.last4,
            tail_macs,
            expiry: Expiry::parse(&self.expiry).map_err(corrupt)?,
            pin_hash: self.pin_hash,
            second_hash: self.second_hash,
            second_blocked: self.second_blocked != 0,
            svc,
            created_at: self.created_at,
            version: self.version,
        })
    }
}

fn card_from_row(row: &AnyRow) -> Result<CardRecord, StoreError> {
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(corrupt);
    let get_i = |c: &str| row.try_get::<i64, _>(c).map_err(corrupt);
    CardColumns {
        pan_hash: get_s("pan_hash")?,
        customer_id: get_s("customer_id")?,
        pan_masked: get_s("pan_masked")?,
        last4: get_s("last4")?,
        tail_macs: row.try_get("tail_macs").map_err(corrupt)?,
        expiry: get_s("expiry")?,
        pin_hash: get_s("pin_hash")?,
        second_hash: get_s("second_hash")?,
        second_blocked: get_i("second_blocked")?,
        svc: get_s("svc")?,
        created_at: get_i("created_at")?,
        version: get_i("version")?,
    }
    .decode()
}

fn customer_from_row(row: &AnyRow) -> Result<CustomerRecord, StoreError> {
    Ok(CustomerRecord {
        id: CustomerId::parse(&row.try_get::<String, _>("customer_id").map_err(corrupt)?)
            .map_err(corrupt)?,
        mobile: Mobile::parse(&row.try_get::<String, _>("mobile").map_err(corrupt)?)
            .map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        version: row.try_get("version").map_err(corrupt)?,
    })
}

fn queued_from_row(r: &AnyRow) -> Result<QueuedSms, StoreError> {
    Ok(QueuedSms {
        id: r.try_get("id").map_err(corrupt)?,
        attempts: r.try_get("attempts").map_err(corrupt)?,
        sms: OutgoingSms {
            to: Mobile::parse(&r.try_get::<String, _>("to_mobile").map_err(corrupt)?)
                .map_err(corrupt)?,
            text: r.try_get("body").map_err(corrupt)?,
            msg_id: r
                .try_get::<Option<String>, _>("msg_id")
                .map_err(corrupt)?
                .unwrap_or_default(),
            created_at: r.try_get("created_at").map_err(corrupt)?,
            expires_at: r.try_get("expires_at").map_err(corrupt)?,
        },
    })
}

fn svc_json(c: &CardRecord) -> Result<String, StoreError> {
    serde_json::to_string(&c.svc).map_err(corrupt)
}

fn tail_macs(c: &CardRecord) -> Option<String> {
    (!c.tail_macs.is_empty()).then(|| {
        c.tail_macs
            .iter()
            .map(|m| data_encoding::HEXLOWER.encode(m))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn token_id(c: &CardRecord) -> Option<String> {
    c.token_id().map(str::to_owned)
}

/// The cards' column `enrollment_id`: no longer used (runs have a table of their own since
/// migration 0008), written empty, which also clears the run an older version left there.
fn enrollment_id(_: &CardRecord) -> Option<String> {
    None
}

impl SqlStore {
    async fn cards_where(&self, clause: &str, arg: &str) -> Result<Vec<CardRecord>, StoreError> {
        let sql = format!("SELECT {CARD_COLUMNS} FROM cards c {clause}");
        // Safe: `clause` is one of this file's constant texts; the value is bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(arg.to_owned())
            .fetch_all(&self.read)
            .await
            .map_err(unavailable)?;
        rows.iter().map(card_from_row).collect()
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn customer(&self, id: &CustomerId) -> Result<Option<CustomerRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT customer_id, mobile, created_at, version FROM customers WHERE customer_id = $1",
        )
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(customer_from_row).transpose()
    }

    async fn card(&self, pan_hash: &str) -> Result<Option<CardRecord>, StoreError> {
        Ok(self
            .cards_where("WHERE c.pan_hash = $1", pan_hash)
            .await?
            .pop())
    }

    async fn cards_of_customer(&self, id: &CustomerId) -> Result<Vec<CardRecord>, StoreError> {
        self.cards_where(
            "WHERE c.customer_id = $1 ORDER BY c.created_at",
            id.as_str(),
        )
        .await
    }

    async fn cards_by_mobile(&self, mobile: &Mobile) -> Result<Vec<CardRecord>, StoreError> {
        self.cards_where(
            "JOIN customers u ON u.customer_id = c.customer_id WHERE u.mobile = $1 \
             ORDER BY c.created_at",
            mobile.as_str(),
        )
        .await
    }

    async fn enrollment_run(&self, id: &str) -> Result<Option<EnrollmentRunRecord>, StoreError> {
        enroll::run(&self.read, id).await
    }

    async fn take_enrollment_try(
        &self,
        key: &str,
        max: u32,
        window_end: i64,
        now: i64,
    ) -> Result<TryTaken, StoreError> {
        enroll::take_try(&self.write, key, max, window_end, now).await
    }

    async fn enrollment_tries(&self, key: &str, now: i64) -> Result<u32, StoreError> {
        enroll::tries(&self.read, key, now).await
    }

    async fn card_by_token(&self, token_id: &str) -> Result<Option<CardRecord>, StoreError> {
        Ok(self
            .cards_where("WHERE c.token_id = $1", token_id)
            .await?
            .pop())
    }

    async fn verification(
        &self,
        pan_hash: &str,
        txn_id: &str,
    ) -> Result<Option<VerificationRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT fingerprint, response_code, reason, at FROM verifications \
             WHERE pan_hash = $1 AND txn_id = $2",
        )
        .bind(pan_hash.to_owned())
        .bind(txn_id.to_owned())
        .fetch_optional(&self.read)
        .await
        .map_err(unavailable)?;
        row.map(|r| {
            Ok(VerificationRecord {
                pan_hash: pan_hash.to_owned(),
                txn_id: txn_id.to_owned(),
                fingerprint: r.try_get("fingerprint").map_err(corrupt)?,
                response_code: r.try_get("response_code").map_err(corrupt)?,
                reason: r.try_get("reason").map_err(corrupt)?,
                at: r.try_get("at").map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn card_for_verification(
        &self,
        pan_hash: &str,
        txn_id: &str,
    ) -> Result<(Option<CardRecord>, Option<VerificationRecord>), StoreError> {
        if let Writer::Direct(d) = &self.writer {
            return d.card_for_verification(pan_hash, txn_id);
        }
        let row = sqlx::query(CARD_FOR_VERIFICATION)
            .bind(pan_hash.to_owned())
            .bind(txn_id.to_owned())
            .fetch_optional(&self.read)
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok((None, None));
        };
        let card = card_from_row(&row)?;
        let fingerprint: Option<Vec<u8>> = row.try_get("v_fingerprint").map_err(corrupt)?;
        let v = match fingerprint {
            None => None,
            Some(fingerprint) => Some(VerificationRecord {
                pan_hash: pan_hash.to_owned(),
                txn_id: txn_id.to_owned(),
                fingerprint,
                response_code: row.try_get("v_response_code").map_err(corrupt)?,
                reason: row.try_get("v_reason").map_err(corrupt)?,
                at: row.try_get("v_at").map_err(corrupt)?,
            }),
        };
        Ok((Some(card), v))
    }

    async fn commit(&self, c: Commit) -> Result<(), StoreError> {
        match &self.writer {
            Writer::Group(g) => g.commit(c).await,
            Writer::Direct(d) => d.commit(c).await,
        }
    }

    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT key_hash, role, label, created_at FROM api_keys WHERE key_hash = $1",
        )
        .bind(key_hash.to_owned())
        .fetch_optional(&self.read)
        .await
        .map_err(unavailable)?;
        row.map(|r| {
            let role: String = r.try_get("role").map_err(corrupt)?;
            Ok(ApiKeyRecord {
                key_hash: r.try_get("key_hash").map_err(corrupt)?,
                role: Role::parse(&role).ok_or_else(|| corrupt(format!("role {role}")))?,
                label: r.try_get("label").map_err(corrupt)?,
                created_at: r.try_get("created_at").map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn insert_api_keys(&self, keys: &[ApiKeyRecord]) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await.map_err(unavailable)?;
        for k in keys {
            sqlx::query(
                "INSERT INTO api_keys (key_hash, role, label, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(k.key_hash.clone())
            .bind(k.role.as_str().to_owned())
            .bind(k.label.clone())
            .bind(k.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate
                } else {
                    unavailable(e)
                }
            })?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn count_api_keys(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.read)
            .await
            .map_err(unavailable)
    }

    async fn outbox_claim(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<QueuedSms>, StoreError> {
        // Several servers' workers share one outbox: each due message is leased to one worker at
        // a time. PostgreSQL skips rows another worker is claiming; SQLite has one writer anyway.
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE sms_outbox SET claimed_until = $1 WHERE id IN (\
               SELECT id FROM sms_outbox \
               WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $2 \
                 AND (claimed_until IS NULL OR claimed_until <= $2) \
               ORDER BY id LIMIT $3 {lock}) \
             RETURNING id, to_mobile, body, msg_id, created_at, expires_at, attempts"
        );
        // Safe: `lock` is one of two constant texts; the values are bound.
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.write)
            .await
            .map_err(unavailable)?;
        rows.sort_by_key(|r| r.try_get::<i64, _>("id").unwrap_or(0));
        rows.iter().map(queued_from_row).collect()
    }

    async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<QueuedSms>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, to_mobile, body, msg_id, created_at, expires_at, attempts FROM sms_outbox \
             WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter().map(queued_from_row).collect()
    }

    async fn outbox_sent(&self, id: i64, at: i64) -> Result<(), StoreError> {
        // The body carries a code: once sent it is no longer kept.
        sqlx::query("UPDATE sms_outbox SET sent_at = $1, body = '' WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sms_outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = $2, claimed_until = NULL WHERE id = $3",
        )
        .bind(error.to_owned())
        .bind(next_attempt_at)
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_give_up(&self, id: i64, why: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sms_outbox SET gave_up_at = $1, last_error = $2, body = '' WHERE id = $3",
        )
        .bind(at)
        .bind(why.to_owned())
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_refuse(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query(REFUSE_SMS)
            .bind(at)
            .bind(at)
            .bind(crate::at_rest::SMS_REFUSED)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_status(&self) -> Result<OutboxStatus, StoreError> {
        // Plain aggregates both dialects share; CASTs keep PostgreSQL's SUM of BIGINT (NUMERIC)
        // an integer.
        let row = sqlx::query(
            "SELECT \
               CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL \
                 THEN 1 ELSE 0 END), 0) AS BIGINT) AS queued, \
               MIN(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL THEN created_at END) \
                 AS oldest_queued_at, \
               CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL \
                 AND attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS retrying, \
               CAST(COALESCE(SUM(attempts), 0) AS BIGINT) AS failed_attempts, \
               CAST(COALESCE(SUM(CASE WHEN gave_up_at IS NOT NULL AND refused_at IS NULL \
                 THEN 1 ELSE 0 END), 0) AS BIGINT) AS given_up, \
               CAST(COALESCE(SUM(CASE WHEN refused_at IS NOT NULL THEN 1 ELSE 0 END), 0) \
                 AS BIGINT) AS refused, \
               CAST(COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) \
                 AS BIGINT) AS sent \
             FROM sms_outbox",
        )
        .fetch_one(&self.read)
        .await
        .map_err(unavailable)?;
        Ok(OutboxStatus {
            queued: row.try_get("queued").map_err(corrupt)?,
            oldest_queued_at: row.try_get("oldest_queued_at").map_err(corrupt)?,
            retrying: row.try_get("retrying").map_err(corrupt)?,
            failed_attempts: row.try_get("failed_attempts").map_err(corrupt)?,
            given_up: row.try_get("given_up").map_err(corrupt)?,
            refused: row.try_get("refused").map_err(corrupt)?,
            sent: row.try_get("sent").map_err(corrupt)?,
        })
    }

    async fn audit_tail(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, event, pan_masked, customer_id, detail FROM audit ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    at: r.try_get("at").map_err(corrupt)?,
                    event: r.try_get("event").map_err(corrupt)?,
                    pan_masked: r.try_get("pan_masked").map_err(corrupt)?,
                    customer_id: r.try_get("customer_id").map_err(corrupt)?,
                    detail: r.try_get("detail").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn audit_page(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<crate::audit::StoredAudit>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, event, pan_masked, customer_id, detail, lane, seq, mac FROM audit \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(crate::audit::StoredAudit {
                    id: r.try_get("id").map_err(corrupt)?,
                    lane: r.try_get("lane").map_err(corrupt)?,
                    seq: r.try_get("seq").map_err(corrupt)?,
                    mac: r.try_get("mac").map_err(corrupt)?,
                    record: AuditRecord {
                        at: r.try_get("at").map_err(corrupt)?,
                        event: r.try_get("event").map_err(corrupt)?,
                        pan_masked: r.try_get("pan_masked").map_err(corrupt)?,
                        customer_id: r.try_get("customer_id").map_err(corrupt)?,
                        detail: r.try_get("detail").map_err(corrupt)?,
                    },
                })
            })
            .collect()
    }

    async fn audit_heads(&self) -> Result<Vec<crate::audit::AuditHead>, StoreError> {
        let rows = sqlx::query("SELECT lane, seq, mac FROM audit_chains ORDER BY lane")
            .fetch_all(&self.read)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(crate::audit::AuditHead {
                    lane: r.try_get("lane").map_err(corrupt)?,
                    seq: r.try_get("seq").map_err(corrupt)?,
                    mac: r.try_get("mac").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn master_key_check(&self, value: &str) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO master_key_check (id, check_value) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(value.to_owned())
        .execute(&self.write)
        .await
        .map_err(unavailable)?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        let stored: String =
            sqlx::query_scalar("SELECT check_value FROM master_key_check WHERE id = 1")
                .fetch_one(&self.write)
                .await
                .map_err(unavailable)?;
        Ok(pooya_otp::ct_eq(stored.as_bytes(), value.as_bytes()))
    }

    async fn master_check_value(&self) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT check_value FROM master_key_check WHERE id = 1")
            .fetch_optional(&self.write)
            .await
            .map_err(unavailable)
    }

    async fn data_keys(&self) -> Result<Vec<WrappedDataKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT generation, kek_id, wrapped, created_at, wrapped_at FROM data_keys \
             ORDER BY generation",
        )
        .fetch_all(&self.write)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let hex: String = r.try_get("wrapped").map_err(corrupt)?;
                Ok(WrappedDataKey {
                    generation: r.try_get("generation").map_err(corrupt)?,
                    kek_id: r.try_get("kek_id").map_err(corrupt)?,
                    wrapped: data_encoding::HEXLOWER
                        .decode(hex.as_bytes())
                        .map_err(corrupt)?,
                    created_at: r.try_get("created_at").map_err(corrupt)?,
                    wrapped_at: r.try_get("wrapped_at").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn add_data_key(&self, k: &WrappedDataKey) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO data_keys (generation, kek_id, wrapped, created_at, wrapped_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (generation) DO NOTHING",
        )
        .bind(k.generation)
        .bind(k.kek_id.clone())
        .bind(data_encoding::HEXLOWER.encode(&k.wrapped))
        .bind(k.created_at)
        .bind(k.wrapped_at)
        .execute(&self.write)
        .await
        .map_err(write_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn rewrap_data_keys(
        &self,
        from_kek_id: &str,
        keys: &[WrappedDataKey],
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await.map_err(unavailable)?;
        for k in keys {
            let done = sqlx::query(
                "UPDATE data_keys SET kek_id = $1, wrapped = $2, wrapped_at = $3 \
                 WHERE generation = $4 AND kek_id = $5",
            )
            .bind(k.kek_id.clone())
            .bind(data_encoding::HEXLOWER.encode(&k.wrapped))
            .bind(k.wrapped_at)
            .bind(k.generation)
            .bind(from_kek_id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
        }
        tx.commit().await.map_err(write_error)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if let Writer::Direct(d) = &self.writer {
            return d.ping();
        }
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn upgrade_at_rest(
        &self,
        keys: &crate::keys::Keyring,
        now: i64,
    ) -> Result<crate::at_rest::AtRestUpgrade, StoreError> {
        at_rest::upgrade(&self.write, self.backend, keys, now).await
    }
}

/// Commits from concurrent callers, applied by writer tasks in batches: one transaction (one
/// commit record on PostgreSQL) for all commits waiting when a writer becomes free. Every caller
/// gets its answer only after the batch's transaction committed: a decision is durable before it
/// is answered, as with one transaction each. A caller that goes away does not undo its commit.
///
/// Each commit stands or falls alone. Verification commits (one card, at most one verification,
/// audit records, nothing else: [`fast_path`]) go first, set-based, a few statements for all of
/// them ([`apply_fast`]); a lost version check leaves out that commit alone. The rest follow one
/// at a time, each in a savepoint of its own so that a lost race (`Conflict`) or a duplicate
/// rolls back that commit alone. When the set-based part meets what it cannot leave out one
/// commit at a time (a verification already stored, a unique card key taken), the transaction
/// rolls back and the whole batch goes one commit at a time.
struct GroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
    stats: std::sync::Arc<BatchStats>,
}

type Job = (Commit, oneshot::Sender<Result<(), StoreError>>);

/// Commits in one transaction at most: bounds the time one batch holds the writer.
const MAX_BATCH: usize = 256;

/// How the batches went: for tests and diagnostics.
#[derive(Default)]
struct BatchStats {
    fast_commits: std::sync::atomic::AtomicU64,
    redone_batches: std::sync::atomic::AtomicU64,
}

/// What [`SqlStore::batch_counters`] tells.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounters {
    /// Commits answered from the set-based path (won or lost).
    pub fast_commits: u64,
    /// Batches whose set-based part rolled back and that went one commit at a time instead.
    pub redone_batches: u64,
}

impl SqlStore {
    /// Applies `commits` as one batch of the group commit, as if they had arrived together
    /// (PostgreSQL; on SQLite one after the other), and answers each, in the order given: for
    /// tests of the batch paths.
    #[doc(hidden)]
    pub async fn commit_together(&self, commits: Vec<Commit>) -> Vec<Result<(), StoreError>> {
        let stopped = || StoreError::Unavailable("the store's writer has stopped".into());
        let mut out = Vec::with_capacity(commits.len());
        match &self.writer {
            Writer::Group(g) => {
                let mut jobs = Vec::with_capacity(commits.len());
                let mut answers = Vec::with_capacity(commits.len());
                for c in commits {
                    let (tx, rx) = oneshot::channel();
                    jobs.push((c, tx));
                    answers.push(rx);
                }
                write_batch(&self.write, self.backend, jobs, &g.stats).await;
                for rx in answers {
                    out.push(rx.await.unwrap_or_else(|_| Err(stopped())));
                }
            }
            Writer::Direct(d) => {
                for c in commits {
                    out.push(d.commit(c).await);
                }
            }
        }
        out
    }

    /// How the group commit's batches went so far (zeros on SQLite).
    #[doc(hidden)]
    pub fn batch_counters(&self) -> BatchCounters {
        use std::sync::atomic::Ordering::Relaxed;
        match &self.writer {
            Writer::Group(g) => BatchCounters {
                fast_commits: g.stats.fast_commits.load(Relaxed),
                redone_batches: g.stats.redone_batches.load(Relaxed),
            },
            Writer::Direct(_) => BatchCounters::default(),
        }
    }
}

impl GroupCommit {
    /// Starts `writers` tasks on the current runtime; they end when the store is dropped.
    fn start(pool: AnyPool, backend: Backend, writers: u32) -> GroupCommit {
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let stats = std::sync::Arc::new(BatchStats::default());
        for _ in 0..writers {
            let (pool, rx, stats) = (pool.clone(), rx.clone(), stats.clone());
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                loop {
                    {
                        let mut rx = rx.lock().await;
                        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                            return;
                        }
                    }
                    write_batch(&pool, backend, std::mem::take(&mut batch), &stats).await;
                }
            });
        }
        GroupCommit { jobs: tx, stats }
    }

    async fn commit(&self, c: Commit) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send((c, tx))
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?
    }
}

/// The same error for every commit of a batch whose transaction failed.
fn batch_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict => StoreError::Conflict,
        StoreError::Duplicate => StoreError::Duplicate,
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
    }
}

async fn write_batch(pool: &AnyPool, backend: Backend, mut batch: Vec<Job>, stats: &BatchStats) {
    use std::sync::atomic::Ordering::Relaxed;
    // Each commit locks its audit lane's head row (PostgreSQL) until the batch commits. Batches
    // that take lanes in one order cannot deadlock on them across writers and servers.
    if backend == Backend::Postgres {
        batch.sort_by_cached_key(|(c, _)| c.audit_lane());
    }
    if batch.len() == 1 {
        // Alone: no savepoint needed.
        let (c, answer) = batch.into_iter().next().expect("one job");
        let result = async {
            let mut tx = pool.begin().await.map_err(write_error)?;
            lock_lanes_first(&mut tx, backend, std::iter::once(&c)).await?;
            apply_commit(&mut tx, backend, &c).await?;
            tx.commit().await.map_err(write_error)
        }
        .await;
        let _ = answer.send(result);
        return;
    }
    if backend == Backend::Postgres {
        let fast = fast_path(&batch);
        let n_fast = fast.iter().filter(|f| **f).count() as u64;
        if n_fast > 0 {
            match write_batch_fast(pool, &batch, &fast).await {
                Fast::Done(results) => {
                    stats.fast_commits.fetch_add(n_fast, Relaxed);
                    answer_all(batch, Ok(results));
                    return;
                }
                Fast::Failed(e) => {
                    answer_all(batch, Err(e));
                    return;
                }
                Fast::Redo => {
                    stats.redone_batches.fetch_add(1, Relaxed);
                }
            }
        }
    }
    let outcome = write_batch_each(pool, backend, &batch).await;
    answer_all(batch, outcome);
}

/// Locks audit lanes' head rows in ascending order and reads them. Always every lane's place,
/// NULLs for those not locked: one statement text for every batch, built once.
fn lock_lanes_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT lane, seq, mac FROM audit_chains WHERE lane IN ({}) ORDER BY lane FOR UPDATE",
            (1..=crate::audit::LANES)
                .map(|n| format!("${n}::bigint"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The audit lanes' heads locked by [`lock_lanes_first`], by lane.
type LockedHeads = std::collections::BTreeMap<i64, crate::audit::AuditHead>;

/// PostgreSQL: locks the head rows of every audit lane the batch appends to, in ascending order,
/// before any card, and returns them as read. Every writing transaction takes lanes first and
/// cards after, so two servers' batches cannot hold a card and a lane each and wait for the
/// other's. SQLite (one writer at a time) locks nothing here and returns no heads.
async fn lock_lanes_first<'a>(
    tx: &mut AnyConnection,
    backend: Backend,
    commits: impl Iterator<Item = &'a Commit>,
) -> Result<LockedHeads, StoreError> {
    let mut heads = LockedHeads::new();
    if backend != Backend::Postgres {
        return Ok(heads);
    }
    let lanes: std::collections::BTreeSet<i64> = commits
        .filter(|c| !c.audit.is_empty())
        .map(Commit::audit_lane)
        .collect();
    if lanes.is_empty() {
        return Ok(heads);
    }
    // Safe: the text is built from constants; the values are bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(lock_lanes_sql()));
    for lane in &lanes {
        q = q.bind(*lane);
    }
    for _ in lanes.len()..crate::audit::LANES as usize {
        q = q.bind(None::<i64>);
    }
    for row in q.fetch_all(&mut *tx).await.map_err(write_error)? {
        let head = crate::audit::AuditHead {
            lane: row.try_get("lane").map_err(corrupt)?,
            seq: row.try_get("seq").map_err(corrupt)?,
            mac: row.try_get("mac").map_err(corrupt)?,
        };
        heads.insert(head.lane, head);
    }
    Ok(heads)
}

/// Sends each job its result, or every job the batch's error (nothing of the batch written).
fn answer_all(batch: Vec<Job>, outcome: Result<Vec<Result<(), StoreError>>, StoreError>) {
    match outcome {
        Ok(results) => {
            for ((_, answer), r) in batch.into_iter().zip(results) {
                let _ = answer.send(r);
            }
        }
        Err(e) => {
            for (_, answer) in batch {
                let _ = answer.send(Err(batch_error(&e)));
            }
        }
    }
}

/// The batch one commit at a time, each in a savepoint, in one transaction: each commit's result
/// once the transaction committed, or the error that undid all of it.
async fn write_batch_each(
    pool: &AnyPool,
    backend: Backend,
    batch: &[Job],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut results = Vec::with_capacity(batch.len());
    let mut tx = pool.begin().await.map_err(write_error)?;
    lock_lanes_first(&mut tx, backend, batch.iter().map(|(c, _)| c)).await?;
    for (c, _) in batch {
        results.push(apply_in_savepoint(&mut tx, backend, c).await?);
    }
    tx.commit().await.map_err(write_error)?;
    Ok(results)
}

/// Applies `c` in a savepoint of `tx`: the commit's own result inside, or the error of the
/// savepoint itself (the transaction is then unusable).
async fn apply_in_savepoint(
    tx: &mut AnyConnection,
    backend: Backend,
    c: &Commit,
) -> Result<Result<(), StoreError>, StoreError> {
    let mut sp = sqlx::Connection::begin(&mut *tx)
        .await
        .map_err(write_error)?;
    match apply_commit(&mut sp, backend, c).await {
        Ok(()) => {
            sp.commit().await.map_err(write_error)?;
            Ok(Ok(()))
        }
        Err(e) => {
            sp.rollback().await.map_err(write_error)?;
            Ok(Err(e))
        }
    }
}

/// Which commits of a (lane-sorted) batch take the set-based path: a verification's commit (one
/// card updated, at most one verification of that card, audit records with their key, nothing
/// else) on a card no earlier commit of the batch touches. Later commits on the same card follow
/// one at a time after it, as they would have in batch order.
fn fast_path(batch: &[Job]) -> Vec<bool> {
    let mut taken = std::collections::HashSet::new();
    batch
        .iter()
        .map(|(c, _)| {
            let simple = c.cards.len() == 1
                && c.new_customers.is_empty()
                && c.customers.is_empty()
                && c.customer_guards.is_empty()
                && c.new_cards.is_empty()
                && c.outbox.is_empty()
                && c.verifications.len() <= 1
                && c.verifications
                    .iter()
                    .all(|v| v.pan_hash == c.cards[0].pan_hash)
                && !enroll::touches(c)
                && !c.audit.is_empty()
                && c.audit_key.is_some();
            let fast = simple && !taken.contains(c.cards[0].pan_hash.as_str());
            let touched = c
                .cards
                .iter()
                .chain(&c.new_cards)
                .map(|k| k.pan_hash.as_str());
            taken.extend(touched.chain(c.verifications.iter().map(|v| v.pan_hash.as_str())));
            fast
        })
        .collect()
}

/// What became of a batch's set-based path.
enum Fast {
    /// Committed, with the slow remainder: each commit's result, in batch order.
    Done(Vec<Result<(), StoreError>>),
    /// Rolled back, nothing written: the batch goes one commit at a time instead.
    Redo,
    /// The batch's transaction failed outside the set-based part: nothing of it is written (or,
    /// at COMMIT, nobody knows), every commit gets the error, as on the one-at-a-time path.
    Failed(StoreError),
}

/// The batch with its `fast` commits set-based ([`apply_fast`]), then the others each in a
/// savepoint, in one transaction.
async fn write_batch_fast(pool: &AnyPool, batch: &[Job], fast: &[bool]) -> Fast {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return Fast::Failed(write_error(e)),
    };
    let locked =
        match lock_lanes_first(&mut tx, Backend::Postgres, batch.iter().map(|(c, _)| c)).await {
            Ok(heads) => heads,
            Err(e) => {
                let _ = tx.rollback().await;
                return Fast::Failed(e);
            }
        };
    let mut results = match apply_fast(&mut tx, batch, fast, locked).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "set-based batch rolled back; redone one commit at a time");
            // A failed rollback closes the connection; the redo takes another.
            let _ = tx.rollback().await;
            return Fast::Redo;
        }
    };
    let outcome = async move {
        for (i, (c, _)) in batch.iter().enumerate() {
            if results[i].is_none() {
                results[i] = Some(apply_in_savepoint(&mut tx, Backend::Postgres, c).await?);
            }
        }
        tx.commit().await.map_err(write_error)?;
        Ok(results)
    }
    .await;
    match outcome {
        Ok(results) => Fast::Done(
            results
                .into_iter()
                .map(|r| r.expect("every commit of the batch answered"))
                .collect(),
        ),
        Err(e) => Fast::Failed(e),
    }
}

/// PostgreSQL binds at most this many parameters to one statement.
const PG_MAX_PARAMS: usize = 65_535;

/// The rows of one multi-row statement: `n` rounded up to a power of two, filled with NULL rows.
/// The statements' texts depend on their row counts, and sqlx keeps a connection's prepared
/// statements by text (100 at most, least recently used out): a handful of sizes stay prepared,
/// where every batch size would push each other out and cost a Parse round trip each.
fn padded(n: usize, casts: &[&str]) -> usize {
    n.next_power_of_two().min(PG_MAX_PARAMS / casts.len())
}

/// Binds a row of NULLs typed as `casts`: a padding row, which matches or inserts nothing.
fn bind_nulls<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    casts: &[&str],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for cast in casts {
        q = match *cast {
            "bigint" => q.bind(None::<i64>),
            "bytea" => q.bind(None::<Vec<u8>>),
            _ => q.bind(None::<String>),
        };
    }
    q
}

/// `($1::t1, $2::t2, …), (…), …`: `rows` rows of `casts.len()` parameters, numbered from 1. The
/// casts type the parameters: the `Any` driver's are loosely typed.
fn values_rows(rows: usize, casts: &[&str]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(rows * casts.len() * 12);
    let mut n = 0;
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for (k, cast) in casts.iter().enumerate() {
            n += 1;
            let _ = write!(s, "{}${n}::{cast}", if k == 0 { "" } else { ", " });
        }
        s.push(')');
    }
    s
}

const FAST_CARD_CASTS: &[&str] = &["text", "bigint", "bigint", "text", "text", "text", "bigint"];
const FAST_VERIFICATION_CASTS: &[&str] = &["text", "text", "bytea", "text", "text", "bigint"];
const FAST_AUDIT_CASTS: &[&str] = &[
    "bigint", "text", "text", "text", "text", "bigint", "bigint", "text",
];
const FAST_HEAD_CASTS: &[&str] = &["bigint", "bigint", "text", "bigint"];

/// The set-based part of a batch, inside its transaction: the `fast` commits' card updates in one
/// statement, their verifications in one, their audit records chained and written in one, the
/// lanes' heads moved in one. Answers the fast commits' results (`None` for the others): a commit
/// whose card changed since its decision lost its race (`Conflict`) and left nothing. An error
/// means the transaction must roll back (something of a winner could not be written).
async fn apply_fast(
    tx: &mut AnyConnection,
    batch: &[Job],
    fast: &[bool],
    mut heads: LockedHeads,
) -> Result<Vec<Option<Result<(), StoreError>>>, StoreError> {
    let mut results: Vec<Option<Result<(), StoreError>>> = batch.iter().map(|_| None).collect();
    let lanes: Vec<i64> = batch.iter().map(|(c, _)| c.audit_lane()).collect();

    // 1. The cards, guarded by version. In card order: two batches sharing cards lock them in one
    //    order.
    let mut order: Vec<usize> = (0..batch.len()).filter(|&i| fast[i]).collect();
    order.sort_by(|&a, &b| {
        batch[a].0.cards[0]
            .pan_hash
            .cmp(&batch[b].0.cards[0].pan_hash)
    });
    let by_card: std::collections::HashMap<&str, usize> = order
        .iter()
        .map(|&i| (batch[i].0.cards[0].pan_hash.as_str(), i))
        .collect();
    let mut won = vec![false; batch.len()];
    for chunk in order.chunks(PG_MAX_PARAMS / FAST_CARD_CASTS.len()) {
        let sql = format!(
            "UPDATE cards AS c SET second_blocked = v.second_blocked, svc = v.svc, \
             token_id = v.token_id, enrollment_id = v.enrollment_id, updated_at = v.updated_at, \
             version = c.version + 1 \
             FROM (VALUES {}) AS v(pan_hash, version, second_blocked, svc, token_id, \
             enrollment_id, updated_at) \
             WHERE c.pan_hash = v.pan_hash AND c.version = v.version RETURNING c.pan_hash",
            values_rows(padded(chunk.len(), FAST_CARD_CASTS), FAST_CARD_CASTS)
        );
        // Safe: the text is built from constants; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &i in chunk {
            let c = &batch[i].0;
            let card = &c.cards[0];
            q = q
                .bind(card.pan_hash.clone())
                .bind(card.version)
                .bind(i64::from(card.second_blocked))
                .bind(svc_json(card)?)
                .bind(token_id(card))
                .bind(enrollment_id(card))
                .bind(commit_time(c));
        }
        for _ in chunk.len()..padded(chunk.len(), FAST_CARD_CASTS) {
            q = bind_nulls(q, FAST_CARD_CASTS);
        }
        for row in q.fetch_all(&mut *tx).await.map_err(write_error)? {
            let hash: String = row.try_get(0).map_err(corrupt)?;
            let i = by_card
                .get(hash.as_str())
                .ok_or_else(|| corrupt("the batch's card update returned a card not in it"))?;
            won[*i] = true;
        }
    }
    for &i in &order {
        results[i] = Some(if won[i] {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        });
    }
    // In batch order, which is lane order.
    let winners: Vec<usize> = (0..batch.len()).filter(|&i| won[i]).collect();

    // 2. The winners' verifications. One already stored cannot be left out alone now that its
    //    card is written: roll back (rare: a retry of an answered transaction racing its answer).
    let verifications: Vec<&VerificationRecord> = winners
        .iter()
        .flat_map(|&i| &batch[i].0.verifications)
        .collect();
    let mut inserted = 0;
    for chunk in verifications.chunks(PG_MAX_PARAMS / FAST_VERIFICATION_CASTS.len()) {
        let sql = format!(
            "INSERT INTO verifications (pan_hash, txn_id, fingerprint, response_code, reason, at) \
             SELECT * FROM (VALUES {}) AS v(pan_hash, txn_id, fingerprint, response_code, reason, \
             at) WHERE v.pan_hash IS NOT NULL ON CONFLICT DO NOTHING",
            values_rows(
                padded(chunk.len(), FAST_VERIFICATION_CASTS),
                FAST_VERIFICATION_CASTS
            )
        );
        // Safe: the text is built from constants; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in chunk {
            q = q
                .bind(v.pan_hash.clone())
                .bind(v.txn_id.clone())
                .bind(v.fingerprint.clone())
                .bind(v.response_code.clone())
                .bind(v.reason.clone())
                .bind(v.at);
        }
        for _ in chunk.len()..padded(chunk.len(), FAST_VERIFICATION_CASTS) {
            q = bind_nulls(q, FAST_VERIFICATION_CASTS);
        }
        inserted += q
            .execute(&mut *tx)
            .await
            .map_err(write_error)?
            .rows_affected();
    }
    if inserted != verifications.len() as u64 {
        return Err(StoreError::Conflict);
    }

    // 3. The audit lanes every commit of the batch appends to (the slow commits' too): their heads
    //    were locked, in ascending order, before any card.
    let mut lock: std::collections::BTreeSet<i64> = winners.iter().map(|&i| lanes[i]).collect();
    lock.extend(
        (0..batch.len())
            .filter(|&i| !fast[i] && !batch[i].0.audit.is_empty())
            .map(|i| lanes[i]),
    );
    if lock.is_empty() {
        return Ok(results);
    }
    // Locked and read before any card (`lock_lanes_first`); only this batch's lanes are used.
    heads.retain(|lane, _| lock.contains(lane));
    if let Some(lane) = lock.iter().find(|l| !heads.contains_key(l)) {
        return Err(corrupt(format!("audit lane {lane} has no head row")));
    }
    let old_seq: std::collections::BTreeMap<i64, i64> =
        heads.iter().map(|(l, h)| (*l, h.seq)).collect();

    // Chain the winners' records, lane by lane, each lane in batch order.
    let mut by_lane = winners.clone();
    by_lane.sort_by_key(|&i| lanes[i]);
    let mut chained = Vec::new();
    let mut touched = std::collections::BTreeSet::new();
    for &i in &by_lane {
        let c = &batch[i].0;
        let keys = c
            .audit_key
            .as_ref()
            .ok_or_else(|| corrupt("audit records given without the audit key (a bug): refused"))?;
        let head = heads.get_mut(&lanes[i]).expect("locked above");
        let (links, new_head) = crate::audit::append(keys, head, &c.audit);
        *head = new_head;
        touched.insert(lanes[i]);
        chained.extend(
            c.audit
                .iter()
                .zip(links)
                .map(|(a, (seq, mac))| (a, lanes[i], seq, mac)),
        );
    }
    if chained.is_empty() {
        return Ok(results);
    }
    // Rows get their ids in VALUES order: within a lane, in seq order.
    let mut written = 0;
    for chunk in chained.chunks(PG_MAX_PARAMS / FAST_AUDIT_CASTS.len()) {
        let sql = format!(
            "INSERT INTO audit (at, event, pan_masked, customer_id, detail, lane, seq, mac) \
             SELECT * FROM (VALUES {}) AS v(at, event, pan_masked, customer_id, detail, lane, seq, \
             mac) WHERE v.lane IS NOT NULL",
            values_rows(padded(chunk.len(), FAST_AUDIT_CASTS), FAST_AUDIT_CASTS)
        );
        // Safe: the text is built from constants; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (a, lane, seq, mac) in chunk {
            q = q
                .bind(a.at)
                .bind(a.event.clone())
                .bind(a.pan_masked.clone())
                .bind(a.customer_id.clone())
                .bind(a.detail.clone())
                .bind(*lane)
                .bind(*seq)
                .bind(mac.clone());
        }
        for _ in chunk.len()..padded(chunk.len(), FAST_AUDIT_CASTS) {
            q = bind_nulls(q, FAST_AUDIT_CASTS);
        }
        // A taken (lane, seq) would mean a broken lock: the error rolls all back.
        written += q
            .execute(&mut *tx)
            .await
            .map_err(write_error)?
            .rows_affected();
    }
    if written != chained.len() as u64 {
        return Err(StoreError::Conflict);
    }
    let sql = format!(
        "UPDATE audit_chains AS a SET seq = v.seq, mac = v.mac \
         FROM (VALUES {}) AS v(lane, seq, mac, old_seq) \
         WHERE a.lane = v.lane AND a.seq = v.old_seq",
        // Every lane's place, NULL rows for those not moved: one text.
        values_rows(crate::audit::LANES as usize, FAST_HEAD_CASTS)
    );
    // Safe: the text is built from constants; the values are bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for lane in &touched {
        let head = &heads[lane];
        q = q
            .bind(*lane)
            .bind(head.seq)
            .bind(head.mac.clone())
            .bind(old_seq[lane]);
    }
    for _ in touched.len()..crate::audit::LANES as usize {
        q = bind_nulls(q, FAST_HEAD_CASTS);
    }
    let moved = q
        .execute(&mut *tx)
        .await
        .map_err(write_error)?
        .rows_affected();
    if moved != touched.len() as u64 {
        return Err(StoreError::Conflict);
    }
    Ok(results)
}

/// The time a commit stamps on its rows (`updated_at`): that of its decision.
fn commit_time(c: &Commit) -> i64 {
    c.audit
        .first()
        .map(|a| a.at)
        .unwrap_or_else(|| crate::clock::Clock::now_ms(&crate::clock::SystemClock))
}

/// Writes one [`Commit`] on `tx` (a transaction or a savepoint of one): everything or an error.
async fn apply_commit(
    tx: &mut AnyConnection,
    backend: Backend,
    c: &Commit,
) -> Result<(), StoreError> {
    let now = commit_time(c);
    for u in &c.new_customers {
        sqlx::query(INSERT_CUSTOMER)
            .bind(u.id.as_str().to_owned())
            .bind(u.mobile.as_str().to_owned())
            .bind(u.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate
                } else {
                    write_error(e)
                }
            })?;
    }
    for u in &c.customers {
        let r = sqlx::query(UPDATE_CUSTOMER)
            .bind(u.mobile.as_str().to_owned())
            .bind(u.id.as_str().to_owned())
            .bind(u.version)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        if r.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
    }
    for (id, version) in &c.customer_guards {
        let r = sqlx::query(GUARD_CUSTOMER)
            .bind(id.as_str().to_owned())
            .bind(*version)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        if r.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
    }
    for card in &c.new_cards {
        sqlx::query(INSERT_CARD)
            .bind(card.pan_hash.clone())
            .bind(card.customer_id.as_str().to_owned())
            .bind(card.pan_masked.clone())
            .bind(card.last4.clone())
            .bind(card.expiry.as_yymm())
            .bind(card.pin_hash.clone())
            .bind(card.second_hash.clone())
            .bind(i64::from(card.second_blocked))
            .bind(svc_json(card)?)
            .bind(token_id(card))
            .bind(enrollment_id(card))
            .bind(card.created_at)
            .bind(card.created_at)
            .bind(tail_macs(card))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate
                } else {
                    write_error(e)
                }
            })?;
    }
    for card in &c.cards {
        let r = sqlx::query(UPDATE_CARD)
            .bind(i64::from(card.second_blocked))
            .bind(svc_json(card)?)
            .bind(token_id(card))
            .bind(enrollment_id(card))
            .bind(now)
            .bind(card.pan_hash.clone())
            .bind(card.version)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict
                } else {
                    write_error(e)
                }
            })?;
        if r.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
    }
    for v in &c.verifications {
        sqlx::query(INSERT_VERIFICATION)
            .bind(v.pan_hash.clone())
            .bind(v.txn_id.clone())
            .bind(v.fingerprint.clone())
            .bind(v.response_code.clone())
            .bind(v.reason.clone())
            .bind(v.at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict
                } else {
                    write_error(e)
                }
            })?;
    }
    for m in &c.outbox {
        sqlx::query(INSERT_SMS)
            .bind(m.to.as_str().to_owned())
            .bind(m.text.clone())
            .bind(m.created_at)
            .bind(m.expires_at)
            .bind(m.created_at)
            .bind(m.msg_id.clone())
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
    }
    enroll::apply(tx, c).await?;
    if !c.audit.is_empty() {
        let keys = c
            .audit_key
            .as_ref()
            .ok_or_else(|| corrupt("audit records given without the audit key (a bug): refused"))?;
        append_audit(tx, backend, keys, c.audit_lane(), &c.audit).await?;
    }
    Ok(())
}

/// Appends `records` to `lane` of the audit chain inside `tx`. The lane's head row stays
/// locked until `tx` ends: this comes last in a commit so the lock is held briefly.
async fn append_audit(
    tx: &mut AnyConnection,
    backend: Backend,
    keys: &crate::keys::Keyring,
    lane: i64,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    // SQLite has one writer at a time already; PostgreSQL locks the one head row.
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = format!("SELECT seq, mac FROM audit_chains WHERE lane = $1{lock}");
    // Safe: `lock` is one of two constant texts; the value is bound.
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lane)
        .fetch_optional(&mut *tx)
        .await
        .map_err(write_error)?
        .ok_or_else(|| corrupt(format!("audit lane {lane} has no head row")))?;
    let head = crate::audit::AuditHead {
        lane,
        seq: row.try_get("seq").map_err(corrupt)?,
        mac: row.try_get("mac").map_err(corrupt)?,
    };
    let (links, new_head) = crate::audit::append(keys, &head, records);
    for (a, (seq, mac)) in records.iter().zip(links) {
        sqlx::query(INSERT_AUDIT)
            .bind(a.at)
            .bind(a.event.clone())
            .bind(a.pan_masked.clone())
            .bind(a.customer_id.clone())
            .bind(a.detail.clone())
            .bind(lane)
            .bind(seq)
            .bind(mac)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                // Only a broken lock would let two writers take one seq.
                if is_unique_violation(&e) {
                    StoreError::Conflict
                } else {
                    write_error(e)
                }
            })?;
    }
    let r = sqlx::query(UPDATE_AUDIT_HEAD)
        .bind(new_head.seq)
        .bind(new_head.mac)
        .bind(lane)
        .bind(head.seq)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}
