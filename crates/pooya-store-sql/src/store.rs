//! The [`Store`] over SQL: reads through sqlx's pools (the verification's read through SQLite's
//! direct connections), commits handed to the writer, and the small writes of their own (outbox,
//! keys, enrollment tries).

use async_trait::async_trait;
use sqlx::Row;

use pooya_issuer::audit::{AuditHead, StoredAudit};
use pooya_issuer::card::CardRecord;
use pooya_issuer::domain::{CustomerId, Mobile, Role};
use pooya_issuer::keys::Keyring;
use pooya_issuer::store::*;
use pooya_staff::OperatorName;

use crate::statements::{verification_columns, CARD_COLUMNS, REFUSE_SMS};
use crate::{
    at_rest, corrupt, decode, enroll, is_unique_violation, unavailable, write_error, Backend,
    SqlStore, Writer,
};

impl SqlStore {
    async fn cards_where(&self, clause: &str, arg: &str) -> Result<Vec<CardRecord>, StoreError> {
        let sql = format!("SELECT {CARD_COLUMNS} FROM cards c {clause}");
        // Safe: `clause` is one of this file's constant texts; the value is bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(arg.to_owned())
            .fetch_all(&self.read)
            .await
            .map_err(unavailable)?;
        rows.iter().map(decode::card).collect()
    }

    /// Unsent messages, oldest first, whose next attempt is due at `now` (leased or not): what
    /// the outbox holds, for tests.
    #[doc(hidden)]
    pub async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<QueuedSms>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, to_mobile, body, msg_id, created_at, expires_at, attempts FROM sms_outbox \
             WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter().map(decode::queued).collect()
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn customer(&self, id: &CustomerId) -> Result<Option<CustomerRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT customer_id, mobile, created_at, version FROM customers WHERE customer_id = $1",
        )
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(decode::customer).transpose()
    }

    async fn card(&self, pan_hash: &str) -> Result<Option<CardRecord>, StoreError> {
        Ok(self
            .cards_where("WHERE c.pan_hash = $1", pan_hash)
            .await?
            .pop())
    }

    async fn cards_of_customer(&self, id: &CustomerId) -> Result<Vec<CardRecord>, StoreError> {
        self.cards_where(
            "WHERE c.customer_id = $1 ORDER BY c.created_at",
            id.as_str(),
        )
        .await
    }

    async fn cards_by_mobile(&self, mobile: &Mobile) -> Result<Vec<CardRecord>, StoreError> {
        self.cards_where(
            "JOIN customers u ON u.customer_id = c.customer_id WHERE u.mobile = $1 \
             ORDER BY c.created_at",
            mobile.as_str(),
        )
        .await
    }

    async fn enrollment_run(&self, id: &str) -> Result<Option<EnrollmentRunRecord>, StoreError> {
        enroll::run(&self.read, id).await
    }

    async fn take_enrollment_try(
        &self,
        key: &str,
        max: u32,
        window_end: i64,
        now: i64,
    ) -> Result<TryTaken, StoreError> {
        enroll::take_try(&self.write, key, max, window_end, now).await
    }

    async fn enrollment_tries(&self, key: &str, now: i64) -> Result<u32, StoreError> {
        enroll::tries(&self.read, key, now).await
    }

    async fn card_by_token(&self, token_id: &str) -> Result<Option<CardRecord>, StoreError> {
        Ok(self
            .cards_where("WHERE c.token_id = $1", token_id)
            .await?
            .pop())
    }

    async fn verification(
        &self,
        pan_hash: &str,
        txn_id: &str,
    ) -> Result<Option<VerificationRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            verification_columns!(),
            " FROM verifications v WHERE v.pan_hash = $1 AND v.txn_id = $2"
        ))
        .bind(pan_hash.to_owned())
        .bind(txn_id.to_owned())
        .fetch_optional(&self.read)
        .await
        .map_err(unavailable)?;
        row.map(|r| decode::verification(&r, pan_hash, txn_id.to_owned()))
            .transpose()
    }

    async fn card_for_verification(
        &self,
        pan_hash: &str,
        txn_id: &str,
    ) -> Result<(Option<CardRecord>, Option<VerificationRecord>), StoreError> {
        match &self.writer {
            Writer::Direct(d) => d.card_for_verification(pan_hash, txn_id),
            Writer::Group { reads, .. } => reads.card_for_verification(pan_hash, txn_id).await,
        }
    }

    async fn commit(&self, c: Commit) -> Result<(), StoreError> {
        self.write_commit(c).await
    }

    async fn recent_verifications(
        &self,
        pan_hash: &str,
        limit: i64,
    ) -> Result<Vec<VerificationRecord>, StoreError> {
        self.console_recent_verifications(pan_hash, limit).await
    }
    async fn customer_by_mobile(
        &self,
        mobile: &Mobile,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        self.console_customer_by_mobile(mobile).await
    }
    async fn audit_of_customer(
        &self,
        id: &CustomerId,
        pan_masked: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredAudit>, StoreError> {
        self.console_audit_of_customer(id, pan_masked, limit).await
    }
    async fn operator(&self, name: &OperatorName) -> Result<Option<Operator>, StoreError> {
        self.staff_operator(name).await
    }
    async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        self.staff_operators().await
    }
    async fn mobile_change(&self, id: &str) -> Result<Option<MobileChangeRecord>, StoreError> {
        self.staff_mobile_change(id).await
    }
    async fn pending_mobile_changes(&self) -> Result<Vec<MobileChangeRecord>, StoreError> {
        self.staff_pending_changes().await
    }
    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.staff_session(id_hash).await
    }
    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.staff_insert_session(s).await
    }
    async fn touch_session(&self, id_hash: &str, at: i64) -> Result<(), StoreError> {
        self.staff_touch_session(id_hash, at).await
    }
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.staff_delete_session(id_hash).await
    }
    async fn delete_sessions(
        &self,
        operator: Option<&OperatorName>,
        idle_before: i64,
        begun_before: i64,
    ) -> Result<(), StoreError> {
        self.staff_delete_sessions(operator, idle_before, begun_before)
            .await
    }

    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT key_hash, role, label, created_at FROM api_keys WHERE key_hash = $1 \
             AND revoked_at IS NULL",
        )
        .bind(key_hash.to_owned())
        .fetch_optional(&self.read)
        .await
        .map_err(unavailable)?;
        row.map(|r| {
            let role: String = r.try_get("role").map_err(corrupt)?;
            Ok(ApiKeyRecord {
                key_hash: r.try_get("key_hash").map_err(corrupt)?,
                role: Role::parse(&role).ok_or_else(|| corrupt(format!("role {role}")))?,
                label: r.try_get("label").map_err(corrupt)?,
                created_at: r.try_get("created_at").map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn insert_api_keys(&self, keys: &[ApiKeyRecord]) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await.map_err(unavailable)?;
        for k in keys {
            sqlx::query(
                "INSERT INTO api_keys (key_hash, role, label, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(k.key_hash.clone())
            .bind(k.role.as_str().to_owned())
            .bind(k.label.clone())
            .bind(k.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate
                } else {
                    unavailable(e)
                }
            })?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn api_keys(&self) -> Result<Vec<(ApiKeyRecord, Option<i64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_hash, role, label, created_at, revoked_at FROM api_keys \
             ORDER BY created_at, key_hash",
        )
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role").map_err(corrupt)?;
                Ok((
                    ApiKeyRecord {
                        key_hash: r.try_get("key_hash").map_err(corrupt)?,
                        role: Role::parse(&role).ok_or_else(|| corrupt(format!("role {role}")))?,
                        label: r.try_get("label").map_err(corrupt)?,
                        created_at: r.try_get("created_at").map_err(corrupt)?,
                    },
                    r.try_get("revoked_at").map_err(corrupt)?,
                ))
            })
            .collect()
    }

    async fn revoke_api_key(&self, key_hash: &str, at: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE key_hash = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(key_hash.to_owned())
        .execute(&self.write)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn count_api_keys(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.read)
            .await
            .map_err(unavailable)
    }

    async fn outbox_claim(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<QueuedSms>, StoreError> {
        // Several servers' workers share one outbox: each due message is leased to one worker at
        // a time. PostgreSQL skips rows another worker is claiming; SQLite has one writer anyway.
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE sms_outbox SET claimed_until = $1 WHERE id IN (\
               SELECT id FROM sms_outbox \
               WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $2 \
                 AND (claimed_until IS NULL OR claimed_until <= $2) \
               ORDER BY id LIMIT $3 {lock}) \
             RETURNING id, to_mobile, body, msg_id, created_at, expires_at, attempts"
        );
        // Safe: `lock` is one of two constant texts; the values are bound.
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.write)
            .await
            .map_err(unavailable)?;
        rows.sort_by_key(|r| r.try_get::<i64, _>("id").unwrap_or(0));
        rows.iter().map(decode::queued).collect()
    }

    async fn outbox_sent(&self, id: i64, at: i64) -> Result<(), StoreError> {
        // The body carries a code: once sent it is no longer kept.
        sqlx::query("UPDATE sms_outbox SET sent_at = $1, body = '' WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sms_outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = $2, claimed_until = NULL WHERE id = $3",
        )
        .bind(error.to_owned())
        .bind(next_attempt_at)
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_give_up(&self, id: i64, why: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sms_outbox SET gave_up_at = $1, last_error = $2, body = '' WHERE id = $3",
        )
        .bind(at)
        .bind(why.to_owned())
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_refuse(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query(REFUSE_SMS)
            .bind(at)
            .bind(at)
            .bind(pooya_issuer::at_rest::SMS_REFUSED)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_status(&self) -> Result<OutboxStatus, StoreError> {
        // Plain aggregates both dialects share; CASTs keep PostgreSQL's SUM of BIGINT (NUMERIC)
        // an integer.
        let row = sqlx::query(
            "SELECT \
               CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL \
                 THEN 1 ELSE 0 END), 0) AS BIGINT) AS queued, \
               MIN(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL THEN created_at END) \
                 AS oldest_queued_at, \
               CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL \
                 AND attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS retrying, \
               CAST(COALESCE(SUM(attempts), 0) AS BIGINT) AS failed_attempts, \
               CAST(COALESCE(SUM(CASE WHEN gave_up_at IS NOT NULL AND refused_at IS NULL \
                 THEN 1 ELSE 0 END), 0) AS BIGINT) AS given_up, \
               CAST(COALESCE(SUM(CASE WHEN refused_at IS NOT NULL THEN 1 ELSE 0 END), 0) \
                 AS BIGINT) AS refused, \
               CAST(COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) \
                 AS BIGINT) AS sent \
             FROM sms_outbox",
        )
        .fetch_one(&self.read)
        .await
        .map_err(unavailable)?;
        Ok(OutboxStatus {
            queued: row.try_get("queued").map_err(corrupt)?,
            oldest_queued_at: row.try_get("oldest_queued_at").map_err(corrupt)?,
            retrying: row.try_get("retrying").map_err(corrupt)?,
            failed_attempts: row.try_get("failed_attempts").map_err(corrupt)?,
            given_up: row.try_get("given_up").map_err(corrupt)?,
            refused: row.try_get("refused").map_err(corrupt)?,
            sent: row.try_get("sent").map_err(corrupt)?,
        })
    }

    async fn outbox_unsent(&self, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, to_mobile, created_at, expires_at, attempts, next_attempt_at, last_error, \
             gave_up_at FROM sms_outbox WHERE sent_at IS NULL AND refused_at IS NULL \
             ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let gave_up: Option<i64> = r.try_get("gave_up_at").map_err(corrupt)?;
                Ok(OutboxEntry {
                    id: r.try_get("id").map_err(corrupt)?,
                    to: Mobile::parse(&r.try_get::<String, _>("to_mobile").map_err(corrupt)?)
                        .map_err(corrupt)?,
                    created_at: r.try_get("created_at").map_err(corrupt)?,
                    expires_at: r.try_get("expires_at").map_err(corrupt)?,
                    attempts: r.try_get("attempts").map_err(corrupt)?,
                    next_attempt_at: r.try_get("next_attempt_at").map_err(corrupt)?,
                    last_error: r.try_get("last_error").map_err(corrupt)?,
                    given_up: gave_up.is_some(),
                })
            })
            .collect()
    }

    async fn outbox_retry_now(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE sms_outbox SET next_attempt_at = $1, claimed_until = NULL \
             WHERE id = $2 AND sent_at IS NULL AND gave_up_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&self.write)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn audit_page(&self, after_id: i64, limit: i64) -> Result<Vec<StoredAudit>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, event, pan_masked, customer_id, detail, actor, lane, seq, mac FROM audit \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(unavailable)?;
        rows.iter().map(decode::stored_audit).collect()
    }

    async fn audit_heads(&self) -> Result<Vec<AuditHead>, StoreError> {
        let rows = sqlx::query("SELECT lane, seq, mac FROM audit_chains ORDER BY lane")
            .fetch_all(&self.read)
            .await
            .map_err(unavailable)?;
        rows.iter().map(decode::audit_head).collect()
    }

    async fn master_key_check(&self, value: &str) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO master_key_check (id, check_value) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(value.to_owned())
        .execute(&self.write)
        .await
        .map_err(unavailable)?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        let stored: String =
            sqlx::query_scalar("SELECT check_value FROM master_key_check WHERE id = 1")
                .fetch_one(&self.write)
                .await
                .map_err(unavailable)?;
        Ok(pooya_otp::ct_eq(stored.as_bytes(), value.as_bytes()))
    }

    async fn master_check_value(&self) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT check_value FROM master_key_check WHERE id = 1")
            .fetch_optional(&self.write)
            .await
            .map_err(unavailable)
    }

    async fn data_keys(&self) -> Result<Vec<WrappedDataKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT generation, kek_id, wrapped, created_at, wrapped_at FROM data_keys \
             ORDER BY generation",
        )
        .fetch_all(&self.write)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let hex: String = r.try_get("wrapped").map_err(corrupt)?;
                Ok(WrappedDataKey {
                    generation: r.try_get("generation").map_err(corrupt)?,
                    kek_id: r.try_get("kek_id").map_err(corrupt)?,
                    wrapped: data_encoding::HEXLOWER
                        .decode(hex.as_bytes())
                        .map_err(corrupt)?,
                    created_at: r.try_get("created_at").map_err(corrupt)?,
                    wrapped_at: r.try_get("wrapped_at").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn add_data_key(&self, k: &WrappedDataKey) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO data_keys (generation, kek_id, wrapped, created_at, wrapped_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (generation) DO NOTHING",
        )
        .bind(k.generation)
        .bind(k.kek_id.clone())
        .bind(data_encoding::HEXLOWER.encode(&k.wrapped))
        .bind(k.created_at)
        .bind(k.wrapped_at)
        .execute(&self.write)
        .await
        .map_err(write_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn rewrap_data_keys(
        &self,
        from_kek_id: &str,
        keys: &[WrappedDataKey],
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await.map_err(unavailable)?;
        for k in keys {
            let done = sqlx::query(
                "UPDATE data_keys SET kek_id = $1, wrapped = $2, wrapped_at = $3 \
                 WHERE generation = $4 AND kek_id = $5",
            )
            .bind(k.kek_id.clone())
            .bind(data_encoding::HEXLOWER.encode(&k.wrapped))
            .bind(k.wrapped_at)
            .bind(k.generation)
            .bind(from_kek_id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
        }
        tx.commit().await.map_err(write_error)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if let Writer::Direct(d) = &self.writer {
            return d.ping();
        }
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn upgrade_at_rest(
        &self,
        keys: &Keyring,
        now: i64,
    ) -> Result<pooya_issuer::at_rest::AtRestUpgrade, StoreError> {
        at_rest::upgrade(&self.write, self.backend, keys, now).await
    }
}
