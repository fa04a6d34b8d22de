//! The bank's staff (migration 0010): operators and mobile change requests as read (their writes
//! are `Commit`s, `plan.rs`), console sessions (small writes of their own), and the console's
//! reads of a customer's timeline.

use sqlx::any::AnyRow;
use sqlx::Row;

use pooya_issuer::audit::StoredAudit;
use pooya_issuer::domain::{CustomerId, Mobile};
use pooya_issuer::store::{
    CustomerRecord, MobileChangeRecord, MobileChangeState, Operator, SessionRecord, StoreError,
    VerificationRecord,
};
use pooya_staff::{BranchCode, OperatorName, StaffRole};

use crate::statements::verification_columns;
use crate::{corrupt, decode, unavailable, SqlStore};

const OPERATOR_COLUMNS: &str = "name, role, branch, password_hash, totp_sealed, last_totp_step, \
     standing, failures, locked_until, created_at, version";
const CHANGE_COLUMNS: &str = "id, customer_id, mobile, requested_by, branch, requested_at, \
     state, decided_by, decided_at";

fn name(s: &str) -> Result<OperatorName, StoreError> {
    OperatorName::parse(s).map_err(corrupt)
}

fn branch(s: Option<String>) -> Result<Option<BranchCode>, StoreError> {
    s.map(|b| BranchCode::parse(&b).map_err(corrupt))
        .transpose()
}

fn operator(r: &AnyRow) -> Result<Operator, StoreError> {
    let role: String = r.try_get("role").map_err(corrupt)?;
    let standing: String = r.try_get("standing").map_err(corrupt)?;
    let step: Option<i64> = r.try_get("last_totp_step").map_err(corrupt)?;
    Ok(Operator {
        name: name(&r.try_get::<String, _>("name").map_err(corrupt)?)?,
        role: StaffRole::parse(&role).map_err(corrupt)?,
        branch: branch(r.try_get("branch").map_err(corrupt)?)?,
        password_hash: r.try_get("password_hash").map_err(corrupt)?,
        totp_sealed: r.try_get("totp_sealed").map_err(corrupt)?,
        last_totp_step: step
            .map(|s| u64::try_from(s).map_err(corrupt))
            .transpose()?,
        standing: Operator::standing_of(
            &standing,
            r.try_get("failures").map_err(corrupt)?,
            r.try_get("locked_until").map_err(corrupt)?,
        )
        .ok_or_else(|| corrupt(format!("operator standing {standing}")))?,
        created_at: r.try_get("created_at").map_err(corrupt)?,
        version: r.try_get("version").map_err(corrupt)?,
    })
}

fn change(r: &AnyRow) -> Result<MobileChangeRecord, StoreError> {
    let state: String = r.try_get("state").map_err(corrupt)?;
    let by: Option<String> = r.try_get("decided_by").map_err(corrupt)?;
    let at: Option<i64> = r.try_get("decided_at").map_err(corrupt)?;
    let state = match (state.as_str(), by, at) {
        ("pending", _, _) => MobileChangeState::Pending,
        ("approved", Some(by), Some(at)) => MobileChangeState::Approved { by: name(&by)?, at },
        ("refused", Some(by), Some(at)) => MobileChangeState::Refused { by: name(&by)?, at },
        _ => return Err(corrupt(format!("mobile change state {state}"))),
    };
    Ok(MobileChangeRecord {
        id: r.try_get("id").map_err(corrupt)?,
        customer_id: CustomerId::parse(&r.try_get::<String, _>("customer_id").map_err(corrupt)?)
            .map_err(corrupt)?,
        mobile: Mobile::parse(&r.try_get::<String, _>("mobile").map_err(corrupt)?)
            .map_err(corrupt)?,
        requested_by: name(&r.try_get::<String, _>("requested_by").map_err(corrupt)?)?,
        branch: branch(r.try_get("branch").map_err(corrupt)?)?,
        requested_at: r.try_get("requested_at").map_err(corrupt)?,
        state,
    })
}

fn session(r: &AnyRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id_hash: r.try_get("id_hash").map_err(corrupt)?,
        operator: name(&r.try_get::<String, _>("operator").map_err(corrupt)?)?,
        csrf: r.try_get("csrf").map_err(corrupt)?,
        created_at: r.try_get("created_at").map_err(corrupt)?,
        last_seen: r.try_get("last_seen").map_err(corrupt)?,
    })
}

impl SqlStore {
    pub(crate) async fn staff_operator(
        &self,
        n: &OperatorName,
    ) -> Result<Option<Operator>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE name = $1");
        // Safe: constant texts; the value is bound.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(n.as_str().to_owned())
            .fetch_optional(&self.read)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(operator).transpose()
    }

    pub(crate) async fn staff_operators(&self) -> Result<Vec<Operator>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.read)
            .await
            .map_err(unavailable)?;
        rows.iter().map(operator).collect()
    }

    pub(crate) async fn staff_mobile_change(
        &self,
        id: &str,
    ) -> Result<Option<MobileChangeRecord>, StoreError> {
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM mobile_changes WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(&self.read)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(change).transpose()
    }

    pub(crate) async fn staff_pending_changes(
        &self,
    ) -> Result<Vec<MobileChangeRecord>, StoreError> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM mobile_changes WHERE state = 'pending' \
             ORDER BY requested_at LIMIT 200"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.read)
            .await
            .map_err(unavailable)?;
        rows.iter().map(change).collect()
    }

    pub(crate) async fn staff_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, operator, csrf, created_at, last_seen FROM operator_sessions \
             WHERE id_hash = $1",
        )
        .bind(id_hash.to_owned())
        // The writer's pool: a session just made or ended is seen at once.
        .fetch_optional(&self.write)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(session).transpose()
    }

    pub(crate) async fn staff_insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operator_sessions (id_hash, operator, csrf, created_at, last_seen) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(s.id_hash.clone())
        .bind(s.operator.as_str().to_owned())
        .bind(s.csrf.clone())
        .bind(s.created_at)
        .bind(s.last_seen)
        .execute(&self.write)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn staff_touch_session(
        &self,
        id_hash: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE operator_sessions SET last_seen = $1 WHERE id_hash = $2")
            .bind(at)
            .bind(id_hash.to_owned())
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn staff_delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM operator_sessions WHERE id_hash = $1")
            .bind(id_hash.to_owned())
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn staff_delete_sessions(
        &self,
        op: Option<&OperatorName>,
        idle_before: i64,
        begun_before: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM operator_sessions WHERE operator = $1 OR last_seen < $2 \
             OR created_at < $3",
        )
        .bind(op.map(|o| o.as_str().to_owned()))
        .bind(idle_before)
        .bind(begun_before)
        .execute(&self.write)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn console_recent_verifications(
        &self,
        pan_hash: &str,
        limit: i64,
    ) -> Result<Vec<VerificationRecord>, StoreError> {
        // By the key's first column, sorted here: no index on (pan_hash, at), which cost every
        // verification a second index page (migration 13).
        let rows = sqlx::query(concat!(
            "SELECT v.txn_id, ",
            verification_columns!(),
            " FROM verifications v WHERE v.pan_hash = $1 ORDER BY v.at DESC LIMIT $2"
        ))
        .bind(pan_hash.to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let txn_id = r.try_get("txn_id").map_err(corrupt)?;
                decode::verification(r, pan_hash, txn_id)
            })
            .collect()
    }

    pub(crate) async fn console_customer_by_mobile(
        &self,
        mobile: &Mobile,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT customer_id, mobile, created_at, version FROM customers WHERE mobile = $1 \
             ORDER BY created_at LIMIT 1",
        )
        .bind(mobile.as_str().to_owned())
        .fetch_optional(&self.read)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(decode::customer).transpose()
    }

    pub(crate) async fn console_audit_of_customer(
        &self,
        id: &CustomerId,
        pan_masked: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredAudit>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, event, pan_masked, customer_id, detail, actor, lane, seq, mac \
             FROM audit WHERE customer_id = $1 \
             AND ($2 = '' OR pan_masked IS NULL OR pan_masked = $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(id.as_str().to_owned())
        .bind(pan_masked.unwrap_or_default().to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter().map(decode::stored_audit).collect()
    }
}
