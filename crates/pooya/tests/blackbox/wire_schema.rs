//! Every endpoint's real answers against the OpenAPI document the server serves: a run that calls
//! each endpoint (its success and the refusals of every shape) and checks each answer's status is
//! declared for its operation and its body validates against the declared schema, made strict (an
//! object may hold no field its schema does not name). So a handler that answers another type
//! than it declares, a field renamed, removed, added without a schema, or null where the document
//! says absent, fails here. The schemas are pooya-wire's types; `docs/openapi.json` pins them
//! (pooya-server's `openapi` tests).
//!
//! And a server started without `--unsafe-fake-clock` does not describe `/v1/test/clock`
//! (issue 18).

use crate::common::*;

use std::collections::BTreeSet;

use pooya_enroll::{b64_decode, b64_encode, removal_proof, status_proof, ClientEnrollment};
use pooya_wire::admin::PskcImport;
use pooya_wire::app::{
    EnrollmentConfirm, EnrollmentStart, Removal, RemovalChallenge, TokenStatus, TokenStatusQuery,
};
use pooya_wire::atm::{Activate, CardAndPin};
use pooya_wire::branch::NewMobile;
use pooya_wire::sms::InboundSms;
use pooya_wire::switch::{OtpRequest, OtpTxn, VerifyRequest};
use serde_json::{json, Value};

/// The document's component schemas with `additionalProperties: false` on every object schema
/// that names its properties and says nothing of others.
fn strict_components(spec: &Value) -> Value {
    fn tighten(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                    m.insert("additionalProperties".into(), Value::Bool(false));
                }
                m.values_mut().for_each(tighten);
            }
            Value::Array(a) => a.iter_mut().for_each(tighten),
            _ => {}
        }
    }
    let mut c = spec["components"].clone();
    tighten(&mut c);
    c
}

/// A validator of `schema` (a response's schema, usually a `$ref` into the components).
fn validator(schema: &Value, components: &Value) -> jsonschema::Validator {
    let mut schema = schema.clone();
    if let Value::Object(m) = &mut schema {
        if m.contains_key("properties") && !m.contains_key("additionalProperties") {
            m.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    let doc = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": components,
    });
    jsonschema::draft202012::new(&doc).unwrap_or_else(|e| panic!("schema {doc}: {e}"))
}

/// The document's path that `path` (a concrete one, no query) is an instance of.
fn template_of<'a>(spec: &'a Value, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    spec["paths"].as_object()?.keys().find_map(|t| {
        let ts: Vec<&str> = t.split('/').collect();
        let fits = ts.len() == segments.len()
            && ts
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s);
        fits.then_some(t.as_str())
    })
}

/// What is wrong with `a` against `spec` (none: it is declared and its body is its schema's).
fn check(spec: &Value, components: &Value, a: &Answer) -> Option<String> {
    let what = format!("{} {} → {}", a.method, a.path, a.status);
    let Some(template) = template_of(spec, &a.path) else {
        return Some(format!("{what}: the path is not in the document"));
    };
    let op = &spec["paths"][template][a.method.to_lowercase()];
    if !op.is_object() {
        return Some(format!("{what}: the method is not in the document"));
    }
    let response = &op["responses"][a.status.to_string()];
    if !response.is_object() {
        return Some(format!("{what}: status not declared for {template}"));
    }
    let Some(content) = response["content"].as_object() else {
        return (!a.body.is_null()).then(|| format!("{what}: a body where none is declared"));
    };
    let Some((media, declared)) = content.iter().next() else {
        return Some(format!("{what}: empty content"));
    };
    if !a.content_type.starts_with(media.as_str()) {
        return Some(format!(
            "{what}: content type {:?}, declared {media}",
            a.content_type
        ));
    }
    let schema = declared.get("schema")?;
    let v = validator(schema, components);
    let errors: Vec<String> = v.iter_errors(&a.body).map(|e| e.to_string()).collect();
    (!errors.is_empty()).then(|| format!("{what}: {} against {schema}: {errors:?}", a.body))
}

async fn spec_of(srv: &TestServer) -> Value {
    let (s, spec) = srv.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(s, 200, "{spec}");
    spec
}

/// Calls every endpoint: its success, and refusals of every shape (plain, with `tries_left`,
/// with `retry_after_secs`).
async fn call_every_endpoint(srv: &TestServer) {
    let expect = |got: (u16, Value), status: u16| {
        assert_eq!(got.0, status, "{}", got.1);
        got.1
    };
    // Public.
    expect(srv.call("GET", "/v1/time", None, None).await, 200);
    expect(srv.call("GET", "/v1/health", None, None).await, 200);
    expect(srv.call("GET", "/docs", None, None).await, 200);
    expect(srv.move_clock(Some(1_000), None).await, 200);
    expect(srv.move_clock(Some(i64::MAX), None).await, 422);

    // Branch, and the refusals every keyed endpoint may give.
    srv.customer("C1", MOBILE).await;
    srv.customer("C2", MOBILE2).await;
    let again = NewMobile {
        mobile: MOBILE.into(),
    };
    expect(srv.send("POST", "/v1/customers", None, &again).await, 401);
    expect(
        srv.send("POST", "/v1/customers", Some("atm"), &again).await,
        403,
    );
    expect(
        srv.call(
            "POST",
            "/v1/customers",
            Some("branch"),
            Some(json!({"customer_id": 7})),
        )
        .await,
        400,
    );
    let dup = pooya_wire::branch::NewCustomer {
        customer_id: "C1".into(),
        mobile: MOBILE.into(),
    };
    expect(
        srv.send("POST", "/v1/customers", Some("branch"), &dup)
            .await,
        409,
    );
    let path = "/v1/customers/C1/mobile";
    expect(srv.send("PUT", path, Some("branch"), &again).await, 200);
    let nobody = "/v1/customers/NOBODY/mobile";
    expect(srv.send("PUT", nobody, Some("branch"), &again).await, 404);
    let bad = NewMobile {
        mobile: "12".into(),
    };
    expect(srv.send("PUT", path, Some("branch"), &bad).await, 422);
    srv.card(PAN, "C1").await;
    srv.card(PAN2, "C2").await;
    expect(srv.get(&format!("/v1/cards/{PAN}"), "branch").await, 200);
    expect(srv.get(&format!("/v1/cards/{PAN3}"), "branch").await, 404);
    expect(srv.get("/v1/cards/1234", "branch").await, 422);

    // The app: enrollment, with wrong codes first.
    expect(
        srv.call("GET", "/v1/app/enrollment-parameters", None, None)
            .await,
        200,
    );
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let (_, msg) = ClientEnrollment::start(PAN, "000000", "000000");
    let start = EnrollmentStart {
        pan: PAN.into(),
        spake_msg: b64_encode(&msg),
        lifetime_secs: None,
    };
    let v = expect(
        srv.send("POST", "/v1/app/enrollments", None, &start).await,
        201,
    );
    let wrong_run = v["enrollment_id"].as_str().unwrap().to_owned();
    let confirm = EnrollmentConfirm {
        confirm: b64_encode(&[7u8; 32]),
    };
    let path = format!("/v1/app/enrollments/{wrong_run}/confirm");
    let v = expect(srv.send("POST", &path, None, &confirm).await, 403);
    assert!(v["error"]["tries_left"].is_u64(), "{v}");
    expect(srv.send("POST", &path, None, &confirm).await, 404);
    let token = srv.enroll(PAN, &receipt, &sms).await.expect("enrollment");

    // The switch.
    let now = srv.now_ms().await;
    srv.verify(PAN, "second", &token.code("second", now), "T1")
        .await;
    let mut verify = VerifyRequest {
        pan: PAN.into(),
        kind: "third".into(),
        password: "1234".into(),
        txn: wire_txn("T2"),
    };
    expect(
        srv.send("POST", "/v1/verify", Some("switch"), &verify)
            .await,
        422,
    );
    verify.kind = "first".into();
    verify.txn.amount = 5;
    expect(
        srv.send("POST", "/v1/verify", Some("switch"), &verify)
            .await,
        200,
    );
    let otp = OtpRequest {
        pan: PAN2.into(),
        txn: OtpTxn {
            id: "O1".into(),
            amount: 1_000,
            merchant: "Shop".into(),
            kind: Some("bill".into()),
        },
    };
    expect(
        srv.send("POST", "/v1/otp-requests", Some("switch"), &otp)
            .await,
        202,
    );
    expect(
        srv.send("POST", "/v1/otp-requests", Some("switch"), &{
            let mut o = otp.clone();
            o.pan = PAN3.into();
            o
        })
        .await,
        404,
    );

    // Token status, then removal.
    let id = &token.token_id;
    let now = srv.now_ms().await;
    let query = TokenStatusQuery {
        token_id: id.clone(),
        at_ms: now,
        proof: b64_encode(&status_proof(&token.seed, id, now)),
    };
    let v = expect(
        srv.send("POST", "/v1/app/token-status", None, &query).await,
        200,
    );
    assert_eq!(read::<TokenStatus>(v), TokenStatus { in_force: true });
    let stale = TokenStatusQuery {
        at_ms: now - 600_000,
        ..query.clone()
    };
    expect(
        srv.send("POST", "/v1/app/token-status", None, &stale).await,
        422,
    );
    let challenge_path = format!("/v1/app/tokens/{id}/removal-challenge");
    let v = expect(
        srv.call("POST", &challenge_path, None, Some(json!({})))
            .await,
        200,
    );
    let challenge: RemovalChallenge = read(v);
    let nonce = b64_decode(&challenge.nonce).unwrap();
    let removal = Removal {
        proof: b64_encode(&removal_proof(&token.seed, id, &nonce)),
        nonce: challenge.nonce,
    };
    let path = format!("/v1/app/tokens/{id}/removal");
    expect(srv.send("POST", &path, None, &removal).await, 200);
    expect(srv.send("POST", &path, None, &removal).await, 404);

    // The ATM.
    let activate = Activate {
        pan: PAN.into(),
        pin: PIN.into(),
        mobile: MOBILE.into(),
    };
    expect(
        srv.send("POST", "/v1/atm/activate-sms", Some("atm"), &activate)
            .await,
        200,
    );
    let card = CardAndPin {
        pan: PAN.into(),
        pin: PIN.into(),
    };
    expect(
        srv.send("POST", "/v1/atm/deactivate", Some("atm"), &card)
            .await,
        200,
    );
    expect(
        srv.send("POST", "/v1/atm/block-second-password", Some("atm"), &card)
            .await,
        200,
    );
    let wrong_pin = CardAndPin {
        pan: PAN.into(),
        pin: "4321".into(),
    };
    expect(
        srv.send("POST", "/v1/atm/deactivate", Some("atm"), &wrong_pin)
            .await,
        403,
    );

    // The branch lifts what the ATM set.
    let unblock = format!("/v1/cards/{PAN}/second-password/unblock");
    expect(srv.call("POST", &unblock, Some("branch"), None).await, 200);
    let unlock = format!("/v1/cards/{PAN}/pin/unlock");
    expect(srv.call("POST", &unlock, Some("branch"), None).await, 200);

    // The SMS gateway, over its limit on the second message (`retry_after_secs`).
    let inbound = InboundSms {
        from: MOBILE2.into(),
        to: "10002516".into(),
        text: "7890".into(),
    };
    expect(
        srv.send("POST", "/v1/sms/inbound", Some("sms"), &inbound)
            .await,
        202,
    );
    let v = expect(
        srv.send("POST", "/v1/sms/inbound", Some("sms"), &inbound)
            .await,
        429,
    );
    assert!(v["error"]["retry_after_secs"].is_u64(), "{v}");

    // Administration.
    let key = [0x5au8; 20];
    let pskc = crate::pskc::container(&[crate::pskc::pkg("W1", true, 8, "HMAC-SHA1", &key, 30)]);
    let import = PskcImport {
        pskc,
        assign: [("W1".to_owned(), PAN2.to_owned())].into(),
        preshared_key_hex: None,
        password: None,
    };
    expect(
        srv.send("POST", "/v1/admin/pskc", Some("admin"), &import)
            .await,
        200,
    );
    // A token with a policy (python-pskc's file): the card shows its dates.
    let mut dated = import.clone();
    dated.pskc =
        include_str!("../../../pooya-pskc/testdata/python-pskc/policy-dates.xml").to_owned();
    dated.assign = [("DATES".to_owned(), PAN2.to_owned())].into();
    expect(
        srv.send("POST", "/v1/admin/pskc", Some("admin"), &dated)
            .await,
        200,
    );
    let v = expect(srv.get(&format!("/v1/cards/{PAN2}"), "branch").await, 200);
    assert!(v["hardware_token"]["expiry_date"].is_string(), "{v}");
    let mut broken = import.clone();
    broken.pskc = "<KeyContainer".into();
    expect(
        srv.send("POST", "/v1/admin/pskc", Some("admin"), &broken)
            .await,
        422,
    );
    // The outbox, until every message has left: then `oldest_age_ms` is null, not absent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = expect(srv.get("/v1/admin/outbox", "admin").await, 200);
        if v["queued"] == 0 {
            assert!(v["oldest_age_ms"].is_null(), "{v}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_answer_of_every_endpoint_is_its_declared_schema() {
    let cfg = format!(
        "{TEST_CONFIG}[limits]\nsms_inbound_per_mobile = {{ burst = 1, per_secs = 600 }}\n"
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    let spec = spec_of(&srv).await;
    let components = strict_components(&spec);
    srv.record_answers();
    call_every_endpoint(&srv).await;
    let answers = srv.answers();

    let wrong: Vec<String> = answers
        .iter()
        .filter_map(|a| check(&spec, &components, a))
        .collect();
    assert!(
        wrong.is_empty(),
        "answers that are not what the OpenAPI document declares:\n{}",
        wrong.join("\n")
    );

    // Every operation of the document was answered with success at least once (the document
    // itself, fetched before the recording, aside).
    let answered: BTreeSet<(String, String)> = answers
        .iter()
        .filter(|a| (200..300).contains(&a.status))
        .filter_map(|a| {
            Some((
                a.method.to_lowercase(),
                template_of(&spec, &a.path)?.to_owned(),
            ))
        })
        .collect();
    let mut missing = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let op = (method.clone(), path.clone());
            if path != "/v1/openapi.json" && !answered.contains(&op) {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "never answered with success: {missing:?}"
    );
    // Refusals of every shape were checked.
    for (status, field) in [
        (403, "tries_left"),
        (429, "retry_after_secs"),
        (404, "code"),
    ] {
        assert!(
            answers
                .iter()
                .any(|a| a.status == status && !a.body["error"][field].is_null()),
            "no {status} with `{field}` checked"
        );
    }

    // The check fails on a field added, removed or renamed, or on null for absent.
    let card = answers
        .iter()
        .find(|a| a.method == "GET" && a.path.starts_with("/v1/cards/") && a.status == 200)
        .expect("a card answer")
        .clone();
    assert!(check(&spec, &components, &card).is_none());
    let mut changed = Vec::new();
    let mut added = card.clone();
    added.body["nickname"] = json!("x");
    changed.push(added);
    let mut nested = card.clone();
    nested.body["dynamic"]["since"] = json!(0);
    changed.push(nested);
    let mut removed = card.clone();
    removed.body.as_object_mut().unwrap().remove("pin_locked");
    changed.push(removed);
    let mut renamed = card.clone();
    let v = renamed
        .body
        .as_object_mut()
        .unwrap()
        .remove("recent_failures")
        .unwrap();
    renamed.body["failures"] = v;
    changed.push(renamed);
    let mut retyped = card.clone();
    retyped.body["recent_failures"] = json!("0");
    changed.push(retyped);
    let refusal = answers
        .iter()
        .find(|a| a.status == 404)
        .expect("a refusal")
        .clone();
    let mut nulled = refusal.clone();
    nulled.body["error"]["tries_left"] = Value::Null;
    changed.push(nulled);
    for a in changed {
        assert!(
            check(&spec, &components, &a).is_some(),
            "passed: {}",
            a.body
        );
    }
}

/// Issue 18: `/v1/test/clock` is for tests; a server without the fake clock does not describe it
/// (nor any schema only it uses), and does not move any clock.
#[tokio::test]
async fn a_server_without_a_fake_clock_does_not_describe_the_test_clock() {
    let srv = TestServer::start_with_real_clock(TEST_CONFIG).await;
    let spec = spec_of(&srv).await;
    assert!(spec["paths"]["/v1/verify"].is_object(), "{spec}");
    assert!(spec["paths"].get("/v1/test/clock").is_none(), "{spec}");
    assert!(!spec.to_string().contains("/v1/test/"));
    assert!(spec["components"]["schemas"].get("MoveClock").is_none());
    let (s, page) = srv.call("GET", "/docs", None, None).await;
    assert_eq!(s, 200);
    assert!(!page.as_str().unwrap().contains("/v1/test/clock"));
    let (s, v) = srv.move_clock(Some(60_000), None).await;
    assert_eq!((s, &v["error"]["code"]), (404, &json!("not_found")), "{v}");

    // The fake clock's server does describe it.
    let fake = TestServer::start().await;
    let spec = spec_of(&fake).await;
    assert!(spec["paths"]["/v1/test/clock"]["post"].is_object());
}
