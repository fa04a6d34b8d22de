//! The schema: embedded migrations, each applied once, in one transaction of its own. Servers
//! starting together on one PostgreSQL take turns (an advisory lock); on SQLite its write lock
//! does.

use sqlx::{AnyPool, Executor};

use pooya_issuer::store::StoreError;

use crate::{unavailable, Backend};

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
    (
        10,
        include_str!("../migrations/sqlite/0010_staff.sql"),
        include_str!("../migrations/postgres/0010_staff.sql"),
    ),
    (
        11,
        include_str!("../migrations/sqlite/0011_verification_merchant.sql"),
        include_str!("../migrations/postgres/0011_verification_merchant.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_cards_fillfactor.sql"),
        include_str!("../migrations/postgres/0012_cards_fillfactor.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_verifications_one_index.sql"),
        include_str!("../migrations/postgres/0013_verifications_one_index.sql"),
    ),
];

/// Key of the PostgreSQL advisory lock that serialises migrations of servers starting together.
const MIGRATION_LOCK: i64 = 0x0070_6f6f_7961; // "pooya"

/// When a migration was applied (unix ms): the wall time of this start, recorded for the
/// operators. No decision reads it; decisions' times come from the issuer's clock ([`Commit::at`]).
///
/// [`Commit::at`]: pooya_issuer::store::Commit::at
fn applied_at() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) async fn migrate(write: &AnyPool, backend: Backend) -> Result<(), StoreError> {
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
                .bind(applied_at())
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
