//! Payment switch (role `switch`): verification of the password a holder typed for a transaction,
//! and the unified transaction SMS a payment page asks for (R24). A declined transaction is an
//! answer, not an error: 200 with its ISO 8583 response code.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use pooya_issuer::domain::{Digits, Pan, PasswordKind, Transaction, TxnType};
use pooya_wire::switch::{OtpAccepted, OtpRequest, VerifyRequest, VerifyResult};
use pooya_wire::ErrorBody;

use crate::error::ApiError;
use crate::extract::{Authorized, Body, SwitchRole};
use crate::state::AppState;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new()
        .route("/v1/verify", post(verify))
        .route("/v1/otp-requests", post(otp_request))
}

#[utoipa::path(
    post,
    path = "/v1/verify",
    tag = "switch",
    summary = "Verify the password a holder typed for a transaction; a declined transaction is 200 with its response code. Idempotent on `txn.id` for the same card: a resend gets the stored answer whatever password it carries",
    security(("bearer" = ["switch"])),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verdict (ISO 8583 field 39)", body = VerifyResult),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 409, description = "`txn_conflict`: the same `txn.id` with another kind, amount or merchant (a resend with any password gets the stored answer)", body = ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_kind`; `invalid_password`; `invalid_txn_id`; `invalid_amount`; `invalid_merchant`", body = ErrorBody),
    )
)]
async fn verify(
    _: Authorized<SwitchRole>,
    State(s): State<Arc<AppState>>,
    Body(b): Body<VerifyRequest>,
) -> Result<(Extension<crate::telemetry::VerdictLog>, Json<VerifyResult>), ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let kind = PasswordKind::parse(&b.kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_kind",
            "kind must be \"first\" or \"second\"",
        )
    })?;
    let password = Digits::typed_password(&b.password)?;
    let txn = Transaction::new(&b.txn.id, b.txn.amount, &b.txn.merchant)?;
    let out = s.issuer.verify(&pan, kind, &password, &txn).await?;
    crate::telemetry::record_verify(out.response_code, out.reason);
    if out.locked_now {
        // An operator's matter: a holder (or someone guessing) is locked out until an ATM
        // activation. The request id of the span ties it to the request line; no card number.
        tracing::warn!(
            response_code = out.response_code,
            reason = out.reason,
            kind = kind.as_str(),
            "card locked: too many refused passwords in the window (R5); every password now \
             answers 75 locked until the holder activates again at an ATM"
        );
    }
    // The request line names the verdict, not only the HTTP status (always 200).
    let verdict = crate::telemetry::VerdictLog {
        response_code: out.response_code,
        reason: out.reason,
    };
    Ok((
        Extension(verdict),
        Json(VerifyResult {
            approved: out.approved,
            response_code: out.response_code.to_owned(),
            reason: out.reason.to_owned(),
        }),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/otp-requests",
    tag = "switch",
    summary = "Send the unified transaction SMS with a one-time second password (R24)",
    security(("bearer" = ["switch"])),
    request_body = OtpRequest,
    responses(
        (status = 202, description = "Queued (or, for the same request again within the interval, the code already sent stands)", body = OtpAccepted),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `second_password_blocked`; `locked`; `expired_card`", body = ErrorBody),
        (status = 404, description = "`unknown_card`", body = ErrorBody),
        (status = 409, description = "`txn_already_verified`", body = ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_txn_id`; `invalid_amount`; `invalid_merchant`; `invalid_txn_type`", body = ErrorBody),
    )
)]
/// R24: a one-time second password for this card and transaction, sent to the holder's
/// registered mobile in the central bank's unified text. 202 once it is queued (or, for the same
/// request again within the interval, once the code already sent stands).
async fn otp_request(
    _: Authorized<SwitchRole>,
    State(s): State<Arc<AppState>>,
    Body(b): Body<OtpRequest>,
) -> Result<(StatusCode, Json<OtpAccepted>), ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let txn = Transaction::new(&b.txn.id, b.txn.amount, &b.txn.merchant)?;
    let kind = match &b.txn.kind {
        Some(k) => TxnType::parse(k)?,
        None => TxnType::Purchase,
    };
    let out = s.issuer.otp_request(&pan, &txn, kind).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(OtpAccepted {
            accepted: true,
            queued: out.queued,
            expires_at: super::rfc3339(out.expires_at),
        }),
    ))
}

// The request types holding secrets wipe them when dropped (issue 6, item 8): checked at compile
// time.
const _: fn() = || {
    fn wiped<T: zeroize::ZeroizeOnDrop>() {}
    wiped::<VerifyRequest>();
};
