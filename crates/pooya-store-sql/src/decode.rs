//! Rows into records: each column checked as it is read. A value that does not parse is
//! [`StoreError::Corrupt`] (damage or a bug, never the caller's fault).

use sqlx::any::AnyRow;
use sqlx::Row;

use pooya_issuer::audit::{AuditHead, StoredAudit};
use pooya_issuer::card::CardRecord;
use pooya_issuer::domain::{CustomerId, Expiry, Mobile};
use pooya_issuer::store::{
    AuditRecord, CustomerRecord, OutgoingSms, QueuedSms, StoreError, VerificationRecord,
};

use crate::corrupt;

/// A `cards` row as stored ([`crate::statements::CARD_COLUMNS`]), before it is decoded: what
/// both drivers read.
pub(crate) struct CardColumns {
    pub pan_hash: String,
    pub customer_id: String,
    pub pan_masked: String,
    pub last4: String,
    pub tail_macs: Option<String>,
    pub expiry: String,
    pub pin_hash: String,
    pub second_hash: String,
    pub second_blocked: i64,
    pub svc: String,
    pub created_at: i64,
    pub version: i64,
}

impl CardColumns {
    pub(crate) fn decode(self) -> Result<CardRecord, StoreError> {
        let tail_macs = self
            .tail_macs
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| {
                data_encoding::HEXLOWER
                    .decode(t.as_bytes())
                    .map_err(corrupt)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CardRecord {
            pan_hash: self.pan_hash,
            customer_id: CustomerId::parse(&self.customer_id).map_err(corrupt)?,
            pan_masked: self.pan_masked,
            last4: self.last4,
            tail_macs,
            expiry: Expiry::parse(&self.expiry).map_err(corrupt)?,
            pin_hash: self.pin_hash,
            second_hash: self.second_hash,
            second_blocked: self.second_blocked != 0,
            svc: serde_json::from_str(&self.svc).map_err(corrupt)?,
            created_at: self.created_at,
            version: self.version,
        })
    }
}

pub(crate) fn card(row: &AnyRow) -> Result<CardRecord, StoreError> {
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(corrupt);
    let get_i = |c: &str| row.try_get::<i64, _>(c).map_err(corrupt);
    CardColumns {
        pan_hash: get_s("pan_hash")?,
        customer_id: get_s("customer_id")?,
        pan_masked: get_s("pan_masked")?,
        last4: get_s("last4")?,
        tail_macs: row.try_get("tail_macs").map_err(corrupt)?,
        expiry: get_s("expiry")?,
        pin_hash: get_s("pin_hash")?,
        second_hash: get_s("second_hash")?,
        second_blocked: get_i("second_blocked")?,
        svc: get_s("svc")?,
        created_at: get_i("created_at")?,
        version: get_i("version")?,
    }
    .decode()
}

/// The stored verification read beside a card ([`crate::statements::CARD_FOR_VERIFICATION`]),
/// if there is one.
pub(crate) fn joined_verification(
    row: &AnyRow,
    pan_hash: &str,
    txn_id: &str,
) -> Result<Option<VerificationRecord>, StoreError> {
    // `at` is NOT NULL in the table: NULL here is the join finding no row.
    let at: Option<i64> = row.try_get("v_at").map_err(corrupt)?;
    if at.is_none() {
        return Ok(None);
    }
    verification(row, pan_hash, txn_id.to_owned()).map(Some)
}

/// A verification read with [`crate::statements::verification_columns!`], of the card `pan_hash`
/// and the transaction `txn_id`.
pub(crate) fn verification(
    row: &AnyRow,
    pan_hash: &str,
    txn_id: String,
) -> Result<VerificationRecord, StoreError> {
    Ok(VerificationRecord {
        pan_hash: pan_hash.to_owned(),
        txn_id,
        fingerprint: row.try_get("v_fingerprint").map_err(corrupt)?,
        response_code: row.try_get("v_response_code").map_err(corrupt)?,
        reason: row.try_get("v_reason").map_err(corrupt)?,
        at: row.try_get("v_at").map_err(corrupt)?,
        merchant: row.try_get("v_merchant").map_err(corrupt)?,
    })
}

pub(crate) fn customer(row: &AnyRow) -> Result<CustomerRecord, StoreError> {
    Ok(CustomerRecord {
        id: CustomerId::parse(&row.try_get::<String, _>("customer_id").map_err(corrupt)?)
            .map_err(corrupt)?,
        mobile: Mobile::parse(&row.try_get::<String, _>("mobile").map_err(corrupt)?)
            .map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        version: row.try_get("version").map_err(corrupt)?,
    })
}

pub(crate) fn queued(r: &AnyRow) -> Result<QueuedSms, StoreError> {
    Ok(QueuedSms {
        id: r.try_get("id").map_err(corrupt)?,
        attempts: r.try_get("attempts").map_err(corrupt)?,
        sms: OutgoingSms {
            to: Mobile::parse(&r.try_get::<String, _>("to_mobile").map_err(corrupt)?)
                .map_err(corrupt)?,
            text: r.try_get("body").map_err(corrupt)?,
            msg_id: r
                .try_get::<Option<String>, _>("msg_id")
                .map_err(corrupt)?
                .unwrap_or_default(),
            created_at: r.try_get("created_at").map_err(corrupt)?,
            expires_at: r.try_get("expires_at").map_err(corrupt)?,
        },
    })
}

/// The columns `at, event, pan_masked, customer_id, detail, actor` of an `audit` row.
pub(crate) fn audit_record(r: &AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        at: r.try_get("at").map_err(corrupt)?,
        event: r.try_get("event").map_err(corrupt)?,
        pan_masked: r.try_get("pan_masked").map_err(corrupt)?,
        customer_id: r.try_get("customer_id").map_err(corrupt)?,
        detail: r.try_get("detail").map_err(corrupt)?,
        actor: r.try_get("actor").map_err(corrupt)?,
    })
}

/// A whole `audit` row: its place in the chain (`id, lane, seq, mac`) and its record.
pub(crate) fn stored_audit(r: &AnyRow) -> Result<StoredAudit, StoreError> {
    Ok(StoredAudit {
        id: r.try_get("id").map_err(corrupt)?,
        lane: r.try_get("lane").map_err(corrupt)?,
        seq: r.try_get("seq").map_err(corrupt)?,
        mac: r.try_get("mac").map_err(corrupt)?,
        record: audit_record(r)?,
    })
}

/// An `audit_chains` row (`lane, seq, mac`).
pub(crate) fn audit_head(r: &AnyRow) -> Result<AuditHead, StoreError> {
    Ok(AuditHead {
        lane: r.try_get("lane").map_err(corrupt)?,
        seq: r.try_get("seq").map_err(corrupt)?,
        mac: r.try_get("mac").map_err(corrupt)?,
    })
}
