//! The one place where refusals become HTTP: `{"error": {"code", "message"}}` with the status
//! docs/api.md gives each code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pooya_issuer::card::{AppRefusal, AtmRefusal, TxnRefusal};
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
            E::Atm(r) => match r {
                AtmRefusal::ExpiredCard => (S::FORBIDDEN, "expired_card"),
                AtmRefusal::WrongPin { tries_left } => {
                    let mut a = ApiError::new(S::FORBIDDEN, "wrong_pin", message);
                    a.tries_left = Some(*tries_left);
                    return a;
                }
                AtmRefusal::PinTriesExceeded => (S::FORBIDDEN, "pin_tries_exceeded"),
                AtmRefusal::PinLocked => (S::FORBIDDEN, "pin_locked"),
                AtmRefusal::MobileMismatch => (S::FORBIDDEN, "mobile_mismatch"),
            },
            E::Txn(r) => match r {
                TxnRefusal::SecondPasswordBlocked => (S::FORBIDDEN, "second_password_blocked"),
                TxnRefusal::Locked => (S::FORBIDDEN, "locked"),
                TxnRefusal::ExpiredCard => (S::FORBIDDEN, "expired_card"),
                TxnRefusal::TxnConflict => (S::CONFLICT, "txn_conflict"),
                TxnRefusal::AlreadyVerified => (S::CONFLICT, "txn_already_verified"),
            },
            E::App(r) => match r {
                AppRefusal::InvalidLifetime => (S::UNPROCESSABLE_ENTITY, "invalid_lifetime"),
                AppRefusal::MalformedMessage => (S::BAD_REQUEST, "bad_request"),
                AppRefusal::UnknownToken => (S::NOT_FOUND, "unknown_token"),
                AppRefusal::ChallengeExpired => (S::GONE, "challenge_expired"),
                AppRefusal::BadProof => (S::FORBIDDEN, "bad_proof"),
                AppRefusal::StaleStatusQuery => (S::UNPROCESSABLE_ENTITY, "stale_status_query"),
                // An enrollment's activation refusals are answered as the enrollment answers
                // them; the issuer never hands one out as it is.
                AppRefusal::NoPendingActivation
                | AppRefusal::ActivationExpired
                | AppRefusal::ActivationExhausted
                | AppRefusal::WrongActivationCodes => {
                    tracing::error!(refusal = ?r, "an enrollment refusal reached the edge");
                    return ApiError::new(S::INTERNAL_SERVER_ERROR, "internal", "internal error");
                }
            },
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
            E::UnknownShortNumber => (S::UNPROCESSABLE_ENTITY, "unknown_short_number"),
            E::MerchantTooLong { .. } | E::MerchantUnsafe => {
                (S::UNPROCESSABLE_ENTITY, "invalid_merchant")
            }
            E::InvalidPskc(_) => (S::UNPROCESSABLE_ENTITY, "invalid_pskc"),
            // The staff's operations (the console): no HTTP API answers these yet, but one
            // mapping, here, if one ever does.
            E::Staff(_) => (S::UNPROCESSABLE_ENTITY, "invalid_operator"),
            E::UnknownOperator => (S::NOT_FOUND, "unknown_operator"),
            E::SignIn(_) => (S::UNAUTHORIZED, "unauthenticated"),
            E::FourEyes(_) => (S::FORBIDDEN, "forbidden"),
            E::UnknownMobileChange => (S::NOT_FOUND, "unknown_mobile_change"),
            E::Contention => {
                // The store answers; the same card kept changing under this request. Still 503, so
                // a client that retries a 503 keeps working, with its own code and a short wait.
                tracing::warn!("commit contention: a request lost every race for its rows");
                metrics::counter!("pooya_commit_contention_total").increment(1);
                let mut a = ApiError::new(S::SERVICE_UNAVAILABLE, "contention", message);
                a.retry_after_secs = Some(1);
                return a;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_commit_race_is_503_contention_with_a_short_wait() {
        let e = ApiError::from(IssuerError::Contention);
        assert_eq!(
            (e.status, e.code),
            (StatusCode::SERVICE_UNAVAILABLE, "contention")
        );
        let r = e.into_response();
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "1");
        // An unavailable store keeps its own code.
        let e = ApiError::from(IssuerError::Unavailable("down".into()));
        assert_eq!(e.code, "store_unavailable");
        assert!(e.retry_after_secs.is_none());
    }

    #[test]
    fn the_card_refusals_keep_their_codes_and_messages() {
        for (e, status, code, message) in [
            (
                IssuerError::from(AtmRefusal::WrongPin { tries_left: 2 }),
                StatusCode::FORBIDDEN,
                "wrong_pin",
                "the PIN is wrong; tries left: 2",
            ),
            (
                IssuerError::from(TxnRefusal::ExpiredCard),
                StatusCode::FORBIDDEN,
                "expired_card",
                "the card has expired",
            ),
            (
                IssuerError::from(TxnRefusal::TxnConflict),
                StatusCode::CONFLICT,
                "txn_conflict",
                "this transaction id was already used with another kind, amount or merchant (or \
                 answered before an upgrade); a new transaction needs a new id",
            ),
            (
                IssuerError::from(AppRefusal::ChallengeExpired),
                StatusCode::GONE,
                "challenge_expired",
                "the removal challenge has expired",
            ),
            (
                IssuerError::from(AppRefusal::NoPendingActivation),
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            ),
        ] {
            let a = ApiError::from(e);
            assert_eq!(
                (a.status, a.code, a.message.as_str()),
                (status, code, message)
            );
        }
    }
}
