//! Endpoints without a key: the server's clock (R19) and health. Under `--unsafe-fake-clock` also
//! `/v1/test/clock` (admin key) to move the clock in tests.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use pooya_wire::public::{Health, HealthStatus, MoveClock, Time};
use pooya_wire::{ErrorBody, ErrorDetail};

use crate::error::ApiError;
use crate::extract::{AdminRole, Authorized, Body};
use crate::state::AppState;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new()
        .route("/v1/time", get(time))
        .route("/v1/health", get(health))
        .route("/v1/test/clock", post(move_clock))
}

#[utoipa::path(
    get,
    path = "/v1/time",
    tag = "public",
    summary = "The server's clock (R19)",
    responses(
        (status = 200, description = "Unix time in ms", body = Time),
    )
)]
async fn time(State(s): State<Arc<AppState>>) -> Json<Time> {
    Json(Time {
        unix_ms: s.issuer.now_ms(),
    })
}

#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "public",
    summary = "Health: 200 once the store answers",
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`", body = Health),
        (status = 503, description = "`{\"status\": \"unavailable\", \"error\": {\"code\": \"store_unavailable\", …}}`: the store does not answer", body = Health),
    )
)]
async fn health(State(s): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    match s.issuer.health().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: HealthStatus::Ok,
                error: None,
            }),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: HealthStatus::Unavailable,
                error: Some(ErrorDetail::new(
                    "store_unavailable",
                    "the store does not answer",
                )),
            }),
        ),
    }
}

#[utoipa::path(
    post,
    path = "/v1/test/clock",
    tag = "public",
    summary = "Tests only: move the fake clock (exists only under `--unsafe-fake-clock`)",
    security(("bearer" = ["admin"])),
    request_body = MoveClock,
    responses(
        (status = 200, description = "The clock now", body = Time),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "`unauthenticated`: no key, or an unknown one", body = ErrorBody),
        (status = 403, description = "`forbidden`: a key of another role", body = ErrorBody),
        (status = 404, description = "`not_found`: the server has no fake clock", body = ErrorBody),
        (status = 422, description = "`invalid_clock`: the time would overflow or leave 1970 to 9999; the clock did not move", body = ErrorBody),
    )
)]
async fn move_clock(
    _: Authorized<AdminRole>,
    State(s): State<Arc<AppState>>,
    Body(b): Body<MoveClock>,
) -> Result<Json<Time>, ApiError> {
    let Some(clock) = &s.fake_clock else {
        return Err(ApiError::not_found());
    };
    // Both at once: the time set, moved; either way all or nothing.
    let moved = match (b.set_unix_ms, b.advance_ms) {
        (Some(t), d) => t.checked_add(d.unwrap_or(0)).and_then(|t| clock.set(t)),
        (None, Some(d)) => clock.advance(d),
        (None, None) => Some(s.issuer.now_ms()),
    };
    if moved.is_none() {
        let range = pooya_issuer::clock::FAKE_CLOCK_RANGE;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_clock",
            format!(
                "the clock would overflow or leave {}..={} (1970 to 9999); it did not move",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(Json(Time {
        unix_ms: s.issuer.now_ms(),
    }))
}
