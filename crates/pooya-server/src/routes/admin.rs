//! Administration (role `admin`): the SMS outbox at a glance.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{AdminRole, Authorized};
use crate::state::AppState;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new().route("/v1/admin/outbox", get(outbox))
}

/// `{"queued", "oldest_age_ms" (null when none is queued), "retrying", "failed_attempts",
/// "given_up", "sent"}`: messages waiting, how long the oldest has waited, how many of them failed
/// at least once, failed attempts in all, messages given up, messages sent.
async fn outbox(
    _: Authorized<AdminRole>,
    State(s): State<Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    let (st, now) = s.issuer.outbox_status().await?;
    Ok(Json(json!({
        "queued": st.queued,
        "oldest_age_ms": st.oldest_queued_at.map(|t| (now - t).max(0)),
        "retrying": st.retrying,
        "failed_attempts": st.failed_attempts,
        "given_up": st.given_up,
        "sent": st.sent,
    })))
}
