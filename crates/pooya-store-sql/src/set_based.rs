//! PostgreSQL's set-based batch: the verification commits of a group-commit batch written a few
//! statements for all of them — their card updates in one, their verifications in one, their audit
//! records chained and written in one, the lanes' heads moved in one — then the batch's other
//! commits each in a savepoint. The rows are the [`Plan`]s' own values: each multi-row statement
//! takes its columns in the order of the one-row statement it stands for ([`UPDATE_CARD`],
//! [`INSERT_VERIFICATION`], [`INSERT_AUDIT`], [`UPDATE_AUDIT_HEAD`]).
//!
//! [`UPDATE_CARD`]: crate::statements::UPDATE_CARD
//! [`INSERT_VERIFICATION`]: crate::statements::INSERT_VERIFICATION
//! [`INSERT_AUDIT`]: crate::statements::INSERT_AUDIT
//! [`UPDATE_AUDIT_HEAD`]: crate::statements::UPDATE_AUDIT_HEAD

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::{AnyConnection, AnyPool, Row};

use pooya_issuer::audit::LANES;
use pooya_issuer::store::{Commit, StoreError};

use crate::group::{apply_in_savepoint, lock_lanes_first, Job, LockedHeads};
use crate::plan::{head_moved, Plan, Step, Write};
use crate::sqlx_exec::AnyQuery;
use crate::values::{bind_nulls, padded, values_rows, PG_MAX_PARAMS};
use crate::{corrupt, write_error, Backend};

/// What became of a batch's set-based path.
pub(crate) enum Outcome {
    /// No commit of the batch is a verification's: nothing done.
    NoneFast,
    /// Committed, with the slow remainder: each commit's result, in batch order, and how many
    /// went set-based.
    Done {
        results: Vec<Result<(), StoreError>>,
        fast: u64,
        /// Whether they went in one statement.
        at_once: bool,
    },
    /// Rolled back, nothing written: the batch goes one commit at a time instead.
    Redo,
    /// The batch's transaction failed outside the set-based part: nothing of it is written (or,
    /// at COMMIT, nobody knows), every commit gets the error, as on the one-at-a-time path.
    Failed(StoreError),
}

/// Whether `c` (planned as `p`) is a verification's commit: one card updated, at most one
/// verification of that card, audit records with their key, nothing else.
fn is_verification(c: &Commit, p: &Plan<'_>) -> bool {
    let writes: Vec<Write> = p.steps.iter().map(|s| s.write).collect();
    matches!(
        writes[..],
        [Write::Card] | [Write::Card, Write::Verification]
    ) && c
        .verifications
        .iter()
        .all(|v| v.pan_hash == c.cards[0].pan_hash)
        && p.audit.is_some()
}

/// The plans of the commits of a (lane-sorted) batch that take the set-based path: a
/// verification's commit on a card no earlier commit of the batch touches. Later commits on the
/// same card follow one at a time after it, as they would have in batch order.
fn fast_plans(batch: &[Job]) -> Vec<Option<Plan<'_>>> {
    let mut taken = HashSet::new();
    batch
        .iter()
        .map(|(c, _)| {
            // Cheap checks first: most commits that are not verifications stop here.
            let shaped = c.cards.len() == 1 && c.verifications.len() <= 1 && !c.audit.is_empty();
            let fast = shaped
                .then(|| Plan::of(c, Backend::Postgres).ok())
                .flatten()
                .filter(|p| is_verification(c, p))
                .filter(|_| !taken.contains(c.cards[0].pan_hash.as_str()));
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

/// The batch with its verification commits set-based, then the others each in a savepoint, in one
/// transaction. The verification commits go first in one statement ([`apply_at_once`]); when one
/// of them lost its card's race (or anything else stops that statement), the transaction starts
/// again and they go statement by statement ([`apply_fast`]), which leaves out the losers alone.
pub(crate) async fn write_batch(pool: &AnyPool, batch: &[Job]) -> Outcome {
    let plans = fast_plans(batch);
    let fast = plans.iter().flatten().count() as u64;
    if fast == 0 {
        return Outcome::NoneFast;
    }
    let (mut tx, mut locked) = match begin_locked(pool, batch).await {
        Ok(begun) => begun,
        Err(e) => return Outcome::Failed(e),
    };
    let at_once = match apply_at_once(&mut tx, batch, &plans, locked.clone()).await {
        Ok(AtOnce::Written) => Some(
            plans
                .iter()
                .map(|p| p.as_ref().map(|_| Ok(())))
                .collect::<Vec<_>>(),
        ),
        Ok(AtOnce::TooLarge) => None,
        Ok(AtOnce::CardMoved) | Err(_) => {
            // A failed rollback closes the connection; the next transaction takes another.
            let _ = tx.rollback().await;
            // Read again: another server may have moved the lanes meanwhile.
            (tx, locked) = match begin_locked(pool, batch).await {
                Ok(begun) => begun,
                Err(e) => return Outcome::Failed(e),
            };
            None
        }
    };
    let written_at_once = at_once.is_some();
    let mut results = match at_once {
        Some(results) => results,
        None => match apply_fast(&mut tx, batch, &plans, locked).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "set-based batch rolled back; redone one commit at a time");
                let _ = tx.rollback().await;
                return Outcome::Redo;
            }
        },
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
        Ok(results) => Outcome::Done {
            results: results
                .into_iter()
                .map(|r| r.expect("every commit of the batch answered"))
                .collect(),
            fast,
            at_once: written_at_once,
        },
        Err(e) => Outcome::Failed(e),
    }
}

/// The batch's transaction begun, the heads of the audit lanes it appends to locked and read.
async fn begin_locked(
    pool: &AnyPool,
    batch: &[Job],
) -> Result<(sqlx::Transaction<'static, sqlx::Any>, LockedHeads), StoreError> {
    let mut tx = pool.begin().await.map_err(write_error)?;
    match lock_lanes_first(&mut tx, Backend::Postgres, batch.iter().map(|(c, _)| c)).await {
        Ok(heads) => Ok((tx, heads)),
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// Binds `steps` as the rows of a multi-row statement typed as `casts`, then NULL rows up to
/// `rows`.
fn bind_rows<'q>(
    mut q: AnyQuery<'q>,
    steps: &[&Step<'_>],
    casts: &[&str],
    rows: usize,
) -> AnyQuery<'q> {
    for step in steps {
        debug_assert_eq!(step.values.len(), casts.len(), "{:?}", step.write);
        for v in &step.values {
            q = v.bind(q);
        }
    }
    for _ in steps.len()..rows {
        q = bind_nulls(q, casts);
    }
    q
}

/// [`UPDATE_CARD`](crate::statements::UPDATE_CARD)'s parameters, in its order.
const CARD_CASTS: &[&str] = &["bigint", "text", "text", "text", "bigint", "text", "bigint"];
/// [`INSERT_VERIFICATION`](crate::statements::INSERT_VERIFICATION)'s.
const VERIFICATION_CASTS: &[&str] = &["text", "text", "bytea", "text", "text", "bigint", "text"];
/// [`INSERT_AUDIT`](crate::statements::INSERT_AUDIT)'s.
const AUDIT_CASTS: &[&str] = &[
    "bigint", "text", "text", "text", "text", "bigint", "bigint", "text", "text",
];
/// [`UPDATE_AUDIT_HEAD`](crate::statements::UPDATE_AUDIT_HEAD)'s.
const HEAD_CASTS: &[&str] = &["bigint", "text", "bigint", "bigint"];

/// [`UPDATE_CARD`](crate::statements::UPDATE_CARD) for `rows` rows, parameters from `$first`:
/// the cards whose version is still the one read, each returned.
fn update_cards_sql(first: usize, rows: usize) -> String {
    format!(
        "UPDATE cards AS c SET second_blocked = v.second_blocked, svc = v.svc, \
         token_id = v.token_id, enrollment_id = v.enrollment_id, updated_at = v.updated_at, \
         version = c.version + 1 \
         FROM (VALUES {}) AS v(second_blocked, svc, token_id, enrollment_id, updated_at, \
         pan_hash, version) \
         WHERE c.pan_hash = v.pan_hash AND c.version = v.version RETURNING c.pan_hash",
        values_rows(first, rows, CARD_CASTS)
    )
}

/// [`INSERT_VERIFICATION`](crate::statements::INSERT_VERIFICATION) for `rows` rows, parameters
/// from `$first`: one already stored is left out (and not returned).
fn insert_verifications_sql(first: usize, rows: usize) -> String {
    format!(
        "INSERT INTO verifications (pan_hash, txn_id, fingerprint, response_code, reason, at, \
         merchant) SELECT * FROM (VALUES {}) AS v(pan_hash, txn_id, fingerprint, \
         response_code, reason, at, merchant) WHERE v.pan_hash IS NOT NULL \
         ON CONFLICT DO NOTHING RETURNING 1",
        values_rows(first, rows, VERIFICATION_CASTS)
    )
}

/// [`INSERT_AUDIT`](crate::statements::INSERT_AUDIT) for `rows` rows, parameters from `$first`.
/// Rows get their ids in `VALUES` order: within a lane, in seq order.
fn insert_audit_sql(first: usize, rows: usize) -> String {
    format!(
        "INSERT INTO audit (at, event, pan_masked, customer_id, detail, lane, seq, mac, actor) \
         SELECT * FROM (VALUES {}) AS v(at, event, pan_masked, customer_id, detail, lane, seq, \
         mac, actor) WHERE v.lane IS NOT NULL RETURNING 1",
        values_rows(first, rows, AUDIT_CASTS)
    )
}

/// [`UPDATE_AUDIT_HEAD`](crate::statements::UPDATE_AUDIT_HEAD) for every lane's place (NULL rows
/// for those not moved: one text), parameters from `$first`.
fn update_heads_sql(first: usize) -> String {
    format!(
        "UPDATE audit_chains AS a SET seq = v.seq, mac = v.mac \
         FROM (VALUES {}) AS v(seq, mac, lane, old_seq) \
         WHERE a.lane = v.lane AND a.seq = v.old_seq RETURNING a.lane",
        values_rows(first, LANES as usize, HEAD_CASTS)
    )
}

/// The audit records of `plans`, chained lane by lane from `heads` (moved to the new heads), each
/// lane in the order given.
fn chain_audit<'p>(
    plans: impl Iterator<Item = &'p Plan<'p>>,
    heads: &mut LockedHeads,
) -> Result<Vec<Step<'p>>, StoreError> {
    let mut by_lane: Vec<_> = plans.filter_map(|p| p.audit.as_ref()).collect();
    by_lane.sort_by_key(|a| a.lane);
    let mut rows = Vec::new();
    for audit in by_lane {
        let head = heads
            .get_mut(&audit.lane)
            .ok_or_else(|| corrupt(format!("audit lane {} has no head row", audit.lane)))?;
        let (chained, new_head) = audit.rows(head);
        *head = new_head;
        rows.extend(chained);
    }
    Ok(rows)
}

/// The heads of `now` that moved since `read`, as [`UPDATE_AUDIT_HEAD`] rows.
///
/// [`UPDATE_AUDIT_HEAD`]: crate::statements::UPDATE_AUDIT_HEAD
fn heads_moved(read: &LockedHeads, now: &LockedHeads) -> Vec<Step<'static>> {
    now.values()
        .filter(|h| h.seq != read[&h.lane].seq)
        .map(|h| head_moved(&read[&h.lane], h))
        .collect()
}

/// What became of [`apply_at_once`].
enum AtOnce {
    /// Every verification commit written.
    Written,
    /// More parameters than one statement takes: nothing done, the transaction as it was.
    TooLarge,
    /// A card changed since its decision: the statement wrote what it could, the transaction
    /// must roll back.
    CardMoved,
}

/// Every verification commit of the batch in one statement, on the chance that none lost its
/// card's race (the common case: a card's holder pays once at a time): the cards, the
/// verifications, the audit records chained from the locked `heads` and the heads moved, as four
/// data-modifying `WITH` parts whose rows are counted. One round trip where [`apply_fast`] takes
/// four (issue 17). A count short of the commits (a card moved, a verification already stored, a
/// head moved) means the transaction must roll back; an error too.
async fn apply_at_once(
    tx: &mut AnyConnection,
    batch: &[Job],
    plans: &[Option<Plan<'_>>],
    mut heads: LockedHeads,
) -> Result<AtOnce, StoreError> {
    let read = heads.clone();
    let fast: Vec<&Plan<'_>> = plans.iter().flatten().collect();
    // Cards in card order: two batches sharing cards lock them in one order.
    let mut order: Vec<usize> = (0..batch.len()).filter(|&i| plans[i].is_some()).collect();
    order.sort_by_key(|&i| batch[i].0.cards[0].pan_hash.as_str());
    let cards: Vec<&Step<'_>> = order
        .iter()
        .filter_map(|&i| plans[i].as_ref().map(|p| &p.steps[0]))
        .collect();
    let verifications: Vec<&Step<'_>> = fast.iter().flat_map(|p| &p.steps[1..]).collect();
    // In batch order, which is lane order.
    let audit = chain_audit(fast.iter().copied(), &mut heads)?;
    let audit: Vec<&Step<'_>> = audit.iter().collect();
    let moved = heads_moved(&read, &heads);
    let moved: Vec<&Step<'_>> = moved.iter().collect();

    let rows = [
        padded(cards.len(), CARD_CASTS),
        padded(verifications.len(), VERIFICATION_CASTS),
        padded(audit.len(), AUDIT_CASTS),
        LANES as usize,
    ];
    let params = rows[0] * CARD_CASTS.len()
        + rows[1] * VERIFICATION_CASTS.len()
        + rows[2] * AUDIT_CASTS.len()
        + rows[3] * HEAD_CASTS.len();
    if params > PG_MAX_PARAMS {
        return Ok(AtOnce::TooLarge);
    }
    let first_verification = 1 + rows[0] * CARD_CASTS.len();
    let first_audit = first_verification + rows[1] * VERIFICATION_CASTS.len();
    let first_head = first_audit + rows[2] * AUDIT_CASTS.len();
    let sql = format!(
        "WITH cards_done AS ({}), verifications_done AS ({}), audit_done AS ({}), \
         heads_done AS ({}) SELECT (SELECT count(*) FROM cards_done), \
         (SELECT count(*) FROM verifications_done), (SELECT count(*) FROM audit_done), \
         (SELECT count(*) FROM heads_done)",
        update_cards_sql(1, rows[0]),
        insert_verifications_sql(first_verification, rows[1]),
        insert_audit_sql(first_audit, rows[2]),
        update_heads_sql(first_head),
    );
    // Safe: the text is built from constants; the values are bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    q = bind_rows(q, &cards, CARD_CASTS, rows[0]);
    q = bind_rows(q, &verifications, VERIFICATION_CASTS, rows[1]);
    q = bind_rows(q, &audit, AUDIT_CASTS, rows[2]);
    q = bind_rows(q, &moved, HEAD_CASTS, rows[3]);
    let row = q.fetch_one(&mut *tx).await.map_err(write_error)?;
    let want = [cards.len(), verifications.len(), audit.len(), moved.len()];
    for (k, want) in want.into_iter().enumerate() {
        let done: i64 = row.try_get(k).map_err(corrupt)?;
        if done != want as i64 {
            return Ok(AtOnce::CardMoved);
        }
    }
    Ok(AtOnce::Written)
}

/// The set-based part of a batch, statement by statement, inside its transaction: the fast
/// commits' card updates in one statement, their verifications in one, their audit records
/// chained and written in one, the lanes' heads moved in one. Answers the fast commits' results
/// (`None` for the others): a commit whose card changed since its decision lost its race
/// (`Conflict`) and left nothing. An error means the transaction must roll back (something of a
/// winner could not be written).
async fn apply_fast(
    tx: &mut AnyConnection,
    batch: &[Job],
    plans: &[Option<Plan<'_>>],
    mut heads: LockedHeads,
) -> Result<Vec<Option<Result<(), StoreError>>>, StoreError> {
    let mut results: Vec<Option<Result<(), StoreError>>> = batch.iter().map(|_| None).collect();
    let card_of = |i: usize| batch[i].0.cards[0].pan_hash.as_str();

    // 1. The cards, guarded by version. In card order: two batches sharing cards lock them in one
    //    order.
    let mut order: Vec<usize> = (0..batch.len()).filter(|&i| plans[i].is_some()).collect();
    order.sort_by(|&a, &b| card_of(a).cmp(card_of(b)));
    let by_card: HashMap<&str, usize> = order.iter().map(|&i| (card_of(i), i)).collect();
    let mut won = vec![false; batch.len()];
    for chunk in order.chunks(PG_MAX_PARAMS / CARD_CASTS.len()) {
        let rows = padded(chunk.len(), CARD_CASTS);
        let steps: Vec<&Step<'_>> = chunk
            .iter()
            .map(|&i| &plans[i].as_ref().expect("a fast commit's plan").steps[0])
            .collect();
        // Safe: the text is built from constants; the values are bound.
        let q = sqlx::query(sqlx::AssertSqlSafe(update_cards_sql(1, rows)));
        let q = bind_rows(q, &steps, CARD_CASTS, rows);
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
    let winners: Vec<&Plan<'_>> = (0..batch.len())
        .filter(|&i| won[i])
        .filter_map(|i| plans[i].as_ref())
        .collect();

    // 2. The winners' verifications. One already stored cannot be left out alone now that its
    //    card is written: roll back (rare: a retry of an answered transaction racing its answer).
    let verifications: Vec<&Step<'_>> = winners.iter().flat_map(|p| &p.steps[1..]).collect();
    let mut inserted = 0;
    for chunk in verifications.chunks(PG_MAX_PARAMS / VERIFICATION_CASTS.len()) {
        let rows = padded(chunk.len(), VERIFICATION_CASTS);
        // Safe: the text is built from constants; the values are bound.
        let q = sqlx::query(sqlx::AssertSqlSafe(insert_verifications_sql(1, rows)));
        inserted += bind_rows(q, chunk, VERIFICATION_CASTS, rows)
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
    let mut lock: BTreeSet<i64> = winners
        .iter()
        .filter_map(|p| p.audit.as_ref().map(|a| a.lane))
        .collect();
    lock.extend(
        (0..batch.len())
            .filter(|&i| plans[i].is_none() && !batch[i].0.audit.is_empty())
            .map(|i| batch[i].0.audit_lane()),
    );
    if lock.is_empty() {
        return Ok(results);
    }
    // Locked and read before any card (`lock_lanes_first`); only this batch's lanes are used.
    heads.retain(|lane, _| lock.contains(lane));
    if let Some(lane) = lock.iter().find(|l| !heads.contains_key(l)) {
        return Err(corrupt(format!("audit lane {lane} has no head row")));
    }
    let read: BTreeMap<i64, _> = heads.clone();
    let rows = chain_audit(winners.iter().copied(), &mut heads)?;
    if rows.is_empty() {
        return Ok(results);
    }
    let rows: Vec<&Step<'_>> = rows.iter().collect();
    let mut written = 0;
    for chunk in rows.chunks(PG_MAX_PARAMS / AUDIT_CASTS.len()) {
        let padded_rows = padded(chunk.len(), AUDIT_CASTS);
        // Safe: the text is built from constants; the values are bound.
        let q = sqlx::query(sqlx::AssertSqlSafe(insert_audit_sql(1, padded_rows)));
        // A taken (lane, seq) would mean a broken lock: the error rolls all back.
        written += bind_rows(q, chunk, AUDIT_CASTS, padded_rows)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?
            .rows_affected();
    }
    if written != rows.len() as u64 {
        return Err(StoreError::Conflict);
    }
    let moved = heads_moved(&read, &heads);
    let moved: Vec<&Step<'_>> = moved.iter().collect();
    // Safe: the text is built from constants; the values are bound.
    let q = sqlx::query(sqlx::AssertSqlSafe(update_heads_sql(1)));
    let done = bind_rows(q, &moved, HEAD_CASTS, LANES as usize)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?
        .rows_affected();
    if done != moved.len() as u64 {
        return Err(StoreError::Conflict);
    }
    Ok(results)
}
