//! Administration (role `admin`): the SMS outbox at a glance, and PSKC (RFC 6030) import of
//! hardware tokens.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use pooya_wire::admin::{OutboxSummary, PskcImport, PskcImported};
use pooya_wire::ErrorBody;

use crate::error::ApiError;
use crate::extract::{AdminRole, Authorized};
use crate::state::AppState;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new()
        .route("/v1/admin/outbox", get(outbox))
        .route("/v1/admin/pskc", axum::routing::post(import_pskc))
}

#[utoipa::path(
    get,
    path = "/v1/admin/outbox",
    tag = "admin",
    summary = "The SMS outbox at a glance",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Messages waiting, how long the oldest has waited, retries, failures, given up, refused, sent", body = OutboxSummary),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
    )
)]
/// `{"queued", "oldest_age_ms" (null when none is queued), "retrying", "failed_attempts",
/// "given_up", "refused", "sent"}`: messages waiting, how long the oldest has waited, how many of
/// them failed at least once, failed attempts in all, messages given up (expired before they could
/// leave), messages refused (their sealed body did not open for their row: the row was altered),
/// messages sent.
async fn outbox(
    _: Authorized<AdminRole>,
    State(s): State<Arc<AppState>>,
) -> Result<Json<OutboxSummary>, ApiError> {
    let (st, now) = s.issuer.outbox_status().await?;
    Ok(Json(OutboxSummary {
        queued: st.queued,
        oldest_age_ms: st.oldest_queued_at.map(|t| (now - t).max(0)),
        retrying: st.retrying,
        failed_attempts: st.failed_attempts,
        given_up: st.given_up,
        refused: st.refused,
        sent: st.sent,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/admin/pskc",
    tag = "admin",
    summary = "Import hardware tokens from a PSKC (RFC 6030) file: each becomes the second-password token of the card its serial is assigned to, all or nothing",
    security(("bearer" = ["admin"])),
    request_body = PskcImport,
    responses(
        (status = 200, description = "How many keys were imported", body = PskcImported),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 404, description = "`unknown_card`: an assigned card does not exist; nothing imported", body = ErrorBody),
        (status = 422, description = "`invalid_pskc`: a bad file, key or assignment, nothing imported; `invalid_pan`", body = ErrorBody),
    )
)]
/// `POST /v1/admin/pskc`: every key of the file becomes the second-password token of the card its
/// serial is assigned to, all in one commit. 200 `{"imported": N}`; a bad file or assignment: 422
/// `invalid_pskc` naming the key package, nothing imported; an unknown card: 404 `unknown_card`.
async fn import_pskc(
    auth: Authorized<AdminRole>,
    State(s): State<Arc<AppState>>,
    crate::extract::Body(b): crate::extract::Body<PskcImport>,
) -> Result<Json<PskcImported>, ApiError> {
    let invalid = |m: String| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_pskc",
            m,
        )
    };
    let psk = match b.preshared_key_hex.as_deref() {
        Some(h) => Some(
            pooya_pskc::from_hex(h)
                .ok_or_else(|| invalid("preshared_key_hex is not hexadecimal".into()))?,
        ),
        None => None,
    };
    let mut assign = Vec::with_capacity(b.assign.len());
    for (serial, pan) in &b.assign {
        assign.push((serial.clone(), pooya_issuer::domain::Pan::parse(pan)?));
    }
    let secrets = pooya_pskc::Secrets {
        preshared_key: psk.as_deref(),
        password: b.password.as_deref().map(str::as_bytes),
    };
    let n = s
        .issuer
        .import_pskc(&auth.actor(), &b.pskc, &secrets, &assign)
        .await?;
    Ok(Json(PskcImported { imported: n as u64 }))
}

// The request types holding secrets wipe them when dropped (issue 6, item 8): checked at compile
// time.
const _: fn() = || {
    fn wiped<T: zeroize::ZeroizeOnDrop>() {}
    wiped::<PskcImport>();
};
