//! The server protocol ([`pooya_app_core::client`]) and the command line's transport:
//! [`HttpTransport`], reqwest over rustls (ring), no proxy (R18), no redirects.

pub use pooya_app_core::client::*;

use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{AppError, Result};

/// The real transport: reqwest over rustls (ring), no proxy (R18), no redirects, timeouts.
#[derive(Debug)]
pub struct HttpTransport {
    base: String,
    client: reqwest::Client,
}

impl HttpTransport {
    /// A transport to `server` (already checked by [`normalize_server`]). Installs rustls's
    /// ring provider as the process default unless one is installed already.
    pub fn new(server: &str) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("pooya-app/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AppError::Internal(format!("HTTP client: {}", error_text(&e))))?;
        Ok(Self {
            base: server.to_owned(),
            client,
        })
    }
}

impl Transport for HttpTransport {
    fn server(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<HttpReply, TransportError> {
        let url = format!("{}{}", self.base, path);
        let request = match method {
            Method::Get => self.client.get(url),
            Method::Post => self.client.post(url).json(body.unwrap_or(&json!({}))),
        };
        let mut response = request
            .send()
            .await
            .map_err(|e| TransportError::Unreachable(error_text(&e)))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(TransportError::Garbage("the answer is too large".into()));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return Err(TransportError::Unreachable(error_text(&e)))
                }
                Err(e) => {
                    return Err(TransportError::Garbage(format!(
                        "the answer broke off: {}",
                        error_text(&e)
                    )))
                }
            }
        }
        Ok(HttpReply { status, body })
    }
}

/// A short description of a reqwest error: its kind and its innermost cause.
fn error_text(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    if std::ptr::addr_eq(inner, e as &dyn std::error::Error) {
        kind.to_owned()
    } else {
        format!("{kind} ({inner})")
    }
}
