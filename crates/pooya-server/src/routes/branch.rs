//! Branch (role `branch`): in-person registration of customers and cards (API.md).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pooya_issuer::domain::{CustomerId, Digits, Expiry, Mobile, Pan};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{Authorized, Body, BranchRole};
use crate::state::AppState;

type St = State<Arc<AppState>>;
type Auth = Authorized<BranchRole>;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new()
        .route("/v1/customers", post(create_customer))
        .route("/v1/customers/{customer_id}/mobile", put(change_mobile))
        .route("/v1/cards", post(create_card))
        .route("/v1/cards/{pan}", get(card))
        .route("/v1/cards/{pan}/second-password/unblock", post(unblock))
        .route("/v1/cards/{pan}/pin/unlock", post(unlock_pin))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewCustomer {
    customer_id: String,
    mobile: String,
}

#[utoipa::path(
    post,
    path = "/v1/customers",
    tag = "branch",
    summary = "Register a customer",
    security(("bearer" = ["branch"])),
    request_body = NewCustomer,
    responses(
        (status = 201, description = "The customer, mobile in the form 09121234567", body = crate::openapi::Customer),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = crate::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = crate::openapi::ErrorBody),
        (status = 409, description = "`already_exists`: the customer exists", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_customer_id`; `invalid_mobile`", body = crate::openapi::ErrorBody),
    )
)]
async fn create_customer(
    _: Auth,
    State(s): St,
    Body(b): Body<NewCustomer>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = CustomerId::parse(&b.customer_id)?;
    let mobile = Mobile::parse(&b.mobile)?;
    let c = s.issuer.create_customer(id, mobile).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"customer_id": c.id.as_str(), "mobile": c.mobile.as_str()})),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewMobile {
    mobile: String,
}

#[utoipa::path(
    put,
    path = "/v1/customers/{customer_id}/mobile",
    tag = "branch",
    summary = "Change a customer's mobile (R12): the app tokens of their cards are revoked",
    security(("bearer" = ["branch"])),
    request_body = NewMobile,
    params(
        ("customer_id" = String, Path, description = "The customer"),
    ),
    responses(
        (status = 200, description = "The new mobile and how many tokens were revoked", body = crate::openapi::MobileChanged),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = crate::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_customer`", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_customer_id`; `invalid_mobile`", body = crate::openapi::ErrorBody),
    )
)]
async fn change_mobile(
    _: Auth,
    State(s): St,
    Path(customer_id): Path<String>,
    Body(b): Body<NewMobile>,
) -> Result<Json<Value>, ApiError> {
    let id = CustomerId::parse(&customer_id)?;
    let mobile = Mobile::parse(&b.mobile)?;
    let (mobile, revoked) = s.issuer.change_mobile(&id, mobile).await?;
    Ok(Json(
        json!({"mobile": mobile.as_str(), "revoked_tokens": revoked}),
    ))
}

// The request's secrets are wiped when it is dropped.
#[derive(Deserialize, utoipa::ToSchema, zeroize::ZeroizeOnDrop)]
struct NewCard {
    pan: String,
    customer_id: String,
    expiry: String,
    pin: String,
    second_password: String,
}

#[utoipa::path(
    post,
    path = "/v1/cards",
    tag = "branch",
    summary = "Register a card of a customer",
    security(("bearer" = ["branch"])),
    request_body = NewCard,
    responses(
        (status = 201, description = "The card, PAN masked", body = crate::openapi::CardCreated),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = crate::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_customer`", body = crate::openapi::ErrorBody),
        (status = 409, description = "`already_exists`: the card exists", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_customer_id`; `invalid_expiry`; `invalid_pin`; `invalid_second_password`", body = crate::openapi::ErrorBody),
    )
)]
async fn create_card(
    _: Auth,
    State(s): St,
    Body(b): Body<NewCard>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let customer = CustomerId::parse(&b.customer_id)?;
    let expiry = Expiry::parse(&b.expiry)?;
    let pin = Digits::pin(&b.pin)?;
    let second = Digits::second_password(&b.second_password)?;
    let masked = s
        .issuer
        .create_card(&pan, customer, expiry, pin, second)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "pan_masked": masked }))))
}

#[utoipa::path(
    get,
    path = "/v1/cards/{pan}",
    tag = "branch",
    summary = "A card's state",
    security(("bearer" = ["branch"])),
    params(
        ("pan" = String, Path, description = "The full PAN (16 digits)"),
    ),
    responses(
        (status = 200, description = "The card", body = crate::openapi::CardView),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_card`", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_pan`", body = crate::openapi::ErrorBody),
    )
)]
async fn card(_: Auth, State(s): St, Path(pan): Path<String>) -> Result<Json<Value>, ApiError> {
    let pan = Pan::parse(&pan)?;
    let v = s.issuer.card_view(&pan).await?;
    Ok(Json(json!({
        "pan_masked": v.pan_masked,
        "customer_id": v.customer_id,
        "dynamic": {"mode": v.mode.as_str(), "state": v.state.as_str()},
        "second_password_blocked": v.second_blocked,
        "recent_failures": v.recent_failures,
        "pin_locked": v.pin_locked,
    })))
}

#[utoipa::path(
    post,
    path = "/v1/cards/{pan}/second-password/unblock",
    tag = "branch",
    summary = "Unblock the second password (R11)",
    security(("bearer" = ["branch"])),
    params(
        ("pan" = String, Path, description = "The full PAN (16 digits)"),
    ),
    responses(
        (status = 200, description = "Unblocked", body = crate::openapi::SecondPasswordStatus),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_card`", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_pan`", body = crate::openapi::ErrorBody),
    )
)]
async fn unblock(_: Auth, State(s): St, Path(pan): Path<String>) -> Result<Json<Value>, ApiError> {
    let pan = Pan::parse(&pan)?;
    s.issuer.unblock_second(&pan).await?;
    Ok(Json(json!({"second_password_blocked": false})))
}

#[utoipa::path(
    post,
    path = "/v1/cards/{pan}/pin/unlock",
    tag = "branch",
    summary = "Unlock the PIN locked by too many wrong first passwords and ATM PINs (the holder came in person)",
    security(("bearer" = ["branch"])),
    params(
        ("pan" = String, Path, description = "The full PAN (16 digits)"),
    ),
    responses(
        (status = 200, description = "Unlocked", body = crate::openapi::PinStatus),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = crate::openapi::ErrorBody),
        (status = 404, description = "`unknown_card`", body = crate::openapi::ErrorBody),
        (status = 422, description = "`invalid_pan`", body = crate::openapi::ErrorBody),
    )
)]
async fn unlock_pin(
    _: Auth,
    State(s): St,
    Path(pan): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pan = Pan::parse(&pan)?;
    s.issuer.unlock_pin(&pan).await?;
    Ok(Json(json!({"pin_locked": false})))
}

// The request types holding secrets wipe them when dropped (issue 6, item 8): checked at compile
// time.
const _: fn() = || {
    fn wiped<T: zeroize::ZeroizeOnDrop>() {}
    wiped::<NewCard>();
};
