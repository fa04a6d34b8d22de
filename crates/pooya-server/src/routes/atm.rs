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

#[derive(Deserialize)]
struct CardAndPin {
    pan: String,
    pin: String,
}

#[derive(Deserialize)]
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
