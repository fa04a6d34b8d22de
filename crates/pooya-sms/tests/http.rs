//! The HTTP gateway provider against a local mock gateway (wiremock): what it sends, and each way
//! a gateway can fail — 5xx, 4xx, a slow answer past the timeout, a refused connection, an answer
//! that is not HTTP. A failure's reason never holds the message text.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pooya_issuer::domain::Mobile;
use pooya_sms::http::{HttpProvider, HttpProviderConfig};
use pooya_sms::{SendError, SmsProvider};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The reason of a failure that the outbox must try again.
fn temporary(e: SendError) -> String {
    assert!(!e.is_permanent(), "{e:?} should be temporary");
    e.to_string()
}

/// A message like the ones the issuer sends: a code, Persian text, a quote and a newline.
const TEXT: &str = "Pooya Bank\nرمز دوم پویا: 12345678\nMerchant: \"Shop\" & co";
const TEMPLATE: &str = r#"{"receptor": "{to}", "message": "{text}", "sender": "10002516", "meta": {"intl": "{to_e164}"}}"#;

fn to() -> Mobile {
    Mobile::parse("09121234567").unwrap()
}

fn config(url: String, timeout_ms: u64) -> HttpProviderConfig {
    HttpProviderConfig {
        url,
        headers: BTreeMap::from([
            ("Authorization".to_owned(), "Bearer GATEWAY-KEY".to_owned()),
            ("X-Client".to_owned(), "pooya".to_owned()),
        ]),
        body_template: TEMPLATE.to_owned(),
        timeout_ms,
    }
}

fn expected_body() -> Value {
    json!({
        "receptor": "09121234567",
        "message": TEXT,
        "sender": "10002516",
        "meta": {"intl": "+989121234567"},
    })
}

fn assert_clean(reason: &str) {
    for secret in ["12345678", "رمز", "Shop", "GATEWAY-KEY"] {
        assert!(
            !reason.contains(secret),
            "the reason must not hold {secret:?}: {reason}"
        );
    }
}

async fn gateway(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/send"))
        .respond_with(ResponseTemplate::new(status).set_body_string(format!("echo: {TEXT}")))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn happy_path_posts_the_templated_body_with_the_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/send"))
        .and(header("authorization", "Bearer GATEWAY-KEY"))
        .and(header("x-client", "pooya"))
        .and(header("content-type", "application/json"))
        .and(body_json(expected_body()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "queued"})))
        .expect(1)
        .mount(&server)
        .await;
    let p = HttpProvider::new(&config(format!("{}/send", server.uri()), 5000)).unwrap();
    p.send(&to(), TEXT, None, 0).await.expect("sent");
    // Any 2xx is taken, whatever the body.
    let server2 = gateway(202).await;
    let p2 = HttpProvider::new(&config(format!("{}/send", server2.uri()), 5000)).unwrap();
    p2.send(&to(), TEXT, None, 0).await.expect("202 is sent");
    let received = server2.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body, expected_body());
}

#[tokio::test]
async fn server_errors_are_failures_without_the_text() {
    for status in [500, 502, 503] {
        let server = gateway(status).await;
        let p = HttpProvider::new(&config(format!("{}/send", server.uri()), 5000)).unwrap();
        let why = temporary(p.send(&to(), TEXT, None, 0).await.unwrap_err());
        assert!(why.contains(&status.to_string()), "{why}");
        assert_clean(&why);
    }
}

#[tokio::test]
async fn client_errors_and_redirects_are_failures() {
    for status in [400, 401, 404, 429, 301] {
        let server = gateway(status).await;
        let p = HttpProvider::new(&config(format!("{}/send", server.uri()), 5000)).unwrap();
        let why = temporary(p.send(&to(), TEXT, None, 0).await.unwrap_err());
        assert!(why.contains(&status.to_string()), "{why}");
        assert_clean(&why);
    }
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let p = HttpProvider::new(&config(format!("{}/send", server.uri()), 300)).unwrap();
    let started = Instant::now();
    let why = temporary(p.send(&to(), TEXT, None, 0).await.unwrap_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up in time"
    );
    assert!(why.contains("300 ms"), "{why}");
    assert_clean(&why);
    // An answer just inside the timeout is fine.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(100)))
        .mount(&server)
        .await;
    let p = HttpProvider::new(&config(format!("{}/send", server.uri()), 3000)).unwrap();
    p.send(&to(), TEXT, None, 0)
        .await
        .expect("slow but in time");
}

#[tokio::test]
async fn a_refused_connection_is_a_failure() {
    // A port that was just free: nobody listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = HttpProvider::new(&config(format!("http://127.0.0.1:{port}/send"), 2000)).unwrap();
    let why = temporary(p.send(&to(), TEXT, None, 0).await.unwrap_err());
    assert!(why.contains("connect"), "{why}");
    assert_clean(&why);
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_a_failure() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let _ = sock
            .write_all(b"\x00\x01garbage, not HTTP at all\r\n\r\n")
            .await;
        let _ = sock.shutdown().await;
    });
    let p = HttpProvider::new(&config(format!("http://{addr}/send"), 2000)).unwrap();
    let why = temporary(p.send(&to(), TEXT, None, 0).await.unwrap_err());
    assert_clean(&why);
    served.await.unwrap();
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_a_failure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        drop(sock);
    });
    let p = HttpProvider::new(&config(format!("http://{addr}/send"), 2000)).unwrap();
    let why = temporary(p.send(&to(), TEXT, None, 0).await.unwrap_err());
    assert_clean(&why);
    served.await.unwrap();
}

#[tokio::test]
async fn an_outbox_message_carries_its_id_on_every_attempt() {
    let server = gateway(200).await;
    let mut c = config(format!("{}/send", server.uri()), 5000);
    c.body_template = r#"{"to": "{to}", "text": "{text}", "localid": "{message_id}"}"#.into();
    let p = HttpProvider::new(&c).unwrap();
    p.send_queued(42, 1_000, &to(), TEXT, None, 2_000)
        .await
        .unwrap();
    p.send_queued(42, 1_000, &to(), TEXT, None, 3_000)
        .await
        .unwrap();
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    for r in &received {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["localid"], "42-1000");
        assert_eq!(body["text"], TEXT);
    }
}

/// Issue 19: a gateway that can be told how long a message may wait gets the code's remaining
/// life, as a JSON number; a message without a code leaves the member out.
#[tokio::test]
async fn a_code_goes_with_its_remaining_life() {
    let server = gateway(200).await;
    let mut c = config(format!("{}/send", server.uri()), 5000);
    c.body_template = r#"{"to": "{to}", "text": "{text}", "validity": "{validity_secs}"}"#.into();
    let p = HttpProvider::new(&c).unwrap();
    // Queued with 60.5 s left: 60 whole seconds.
    p.send_queued(7, 1_000, &to(), TEXT, Some(61_500), 1_000)
        .await
        .unwrap();
    p.send(&to(), "no code here", None, 1_000).await.unwrap();
    // Less than a second left: given up, nothing posted.
    let e = p
        .send_queued(8, 1_000, &to(), TEXT, Some(1_900), 1_000)
        .await
        .unwrap_err();
    assert!(e.is_permanent(), "{e:?}");
    assert_clean(e.reason());
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    let first: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(first["validity"], json!(60));
    let second: Value = serde_json::from_slice(&received[1].body).unwrap();
    assert!(second.get("validity").is_none(), "{second}");
    assert_eq!(second["text"], "no code here");
}
