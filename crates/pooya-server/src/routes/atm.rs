//! ATM (role `atm`): the holder at an ATM with the card inserted (docs/api.md, R8, R10, R11, R20).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use pooya_issuer::domain::{Digits, Mobile, Pan};
use pooya_wire::atm::{Activate, AppActivation, CardAndPin, Deactivated, SmsActivation};
use pooya_wire::branch::{Dynamic, SecondPasswordStatus};
use pooya_wire::ErrorBody;

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

fn parse(b: &Activate) -> Result<(Pan, Digits, Mobile), ApiError> {
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
    request_body = Activate,
    responses(
        (status = 200, description = "The receipt code and when the activation dies", body = AppActivation),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `wrong_pin`; `pin_tries_exceeded`; `pin_locked` (only a branch unlocks it); `expired_card`; `mobile_mismatch`: not the registered mobile", body = ErrorBody),
        (status = 404, description = "`unknown_card`", body = ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_pin`; `invalid_mobile`", body = ErrorBody),
    )
)]
async fn activate_app(
    _: Auth,
    State(s): St,
    Body(b): Body<Activate>,
) -> Result<Json<AppActivation>, ApiError> {
    let (pan, pin, mobile) = parse(&b)?;
    let issued = s.issuer.atm_activate_app(&pan, &pin, &mobile).await?;
    Ok(Json(AppActivation {
        receipt_code: issued.receipt_code.as_str().to_owned(),
        expires_at: super::rfc3339(issued.expires_at),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/atm/activate-sms",
    tag = "atm",
    summary = "Activate the SMS channel (R20)",
    security(("bearer" = ["atm"])),
    request_body = Activate,
    responses(
        (status = 200, description = "The fixed part and the receipt text", body = SmsActivation),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `wrong_pin`; `pin_tries_exceeded`; `pin_locked` (only a branch unlocks it); `expired_card`; `mobile_mismatch`: not the registered mobile", body = ErrorBody),
        (status = 404, description = "`unknown_card`", body = ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_pin`; `invalid_mobile`", body = ErrorBody),
    )
)]
async fn activate_sms(
    _: Auth,
    State(s): St,
    Body(b): Body<Activate>,
) -> Result<Json<SmsActivation>, ApiError> {
    let (pan, pin, mobile) = parse(&b)?;
    let issued = s.issuer.atm_activate_sms(&pan, &pin, &mobile).await?;
    Ok(Json(SmsActivation {
        fixed_part: issued.fixed_part.as_str().to_owned(),
        receipt_text: issued.receipt_text.as_str().to_owned(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/atm/deactivate",
    tag = "atm",
    summary = "Deactivate the dynamic service (R10)",
    security(("bearer" = ["atm"])),
    request_body = CardAndPin,
    responses(
        (status = 200, description = "Deactivated", body = Deactivated),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `wrong_pin`; `pin_tries_exceeded`; `pin_locked` (only a branch unlocks it); `expired_card`", body = ErrorBody),
        (status = 404, description = "`unknown_card`", body = ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_pin`", body = ErrorBody),
    )
)]
async fn deactivate(
    _: Auth,
    State(s): St,
    Body(b): Body<CardAndPin>,
) -> Result<Json<Deactivated>, ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let pin = parse_pin(&b.pin)?;
    s.issuer.atm_deactivate(&pan, &pin).await?;
    Ok(Json(Deactivated {
        dynamic: Dynamic::NONE,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/atm/block-second-password",
    tag = "atm",
    summary = "Block the second password (R11)",
    security(("bearer" = ["atm"])),
    request_body = CardAndPin,
    responses(
        (status = 200, description = "Blocked", body = SecondPasswordStatus),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role; `wrong_pin`; `pin_tries_exceeded`; `pin_locked` (only a branch unlocks it); `expired_card`", body = ErrorBody),
        (status = 404, description = "`unknown_card`", body = ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_pin`", body = ErrorBody),
    )
)]
async fn block_second(
    _: Auth,
    State(s): St,
    Body(b): Body<CardAndPin>,
) -> Result<Json<SecondPasswordStatus>, ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let pin = parse_pin(&b.pin)?;
    s.issuer.atm_block_second(&pan, &pin).await?;
    Ok(Json(SecondPasswordStatus {
        second_password_blocked: true,
    }))
}

// The request types holding secrets wipe them when dropped (issue 6, item 8): checked at compile
// time.
const _: fn() = || {
    fn wiped<T: zeroize::ZeroizeOnDrop>() {}
    wiped::<CardAndPin>();
    wiped::<Activate>();
    wiped::<AppActivation>();
    wiped::<SmsActivation>();
};
