//! The refusal every endpoint may answer: `{"error": {"code", "message"}}` (docs/api.md, "Transport
//! and errors"), with a status of 4xx or 5xx.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every refusal: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What was refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A snake_case code, e.g. `bad_request`, `unauthenticated`, `invalid_pan`.
    pub code: String,
    /// Human text. Never repeats a value the client sent.
    #[serde(default)]
    #[schema(required = true)]
    pub message: String,
    /// Only with `wrong_activation_codes`: runs this address may still start for the card number;
    /// and with `wrong_pin`: wrong PINs the card may still take before the ATM refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub tries_left: Option<u32>,
    /// Only with `rate_limited` and `enrollment_tries_used_up`: seconds until a try comes back
    /// (also in the `Retry-After` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub retry_after_secs: Option<u64>,
}

impl ErrorDetail {
    /// A refusal with `code` and `message` and nothing else.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> ErrorDetail {
        ErrorDetail {
            code: code.into(),
            message: message.into(),
            tries_left: None,
            retry_after_secs: None,
        }
    }
}
