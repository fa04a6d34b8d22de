//! pooya's store over SQL: the issuer's [`Store`](pooya_issuer::store::Store) for SQLite
//! (embedded, the default) and PostgreSQL (shared by many servers). It holds the migrations, the
//! statements, the decoding of rows, and the writers of [`Commit`]s. What a commit writes is
//! described once (`plan.rs`) and run by each backend's executor: rusqlite on SQLite's writer
//! thread (the hot path, without sqlx's hand-offs), sqlx on PostgreSQL (the commits of concurrent
//! callers grouped into one transaction, verifications set-based). The rest (reads, the outbox,
//! keys, migrations) goes through sqlx's pools on either backend.
//!
//! Statements use `$n` placeholders and only SQL both dialects accept; the schema differs only
//! where the dialects must (auto ids, byte types), and a statement that differs sits beside the
//! one it replaces. SQLite runs in WAL mode with `synchronous=FULL`: an approved code is on disk
//! before its answer leaves. Single use holds because every card change is a conditional update
//! on the version the decision read (`... WHERE pan_hash = $6 AND version = $7`): of two servers
//! deciding on the same card at once, one commits and the other reads again. The time a commit
//! stamps on its rows is its [`Commit::at`], from the issuer's clock.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use pooya_issuer::store::{Commit, StoreError};

mod at_rest;
mod decode;
mod direct;
mod enroll;
mod group;
mod group_read;
mod migrate;
mod plan;
mod set_based;
mod sqlx_exec;
mod staff;
mod statements;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
mod values;

pub use group::BatchCounters;
pub use group_read::ReadCounters;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct SqlStore {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    writer: Writer,
}

/// Who writes [`Commit`]s and serves the verifications' reads: on PostgreSQL sqlx tasks
/// batching commits and tasks grouping the reads; on SQLite a thread of its own that also serves
/// the reads ([`direct`]).
enum Writer {
    Group {
        commits: group::GroupCommit,
        reads: group_read::GroupRead,
    },
    Direct(direct::DirectSqlite),
}

#[derive(Clone, Debug)]
pub struct SqlOptions {
    /// Connections of the read pool (SQLite) or of the one pool (PostgreSQL). On PostgreSQL
    /// one in eight (at least one) carries the group commit's batches, as many the grouped
    /// verification reads.
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

/// PostgreSQL's batch writers, and as many grouped readers, for the pool's size.
fn tasks_per_pool(opts: &SqlOptions) -> u32 {
    (opts.pool_size / 8).max(1)
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

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn writer_stopped() -> StoreError {
    StoreError::Unavailable("the store's writer has stopped".into())
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
            pooya_issuer::fsutil::open_private(&direct::path_of_url(url)?, true).map_err(|e| {
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
        migrate::migrate(&write, backend).await?;
        let writer = match backend {
            // SQLite has one writer anyway: a thread of its own, without sqlx's hand-offs.
            Backend::Sqlite => {
                Writer::Direct(direct::DirectSqlite::start(direct::path_of_url(url)?)?)
            }
            // One batch writer and one grouped reader per eight connections: on two cores
            // one of each (pool 8) gave 10.6k verifications/s and 55 µs of PostgreSQL CPU each,
            // where four of each gave 9.1k/s and 105 µs (issue 17): fewer, larger batches, fewer
            // backends woken. A larger pool (more cores, a distant database) overlaps more.
            Backend::Postgres => Writer::Group {
                commits: group::GroupCommit::start(write.clone(), backend, tasks_per_pool(opts)),
                reads: group_read::GroupRead::start(read.clone(), tasks_per_pool(opts)),
            },
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

/// The writers of [`Commit`]s, for the store's tests: each writes what `plan.rs` describes, and a
/// test runs the same commits through each and compares the rows.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitExecutor {
    /// SQLite's writer thread (rusqlite), as the server writes: the commits sent together, the
    /// thread taking as many into one transaction as are waiting.
    SqliteWriter,
    /// sqlx on SQLite: one transaction, a savepoint per commit.
    SqliteSqlx,
    /// sqlx on PostgreSQL: each commit in a transaction of its own.
    PostgresEach,
    /// PostgreSQL's group commit of one batch: verifications set-based, the rest in savepoints.
    PostgresBatch,
}

impl SqlStore {
    /// Applies `commits` through `executor` and answers each, in the order given. An executor of
    /// the other backend answers `Unavailable` for each.
    #[doc(hidden)]
    pub async fn commit_through(
        &self,
        executor: CommitExecutor,
        commits: Vec<Commit>,
    ) -> Vec<Result<(), StoreError>> {
        let wrong = || {
            commits
                .iter()
                .map(|_| {
                    Err(StoreError::Unavailable(format!(
                        "{executor:?} does not write to {:?}",
                        self.backend
                    )))
                })
                .collect()
        };
        match (executor, &self.writer) {
            (CommitExecutor::SqliteWriter, Writer::Direct(d)) => d.commit_all(commits).await,
            (CommitExecutor::SqliteSqlx, Writer::Direct(_)) => {
                group::write_each_now(&self.write, self.backend, commits).await
            }
            (CommitExecutor::PostgresEach, Writer::Group { commits: g, .. }) => {
                let mut out = Vec::with_capacity(commits.len());
                for c in commits {
                    out.push(g.write_now(&self.write, vec![c]).await.remove(0));
                }
                out
            }
            (CommitExecutor::PostgresBatch, Writer::Group { commits: g, .. }) => {
                g.write_now(&self.write, commits).await
            }
            _ => wrong(),
        }
    }

    /// Applies `commits` as one batch of the group commit, as if they had arrived together
    /// (PostgreSQL; on SQLite through the writer thread), and answers each, in the order given:
    /// for tests of the batch paths.
    #[doc(hidden)]
    pub async fn commit_together(&self, commits: Vec<Commit>) -> Vec<Result<(), StoreError>> {
        let executor = match self.backend {
            Backend::Sqlite => CommitExecutor::SqliteWriter,
            Backend::Postgres => CommitExecutor::PostgresBatch,
        };
        self.commit_through(executor, commits).await
    }

    /// How the group commit's batches went so far (zeros on SQLite).
    #[doc(hidden)]
    pub fn batch_counters(&self) -> BatchCounters {
        match &self.writer {
            Writer::Group { commits: g, .. } => g.counters(),
            Writer::Direct(_) => BatchCounters::default(),
        }
    }

    /// How PostgreSQL's grouped verification reads went so far (zeros on SQLite).
    #[doc(hidden)]
    pub fn read_counters(&self) -> ReadCounters {
        match &self.writer {
            Writer::Group { reads, .. } => reads.counters(),
            Writer::Direct(_) => ReadCounters::default(),
        }
    }

    async fn write_commit(&self, c: Commit) -> Result<(), StoreError> {
        match &self.writer {
            Writer::Group { commits: g, .. } => g.commit(c).await,
            Writer::Direct(d) => d.commit(c).await,
        }
    }
}
