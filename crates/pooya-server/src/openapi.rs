//! The OpenAPI 3.1 description of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations, served at `GET /v1/openapi.json`, with a plain HTML page at `GET /docs` (built on
//! the server from the same description: no script, nothing downloaded). Neither needs a key.
//!
//! The response types here describe the JSON the handlers build with `json!`; the handlers keep
//! building it themselves, so these types are never constructed.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes;
use crate::state::AppState;

/// The security scheme every keyed endpoint names, with its role as the scope (OpenAPI 3.1 lets a
/// non-OAuth requirement list role names).
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pooya issuer API",
        description = "Version 1 of the contract in design/API.md. Refusals answer 4xx with \
            `{\"error\": {\"code\", \"message\"}}`. Keyed endpoints take `Authorization: Bearer \
            KEY`; a key has one role (admin, branch, atm, sms, switch): no or an unknown key is \
            401 `unauthenticated`, a key of another role 403 `forbidden`.",
        license(name = "see the repository")
    ),
    paths(
        routes::branch::create_customer,
        routes::branch::change_mobile,
        routes::branch::create_card,
        routes::branch::card,
        routes::branch::unblock,
        routes::branch::unlock_pin,
        routes::atm::activate_app,
        routes::atm::activate_sms,
        routes::atm::deactivate,
        routes::atm::block_second,
        routes::sms::inbound,
        routes::switch::verify,
        routes::switch::otp_request,
        routes::admin::outbox,
        routes::admin::import_pskc,
        routes::app::parameters,
        routes::app::start,
        routes::app::confirm,
        routes::app::removal_challenge,
        routes::app::removal,
        routes::public::time,
        routes::public::health,
        routes::public::move_clock,
        openapi_json,
        docs,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Common),
    tags(
        (name = "branch", description = "Role `branch`: in-person registration"),
        (name = "atm", description = "Role `atm`: the holder at an ATM, card inserted"),
        (name = "sms", description = "Role `sms`: messages the bank's short number receives"),
        (name = "switch", description = "Role `switch`: transactions"),
        (name = "admin", description = "Role `admin`: administration"),
        (name = "app", description = "The authenticator app (no key)"),
        (name = "public", description = "No key"),
    )
)]
pub struct ApiDoc;

/// Adds the bearer scheme, and to every operation the answers any handler may give: 413 where
/// there is a body, 500 `internal` and 503 `store_unavailable` where the store is asked.
struct Common;

impl Modify for Common {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        let error = |desc: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(desc)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "ErrorBody",
                            ))))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in api.paths.paths.iter_mut() {
            let no_store = matches!(path.as_str(), "/v1/time" | "/v1/openapi.json" | "/docs");
            for op in operations(item) {
                let r = &mut op.responses.responses;
                if op.request_body.is_some() {
                    r.entry("413".into()).or_insert_with(|| {
                        error("`payload_too_large`: the body is larger than the server accepts")
                    });
                }
                if !no_store && path != "/v1/health" {
                    r.entry("500".into())
                        .or_insert_with(|| error("`internal`: an internal error"));
                }
                if !no_store {
                    r.entry("503".into())
                        .or_insert_with(|| error("`store_unavailable`: the store does not answer"));
                }
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The description, built once.
pub fn spec() -> &'static utoipa::openapi::OpenApi {
    static SPEC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    SPEC.get_or_init(ApiDoc::openapi)
}

fn spec_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        spec()
            .to_pretty_json()
            .expect("the OpenAPI description serializes")
    })
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
}

/// This description.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "public",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API", content_type = "application/json"))
)]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], spec_json())
}

/// A page listing every endpoint, its role and its answers, built from this description.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "public",
    responses((status = 200, description = "An HTML page", content_type = "text/html"))
)]
async fn docs() -> Html<&'static str> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(|| docs_page(spec())))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders `api` as one HTML table: method and path, summary, roles, answers.
pub fn docs_page(api: &utoipa::openapi::OpenApi) -> String {
    let mut h = String::new();
    let title = esc(&api.info.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}}\
         code{{white-space:nowrap}}</style></head><body>\n<h1>{title} {}</h1>\n",
        esc(&api.info.version)
    );
    if let Some(d) = &api.info.description {
        let _ = writeln!(h, "<p>{}</p>", esc(d));
    }
    let _ = writeln!(
        h,
        "<p>Machine-readable: <a href=\"/v1/openapi.json\">/v1/openapi.json</a> (OpenAPI {}).</p>",
        esc(serde_json::to_value(&api.openapi)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref()
            .unwrap_or("3.1"))
    );
    h.push_str(
        "<table><thead><tr><th>method and path</th><th>what</th><th>key role</th>\
         <th>answers</th></tr></thead><tbody>\n",
    );
    for (path, item) in &api.paths.paths {
        let methods = [
            ("GET", item.get.as_ref()),
            ("PUT", item.put.as_ref()),
            ("POST", item.post.as_ref()),
            ("DELETE", item.delete.as_ref()),
            ("PATCH", item.patch.as_ref()),
        ];
        for (method, op) in methods {
            let Some(op) = op else { continue };
            let what = op
                .summary
                .as_deref()
                .or(op.description.as_deref())
                .unwrap_or("");
            let roles: Vec<String> = op
                .security
                .iter()
                .flatten()
                .filter_map(|s| serde_json::to_value(s).ok())
                .filter_map(|v| v.get(BEARER).cloned())
                .filter_map(|v| serde_json::from_value::<Vec<String>>(v).ok())
                .flatten()
                .collect();
            let roles = if roles.is_empty() {
                "none".to_owned()
            } else {
                roles.join(", ")
            };
            let mut answers = String::new();
            for (status, resp) in &op.responses.responses {
                let desc = match resp {
                    RefOr::T(r) => r.description.as_str(),
                    RefOr::Ref(_) => "",
                };
                let _ = write!(answers, "<b>{}</b> {}<br>", esc(status), esc(desc));
            }
            let _ = writeln!(
                h,
                "<tr><td><code>{method} {}</code></td><td>{}</td><td>{}</td><td>{answers}</td></tr>",
                esc(path),
                esc(what),
                esc(&roles)
            );
        }
    }
    h.push_str("</tbody></table>\n</body></html>\n");
    h
}

// What the endpoints answer (schemas only).

/// Every refusal: `{"error": {"code", "message"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A snake_case code, e.g. `bad_request`, `unauthenticated`, `invalid_pan`.
    pub code: String,
    /// Human text.
    pub message: String,
    /// Only with `wrong_activation_codes`: tries left before the activation dies.
    #[schema(required = false)]
    pub tries_left: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Customer {
    pub customer_id: String,
    /// Always in the form `09121234567`.
    pub mobile: String,
}

#[derive(Serialize, ToSchema)]
pub struct MobileChanged {
    pub mobile: String,
    /// App tokens revoked by the change (R12).
    pub revoked_tokens: u64,
}

#[derive(Serialize, ToSchema)]
pub struct CardCreated {
    /// The first 6 and last 4 digits.
    pub pan_masked: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicMode {
    None,
    App,
    Sms,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicState {
    Inactive,
    Pending,
    Active,
    Locked,
}

#[derive(Serialize, ToSchema)]
pub struct Dynamic {
    pub mode: DynamicMode,
    pub state: DynamicState,
}

#[derive(Serialize, ToSchema)]
pub struct CardView {
    pub pan_masked: String,
    pub customer_id: String,
    pub dynamic: Dynamic,
    pub second_password_blocked: bool,
    pub recent_failures: u64,
    /// Too many wrong first passwords and ATM PINs: only a branch unlocks it.
    pub pin_locked: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SecondPasswordStatus {
    pub second_password_blocked: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PinStatus {
    pub pin_locked: bool,
}

#[derive(Serialize, ToSchema)]
pub struct AppActivation {
    /// The code printed on the receipt (the other one goes by SMS to the registered mobile).
    pub receipt_code: String,
    /// RFC 3339.
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SmsActivation {
    /// 4 digits.
    pub fixed_part: String,
    pub receipt_text: String,
}

#[derive(Serialize, ToSchema)]
pub struct Deactivated {
    /// Always `{"mode": "none", "state": "inactive"}`.
    pub dynamic: Dynamic,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub accepted: bool,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResult {
    pub approved: bool,
    /// ISO 8583 field 39: `00`, `14`, `54`, `55`, `57` or `75`.
    pub response_code: String,
    /// `approved`, `unknown_card`, `expired_card`, `wrong_password`, `replayed`,
    /// `expired_password`, `static_password_disabled`, `wrong_transaction`,
    /// `second_password_blocked` or `locked`.
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct OtpAccepted {
    pub accepted: bool,
    /// False when the same request came again within the interval and the code already sent
    /// stands.
    pub queued: bool,
    /// When the transaction's code dies, RFC 3339.
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxSummary {
    pub queued: i64,
    /// Null when none is queued.
    pub oldest_age_ms: Option<i64>,
    pub retrying: i64,
    pub failed_attempts: i64,
    /// Given up: their code expired before they could leave.
    pub given_up: i64,
    /// Refused, never sent: their sealed body did not open for their id and recipient (the row
    /// was altered).
    pub refused: i64,
    pub sent: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PskcImported {
    /// Keys imported.
    pub imported: u64,
}

#[derive(Serialize, ToSchema)]
pub struct EnrollmentParameters {
    /// `pooya-enroll-v2`.
    pub protocol: String,
    /// Digits of the receipt code the ATM prints.
    pub receipt_code_digits: u8,
    /// Digits of the code the SMS brings.
    pub sms_code_digits: u8,
    /// Enrollment runs one address may start for one card number within an activation's life.
    pub tries_per_address: u32,
}

#[derive(Serialize, ToSchema)]
pub struct EnrollmentStarted {
    pub enrollment_id: String,
    /// The server's SPAKE2 message, base64url.
    pub spake_msg: String,
    /// The server's key confirmation, base64url.
    pub confirm: String,
    /// Runs this address may still start for this card number.
    pub tries_left: u32,
}

#[derive(Serialize, ToSchema)]
pub struct TokenIssued {
    pub token_id: String,
    pub pan_masked: String,
    pub bank_name: String,
    pub lifetime_secs: u32,
    pub algorithm: String,
    pub first_digits: u8,
    pub second_digits: u8,
    pub server_unix_ms: i64,
    /// HMAC-SHA256 of the fields above under a key of the run (pooya-enroll's `IssuedToken`),
    /// base64url: the app keeps the token only if it checks out.
    pub mac: String,
}

#[derive(Serialize, ToSchema)]
pub struct RemovalChallenge {
    /// base64url.
    pub nonce: String,
    /// RFC 3339.
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct Removed {
    pub removed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Time {
    pub unix_ms: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (with `error`) when the store does not answer.
    pub status: String,
    #[schema(required = false)]
    pub error: Option<ErrorDetail>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_builds_as_openapi_3_1() {
        let v: serde_json::Value = serde_json::from_str(spec_json()).unwrap();
        assert!(v["openapi"].as_str().unwrap().starts_with("3.1."), "{v}");
        let paths = v["paths"].as_object().unwrap();
        for p in [
            "/v1/customers",
            "/v1/cards/{pan}",
            "/v1/verify",
            "/v1/app/enrollments",
            "/v1/openapi.json",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert_eq!(
            v["paths"]["/v1/customers"]["post"]["security"][0]["bearer"][0],
            "branch"
        );
        assert!(v["paths"]["/v1/sms/inbound"]["post"]["responses"]["202"].is_object());
        // Every schema a path refers to is defined.
        let text = spec_json();
        for name in text.split("#/components/schemas/").skip(1) {
            let name = name.split('"').next().unwrap();
            assert!(
                v["components"]["schemas"][name].is_object(),
                "{name} is referenced but not defined"
            );
        }
        let page = docs_page(spec());
        assert!(page.contains("<code>POST /v1/customers</code>"), "{page}");
    }
}
