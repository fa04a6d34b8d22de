//! Payment switch (role `switch`): verification of the password a holder typed for a transaction,
//! and the unified transaction SMS a payment page asks for (R24). A declined transaction is an
//! answer, not an error: 200 with its ISO 8583 response code.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use pooya_issuer::domain::{Digits, Pan, PasswordKind, Transaction, TxnType};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{Authorized, Body, SwitchRole};
use crate::state::AppState;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new()
        .route("/v1/verify", post(verify))
        .route("/v1/otp-requests", post(otp_request))
}

#[derive(Deserialize)]
struct Txn {
    id: String,
    amount: i64,
    merchant: String,
}

#[derive(Deserialize)]
struct Verify {
    pan: String,
    kind: String,
    password: String,
    txn: Txn,
}

async fn verify(
    _: Authorized<SwitchRole>,
    State(s): State<Arc<AppState>>,
    Body(b): Body<Verify>,
) -> Result<Json<Value>, ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let kind = match b.kind.as_str() {
        "first" => PasswordKind::First,
        "second" => PasswordKind::Second,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_kind",
                "kind must be \"first\" or \"second\"",
            ))
        }
    };
    let password = Digits::typed_password(&b.password)?;
    let txn = Transaction::new(&b.txn.id, b.txn.amount, &b.txn.merchant)?;
    let out = s.issuer.verify(&pan, kind, &password, &txn).await?;
    Ok(Json(json!({
        "approved": out.approved,
        "response_code": out.response_code,
        "reason": out.reason,
    })))
}

#[derive(Deserialize)]
struct OtpTxn {
    id: String,
    amount: i64,
    merchant: String,
    /// `purchase` (default), `transfer`, `bill` or `topup`: named in the SMS.
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct OtpRequest {
    pan: String,
    txn: OtpTxn,
}

/// R24: a one-time second password for this card and transaction, sent to the holder's
/// registered mobile in the central bank's unified text. 202 once it is queued (or, for the same
/// request again within the interval, once the code already sent stands).
async fn otp_request(
    _: Authorized<SwitchRole>,
    State(s): State<Arc<AppState>>,
    Body(b): Body<OtpRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let txn = Transaction::new(&b.txn.id, b.txn.amount, &b.txn.merchant)?;
    let kind = match &b.txn.kind {
        Some(k) => TxnType::parse(k)?,
        None => TxnType::Purchase,
    };
    let out = s.issuer.otp_request(&pan, &txn, kind).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "accepted": true,
            "queued": out.queued,
            "expires_at": super::rfc3339(out.expires_at),
        })),
    ))
}
