//! The load tool's checks against a deliberately wrong server: a tiny HTTP/1.1 server on port 0
//! that gives one fixed answer to every request. A wrong approval or a wrong decline must be
//! counted as an error, never as a data point.

use pooya_bench::{bearer, send_and_judge, Conn, Expect, Request};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `status` and `body` to every request, keep-alive, until the test ends.
async fn fake_server(status: u16, body: serde_json::Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = body.to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Read one request: head, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn verify_body() -> bytes::Bytes {
    json!({"pan": "6280231234567898", "kind": "first", "password": "1234",
           "txn": {"id": "t1", "amount": 1, "merchant": "m"}})
    .to_string()
    .into()
}

async fn judge_against(base: &str, expect: Expect) -> (pooya_bench::Judged, Option<String>) {
    let auth = bearer("k").unwrap();
    let req = Request::Verify {
        path: "/v1/verify",
        auth: &auth,
        body: verify_body(),
    };
    send_and_judge(&mut Conn::new(base).unwrap(), req, expect).await
}

#[tokio::test]
async fn a_server_approving_a_wrong_code_is_caught() {
    let base = fake_server(
        200,
        json!({"approved": true, "response_code": "00", "reason": "approved"}),
    )
    .await;
    let (j, detail) = judge_against(&base, Expect::WrongPassword).await;
    assert!(!j.ok, "a wrong approval must be an error");
    assert_eq!(j.label, "200 00 approved");
    assert!(detail.unwrap().contains("expected WrongPassword"));
    // The same answer to a right code is right: the fake server is reached and read.
    let (j, detail) = judge_against(&base, Expect::Approved).await;
    assert!(j.ok && detail.is_none(), "{j:?} {detail:?}");
}

#[tokio::test]
async fn a_server_declining_a_right_code_is_caught() {
    let base = fake_server(
        200,
        json!({"approved": false, "response_code": "55", "reason": "wrong_password"}),
    )
    .await;
    let (j, _) = judge_against(&base, Expect::Approved).await;
    assert!(!j.ok, "a wrong decline must be an error");
    assert_eq!(j.label, "200 55 wrong_password");
    let (j, _) = judge_against(&base, Expect::WrongPassword).await;
    assert!(j.ok);
}

#[tokio::test]
async fn a_server_declining_for_another_reason_is_caught() {
    let base = fake_server(
        200,
        json!({"approved": false, "response_code": "55", "reason": "replayed"}),
    )
    .await;
    let (j, _) = judge_against(&base, Expect::WrongPassword).await;
    assert!(!j.ok, "a replay answer to a fresh wrong code is wrong");
    let (j, _) = judge_against(&base, Expect::Approved).await;
    assert!(!j.ok);
}

#[tokio::test]
async fn errors_and_dead_servers_are_caught() {
    let base = fake_server(503, json!({"error": {"code": "unavailable"}})).await;
    let (j, _) = judge_against(&base, Expect::Approved).await;
    assert!(!j.ok);
    assert_eq!(j.label, "503 unavailable");
    let health = Request::Health { path: "/v1/health" };
    let (j, _) = send_and_judge(&mut Conn::new(&base).unwrap(), health, Expect::Healthy).await;
    assert!(!j.ok, "an unhealthy answer to a health probe");

    // Nobody listening: a transport error, counted as an error.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let (j, detail) = judge_against(&gone, Expect::Approved).await;
    assert!(!j.ok);
    assert_eq!(j.label, "transport error");
    assert!(detail.is_some());
}

#[tokio::test]
async fn a_healthy_server_is_right() {
    let base = fake_server(200, json!({"status": "ok"})).await;
    // One keep-alive connection carries request after request.
    let mut conn = Conn::new(&base).unwrap();
    for _ in 0..3 {
        let health = Request::Health { path: "/v1/health" };
        let (j, detail) = send_and_judge(&mut conn, health, Expect::Healthy).await;
        assert!(j.ok, "{detail:?}");
    }
}
