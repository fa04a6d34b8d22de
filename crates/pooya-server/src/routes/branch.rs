//! Branch (role `branch`): in-person registration of customers and cards (docs/api.md).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pooya_issuer::card::{HardwareKind, Mode, ServiceState};
use pooya_issuer::domain::{CustomerId, Digits, Expiry, Mobile, Pan};
use pooya_wire::branch::{
    CardCreated, CardView, Customer, Dynamic, DynamicMode, DynamicState, HardwareToken,
    MobileChanged, NewCard, NewCustomer, NewMobile, PinStatus, SecondPasswordStatus,
    StaticSecondPassword,
};
use pooya_wire::ErrorBody;

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

#[utoipa::path(
    post,
    path = "/v1/customers",
    tag = "branch",
    summary = "Register a customer",
    security(("bearer" = ["branch"])),
    request_body = NewCustomer,
    responses(
        (status = 201, description = "The customer, mobile in the form 09121234567", body = Customer),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 409, description = "`already_exists`: the customer exists", body = ErrorBody),
        (status = 422, description = "`invalid_customer_id`; `invalid_mobile`", body = ErrorBody),
    )
)]
async fn create_customer(
    auth: Auth,
    State(s): St,
    Body(b): Body<NewCustomer>,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    let id = CustomerId::parse(&b.customer_id)?;
    let mobile = Mobile::parse(&b.mobile)?;
    let c = s.issuer.create_customer(&auth.actor(), id, mobile).await?;
    Ok((
        StatusCode::CREATED,
        Json(Customer {
            customer_id: c.id.as_str().to_owned(),
            mobile: c.mobile.as_str().to_owned(),
        }),
    ))
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
        (status = 200, description = "The new mobile and how many tokens were revoked", body = MobileChanged),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 404, description = "`unknown_customer`", body = ErrorBody),
        (status = 422, description = "`invalid_customer_id`; `invalid_mobile`", body = ErrorBody),
    )
)]
async fn change_mobile(
    auth: Auth,
    State(s): St,
    Path(customer_id): Path<String>,
    Body(b): Body<NewMobile>,
) -> Result<Json<MobileChanged>, ApiError> {
    let id = CustomerId::parse(&customer_id)?;
    let mobile = Mobile::parse(&b.mobile)?;
    let (mobile, revoked) = s.issuer.change_mobile(&auth.actor(), &id, mobile).await?;
    Ok(Json(MobileChanged {
        mobile: mobile.as_str().to_owned(),
        revoked_tokens: revoked.into(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/cards",
    tag = "branch",
    summary = "Register a card of a customer",
    security(("bearer" = ["branch"])),
    request_body = NewCard,
    responses(
        (status = 201, description = "The card, PAN masked", body = CardCreated),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 404, description = "`unknown_customer`", body = ErrorBody),
        (status = 409, description = "`already_exists`: the card exists", body = ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_customer_id`; `invalid_expiry`; `invalid_pin`; `invalid_second_password`", body = ErrorBody),
    )
)]
async fn create_card(
    auth: Auth,
    State(s): St,
    Body(b): Body<NewCard>,
) -> Result<(StatusCode, Json<CardCreated>), ApiError> {
    let pan = Pan::parse(&b.pan)?;
    let customer = CustomerId::parse(&b.customer_id)?;
    let expiry = Expiry::parse(&b.expiry)?;
    let pin = Digits::pin(&b.pin)?;
    let second = Digits::second_password(&b.second_password)?;
    let masked = s
        .issuer
        .create_card(&auth.actor(), &pan, customer, expiry, pin, second)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CardCreated { pan_masked: masked }),
    ))
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
        (status = 200, description = "The card", body = CardView),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 404, description = "`unknown_card`", body = ErrorBody),
        (status = 422, description = "`invalid_pan`", body = ErrorBody),
    )
)]
async fn card(_: Auth, State(s): St, Path(pan): Path<String>) -> Result<Json<CardView>, ApiError> {
    let pan = Pan::parse(&pan)?;
    let v = s.issuer.card_view(&pan).await?;
    Ok(Json(CardView {
        pan_masked: v.pan_masked,
        customer_id: v.customer_id,
        dynamic: dynamic(v.mode, v.state),
        second_password_blocked: v.second_blocked,
        recent_failures: v.recent_failures as u64,
        pin_locked: v.pin_locked,
        static_second_password: if v.static_second_disabled {
            StaticSecondPassword::Disabled
        } else {
            StaticSecondPassword::Enabled
        },
        hardware_token: v.hardware.map(|h| HardwareToken {
            serial: h.serial,
            kind: match h.kind {
                HardwareKind::Hotp => "hotp",
                HardwareKind::Totp => "totp",
            }
            .to_owned(),
            start_date: h.not_before.map(super::rfc3339),
            expiry_date: h.not_after.map(super::rfc3339),
            transactions_left: h.transactions_left,
            usable: h.usable,
        }),
    }))
}

/// The card's dynamic service as the wire spells it.
fn dynamic(mode: Mode, state: ServiceState) -> Dynamic {
    Dynamic {
        mode: match mode {
            Mode::None => DynamicMode::None,
            Mode::App => DynamicMode::App,
            Mode::Sms => DynamicMode::Sms,
        },
        state: match state {
            ServiceState::Inactive => DynamicState::Inactive,
            ServiceState::Pending => DynamicState::Pending,
            ServiceState::Active => DynamicState::Active,
            ServiceState::Locked => DynamicState::Locked,
        },
    }
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
        (status = 200, description = "Unblocked", body = SecondPasswordStatus),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 404, description = "`unknown_card`", body = ErrorBody),
        (status = 422, description = "`invalid_pan`", body = ErrorBody),
    )
)]
async fn unblock(
    auth: Auth,
    State(s): St,
    Path(pan): Path<String>,
) -> Result<Json<SecondPasswordStatus>, ApiError> {
    let pan = Pan::parse(&pan)?;
    s.issuer.unblock_second(&auth.actor(), &pan).await?;
    Ok(Json(SecondPasswordStatus {
        second_password_blocked: false,
    }))
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
        (status = 200, description = "Unlocked", body = PinStatus),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 404, description = "`unknown_card`", body = ErrorBody),
        (status = 422, description = "`invalid_pan`", body = ErrorBody),
    )
)]
async fn unlock_pin(
    auth: Auth,
    State(s): St,
    Path(pan): Path<String>,
) -> Result<Json<PinStatus>, ApiError> {
    let pan = Pan::parse(&pan)?;
    s.issuer.unlock_pin(&auth.actor(), &pan).await?;
    Ok(Json(PinStatus { pin_locked: false }))
}

// The request types holding secrets wipe them when dropped (issue 6, item 8): checked at compile
// time.
const _: fn() = || {
    fn wiped<T: zeroize::ZeroizeOnDrop>() {}
    wiped::<NewCard>();
};
