//! The load's own HTTP/1.1 connection: hyper's client connection on one keep-alive TCP stream,
//! with request bodies the driver has already made as bytes. A connection pool, a JSON value per
//! request and a URL parse per request (what `reqwest` does) cost the driver more CPU per
//! verification than the server spends on some of its steps; the figures would then measure the
//! driver (BENCHMARKS.md, issue 17).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request as HttpRequest};
use hyper_util::rt::TokioIo;

use crate::Res;

/// How long one request may take before it counts as a transport error.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One keep-alive connection to the server; opened again after a transport error.
pub struct Conn {
    addr: String,
    host: HeaderValue,
    send: Option<SendRequest<Full<Bytes>>>,
}

/// What one request of the load carries: the path, and for a verification the bearer key's
/// header and the JSON body as bytes.
pub enum Request<'a> {
    Verify {
        path: &'a str,
        auth: &'a HeaderValue,
        body: Bytes,
    },
    Health {
        path: &'a str,
    },
}

/// `Authorization: Bearer KEY`, made once per worker.
pub fn bearer(key: &str) -> Res<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {key}")).map_err(|e| format!("bearer key: {e}"))
}

impl Conn {
    /// A connection to `base` (`http://HOST:PORT`); the TCP stream opens with the first request.
    pub fn new(base: &str) -> Res<Conn> {
        let addr = base
            .strip_prefix("http://")
            .ok_or_else(|| format!("{base}: the load speaks plain http:// only"))?
            .trim_end_matches('/')
            .to_owned();
        let host = HeaderValue::from_str(&addr).map_err(|e| format!("{base}: {e}"))?;
        Ok(Conn {
            addr,
            host,
            send: None,
        })
    }

    async fn open(&mut self) -> Res<&mut SendRequest<Full<Bytes>>> {
        if self.send.is_none() {
            let tcp = tokio::net::TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            tcp.set_nodelay(true)
                .map_err(|e| format!("{}: {e}", self.addr))?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| format!("{}: {e}", self.addr))?;
            // The connection's driver: ends when the server closes it or `send` is dropped.
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.send = Some(send);
        }
        Ok(self.send.as_mut().expect("opened above"))
    }

    /// Sends one request and reads the whole answer: its status and body.
    pub async fn send(&mut self, req: Request<'_>) -> Res<(u16, Bytes)> {
        let host = self.host.clone();
        let (path, builder, body) = match req {
            Request::Verify { path, auth, body } => (
                path,
                HttpRequest::builder()
                    .method(Method::POST)
                    .uri(path)
                    .header(AUTHORIZATION, auth)
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json")),
                body,
            ),
            Request::Health { path } => (
                path,
                HttpRequest::builder().method(Method::GET).uri(path),
                Bytes::new(),
            ),
        };
        let request = builder
            .header(HOST, host)
            .body(Full::new(body))
            .map_err(|e| format!("{path}: {e}"))?;
        let exchange = async {
            let send = self.open().await?;
            send.ready().await.map_err(|e| format!("{path}: {e}"))?;
            let res = send
                .send_request(request)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            let status = res.status().as_u16();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{path}: {e}"))?
                .to_bytes();
            Ok((status, body))
        };
        let result = match tokio::time::timeout(TIMEOUT, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!("{path}: timed out after {} s", TIMEOUT.as_secs())),
        };
        if result.is_err() {
            // A broken connection is not used again: the next request opens a new one.
            self.send = None;
        }
        result
    }
}
