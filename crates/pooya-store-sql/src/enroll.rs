//! The enrollment tables (migration 0008): runs between their two messages, and the tries of
//! each card number and client address. Runs are written and closed by commits (their
//! [`Plan`](crate::plan::Plan)); tries are counted by one conditional upsert of their own.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use pooya_issuer::card::LiveRun;
use pooya_issuer::store::{EnrollmentRunRecord, RunKind, StoreError, TriesWindow, TryTaken};

use crate::{corrupt, unavailable, write_error};

const SELECT_RUN: &str = "SELECT run_id, pan_hash, pan_masked, tries_key, activation_id, pending, \
     lifetime_secs, expires_at FROM enrollment_runs WHERE run_id = $1";
/// One try more, unless the window's are used up; an ended window starts again at 1.
const TAKE_TRY: &str = "INSERT INTO enrollment_tries (tries_key, used, expires_at) \
     VALUES ($1, 1, $2) \
     ON CONFLICT (tries_key) DO UPDATE SET \
     used = CASE WHEN enrollment_tries.expires_at <= $3 THEN 1 ELSE enrollment_tries.used + 1 END, \
     expires_at = CASE WHEN enrollment_tries.expires_at <= $3 THEN $2 \
     ELSE enrollment_tries.expires_at END \
     WHERE enrollment_tries.expires_at <= $3 OR enrollment_tries.used < $4 \
     RETURNING used, expires_at";
const SELECT_TRIES: &str =
    "SELECT used, expires_at FROM enrollment_tries WHERE tries_key = $1 AND expires_at > $2";
/// A few rows out of date at a time: a purge never holds a writer long.
const PURGE_TRIES: &str = "DELETE FROM enrollment_tries WHERE tries_key IN \
     (SELECT tries_key FROM enrollment_tries WHERE expires_at <= $1 LIMIT 16)";
const PURGE_RUNS: &str = "DELETE FROM enrollment_runs WHERE run_id IN \
     (SELECT run_id FROM enrollment_runs WHERE expires_at <= $1 LIMIT 16)";

pub(crate) async fn run(
    read: &AnyPool,
    id: &str,
) -> Result<Option<EnrollmentRunRecord>, StoreError> {
    let row = sqlx::query(SELECT_RUN)
        .bind(id.to_owned())
        .fetch_optional(read)
        .await
        .map_err(unavailable)?;
    row.as_ref().map(run_from_row).transpose()
}

fn run_from_row(r: &AnyRow) -> Result<EnrollmentRunRecord, StoreError> {
    let activation: Option<String> = r.try_get("activation_id").map_err(corrupt)?;
    let kind = match activation {
        None => RunKind::Decoy,
        Some(activation_id) => {
            let pending: Option<Vec<u8>> = r.try_get("pending").map_err(corrupt)?;
            let lifetime: Option<i64> = r.try_get("lifetime_secs").map_err(corrupt)?;
            RunKind::Live(LiveRun {
                activation_id,
                pending_sealed: pending.ok_or_else(|| corrupt("a live run without its state"))?,
                lifetime_secs: lifetime
                    .and_then(|l| u32::try_from(l).ok())
                    .ok_or_else(|| corrupt("a live run without its lifetime"))?,
            })
        }
    };
    Ok(EnrollmentRunRecord {
        id: r.try_get("run_id").map_err(corrupt)?,
        pan_hash: r.try_get("pan_hash").map_err(corrupt)?,
        pan_masked: r.try_get("pan_masked").map_err(corrupt)?,
        tries_key: r.try_get("tries_key").map_err(corrupt)?,
        kind,
        expires_at: r.try_get("expires_at").map_err(corrupt)?,
    })
}

fn window(used: i64, ends_at: i64) -> Result<TriesWindow, StoreError> {
    Ok(TriesWindow {
        used: u32::try_from(used).map_err(corrupt)?,
        ends_at,
    })
}

pub(crate) async fn take_try(
    write: &AnyPool,
    key: &str,
    max: u32,
    window_end: i64,
    now: i64,
) -> Result<TryTaken, StoreError> {
    let mut tx = write.begin().await.map_err(write_error)?;
    for purge in [PURGE_TRIES, PURGE_RUNS] {
        sqlx::query(purge)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
    }
    let counted = sqlx::query(TAKE_TRY)
        .bind(key.to_owned())
        .bind(window_end)
        .bind(now)
        .bind(i64::from(max))
        .fetch_optional(&mut *tx)
        .await
        .map_err(write_error)?;
    let taken = match counted {
        Some(row) => TryTaken::Counted(window(
            row.try_get("used").map_err(corrupt)?,
            row.try_get("expires_at").map_err(corrupt)?,
        )?),
        None => {
            let row = sqlx::query(SELECT_TRIES)
                .bind(key.to_owned())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(write_error)?;
            TryTaken::UsedUp(window(
                row.try_get("used").map_err(corrupt)?,
                row.try_get("expires_at").map_err(corrupt)?,
            )?)
        }
    };
    tx.commit().await.map_err(write_error)?;
    Ok(taken)
}

pub(crate) async fn tries(read: &AnyPool, key: &str, now: i64) -> Result<u32, StoreError> {
    let row = sqlx::query(SELECT_TRIES)
        .bind(key.to_owned())
        .bind(now)
        .fetch_optional(read)
        .await
        .map_err(unavailable)?;
    match row {
        Some(r) => Ok(window(r.try_get("used").map_err(corrupt)?, 0)?.used),
        None => Ok(0),
    }
}
