//! Request extractors that answer in the API's error shape: JSON bodies (any content type, at most
//! the configured size) and bearer keys of a given role.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use pooya_issuer::domain::Role;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body. Malformed JSON, a missing field or a field of the wrong type: 400 `bad_request`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is larger than the server accepts",
                    )
                } else {
                    ApiError::bad_request("the request body could not be read")
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError::bad_request(json_error_message(&e)))
    }
}

pub trait RoleMarker: Send + Sync + 'static {
    const ROLE: Role;
}

macro_rules! role_marker {
    ($name:ident, $role:expr) => {
        pub struct $name;
        impl RoleMarker for $name {
            const ROLE: Role = $role;
        }
    };
}
role_marker!(AdminRole, Role::Admin);
role_marker!(BranchRole, Role::Branch);
role_marker!(AtmRole, Role::Atm);
role_marker!(SmsRole, Role::Sms);
role_marker!(SwitchRole, Role::Switch);

/// The caller holds a key of role `R`: else 401 (no or unknown key) or 403 (another role).
pub struct Authorized<R: RoleMarker> {
    /// The key's label: who the audit trail names for a machine's call.
    pub label: Arc<str>,
    role: PhantomData<R>,
}

impl<R: RoleMarker> Authorized<R> {
    /// The caller as the audit trail names it.
    pub fn actor(&self) -> pooya_issuer::audit::Actor {
        pooya_issuer::audit::Actor::Channel {
            label: self.label.to_string(),
        }
    }
}

impl<R: RoleMarker> FromRequestParts<Arc<AppState>> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_key)
            .ok_or_else(ApiError::unauthenticated)?;
        let (role, label) = state
            .keys
            .role_of(key)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(ApiError::unauthenticated)?;
        // mTLS: a role given a client CA needs a certificate from it, whatever the endpoint.
        state
            .client_certs
            .check(role, parts.extensions.get::<crate::tls::PeerCertificates>())?;
        if role == R::ROLE {
            Ok(Authorized {
                label,
                role: PhantomData,
            })
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// The key of an `Authorization: Bearer KEY` header. The scheme's name is case-insensitive
/// (RFC 7235 §2.1: `bearer KEY` is the same), and spaces may separate it from the key.
fn bearer_key(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// What was wrong with a body, without repeating any value the client sent: serde's own text
/// quotes the offending value, which may be a PAN or a password.
fn json_error_message(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        Category::Data if text.starts_with("missing field") => {
            let field = text.split(" at line").next().unwrap_or("missing field");
            format!("the body is not the expected JSON: {field}")
        }
        Category::Data => {
            format!("the body is not the expected JSON: a field has the wrong type or value ({at})")
        }
        Category::Syntax | Category::Eof => format!("the body is not valid JSON ({at})"),
        Category::Io => "the request body could not be read".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for h in [
            "Bearer k1",
            "bearer k1",
            "BEARER k1",
            "bEaReR   k1 ",
            " Bearer k1",
        ] {
            assert_eq!(bearer_key(h), Some("k1"), "{h:?}");
        }
        for h in ["Bearer", "Bearer ", "Basic k1", "Bearerk1", "Token k1", ""] {
            assert_eq!(bearer_key(h), None, "{h:?}");
        }
    }

    #[test]
    fn json_errors_never_quote_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            pan: String,
        }
        let e = serde_json::from_str::<T>(r#"{"pan": 6280231234567898}"#).unwrap_err();
        let m = json_error_message(&e);
        assert!(!m.contains("6280231234567898"), "{m}");
        let e = serde_json::from_str::<T>("{}").unwrap_err();
        assert_eq!(
            json_error_message(&e),
            "the body is not the expected JSON: missing field `pan`"
        );
        let e = serde_json::from_str::<T>("{").unwrap_err();
        assert!(json_error_message(&e).starts_with("the body is not valid JSON"));
    }
}
