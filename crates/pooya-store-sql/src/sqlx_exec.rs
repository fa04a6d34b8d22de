//! The [`Plan`] of a commit run through sqlx, statement by statement, inside a transaction or a
//! savepoint of one: PostgreSQL's commits one at a time (and the batch's commits that are not set
//! based), SQLite's outside the writer thread. The audit lane's head is read (on PostgreSQL
//! locked, `FOR UPDATE`) and moved within the commit.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use pooya_issuer::audit::AuditHead;
use pooya_issuer::store::{Commit, StoreError};

use crate::plan::{head_moved, AuditAppend, Plan, Step, Taken, Value};
use crate::{corrupt, decode, is_unique_violation, write_error, Backend};

pub(crate) type AnyQuery<'q> = Query<'q, Any, AnyArguments>;

impl Value<'_> {
    pub(crate) fn bind<'q>(&self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            Value::Int(v) => q.bind(*v),
            Value::Text(v) => q.bind(v.as_deref()),
            Value::Bytes(v) => q.bind(*v),
        }
    }
}

/// Runs `sql` with `values`: the rows it changed, a taken unique key as `taken` says.
async fn execute(
    tx: &mut AnyConnection,
    sql: &'static str,
    values: &[Value<'_>],
    taken: Taken,
) -> Result<u64, StoreError> {
    let mut q = sqlx::query(sql);
    for v in values {
        q = v.bind(q);
    }
    match q.execute(&mut *tx).await {
        Ok(done) => Ok(done.rows_affected()),
        Err(e) if is_unique_violation(&e) => Err(taken.error()),
        Err(e) => Err(write_error(e)),
    }
}

pub(crate) async fn run_step(tx: &mut AnyConnection, step: &Step<'_>) -> Result<(), StoreError> {
    let mut rows = execute(tx, step.sql, &step.values, step.taken).await?;
    if let (0, Some(otherwise)) = (rows, step.otherwise) {
        rows = execute(tx, otherwise, &step.values, step.taken).await?;
    }
    step.check(rows)
}

/// Writes one [`Commit`] on `tx` (a transaction or a savepoint of one): everything or an error.
pub(crate) async fn apply_commit(
    tx: &mut AnyConnection,
    backend: Backend,
    c: &Commit,
) -> Result<(), StoreError> {
    let plan = Plan::of(c, backend)?;
    for step in &plan.steps {
        run_step(tx, step).await?;
    }
    if let Some(audit) = &plan.audit {
        append_audit(tx, backend, audit).await?;
    }
    Ok(())
}

/// Appends the records to their lane inside `tx`. On PostgreSQL the lane's head row stays
/// locked until `tx` ends: this comes last in a commit so the lock is held briefly.
pub(crate) async fn append_audit(
    tx: &mut AnyConnection,
    backend: Backend,
    audit: &AuditAppend<'_>,
) -> Result<(), StoreError> {
    // SQLite has one writer at a time already; PostgreSQL locks the one head row.
    let sql = match backend {
        Backend::Postgres => "SELECT lane, seq, mac FROM audit_chains WHERE lane = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT lane, seq, mac FROM audit_chains WHERE lane = $1",
    };
    let row = sqlx::query(sql)
        .bind(audit.lane)
        .fetch_optional(&mut *tx)
        .await
        .map_err(write_error)?
        .ok_or_else(|| corrupt(format!("audit lane {} has no head row", audit.lane)))?;
    let head: AuditHead = decode::audit_head(&row)?;
    let (rows, new_head) = audit.rows(&head);
    for step in &rows {
        run_step(tx, step).await?;
    }
    run_step(tx, &head_moved(&head, &new_head)).await
}
