//! SMS gateway (role `sms`): messages the bank's short number receives (R21, R22). The answer never
//! carries a reply: replies leave through the outbox.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use pooya_issuer::domain::Mobile;
use pooya_wire::sms::{Accepted, InboundSms};
use pooya_wire::ErrorBody;

use crate::error::ApiError;
use crate::extract::{Authorized, Body, SmsRole};
use crate::state::AppState;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new().route("/v1/sms/inbound", post(inbound))
}

/// Longer than any real SMS (a concatenated one holds at most a few thousand characters).
const MAX_TEXT_CHARS: usize = 1600;

#[utoipa::path(
    post,
    path = "/v1/sms/inbound",
    tag = "sms",
    summary = "A message the bank's short number received (R21, R22); replies leave through the SMS outbox",
    security(("bearer" = ["sms"])),
    request_body = InboundSms,
    responses(
        (status = 202, description = "Accepted", body = Accepted),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 422, description = "`invalid_mobile`; `invalid_short_number`; `invalid_text`; `unknown_short_number`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry_after_secs`, and `Retry-After`): too many messages from this sender", body = ErrorBody),
    )
)]
async fn inbound(
    _: Authorized<SmsRole>,
    State(s): State<Arc<AppState>>,
    Body(b): Body<InboundSms>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let from = Mobile::parse(&b.from)?;
    if b.to.is_empty() || !b.to.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_short_number",
            "`to` must be the bank's short number in ASCII digits",
        ));
    }
    if b.text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
            "the text is longer than an SMS can be",
        ));
    }
    s.limits.sms_inbound(&from)?;
    s.issuer.sms_inbound(&from, &b.to, &b.text).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: true })))
}
