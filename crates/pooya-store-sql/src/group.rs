//! PostgreSQL's group commit: commits from concurrent callers, applied by writer tasks in batches,
//! one transaction (one commit record) for all commits waiting when a writer becomes free. Every
//! caller gets its answer only after the batch's transaction committed: a decision is durable
//! before it is answered, as with one transaction each. A caller that goes away does not undo its
//! commit.
//!
//! Each commit stands or falls alone. Verification commits go first, set-based, a few statements
//! for all of them ([`crate::set_based`]); a lost version check leaves out that commit alone. The
//! rest follow one at a time, each in a savepoint of its own so that a lost race (`Conflict`) or a
//! duplicate rolls back that commit alone. When the set-based part meets what it cannot leave out
//! one commit at a time (a verification already stored, a unique card key taken), the transaction
//! rolls back and the whole batch goes one commit at a time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use pooya_issuer::audit::{AuditHead, LANES};
use pooya_issuer::store::{Commit, StoreError};

use crate::sqlx_exec::apply_commit;
use crate::{decode, set_based, write_error, writer_stopped, Backend};

pub(crate) type Job = (Commit, oneshot::Sender<Result<(), StoreError>>);

/// Commits in one transaction at most: bounds the time one batch holds the writer.
pub(crate) const MAX_BATCH: usize = 256;

pub(crate) struct GroupCommit {
    /// One queue per writer task; a commit goes to the writer of its audit lane.
    jobs: Vec<mpsc::UnboundedSender<Job>>,
    stats: Arc<BatchStats>,
}

/// How the batches went: for tests and diagnostics.
#[derive(Default)]
struct BatchStats {
    fast_commits: AtomicU64,
    at_once_batches: AtomicU64,
    redone_batches: AtomicU64,
}

/// What [`crate::SqlStore::batch_counters`] tells.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounters {
    /// Commits answered from the set-based path (won or lost).
    pub fast_commits: u64,
    /// Batches whose verification commits were all written by one statement.
    pub at_once_batches: u64,
    /// Batches whose set-based part rolled back and that went one commit at a time instead.
    pub redone_batches: u64,
}

impl GroupCommit {
    /// Starts `writers` tasks (at least one) on the current runtime; they end when the store is
    /// dropped.
    ///
    /// Each writer owns the audit lanes `lane % writers == its index`: every commit goes to the
    /// queue of its lane's writer. A batch locks the head rows of the lanes it appends to until
    /// it commits; with the lanes shared, every batch touched most of them and the writers of
    /// one server waited on each other's locks (issue 17: 27.6 s of lock waits in an 8 s load).
    /// Owned, two batches of one server never share a lane, nor a card (a card's lane is its
    /// own). The lock stays for what a server cannot know alone: another server's batches.
    pub(crate) fn start(pool: AnyPool, backend: Backend, writers: u32) -> GroupCommit {
        let stats = Arc::new(BatchStats::default());
        let jobs = batch_tasks(writers, MAX_BATCH, {
            let stats = stats.clone();
            move |batch| {
                let (pool, stats) = (pool.clone(), stats.clone());
                async move { write_batch(&pool, backend, batch, &stats).await }
            }
        });
        GroupCommit { jobs, stats }
    }

    pub(crate) async fn commit(&self, c: Commit) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        // Lanes are 0..LANES, never negative.
        let writer = c.audit_lane().unsigned_abs() as usize % self.jobs.len();
        self.jobs[writer]
            .send((c, tx))
            .map_err(|_| writer_stopped())?;
        rx.await.map_err(|_| writer_stopped())?
    }

    /// Writes `commits` as one batch on this task, as a writer task would have: for tests.
    pub(crate) async fn write_now(
        &self,
        pool: &AnyPool,
        commits: Vec<Commit>,
    ) -> Vec<Result<(), StoreError>> {
        let (jobs, answers) = jobs_of(commits);
        write_batch(pool, Backend::Postgres, jobs, &self.stats).await;
        collect(answers).await
    }

    pub(crate) fn counters(&self) -> BatchCounters {
        BatchCounters {
            fast_commits: self.stats.fast_commits.load(Relaxed),
            at_once_batches: self.stats.at_once_batches.load(Relaxed),
            redone_batches: self.stats.redone_batches.load(Relaxed),
        }
    }
}

/// Starts `tasks` tasks (at least one) on the current runtime, each with a queue of its own: a
/// task takes every job waiting in its queue when it becomes free (up to `max`) and hands them
/// to `run` together. The tasks end when their queues' senders are dropped.
pub(crate) fn batch_tasks<J, F, Fut>(
    tasks: u32,
    max: usize,
    run: F,
) -> Vec<mpsc::UnboundedSender<J>>
where
    J: Send + 'static,
    F: Fn(Vec<J>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    (0..tasks.max(1))
        .map(|_| {
            let (tx, mut rx) = mpsc::unbounded_channel::<J>();
            let run = run.clone();
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(max);
                while rx.recv_many(&mut batch, max).await > 0 {
                    run(std::mem::take(&mut batch)).await;
                }
            });
            tx
        })
        .collect()
}

fn jobs_of(commits: Vec<Commit>) -> (Vec<Job>, Vec<oneshot::Receiver<Result<(), StoreError>>>) {
    commits
        .into_iter()
        .map(|c| {
            let (tx, rx) = oneshot::channel();
            ((c, tx), rx)
        })
        .unzip()
}

async fn collect(
    answers: Vec<oneshot::Receiver<Result<(), StoreError>>>,
) -> Vec<Result<(), StoreError>> {
    let mut out = Vec::with_capacity(answers.len());
    for rx in answers {
        out.push(rx.await.unwrap_or_else(|_| Err(writer_stopped())));
    }
    out
}

/// `commits` one at a time in savepoints of one transaction, on this task: SQLite through sqlx,
/// for tests.
pub(crate) async fn write_each_now(
    pool: &AnyPool,
    backend: Backend,
    commits: Vec<Commit>,
) -> Vec<Result<(), StoreError>> {
    let (jobs, answers) = jobs_of(commits);
    let outcome = write_batch_each(pool, backend, &jobs).await;
    answer_all(jobs, outcome);
    collect(answers).await
}

/// The same error for every commit of a batch whose transaction failed.
pub(crate) fn batch_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict => StoreError::Conflict,
        StoreError::Duplicate => StoreError::Duplicate,
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
    }
}

/// A writing transaction. SQLite's takes the write lock at once (`IMMEDIATE`): no statement of
/// it meets a busy database halfway.
async fn begin(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
    .map_err(write_error)
}

async fn write_batch(pool: &AnyPool, backend: Backend, mut batch: Vec<Job>, stats: &BatchStats) {
    // Each commit locks its audit lane's head row (PostgreSQL) until the batch commits. Batches
    // that take lanes in one order cannot deadlock on them across writers and servers.
    if backend == Backend::Postgres {
        batch.sort_by_cached_key(|(c, _)| c.audit_lane());
    }
    if batch.len() == 1 {
        // Alone: no savepoint needed.
        let (c, answer) = batch.into_iter().next().expect("one job");
        let result = async {
            let mut tx = begin(pool, backend).await?;
            lock_lanes_first(&mut tx, backend, std::iter::once(&c)).await?;
            apply_commit(&mut tx, backend, &c).await?;
            tx.commit().await.map_err(write_error)
        }
        .await;
        let _ = answer.send(result);
        return;
    }
    if backend == Backend::Postgres {
        match set_based::write_batch(pool, &batch).await {
            set_based::Outcome::NoneFast => {}
            set_based::Outcome::Done {
                results,
                fast,
                at_once,
            } => {
                stats.fast_commits.fetch_add(fast, Relaxed);
                stats.at_once_batches.fetch_add(u64::from(at_once), Relaxed);
                answer_all(batch, Ok(results));
                return;
            }
            set_based::Outcome::Failed(e) => {
                answer_all(batch, Err(e));
                return;
            }
            set_based::Outcome::Redo => {
                stats.redone_batches.fetch_add(1, Relaxed);
            }
        }
    }
    let outcome = write_batch_each(pool, backend, &batch).await;
    answer_all(batch, outcome);
}

/// Locks `n` audit lanes' head rows (1 ≤ n ≤ [`LANES`]) in ascending order and reads them: one
/// text per count, built once. Padded with NULLs to one text for all counts, PostgreSQL planned
/// the statement afresh at every call (a custom plan, judged cheaper for the NULLs): 47 µs of
/// planning for 19 µs of execution (issue 17).
fn lock_lanes_sql(n: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    &SQL.get_or_init(|| {
        (1..=LANES as usize)
            .map(|count| {
                format!(
                    "SELECT lane, seq, mac FROM audit_chains WHERE lane IN ({}) ORDER BY lane \
                     FOR UPDATE",
                    (1..=count)
                        .map(|k| format!("${k}::bigint"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect()
    })[n - 1]
}

/// The audit lanes' heads locked by [`lock_lanes_first`], by lane.
pub(crate) type LockedHeads = std::collections::BTreeMap<i64, AuditHead>;

/// PostgreSQL: locks the head rows of every audit lane the batch appends to, in ascending order,
/// before any card, and returns them as read. Every writing transaction takes lanes first and
/// cards after, so two servers' batches cannot hold a card and a lane each and wait for the
/// other's. SQLite (one writer at a time) locks nothing here and returns no heads.
pub(crate) async fn lock_lanes_first<'a>(
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
    let mut q = sqlx::query(sqlx::AssertSqlSafe(lock_lanes_sql(lanes.len())));
    for lane in &lanes {
        q = q.bind(*lane);
    }
    for row in q.fetch_all(&mut *tx).await.map_err(write_error)? {
        let head = decode::audit_head(&row)?;
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
    let mut tx = begin(pool, backend).await?;
    lock_lanes_first(&mut tx, backend, batch.iter().map(|(c, _)| c)).await?;
    for (c, _) in batch {
        results.push(apply_in_savepoint(&mut tx, backend, c).await?);
    }
    tx.commit().await.map_err(write_error)?;
    Ok(results)
}

/// Applies `c` in a savepoint of `tx`: the commit's own result inside, or the error of the
/// savepoint itself (the transaction is then unusable).
pub(crate) async fn apply_in_savepoint(
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
