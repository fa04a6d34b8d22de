//! The OpenAPI description the server serves at `/v1/openapi.json` covers the contract: every
//! method and path `design/API.md` names, with every status it names for it. And `/docs` is a page.

use crate::common::*;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The contract, read at test time. In CI a copy of `shared/` sits beside the clone, as here.
const API_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/design/API.md");

/// The statuses API.md names for each endpoint (its tables and the text around them: the
/// creations' 201, the 202s, the 401/403 of every keyed endpoint, 400 for a bad body, 404 for an
/// unknown card or customer, 409 for a duplicate or a `txn_conflict`, 422 for an invalid value).
const STATUSES: &[(&str, &str, &[u16])] = &[
    ("POST", "/v1/customers", &[201, 400, 401, 403, 409, 422]),
    (
        "PUT",
        "/v1/customers/{customer_id}/mobile",
        &[200, 400, 401, 403, 404, 422],
    ),
    ("POST", "/v1/cards", &[201, 400, 401, 403, 404, 409, 422]),
    ("GET", "/v1/cards/{pan}", &[200, 401, 403, 404, 422]),
    (
        "POST",
        "/v1/cards/{pan}/second-password/unblock",
        &[200, 401, 403, 404, 422],
    ),
    (
        "POST",
        "/v1/atm/activate-app",
        &[200, 400, 401, 403, 404, 422],
    ),
    (
        "POST",
        "/v1/atm/activate-sms",
        &[200, 400, 401, 403, 404, 422],
    ),
    (
        "POST",
        "/v1/atm/deactivate",
        &[200, 400, 401, 403, 404, 422],
    ),
    (
        "POST",
        "/v1/atm/block-second-password",
        &[200, 400, 401, 403, 404, 422],
    ),
    ("POST", "/v1/sms/inbound", &[202, 400, 401, 403, 422]),
    ("POST", "/v1/verify", &[200, 400, 401, 403, 409, 422]),
    ("POST", "/v1/otp-requests", &[202, 400, 401, 403, 404, 422]),
    ("POST", "/v1/admin/pskc", &[200, 400, 401, 403, 422]),
    ("GET", "/v1/time", &[200]),
    ("GET", "/v1/health", &[200]),
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Every `METHOD /v1/…` API.md names in code spans: its tables' first column and its text.
fn contract_endpoints(md: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (i, span) in md.split('`').enumerate() {
        if i % 2 == 0 {
            continue; // outside a code span
        }
        let mut words = span.split_whitespace();
        let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        if METHODS.contains(&method) && path.starts_with("/v1/") {
            out.insert((method.to_owned(), path.to_owned()));
        }
    }
    out
}

fn read_contract() -> String {
    std::fs::read_to_string(API_MD).unwrap_or_else(|e| {
        panic!(
            "the contract must be readable at {API_MD} (shared/design/API.md beside the \
             workspace; in CI a copy of shared/ sits beside the clone): {e}"
        )
    })
}

#[test]
fn the_contract_parses_and_every_endpoint_has_its_statuses_listed() {
    let md = read_contract();
    let found = contract_endpoints(&md);
    // The tables alone hold 13 rows; a parser finding fewer is broken, not the contract.
    assert!(found.len() >= 15, "too few endpoints parsed: {found:?}");
    let listed: BTreeSet<(String, String)> = STATUSES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let unlisted: Vec<_> = found.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "API.md names endpoints this test lists no statuses for: {unlisted:?}"
    );
    let gone: Vec<_> = listed.difference(&found).collect();
    assert!(
        gone.is_empty(),
        "this test lists endpoints API.md no longer names: {gone:?}"
    );
}

#[tokio::test]
async fn openapi_covers_every_path_method_and_status_of_the_contract() {
    let md = read_contract();
    let srv = TestServer::start().await;

    let resp = srv
        .http
        .get(format!("{}/v1/openapi.json", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    let spec: Value = resp.json().await.unwrap();
    let version = spec["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3.1."),
        "OpenAPI {version:?}, not 3.1.x"
    );
    let paths = spec["paths"].as_object().expect("paths");

    let statuses: BTreeMap<(String, String), &[u16]> = STATUSES
        .iter()
        .map(|(m, p, s)| ((m.to_string(), p.to_string()), *s))
        .collect();
    let mut missing = Vec::new();
    for (method, path) in contract_endpoints(&md) {
        let op = &spec["paths"][&path][method.to_lowercase()];
        if !op.is_object() {
            missing.push(format!("{method} {path} (known paths: {:?})", paths.keys()));
            continue;
        }
        let want = statuses
            .get(&(method.clone(), path.clone()))
            .unwrap_or_else(|| panic!("no statuses listed for {method} {path}"));
        for status in *want {
            if !op["responses"][status.to_string()].is_object() {
                missing.push(format!("{method} {path} {status}"));
            }
        }
        // Keyed endpoints name their role.
        if !matches!(path.as_str(), "/v1/time" | "/v1/health") {
            assert!(
                op["security"][0]["bearer"][0].is_string(),
                "{method} {path} names no bearer role: {op}"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "not in /v1/openapi.json:\n{}",
        missing.join("\n")
    );

    // Every schema referred to is defined.
    let text = spec.to_string();
    for r in text.split("\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "schema {name} referred to but not defined"
        );
    }
}

#[tokio::test]
async fn docs_page_is_html_without_a_key() {
    let srv = TestServer::start().await;
    let resp = srv
        .http
        .get(format!("{}/docs", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
    let page = resp.text().await.unwrap();
    assert!(page.contains("/v1/openapi.json"), "{page}");
    assert!(page.contains("<code>POST /v1/verify</code>"), "{page}");
}
