//! Payment switch (role `switch`): verification of the password a holder typed for a transaction.
//! A declined transaction is an answer, not an error: 200 with its ISO 8583 response code.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use pooya_issuer::domain::{Digits, Pan, PasswordKind, Transaction};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{Authorized, Body, SwitchRole};
use crate::state::AppState;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new().route("/v1/verify", post(verify))
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
