//! The card holder's web app at `/app/` (`pooya-web`'s files) and the CORS answers that let an
//! app served from elsewhere call this bank's `/v1/app/*` and `/v1/time` (`[web_app]`,
//! docs/configuration.md; the trust model in docs/web-app.md).
//!
//! The app's pages carry a strict Content-Security-Policy: scripts from this origin only, no
//! inline script, no `eval` (WebAssembly compiles under `'wasm-unsafe-eval'` alone), styles and
//! images from this origin, no framing.

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

/// `[web_app]`: the app at `/app/`, and the origins of apps served elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebAppSection {
    /// Serve the web app at `/app/` (default true).
    pub enabled: bool,
    /// Origins (`https://app.bank.example`) whose pages may call `/v1/app/*` and `/v1/time`
    /// from the browser (CORS). This server's own `/app/` needs none.
    pub cors_origins: Vec<String>,
}

impl Default for WebAppSection {
    fn default() -> Self {
        Self {
            enabled: true,
            cors_origins: Vec::new(),
        }
    }
}

impl WebAppSection {
    /// Every origin is `scheme://host[:port]`, nothing more.
    pub fn validate(&self) -> Result<(), String> {
        for o in &self.cors_origins {
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o.ends_with('/')
                && o.split("://")
                    .nth(1)
                    .is_some_and(|h| !h.is_empty() && !h.contains(['/', '?', '#', '@', '*', ' ']));
            if !ok {
                return Err(format!(
                    "[web_app] cors_origins: {o:?} is not an origin (scheme://host[:port], no \
                     path, no trailing slash)"
                ));
            }
        }
        Ok(())
    }
}

/// The policy of every page and file of the app.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' \
    'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; manifest-src 'self'; worker-src 'self'; \
    connect-src 'self' https: http://localhost:* http://127.0.0.1:* http://[::1]:*; \
    object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/app` and `/app/*`, when the app is on.
pub fn routes(section: &WebAppSection) -> Router {
    if !section.enabled {
        return Router::new();
    }
    Router::new()
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route("/app/", get(|| async { file("") }))
        .route(
            "/app/{*path}",
            get(|Path(p): Path<String>| async move { file(&p) }),
        )
}

fn file(path: &str) -> Response {
    let Some(a) = pooya_web::asset(path) else {
        return crate::error::ApiError::not_found().into_response();
    };
    let mut r = Response::new(Body::from(a.bytes));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The service worker keeps the app offline; the browser must see a new build at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Paths an app of another origin may call.
fn cors_path(path: &str) -> bool {
    path == "/v1/time" || path.starts_with("/v1/app/")
}

/// CORS for the listed origins on [`cors_path`]s: answers the preflight, and marks the answers.
/// Other origins get no CORS headers (the browser then keeps the answer from their page).
pub async fn cors(origins: std::sync::Arc<Vec<String>>, req: Request, next: Next) -> Response {
    let allowed = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| cors_path(req.uri().path()) && origins.iter().any(|a| a == o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let Some(origin) = allowed else {
        return next.run(req).await;
    };
    if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        mark(r.headers_mut(), origin);
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return r;
    }
    let mut r = next.run(req).await;
    mark(r.headers_mut(), origin);
    r
}

fn mark(h: &mut HeaderMap, origin: HeaderValue) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.append(header::VARY, HeaderValue::from_static("origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        let s = |o: &str| WebAppSection {
            enabled: true,
            cors_origins: vec![o.to_owned()],
        };
        assert!(s("https://app.bank.example").validate().is_ok());
        assert!(s("http://127.0.0.1:8080").validate().is_ok());
        assert!(s("https://app.bank.example/").validate().is_err());
        assert!(s("https://app.bank.example/app").validate().is_err());
        assert!(s("*").validate().is_err());
        assert!(s("ftp://x").validate().is_err());
    }

    #[test]
    fn the_app_is_embedded() {
        let wasm = pooya_web::asset("pooya_web_bg.wasm").expect("wasm");
        assert_eq!(wasm.content_type, "application/wasm");
        assert_eq!(&wasm.bytes[..4], b"\0asm");
        let index = pooya_web::asset("").expect("index");
        let text = std::str::from_utf8(index.bytes).unwrap();
        assert!(text.starts_with("<!doctype html>\n<html"));
        assert!(text.contains("<meta charset=\"utf-8\">"));
        // No inline script: every <script> has a src.
        assert_eq!(
            text.matches("<script").count(),
            text.matches("<script type=\"module\" src=").count()
        );
        assert!(pooya_web::asset("../Cargo.toml").is_none());
    }
}
