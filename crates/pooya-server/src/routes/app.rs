//! The authenticator app's own endpoints (no key): enrollment by SPAKE2 keyed by the two ATM codes
//! (R8, R16), and token removal by proof of the seed. Protocol: `pooya_enroll`'s module doc.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use pooya_enroll::{b64_decode, b64_encode};
use pooya_issuer::card::AppRefusal;
use pooya_issuer::domain::Pan;
use pooya_wire::app::{
    EnrollmentConfirm, EnrollmentParameters, EnrollmentStart, EnrollmentStarted, Removal,
    RemovalChallenge, Removed, TokenIssued, TokenStatus, TokenStatusQuery,
};
use pooya_wire::ErrorBody;

use crate::error::ApiError;
use crate::extract::Body;
use crate::netpolicy::ClientAddr;
use crate::state::AppState;

type St = State<Arc<AppState>>;

pub fn routes() -> axum::Router<Arc<AppState>> {
    Router::new()
        .route("/v1/app/enrollment-parameters", get(parameters))
        .route("/v1/app/enrollments", post(start))
        .route("/v1/app/enrollments/{enrollment_id}/confirm", post(confirm))
        .route(
            "/v1/app/tokens/{token_id}/removal-challenge",
            post(removal_challenge),
        )
        .route("/v1/app/tokens/{token_id}/removal", post(removal))
        .route("/v1/app/token-status", post(token_status))
}

fn bytes(field: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    if s.len() > 1024 {
        return Err(ApiError::bad_request(format!("`{field}` is too long")));
    }
    b64_decode(s).map_err(|_| ApiError::bad_request(format!("`{field}` is not base64url")))
}

/// Ids are ours: short, base32. Anything else cannot name one.
fn id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[utoipa::path(
    get,
    path = "/v1/app/enrollment-parameters",
    tag = "app",
    summary = "What the app checks before it sends anything that costs a try: the bank's code lengths (the same for every card)",
    responses(
        (status = 200, description = "The bank's parameters", body = EnrollmentParameters),
        (status = 403, description = "`network_not_allowed` (R18)", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry_after_secs`, and `Retry-After`): too many requests from this address", body = ErrorBody),
    )
)]
async fn parameters(State(s): St) -> Json<EnrollmentParameters> {
    let p = s.issuer.enrollment_parameters();
    Json(EnrollmentParameters {
        protocol: pooya_enroll::PROTOCOL.to_owned(),
        receipt_code_digits: p.receipt_code_digits,
        sms_code_digits: p.sms_code_digits,
        tries_per_address: p.tries_per_address,
    })
}

#[utoipa::path(
    post,
    path = "/v1/app/enrollments",
    tag = "app",
    summary = "Start enrolling the app (R8, R16): SPAKE2 keyed by the two ATM codes. Every well-formed start gets a run, whatever the card: only the confirmation tells, and only to the holder of the codes",
    request_body = EnrollmentStart,
    responses(
        (status = 201, description = "The server's SPAKE2 message and key confirmation; `tries_left`: runs this address may still start for this card number", body = EnrollmentStarted),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type; `bad_request`: a field is not base64url or the SPAKE2 message is malformed (counts nowhere)", body = ErrorBody),
        (status = 403, description = "`network_not_allowed` (R18)", body = ErrorBody),
        (status = 422, description = "`invalid_pan`; `invalid_lifetime`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry_after_secs`, and `Retry-After`): too many requests from this address, or too many starts for this card from this address; `enrollment_tries_used_up` (with `retry_after_secs`, and `Retry-After`): this address's runs for this card number are used up", body = ErrorBody),
    )
)]
async fn start(
    State(s): St,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    Body(b): Body<EnrollmentStart>,
) -> Result<(StatusCode, Json<EnrollmentStarted>), ApiError> {
    // Everything that can be refused for the request alone is, before anything is counted.
    let pan = Pan::parse(&b.pan)?;
    let msg = bytes("spake_msg", &b.spake_msg)?;
    pooya_enroll::check_client_msg(&msg)
        .map_err(|_| ApiError::bad_request("`spake_msg` is not a SPAKE2 message of the app"))?;
    if s.issuer
        .policy()
        .enrollment_lifetime(b.lifetime_secs)
        .is_none()
    {
        return Err(pooya_issuer::IssuerError::from(AppRefusal::InvalidLifetime).into());
    }
    let client = crate::limits::address_bucket(client);
    s.limits.enrollment_start(&pan, client)?;
    let r = s
        .issuer
        .enroll_start(&pan, client, &msg, b.lifetime_secs)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentStarted {
            spake_msg: b64_encode(&r.reply.msg),
            confirm: b64_encode(&r.reply.confirm),
            enrollment_id: r.reply.enrollment_id,
            tries_left: r.tries_left,
        }),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/app/enrollments/{enrollment_id}/confirm",
    tag = "app",
    summary = "Confirm the enrollment: the token is issued, its description MACed under the run's key",
    request_body = EnrollmentConfirm,
    params(
        ("enrollment_id" = String, Path, description = "From the start of the enrollment"),
    ),
    responses(
        (status = 200, description = "The new token, and `mac` over it (pooya-enroll's `IssuedToken::mac`)", body = TokenIssued),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type; `bad_request`: `confirm` is not base64url", body = ErrorBody),
        (status = 403, description = "`wrong_activation_codes` (with `tries_left`): the codes are wrong, or no activation is waiting for the card (alike: no such card, none made, expired, used up); `network_not_allowed` (R18)", body = ErrorBody),
        (status = 404, description = "`unknown_enrollment`: no such run, it has run out, or it was answered already", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry_after_secs`, and `Retry-After`): too many requests from this address", body = ErrorBody),
    )
)]
async fn confirm(
    State(s): St,
    Path(id): Path<String>,
    Body(b): Body<EnrollmentConfirm>,
) -> Result<Json<TokenIssued>, ApiError> {
    let c = bytes("confirm", &b.confirm)?;
    if !id_ok(&id) {
        return Err(pooya_issuer::IssuerError::UnknownEnrollment.into());
    }
    let issued = s.issuer.enroll_confirm(&id, &c).await?;
    let mac = b64_encode(&issued.mac);
    let t = issued.token;
    Ok(Json(TokenIssued {
        token_id: t.token_id,
        pan_masked: t.pan_masked,
        bank_name: t.bank_name,
        lifetime_secs: t.lifetime_secs,
        algorithm: t.algorithm,
        first_digits: t.first_digits,
        second_digits: t.second_digits,
        server_unix_ms: t.server_unix_ms,
        mac,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/app/tokens/{token_id}/removal-challenge",
    tag = "app",
    summary = "A nonce to prove the seed with, to remove the token",
    params(
        ("token_id" = String, Path, description = "The token"),
    ),
    responses(
        (status = 200, description = "The nonce", body = RemovalChallenge),
        (status = 403, description = "`network_not_allowed` (R18)", body = ErrorBody),
        (status = 404, description = "`unknown_token`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry_after_secs`, and `Retry-After`): too many requests from this address", body = ErrorBody),
    )
)]
async fn removal_challenge(
    State(s): St,
    Path(id): Path<String>,
) -> Result<Json<RemovalChallenge>, ApiError> {
    if !id_ok(&id) {
        return Err(pooya_issuer::IssuerError::from(AppRefusal::UnknownToken).into());
    }
    let c = s.issuer.removal_challenge(&id).await?;
    Ok(Json(RemovalChallenge {
        nonce: b64_encode(&c.nonce),
        expires_at: super::rfc3339(c.expires_at),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/app/tokens/{token_id}/removal",
    tag = "app",
    summary = "Remove the token by proof of its seed",
    request_body = Removal,
    params(
        ("token_id" = String, Path, description = "The token"),
    ),
    responses(
        (status = 200, description = "Removed", body = Removed),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type; `bad_request`: a field is not base64url", body = ErrorBody),
        (status = 403, description = "`bad_proof`; `network_not_allowed` (R18)", body = ErrorBody),
        (status = 404, description = "`unknown_token`", body = ErrorBody),
        (status = 410, description = "`challenge_expired`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry_after_secs`, and `Retry-After`): too many requests from this address", body = ErrorBody),
    )
)]
async fn removal(
    State(s): St,
    Path(id): Path<String>,
    Body(b): Body<Removal>,
) -> Result<Json<Removed>, ApiError> {
    let nonce = bytes("nonce", &b.nonce)?;
    let proof = bytes("proof", &b.proof)?;
    if !id_ok(&id) {
        return Err(pooya_issuer::IssuerError::from(AppRefusal::UnknownToken).into());
    }
    s.issuer.remove_token(&id, &nonce, &proof).await?;
    Ok(Json(Removed { removed: true }))
}

#[utoipa::path(
    post,
    path = "/v1/app/token-status",
    tag = "app",
    summary = "Whether an app token is still in force, proven by its seed: false alike for a token replaced, removed, locked or never issued and for a wrong proof",
    request_body = TokenStatusQuery,
    responses(
        (status = 200, description = "`in_force`", body = TokenStatus),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field or a field of the wrong type; `bad_request`: `proof` is not base64url", body = ErrorBody),
        (status = 403, description = "`network_not_allowed` (R18)", body = ErrorBody),
        (status = 422, description = "`stale_status_query`: `at_ms` more than 300 s from the server's clock", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `retry_after_secs`, and `Retry-After`): too many requests from this address", body = ErrorBody),
    )
)]
async fn token_status(
    State(s): St,
    Body(b): Body<TokenStatusQuery>,
) -> Result<Json<TokenStatus>, ApiError> {
    let proof = bytes("proof", &b.proof)?;
    // An id that is none of ours names no token: the same answer, without a lookup.
    let in_force =
        id_ok(&b.token_id) && s.issuer.token_status(&b.token_id, b.at_ms, &proof).await?;
    Ok(Json(TokenStatus { in_force }))
}
