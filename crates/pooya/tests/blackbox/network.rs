//! R18: adding and removing tokens only from the networks the bank allows (`[network]`), with the
//! client's address read from a proxy header only when the proxy is trusted. The tests run on
//! loopback: the server sees 127.0.0.1, and the allowed networks are chosen around it.

use crate::common::*;
use serde_json::{json, Value};

/// `POST /v1/app/tokens/nosuchtoken/removal-challenge` with `headers`: 404 when let through.
async fn app_probe(srv: &TestServer, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = srv
        .http
        .post(format!(
            "{}/v1/app/tokens/nosuchtoken/removal-challenge",
            srv.url
        ))
        .json(&json!({}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request");
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

fn assert_refused((s, v): (u16, Value)) {
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "network_not_allowed", "{v}");
}

fn assert_let_through((s, v): (u16, Value)) {
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "unknown_token", "{v}");
}

#[tokio::test]
async fn by_default_everyone_may_provision_and_the_server_warns() {
    let srv = TestServer::start().await;
    assert_let_through(app_probe(&srv, &[]).await);
    srv.wait_log("network.app_allow lets every address add and remove tokens")
        .await;
}

#[tokio::test]
async fn provisioning_from_outside_the_allowed_networks_is_refused() {
    let cfg = format!("{TEST_CONFIG}[network]\napp_allow = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    assert_refused(app_probe(&srv, &[]).await);
    // Enrollment too, before its body is even looked at.
    let (s, v) = srv
        .call(
            "POST",
            "/v1/app/enrollments",
            None,
            Some(json!({"pan": PAN, "spake_msg": "AA"})),
        )
        .await;
    assert_refused((s, v));
    // The bank's channels and the public clock are not provisioning.
    srv.customer("C1", MOBILE).await;
    assert_eq!(srv.call("GET", "/v1/time", None, None).await.0, 200);
    let log = srv.wait_log("provisioning refused").await;
    assert!(!log.contains("lets every address"), "no warning: {log}");

    // Loopback allowed: let through.
    let cfg = format!("{TEST_CONFIG}[network]\napp_allow = [\"127.0.0.0/8\"]\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    assert_let_through(app_probe(&srv, &[]).await);
}

#[tokio::test]
async fn a_spoofed_forwarding_header_from_an_untrusted_peer_is_ignored() {
    // No trusted proxy at all, then one that is not the peer.
    for proxies in ["[]", "[\"192.0.2.1\"]"] {
        let cfg = format!(
            "{TEST_CONFIG}[network]\napp_allow = [\"198.51.100.0/24\"]\ntrusted_proxies = {proxies}\n"
        );
        let srv = TestServer::start_with(&cfg, &[]).await;
        assert_refused(app_probe(&srv, &[("x-forwarded-for", "198.51.100.7")]).await);
        assert_refused(app_probe(&srv, &[("forwarded", "for=198.51.100.7")]).await);
        assert_refused(app_probe(&srv, &[("x-real-ip", "198.51.100.7")]).await);
    }
    // Nor does a header let a client out of an allowed network be taken for another.
    let cfg = format!("{TEST_CONFIG}[network]\napp_allow = [\"127.0.0.1\"]\n");
    let srv = TestServer::start_with(&cfg, &[]).await;
    assert_let_through(app_probe(&srv, &[("x-forwarded-for", "203.0.113.9")]).await);
}

#[tokio::test]
async fn a_trusted_proxys_header_is_honoured() {
    let cfg = format!(
        "{TEST_CONFIG}[network]\napp_allow = [\"198.51.100.0/24\"]\ntrusted_proxies = [\"127.0.0.1\"]\n"
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    assert_let_through(app_probe(&srv, &[("x-forwarded-for", "198.51.100.7")]).await);
    assert_refused(app_probe(&srv, &[("x-forwarded-for", "203.0.113.9")]).await);
    // The address the trusted proxy appended is the one read, not what the client put first.
    assert_refused(app_probe(&srv, &[("x-forwarded-for", "198.51.100.7, 203.0.113.9")]).await);
    // No header: the proxy itself is the client, and it is not in an allowed network.
    assert_refused(app_probe(&srv, &[]).await);
    // A hop the server cannot place is refused.
    assert_refused(app_probe(&srv, &[("x-forwarded-for", "unknown")]).await);
    // Only the configured header counts.
    assert_refused(app_probe(&srv, &[("forwarded", "for=198.51.100.7")]).await);

    let cfg = format!(
        "{TEST_CONFIG}[network]\napp_allow = [\"2001:db8::/32\"]\ntrusted_proxies = [\"127.0.0.1\"]\nproxy_header = \"forwarded\"\n"
    );
    let srv = TestServer::start_with(&cfg, &[]).await;
    assert_let_through(
        app_probe(
            &srv,
            &[("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https")],
        )
        .await,
    );
    assert_refused(app_probe(&srv, &[("x-forwarded-for", "2001:db8::1")]).await);
}

#[tokio::test]
async fn bad_network_settings_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "[network]\napp_allow = [\"10.0.0.0/33\"]\n",
        "[network]\ntrusted_proxies = [\"proxy.bank\"]\n",
        "[network]\nproxy_header = \"x-client-ip\"\n",
        "[limits]\napp_per_ip = { burst = 5, per_secs = 0 }\n",
        "[tls.client_ca]\ncashier = \"/x.pem\"\n",
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, bad).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooya"))
            .args(["config", "check"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let key = bad
            .split(['\n', '['])
            .find(|l| l.contains('='))
            .unwrap()
            .split([' ', '='])
            .next()
            .unwrap()
            .to_owned();
        assert!(err.contains(&key), "{bad}: {err}");
    }
}
