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

/// The batch with its verification commits set-based ([`apply_fast`]), then the others each in
/// a savepoint, in one transaction.
pub(crate) async fn write_batch(pool: &AnyPool, batch: &[Job]) -> Outcome {
    let plans = fast_plans(batch);
    let fast = plans.iter().flatten().count() as u64;
    if fast == 0 {
        return Outcome::NoneFast;
    }
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return Outcome::Failed(write_error(e)),
    };
    let locked =
        match lock_lanes_first(&mut tx, Backend::Postgres, batch.iter().map(|(c, _)| c)).await {
            Ok(heads) => heads,
            Err(e) => {
                let _ = tx.rollback().await;
                return Outcome::Failed(e);
            }
        };
    let mut results = match apply_fast(&mut tx, batch, &plans, locked).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "set-based batch rolled back; redone one commit at a time");
            // A failed rollback closes the connection; the redo takes another.
            let _ = tx.rollback().await;
            return Outcome::Redo;
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
        Ok(results) => Outcome::Done {
            results: results
                .into_iter()
                .map(|r| r.expect("every commit of the batch answered"))
                .collect(),
            fast,
        },
        Err(e) => Outcome::Failed(e),
    }
}

/// Binds a step's values as one row of a multi-row statement typed as `casts`.
fn bind_row<'q>(mut q: AnyQuery<'q>, step: &Step<'_>, casts: &[&str]) -> AnyQuery<'q> {
    debug_assert_eq!(step.values.len(), casts.len(), "{:?}", step.write);
    for v in &step.values {
        q = v.bind(q);
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

/// The set-based part of a batch, inside its transaction: the fast commits' card updates in one
/// statement, their verifications in one, their audit records chained and written in one, the
/// lanes' heads moved in one. Answers the fast commits' results (`None` for the others): a commit
/// whose card changed since its decision lost its race (`Conflict`) and left nothing. An error
/// means the transaction must roll back (something of a winner could not be written).
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
        let sql = format!(
            "UPDATE cards AS c SET second_blocked = v.second_blocked, svc = v.svc, \
             token_id = v.token_id, enrollment_id = v.enrollment_id, updated_at = v.updated_at, \
             version = c.version + 1 \
             FROM (VALUES {}) AS v(second_blocked, svc, token_id, enrollment_id, updated_at, \
             pan_hash, version) \
             WHERE c.pan_hash = v.pan_hash AND c.version = v.version RETURNING c.pan_hash",
            values_rows(padded(chunk.len(), CARD_CASTS), CARD_CASTS)
        );
        // Safe: the text is built from constants; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &i in chunk {
            let plan = plans[i].as_ref().expect("a fast commit's plan");
            q = bind_row(q, &plan.steps[0], CARD_CASTS);
        }
        for _ in chunk.len()..padded(chunk.len(), CARD_CASTS) {
            q = bind_nulls(q, CARD_CASTS);
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
    let winners: Vec<&Plan<'_>> = (0..batch.len())
        .filter(|&i| won[i])
        .filter_map(|i| plans[i].as_ref())
        .collect();

    // 2. The winners' verifications. One already stored cannot be left out alone now that its
    //    card is written: roll back (rare: a retry of an answered transaction racing its answer).
    let verifications: Vec<&Step<'_>> = winners.iter().flat_map(|p| &p.steps[1..]).collect();
    let mut inserted = 0;
    for chunk in verifications.chunks(PG_MAX_PARAMS / VERIFICATION_CASTS.len()) {
        let sql = format!(
            "INSERT INTO verifications (pan_hash, txn_id, fingerprint, response_code, reason, at, \
             merchant) SELECT * FROM (VALUES {}) AS v(pan_hash, txn_id, fingerprint, \
             response_code, reason, at, merchant) WHERE v.pan_hash IS NOT NULL \
             ON CONFLICT DO NOTHING",
            values_rows(padded(chunk.len(), VERIFICATION_CASTS), VERIFICATION_CASTS)
        );
        // Safe: the text is built from constants; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for step in chunk {
            q = bind_row(q, step, VERIFICATION_CASTS);
        }
        for _ in chunk.len()..padded(chunk.len(), VERIFICATION_CASTS) {
            q = bind_nulls(q, VERIFICATION_CASTS);
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

    // Chain the winners' records, lane by lane, each lane in batch order.
    let mut by_lane: Vec<_> = winners.iter().filter_map(|p| p.audit.as_ref()).collect();
    by_lane.sort_by_key(|a| a.lane);
    let mut rows = Vec::new();
    for audit in by_lane {
        let head = heads.get_mut(&audit.lane).expect("locked above");
        let (chained, new_head) = audit.rows(head);
        *head = new_head;
        rows.extend(chained);
    }
    if rows.is_empty() {
        return Ok(results);
    }
    // Rows get their ids in VALUES order: within a lane, in seq order.
    let mut written = 0;
    for chunk in rows.chunks(PG_MAX_PARAMS / AUDIT_CASTS.len()) {
        let sql = format!(
            "INSERT INTO audit (at, event, pan_masked, customer_id, detail, lane, seq, mac, actor) \
             SELECT * FROM (VALUES {}) AS v(at, event, pan_masked, customer_id, detail, lane, seq, \
             mac, actor) WHERE v.lane IS NOT NULL",
            values_rows(padded(chunk.len(), AUDIT_CASTS), AUDIT_CASTS)
        );
        // Safe: the text is built from constants; the values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for step in chunk {
            q = bind_row(q, step, AUDIT_CASTS);
        }
        for _ in chunk.len()..padded(chunk.len(), AUDIT_CASTS) {
            q = bind_nulls(q, AUDIT_CASTS);
        }
        // A taken (lane, seq) would mean a broken lock: the error rolls all back.
        written += q
            .execute(&mut *tx)
            .await
            .map_err(write_error)?
            .rows_affected();
    }
    if written != rows.len() as u64 {
        return Err(StoreError::Conflict);
    }
    let moved: Vec<Step<'static>> = heads
        .values()
        .filter(|now| now.seq != read[&now.lane].seq)
        .map(|now| head_moved(&read[&now.lane], now))
        .collect();
    let sql = format!(
        "UPDATE audit_chains AS a SET seq = v.seq, mac = v.mac \
         FROM (VALUES {}) AS v(seq, mac, lane, old_seq) \
         WHERE a.lane = v.lane AND a.seq = v.old_seq",
        // Every lane's place, NULL rows for those not moved: one text.
        values_rows(LANES as usize, HEAD_CASTS)
    );
    // Safe: the text is built from constants; the values are bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for step in &moved {
        q = bind_row(q, step, HEAD_CASTS);
    }
    for _ in moved.len()..LANES as usize {
        q = bind_nulls(q, HEAD_CASTS);
    }
    let done = q
        .execute(&mut *tx)
        .await
        .map_err(write_error)?
        .rows_affected();
    if done != moved.len() as u64 {
        return Err(StoreError::Conflict);
    }
    Ok(results)
}
