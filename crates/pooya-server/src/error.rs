//! The one place where refusals become HTTP: `{"error": {"code", "message"}}` with the status
//! API.md gives each code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pooya_issuer::domain::InvalidValue;
use pooya_issuer::IssuerError;
use pooya_wire::{ErrorBody, ErrorDetail};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `wrong_activation_codes`: runs left for the card number from this address.
    pub tries_left: Option<u32>,
    /// A limit's wait, in the error object and in `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            tries_left: None,
            retry_after_secs: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid key is required: Authorization: Bearer KEY",
        )
    }
    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this key's role may not call this endpoint",
        )
    }
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                tries_left: self.tries_left,
                retry_after_secs: self.retry_after_secs,
            },
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        // A limit's wait goes in `Retry-After` too (crate::limits).
        if let Some(secs) = self.retry_after_secs {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        r
    }
}

fn invalid_code(v: &InvalidValue) -> &'static str {
    match v {
        InvalidValue::Pan => "invalid_pan",
        InvalidValue::Mobile => "invalid_mobile",
        InvalidValue::CustomerId => "invalid_customer_id",
        InvalidValue::Expiry | InvalidValue::ExpiryPassed => "invalid_expiry",
        InvalidValue::Pin => "invalid_pin",
        InvalidValue::SecondPassword => "invalid_second_password",
        InvalidValue::TxnId => "invalid_txn_id",
        InvalidValue::Amount => "invalid_amount",
        InvalidValue::Merchant | InvalidValue::MerchantControl => "invalid_merchant",
        InvalidValue::Password => "invalid_password",
        InvalidValue::TxnType => "invalid_txn_type",
    }
}

impl From<InvalidValue> for ApiError {
    fn from(v: InvalidValue) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            invalid_code(&v),
            v.to_string(),
        )
    }
}

impl From<IssuerError> for ApiError {
    fn from(e: IssuerError) -> Self {
        use IssuerError as E;
        use StatusCode as S;
        let message = e.to_string();
        let (status, code) = match &e {
            E::Invalid(v) => return (*v).clone().into(),
            E::UnknownCard => (S::NOT_FOUND, "unknown_card"),
            E::UnknownCustomer => (S::NOT_FOUND, "unknown_customer"),
            E::AlreadyExists => (S::CONFLICT, "already_exists"),
            E::ExpiredCard => (S::FORBIDDEN, "expired_card"),
            E::WrongPin => (S::FORBIDDEN, "wrong_pin"),
            E::PinTriesExceeded => (S::FORBIDDEN, "pin_tries_exceeded"),
            E::PinLocked => (S::FORBIDDEN, "pin_locked"),
            E::MobileMismatch => (S::FORBIDDEN, "mobile_mismatch"),
            E::TxnConflict => (S::CONFLICT, "txn_conflict"),
            E::InvalidLifetime => (S::UNPROCESSABLE_ENTITY, "invalid_lifetime"),
            E::MalformedMessage => (S::BAD_REQUEST, "bad_request"),
            E::WrongActivationCodes { tries_left } => {
                let mut a = ApiError::new(S::FORBIDDEN, "wrong_activation_codes", message);
                a.tries_left = Some(*tries_left);
                return a;
            }
            E::EnrollmentTriesUsedUp { retry_after_secs } => {
                let mut a =
                    ApiError::new(S::TOO_MANY_REQUESTS, "enrollment_tries_used_up", message);
                a.retry_after_secs = Some(*retry_after_secs);
                return a;
            }
            E::UnknownEnrollment => (S::NOT_FOUND, "unknown_enrollment"),
            E::UnknownToken => (S::NOT_FOUND, "unknown_token"),
            E::ChallengeExpired => (S::GONE, "challenge_expired"),
            E::BadProof => (S::FORBIDDEN, "bad_proof"),
            E::UnknownShortNumber => (S::UNPROCESSABLE_ENTITY, "unknown_short_number"),
            E::SecondPasswordBlocked => (S::FORBIDDEN, "second_password_blocked"),
            E::Locked => (S::FORBIDDEN, "locked"),
            E::TxnAlreadyVerified => (S::CONFLICT, "txn_already_verified"),
            E::MerchantTooLong { .. } | E::MerchantUnsafe => {
                (S::UNPROCESSABLE_ENTITY, "invalid_merchant")
            }
            E::InvalidPskc(_) => (S::UNPROCESSABLE_ENTITY, "invalid_pskc"),
            E::Unavailable(why) => {
                tracing::warn!(%why, "store unavailable");
                metrics::counter!("pooya_store_errors_total").increment(1);
                (S::SERVICE_UNAVAILABLE, "store_unavailable")
            }
            E::Internal(why) => {
                tracing::error!(%why, "internal error");
                (S::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError::new(status, code, message)
    }
}
