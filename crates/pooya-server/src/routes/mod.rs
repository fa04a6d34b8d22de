//! The HTTP adapters, one module per channel. Each handler parses its request into domain types,
//! calls one issuer function and maps the outcome; nothing else.

use std::sync::Arc;

use axum::Router;

use crate::state::AppState;

pub mod admin;
pub mod app;
pub mod atm;
pub mod branch;
pub mod public;
pub mod sms;
pub mod switch;

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    // R18 and the per-address limit guard the app's endpoints (crate::app_guard).
    let app = app::routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::app_guard::guard_app,
    ));
    Router::new()
        .merge(branch::routes())
        .merge(atm::routes())
        .merge(sms::routes())
        .merge(switch::routes())
        .merge(app)
        .merge(admin::routes())
        .merge(public::routes())
        .merge(crate::openapi::routes())
        .merge(crate::telemetry::routes())
        .fallback(|| async { crate::error::ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            crate::error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this path does not take this method",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(crate::telemetry::log_request))
        .with_state(state)
}

/// RFC 3339 of a unix-ms time.
pub fn rfc3339(ms: i64) -> String {
    pooya_issuer::clock::rfc3339(ms)
}
