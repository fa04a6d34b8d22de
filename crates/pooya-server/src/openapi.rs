//! The OpenAPI 3.1 description of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations and the schemas of the `pooya_wire` types they take and return (the very types
//! they parse and answer with), served at `GET /v1/openapi.json`, with a plain HTML page at
//! `GET /docs` (built on the server from the same description: no script, nothing downloaded).
//! Neither needs a key. `/v1/test/clock` is described only by a server started with
//! `--unsafe-fake-clock`, the only one where it moves a clock.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use pooya_wire::{ErrorBody, ErrorDetail};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes;
use crate::state::AppState;

/// The security scheme every keyed endpoint names, with its role as the scope (OpenAPI 3.1 lets a
/// non-OAuth requirement list role names).
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pooya issuer API",
        description = "Version 1 of the contract (in prose: docs/api.md in the pooya repository). Refusals answer 4xx with \
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
        routes::app::token_status,
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

/// The path that exists only on a server with a fake clock.
const TEST_CLOCK: &str = "/v1/test/clock";

/// The description, built once for each kind of server: with `/v1/test/clock` where the server
/// has a fake clock (`fake_clock`), without it (and the schemas only it uses) elsewhere.
pub fn spec(fake_clock: bool) -> &'static utoipa::openapi::OpenApi {
    static WITH_CLOCK: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    static WITHOUT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    if fake_clock {
        WITH_CLOCK.get_or_init(ApiDoc::openapi)
    } else {
        WITHOUT.get_or_init(|| {
            let mut api = ApiDoc::openapi();
            api.paths.paths.remove(TEST_CLOCK);
            drop_unreferenced_schemas(&mut api);
            api
        })
    }
}

/// Removes the component schemas nothing refers to any more (directly or through another
/// schema that is referred to).
fn drop_unreferenced_schemas(api: &mut utoipa::openapi::OpenApi) {
    let Some(components) = api.components.as_mut() else {
        return;
    };
    let refs = |text: &str| -> Vec<String> {
        text.split("#/components/schemas/")
            .skip(1)
            .filter_map(|r| r.split('"').next())
            .map(str::to_owned)
            .collect()
    };
    let mut keep: Vec<String> = refs(&serde_json::to_string(&api.paths).unwrap_or_default());
    let mut i = 0;
    while i < keep.len() {
        if let Some(schema) = components.schemas.get(&keep[i]) {
            for name in refs(&serde_json::to_string(schema).unwrap_or_default()) {
                if !keep.contains(&name) {
                    keep.push(name);
                }
            }
        }
        i += 1;
    }
    components.schemas.retain(|name, _| keep.contains(name));
}

fn spec_json(fake_clock: bool) -> &'static str {
    static WITH_CLOCK: OnceLock<String> = OnceLock::new();
    static WITHOUT: OnceLock<String> = OnceLock::new();
    let json = if fake_clock { &WITH_CLOCK } else { &WITHOUT };
    json.get_or_init(|| {
        spec(fake_clock)
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
async fn openapi_json(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        spec_json(s.fake_clock.is_some()),
    )
}

/// A page listing every endpoint, its role and its answers, built from this description.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "public",
    responses((status = 200, description = "An HTML page", content_type = "text/html"))
)]
async fn docs(State(s): State<Arc<AppState>>) -> Html<&'static str> {
    static WITH_CLOCK: OnceLock<String> = OnceLock::new();
    static WITHOUT: OnceLock<String> = OnceLock::new();
    let fake_clock = s.fake_clock.is_some();
    let page = if fake_clock { &WITH_CLOCK } else { &WITHOUT };
    Html(page.get_or_init(|| docs_page(spec(fake_clock))))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_value(fake_clock: bool) -> serde_json::Value {
        serde_json::from_str(spec_json(fake_clock)).unwrap()
    }

    #[test]
    fn spec_builds_as_openapi_3_1() {
        for fake_clock in [false, true] {
            let v = spec_value(fake_clock);
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
            let text = spec_json(fake_clock);
            for name in text.split("#/components/schemas/").skip(1) {
                let name = name.split('"').next().unwrap();
                assert!(
                    v["components"]["schemas"][name].is_object(),
                    "{name} is referenced but not defined"
                );
            }
            let page = docs_page(spec(fake_clock));
            assert!(page.contains("<code>POST /v1/customers</code>"), "{page}");
        }
    }

    /// Issue 18: the tests' clock is described only where it exists.
    #[test]
    fn the_test_clock_is_described_only_with_a_fake_clock() {
        let with = spec_value(true);
        assert!(with["paths"][TEST_CLOCK]["post"].is_object());
        assert!(with["components"]["schemas"]["MoveClock"].is_object());
        let without = spec_value(false);
        assert!(without["paths"].get(TEST_CLOCK).is_none());
        assert!(!spec_json(false).contains("/v1/test/"));
        assert!(without["components"]["schemas"].get("MoveClock").is_none());
        // What other paths use stays.
        for name in ["Time", "ErrorBody", "ErrorDetail", "VerifyRequest", "Txn"] {
            assert!(without["components"]["schemas"][name].is_object(), "{name}");
        }
        assert!(!docs_page(spec(false)).contains("/v1/test/clock"));
    }

    /// The schemas are the wire types': a body the handlers answer with validates field by
    /// field (spot check; the black-box suite checks every endpoint's real answers).
    #[test]
    fn schemas_are_the_wire_types() {
        let v = spec_value(false);
        let card = &v["components"]["schemas"]["CardView"];
        let mut required: Vec<&str> = card["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        required.sort_unstable();
        assert_eq!(
            required,
            [
                "customer_id",
                "dynamic",
                "pan_masked",
                "pin_locked",
                "recent_failures",
                "second_password_blocked",
                "static_second_password"
            ]
        );
        let outbox = &v["components"]["schemas"]["OutboxSummary"];
        assert!(outbox["required"]
            .as_array()
            .unwrap()
            .contains(&"oldest_age_ms".into()));
        let detail = &v["components"]["schemas"]["ErrorDetail"];
        assert!(!detail["required"]
            .as_array()
            .unwrap()
            .contains(&"tries_left".into()));
    }

    /// The document a server without a fake clock serves is `docs/openapi.json`, committed: a
    /// change of any request or response type (a field renamed, removed, added or retyped), of a
    /// path or of a status shows there, in review, and fails here until the file is renewed:
    /// `POOYA_WRITE_OPENAPI=1 cargo test -p pooya-server --lib openapi` writes it.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let generated = format!("{}\n", spec_json(false));
        if std::env::var_os("POOYA_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is not the document the server generates: if the API changed on \
             purpose, renew it with POOYA_WRITE_OPENAPI=1 cargo test -p pooya-server --lib openapi"
        );
    }
}
