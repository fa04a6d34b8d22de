//! SQLite's hot path without hand-offs: the verification read and every [`Commit`] run on
//! rusqlite connections, synchronously.
//!
//! Why: sqlx runs each SQLite connection on a worker thread of its own and hands every statement
//! to it and back; a verification took about eight such hand-offs, and the profile of the server
//! under load (`docs/bench/profile-sqlite-64conn.txt`) put 61 % of its time in the kernel's task
//! switching. Here:
//!
//! - **Reads** (`card_for_verification`, `ping`) take a connection from a small pool and run on
//!   the calling thread: one indexed read of a page SQLite or the OS keeps in memory, a few
//!   microseconds, no await while a connection is out. WAL mode lets them read beside the writer.
//! - **Commits** go to one writer thread over a channel. It takes every commit waiting (up to
//!   [`MAX_BATCH`]) into one `BEGIN IMMEDIATE` transaction, each in a savepoint of its own, and
//!   answers each caller only after `COMMIT` returned: with `synchronous = FULL` the WAL is on
//!   disk before any approval leaves. One thread hand-off and one fsync per batch, not per
//!   statement. Each commit writes its [`Plan`], statements prepared once per connection.
//!
//! ```text
//!   request ──read (pool, same thread)──▶ decide ──Commit──▶ channel ──▶ writer thread
//!                                                                        BEGIN IMMEDIATE
//!                                                                        SAVEPOINT / apply / RELEASE  × n
//!   answer ◀──────────── oneshot (after COMMIT, WAL synced) ◀─────────── COMMIT
//! ```
//!
//! Everything else (migrations, the outbox, keys, administration) stays on sqlx: SQLite's own
//! locks and `busy_timeout` order its writes with the writer thread's.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, Statement};
use tokio::sync::oneshot;

use pooya_issuer::audit::AuditHead;
use pooya_issuer::card::CardRecord;
use pooya_issuer::store::{Commit, StoreError, VerificationRecord};

use crate::decode::CardColumns;
use crate::group::{batch_error, MAX_BATCH};
use crate::plan::{head_moved, Plan, Step, Taken, Value};
use crate::statements::CARD_FOR_VERIFICATION;
use crate::{corrupt, writer_stopped, Backend};

/// Read connections kept for reuse; more are opened when more threads read at once, and the
/// ones over this are closed when given back.
const KEEP_READERS: usize = 16;

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::ConstraintViolation
                && matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                )
    )
}

/// The file of a `sqlite://PATH[?options]` URL. An in-memory database is refused: its readers
/// and writer would each see a database of their own.
pub(crate) fn path_of_url(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Unavailable(format!("not a SQLite URL: {url}")))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Unavailable(
            "an in-memory SQLite database is not supported: give a file".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(unavailable)?;
    // The same settings as the sqlx connections (see `SqlStore::connect`).
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(unavailable)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(unavailable)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(Some(v)) => ValueRef::Integer(*v),
            Value::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Value::Bytes(Some(v)) => ValueRef::Blob(v),
            Value::Int(None) | Value::Text(None) | Value::Bytes(None) => ValueRef::Null,
        }))
    }
}

/// Binds `values` to the statement's `$1`, `$2`, …, by name: SQLite numbers `$n` parameters in
/// the order they first appear, which is not always `n` (sqlx binds them by name too).
fn bind(stmt: &mut Statement<'_>, values: &[Value<'_>]) -> rusqlite::Result<()> {
    const NAMES: [&str; 16] = [
        "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14",
        "$15", "$16",
    ];
    if values.len() != stmt.parameter_count() || values.len() > NAMES.len() {
        return Err(rusqlite::Error::InvalidParameterCount(
            values.len(),
            stmt.parameter_count(),
        ));
    }
    for (v, name) in values.iter().zip(NAMES) {
        let index = stmt
            .parameter_index(name)?
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?;
        stmt.raw_bind_parameter(index, v)?;
    }
    Ok(())
}

type Job = (Commit, oneshot::Sender<Result<(), StoreError>>);

pub(crate) struct DirectSqlite {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    jobs: std_mpsc::Sender<Job>,
}

impl DirectSqlite {
    /// Opens the writer thread on `path` (migrated already). The thread ends when this is
    /// dropped and the commits queued before are written.
    pub(crate) fn start(path: PathBuf) -> Result<DirectSqlite, StoreError> {
        let writer = open(&path)?;
        // The checkpointer copies the WAL back into the database beside the writer; the writer
        // checkpoints by itself only if the WAL outgrows this many pages (SQLite's own default
        // is 1 000, on the writer's path).
        writer
            .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .map_err(unavailable)?;
        let checkpointer = open(&path)?;
        let (due, checkpoints) = std_mpsc::sync_channel::<()>(1);
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map(|_| ())
                .map_err(|e| StoreError::Unavailable(format!("cannot start the {name}: {e}")))
        };
        spawn(
            "pooya-sqlite-checkpointer",
            Box::new(move || checkpoint_loop(checkpointer, checkpoints)),
        )?;
        let (jobs, rx) = std_mpsc::channel::<Job>();
        spawn(
            "pooya-sqlite-writer",
            Box::new(move || write_loop(writer, rx, due)),
        )?;
        Ok(DirectSqlite {
            path,
            readers: Mutex::new(Vec::new()),
            jobs,
        })
    }

    /// Runs `f` on a read connection of the pool, on this thread.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match taken {
            Some(c) => c,
            None => open(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < KEEP_READERS {
            pool.push(conn);
        }
        result
    }

    pub(crate) fn card_for_verification(
        &self,
        pan_hash: &str,
        txn_id: &str,
    ) -> Result<(Option<CardRecord>, Option<VerificationRecord>), StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(CARD_FOR_VERIFICATION)
                .map_err(unavailable)?;
            bind(
                &mut stmt,
                &[
                    Value::Text(Some(pan_hash.into())),
                    Value::Text(Some(txn_id.into())),
                ],
            )
            .map_err(unavailable)?;
            let row = stmt
                .raw_query()
                .next()
                .and_then(|row| {
                    row.map(|r| {
                        let card = CardColumns {
                            pan_hash: r.get(0)?,
                            customer_id: r.get(1)?,
                            pan_masked: r.get(2)?,
                            last4: r.get(3)?,
                            tail_macs: r.get(4)?,
                            expiry: r.get(5)?,
                            pin_hash: r.get(6)?,
                            second_hash: r.get(7)?,
                            second_blocked: r.get(8)?,
                            svc: r.get(9)?,
                            created_at: r.get(10)?,
                            version: r.get(11)?,
                        };
                        let fingerprint: Option<Vec<u8>> = r.get(12)?;
                        let v = match fingerprint {
                            None => None,
                            Some(fingerprint) => Some(VerificationRecord {
                                pan_hash: pan_hash.to_owned(),
                                txn_id: txn_id.to_owned(),
                                fingerprint,
                                response_code: r.get(13)?,
                                reason: r.get(14)?,
                                at: r.get(15)?,
                                merchant: r.get(16)?,
                            }),
                        };
                        Ok((card, v))
                    })
                    .transpose()
                })
                .map_err(|e| match e {
                    e @ rusqlite::Error::FromSqlConversionFailure(..)
                    | e @ rusqlite::Error::InvalidColumnType(..) => corrupt(e),
                    e => unavailable(e),
                })?;
            match row {
                None => Ok((None, None)),
                Some((card, v)) => Ok((Some(card.decode()?), v)),
            }
        })
    }

    pub(crate) fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT 1")
                .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                .map(|_| ())
                .map_err(unavailable)
        })
    }

    pub(crate) async fn commit(&self, c: Commit) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send((c, tx)).map_err(|_| writer_stopped())?;
        rx.await.map_err(|_| writer_stopped())?
    }

    /// Sends every commit before awaiting any, so the writer takes as many into one batch as
    /// reached it together: for tests.
    pub(crate) async fn commit_all(&self, commits: Vec<Commit>) -> Vec<Result<(), StoreError>> {
        let mut answers = Vec::with_capacity(commits.len());
        for c in commits {
            let (tx, rx) = oneshot::channel();
            answers.push(self.jobs.send((c, tx)).map(|()| rx));
        }
        let mut out = Vec::with_capacity(answers.len());
        for a in answers {
            out.push(match a {
                Ok(rx) => rx.await.unwrap_or_else(|_| Err(writer_stopped())),
                Err(_) => Err(writer_stopped()),
            });
        }
        out
    }
}

/// The writer thread: a batch of every commit waiting, one transaction, answers after COMMIT.
fn write_loop(conn: Connection, rx: std_mpsc::Receiver<Job>, checkpoint: std_mpsc::SyncSender<()>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = write_batch(&conn, &batch);
        for ((_, answer), r) in batch.drain(..).zip(results) {
            // A caller that went away does not undo its commit.
            let _ = answer.send(r);
        }
        // The checkpointer runs whenever it is free: full, a checkpoint is asked for already.
        // Every 64 batches (as before issue 17's third round), the WAL grew to the writer's own
        // threshold between two checkpoints and the writer stopped to checkpoint itself: p99
        // 22 ms against 8 ms now, for 10 % of the throughput.
        let _ = checkpoint.try_send(());
    }
}

/// The writer's own checkpoint, only when the checkpointer falls behind (about 40 MB of WAL).
const WRITER_CHECKPOINT_PAGES: i64 = 10_000;

/// Copies the WAL back into the database when the writer asks, without blocking it (PASSIVE:
/// what readers still use stays); ends with the writer.
fn checkpoint_loop(conn: Connection, due: std_mpsc::Receiver<()>) {
    while due.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            // The writer's own checkpoint takes over; nothing is lost.
            tracing::warn!(error = %e, "SQLite checkpoint failed");
        }
    }
}

/// Runs a statement without parameters or rows (transaction control), prepared once.
fn run(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.raw_execute())
        .map(|_| ())
        .map_err(unavailable)
}

/// Writes `batch` in one transaction; one result per commit, all errors when the transaction
/// itself failed (then nothing of the batch is written).
fn write_batch(conn: &Connection, batch: &[Job]) -> Vec<Result<(), StoreError>> {
    let mut results = Vec::with_capacity(batch.len());
    let outcome = (|| {
        // IMMEDIATE: the write lock now, so no statement of the batch meets a busy database
        // halfway (another process's writer waits, or makes this wait, at the start).
        run(conn, "BEGIN IMMEDIATE")?;
        let mut heads = AuditHeads::default();
        if let [(c, _)] = batch {
            // Alone: no savepoint needed; its error rolls the transaction back.
            apply_commit(conn, c, &mut heads)?;
            results.push(Ok(()));
        } else {
            for (c, _) in batch {
                run(conn, "SAVEPOINT pooya_commit")?;
                match apply_commit(conn, c, &mut heads) {
                    Ok(()) => results.push(Ok(())),
                    Err(e) => {
                        run(conn, "ROLLBACK TO pooya_commit")?;
                        results.push(Err(e));
                    }
                }
                run(conn, "RELEASE pooya_commit")?;
            }
        }
        heads.write(conn)?;
        run(conn, "COMMIT")
    })();
    match outcome {
        Ok(()) => results,
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = run(conn, "ROLLBACK");
            }
            batch.iter().map(|_| Err(batch_error(&e))).collect()
        }
    }
}

/// Runs `sql` with `values`: the rows it changed, a taken unique key as `taken` says.
fn exec(
    conn: &Connection,
    sql: &str,
    values: &[Value<'_>],
    taken: Taken,
) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    bind(&mut stmt, values).map_err(unavailable)?;
    stmt.raw_execute().map_err(|e| {
        if is_unique_violation(&e) {
            taken.error()
        } else {
            unavailable(e)
        }
    })
}

fn run_step(conn: &Connection, step: &Step<'_>) -> Result<(), StoreError> {
    let mut rows = exec(conn, step.sql, &step.values, step.taken)?;
    if let (0, Some(otherwise)) = (rows, step.otherwise) {
        rows = exec(conn, otherwise, &step.values, step.taken)?;
    }
    step.check(rows as u64)
}

/// Writes one [`Commit`] on `conn` (inside a transaction or a savepoint): everything or an error.
fn apply_commit(conn: &Connection, c: &Commit, heads: &mut AuditHeads) -> Result<(), StoreError> {
    let plan = Plan::of(c, Backend::Sqlite)?;
    for step in &plan.steps {
        run_step(conn, step)?;
    }
    if let Some(audit) = &plan.audit {
        // Last in the commit: the lane's head moves (in memory, written by
        // [`AuditHeads::write`]) only when every record is in.
        let head = heads.get(conn, audit.lane)?;
        let (rows, new_head) = audit.rows(head);
        for step in &rows {
            run_step(conn, step)?;
        }
        *head = new_head;
    }
    Ok(())
}

/// The audit lanes' heads as a batch moves them: each lane's head row is read once per batch,
/// when first needed, and written once, before COMMIT. The writer thread holds SQLite's write
/// lock for the whole batch (`BEGIN IMMEDIATE`), so no one else moves a head meanwhile.
#[derive(Default)]
struct AuditHeads {
    /// (head as read, head now) per lane touched.
    lanes: Vec<(AuditHead, AuditHead)>,
}

impl AuditHeads {
    fn get(&mut self, conn: &Connection, lane: i64) -> Result<&mut AuditHead, StoreError> {
        let i = match self.lanes.iter().position(|(read, _)| read.lane == lane) {
            Some(i) => i,
            None => {
                let head = conn
                    .prepare_cached("SELECT seq, mac FROM audit_chains WHERE lane = $1")
                    .and_then(|mut s| {
                        bind(&mut s, &[Value::Int(Some(lane))])?;
                        let mut rows = s.raw_query();
                        rows.next()?
                            .map(|r| {
                                Ok(AuditHead {
                                    lane,
                                    seq: r.get(0)?,
                                    mac: r.get(1)?,
                                })
                            })
                            .transpose()
                    })
                    .map_err(unavailable)?
                    .ok_or_else(|| corrupt(format!("audit lane {lane} has no head row")))?;
                self.lanes.push((head.clone(), head));
                self.lanes.len() - 1
            }
        };
        Ok(&mut self.lanes[i].1)
    }

    /// Writes the heads that moved, each guarded by the head it was read at.
    fn write(&self, conn: &Connection) -> Result<(), StoreError> {
        for (read, now) in &self.lanes {
            if now.seq != read.seq {
                run_step(conn, &head_moved(read, now))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_of_a_sqlite_url() {
        let p = |u: &str| path_of_url(u).map(|p| p.display().to_string());
        assert_eq!(
            p("sqlite:///data/pooya.db?mode=rwc").unwrap(),
            "/data/pooya.db"
        );
        assert_eq!(p("sqlite://rel/pooya.db").unwrap(), "rel/pooya.db");
        assert_eq!(p("sqlite:pooya.db").unwrap(), "pooya.db");
        for bad in [
            "sqlite::memory:",
            "sqlite://",
            "sqlite://x.db?mode=memory",
            "postgres://h/db",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parameters_are_bound_by_their_number_not_their_place() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("SELECT $2 || '-' || $1").unwrap();
        let text = |s: &'static str| Value::Text(Some(s.into()));
        bind(&mut stmt, &[text("one"), text("two")]).unwrap();
        let got: String = stmt.raw_query().next().unwrap().unwrap().get(0).unwrap();
        assert_eq!(got, "two-one");
        assert!(bind(&mut stmt, &[text("one")]).is_err(), "too few values");
    }
}
