//! Endpoints without a key: the server's clock (R19) and health. Under `--unsafe-fake-clock` also
//! `/v1/test/clock` (admin key) to move the clock in tests.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{AdminRole, Authorized, Body};
use crate::state::AppState;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new()
        .route("/v1/time", get(time))
        .route("/v1/health", get(health))
        .route("/v1/test/clock", post(move_clock))
}

async fn time(State(s): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"unix_ms": s.issuer.now_ms()}))
}

async fn health(State(s): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    match s.issuer.health().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unavailable", "error": {"code": "store_unavailable", "message": "the store does not answer"}}),
            ),
        ),
    }
}

#[derive(Deserialize)]
struct MoveClock {
    advance_ms: Option<i64>,
    set_unix_ms: Option<i64>,
}

async fn move_clock(
    _: Authorized<AdminRole>,
    State(s): State<Arc<AppState>>,
    Body(b): Body<MoveClock>,
) -> Result<Json<Value>, ApiError> {
    let Some(clock) = &s.fake_clock else {
        return Err(ApiError::not_found());
    };
    if let Some(t) = b.set_unix_ms {
        clock.set(t);
    }
    if let Some(d) = b.advance_ms {
        clock.advance(d);
    }
    Ok(Json(json!({"unix_ms": s.issuer.now_ms()})))
}
