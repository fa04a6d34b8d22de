//! Abuse limits (`[limits]`): 429 `rate_limited` with `Retry-After`, per client address on
//! `/v1/app/*`, per card on enrollment starts, per sender on inbound SMS (HTTP and SMPP). Buckets
//! refill on the server's clock: the tests move it, they never sleep for a refill. And the
//! privacyIDEA #3741 check: whoever knows a card number cannot lock its holder out through the
//! public endpoints; only the switch's `/v1/verify` counts toward R5.

use std::time::Duration;

use crate::common::*;
use pooya_enroll::{b64_encode, ClientEnrollment};
use serde_json::{json, Value};

/// A request with extra headers; answers (status, `Retry-After`, body).
async fn send(
    srv: &TestServer,
    path: &str,
    role: Option<&str>,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut req = srv.http.post(format!("{}{}", srv.url, path)).json(&body);
    if let Some(r) = role {
        req = req.bearer_auth(srv.key(r));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (status, retry, v)
}

/// A removal challenge for a token that does not exist: the cheapest app request (404).
async fn app_probe(srv: &TestServer, headers: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    send(
        srv,
        "/v1/app/tokens/nosuchtoken/removal-challenge",
        None,
        json!({}),
        headers,
    )
    .await
}

fn assert_limited(status: u16, retry: Option<String>, v: &Value, secs: u64) {
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
    assert_eq!(v["error"]["retry_after_secs"], secs, "{v}");
    assert_eq!(retry.as_deref(), Some(secs.to_string().as_str()));
}

#[tokio::test]
async fn app_requests_are_limited_per_client_address() {
    let cfg = format!("{TEST_CONFIG}[limits]\napp_per_ip = {{ burst = 3, per_secs = 60 }}\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    for _ in 0..3 {
        let (s, _, v) = app_probe(&srv, &[]).await;
        assert_eq!(s, 404, "{v}");
        assert_eq!(v["error"]["code"], "unknown_token");
    }
    let (s, retry, v) = app_probe(&srv, &[]).await;
    assert_limited(s, retry, &v, 20);
    // Any endpoint of the app, the same bucket.
    let (s, retry, v) = send(
        &srv,
        "/v1/app/enrollments",
        None,
        json!({"pan": PAN, "spake_msg": "AA"}),
        &[],
    )
    .await;
    assert_limited(s, retry, &v, 20);
    // The bank's channels and the clock are not the app's: not limited here.
    let (s, _) = srv.call("GET", "/v1/time", None, None).await;
    assert_eq!(s, 200);
    srv.customer("C1", MOBILE).await;
    // One token every 20 s on the server's clock.
    srv.advance(19_000).await;
    let (s, retry, v) = app_probe(&srv, &[]).await;
    assert_limited(s, retry, &v, 1);
    srv.advance(1_000).await;
    let (s, _, _) = app_probe(&srv, &[]).await;
    assert_eq!(s, 404);
    let (s, _, _) = app_probe(&srv, &[]).await;
    assert_eq!(s, 429);
}

#[tokio::test]
async fn the_address_limit_follows_the_client_behind_a_trusted_proxy() {
    let cfg = format!(
        "{TEST_CONFIG}[network]\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [limits]\napp_per_ip = {{ burst = 2, per_secs = 60 }}\n"
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    let a = [("x-forwarded-for", "198.51.100.7")];
    let b = [("x-forwarded-for", "198.51.100.8")];
    for _ in 0..2 {
        assert_eq!(app_probe(&srv, &a).await.0, 404);
    }
    let (s, retry, v) = app_probe(&srv, &a).await;
    assert_limited(s, retry, &v, 30);
    // Another client behind the same proxy has a bucket of its own.
    assert_eq!(app_probe(&srv, &b).await.0, 404);
    // A client cannot escape its bucket by prepending addresses: the proxy's is the one read.
    let spoof = [("x-forwarded-for", "203.0.113.1, 198.51.100.7")];
    assert_eq!(app_probe(&srv, &spoof).await.0, 429);
}

#[tokio::test]
async fn enrollment_starts_are_limited_per_card_and_address() {
    let cfg = format!(
        "{TEST_CONFIG}[network]\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [limits]\nenrollment_starts_per_card = {{ burst = 2, per_secs = 3600 }}\n"
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    srv.customer("C2", MOBILE2).await;
    srv.card(PAN2, "C2").await;
    let (receipt, sms) = srv.activate_app(PAN, MOBILE).await;
    let start = |pan: &'static str, from: &'static str, spake_msg: Option<&'static str>| {
        let (_, msg) = ClientEnrollment::start(pan, "000000", "000000");
        let msg = spake_msg.map_or_else(|| b64_encode(&msg), str::to_owned);
        let srv = &srv;
        async move {
            send(
                srv,
                "/v1/app/enrollments",
                None,
                json!({"pan": pan, "spake_msg": msg}),
                &[("x-forwarded-for", from)],
            )
            .await
        }
    };
    let (a, b) = ("198.51.100.7", "198.51.100.8");
    // Starts whose message does not parse count nowhere.
    for _ in 0..5 {
        assert_eq!(start(PAN, a, Some("AAAA")).await.0, 400);
    }
    for left in [2, 1] {
        let (s, _, v) = start(PAN, a, None).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["tries_left"], left);
    }
    let (s, retry, v) = start(PAN, a, None).await;
    assert_limited(s, retry, &v, 1800);
    // Another card, or the same card from another address, is not held back by this bucket.
    let (s, _, v) = start(PAN2, a, None).await;
    assert_eq!(s, 201, "{v}");
    let (s, _, v) = start(PAN, b, None).await;
    assert_eq!(s, 201, "{v}");
    // The refused start cost nothing: this address's last try still enrolls the holder.
    srv.advance(1_800_000).await;
    let (client, msg) = ClientEnrollment::start(PAN, &receipt, &sms);
    let (s, _, v) = send(
        &srv,
        "/v1/app/enrollments",
        None,
        json!({"pan": PAN, "spake_msg": b64_encode(&msg)}),
        &[("x-forwarded-for", a)],
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["tries_left"], 0);
    let server_msg = pooya_enroll::b64_decode(v["spake_msg"].as_str().unwrap()).unwrap();
    let server_confirm = pooya_enroll::b64_decode(v["confirm"].as_str().unwrap()).unwrap();
    let fin = client.finish(&server_msg, &server_confirm).unwrap();
    srv.hygiene.seed(fin.seed.as_bytes());
    let id = v["enrollment_id"].as_str().unwrap();
    let (s, _, v) = send(
        &srv,
        &format!("/v1/app/enrollments/{id}/confirm"),
        None,
        json!({"confirm": b64_encode(&fin.confirm)}),
        &[("x-forwarded-for", a)],
    )
    .await;
    assert_eq!(s, 200, "the last try enrolls: {v}");
}

#[tokio::test]
async fn inbound_sms_are_limited_per_sender() {
    let cfg = format!(
        "{TEST_CONFIG}[limits]\nsms_inbound_per_mobile = {{ burst = 2, per_secs = 600 }}\n"
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    let inbound = |from: &'static str| {
        let srv = &srv;
        async move {
            send(
                srv,
                "/v1/sms/inbound",
                Some("sms"),
                json!({"from": from, "to": "10002516", "text": "7898"}),
                &[],
            )
            .await
        }
    };
    for _ in 0..2 {
        assert_eq!(inbound(MOBILE).await.0, 202);
    }
    let (s, retry, v) = inbound(MOBILE).await;
    assert_limited(s, retry, &v, 300);
    // The same number written another way is the same sender.
    let (s, _, _) = inbound("+989121234567").await;
    assert_eq!(s, 429);
    assert_eq!(inbound(MOBILE2).await.0, 202);
    srv.advance(300_000).await;
    assert_eq!(inbound(MOBILE).await.0, 202);
    assert_eq!(inbound(MOBILE).await.0, 429);
}

#[tokio::test]
async fn inbound_sms_over_smpp_are_limited_per_sender() {
    use pooya_sms::smpp::simulator::Simulator;
    let sim = Simulator::start("pooya", "secret").await;
    let cfg = format!(
        "{TEST_CONFIG}[sms_provider]\nkind = \"smpp\"\n[sms_provider.smpp]\nhost = \"127.0.0.1\"\n\
         port = {}\nsystem_id = \"pooya\"\npassword = \"secret\"\nsource_addr = \"10002516\"\nreconnect_max_secs = 1\n\
         [limits]\nsms_inbound_per_mobile = {{ burst = 1, per_secs = 600 }}\n",
        sim.port()
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    let (s, v) = srv
        .post(
            "/v1/atm/activate-sms",
            "atm",
            json!({"pan": PAN, "pin": PIN, "mobile": MOBILE}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let replies = |n: usize| {
        let sim = &sim;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            loop {
                let m: Vec<_> = sim
                    .messages()
                    .into_iter()
                    .filter(|m| m.to == "989121234567")
                    .collect();
                if m.len() >= n {
                    return m.len();
                }
                assert!(std::time::Instant::now() < deadline, "{} replies", m.len());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let before = sim
        .messages()
        .iter()
        .filter(|m| m.to == "989121234567")
        .count();
    sim.deliver("989121234567", "10002516", "7898")
        .await
        .expect("deliver_sm answered");
    replies(before + 1).await;
    // Past sms.request_interval_secs, so only the limit can hold a reply back.
    srv.advance(60_000).await;
    sim.deliver("989121234567", "10002516", "7898")
        .await
        .expect("deliver_sm answered even when dropped");
    srv.wait_log("over the per-mobile limit").await;
    srv.advance(540_000).await;
    sim.deliver("989121234567", "10002516", "7898")
        .await
        .expect("deliver_sm answered");
    // Requests are handled in order and replies leave in order: the dropped one sent nothing.
    assert_eq!(replies(before + 2).await, before + 2);
    let log = std::fs::read_to_string(srv.log_path()).unwrap();
    assert!(
        !log.contains("09121234567"),
        "a full mobile number in the log"
    );
}

/// The holder's card with a live app token; the attacker knows its number.
#[tokio::test]
async fn spraying_the_public_endpoints_cannot_lock_the_holder_out() {
    let srv = TestServer::start().await;
    let token = srv.enrolled_card().await;
    let now = srv.now_ms().await;

    // Enrollment runs against the card (there is no pending activation: nothing to burn; each gets
    // a run that never confirms, until this address's tries are used), made-up enrollment ids and
    // token ids, wrong removal proofs. 30 of them.
    for i in 0..10 {
        let (_, msg) = ClientEnrollment::start(PAN, "123456", "654321");
        let (s, v) = srv
            .call(
                "POST",
                "/v1/app/enrollments",
                None,
                Some(json!({"pan": PAN, "spake_msg": b64_encode(&msg)})),
            )
            .await;
        assert!(s == 201 || s == 429, "{s} {v}");
        let (s, _) = srv
            .call(
                "POST",
                &format!("/v1/app/enrollments/guess{i}/confirm"),
                None,
                Some(json!({"confirm": "AAAA"})),
            )
            .await;
        assert_eq!(s, 404);
        let (s, _) = srv
            .call(
                "POST",
                &format!("/v1/app/tokens/{}/removal", token.token_id),
                None,
                Some(json!({"nonce": "AAAA", "proof": "AAAA"})),
            )
            .await;
        assert_eq!(s, 403, "a removal without the seed is refused");
    }
    let info = srv.card_info(PAN).await;
    assert_eq!(info.dynamic.state, DynamicState::Active, "{info:?}");
    assert_eq!(info.recent_failures, 0, "{info:?}");
    // The holder's code still passes; the token was not removed.
    let v = srv
        .verify(PAN, "second", &token.code("second", now), "T1")
        .await;
    assert!(v.approved, "{v:?}");

    // Only the switch counts toward R5.
    let v = srv.verify(PAN, "second", "00000000", "T2").await;
    assert_eq!(v.reason, "wrong_password");
    assert_eq!(srv.card_info(PAN).await.recent_failures, 1);
}

/// With an activation pending, wrong enrollment runs cost the tries of the address they come
/// from and nothing else: no failure of R5, no lock, and the holder at another address enrolls
/// with the same activation.
#[tokio::test]
async fn wrong_enrollment_runs_count_only_against_their_address() {
    let cfg = format!("{TEST_CONFIG}[network]\ntrusted_proxies = [\"127.0.0.1\"]\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    srv.with_card().await;
    let (r, sms) = srv.activate_app(PAN, MOBILE).await;
    let stranger = [("x-forwarded-for", "203.0.113.9")];
    let start = |receipt: &str, sms: &str| {
        let (client, msg) = ClientEnrollment::start(PAN, receipt, sms);
        let body = json!({"pan": PAN, "spake_msg": b64_encode(&msg)});
        (client, body)
    };
    for left in [2, 1, 0] {
        // Someone who knows the card number but not the two codes.
        let (_, body) = start("111111", "222222");
        let (s, _, v) = send(&srv, "/v1/app/enrollments", None, body, &stranger).await;
        assert_eq!(s, 201, "{v}");
        let id = v["enrollment_id"].as_str().unwrap();
        let path = format!("/v1/app/enrollments/{id}/confirm");
        let guess = json!({"confirm": b64_encode(&[7u8; 32])});
        let (s, _, v) = send(&srv, &path, None, guess, &stranger).await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["code"], "wrong_activation_codes");
        assert_eq!(v["error"]["tries_left"], left);
        // A run takes one answer: no second guess on it.
        let guess = json!({"confirm": b64_encode(&[8u8; 32])});
        let (s, _, v) = send(&srv, &path, None, guess, &stranger).await;
        assert_eq!(s, 404, "{v}");
        assert_eq!(v["error"]["code"], "unknown_enrollment");
    }
    // The address's tries are used up ...
    let (_, body) = start("111111", "222222");
    let (s, retry, v) = send(&srv, "/v1/app/enrollments", None, body, &stranger).await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"]["code"], "enrollment_tries_used_up");
    assert_eq!(retry.as_deref(), Some("86400"));
    // ... and that is all: no failure toward R5, no lock, and the holder enrolls.
    let info = srv.card_info(PAN).await;
    assert_eq!(info.recent_failures, 0, "{info:?}");
    assert_eq!(info.dynamic.state, DynamicState::Pending, "{info:?}");
    srv.enroll(PAN, &r, &sms)
        .await
        .expect("the holder at his own address enrolls");
}
