//! The start-time upgrade of values at rest ([`pooya_issuer::at_rest`]) over SQL: one
//! transaction, all or nothing, taken by one server at a time (SQLite's write lock, a PostgreSQL
//! advisory lock).

use sqlx::{AnyPool, Row};

use pooya_issuer::at_rest::{bind_stored_card, reseal_legacy_sms, AtRestUpgrade, SMS_REFUSED};
use pooya_issuer::domain::Mobile;
use pooya_issuer::keys::{Keyring, SEALED_HASH};
use pooya_issuer::store::{Commit, StoreError};

use crate::plan::AuditAppend;
use crate::sqlx_exec::append_audit;
use crate::statements::REFUSE_SMS;
use crate::{corrupt, unavailable, write_error, Backend};

/// Key of the PostgreSQL advisory lock that serialises upgrades of servers starting together.
const UPGRADE_LOCK: i64 = 0x0070_6f6f_7961_0007;

/// Cards read at a time.
const PAGE: i64 = 500;

/// The upgrade, tried again when a card changed under it (an older server still writing).
pub(crate) async fn upgrade(
    pool: &AnyPool,
    backend: Backend,
    keys: &Keyring,
    now: i64,
) -> Result<AtRestUpgrade, StoreError> {
    for _ in 0..3 {
        match upgrade_once(pool, backend, keys, now).await {
            Err(StoreError::Conflict) => continue,
            other => return other,
        }
    }
    Err(StoreError::Conflict)
}

async fn upgrade_once(
    pool: &AnyPool,
    backend: Backend,
    keys: &Keyring,
    now: i64,
) -> Result<AtRestUpgrade, StoreError> {
    let mut tx = match backend {
        // The write lock from the start: no other writer slips in between the check and the
        // upgrade.
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
    .map_err(unavailable)?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(UPGRADE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
    }
    let sealed = format!("{SEALED_HASH}%");
    let upgraded_before: Option<String> = sqlx::query_scalar(
        "SELECT pan_hash FROM cards WHERE pin_hash LIKE $1 OR second_hash LIKE $2 LIMIT 1",
    )
    .bind(sealed.clone())
    .bind(sealed.clone())
    .fetch_optional(&mut *tx)
    .await
    .map_err(unavailable)?;
    if upgraded_before.is_some() {
        // Plain hashes beside sealed ones are never adopted: only counted, for a warning.
        let plain_cards: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM cards WHERE pin_hash NOT LIKE $1 OR second_hash NOT LIKE $2",
        )
        .bind(sealed.clone())
        .bind(sealed)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.rollback().await.map_err(unavailable)?;
        return Ok(AtRestUpgrade::Current { plain_cards });
    }

    let mut cards = 0;
    let mut after = String::new();
    loop {
        let rows = sqlx::query(
            "SELECT pan_hash, pin_hash, second_hash, svc, version FROM cards \
             WHERE pan_hash > $1 ORDER BY pan_hash LIMIT $2",
        )
        .bind(after.clone())
        .bind(PAGE)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("pan_hash").map_err(corrupt)?;
        for r in &rows {
            let get = |c: &str| r.try_get::<String, _>(c).map_err(corrupt);
            let pan_hash = get("pan_hash")?;
            let bound = bind_stored_card(
                keys,
                &pan_hash,
                &get("pin_hash")?,
                &get("second_hash")?,
                &get("svc")?,
            )
            .map_err(corrupt)?;
            let done = sqlx::query(
                "UPDATE cards SET pin_hash = $1, second_hash = $2, svc = $3, \
                 version = version + 1 WHERE pan_hash = $4 AND version = $5",
            )
            .bind(bound.pin_hash)
            .bind(bound.second_hash)
            .bind(bound.svc)
            .bind(pan_hash)
            .bind(r.try_get::<i64, _>("version").map_err(corrupt)?)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
            cards += 1;
        }
    }

    let (mut sms_resealed, mut sms_refused) = (0, 0);
    let queued = sqlx::query(
        "SELECT id, to_mobile, body FROM sms_outbox \
         WHERE sent_at IS NULL AND gave_up_at IS NULL AND msg_id IS NULL ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(unavailable)?;
    for r in &queued {
        let id: i64 = r.try_get("id").map_err(corrupt)?;
        let to: String = r.try_get("to_mobile").map_err(corrupt)?;
        let body: String = r.try_get("body").map_err(corrupt)?;
        let resealed = Mobile::parse(&to)
            .ok()
            .and_then(|to| reseal_legacy_sms(keys, &to, &body));
        let q = match resealed {
            Some((msg_id, body)) => {
                sms_resealed += 1;
                sqlx::query("UPDATE sms_outbox SET msg_id = $1, body = $2 WHERE id = $3")
                    .bind(msg_id)
                    .bind(body)
                    .bind(id)
            }
            None => {
                sms_refused += 1;
                sqlx::query(REFUSE_SMS)
                    .bind(now)
                    .bind(now)
                    .bind(SMS_REFUSED)
                    .bind(id)
            }
        };
        q.execute(&mut *tx).await.map_err(write_error)?;
    }

    if cards == 0 && queued.is_empty() {
        tx.rollback().await.map_err(unavailable)?;
        return Ok(AtRestUpgrade::Current { plain_cards: 0 });
    }
    let upgraded = AtRestUpgrade::Upgraded {
        cards,
        sms_resealed,
        sms_refused,
    };
    let commit = Commit {
        audit: upgraded.audit_record(now).into_iter().collect(),
        ..Commit::default()
    };
    let audit = AuditAppend {
        lane: commit.audit_lane(),
        keys,
        records: &commit.audit,
    };
    append_audit(&mut tx, backend, &audit).await?;
    tx.commit().await.map_err(write_error)?;
    Ok(upgraded)
}
