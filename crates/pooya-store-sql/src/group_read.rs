//! PostgreSQL's grouped verification read: a verification's one read (its card and the
//! transaction's stored answer, [`CARD_FOR_VERIFICATION`]) asked together with the reads of the
//! other requests waiting, one statement for all of them, as the group commit does for writes.
//!
//! Each reader task takes every read waiting in its queue when it becomes free (up to
//! [`MAX_READS`]) and asks them in one statement over a `VALUES` list; an idle server's read goes
//! alone, at once. A read asked together sees the same committed rows it would have seen alone: it
//! is one statement's snapshot, taken after the read was asked, and the decision made on it is
//! guarded at commit by the card's version as before. Issue 17: the read was a round trip and a
//! statement of its own per verification, half of PostgreSQL's statements.
//!
//! [`CARD_FOR_VERIFICATION`]: crate::statements::CARD_FOR_VERIFICATION

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use pooya_issuer::card::CardRecord;
use pooya_issuer::store::{StoreError, VerificationRecord};

use crate::group::{batch_error, batch_tasks};
use crate::statements::{card_columns, verification_columns};
use crate::values::{bind_nulls, padded, values_rows};
use crate::{corrupt, decode, unavailable};

/// A card and one transaction's stored verification, as [`pooya_issuer::store::Store::card_for_verification`] answers.
pub(crate) type CardAndAnswer = (Option<CardRecord>, Option<VerificationRecord>);

/// One read waiting: the card's hash, the transaction, where the answer goes.
struct ReadJob {
    pan_hash: String,
    txn_id: String,
    answer: oneshot::Sender<Result<CardAndAnswer, StoreError>>,
}

/// Reads asked in one statement at most.
const MAX_READS: usize = 256;

/// The parameters of one read, in the `VALUES` list's order: its place in the batch, the card,
/// the transaction.
const READ_CASTS: &[&str] = &["bigint", "text", "text"];

pub(crate) struct GroupRead {
    /// One queue per reader task; reads go round the readers in turn.
    queues: Vec<mpsc::UnboundedSender<ReadJob>>,
    next: AtomicUsize,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    reads: AtomicU64,
    statements: AtomicU64,
}

/// What [`crate::SqlStore::read_counters`] tells: for tests and diagnostics.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadCounters {
    /// Verification reads answered.
    pub reads: u64,
    /// Statements that asked them.
    pub statements: u64,
}

impl GroupRead {
    /// Starts `readers` tasks (at least one) on the current runtime; they end when the store is
    /// dropped.
    pub(crate) fn start(pool: AnyPool, readers: u32) -> GroupRead {
        let stats = Arc::new(Stats::default());
        let queues = batch_tasks(readers, MAX_READS, {
            let stats = stats.clone();
            move |batch: Vec<ReadJob>| {
                stats.statements.fetch_add(1, Relaxed);
                stats.reads.fetch_add(batch.len() as u64, Relaxed);
                read_batch(pool.clone(), batch)
            }
        });
        GroupRead {
            queues,
            next: AtomicUsize::new(0),
            stats,
        }
    }

    pub(crate) fn counters(&self) -> ReadCounters {
        ReadCounters {
            reads: self.stats.reads.load(Relaxed),
            statements: self.stats.statements.load(Relaxed),
        }
    }

    /// The card `pan_hash` (none if there is no such card) and the stored answer to its
    /// transaction `txn_id`, if there is one.
    pub(crate) async fn card_for_verification(
        &self,
        pan_hash: &str,
        txn_id: &str,
    ) -> Result<CardAndAnswer, StoreError> {
        let (answer, rx) = oneshot::channel();
        let reader = self.next.fetch_add(1, Relaxed) % self.queues.len();
        self.queues[reader]
            .send(ReadJob {
                pan_hash: pan_hash.to_owned(),
                txn_id: txn_id.to_owned(),
                answer,
            })
            .map_err(|_| reader_stopped())?;
        rx.await.map_err(|_| reader_stopped())?
    }
}

fn reader_stopped() -> StoreError {
    StoreError::Unavailable("the store's reader has stopped".into())
}

/// The statement for `rows` reads (a power of two up to [`MAX_READS`]): each read's card joined
/// to its stored verification, tagged with the read's place. A read whose card does not exist has
/// no row; padding rows (NULLs) match nothing.
///
/// Each read looks its rows up by primary key, a lateral subquery each (`LIMIT 1` keeps
/// PostgreSQL from folding them into a join): the prepared statement's generic plan, which knows
/// no key, otherwise joined the list to the whole verifications table, 1–2 ms a statement.
fn read_sql(rows: usize) -> &'static str {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        (0..=MAX_READS.trailing_zeros())
            .map(|p| {
                format!(
                    concat!(
                        "SELECT q.k, ",
                        card_columns!(),
                        ", ",
                        verification_columns!(),
                        " FROM (VALUES {}) AS q(k, pan_hash, txn_id) \
                         CROSS JOIN LATERAL (SELECT * FROM cards c \
                         WHERE c.pan_hash = q.pan_hash LIMIT 1) c \
                         LEFT JOIN LATERAL (SELECT * FROM verifications v \
                         WHERE v.pan_hash = q.pan_hash AND v.txn_id = q.txn_id LIMIT 1) v ON true"
                    ),
                    values_rows(1, 1 << p, READ_CASTS)
                )
            })
            .collect()
    });
    &texts[rows.trailing_zeros() as usize]
}

/// Asks `batch` in one statement and answers each read; a failed statement answers every read
/// with its error.
async fn read_batch(pool: AnyPool, batch: Vec<ReadJob>) {
    let rows = padded(batch.len(), READ_CASTS).min(MAX_READS);
    let mut q = sqlx::query(read_sql(rows));
    for (k, job) in batch.iter().enumerate() {
        q = q
            .bind(k as i64)
            .bind(job.pan_hash.as_str())
            .bind(job.txn_id.as_str());
    }
    for _ in batch.len()..rows {
        q = bind_nulls(q, READ_CASTS);
    }
    let found = match q.fetch_all(&pool).await {
        Ok(found) => found,
        Err(e) => {
            let e = unavailable(e);
            for job in batch {
                let _ = job.answer.send(Err(batch_error(&e)));
            }
            return;
        }
    };
    let mut answers: Vec<Option<Result<CardAndAnswer, StoreError>>> =
        batch.iter().map(|_| None).collect();
    for row in &found {
        let k = match row.try_get::<i64, _>("k") {
            Ok(k) if (0..batch.len() as i64).contains(&k) => k as usize,
            // A row not of this batch: the statement is not what it says.
            _ => {
                let e = corrupt("the grouped read returned a row of no read");
                for job in batch {
                    let _ = job.answer.send(Err(batch_error(&e)));
                }
                return;
            }
        };
        let job = &batch[k];
        answers[k] = Some(decode::card(row).and_then(|card| {
            decode::joined_verification(row, &job.pan_hash, &job.txn_id).map(|v| (Some(card), v))
        }));
    }
    for (job, answer) in batch.into_iter().zip(answers) {
        let _ = job.answer.send(answer.unwrap_or(Ok((None, None))));
    }
}
