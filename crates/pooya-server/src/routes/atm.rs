//! ATM (role `atm`): the holder at an ATM with the card inserted (API.md, R8, R10, R11, R20).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use pooya_issuer::domain::{Digits, Mobile, Pan};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{AtmRole, Authorized, Body};
use crate::state::AppState;

type St = State<Arc<AppState>>;
type Auth = Authorized<AtmRole>;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new()
        .route("/v1/atm/activate-app", post(activate_app))
        .route("/v1/atm/activate-sms", post(activate_sms))
        .route("/v1/atm/deactivate", post(deactivate))
        .route("/v1/atm/block-second-password", post(block_second))
}

// The request's secrets are wiped when it is dropped.
#[derive(Deserialize, utoipa::ToSchema, zeroize::ZeroizeOnDrop)]
struct CardAndPin {
    pan: String,
    pin: String,
}

// The request's secrets are wiped when it is dropped.
#[derive(Deserialize, utoipa::ToSchema, zeroize::ZeroizeOnDrop)]
struct WithMobile {
    pan: String,
    pin: String,
    mobile: String,
}

/// The PIN field: the static PIN or a dynamic first password, 4 to 10 ASCII digits.
fn parse_pin(pin: &str) -> Result<Digits, ApiError> {
    match Digits::typed_password(pin) {
        Ok(d) if (4..=10).contains(&pin.len()) => Ok(d),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_pin",
            "the PIN must be 4 to 10 ASCII digits",
        )),
    }
}

fn parse(b: &WithMobile) -> Result<(Pan, Digits, Mobile), ApiError> {
    Ok((
        Pan::parse(&b.pan)?,
        parse_pin(&b.pin)?,
        Mobile::parse(&b.mobile)?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/atm/activate-app",
    tag = "atm",
    summary = "Activate the app channel (R8): a receipt code here, the other code by SMS to the registered mobile",
    security(("bearer" = ["atm"])),
    request_body = WithMobile,
    responses(
        (status = 200, description = "The receipt code and when the activation dies", body = crate::openapi::AppActivation),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = crate::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `wrong_pin`; `pin_tries_exceeded`; `pin_locked` (only a branch unlocks it); `expired_card`; `mobile_mismatch`: not the registered mobile", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_card`", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_pin`; `invalid_mobile`", body = crate::openapi::ErrorBody),
    )
)]
async fn activate_app(
    _: Auth,
    State(s): St,
    Body(b): Body<WithMobile>,
) -> Result<Json<Value>, ApiError> {
    let (pan, pin, mobile) = parse(&b)?;
    let issued = s.issuer.atm_activate_app(&pan, &pin, &mobile).await?;
    Ok(Json(json!({
        "receipt_code": issued.receipt_code.as_str(),
        "expires_at": super::rfc3339(issued.expires_at),
    })))
}

#[utoipa::path(
    post,
    path = "/v1/atm/activate-sms",
    tag = "atm",
    summary = "Activate the SMS channel (R20)",
    security(("bearer" = ["atm"])),
    request_body = WithMobile,
    responses(
        (status = 200, description = "The fixed part and the receipt text", body = crate::openapi::SmsActivation),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = crate::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `wrong_pin`; `pin_tries_exceeded`; `pin_locked` (only a branch unlocks it); `expired_card`; `mobile_mismatch`: not the registered mobile", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_card`", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_pin`; `invalid_mobile`", body = crate::openapi::ErrorBody),
    )
)]
async fn activate_sms(
    _: Auth,
    State(s): St,
    Body(b): Body<WithMobile>,
) -> Result<Json<Value>, ApiError> {
    let (pan, pin, mobile) = parse(&b)?;
    let issued = s.issuer.atm_activate_sms(&pan, &pin, &mobile).await?;
    Ok(Json(json!({
        "fixed_part": issued.fixed_part.as_str(),
        "receipt_text": issued.receipt_text.as_str(),
    })))
}

#[utoipa::path(
    post,
    path = "/v1/atm/deactivate",
    tag = "atm",
    summary = "Deactivate the dynamic service (R10)",
    security(("bearer" = ["atm"])),
    request_body = CardAndPin,
    responses(
        (status = 200, description = "Deactivated", body = crate::openapi::Deactivated),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = crate::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `wrong_pin`; `pin_tries_exceeded`; `pin_locked` (only a branch unlocks it); `expired_card`", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_card`", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_pin`", body = crate::openapi::ErrorBody),
    )
)]
async fn deactivate(
    _: Auth,
    State(s): St,
    Body(b): Body<CardAndPin>,
) -> Result<Json<Value>, ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let pin = parse_pin(&b.pin)?;
    s.issuer.atm_deactivate(&pan, &pin).await?;
    Ok(Json(
        json!({"dynamic": {"mode": "none", "state": "inactive"}}),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/atm/block-second-password",
    tag = "atm",
    summary = "Block the second password (R11)",
    security(("bearer" = ["atm"])),
    request_body = CardAndPin,
    responses(
        (status = 200, description = "Blocked", body = crate::openapi::SecondPasswordStatus),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = crate::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `wrong_pin`; `pin_tries_exceeded`; `pin_locked` (only a branch unlocks it); `expired_card`", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_card`", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_pin`", body = crate::openapi::ErrorBody),
    )
)]
async fn block_second(
    _: Auth,
    State(s): St,
    Body(b): Body<CardAndPin>,
) -> Result<Json<Value>, ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let pin = parse_pin(&b.pin)?;
    s.issuer.atm_block_second(&pan, &pin).await?;
    Ok(Json(json!({"second_password_blocked": true})))
}

// The request types holding secrets wipe them when dropped (issue 6, item 8): checked at compile
// time.
const _: fn() = || {
    fn wiped<T: zeroize::ZeroizeOnDrop>() {}
    wiped::<CardAndPin>();
    wiped::<WithMobile>();
};
