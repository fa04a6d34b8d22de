//! Endpoints without a key: the server's clock (R19) and health; and, on a server started with
//! `--unsafe-fake-clock` only, the tests' clock (admin key).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorDetail;

/// 200 to `GET /v1/time` (and to the tests' clock, where the server has one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Time {
    /// The server's clock, Unix time in ms.
    pub unix_ms: i64,
}

/// Whether the store answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Unavailable,
}

/// `GET /v1/health`: 200 `{"status": "ok"}`, or 503 `{"status": "unavailable", "error": {…}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    /// Only when unavailable: `store_unavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<ErrorDetail>,
}

/// `POST /v1/test/clock`: both set, then advanced; neither: the clock as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MoveClock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_unix_ms: Option<i64>,
}
