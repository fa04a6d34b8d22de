//! The OpenAPI description the server serves at `/v1/openapi.json` and the contract written in
//! `docs/api.md` agree: the table "Every endpoint's statuses" there names the same endpoints, each
//! with the same role and the same statuses, as the description (both ways). The endpoints version
//! 1 of the contract fixed must stay in that table. And `/docs` is a page.

use crate::common::*;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The repository's contract, read at test time.
const API_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");

/// The heading of the table this test reads.
const STATUS_TABLE: &str = "## Every endpoint's statuses";

/// Statuses any endpoint may answer that the table leaves to its preamble: 500, 503, and 413 for
/// a body too large.
const COMMON: &[u16] = &[413, 500, 503];

/// The endpoints version 1 of the contract fixed: none may leave the table (a removal needs a new
/// version prefix).
const VERSION_1: &[(&str, &str)] = &[
    ("POST", "/v1/customers"),
    ("PUT", "/v1/customers/{customer_id}/mobile"),
    ("POST", "/v1/cards"),
    ("GET", "/v1/cards/{pan}"),
    ("POST", "/v1/cards/{pan}/second-password/unblock"),
    ("POST", "/v1/atm/activate-app"),
    ("POST", "/v1/atm/activate-sms"),
    ("POST", "/v1/atm/deactivate"),
    ("POST", "/v1/atm/block-second-password"),
    ("POST", "/v1/sms/inbound"),
    ("POST", "/v1/verify"),
    ("POST", "/v1/otp-requests"),
    ("POST", "/v1/admin/pskc"),
    ("GET", "/v1/time"),
    ("GET", "/v1/health"),
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

type Endpoint = (String, String);

/// One row of the table: the role (`none` for no key) and the statuses.
#[derive(Debug, PartialEq)]
struct Row {
    role: String,
    statuses: BTreeSet<u16>,
}

/// `METHOD /path` in a code span, or None.
fn endpoint(span: &str) -> Option<Endpoint> {
    let mut words = span.split_whitespace();
    let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
        return None;
    };
    (METHODS.contains(&method) && path.starts_with('/'))
        .then(|| (method.to_owned(), path.to_owned()))
}

/// Every `METHOD /v1/…` the page names in code spans: its tables' first columns and its text.
fn named_endpoints(md: &str) -> BTreeSet<Endpoint> {
    md.split('`')
        .skip(1)
        .step_by(2) // inside code spans only
        .filter_map(endpoint)
        .filter(|(_, path)| path.starts_with("/v1/"))
        .collect()
}

/// The table under [`STATUS_TABLE`]: `| `METHOD /path` | role | 200, 400, … |`.
fn status_table(md: &str) -> BTreeMap<Endpoint, Row> {
    let section = md
        .split_once(STATUS_TABLE)
        .unwrap_or_else(|| panic!("docs/api.md has no section {STATUS_TABLE:?}"))
        .1;
    let section = section.split("\n## ").next().unwrap();
    let mut out = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [first, role, statuses] = cells[..] else {
            panic!("a row of three cells expected: {line}");
        };
        let ep = endpoint(first.trim_matches('`')).unwrap_or_else(|| panic!("bad row: {line}"));
        let statuses = statuses
            .split(',')
            .map(|s| s.trim().parse().unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect();
        let row = Row {
            role: role.to_owned(),
            statuses,
        };
        assert!(out.insert(ep, row).is_none(), "a row twice: {line}");
    }
    out
}

fn read_contract() -> String {
    std::fs::read_to_string(API_MD).unwrap_or_else(|e| panic!("{API_MD}: {e}"))
}

#[test]
fn the_contract_page_parses_and_names_every_endpoint_in_its_status_table() {
    let md = read_contract();
    let table = status_table(&md);
    assert!(table.len() >= 25, "too few rows parsed: {table:?}");
    for (m, p) in VERSION_1 {
        assert!(
            table.contains_key(&(m.to_string(), p.to_string())),
            "{m} {p}, of version 1 of the contract, is not in the table"
        );
    }
    let named = named_endpoints(&md);
    let unlisted: Vec<_> = named.iter().filter(|e| !table.contains_key(*e)).collect();
    assert!(
        unlisted.is_empty(),
        "docs/api.md names endpoints its status table lacks: {unlisted:?}"
    );
    // A leak of the parser (a row of the wrong shape read as a row) would show here.
    for (ep, row) in &table {
        assert!(
            ["none", "admin", "branch", "atm", "sms", "switch"].contains(&row.role.as_str()),
            "{ep:?}: role {:?}",
            row.role
        );
        assert!(
            row.statuses.iter().all(|s| (200..600).contains(s)),
            "{ep:?}"
        );
    }
}

#[tokio::test]
async fn openapi_and_the_contract_page_name_the_same_endpoints_roles_and_statuses() {
    let table = status_table(&read_contract());
    // With the fake clock, as the table names `/v1/test/clock`.
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

    let mut described = BTreeMap::new();
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().unwrap() {
            let role = op["security"][0]["bearer"][0]
                .as_str()
                .unwrap_or("none")
                .to_owned();
            let statuses: BTreeSet<u16> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse().unwrap())
                .filter(|s| !COMMON.contains(s))
                .collect();
            described.insert(
                (method.to_uppercase(), path.clone()),
                Row { role, statuses },
            );
        }
    }
    let mut differences = Vec::new();
    for (ep, row) in &table {
        match described.get(ep) {
            None => differences.push(format!("{ep:?} is in docs/api.md, not in OpenAPI")),
            Some(d) if d != row => {
                differences.push(format!("{ep:?}: docs/api.md {row:?}, OpenAPI {d:?}"))
            }
            Some(_) => {}
        }
    }
    for ep in described.keys().filter(|e| !table.contains_key(*e)) {
        differences.push(format!("{ep:?} is in OpenAPI, not in docs/api.md"));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));

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
