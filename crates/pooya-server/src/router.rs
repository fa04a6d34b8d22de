//! The whole HTTP surface as one router: every channel's routes (`crate::routes`), the API's
//! description (`crate::openapi`), the metrics, the answers for unknown paths and methods, and the
//! layers every request passes (body limit, request log).

use std::sync::Arc;

use axum::Router;

use crate::routes::{admin, app, atm, branch, public, sms, switch};
use crate::state::AppState;

/// `console`: the staff's console at `/console/` (`[console] enabled`), if served.
pub fn router(
    state: Arc<AppState>,
    max_body_bytes: usize,
    console: Option<Arc<pooya_console::Console>>,
) -> Router {
    // R18 and the per-address limit guard the app's endpoints (crate::app_guard).
    let app = app::routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::app_guard::guard_app,
    ));
    let console = console.map_or_else(Router::new, pooya_console::routes);
    Router::new()
        .merge(console)
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
