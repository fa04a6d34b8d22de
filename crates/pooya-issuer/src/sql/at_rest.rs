//! The start-time upgrade of values at rest ([`crate::at_rest`]) over SQL: one transaction, all or
//! nothing, taken by one server at a time (SQLite's write lock, a PostgreSQL advisory lock).

use sqlx::{AnyPool, Row};

use super::{append_audit, corrupt, unavailable, write_error, Backend, REFUSE_SMS};
use crate::at_rest::{bind_card, reseal_legacy_sms, AtRestUpgrade, SMS_REFUSED};
use crate::card::DynamicService;
use crate::domain::Mobile;
use crate::keys::{Keyring, SEALED_HASH};
use crate::store::{AuditRecord, Commit, StoreError};

/// Key of the PostgreSQL advisory lock that serialises upgrades of servers starting together.
const UPGRADE_LOCK: i64 = 0x0070_6f6f_7961_0007;

/// Cards read at a time.
const PAGE: i64 = 500;

/// The upgrade, tried again when a card changed under it (an older server still writing).
pub(super) async fn upgrade(
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
            let mut svc_text = get("svc")?;
            let mut svc: DynamicService = serde_json::from_str(&svc_text).map_err(corrupt)?;
            let (pin_hash, second_hash) = bind_card(
                keys,
                &pan_hash,
                &get("pin_hash")?,
                &get("second_hash")?,
                &mut svc,
            );
            // Only a card with MACs to bind has its document written again.
            if svc.sms().is_some() {
                svc_text = serde_json::to_string(&svc).map_err(corrupt)?;
            }
            let done = sqlx::query(
                "UPDATE cards SET pin_hash = $1, second_hash = $2, svc = $3, \
                 version = version + 1 WHERE pan_hash = $4 AND version = $5",
            )
            .bind(pin_hash)
            .bind(second_hash)
            .bind(svc_text)
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
    let record = AuditRecord {
        at: now,
        event: "store.upgraded_at_rest".into(),
        pan_masked: None,
        customer_id: None,
        detail: format!("cards={cards} sms_resealed={sms_resealed} sms_refused={sms_refused}"),
    };
    let lane = Commit {
        audit: vec![record.clone()],
        ..Commit::default()
    }
    .audit_lane();
    append_audit(&mut tx, backend, keys, lane, &[record]).await?;
    tx.commit().await.map_err(write_error)?;
    Ok(AtRestUpgrade::Upgraded {
        cards,
        sms_resealed,
        sms_refused,
    })
}
